package ipvsadm

import (
	"math"
	"strings"

	"github.com/gdirector/gdirector/vs"
)

// Option bits, in ipvsadm's order: the order of the rule table and of its
// checks, and the names its messages use.
const (
	optNumeric = iota
	optConnection
	optService
	optScheduler
	optPersistent
	optNetmask
	optServer
	optForward
	optWeight
	optUThreshold
	optLThreshold
	optMcast
	optTimeout
	optDaemon
	optStats
	optRate
	optThresholds
	optPersistentConn
	optNoSort
	optSyncID
	optExact
	optOnePacket
	optPE
	optSchedFlags
	optMcastGroup
	optMcastPort
	optMcastTTL
	optSyncMaxlen
	optTunInfo
	optTunType
	optTunPort
	optTunNoCsum
	optTunCsum
	optTunRemCsum
	optLocalAddress // DPVS: -z/--laddr
	optIfname       // DPVS: -F/--ifname
	numOpts
)

var optNames = [numOpts]string{
	"numeric", "connection", "service-address", "scheduler", "persistent",
	"netmask", "real-server", "forwarding-method", "weight", "u-threshold",
	"l-threshold", "mcast-interface", "timeout", "daemon", "stats", "rate",
	"thresholds", "persistent-conn", "nosort", "syncid", "exact", "ops", "pe",
	"sched-flags", "mcast-group", "mcast-port", "mcast-ttl", "sync-maxlen",
	"tun-info", "tun-type", "tun-port", "tun-nocsum", "tun-csum",
	"tun-remcsum", "local-address", "ifname",
}

var cmdNames = [...]string{
	cmdAdd: "add-service", cmdEdit: "edit-service", cmdDel: "delete-service",
	cmdFlush: "flush", cmdList: "list", cmdAddDest: "add-server",
	cmdDelDest: "delete-server", cmdEditDest: "edit-server", cmdTimeout: "set",
	cmdStartDaemon: "start-daemon", cmdStopDaemon: "stop-daemon",
	cmdRestore: "restore", cmdSave: "save", cmdZero: "zero",
	cmdAddLAddr: "add-laddr", cmdDelLAddr: "del-laddr", cmdGetLAddr: "get-laddr",
}

// optionRules says, per command and per option in the order above, whether
// the option is required ('+'), forbidden ('x'), optional ('.') or one of
// a group of which at most one may be given ('1'). The rows and columns of
// ipvsadm 1.31 are its own; the laddr commands and the -z/-F columns are
// DPVS's, except that -F is optional here (DPVS requires it because DPDK
// binds each local address to a port; see package doc).
var optionRules = [...]string{
	//           n c s s p M r f w x y m t d s r t p s s e o p b g p t s t t t n c r z F
	cmdAdd:         "xx+...xxxxxxxxxxxxxxx...xxxxxxxxxxxx",
	cmdEdit:        "xx+...xxxxxxxxxxxxxxx...xxxxxxxxxxxx",
	cmdDel:         "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	cmdFlush:       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	cmdList:        ".11xxxxxxxxx11.......xxxxxxx.xxxxxxx",
	cmdAddDest:     "xx+xxx+....xxxxxxxxxxxxxxxxxx.....xx",
	cmdDelDest:     "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	cmdEditDest:    "xx+xxx+....xxxxxxxxxxxxxxxxxx.....xx",
	cmdTimeout:     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	cmdStartDaemon: "xxxxxxxxxxx.xxxxxxx.xxxx....xxxxxxxx",
	cmdStopDaemon:  "xxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxx",
	cmdRestore:     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	cmdSave:        ".xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	cmdZero:        "xx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	cmdAddLAddr:    "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx+.",
	cmdDelLAddr:    "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx+.",
	cmdGetLAddr:    "xx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
}

// tunOptions are the options only tunneling allows.
const tunOptions = 1<<optTunType | 1<<optTunPort | 1<<optTunNoCsum | 1<<optTunCsum | 1<<optTunRemCsum

// tunnelRules: per tunnel type, the rules for --tun-port, --tun-nocsum,
// --tun-csum and --tun-remcsum.
var tunnelOpts = [4]int{optTunPort, optTunNoCsum, optTunCsum, optTunRemCsum}
var tunnelRules = [...]string{
	tunIPIP: "xxxx",
	tunGUE:  "+111",
	tunGRE:  "x11x",
}

func (c *command) setOption(o int) error {
	bit := uint64(1) << o
	if c.options&bit != 0 {
		return fail(exitArgs, "multiple '%s' options specified", optNames[o])
	}
	c.options |= bit
	return nil
}

// checkOptions applies the rule table: required, forbidden and exclusive
// options of the command, in option order.
func (c *command) checkOptions() error {
	rules := optionRules[c.cmd]
	count, last := 0, 0
	for j := range numOpts {
		if c.options&(1<<j) == 0 {
			if rules[j] == '+' {
				return fail(exitArgs, "You need to supply the '%s' option for the '%s' command", optNames[j], cmdNames[c.cmd])
			}
			continue
		}
		switch rules[j] {
		case 'x':
			return fail(exitArgs, "Illegal '%s' option with the '%s' command", optNames[j], cmdNames[c.cmd])
		case '1':
			count++
			if count > 1 {
				return fail(exitArgs, "The option '%s' conflicts with the '%s' option in the '%s' command", optNames[j], optNames[last], cmdNames[c.cmd])
			}
			last = j
		}
	}
	return nil
}

// checkTunnel applies the tunnel-type rules.
func (c *command) checkTunnel() error {
	rules := tunnelRules[c.dest.tunType]
	count, last := 0, 0
	for j, o := range tunnelOpts {
		if c.options&(1<<o) == 0 {
			if rules[j] == '+' {
				return fail(exitArgs, "You need to supply the '%s' option for the '%s' tunnel type", optNames[o], tunNames[c.dest.tunType])
			}
			continue
		}
		switch rules[j] {
		case 'x':
			return fail(exitArgs, "Illegal '%s' option with the '%s' tunnel type", optNames[o], tunNames[c.dest.tunType])
		case '1':
			count++
			if count > 1 {
				return fail(exitArgs, "The option '%s' conflicts with the '%s' option in the '%s' tunnel type", optNames[o], optNames[last], tunNames[c.dest.tunType])
			}
			last = o
		}
	}
	return nil
}

// Results of parseService, as bits.
const (
	serviceAddr = 1 << iota
	servicePort
)

// parseService reads "host[:port]", "[ipv6]:port" or a bare IPv6 address
// into s (address, family, the IPv6 default netmask, and the port when
// given) the way ipvsadm's parse_service does, quirks included: a
// bracketed address needs a port, and an IPv4 address in brackets loses
// its port. Host and port names are looked up in names.
func parseService(buf string, s *svcArgs, names *Names) int {
	if isAllDigits(buf) {
		return 0
	}
	var port string
	hasPort := false
	if buf[0] == '[' {
		buf = buf[1:]
		i := strings.IndexByte(buf, ']')
		if i < 0 {
			return 0
		}
		if i+1 >= len(buf) || buf[i+1] != ':' {
			return 0
		}
		buf, port, hasPort = buf[:i], buf[i+2:], true
	}
	if a, ok := inetPton6(buf); ok {
		s.addr, s.af, s.netmask = a, afInet6, 128
	} else {
		hasPort = false
		if i := strings.LastIndexByte(buf, ':'); i >= 0 {
			buf, port, hasPort = buf[:i], buf[i+1:], true
		}
		if v, ok := inetAton(buf); ok {
			s.addr, s.af = addrFrom32(v), afInet
		} else if a, ok := names.hostAddr(buf); ok {
			s.addr, s.af = a, afInet
		} else {
			return 0
		}
	}
	res := serviceAddr
	if hasPort {
		res |= servicePort
		p := stringToNumber(port, 0, 65535)
		if p < 0 {
			p = names.port(port, s.proto)
		}
		if p < 0 {
			return 0
		}
		s.port = uint16(p)
	}
	return res
}

// isAllDigits is str_is_digit: true for digits only, and for "".
func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parseTimeout(arg string, has bool, min, max int64) (int64, error) {
	if !has {
		return 360, nil
	}
	v := stringToNumber(arg, min, max)
	if v < 0 {
		return 0, fail(exitArgs, "invalid timeout value `%s' specified", arg)
	}
	return v, nil
}

func parseFwmark(arg string) (uint32, error) {
	v, rest, ok, overflow := strtol(arg)
	if !ok || rest != "" || overflow || v <= 0 || v > math.MaxUint32 {
		return 0, fail(exitArgs, "invalid fwmark value `%s' specified", arg)
	}
	return uint32(v), nil
}

func protoOf(val int) vs.Proto {
	switch val {
	case 't':
		return vs.TCP
	case 'u':
		return vs.UDP
	case tagSCTPService:
		return vs.SCTP
	}
	return 0
}

// parse is ipvsadm's parse_options: the first option must be a command;
// the others fill c in order.
func (r *runner) parse(argv []string, c *command) error {
	sc := &scanner{argv: argv}
	t, done, serr := sc.nextOpt()
	if done || serr != "" {
		return tryHelp()
	}
	switch t.opt.val {
	case 'A':
		c.cmd = cmdAdd
	case 'E':
		c.cmd = cmdEdit
	case 'D':
		c.cmd = cmdDel
	case 'a':
		c.cmd = cmdAddDest
	case 'e':
		c.cmd = cmdEditDest
	case 'd':
		c.cmd = cmdDelDest
	case 'C':
		c.cmd = cmdFlush
	case 'L', 'l':
		c.cmd = cmdList
	case 'Z':
		c.cmd = cmdZero
	case tagSet:
		c.cmd = cmdTimeout
	case 'R':
		c.cmd = cmdRestore
	case 'S':
		c.cmd = cmdSave
	case 'P':
		c.cmd = cmdAddLAddr
	case 'Q':
		c.cmd = cmdDelLAddr
	case 'G':
		c.cmd = cmdGetLAddr
	case tagStartDaemon, tagStopDaemon:
		c.cmd = cmdStartDaemon
		if t.opt.val == tagStopDaemon {
			c.cmd = cmdStopDaemon
		}
		if t.arg != "master" && t.arg != "backup" {
			if c.cmd == cmdStartDaemon {
				return fail(exitArgs, "illegal start-daemon parameter specified")
			}
			return fail(exitArgs, "illegal start_daemon specified")
		}
		c.daemon.State = t.arg
	case 'h':
		r.usage()
		return &exit{code: 0}
	case 'v':
		r.version()
		return &exit{code: 0}
	default:
		return tryHelp()
	}
	// From here on -b means what it means for the command: DPVS's
	// --fullnat for the real-server commands, ipvsadm's --sched-flags
	// FLAGS otherwise (where it is only legal on -A and -E).
	sc.dpvsB = c.cmd == cmdAddDest || c.cmd == cmdEditDest || c.cmd == cmdDelDest

	for {
		t, done, serr = sc.nextOpt()
		if done || serr != "" {
			break
		}
		if err := c.option(t, sc); err != nil {
			return err
		}
	}
	if serr != "" {
		return &exit{code: exitKernel, msg: sc.badOption() + ": " + string(serr) + "\n"}
	}

	left := sc.leftovers
	if c.cmd == cmdTimeout {
		if len(left) < 3 {
			return fail(exitArgs, "--set option requires 3 timeout values")
		}
		for i := range 3 {
			v, err := parseTimeout(left[i], true, 0, maxTimeout)
			if err != nil {
				return err
			}
			c.timeouts[i] = int(v)
		}
		left = left[3:]
	}
	if len(left) > 0 {
		return fail(exitArgs, "unexpected argument %s", left[0])
	}
	// An empty -b argument sets no flags (ipvsadm tests the first byte
	// of its copy of the argument).
	if c.schedFlag != "" {
		flags, err := parseSchedFlags(c.svc.sched, c.schedFlag)
		if err != nil {
			return err
		}
		c.svc.flags = c.svc.flags&^(vs.SvcSchedFlag1|vs.SvcSchedFlag2|vs.SvcSchedFlag3) | flags
	}
	return nil
}

// option applies one option after the command.
func (c *command) option(t token, sc *scanner) error {
	arg := t.arg
	switch t.opt.val {
	case 't', 'u', tagSCTPService:
		if err := c.setOption(optService); err != nil {
			return err
		}
		c.svc.proto = protoOf(t.opt.val)
		if parseService(arg, &c.svc, c.names)&serviceAddr == 0 {
			return fail(exitArgs, "illegal virtual server address[:port] specified")
		}
	case 'f':
		if err := c.setOption(optService); err != nil {
			return err
		}
		c.svc.af = afInet
		c.svc.proto = vs.TCP
		mark, err := parseFwmark(arg)
		if err != nil {
			return err
		}
		c.svc.fwmark = mark
	case 's':
		if err := c.setOption(optScheduler); err != nil {
			return err
		}
		c.svc.sched = truncate(arg, 15)
	case 'p':
		if err := c.setOption(optPersistent); err != nil {
			return err
		}
		c.svc.flags |= vs.SvcPersistent
		v, err := parseTimeout(arg, t.hasArg, 1, maxTimeout)
		if err != nil {
			return err
		}
		c.svc.timeout = uint32(v)
	case 'M':
		if err := c.setOption(optNetmask); err != nil {
			return err
		}
		if c.svc.af != afInet6 {
			// parse_netmask: inet_aton, else a host name.
			if v, ok := inetAton(arg); ok {
				c.svc.netmask = v
			} else if a, ok := c.names.hostAddr(arg); ok {
				b := a.As4()
				c.svc.netmask = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			} else {
				return fail(exitArgs, "illegal virtual server persistent mask specified")
			}
		} else {
			c.svc.netmask = uint32(atoi(arg))
			if c.svc.netmask < 1 || c.svc.netmask > 128 {
				return fail(exitArgs, "illegal ipv6 netmask specified")
			}
		}
	case 'r':
		if err := c.setOption(optServer); err != nil {
			return err
		}
		t := c.svc
		parse := parseService(arg, &t, c.names)
		c.dest.af, c.dest.addr, c.dest.port = t.af, t.addr, t.port
		if parse&serviceAddr == 0 {
			return fail(exitArgs, "illegal real server address[:port] specified")
		}
		if parse == serviceAddr {
			c.dest.port = c.svc.port
		}
	case 'i', 'g', 'm', tagFullNAT:
		if err := c.setOption(optForward); err != nil {
			return err
		}
		c.dest.fwd = map[int]vs.FwdMethod{'i': vs.Tunnel, 'g': vs.DirectRoute, 'm': vs.Masq, tagFullNAT: vs.FullNAT}[t.opt.val]
	case 'w':
		if err := c.setOption(optWeight); err != nil {
			return err
		}
		v := stringToNumber(arg, 0, 65535)
		if v < 0 {
			return fail(exitArgs, "illegal weight specified")
		}
		c.dest.weight = int32(v)
	case 'x':
		if err := c.setOption(optUThreshold); err != nil {
			return err
		}
		v := stringToNumber(arg, 0, math.MaxInt32)
		if v < 0 {
			return fail(exitArgs, "illegal u_threshold specified")
		}
		c.dest.uthresh = uint32(v)
	case 'y':
		if err := c.setOption(optLThreshold); err != nil {
			return err
		}
		v := stringToNumber(arg, 0, math.MaxInt32)
		if v < 0 {
			return fail(exitArgs, "illegal l_threshold specified")
		}
		c.dest.lthresh = uint32(v)
	case 'c':
		return c.setOption(optConnection)
	case 'n':
		if err := c.setOption(optNumeric); err != nil {
			return err
		}
		c.format |= fmtNumeric
	case tagMcastInterface:
		// ipvsadm copies the name into an IP_VS_IFNAME_MAXLEN buffer.
		c.daemon.Interface = truncate(arg, 15)
		return c.setOption(optMcast)
	case tagSyncID:
		if err := c.setOption(optSyncID); err != nil {
			return err
		}
		v := stringToNumber(arg, 0, 255)
		if v < 0 {
			return fail(exitArgs, "illegal syncid specified")
		}
		c.daemon.SyncID = uint8(v)
	case tagTimeout:
		return c.setOption(optTimeout)
	case tagDaemon:
		return c.setOption(optDaemon)
	case tagStats:
		return c.setFormat(optStats, fmtStats)
	case tagRate:
		return c.setFormat(optRate, fmtRate)
	case tagThresholds:
		return c.setFormat(optThresholds, fmtThresholds)
	case tagPersistentConn:
		return c.setFormat(optPersistentConn, fmtPersistentConn)
	case tagNoSort:
		return c.setFormat(optNoSort, fmtNoSort)
	case tagSort:
		// sorting is the default; accepted for compatibility
	case 'X':
		return c.setFormat(optExact, fmtExact)
	case '6':
		if c.svc.fwmark == 0 {
			return fail(exitArgs, "-6 used before -f\n")
		}
		c.svc.af = afInet6
		c.svc.netmask = 128
	case 'o':
		if err := c.setOption(optOnePacket); err != nil {
			return err
		}
		c.svc.flags |= vs.SvcOnePacket
	case tagPE:
		if err := c.setOption(optPE); err != nil {
			return err
		}
		c.svc.pe = truncate(arg, 16)
	case 'b':
		if err := c.setOption(optSchedFlags); err != nil {
			return err
		}
		c.schedFlag = truncate(arg, 127)
	case tagMcastGroup:
		if err := c.setOption(optMcastGroup); err != nil {
			return err
		}
		if strings.Contains(arg, ":") {
			a, ok := inetPton6(arg)
			if !ok || !a.IsMulticast() {
				return fail(exitArgs, "invalid IPv6 mcast-group `%s'", arg)
			}
			c.daemon.Group = a
		} else if v, ok := inetAton(arg); !ok || !addrFrom32(v).IsMulticast() || !strictDotted(arg) {
			return fail(exitArgs, "invalid IPv4 mcast-group `%s'", arg)
		} else {
			c.daemon.Group = addrFrom32(v)
		}
	case tagMcastPort:
		if err := c.setOption(optMcastPort); err != nil {
			return err
		}
		v := stringToNumber(arg, 1, 65535)
		if v < 0 {
			return fail(exitArgs, "illegal mcast-port specified")
		}
		c.daemon.Port = uint16(v)
	case tagMcastTTL:
		if err := c.setOption(optMcastTTL); err != nil {
			return err
		}
		v := stringToNumber(arg, 1, 255)
		if v < 0 {
			return fail(exitArgs, "illegal mcast-ttl specified")
		}
		c.daemon.TTL = uint8(v)
	case tagSyncMaxlen:
		if err := c.setOption(optSyncMaxlen); err != nil {
			return err
		}
		v := stringToNumber(arg, 1, 65535-20-8)
		if v < 0 {
			return fail(exitArgs, "illegal sync-maxlen specified")
		}
		c.daemon.MaxLen = int(v)
	case tagTunInfo:
		return c.setFormat(optTunInfo, fmtTunInfo)
	case tagTunType:
		if err := c.setOption(optTunType); err != nil {
			return err
		}
		typ := -1
		for i, n := range tunNames {
			if arg == n {
				typ = i
			}
		}
		if typ < 0 {
			return fail(exitArgs, "illegal tunnel type specified")
		}
		c.dest.tunType = typ
	case tagTunPort:
		if err := c.setOption(optTunPort); err != nil {
			return err
		}
		v := stringToNumber(arg, 1, 65535)
		if v < 0 {
			return fail(exitArgs, "illegal tunnel port specified")
		}
		c.dest.tunPort = uint16(v)
	case tagTunNoCsum:
		return c.setOption(optTunNoCsum)
	case tagTunCsum:
		return c.setOption(optTunCsum)
	case tagTunRemCsum:
		return c.setOption(optTunRemCsum)
	case 'z':
		if err := c.setOption(optLocalAddress); err != nil {
			return err
		}
		// DPVS reads the address with parse_service: a port may follow
		// and is ignored.
		t := svcArgs{proto: c.svc.proto}
		if parseService(arg, &t, c.names)&serviceAddr == 0 {
			return fail(exitArgs, "illegal local address")
		}
		c.laddr = t.addr
	case 'F':
		if err := c.setOption(optIfname); err != nil {
			return err
		}
		// DPVS copies the name into an IFNAMSIZ buffer with snprintf.
		c.ifname = truncate(arg, 15)
	default:
		// Commands and -h/-v are only recognised first.
		return fail(exitArgs, "invalid option `%s'", sc.badOption())
	}
	return nil
}

func (c *command) setFormat(o int, f uint) error {
	if err := c.setOption(o); err != nil {
		return err
	}
	c.format |= f
	return nil
}

// strictDotted reports whether s is a four-part dotted decimal address, the
// only IPv4 form inet_pton accepts.
func strictDotted(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || !isAllDigits(p) || (len(p) > 1 && p[0] == '0') {
			return false
		}
	}
	return true
}

// truncate keeps at most n bytes, as ipvsadm's fixed-size name buffers do.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// parseSchedFlags reads -b's comma-separated scheduler flags; the sh-* and
// mh-* flags need their scheduler (the default scheduler if none given).
func parseSchedFlags(schedName, arg string) (uint32, error) {
	if schedName == "" {
		schedName = "wlc"
	}
	var flags uint32
	var words []string
	for _, w := range strings.Split(arg, ",") {
		if w != "" {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		// Only separators (",,"): ipvsadm 1.31 dereferences the NULL
		// strtok returns and crashes; refuse the argument instead.
		return 0, fail(exitArgs, "invalid scheduler flag `%s'", arg)
	}
	for _, w := range words {
		f, need, ok := vs.SchedFlagByName(w)
		if !ok {
			return 0, fail(exitArgs, "invalid scheduler flag `%s'", w)
		}
		flags |= f
		if need != "" && schedName != need {
			return 0, fail(exitArgs, "incompatible scheduler flag `%s'", w)
		}
	}
	return flags, nil
}

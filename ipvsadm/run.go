package ipvsadm

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/ipvssync"
	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/vs"
)

// Version strings ipvsadm prints.
const (
	ipvsadmVersion = "v1.31 2019/12/24"
	ipvsVersion    = "1.2.1"
	// connTabSize is the "size" ipvsadm -L reports: the kernel's
	// connection hash table size (ip_vs_conn_tab_size), 4096 by default.
	connTabSize = 4096
	// maxTimeout is ipvsadm's bound on timeouts: 31 days.
	maxTimeout = 86400 * 31
	// program is the name used in messages.
	program = "ipvsadm"
)

// Commands, in ipvsadm's order (the order of the option rule table).
const (
	cmdNone = iota
	cmdAdd
	cmdEdit
	cmdDel
	cmdFlush
	cmdList
	cmdAddDest
	cmdDelDest
	cmdEditDest
	cmdTimeout
	cmdStartDaemon
	cmdStopDaemon
	cmdRestore
	cmdSave
	cmdZero
	// DPVS's FullNAT local address commands, after ipvsadm's as in DPVS.
	cmdAddLAddr
	cmdDelLAddr
	cmdGetLAddr
)

// Output format flags.
const (
	fmtNumeric = 1 << iota
	fmtRule
	fmtStats
	fmtRate
	fmtThresholds
	fmtPersistentConn
	fmtNoSort
	fmtExact
	fmtTunInfo
)

// Address families, with the C values their order depends on (sorting).
const (
	afUnspec = 0
	afInet   = 2
	afInet6  = 10
)

// Tunnel types and encapsulation flags.
const (
	tunIPIP = iota
	tunGUE
	tunGRE
)

var tunNames = []string{"ipip", "gue", "gre"}

// svcArgs is the service part of a command line, filled in option order
// exactly as ipvsadm fills its ipvs_service_t.
type svcArgs struct {
	af      int
	proto   vs.Proto
	addr    netip.Addr
	port    uint16
	fwmark  uint32
	sched   string
	flags   uint32
	timeout uint32
	netmask uint32
	pe      string
}

// destArgs is the real-server part.
type destArgs struct {
	af       int
	addr     netip.Addr
	port     uint16
	fwd      vs.FwdMethod
	weight   int32
	uthresh  uint32
	lthresh  uint32
	tunType  int
	tunPort  uint16
	tunFlags int
}

type command struct {
	cmd       int
	svc       svcArgs
	dest      destArgs
	timeouts  [3]int
	options   uint64
	format    uint
	schedFlag string // -b argument (-A/-E)
	laddr     netip.Addr
	ifname    string
	names     *Names                // resolves the host and port names of the arguments
	daemon    ipvssync.DaemonConfig // --start-daemon/--stop-daemon and their options
}

// exit ends a command with a message on standard error and a status.
type exit struct {
	code int
	msg  string
}

func (e *exit) Error() string { return e.msg }

func fail(code int, format string, args ...any) error {
	return &exit{code: code, msg: fmt.Sprintf(format, args...) + "\n"}
}

// Exit statuses: ipvsadm exits 2 after its own argument checks (fail) and
// returns -1, seen as 255, after an error from the kernel, popt or a
// help request it could not understand.
const (
	exitArgs   = 2
	exitKernel = 255
	exitList   = 1
)

func tryHelp() error {
	return &exit{code: exitKernel, msg: fmt.Sprintf("Try `%s -h' or '%s --help' for more information.\n", program, program)}
}

// Run executes one ipvsadm command line (argv without the program name)
// against m and returns what ipvsadm would print on standard output and
// standard error, and its exit status. With no arguments it lists the
// table, as ipvsadm does.
func Run(m *ctl.Manager, argv []string) (stdout, stderr string, code int) {
	return RunInput(m, argv, nil)
}

// RunInput is Run with the standard input that ipvsadm -R reads its rules
// from (nil = empty).
func RunInput(m *ctl.Manager, argv []string, stdin io.Reader) (stdout, stderr string, code int) {
	return RunEnv(m, argv, Env{Stdin: stdin})
}

// Env is what a command line runs with besides its arguments: what the
// C library and the terminal give ipvsadm.
type Env struct {
	// Stdin is the standard input -R reads its commands from; nil is
	// empty.
	Stdin io.Reader
	// Names resolves host and port names; nil is the built-in services
	// database and no host names (see Names).
	Names *Names
	// Sync runs the connection synchronisation daemons (--start-daemon,
	// --stop-daemon, -L --daemon); nil refuses --start-daemon as a
	// kernel without the sync code would.
	Sync SyncDaemons
}

// SyncDaemons starts, stops and lists the connection synchronisation
// daemons; *ipvssync.Daemons is one. Errors are printed as the kernel's
// answers are (status 255).
type SyncDaemons interface {
	StartDaemon(ipvssync.DaemonConfig) error
	StopDaemon(state string) error
	Daemons() []ipvssync.DaemonConfig
}

// RunEnv is Run in the environment env.
func RunEnv(m *ctl.Manager, argv []string, env Env) (stdout, stderr string, code int) {
	var out, errw strings.Builder
	r := &runner{m: m, out: &out, errw: &errw, stdin: env.Stdin, names: env.Names, sync: env.Sync}
	if len(argv) == 0 {
		r.listAll(0)
		return out.String(), "", 0
	}
	code, err := r.process(argv, false)
	if err != nil {
		var e *exit
		if !errors.As(err, &e) {
			e = &exit{code: exitKernel, msg: err.Error() + "\n"}
		}
		errw.WriteString(e.msg)
		code = e.code
	}
	return out.String(), errw.String(), code
}

type runner struct {
	m     *ctl.Manager
	out   *strings.Builder
	errw  *strings.Builder
	stdin io.Reader
	names *Names
	sync  SyncDaemons
}

func (r *runner) printf(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }

// process is one command line: parse, check, execute. A non-nil error
// ends the whole run (ipvsadm exits); a status without an error is the
// command's result.
func (r *runner) process(argv []string, readingStdin bool) (int, error) {
	c, err := r.prepare(argv)
	if err != nil {
		return 0, err
	}
	return r.execute(c, readingStdin)
}

// prepare parses and checks a command line; it does not touch the Manager.
func (r *runner) prepare(argv []string) (*command, error) {
	c := &command{names: r.names}
	c.dest.weight = 1
	c.dest.fwd = vs.DirectRoute
	c.svc.netmask = 0xffffffff
	if err := r.parse(argv, c); err != nil {
		return nil, err
	}
	if err := c.checkOptions(); err != nil {
		return nil, err
	}
	if c.cmd == cmdAdd || c.cmd == cmdEdit {
		if c.svc.fwmark == 0 && c.svc.port == 0 && c.svc.flags&vs.SvcPersistent == 0 {
			return nil, fail(exitArgs, "Zero port specified for non-persistent service")
		}
		if c.svc.flags&vs.SvcOnePacket != 0 && c.svc.fwmark == 0 && c.svc.proto != vs.UDP {
			return nil, fail(exitArgs, "One-Packet Scheduling is only for UDP virtual services")
		}
		if c.svc.sched == "" {
			c.svc.sched = ctl.DefaultScheduler
		}
	}
	if c.cmd == cmdAddDest || c.cmd == cmdEditDest {
		if c.svc.fwmark == 0 && (c.dest.fwd == vs.Tunnel || c.dest.fwd == vs.DirectRoute) {
			c.dest.port = c.svc.port
		}
		if c.dest.af != c.svc.af && c.dest.fwd != vs.Tunnel {
			return nil, fail(exitArgs, "Different address family is allowed only for tunneling servers")
		}
		if c.options&tunOptions != 0 && c.dest.fwd != vs.Tunnel {
			return nil, fail(exitArgs, "Tunnel options conflict with forward method")
		}
		if err := c.checkTunnel(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// execute runs a prepared command against the Manager.
func (r *runner) execute(c *command, readingStdin bool) (int, error) {
	var err error
	switch c.cmd {
	case cmdList:
		return r.list(c)
	case cmdRestore:
		if readingStdin {
			return 0, tryHelp()
		}
		return r.restore()
	case cmdSave:
		r.listAll(c.format | fmtRule)
		return 0, nil
	case cmdFlush:
		err = r.m.Flush()
	case cmdAdd:
		err = r.m.AddService(c.serviceConfig())
	case cmdEdit:
		err = r.m.EditService(c.serviceConfig())
	case cmdDel:
		err = r.m.DelService(c.serviceID())
	case cmdZero:
		if c.svc.fwmark == 0 && (!c.svc.addr.IsValid() || c.svc.addr.IsUnspecified()) && c.svc.port == 0 {
			// libipvs sends no service then: zero everything.
			r.m.ZeroAll()
		} else {
			err = r.m.Zero(c.serviceID())
		}
	case cmdAddDest, cmdEditDest:
		if c.dest.tunType != tunIPIP {
			// The kernel's GUE and GRE encapsulations (ipvsadm 1.31's
			// --tun-type gue|gre with --tun-port and the checksum
			// options) have no counterpart here: refused like an
			// error of the kernel, with the reason.
			fmt.Fprintf(r.errw, "Tunnel type %s is not supported: gdirector encapsulates in IPIP only (GUE and GRE are not implemented yet)\n", tunNames[c.dest.tunType])
			return exitKernel, nil
		}
		d := ctl.DestConfig{Addr: c.dest.addr, Port: c.dest.port, Fwd: c.dest.fwd,
			Weight: c.dest.weight, UThreshold: c.dest.uthresh, LThreshold: c.dest.lthresh}
		if c.cmd == cmdAddDest {
			err = r.m.AddDest(c.serviceID(), d)
		} else {
			err = r.m.EditDest(c.serviceID(), d)
		}
	case cmdDelDest:
		err = r.m.DelDest(c.serviceID(), c.dest.addr, c.dest.port)
	case cmdTimeout:
		err = r.m.SetTimeouts(c.timeouts[0], c.timeouts[1], c.timeouts[2])
	case cmdStartDaemon:
		if r.sync == nil {
			fmt.Fprintf(r.errw, "Connection synchronization is not supported yet: gdirector has no sync daemon, so --start-daemon has nothing to start\n")
			return exitKernel, nil
		}
		err = r.sync.StartDaemon(c.daemon)
	case cmdStopDaemon:
		if r.sync == nil {
			err = errors.New("No daemon is running")
		} else {
			err = r.sync.StopDaemon(c.daemon.State)
		}
	case cmdAddLAddr:
		err = r.m.AddLAddr(c.serviceID(), c.laddr, c.ifname)
	case cmdDelLAddr:
		err = r.m.DelLAddr(c.serviceID(), c.laddr)
	case cmdGetLAddr:
		return r.getLAddrs(c)
	}
	if err != nil {
		// ipvsadm prints ipvs_strerror; the status is -1. (ipvsadm's
		// -R then goes on with the next line; ours stops and undoes the
		// whole input, see restore.go.)
		fmt.Fprintf(r.errw, "%s\n", err)
		if c.svc.pe != "" && errors.Is(err, ctl.ErrSchedulerNotFound) && !errors.Is(err, sched.ErrUnknown) {
			// The scheduler exists: the kernel's answer is about the
			// persistence engine (--pe sip needs ip_vs_pe_sip).
			fmt.Fprintf(r.errw, "Persistence engine %s is not supported: gdirector has no persistence engines (the kernel's SIP engine is not implemented yet)\n", c.svc.pe)
		}
		return exitKernel, nil
	}
	return 0, nil
}

// serviceID converts the service arguments to the Manager's identifier.
func (c *command) serviceID() ctl.ServiceID {
	if c.svc.fwmark != 0 {
		return ctl.ServiceID{FwMark: c.svc.fwmark, IPv6: c.svc.af == afInet6}
	}
	return ctl.ServiceID{Proto: c.svc.proto, Addr: c.svc.addr, Port: c.svc.port}
}

func (c *command) serviceConfig() ctl.ServiceConfig {
	return ctl.ServiceConfig{
		ServiceID: c.serviceID(),
		Scheduler: c.svc.sched,
		Flags:     c.svc.flags,
		Timeout:   c.svc.timeout,
		Netmask:   c.svc.netmask,
		PE:        c.svc.pe,
	}
}

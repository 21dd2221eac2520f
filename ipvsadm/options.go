package ipvsadm

import "strings"

// Command-line scanning with the semantics of popt, which ipvsadm 1.31
// uses: short options may be clustered ("-Ln"), a short option's argument
// may be attached ("-srr", "-s=rr") or the next word; long options take
// "--name=value" or "--name value"; an optional argument ("-p") is taken
// from the next word only when that word does not start with '-';
// words that are not options are collected as leftovers wherever they
// appear, and "--" makes every later word a leftover. Long names must be
// spelled out in full and need two dashes.
//
// popt also expands "!#:+" in an option's argument to the next word of the
// command line that does not start with '-', and then skips that word
// ("-s w!#:+ rr" is "-s wrr"). When no such word follows, the text stays
// as it is; popt itself loops forever if words remain but all start with
// '-', which is not reproduced.

type argKind uint8

const (
	argNone argKind = iota
	argRequired
	argOptional
)

type option struct {
	long  string
	short byte
	arg   argKind
	val   int
}

// Option values: the short letter, or a tag above the byte range for
// long-only options.
const (
	tagSet = 256 + iota
	tagStartDaemon
	tagStopDaemon
	tagMcastInterface
	tagSyncID
	tagTimeout
	tagDaemon
	tagStats
	tagRate
	tagThresholds
	tagPersistentConn
	tagSort
	tagNoSort
	tagPE
	tagSCTPService
	tagMcastGroup
	tagMcastPort
	tagMcastTTL
	tagSyncMaxlen
	tagTunInfo
	tagTunType
	tagTunPort
	tagTunNoCsum
	tagTunCsum
	tagTunRemCsum
	tagFullNAT
)

// optionTable lists ipvsadm 1.31's options, then DPVS's FullNAT ones.
// Lookups take the first match, so "--list" is -L. The short option -b is
// --sched-flags (with an argument), except after -a, -e and -d, where it
// is DPVS's --fullnat (without one): see scanner.dpvsB.
var optionTable = []option{
	{"add-service", 'A', argNone, 'A'},
	{"edit-service", 'E', argNone, 'E'},
	{"delete-service", 'D', argNone, 'D'},
	{"clear", 'C', argNone, 'C'},
	{"list", 'L', argNone, 'L'},
	{"list", 'l', argNone, 'l'},
	{"zero", 'Z', argNone, 'Z'},
	{"add-server", 'a', argNone, 'a'},
	{"edit-server", 'e', argNone, 'e'},
	{"delete-server", 'd', argNone, 'd'},
	{"set", 0, argNone, tagSet},
	{"help", 'h', argNone, 'h'},
	{"version", 'v', argNone, 'v'},
	{"restore", 'R', argNone, 'R'},
	{"save", 'S', argNone, 'S'},
	{"start-daemon", 0, argRequired, tagStartDaemon},
	{"stop-daemon", 0, argRequired, tagStopDaemon},
	{"tcp-service", 't', argRequired, 't'},
	{"udp-service", 'u', argRequired, 'u'},
	{"sctp-service", 0, argRequired, tagSCTPService},
	{"fwmark-service", 'f', argRequired, 'f'},
	{"scheduler", 's', argRequired, 's'},
	{"persistent", 'p', argOptional, 'p'},
	{"netmask", 'M', argRequired, 'M'},
	{"real-server", 'r', argRequired, 'r'},
	{"masquerading", 'm', argNone, 'm'},
	{"ipip", 'i', argNone, 'i'},
	{"gatewaying", 'g', argNone, 'g'},
	{"weight", 'w', argRequired, 'w'},
	{"u-threshold", 'x', argRequired, 'x'},
	{"l-threshold", 'y', argRequired, 'y'},
	{"numeric", 'n', argNone, 'n'},
	{"connection", 'c', argNone, 'c'},
	{"mcast-interface", 0, argRequired, tagMcastInterface},
	{"syncid", 0, argRequired, tagSyncID},
	{"timeout", 0, argNone, tagTimeout},
	{"daemon", 0, argNone, tagDaemon},
	{"stats", 0, argNone, tagStats},
	{"rate", 0, argNone, tagRate},
	{"thresholds", 0, argNone, tagThresholds},
	{"persistent-conn", 0, argNone, tagPersistentConn},
	{"nosort", 0, argNone, tagNoSort},
	{"sort", 0, argNone, tagSort},
	{"exact", 'X', argNone, 'X'},
	{"ipv6", '6', argNone, '6'},
	{"ops", 'o', argNone, 'o'},
	{"pe", 0, argRequired, tagPE},
	{"sched-flags", 'b', argRequired, 'b'},
	{"mcast-group", 0, argRequired, tagMcastGroup},
	{"mcast-port", 0, argRequired, tagMcastPort},
	{"mcast-ttl", 0, argRequired, tagMcastTTL},
	{"sync-maxlen", 0, argRequired, tagSyncMaxlen},
	{"tun-info", 0, argNone, tagTunInfo},
	{"tun-type", 0, argRequired, tagTunType},
	{"tun-port", 0, argRequired, tagTunPort},
	{"tun-nocsum", 0, argNone, tagTunNoCsum},
	{"tun-csum", 0, argNone, tagTunCsum},
	{"tun-remcsum", 0, argNone, tagTunRemCsum},
	// DPVS's FullNAT commands and options (its tools/ipvsadm).
	{"add-laddr", 'P', argNone, 'P'},
	{"del-laddr", 'Q', argNone, 'Q'},
	{"get-laddr", 'G', argNone, 'G'},
	{"laddr", 'z', argRequired, 'z'},
	{"ifname", 'F', argRequired, 'F'},
	{"fullnat", 0, argNone, tagFullNAT},
}

// fullnatOption is what -b means when scanner.dpvsB is set.
var fullnatOption = findLong("fullnat")

// scanErr is a scanning error; its text is popt's.
type scanErr string

const (
	errNoArg       scanErr = "missing argument"
	errBadOpt      scanErr = "unknown option"
	errUnwantedArg scanErr = "option does not take an argument"
)

// scanner walks argv (without the program name).
type scanner struct {
	argv      []string
	next      int    // index of the next word
	cluster   string // rest of a short-option cluster
	rest      bool   // after "--"
	leftovers []string
	taken     map[int]bool // words consumed by a "!#:+" expansion
	// dpvsB makes the short option -b DPVS's --fullnat (no argument)
	// instead of ipvsadm 1.31's --sched-flags (one argument). The caller
	// sets it once it knows the command: the meaning of -b, and so
	// whether the next word is its argument, depends on the command.
	dpvsB bool
}

// token is one scanned option.
type token struct {
	opt    *option
	arg    string
	hasArg bool
}

func findLong(name string) *option {
	for i := range optionTable {
		if optionTable[i].long == name {
			return &optionTable[i]
		}
	}
	return nil
}

func (s *scanner) findShort(c byte) *option {
	if c == 'b' && s.dpvsB {
		return fullnatOption
	}
	for i := range optionTable {
		if optionTable[i].short == c {
			return &optionTable[i]
		}
	}
	return nil
}

// nextOpt returns the next option; done is true at the end of argv.
func (s *scanner) nextOpt() (t token, done bool, err scanErr) {
	var (
		longArg    string
		hasLongArg bool
	)
	if s.cluster == "" {
		for {
			if s.next == len(s.argv) {
				return t, true, ""
			}
			w := s.argv[s.next]
			if s.taken[s.next] {
				s.next++
				continue
			}
			s.next++
			if s.rest || len(w) < 2 || w[0] != '-' {
				s.leftovers = append(s.leftovers, w)
				continue
			}
			if w == "--" {
				s.rest = true
				continue
			}
			if w[1] != '-' {
				s.cluster = w[1:]
				break
			}
			name := w[2:]
			if i := indexByte(name, '='); i >= 0 {
				name, longArg, hasLongArg = name[:i], name[i+1:], true
			}
			if t.opt = findLong(name); t.opt == nil {
				return t, false, errBadOpt
			}
			break
		}
	}
	if t.opt == nil {
		c := s.cluster[0]
		s.cluster = s.cluster[1:]
		if t.opt = s.findShort(c); t.opt == nil {
			return t, false, errBadOpt
		}
	}
	if t.opt.arg == argNone {
		if hasLongArg || (s.cluster != "" && s.cluster[0] == '=') {
			return t, false, errUnwantedArg
		}
		return t, false, ""
	}
	switch {
	case hasLongArg:
		t.arg, t.hasArg = longArg, true
	case s.cluster != "":
		t.arg, t.hasArg = s.cluster, true
		if t.arg[0] == '=' {
			t.arg = t.arg[1:]
		}
		s.cluster = ""
	case s.next == len(s.argv):
		if t.opt.arg != argOptional {
			return t, false, errNoArg
		}
	case t.opt.arg == argOptional && len(s.argv[s.next]) > 0 && s.argv[s.next][0] == '-':
		// the next word is an option, not this one's argument
	default:
		t.arg, t.hasArg = s.argv[s.next], true
		s.next++
	}
	if t.hasArg {
		t.arg = s.expand(t.arg)
	}
	return t, false, ""
}

// expand is popt's expandNextArg: every "!#:+" in arg becomes the next
// word from s.next on that does not start with '-' and is not taken
// already; that word is taken (skipped by the scan). Words are taken, as
// popt does, even when an option later takes them as its argument.
func (s *scanner) expand(arg string) string {
	const mark = "!#:+"
	if !strings.Contains(arg, mark) {
		return arg
	}
	next := -1
	for i := s.next; i < len(s.argv); i++ {
		if !s.taken[i] && (s.argv[i] == "" || s.argv[i][0] != '-') {
			next = i
			break
		}
	}
	if next < 0 {
		return arg
	}
	if s.taken == nil {
		s.taken = map[int]bool{}
	}
	s.taken[next] = true
	return strings.ReplaceAll(arg, mark, s.argv[next])
}

// badOption is the word popt names in its error messages: the last word
// consumed.
func (s *scanner) badOption() string {
	if s.next == 0 {
		return ""
	}
	return s.argv[s.next-1]
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

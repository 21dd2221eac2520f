package forward

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gdirector/gdirector/lab"
)

// Test names one measurement.
type Test string

// The measurements, in the order the table lists them.
const (
	// TestUDP: 64-byte UDP frames per second delivered to the real
	// servers through the VIP.
	TestUDP Test = "udp64"
	// TestCPS: new TCP connections per second (HTTP/1.1 GET with
	// Connection: close, wrk).
	TestCPS Test = "cps"
	// TestBulk: one iperf3 TCP stream with TSO, GSO and GRO off on every
	// veth, so every frame is MTU-sized.
	TestBulk Test = "bulk"
	// TestBulkGSO: the same stream with TSO, GSO and GRO on: the
	// director meets GSO/GRO super-frames.
	TestBulkGSO Test = "bulk-gso"
)

// AllTests lists every Test in table order.
var AllTests = []Test{TestUDP, TestCPS, TestBulk, TestBulkGSO}

// AllMethods lists the forwarding methods in table order.
var AllMethods = []string{"nat", "dr", "tun", "fullnat"}

// Options configure Run. ParseArgs fills them from the command line;
// Defaults gives the values of an empty command line.
type Options struct {
	Methods  []string      // from AllMethods, in that order
	Tests    []Test        // from AllTests, in that order
	Runs     int           // rounds of A/B/A/B, 1..100
	Duration time.Duration // measured window of each run, whole seconds, 1s..10m
	Warmup   time.Duration // load before the window opens, whole seconds, 0..60s
	Out      []string      // .csv and .json files to write the table to
	Prefix   string        // namespace prefix; "" = "gdb<pid>"
	Conns    int           // wrk connections (split over targets), 1..10000
	Flows    int           // UDP flows (sockets) of the generator, 1..1024
	// MaxOther is the largest share (0..1) of the machine's CPU time that
	// other processes may use during a window: a measurement above it is
	// taken again (twice at most) after waiting for the machine to calm
	// down. 1 disables the gate.
	MaxOther float64
	// QuietWait bounds each wait for the machine to calm down, 0..1h.
	QuietWait time.Duration
}

// Defaults returns the options of `gdirector bench forward` without
// arguments.
func Defaults() Options {
	return Options{
		Methods:   append([]string(nil), AllMethods...),
		Tests:     append([]Test(nil), AllTests...),
		Runs:      3,
		Duration:  5 * time.Second,
		Warmup:    time.Second,
		Conns:     32,
		Flows:     32,
		MaxOther:  0.05,
		QuietWait: time.Minute,
	}
}

// Usage is the synopsis printed on a usage error.
const Usage = `usage: gdirector bench forward [--mode nat|dr|tun|fullnat|all] [--runs N]
        [--duration D] [--warmup D] [--out FILE.csv|FILE.json]...
        [--tests udp64,cps,bulk,bulk-gso] [--conns N] [--flows N] [--max-other PCT]
        [--quiet-wait D] [--prefix P]`

// ParseArgs parses the arguments of `gdirector bench forward` (after
// "forward"). Flag errors and the flag set's help go to usage (nil
// discards them). On error the returned Options are the zero value.
func ParseArgs(args []string, usage io.Writer) (Options, error) {
	if usage == nil {
		usage = io.Discard
	}
	o := Defaults()
	fs := flag.NewFlagSet("bench forward", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprintln(usage, Usage)
		fs.PrintDefaults()
	}
	mode := fs.String("mode", "all", "forwarding methods to measure: nat, dr, tun, fullnat, a comma-separated list of them, or all")
	tests := fs.String("tests", "all", "measurements: udp64, cps, bulk, bulk-gso, a comma-separated list of them, or all")
	runs := fs.String("runs", strconv.Itoa(o.Runs), "runs of every variant, alternated A/B/A/B (1..100)")
	dur := fs.String("duration", "5s", "measured window of each run, whole seconds (e.g. 5s or 5; 1s..10m)")
	warm := fs.String("warmup", "1s", "load applied before the window opens, whole seconds (0..60s)")
	fs.Func("out", "also write the table to FILE.csv or FILE.json (repeatable)", func(v string) error {
		switch strings.ToLower(filepath.Ext(v)) {
		case ".csv", ".json":
		default:
			return fmt.Errorf("%q: want a .csv or .json file name", v)
		}
		o.Out = append(o.Out, v)
		return nil
	})
	fs.StringVar(&o.Prefix, "prefix", "", "namespace name prefix (default gdb<pid>; 1-36 of [A-Za-z0-9_.], starting with a letter)")
	conns := fs.String("conns", strconv.Itoa(o.Conns), "concurrent wrk connections (1..10000)")
	flows := fs.String("flows", strconv.Itoa(o.Flows), "UDP flows of the packet generator (1..1024)")
	quiet := fs.String("quiet-wait", "1m", "how long to wait, before each measurement, for other processes to calm down (whole seconds, 0..1h)")
	maxOther := fs.String("max-other", "5", "percent of the machine's CPU time other processes may use during a window before it is measured again (0..100; 100: never)")
	if err := fs.Parse(args); err != nil {
		return Options{}, fmt.Errorf("bench forward: %w", err)
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("bench forward: unexpected arguments %q", fs.Args())
	}
	var err error
	if o.Methods, err = parseList(*mode, AllMethods, "method"); err != nil {
		return Options{}, err
	}
	names := make([]string, len(AllTests))
	for i, t := range AllTests {
		names[i] = string(t)
	}
	tl, err := parseList(*tests, names, "test")
	if err != nil {
		return Options{}, err
	}
	o.Tests = o.Tests[:0]
	for _, t := range tl {
		o.Tests = append(o.Tests, Test(t))
	}
	if o.Runs, err = parseInt("runs", *runs, 1, 100); err != nil {
		return Options{}, err
	}
	if o.Conns, err = parseInt("conns", *conns, 1, 10000); err != nil {
		return Options{}, err
	}
	if o.Flows, err = parseInt("flows", *flows, 1, 1024); err != nil {
		return Options{}, err
	}
	pct, err := parseInt("max-other", *maxOther, 0, 100)
	if err != nil {
		return Options{}, err
	}
	o.MaxOther = float64(pct) / 100
	if o.QuietWait, err = parseSeconds("quiet-wait", *quiet, 0, time.Hour); err != nil {
		return Options{}, err
	}
	if o.Duration, err = parseSeconds("duration", *dur, time.Second, 10*time.Minute); err != nil {
		return Options{}, err
	}
	if o.Warmup, err = parseSeconds("warmup", *warm, 0, time.Minute); err != nil {
		return Options{}, err
	}
	if o.Prefix != "" && (!lab.ValidPrefix(o.Prefix) || len(o.Prefix) > maxPrefix) {
		return Options{}, fmt.Errorf("bench forward: --prefix %q: want 1-%d of [A-Za-z0-9_.], starting with a letter", o.Prefix, maxPrefix)
	}
	return o, nil
}

// maxPrefix leaves room for the method letter appended to the prefix
// within lab's 40-character limit.
const maxPrefix = 36

// parseList parses "all" or a comma-separated subset of known and returns
// it in the order of known, without duplicates.
func parseList(s string, known []string, what string) ([]string, error) {
	if s == "all" {
		return append([]string(nil), known...), nil
	}
	want := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		ok := false
		for _, k := range known {
			if f == k {
				ok = true
			}
		}
		if !ok {
			return nil, fmt.Errorf("bench forward: unknown %s %q (want %s or all)", what, f, strings.Join(known, ", "))
		}
		want[f] = true
	}
	var out []string
	for _, k := range known {
		if want[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

func parseInt(name, s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("bench forward: --%s %q: want an integer %d..%d", name, s, lo, hi)
	}
	return n, nil
}

// parseSeconds accepts a Go duration ("5s", "1m") or a bare number of
// seconds ("5"), which must be whole seconds in lo..hi: wrk and iperf3 take
// whole seconds.
func parseSeconds(name, s string, lo, hi time.Duration) (time.Duration, error) {
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("bench forward: --%s %q: want whole seconds in %v..%v (e.g. 5s)", name, s, lo, hi)
	}
	var d time.Duration
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || time.Duration(n) > hi/time.Second {
			return bad()
		}
		d = time.Duration(n) * time.Second
	} else {
		var perr error
		if d, perr = time.ParseDuration(s); perr != nil {
			return bad()
		}
	}
	if d < lo || d > hi || d%time.Second != 0 {
		return bad()
	}
	return d, nil
}

package lab

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of the --explain tests")

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (-update rewrites it); got:\n%s", name, got)
	}
}

// TestExplainGolden: the static part of gdirector lab --explain (diagram,
// kernel settings, address table) per mode, from planned topologies: no
// root, nothing created.
func TestExplainGolden(t *testing.T) {
	for _, c := range []struct {
		mode string
		ipv6 bool
	}{{"nat", false}, {"dr", false}, {"tun", false}, {"fullnat", false}, {"dr", true}, {"tun", true}} {
		name := c.mode
		if c.ipv6 {
			name += "-ipv6"
		}
		t.Run(name, func(t *testing.T) {
			topo, err := Plan(c.mode, Options{Prefix: "demo", IPv6: c.ipv6})
			if err != nil {
				t.Fatal(err)
			}
			defer topo.Close()
			if n := len(topo.Namespaces()); n != 0 {
				t.Fatalf("Plan created %d namespaces", n)
			}
			out := topo.Explain()
			golden(t, "explain-"+name+".golden", out)
			// Every role's address is in the table, whatever the layout.
			for _, a := range append(topo.RIPs(), topo.CIP, topo.VIP, topo.DIPClient, topo.DIPReal) {
				if !strings.Contains(out, a.String()) {
					t.Errorf("explain lacks %s", a)
				}
			}
			if c.ipv6 {
				for _, a := range append(topo.RIP6s(), topo.CIP6, topo.VIP6) {
					if !strings.Contains(out, a.String()) {
						t.Errorf("explain lacks %s", a)
					}
				}
			}
			for _, w := range strings.Split(out, "\n") {
				if len(w) > 130 {
					t.Errorf("line of %d columns: %q", len(w), w)
				}
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	for _, c := range []struct {
		mode string
		opt  Options
		want string
	}{
		{"ipip", Options{}, "unknown mode"},
		{"", Options{}, "unknown mode"},
		{"nat", Options{Reals: MaxReals + 1}, "real servers"},
		{"tun", Options{Reals: 51}, "in the TUN lab"},
		{"dr", Options{Prefix: "bad-prefix"}, "invalid prefix"},
		{"fullnat", Options{MTU: 20}, "MTU"},
	} {
		if _, err := Plan(c.mode, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Plan(%q, %+v) = %v, want an error with %q", c.mode, c.opt, err, c.want)
		}
	}
	topo, err := Plan("fullnat", Options{Reals: 3})
	if err != nil || topo.Mode != "fullnat" || len(topo.Reals) != 3 || topo.Reals[2].RIP.String() != "203.0.113.13" {
		t.Fatalf("Plan fullnat: %v %+v", err, topo)
	}
}

// loadObservation reads a recorded request (testdata/narrate-NAME.json,
// recorded from gdirector lab --explain runs).
func loadObservation(t *testing.T, name string) *Observation {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "narrate-"+name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var o Observation
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	return &o
}

// TestNarrate renders recorded trace records of one request per method:
// the narration names the scheduler's choice, the real server, the
// method's rewrite as the trace recorded it, and the reply's path; it
// matches its golden file.
func TestNarrate(t *testing.T) {
	for _, name := range []string{"nat", "dr", "tun", "fullnat", "dr-ipv6"} {
		t.Run(name, func(t *testing.T) {
			mode, six, _ := strings.Cut(name, "-")
			topo, err := Plan(mode, Options{Prefix: "demo", IPv6: six != ""})
			if err != nil {
				t.Fatal(err)
			}
			o := loadObservation(t, name)
			out, err := topo.Narrate(o)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "narrate-"+name+".golden", out)
			first := o.Records[0]
			if first.Conn.Decision != "new" || first.Sched == nil {
				t.Fatalf("fixture starts with %+v", first.Conn)
			}
			want := []string{
				"Chosen: " + first.Sched.Chosen + ".",
				first.Sched.Explain,
				"makes a new " + first.Method + " connection, in state " + first.Conn.State,
				"reported the peer " + o.Peer,
			}
			for _, c := range first.Changes {
				if c.Header == "eth" || c.Header == "outer" || c.Header == "ip" && mode != "dr" {
					want = append(want, c.After)
				}
			}
			switch mode {
			case "nat":
				want = append(want, "NAT changes the destination", "becomes "+first.Conn.RealServer+", the real server's address")
			case "fullnat":
				want = append(want, "FullNAT changes both ends", "becomes the director's local address and port "+first.Conn.Local, "TOA "+first.Conn.Client+" added")
			case "dr":
				want = append(want, "DR changes only the Ethernet header", "(untouched)", "The director never sees the reply")
			case "tun":
				want = append(want, "TUN puts a new outer IPv4 header", "inner  "+first.Conn.Client, "The director never sees the reply")
			}
			if mode == "nat" || mode == "fullnat" {
				want = append(want, "shows the reverse rewrite", "=>  "+first.Conn.VIP+" > "+first.Conn.Client)
			}
			// Prose is wrapped: compare with runs of spaces and line
			// breaks folded into one space.
			flat := func(s string) string { return strings.Join(strings.Fields(s), " ") }
			for _, w := range want {
				if !strings.Contains(flat(out), flat(w)) {
					t.Errorf("narration lacks %q", w)
				}
			}
			// Every record of the connection appears, by number.
			for _, r := range o.Records[1:] {
				if !strings.Contains(out, fmt.Sprintf("#%d", r.Seq)) {
					t.Errorf("narration lacks record #%d", r.Seq)
				}
			}
		})
	}
}

// TestNarrateNoFirstPacket: a trace that missed the SYN is refused, so
// that ExplainRequest can try again.
func TestNarrateNoFirstPacket(t *testing.T) {
	topo, err := Plan("nat", Options{Prefix: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	o := loadObservation(t, "nat")
	o.Records = o.Records[2:]
	if _, err := topo.Narrate(o); !errors.Is(err, ErrNoFirstPacket) {
		t.Fatalf("Narrate without the SYN: %v", err)
	}
	o.Records = nil
	if _, err := topo.Narrate(o); !errors.Is(err, ErrNoFirstPacket) {
		t.Fatalf("Narrate without records: %v", err)
	}
}

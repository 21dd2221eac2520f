package conntrack

import (
	"strings"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

// Expected transitions, written independently of state.go in the kernel's
// own orientation (one row per event, one column per current state), from
// the normal tcp_states[] table of net/netfilter/ipvs/ip_vs_proto_tcp.c
// (Linux 6.x), used by set_tcp_state(); the event comes from
// tcp_state_idx(): RST, then SYN, then FIN, then ACK.
//
// Columns: NONE ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT TIME_WAIT CLOSE
// CLOSE_WAIT LAST_ACK LISTEN SYNACK.
var kernelRows = map[Dir][4]string{
	In: {
		/*syn*/ "SR ES ES SR SR SR SR SR SR SR SR",
		/*fin*/ "CL CW SS TW TW TW CL CW LA LI TW",
		/*ack*/ "ES ES SS ES FW TW CL CW CL LI ES",
		/*rst*/ "CL CL CL SR CL CL CL CL LA LI SR",
	},
	Out: {
		/*syn*/ "SS ES SS SR SS SS SS SS SS LI SR",
		/*fin*/ "TW FW SS TW FW TW CL TW LA LI TW",
		/*ack*/ "ES ES SS ES FW TW CL CW LA ES ES",
		/*rst*/ "CL CL SS CL CL TW CL CL CL CL CL",
	},
	InOnly: {
		/*syn*/ "SR ES ES SR SR SR SR SR SR SR SR",
		/*fin*/ "CL FW SS TW FW TW CL CW LA LI TW",
		/*ack*/ "ES ES SS ES FW TW CL CW CL LI ES",
		/*rst*/ "CL CL CL SR CL CL CL CL LA LI CL",
	},
}

var abbrev = map[string]string{
	"NO": "NONE", "ES": "ESTABLISHED", "SS": "SYN_SENT", "SR": "SYN_RECV",
	"FW": "FIN_WAIT", "TW": "TIME_WAIT", "CL": "CLOSE", "CW": "CLOSE_WAIT",
	"LA": "LAST_ACK", "LI": "LISTEN", "SA": "SYNACK",
}

var columns = []string{"NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT",
	"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK"}

// Timeouts in seconds by state name (kernel tcp_timeouts[]).
var kernelTimeout = map[string]int64{
	"NONE": 2, "ESTABLISHED": 900, "SYN_SENT": 120, "SYN_RECV": 60,
	"FIN_WAIT": 120, "TIME_WAIT": 120, "CLOSE": 10, "CLOSE_WAIT": 60,
	"LAST_ACK": 30, "LISTEN": 120, "SYNACK": 120,
}

// Active states (kernel tcp_state_active_table[]).
var kernelActive = map[string]bool{"ESTABLISHED": true, "SYN_SENT": true, "SYN_RECV": true, "SYNACK": true}

func stateByName(t *testing.T, name string) State {
	for s := StateNone; s < numTCPStates; s++ {
		if s.String() == name {
			return s
		}
	}
	t.Fatalf("no state %q", name)
	return 0
}

// connIn builds a bound TCP conn forced into state s (test-only access).
func connIn(t *testing.T, tab *Table, s State, fwd vs.FwdMethod, d *vs.Dest, port uint16) *Conn {
	t.Helper()
	p := natParams(port, d)
	p.Fwd = fwd
	c, err := tab.New(0, p)
	if err != nil {
		t.Fatal(err)
	}
	// Move to s with the accounting New would have produced by packets.
	w := c.word.Load()
	w = w&^wStateMask | uint64(s)
	if kernelActive[s.String()] {
		w &^= wInactive
		d.InactConns.Add(-1)
		d.ActiveConns.Add(1)
	}
	c.word.Store(w)
	return c
}

func TestStateNames(t *testing.T) {
	for i, n := range columns {
		if State(i).String() != n {
			t.Errorf("state %d = %q, want %q", i, State(i).String(), n)
		}
	}
	if State(11).String() != "ERR!" {
		t.Error(State(11).String())
	}
}

func TestTCPTransitions(t *testing.T) {
	evFlags := [4]uint8{0x02 /*SYN*/, 0x01 /*FIN*/, 0x10 /*ACK*/, 0x04 /*RST*/}
	evName := [4]string{"SYN", "FIN", "ACK", "RST"}
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	port := uint16(1000)
	const now = int64(5e9)
	for _, dir := range []Dir{In, Out, InOnly} {
		for ev, row := range kernelRows[dir] {
			next := strings.Fields(row)
			for col, from := range columns {
				port++
				want := abbrev[next[col]]
				c := connIn(t, tab, stateByName(t, from), vs.Masq, d, port)
				wasInactive := c.Flags()&FlagInactive != 0
				a0, i0 := d.ActiveConns.Load(), d.InactConns.Load()
				c.Update(now, dir, evFlags[ev])
				if got := c.StateName(); got != want {
					t.Errorf("dir %d %s in %s: got %s, want %s", dir, evName[ev], from, got, want)
				}
				if exp := now + kernelTimeout[want]*1e9; c.Expires() != exp {
					t.Errorf("dir %d %s in %s: expires %d, want %d", dir, evName[ev], from, c.Expires(), exp)
				}
				// Accounting: the Inactive flag follows activity of the new
				// state on a change, and the counters move with it.
				inactive := c.Flags()&FlagInactive != 0
				if from != want && inactive == kernelActive[want] {
					t.Errorf("%s→%s: inactive=%v", from, want, inactive)
				}
				if from == want && inactive != wasInactive {
					t.Errorf("%s→%s: inactive flag changed", from, want)
				}
				da, di := d.ActiveConns.Load()-a0, d.InactConns.Load()-i0
				switch {
				case wasInactive && !inactive:
					if da != 1 || di != -1 {
						t.Errorf("%s→%s: Δactive %d Δinact %d", from, want, da, di)
					}
				case !wasInactive && inactive:
					if da != -1 || di != 1 {
						t.Errorf("%s→%s: Δactive %d Δinact %d", from, want, da, di)
					}
				default:
					if da != 0 || di != 0 {
						t.Errorf("%s→%s: Δactive %d Δinact %d", from, want, da, di)
					}
				}
			}
		}
	}
	tab.Flush()
	if d.ActiveConns.Load() != 0 || d.InactConns.Load() != 0 {
		t.Fatalf("after flush active %d inactive %d", d.ActiveConns.Load(), d.InactConns.Load())
	}
}

func TestTCPEventPriority(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	cases := []struct {
		flags uint8
		from  State
		want  State
	}{
		{0x02 | 0x10, StateNone, StateSynRecv},          // SYN+ACK: SYN wins
		{0x01 | 0x10, StateEstablished, StateCloseWait}, // FIN+ACK: FIN wins
		{0x04 | 0x10, StateEstablished, StateClose},     // RST+ACK: RST wins
		{0x04 | 0x02, StateNone, StateClose},            // RST+SYN: RST wins
		{0x02 | 0x01, StateEstablished, StateEstablished},
		{0x00, StateEstablished, StateClose},          // no flag: CLOSE
		{0x08, StateEstablished, StateClose},          // PSH only: CLOSE
		{0x18, StateEstablished, StateEstablished},    // PSH+ACK
		{0xe0 | 0x10, StateSynRecv, StateEstablished}, // ECE/CWR/URG ignored
	}
	for i, tc := range cases {
		c := connIn(t, tab, tc.from, vs.Masq, d, uint16(100+i))
		c.Update(1, In, tc.flags)
		if c.State() != tc.want {
			t.Errorf("flags %#x from %v: got %v want %v", tc.flags, tc.from, c.State(), tc.want)
		}
	}
}

// NoOutput: input packets use the input-only table until a reply is seen.
func TestNoOutput(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.DirectRoute, 1)
	c := connIn(t, tab, StateEstablished, vs.DirectRoute, d, 1)
	if c.Flags()&FlagNoOutput == 0 {
		t.Fatal("DR conn without NoOutput")
	}
	c.Update(1, In, 0x11) // FIN: input-only table gives FIN_WAIT, not CLOSE_WAIT
	if c.State() != StateFinWait {
		t.Fatal(c.StateName())
	}
	c2 := connIn(t, tab, StateEstablished, vs.DirectRoute, d, 2)
	c2.Update(1, Out, 0x10)
	if c2.Flags()&FlagNoOutput != 0 {
		t.Fatal("Out packet did not clear NoOutput")
	}
	c2.Update(1, In, 0x11) // now the input table: CLOSE_WAIT
	if c2.State() != StateCloseWait {
		t.Fatal(c2.StateName())
	}
	for _, m := range []vs.FwdMethod{vs.Masq, vs.FullNAT} {
		p := natParams(3, d)
		p.Fwd = m
		c, err := tab.New(0, p)
		if err != nil {
			t.Fatal(err)
		}
		if c.Flags()&FlagNoOutput != 0 {
			t.Errorf("%v conn has NoOutput", m)
		}
		tab.Delete(c)
	}
	for _, m := range []vs.FwdMethod{vs.DirectRoute, vs.Tunnel, vs.Local} {
		p := natParams(3, d)
		p.Fwd = m
		c, err := tab.New(0, p)
		if err != nil {
			t.Fatal(err)
		}
		if c.Flags()&FlagNoOutput == 0 {
			t.Errorf("%v conn lacks NoOutput", m)
		}
		tab.Delete(c)
	}
}

func TestTimeoutsFollowSettings(t *testing.T) {
	tab := NewTable(Options{})
	if a, b, c := tab.Timeouts(); a != 900 || b != 120 || c != 300 {
		t.Fatal(a, b, c)
	}
	tab.SetTimeouts(100, 0, 0)
	if a, b, c := tab.Timeouts(); a != 100 || b != 120 || c != 300 {
		t.Fatal(a, b, c)
	}
	tab.SetTimeouts(0, 20, 30)
	if a, b, c := tab.Timeouts(); a != 100 || b != 20 || c != 30 {
		t.Fatal(a, b, c)
	}
	tab.SetTimeouts(-1, -1, -1)
	if a, b, c := tab.Timeouts(); a != 100 || b != 20 || c != 30 {
		t.Fatal(a, b, c)
	}
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	c := connIn(t, tab, StateSynRecv, vs.Masq, d, 1)
	c.Update(10, In, 0x10)
	if c.State() != StateEstablished || c.Expires() != expOf(expBits(10+100e9)) {
		t.Fatal(c.StateName(), c.Expires())
	}
	c.Update(20, Out, 0x11) // ES --out FIN--> FIN_WAIT
	if c.State() != StateFinWait || c.Expires() != expOf(expBits(20+20e9)) {
		t.Fatal(c.StateName(), c.Expires())
	}
	u, err := tab.New(0, udpParams(2, d))
	if err != nil {
		t.Fatal(err)
	}
	u.Update(1e9, In, 0)
	if u.Expires() != 31e9 || u.StateName() != "UDP" {
		t.Fatal(u.Expires(), u.StateName())
	}
	if tab.TCPTimeout(StateClose) != 10e9 || tab.TCPTimeout(99) != 0 {
		t.Fatal(tab.TCPTimeout(StateClose))
	}
}

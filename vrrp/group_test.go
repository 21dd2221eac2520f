package vrrp

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// groupRec records what the members of a sync group and the group do,
// in order: "NAME advert P", "NAME FROM->TO", "group FROM->TO".
type groupRec struct{ log []string }

func (r *groupRec) take() []string { l := r.log; r.log = nil; return l }

// newGroup makes two members, a (priority 100) and b (priority 150),
// version 2, interval 1 s, in the group G.
func newGroup(t *testing.T, prio ...uint8) (*SyncGroup, map[string]*Machine, *groupRec) {
	t.Helper()
	r := &groupRec{}
	ms := map[string]*Machine{}
	var list []*Machine
	for i, name := range []string{"a", "b"} {
		p := Params{Name: name, Version: 2, Priority: prio[i], Interval: time.Second, Preempt: true,
			Primary: netip.AddrFrom4([4]byte{192, 0, 2, byte(5 + i)})}
		m, err := NewMachine(p, Hooks{
			Advertise:  func(p uint8) { r.log = append(r.log, fmt.Sprintf("%s advert %d", name, p)) },
			Transition: func(t Transition) { r.log = append(r.log, fmt.Sprintf("%s %v->%v", name, t.From, t.To)) },
		})
		if err != nil {
			t.Fatal(err)
		}
		ms[name] = m
		list = append(list, m)
	}
	g, err := NewSyncGroup("G", func(t GroupTransition) {
		r.log = append(r.log, fmt.Sprintf("group %v->%v", t.From, t.To))
	}, list...)
	if err != nil {
		t.Fatal(err)
	}
	return g, ms, r
}

// down100 and down150 are the Master_Down_Intervals of a and b.
const down150 = 3414062500 * time.Nanosecond // 3 s + 106/256 s

type gstep struct {
	at    time.Duration
	event string // "NAME startup|tick|shutdown|fault on|fault off|advert SRC PRIO"
	want  []string
	// states of a, b and the group after the event: "BACKUP BACKUP BACKUP".
	states string
}

func runGroup(t *testing.T, prio []uint8, steps []gstep) {
	t.Helper()
	g, ms, r := newGroup(t, prio...)
	for i, s := range steps {
		now := t0.Add(s.at)
		f := strings.Fields(s.event)
		m := ms[f[0]]
		switch f[1] {
		case "startup":
			m.Startup(now)
		case "tick":
			m.Tick(now)
		case "shutdown":
			m.Shutdown(now)
		case "fault":
			m.SetFault(now, f[2] == "on", "link down")
		case "advert":
			var p int
			fmt.Sscan(f[3], &p)
			m.Advert(now, netip.MustParseAddr(f[2]), uint8(p), 0)
		default:
			t.Fatalf("bad step %q", s.event)
		}
		if got := r.take(); !reflect.DeepEqual(got, s.want) && !(len(got) == 0 && len(s.want) == 0) {
			t.Fatalf("step %d (%s at %v): did %q, want %q", i, s.event, s.at, got, s.want)
		}
		if got := fmt.Sprintf("%v %v %v", ms["a"].State(), ms["b"].State(), g.State()); got != s.states {
			t.Fatalf("step %d (%s): states %s, want %s", i, s.event, got, s.states)
		}
	}
}

func TestSyncGroup(t *testing.T) {
	peer := "192.0.2.9"
	cases := []struct {
		name  string
		prio  []uint8
		steps []gstep
	}{
		{"members become master together, when both are ready", []uint8{100, 150}, []gstep{
			{0, "a startup", []string{"a INIT->BACKUP", "group INIT->BACKUP"}, "BACKUP INIT BACKUP"},
			{0, "b startup", []string{"b INIT->BACKUP"}, "BACKUP BACKUP BACKUP"},
			// b's timer expires first, but a still waits: b waits too.
			{down150, "b tick", nil, "BACKUP BACKUP BACKUP"},
			// a is ready: both go master at once.
			{down100, "a tick", []string{"a advert 100", "a BACKUP->MASTER", "b advert 150", "b BACKUP->MASTER", "group BACKUP->MASTER"}, "MASTER MASTER MASTER"},
		}},
		{"a member that hears a master keeps the other one back", []uint8{100, 150}, []gstep{
			{0, "a startup", []string{"a INIT->BACKUP", "group INIT->BACKUP"}, "BACKUP INIT BACKUP"},
			{0, "b startup", []string{"b INIT->BACKUP"}, "BACKUP BACKUP BACKUP"},
			{time.Second, "a advert " + peer + " 200", nil, "BACKUP BACKUP BACKUP"},
			// b alone lost its master (its link to it, say): it waits.
			{down150, "b tick", nil, "BACKUP BACKUP BACKUP"},
			{2 * down150, "b tick", nil, "BACKUP BACKUP BACKUP"},
			{2 * time.Second, "a advert " + peer + " 200", nil, "BACKUP BACKUP BACKUP"},
			// a's master stops (priority 0): a takes over after its skew,
			// and b, ready, follows.
			{3 * time.Second, "a advert " + peer + " 0", nil, "BACKUP BACKUP BACKUP"},
			{3*time.Second + skew100, "a tick", []string{"a advert 100", "a BACKUP->MASTER", "b advert 150", "b BACKUP->MASTER", "group BACKUP->MASTER"}, "MASTER MASTER MASTER"},
		}},
		{"a master that steps down takes the other to backup", []uint8{100, 150}, []gstep{
			{0, "a startup", []string{"a INIT->BACKUP", "group INIT->BACKUP"}, "BACKUP INIT BACKUP"},
			{0, "b startup", []string{"b INIT->BACKUP"}, "BACKUP BACKUP BACKUP"},
			{down150, "b tick", nil, "BACKUP BACKUP BACKUP"},
			{down100, "a tick", []string{"a advert 100", "a BACKUP->MASTER", "b advert 150", "b BACKUP->MASTER", "group BACKUP->MASTER"}, "MASTER MASTER MASTER"},
			{5 * time.Second, "b advert " + peer + " 200", []string{"b MASTER->BACKUP", "a MASTER->BACKUP", "group MASTER->BACKUP"}, "BACKUP BACKUP BACKUP"},
			// A lower priority advert on a backup changes nothing.
			{6 * time.Second, "a advert " + peer + " 50", nil, "BACKUP BACKUP BACKUP"},
		}},
		{"a fault takes the group to fault; the last recovery takes it to backup", []uint8{100, 150}, []gstep{
			{0, "a startup", []string{"a INIT->BACKUP", "group INIT->BACKUP"}, "BACKUP INIT BACKUP"},
			{0, "b startup", []string{"b INIT->BACKUP"}, "BACKUP BACKUP BACKUP"},
			{down150, "b tick", nil, "BACKUP BACKUP BACKUP"},
			{down100, "a tick", []string{"a advert 100", "a BACKUP->MASTER", "b advert 150", "b BACKUP->MASTER", "group BACKUP->MASTER"}, "MASTER MASTER MASTER"},
			// b's link goes down: both masters send priority 0.
			{5 * time.Second, "b fault on", []string{"b advert 0", "b MASTER->FAULT", "a advert 0", "a MASTER->FAULT", "group MASTER->FAULT"}, "FAULT FAULT FAULT"},
			{6 * time.Second, "a tick", nil, "FAULT FAULT FAULT"},
			{6 * time.Second, "a advert " + peer + " 200", nil, "FAULT FAULT FAULT"},
			// a's link too; then a's comes back first: still FAULT.
			{7 * time.Second, "a fault on", nil, "FAULT FAULT FAULT"},
			{8 * time.Second, "a fault off", nil, "FAULT FAULT FAULT"},
			// The last: both go to backup.
			{9 * time.Second, "b fault off", []string{"b FAULT->BACKUP", "a FAULT->BACKUP", "group FAULT->BACKUP"}, "BACKUP BACKUP BACKUP"},
			{9*time.Second + down150, "b tick", nil, "BACKUP BACKUP BACKUP"},
			{9*time.Second + down100, "a tick", []string{"a advert 100", "a BACKUP->MASTER", "b advert 150", "b BACKUP->MASTER", "group BACKUP->MASTER"}, "MASTER MASTER MASTER"},
		}},
		{"a member starting with a fault keeps the group in fault", []uint8{100, 150}, []gstep{
			{0, "a fault on", nil, "INIT INIT INIT"},
			{0, "a startup", []string{"a INIT->FAULT", "group INIT->FAULT"}, "FAULT INIT FAULT"},
			{0, "b startup", []string{"b INIT->FAULT"}, "FAULT FAULT FAULT"},
			{10 * time.Second, "b tick", nil, "FAULT FAULT FAULT"},
			{11 * time.Second, "a fault off", []string{"a FAULT->BACKUP", "b FAULT->BACKUP", "group FAULT->BACKUP"}, "BACKUP BACKUP BACKUP"},
		}},
		{"a fault of a backup member while the other starts", []uint8{100, 150}, []gstep{
			{0, "a startup", []string{"a INIT->BACKUP", "group INIT->BACKUP"}, "BACKUP INIT BACKUP"},
			{time.Second, "a fault on", []string{"a BACKUP->FAULT", "group BACKUP->FAULT"}, "FAULT INIT FAULT"},
			{time.Second, "b startup", []string{"b INIT->FAULT"}, "FAULT FAULT FAULT"},
		}},
		{"owners start as masters together", []uint8{255, 255}, []gstep{
			{0, "a startup", []string{"a INIT->BACKUP", "group INIT->BACKUP"}, "BACKUP INIT BACKUP"},
			{0, "b startup", []string{"b advert 255", "b INIT->MASTER", "a advert 255", "a BACKUP->MASTER", "group BACKUP->MASTER"}, "MASTER MASTER MASTER"},
		}},
		{"shutdown: masters send priority 0; the group stops with the last", []uint8{100, 150}, []gstep{
			{0, "a startup", []string{"a INIT->BACKUP", "group INIT->BACKUP"}, "BACKUP INIT BACKUP"},
			{0, "b startup", []string{"b INIT->BACKUP"}, "BACKUP BACKUP BACKUP"},
			{down150, "b tick", nil, "BACKUP BACKUP BACKUP"},
			{down100, "a tick", []string{"a advert 100", "a BACKUP->MASTER", "b advert 150", "b BACKUP->MASTER", "group BACKUP->MASTER"}, "MASTER MASTER MASTER"},
			{5 * time.Second, "a shutdown", []string{"a advert 0", "a MASTER->INIT"}, "INIT MASTER MASTER"},
			{5 * time.Second, "b shutdown", []string{"b advert 0", "b MASTER->INIT", "group MASTER->INIT"}, "INIT INIT INIT"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runGroup(t, tc.prio, tc.steps) })
	}
}

func TestNewSyncGroupErrors(t *testing.T) {
	mk := func() *Machine {
		m, err := NewMachine(Params{Version: 2, Priority: 100, Interval: time.Second, Primary: self}, Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := mk(), mk()
	if _, err := NewSyncGroup("G", nil); err == nil {
		t.Fatal("empty group accepted")
	}
	if _, err := NewSyncGroup("G", nil, a, a); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("member twice: %v", err)
	}
	if _, err := NewSyncGroup("G", nil, a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSyncGroup("H", nil, a); err == nil || !strings.Contains(err.Error(), "already in sync group G") {
		t.Fatalf("member of two groups: %v", err)
	}
	c := mk()
	c.Startup(t0)
	if _, err := NewSyncGroup("H", nil, c); err == nil || !strings.Contains(err.Error(), "running") {
		t.Fatalf("running member: %v", err)
	}
}

package vrrp

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// rec records what a Machine does.
type rec struct {
	log []string
}

func (r *rec) hooks() Hooks {
	return Hooks{
		Advertise:  func(p uint8) { r.log = append(r.log, fmt.Sprintf("advert %d", p)) },
		Transition: func(t Transition) { r.log = append(r.log, fmt.Sprintf("%v->%v", t.From, t.To)) },
	}
}

func (r *rec) take() []string { l := r.log; r.log = nil; return l }

var (
	self  = netip.MustParseAddr("192.0.2.5")
	lower = netip.MustParseAddr("192.0.2.4")
	upper = netip.MustParseAddr("192.0.2.6")
)

func newM(t *testing.T, p Params) (*Machine, *rec) {
	t.Helper()
	if p.Version == 0 {
		p.Version = 2
	}
	if p.Interval == 0 {
		p.Interval = time.Second
	}
	if !p.Primary.IsValid() {
		p.Primary = self
	}
	r := &rec{}
	m, err := NewMachine(p, r.hooks())
	if err != nil {
		t.Fatal(err)
	}
	return m, r
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestTimers(t *testing.T) {
	for _, tc := range []struct {
		version  int
		prio     uint8
		interval time.Duration
		skew     time.Duration
		down     time.Duration
	}{
		// v2: (256-prio)/256 s.
		{2, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{2, 254, time.Second, 7812500 * time.Nanosecond, 3007812500 * time.Nanosecond},
		{2, 1, 3 * time.Second, 996093750 * time.Nanosecond, 9996093750 * time.Nanosecond},
		// v3: ((256-prio)*interval_cs)/256 cs, integer arithmetic.
		{3, 100, time.Second, ms(600), ms(3600)}, // 156*100/256 = 60 cs
		{3, 200, ms(100), ms(20), ms(320)},       // 56*10/256 = 2 cs
		{3, 254, ms(100), 0, ms(300)},            // 2*10/256 = 0 cs
		{3, 1, ms(4095 * 10), ms(4079 * 10), ms(3*40950 + 40790)},
	} {
		m, _ := newM(t, Params{Version: tc.version, Priority: tc.prio, Interval: tc.interval})
		m.Startup(t0)
		if m.SkewTime() != tc.skew || m.MasterDownInterval() != tc.down {
			t.Errorf("v%d prio %d interval %v: skew %v down %v, want %v %v", tc.version, tc.prio, tc.interval,
				m.SkewTime(), m.MasterDownInterval(), tc.skew, tc.down)
		}
		if got := m.Deadline(); !got.Equal(t0.Add(tc.down)) {
			t.Errorf("deadline %v after startup, want %v", got.Sub(t0), tc.down)
		}
	}
}

// step is one event of a scenario and what must follow.
type step struct {
	at    time.Duration // since t0
	event string        // startup, tick, shutdown, advert SRC PRIO [INTERVAL], prio N
	want  []string      // hook calls
	state State
	// deadline after the event, since t0 (-1: don't check).
	deadline time.Duration
}

func runSteps(t *testing.T, p Params, steps []step) {
	t.Helper()
	m, r := newM(t, p)
	for i, s := range steps {
		now := t0.Add(s.at)
		f := strings.Fields(s.event)
		switch f[0] {
		case "startup":
			m.Startup(now)
		case "tick":
			m.Tick(now)
		case "shutdown":
			m.Shutdown(now)
		case "advert":
			var prio int
			fmt.Sscan(f[2], &prio)
			iv := time.Duration(0)
			if len(f) > 3 {
				iv, _ = time.ParseDuration(f[3])
			}
			m.Advert(now, netip.MustParseAddr(f[1]), uint8(prio), iv)
		case "fault":
			m.SetFault(now, f[1] == "on", "test")
		case "prio":
			var prio int
			fmt.Sscan(f[1], &prio)
			if err := m.SetPriority(now, uint8(prio)); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		default:
			t.Fatalf("bad step %q", s.event)
		}
		if got := r.take(); !reflect.DeepEqual(got, s.want) && !(len(got) == 0 && len(s.want) == 0) {
			t.Fatalf("step %d (%s at %v): did %q, want %q", i, s.event, s.at, got, s.want)
		}
		if m.State() != s.state {
			t.Fatalf("step %d (%s): state %v, want %v", i, s.event, m.State(), s.state)
		}
		if s.deadline >= 0 {
			want := t0.Add(s.deadline)
			if s.state == StateInit || s.state == StateFault {
				want = time.Time{}
			}
			if !m.Deadline().Equal(want) {
				t.Fatalf("step %d (%s): deadline %v, want %v", i, s.event, m.Deadline().Sub(t0), s.deadline)
			}
		}
	}
}

// The scenarios cover every transition and event of RFC 5798 §6.4 (and
// RFC 3768 §6.4, the same machine with version 2 timers). Priority 100,
// version 2, interval 1 s: Skew_Time 609.375 ms, Master_Down_Interval
// 3609.375 ms.
const down100 = 3609375 * time.Microsecond
const skew100 = 609375 * time.Microsecond

func TestMachine(t *testing.T) {
	cases := []struct {
		name  string
		p     Params
		steps []step
	}{
		{"owner starts as master and advertises every interval", Params{Priority: 255}, []step{
			{0, "startup", []string{"advert 255", "INIT->MASTER"}, StateMaster, time.Second},
			{ms(999), "tick", nil, StateMaster, time.Second},
			{time.Second, "tick", []string{"advert 255"}, StateMaster, 2 * time.Second},
			{ms(2500), "tick", []string{"advert 255"}, StateMaster, 3 * time.Second},
			{ms(7000), "tick", []string{"advert 255"}, StateMaster, 8 * time.Second},
		}},
		{"backup waits Master_Down_Interval, then takes over", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{down100 - 1, "tick", nil, StateBackup, down100},
			{down100, "tick", []string{"advert 100", "BACKUP->MASTER"}, StateMaster, down100 + time.Second},
		}},
		{"backup: adverts of a higher priority reset the master-down timer", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "advert 192.0.2.9 150", nil, StateBackup, time.Second + down100},
			{2 * time.Second, "advert 192.0.2.9 150", nil, StateBackup, 2*time.Second + down100},
			{2*time.Second + down100, "tick", []string{"advert 100", "BACKUP->MASTER"}, StateMaster, -1},
		}},
		{"backup: an equal priority resets the timer too", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "advert 192.0.2.1 100", nil, StateBackup, time.Second + down100},
		}},
		{"backup preempts a lower priority: discards its adverts", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "advert 192.0.2.9 50", nil, StateBackup, down100},
			{2 * time.Second, "advert 192.0.2.9 50", nil, StateBackup, down100},
			{down100, "tick", []string{"advert 100", "BACKUP->MASTER"}, StateMaster, down100 + time.Second},
		}},
		{"nopreempt: a lower priority master keeps the role", Params{Priority: 100, Preempt: false}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "advert 192.0.2.9 50", nil, StateBackup, time.Second + down100},
			{2 * time.Second, "advert 192.0.2.9 50", nil, StateBackup, 2*time.Second + down100},
			{3 * time.Second, "tick", nil, StateBackup, 2*time.Second + down100},
		}},
		{"preempt_delay: wait, then preempt at the delay", Params{Priority: 100, Preempt: true, PreemptDelay: 5 * time.Second}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "advert 192.0.2.9 50", nil, StateBackup, time.Second + down100},
			{2 * time.Second, "advert 192.0.2.9 50", nil, StateBackup, 2*time.Second + down100},
			{3 * time.Second, "advert 192.0.2.9 50", nil, StateBackup, 6 * time.Second},
			{5 * time.Second, "advert 192.0.2.9 50", nil, StateBackup, 6 * time.Second},
			{6 * time.Second, "advert 192.0.2.9 50", nil, StateBackup, 6 * time.Second},
			{6 * time.Second, "tick", []string{"advert 100", "BACKUP->MASTER"}, StateMaster, 7 * time.Second},
		}},
		{"preempt_delay is cancelled by a higher priority master", Params{Priority: 100, Preempt: true, PreemptDelay: 5 * time.Second}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "advert 192.0.2.9 50", nil, StateBackup, time.Second + down100},
			{2 * time.Second, "advert 192.0.2.8 200", nil, StateBackup, 2*time.Second + down100},
			{3 * time.Second, "advert 192.0.2.9 50", nil, StateBackup, 3*time.Second + down100},
		}},
		{"backup: priority 0 means take over after Skew_Time", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "advert 192.0.2.9 200", nil, StateBackup, time.Second + down100},
			{2 * time.Second, "advert 192.0.2.9 0", nil, StateBackup, 2*time.Second + skew100},
			{2*time.Second + skew100, "tick", []string{"advert 100", "BACKUP->MASTER"}, StateMaster, 3*time.Second + skew100},
		}},
		{"nopreempt backup still takes over fast on priority 0", Params{Priority: 100}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "advert 192.0.2.9 0", nil, StateBackup, time.Second + skew100},
		}},
		{"master: a higher priority makes it backup", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{down100, "tick", []string{"advert 100", "BACKUP->MASTER"}, StateMaster, down100 + time.Second},
			{4 * time.Second, "advert 192.0.2.9 200", []string{"MASTER->BACKUP"}, StateBackup, 4*time.Second + down100},
		}},
		{"master: a lower priority is discarded (even with nopreempt on the other side)", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{down100, "tick", []string{"advert 100", "BACKUP->MASTER"}, StateMaster, down100 + time.Second},
			{4 * time.Second, "advert 192.0.2.200 99", nil, StateMaster, down100 + time.Second},
		}},
		{"master: equal priority, higher primary address wins", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{down100, "tick", []string{"advert 100", "BACKUP->MASTER"}, StateMaster, -1},
			{4 * time.Second, "advert " + lower.String() + " 100", nil, StateMaster, -1},
			{ms(4100), "advert " + upper.String() + " 100", []string{"MASTER->BACKUP"}, StateBackup, ms(4100) + down100},
		}},
		{"master: priority 0 from another answers with an advert at once", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{down100, "tick", []string{"advert 100", "BACKUP->MASTER"}, StateMaster, down100 + time.Second},
			{4 * time.Second, "advert 192.0.2.9 0", []string{"advert 100"}, StateMaster, 5 * time.Second},
		}},
		{"master shutdown sends priority 0", Params{Priority: 255}, []step{
			{0, "startup", []string{"advert 255", "INIT->MASTER"}, StateMaster, time.Second},
			{ms(500), "shutdown", []string{"advert 0", "MASTER->INIT"}, StateInit, 0},
			{ms(5000), "tick", nil, StateInit, 0},
			{ms(5000), "advert 192.0.2.9 200", nil, StateInit, 0},
		}},
		{"backup shutdown is silent", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "shutdown", []string{"BACKUP->INIT"}, StateInit, 0},
			{down100 * 2, "tick", nil, StateInit, 0},
		}},
		{"restart after shutdown", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "shutdown", []string{"BACKUP->INIT"}, StateInit, 0},
			{2 * time.Second, "startup", []string{"INIT->BACKUP"}, StateBackup, 2*time.Second + down100},
		}},
		{"priority change on a master is advertised at once", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{down100, "tick", []string{"advert 100", "BACKUP->MASTER"}, StateMaster, -1},
			{4 * time.Second, "prio 50", []string{"advert 50"}, StateMaster, 5 * time.Second},
			{ms(4500), "advert 192.0.2.9 80", []string{"MASTER->BACKUP"}, StateBackup, -1},
		}},
		// The master-down timer moves by the change of Skew_Time
		// (609.375 ms at 100, 218.75 ms at 200), as keepalived's.
		{"priority raised on a backup: preempts the next lower advert", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "advert 192.0.2.9 150", nil, StateBackup, time.Second + down100},
			{2 * time.Second, "prio 200", nil, StateBackup, time.Second + down100 - 390625*time.Microsecond},
			{ms(2500), "advert 192.0.2.9 150", nil, StateBackup, time.Second + down100 - 390625*time.Microsecond},
		}},
		{"v3 backup learns the master's interval", Params{Version: 3, Priority: 100, Interval: time.Second, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, ms(3600)},
			// 200 cs from the master: 3*2 s + 156*200/256 cs (121 cs).
			{time.Second, "advert 192.0.2.9 150 2s", nil, StateBackup, time.Second + ms(6000+1210)},
			// Priority 0: Skew_Time on the learnt interval.
			{2 * time.Second, "advert 192.0.2.9 0 2s", nil, StateBackup, 2*time.Second + ms(1210)},
		}},
		{"v2 ignores the advert interval (checked by Expect)", Params{Version: 2, Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "advert 192.0.2.9 150 5s", nil, StateBackup, time.Second + down100},
		}},
		{"startup twice is one startup", Params{Priority: 255}, []step{
			{0, "startup", []string{"advert 255", "INIT->MASTER"}, StateMaster, time.Second},
			{ms(10), "startup", nil, StateMaster, time.Second},
		}},
		{"shutdown from Initialize does nothing", Params{Priority: 100}, []step{
			{0, "shutdown", nil, StateInit, 0},
		}},
		// keepalived's FAULT (a tracked interface down).
		{"backup: fault, then back to backup on the local interval", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "fault on", []string{"BACKUP->FAULT"}, StateFault, 0},
			{2 * time.Second, "advert 192.0.2.9 0", nil, StateFault, 0},
			{2 * time.Second, "advert 192.0.2.9 50", nil, StateFault, 0},
			{10 * time.Second, "tick", nil, StateFault, 0},
			{11 * time.Second, "fault on", nil, StateFault, 0},
			{12 * time.Second, "fault off", []string{"FAULT->BACKUP"}, StateBackup, 12*time.Second + down100},
			{12*time.Second + down100, "tick", []string{"advert 100", "BACKUP->MASTER"}, StateMaster, -1},
		}},
		{"master: fault sends priority 0 and stops advertising", Params{Priority: 255}, []step{
			{0, "startup", []string{"advert 255", "INIT->MASTER"}, StateMaster, time.Second},
			{ms(1500), "fault on", []string{"advert 0", "MASTER->FAULT"}, StateFault, 0},
			{5 * time.Second, "tick", nil, StateFault, 0},
			// Back as a backup (even the owner), 3 s + 1/256 s.
			{6 * time.Second, "fault off", []string{"FAULT->BACKUP"}, StateBackup, 9*time.Second + 3906250},
		}},
		{"startup with the fault set starts in fault", Params{Priority: 100, Preempt: true}, []step{
			{0, "fault on", nil, StateInit, 0},
			{0, "startup", []string{"INIT->FAULT"}, StateFault, 0},
			{time.Second, "fault off", []string{"FAULT->BACKUP"}, StateBackup, time.Second + down100},
		}},
		{"fault cleared before startup: a normal startup", Params{Priority: 100, Preempt: true}, []step{
			{0, "fault on", nil, StateInit, 0},
			{0, "fault off", nil, StateInit, 0},
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
		}},
		{"v3: leaving fault forgets the master's interval", Params{Version: 3, Priority: 100, Interval: time.Second, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, ms(3600)},
			{time.Second, "advert 192.0.2.9 150 2s", nil, StateBackup, time.Second + ms(7210)},
			{2 * time.Second, "fault on", []string{"BACKUP->FAULT"}, StateFault, 0},
			{3 * time.Second, "fault off", []string{"FAULT->BACKUP"}, StateBackup, 3*time.Second + ms(3600)},
		}},
		{"shutdown in fault is silent", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "fault on", []string{"BACKUP->FAULT"}, StateFault, 0},
			{2 * time.Second, "shutdown", []string{"FAULT->INIT"}, StateInit, 0},
			{3 * time.Second, "fault off", nil, StateInit, 0},
		}},
		{"priority change in fault is kept for later", Params{Priority: 100, Preempt: true}, []step{
			{0, "startup", []string{"INIT->BACKUP"}, StateBackup, down100},
			{time.Second, "fault on", []string{"BACKUP->FAULT"}, StateFault, 0},
			{2 * time.Second, "prio 200", nil, StateFault, 0},
			{3 * time.Second, "fault off", []string{"FAULT->BACKUP"}, StateBackup, 3*time.Second + 3218750*time.Microsecond},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, tc.p, tc.steps) })
	}
}

func TestMachineParams(t *testing.T) {
	for _, p := range []Params{
		{Version: 2, Priority: 0, Interval: time.Second, Primary: self},
		{Version: 2, Priority: 1, Interval: ms(500), Primary: self},
		{Version: 3, Priority: 1, Interval: 0, Primary: self},
		{Version: 3, Priority: 1, Interval: time.Second},
		{Version: 3, Priority: 1, Interval: time.Second, Primary: self, PreemptDelay: -1},
	} {
		if _, err := NewMachine(p, Hooks{}); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	m, _ := newM(t, Params{Priority: 100})
	if err := m.SetPriority(t0, 0); err == nil {
		t.Error("priority 0 accepted")
	}
}

func TestMasterRecorded(t *testing.T) {
	m, _ := newM(t, Params{Priority: 100, Preempt: true})
	m.Startup(t0)
	m.Advert(t0.Add(time.Second), upper, 150, 0)
	if a, p := m.Master(); a != upper || p != 150 {
		t.Fatalf("master %v %d", a, p)
	}
}

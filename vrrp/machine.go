package vrrp

import (
	"fmt"
	"net/netip"
	"time"
)

// State is the state of a virtual router.
type State int

// States of RFC 5798 §6.4, and keepalived's FAULT: an instance whose
// interface, or a tracked one, is down (or whose sync group is in FAULT)
// neither advertises nor answers adverts nor owns its addresses. The
// values are keepalived's (its notify FIFO and SNMP number them so).
const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
)

// String names the state as keepalived's notify scripts get it.
func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Params are the settings of a Machine.
type Params struct {
	// Name names the router in transition reasons (optional).
	Name    string
	Version int // 2 or 3
	// Priority is 1..255 (255: the address owner).
	Priority uint8
	// Interval is the advert interval (version 2: whole seconds).
	Interval time.Duration
	// Preempt lets a backup of higher priority take over from a master of
	// lower priority (RFC default true; keepalived nopreempt clears it).
	Preempt bool
	// PreemptDelay postpones that takeover: a backup that sees a master of
	// lower priority waits this long before preempting it (keepalived
	// preempt_delay).
	PreemptDelay time.Duration
	// Primary is this router's primary address: the source of its adverts,
	// compared with the sender's on equal priorities.
	Primary netip.Addr
}

// Transition is a change of state.
type Transition struct {
	From, To State
	At       time.Time
	// Reason says what caused it, for logs.
	Reason string
}

// Hooks are how a Machine acts. Either may be nil.
type Hooks struct {
	// Advertise must send an advert with the given priority now.
	Advertise func(priority uint8)
	// Transition is called after every change of state, once the Machine
	// is in the new state.
	Transition func(Transition)
}

// Machine is the VRRP state machine of one virtual router. It is pure: it
// keeps no clock and opens no sockets; every event carries its time, and
// Deadline tells the caller when to call Tick. It is not safe for
// concurrent use.
type Machine struct {
	p     Params
	hooks Hooks
	state State
	// masterInterval is Master_Adver_Interval (version 3: the master's;
	// version 2: the local interval).
	masterInterval time.Duration
	// masterDown is the Master_Down_Timer's expiry (Backup), advertAt the
	// Adver_Timer's (Master).
	masterDown, advertAt time.Time
	// preemptAt is when a pending delayed preemption may happen (zero:
	// none pending).
	preemptAt time.Time
	// MasterAddr is the source of the last advert accepted from the
	// master (Backup only).
	masterAddr netip.Addr
	masterPrio uint8
	// fault is the instance's own fault condition (SetFault): a tracked
	// interface is down or a tracked script failed. A member of a sync group may also be in FAULT
	// without it, held there by another member.
	fault bool
	// faultWhy is the reason SetFault last gave for setting fault.
	faultWhy string
	// wantMaster: a backup whose master-down timer expired but whose
	// sync group would not follow yet (keepalived's wantstate MASTER).
	wantMaster bool
	// sync is the sync group the Machine belongs to (nil: none).
	sync *SyncGroup
}

// NewMachine returns a Machine in Initialize.
func NewMachine(p Params, h Hooks) (*Machine, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	return &Machine{p: p, hooks: h, masterInterval: p.Interval}, nil
}

func (p *Params) check() error {
	if _, err := WireInterval(p.Version, p.Interval); err != nil {
		return err
	}
	if p.Priority == 0 {
		return fmt.Errorf("vrrp: priority 0 is reserved for a master that stops")
	}
	if !p.Primary.IsValid() {
		return fmt.Errorf("vrrp: no primary address")
	}
	if p.PreemptDelay < 0 {
		return fmt.Errorf("vrrp: negative preempt delay")
	}
	return nil
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Priority returns the current priority.
func (m *Machine) Priority() uint8 { return m.p.Priority }

// Master returns the address and priority of the master a backup last
// heard (invalid if none).
func (m *Machine) Master() (netip.Addr, uint8) { return m.masterAddr, m.masterPrio }

// MasterInterval is Master_Adver_Interval.
func (m *Machine) MasterInterval() time.Duration { return m.masterInterval }

// SkewTime is Skew_Time for the current priority and master interval.
func (m *Machine) SkewTime() time.Duration {
	prio := time.Duration(256 - int(m.p.Priority))
	if m.p.Version == 2 {
		return prio * time.Second / 256
	}
	// ((256-Priority) * Master_Adver_Interval) / 256 in centiseconds,
	// rounded down to a whole centisecond as the RFC's integer arithmetic.
	cs := m.masterInterval / (10 * time.Millisecond)
	return prio * cs / 256 * 10 * time.Millisecond
}

// MasterDownInterval is 3 * Master_Adver_Interval + Skew_Time.
func (m *Machine) MasterDownInterval() time.Duration {
	return 3*m.masterInterval + m.SkewTime()
}

// Deadline returns when the Machine next needs a Tick: the master-down
// timer in Backup, the advert timer in Master; zero in Initialize.
func (m *Machine) Deadline() time.Time {
	switch m.state {
	case StateBackup:
		return m.masterDown
	case StateMaster:
		return m.advertAt
	}
	return time.Time{}
}

func (m *Machine) advertise(prio uint8) {
	if m.hooks.Advertise != nil {
		m.hooks.Advertise(prio)
	}
}

func (m *Machine) become(to State, now time.Time, why string) {
	from := m.state
	m.state = to
	m.preemptAt = time.Time{}
	if to != StateBackup {
		m.masterAddr, m.masterPrio = netip.Addr{}, 0
		m.wantMaster = false
	}
	if m.hooks.Transition != nil && from != to {
		m.hooks.Transition(Transition{From: from, To: to, At: now, Reason: why})
	}
}

// toMaster sends an advert, arms the advert timer and enters Master.
func (m *Machine) toMaster(now time.Time, why string) {
	m.advertise(m.p.Priority)
	m.advertAt = now.Add(m.p.Interval)
	m.become(StateMaster, now, why)
}

// toBackup arms the master-down timer and enters Backup.
func (m *Machine) toBackup(now time.Time, why string) {
	m.masterDown = now.Add(m.MasterDownInterval())
	m.become(StateBackup, now, why)
}

// Startup is the Startup event: the owner becomes Master at once, any
// other router Backup with Master_Down_Interval to wait. A router whose
// fault condition is set (SetFault before Startup), or whose sync group is
// in FAULT, starts in Fault instead; an owner whose sync group will not
// follow it to Master yet starts as Backup, ready to become master once
// the group is (keepalived waits one interval and the skew time).
func (m *Machine) Startup(now time.Time) {
	if m.state != StateInit {
		return
	}
	m.masterInterval = m.p.Interval
	switch {
	case m.fault:
		m.become(StateFault, now, "startup with "+m.faultWhy)
		m.sync.fault(m, now)
		return
	case m.sync != nil && m.sync.state == StateFault:
		m.become(StateFault, now, "startup in sync group "+m.sync.name+", which is in FAULT")
		return
	case m.p.Priority == PriorityOwner && m.sync.mayMaster(m):
		m.toMaster(now, "startup as the address owner (priority 255)")
		m.sync.master(m, now)
		return
	}
	m.toBackup(now, "startup")
	if m.p.Priority == PriorityOwner {
		m.wantMaster = true
		m.masterDown = now.Add(m.p.Interval + m.SkewTime())
	}
	m.sync.started(now)
}

// Shutdown is the Shutdown event: a master sends an advert of priority 0;
// every state goes back to Initialize.
func (m *Machine) Shutdown(now time.Time) {
	if m.state == StateInit {
		return
	}
	if m.state == StateMaster {
		m.advertise(PriorityStop)
	}
	m.become(StateInit, now, "shutdown")
	m.sync.stopped(now)
}

// SetFault sets or clears the router's own fault condition (keepalived: a
// tracked interface, or the instance's own, is down, or a tracked script
// failed). Setting it makes
// any state but Initialize go to Fault: a master sends an advert of
// priority 0 first, so that a backup takes over after its skew time; the
// Fault state sends nothing, ignores adverts and has no timer. Clearing it
// makes a router in Fault go to Backup with Master_Down_Interval to wait
// (the election decides from there), unless its sync group still has a
// member with a fault of its own. why is for the transition's reason.
func (m *Machine) SetFault(now time.Time, on bool, why string) {
	if on == m.fault {
		return
	}
	m.fault, m.faultWhy = on, why
	if m.state == StateInit {
		return // Startup decides
	}
	if on {
		if m.state != StateFault {
			m.toFault(now, why)
		}
		m.sync.fault(m, now)
		return
	}
	if m.state != StateFault || m.sync.anyFault() {
		return
	}
	m.leaveFault(now, why)
	m.sync.backup(m, now)
}

// Fault reports the router's own fault condition.
func (m *Machine) Fault() bool { return m.fault }

// toFault enters Fault; a master first sends priority 0.
func (m *Machine) toFault(now time.Time, why string) {
	if m.state == StateMaster {
		m.advertise(PriorityStop)
	}
	m.become(StateFault, now, why)
}

// leaveFault goes from Fault to Backup, on the local interval.
func (m *Machine) leaveFault(now time.Time, why string) {
	m.masterInterval = m.p.Interval
	m.toBackup(now, why)
}

// Tick fires the timers that are due at now.
func (m *Machine) Tick(now time.Time) {
	switch m.state {
	case StateBackup:
		if !now.Before(m.masterDown) {
			why := "master down timer expired"
			if !m.preemptAt.IsZero() && !now.Before(m.preemptAt) {
				why = "preempting a master of lower priority"
			}
			if !m.sync.mayMaster(m) {
				// The group's other members still hear a master:
				// wait for them (keepalived prefers backup to
				// thrashing), ready to follow.
				m.wantMaster = true
				m.masterDown = now.Add(m.MasterDownInterval())
				return
			}
			m.toMaster(now, why)
			m.sync.master(m, now)
		}
	case StateMaster:
		if !now.Before(m.advertAt) {
			m.advertise(m.p.Priority)
			// Keep the cadence, but never schedule in the past.
			m.advertAt = m.advertAt.Add(m.p.Interval)
			if !m.advertAt.After(now) {
				m.advertAt = now.Add(m.p.Interval)
			}
		}
	}
}

// Advert is the event of a valid advert (already accepted by
// Expect.Check) from src with the given priority and interval (version
// 3's Max Adver Int; ignored for version 2).
func (m *Machine) Advert(now time.Time, src netip.Addr, prio uint8, interval time.Duration) {
	switch m.state {
	case StateBackup:
		if prio == PriorityStop {
			m.masterDown = now.Add(m.SkewTime())
			m.masterAddr, m.masterPrio = src, prio
			return
		}
		if !m.p.Preempt || prio >= m.p.Priority {
			m.learn(interval)
			m.masterDown = now.Add(m.MasterDownInterval())
			m.masterAddr, m.masterPrio = src, prio
			m.preemptAt = time.Time{}
			m.wantMaster = false
			return
		}
		// A master of lower priority, and we preempt.
		if m.p.PreemptDelay > 0 {
			if m.preemptAt.IsZero() {
				m.preemptAt = now.Add(m.p.PreemptDelay)
			}
			if now.Before(m.preemptAt) {
				m.learn(interval)
				down := now.Add(m.MasterDownInterval())
				if m.preemptAt.Before(down) {
					down = m.preemptAt
				}
				m.masterDown = down
				m.masterAddr, m.masterPrio = src, prio
			}
		}
		// Otherwise discard: the master-down timer runs out and we take
		// over.
	case StateMaster:
		if prio == PriorityStop {
			m.advertise(m.p.Priority)
			m.advertAt = now.Add(m.p.Interval)
			return
		}
		if prio > m.p.Priority || (prio == m.p.Priority && addrGreater(src, m.p.Primary)) {
			m.learn(interval)
			m.masterAddr, m.masterPrio = src, prio
			m.masterDown = now.Add(m.MasterDownInterval())
			m.become(StateBackup, now, fmt.Sprintf("advert of priority %d from %v", prio, src))
			m.masterAddr, m.masterPrio = src, prio
			m.sync.backup(m, now)
		}
		// Otherwise discard: our own adverts assert us.
	}
}

// learn sets Master_Adver_Interval from a version 3 advert.
func (m *Machine) learn(interval time.Duration) {
	if m.p.Version == 3 && interval > 0 {
		m.masterInterval = interval
	}
}

// SetPriority changes the priority (1..255), as tracking does. A master
// announces it at once; a backup's master-down timer moves by the change
// of its Skew_Time (as keepalived's), and the new priority applies to the
// next advert it judges.
func (m *Machine) SetPriority(now time.Time, prio uint8) error {
	if prio == PriorityStop {
		return fmt.Errorf("vrrp: priority 0 is reserved for a master that stops")
	}
	if prio == m.p.Priority {
		return nil
	}
	old := m.MasterDownInterval()
	m.p.Priority = prio
	switch m.state {
	case StateMaster:
		m.advertise(prio)
		m.advertAt = now.Add(m.p.Interval)
	case StateBackup:
		m.masterDown = m.masterDown.Add(m.MasterDownInterval() - old)
	}
	return nil
}

// addrGreater compares primary addresses as unsigned integers in network
// byte order (RFC 5798 §6.4.3).
func addrGreater(a, b netip.Addr) bool { return a.Unmap().Compare(b.Unmap()) > 0 }

package vrrp

import (
	"errors"
	"fmt"
	"time"
)

// SyncGroup keeps the Machines of a sync group (keepalived's
// vrrp_sync_group) in one state, as keepalived does:
//
//   - A member that goes to Fault takes every other member to Fault (a
//     master among them sends priority 0 and gives its addresses back).
//     The group stays in FAULT while any member has a fault of its own;
//     when the last one clears, every member goes to Backup.
//   - A backup whose master-down timer expires becomes master only if
//     every other member is ready to (its own timer expired too, or it is
//     master already); otherwise it waits another Master_Down_Interval,
//     ready. When one becomes master, the others follow at once.
//   - A master that steps down (an advert of higher priority) takes every
//     other master to Backup.
//
// Like Machine it is pure: the members must be driven from one goroutine
// (Node runs a group's nodes in one event loop). Hooks.Transition reports
// the group's own state (Init until a member starts; the state of the
// members after every synchronisation; Init again when every member has
// shut down), which keepalived's group notify scripts follow.
type SyncGroup struct {
	name    string
	members []*Machine
	state   State
	hook    func(GroupTransition)
}

// GroupTransition is a change of a sync group's state.
type GroupTransition struct {
	Group    string
	From, To State
	At       time.Time
	// Reason names the member that caused it.
	Reason string
}

// NewSyncGroup joins members (Machines in Initialize, in no other group)
// into the group name. hook (may be nil) is called after each change of
// the group's state, once the members are in it.
func NewSyncGroup(name string, hook func(GroupTransition), members ...*Machine) (*SyncGroup, error) {
	if len(members) == 0 {
		return nil, errors.New("vrrp: sync group without members")
	}
	g := &SyncGroup{name: name, hook: hook}
	for i, m := range members {
		switch {
		case m.sync != nil:
			return nil, fmt.Errorf("vrrp: sync group %s: a member is already in sync group %s", name, m.sync.name)
		case m.state != StateInit:
			return nil, fmt.Errorf("vrrp: sync group %s: member %d is running", name, i)
		}
		for _, o := range members[:i] {
			if o == m {
				return nil, fmt.Errorf("vrrp: sync group %s: member %d listed twice", name, i)
			}
		}
	}
	for _, m := range members {
		m.sync = g
	}
	g.members = members
	return g, nil
}

// Name returns the group's name.
func (g *SyncGroup) Name() string { return g.name }

// State returns the group's state.
func (g *SyncGroup) State() State { return g.state }

func (g *SyncGroup) set(to State, now time.Time, why string) {
	from := g.state
	g.state = to
	if g.hook != nil && from != to {
		g.hook(GroupTransition{Group: g.name, From: from, To: to, At: now, Reason: why})
	}
}

// mayMaster reports whether m may become master: always outside a group;
// in one, when the group is master already or every other member is
// ready (keepalived's vrrp_sync_can_goto_master).
func (g *SyncGroup) mayMaster(m *Machine) bool {
	if g == nil || g.state == StateMaster {
		return true
	}
	for _, o := range g.members {
		if o != m && o.state != StateMaster && (o.state != StateBackup || !o.wantMaster) {
			return false
		}
	}
	return true
}

// anyFault reports whether a member has a fault of its own.
func (g *SyncGroup) anyFault() bool {
	if g == nil {
		return false
	}
	for _, o := range g.members {
		if o.fault {
			return true
		}
	}
	return false
}

// started records a member's Startup in Backup: the group is BACKUP once
// one member runs.
func (g *SyncGroup) started(now time.Time) {
	if g != nil && g.state == StateInit {
		g.set(StateBackup, now, "startup")
	}
}

// master follows m to Master.
func (g *SyncGroup) master(m *Machine, now time.Time) {
	if g == nil || g.state == StateMaster {
		return
	}
	from := g.state
	g.state = StateMaster // the members' own calls back return at once
	why := fmt.Sprintf("sync group %s: %s became master", g.name, memberName(g, m))
	for _, o := range g.members {
		if o != m && o.state == StateBackup {
			o.toMaster(now, why)
		}
	}
	g.state = from // restored, so that set reports the change
	g.set(StateMaster, now, memberName(g, m)+" became master")
}

// backup follows m (a master that stepped down, or the last member to
// leave Fault) to Backup: masters step down without priority 0, members
// in Fault without a fault of their own leave it.
func (g *SyncGroup) backup(m *Machine, now time.Time) {
	if g == nil || g.state == StateBackup {
		return
	}
	from := g.state
	g.state = StateBackup
	why := fmt.Sprintf("sync group %s: %s went to BACKUP", g.name, memberName(g, m))
	for _, o := range g.members {
		if o == m {
			continue
		}
		switch {
		case o.state == StateMaster:
			o.masterDown = now.Add(o.MasterDownInterval())
			o.become(StateBackup, now, why)
		case o.state == StateFault && !o.fault:
			o.leaveFault(now, why)
		}
	}
	g.state = from
	g.set(StateBackup, now, memberName(g, m)+" went to BACKUP")
}

// fault follows m to Fault.
func (g *SyncGroup) fault(m *Machine, now time.Time) {
	if g == nil || g.state == StateFault {
		return
	}
	from := g.state
	g.state = StateFault
	why := fmt.Sprintf("sync group %s: %s is in FAULT", g.name, memberName(g, m))
	for _, o := range g.members {
		if o != m && (o.state == StateMaster || o.state == StateBackup) {
			o.toFault(now, why)
		}
	}
	g.state = from
	g.set(StateFault, now, memberName(g, m)+" is in FAULT")
}

// stopped makes the group Init once every member has shut down.
func (g *SyncGroup) stopped(now time.Time) {
	if g == nil {
		return
	}
	for _, o := range g.members {
		if o.state != StateInit {
			return
		}
	}
	g.set(StateInit, now, "every member stopped")
}

// memberName names m for reasons: its Params.Name, else its place.
func memberName(g *SyncGroup, m *Machine) string {
	if m.p.Name != "" {
		return m.p.Name
	}
	for i, o := range g.members {
		if o == m {
			return fmt.Sprintf("member %d", i)
		}
	}
	return "a member"
}

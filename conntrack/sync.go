package conntrack

import (
	"sync/atomic"

	"github.com/gdirector/gdirector/vs"
)

// Connection synchronisation support (the kernel's ip_vs_sync.c calls in
// ip_vs_in and ip_vs_proc_conn), kept apart from the packet path:
//
//   - On a master, a Syncer set with Table.SetSyncer is told of every new
//     hashed connection or template (New) and of every TCP state change
//     (Update). It is called on the data plane's goroutines and must be
//     cheap and non-blocking (package ipvssync pushes the *Conn on a
//     lossy lock-free ring); it reads the connection's state later, off
//     the packet path. With no Syncer the cost is one atomic load per New
//     and per state change, nothing on established flows.
//
//   - On a backup, New with FlagSynced installs a connection without
//     scheduling (no Stats.Conns count, as the kernel counts those in
//     ip_vs_schedule only) and SetSynced gives it the state, activity and
//     timeout the master sent, moving the Dest's active/inactive counts as
//     Update would.

// Syncer receives connections a backup director should learn about.
type Syncer interface {
	// SyncConn is called after c was created or changed TCP state. It
	// must not block, allocate per call, or call back into the table.
	SyncConn(c *Conn)
}

// syncHook holds the Syncer so that it can be swapped atomically.
type syncHook struct{ s Syncer }

// SetSyncer installs s as the table's Syncer (nil: none). It may be called
// at any time; connections created or changed afterwards are reported.
func (t *Table) SetSyncer(s Syncer) {
	if s == nil {
		t.to.sync.Store(nil)
		return
	}
	t.to.sync.Store(&syncHook{s: s})
}

// notify reports c to the Syncer, if any.
func (t *timeouts) notify(c *Conn) {
	if h := t.sync.Load(); h != nil {
		h.s.SyncConn(c)
	}
}

// Timeout returns the length of time (ns) the connection's expiry is
// currently reckoned from: a template's persistence timeout, the timeout
// of a TCP connection's state, or the UDP timeout. It is what the kernel
// keeps in cp->timeout and sends in sync messages.
func (c *Conn) Timeout() int64 {
	if c.fixed&fixTemplate != 0 {
		return c.ext.tmo
	}
	if c.Proto == vs.TCP {
		return c.ext.to.tcp[c.State()].Load()
	}
	return c.ext.to.udp.Load()
}

// Synced reports whether the connection was installed from a sync
// message (the kernel's IP_VS_CONN_F_SYNC).
func (c *Conn) Synced() bool { return c.fixed&fixSynced != 0 }

// SetSynced applies what a sync message says of an existing connection:
// its TCP state st (ignored for templates and non-TCP connections), its
// Inactive and NoOutput flags, and an expiry of now + timeout (ns; ≤ 0
// keeps the expiry computed from the state's timeout, or the template's
// own). The Dest's ActiveConns/InactConns follow a change of the Inactive
// flag exactly as in Update (the kernel's ip_vs_proc_conn). It reports
// whether the connection was alive. It does not notify the Syncer.
func (c *Conn) SetSynced(now int64, st State, inactive, noOutput bool, timeout int64) bool {
	tpl := c.fixed&fixTemplate != 0
	if tpl || c.Proto != vs.TCP || st >= numTCPStates {
		st = StateNone
		if c.Proto == vs.TCP && !tpl {
			st = c.State()
		}
	}
	if timeout <= 0 {
		switch {
		case tpl:
			timeout = c.ext.tmo
		case c.Proto == vs.TCP:
			timeout = c.ext.to.tcp[st].Load()
		default:
			timeout = c.ext.to.udp.Load()
		}
	}
	nexp := expBits(now + timeout)
	for {
		w := c.word.Load()
		if w&wDead != 0 {
			return false
		}
		low := uint64(0)
		if tpl {
			low = w & (wInactive | wNoOutput)
		} else {
			if inactive {
				low |= wInactive
			}
			if noOutput {
				low |= wNoOutput
			}
		}
		nw := uint64(st) | low | nexp
		if tpl {
			nw = w&wStateMask | low | nexp
		}
		if nw == w {
			return true
		}
		if !c.word.CompareAndSwap(w, nw) {
			continue
		}
		if d := c.Dest; d != nil && !tpl && (w^nw)&wInactive != 0 {
			if nw&wInactive != 0 {
				d.ActiveConns.Add(-1)
				d.InactConns.Add(1)
			} else {
				d.ActiveConns.Add(1)
				d.InactConns.Add(-1)
			}
		}
		return true
	}
}

// syncField is the part of timeouts that carries the Syncer; embedded so
// that the hot structures need only one extra word.
type syncField struct {
	sync atomic.Pointer[syncHook]
}

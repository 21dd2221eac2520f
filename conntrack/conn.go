package conntrack

import (
	"math"
	"sync/atomic"

	"github.com/gdirector/gdirector/vs"
)

// Key is a flow key as a packet carries it: protocol, family, and source and
// destination address and port as seen on the wire. LookupIn takes the key of
// a client → VIP packet, LookupOut the key of a reply as the director
// receives it. Addresses are 16 bytes, IPv4 in IPv4-mapped form (vs.Addr16).
// Key is comparable and holds no pointers.
//
// Template selects persistence templates: a template is found only by a key
// with Template set (LookupTemplate sets it), a connection only by one
// without, so a packet can never be taken for a template (the kernel checks
// IP_VS_CONN_F_TEMPLATE in its lookups likewise).
type Key struct {
	Proto    vs.Proto
	IPv6     bool
	Template bool
	Src      [16]byte
	Dst      [16]byte
	SPort    uint16
	DPort    uint16
}

// Flags describe a connection (the kernel's IP_VS_CONN_F_* that matter here).
type Flags uint16

// Connection flags.
const (
	// FlagInactive: the connection counts in Dest.InactConns rather than
	// ActiveConns. Every new connection starts inactive.
	FlagInactive Flags = 1 << iota
	// FlagNoOutput: the director has not seen a reply; set for DR, TUN and
	// Local (every method but NAT and FullNAT), cleared by the first Out
	// packet. While set, In packets use the input-only transitions.
	FlagNoOutput
	// FlagOnePacket: UDP with ipvsadm -o. The connection is not hashed:
	// it carries one packet and the caller deletes it right after.
	FlagOnePacket
	// FlagTemplate: a persistence template (ip_vs_sched_persist): counted
	// in Dest.PersistConns, indexed in the in-index only under a Template
	// key, no state machine; it expires Params.Timeout after its last use
	// (Touch) but never while it controls connections.
	FlagTemplate
	// FlagSynced: installed from a connection sync message rather than
	// scheduled (the kernel's IP_VS_CONN_F_SYNC); see sync.go.
	FlagSynced
)

// Conn is one connection. The exported address fields are set by New and
// never change afterwards; read them freely, never write them. State, flags
// and expiry change under concurrent packets and are read with methods.
//
// A Conn is 112 bytes, a Go size class: the four addresses, two pointers
// the caller gave (Dest, Svc), one to what it shares with others (ext),
// the state word, ports, small enums and its registry id.
type Conn struct {
	CAddr [16]byte // client
	VAddr [16]byte // virtual (VIP)
	DAddr [16]byte // real server
	LAddr [16]byte // FullNAT local address; CAddr for other methods

	Dest *vs.Dest    // bound real server; nil for none
	Svc  *vs.Service // for its Stats only; may be nil

	// ext is what the connection shares: for a plain connection the
	// table's (its timeouts), for a template its own (timeout and count
	// of controlled connections), for a connection created under a
	// template that template's (the kernel's cp->control).
	ext *connExt

	// word packs everything that changes: protocol state (bits 0-3),
	// mutable flags (bits 4-7) and the expiry time in units of 256 ns
	// (bits 8-63, signed). One word means one CAS per packet and a
	// consistent view of state, activity and expiry for every reader.
	word atomic.Uint64

	CPort, VPort, DPort, LPort uint16

	Proto vs.Proto
	IPv6  bool
	Fwd   vs.FwdMethod
	fixed uint8 // immutable flags: fixOnePacket, fixTemplate

	id uint32 // registry id; 0 for a one-packet connection (not indexed)
}

// connExt is shared by connections: one per table for plain connections,
// one per persistence template for the template and the connections it
// controls.
type connExt struct {
	to  *timeouts // the table's live timeouts
	tpl *Conn     // the template; nil in the table's plain ext
	tmo int64     // the template's timeout in ns (the persistence timeout)
	// nControl counts the live connections the template controls
	// (cp->n_control).
	nControl atomic.Int32
}

const (
	wStateMask = 0x0f
	wInactive  = 1 << 4
	wNoOutput  = 1 << 5
	wDead      = 1 << 6 // unhashed and unbound; ignored by lookups and Update
	wLowMask   = 0xff
	expShift   = 8

	fixOnePacket = 1 << 0
	fixTemplate  = 1 << 1
	fixSynced    = 1 << 2
)

// expBits encodes an expiry time, rounded up to the next multiple of 256 ns
// so that a connection never expires early.
func expBits(ns int64) uint64 {
	if ns > math.MaxInt64-255 {
		ns = math.MaxInt64 - 255
	}
	return uint64((ns+255)>>expShift) << expShift
}

func expOf(w uint64) int64 { return int64(w) >> expShift << expShift }

func isExpired(w uint64, now int64) bool { return now >= expOf(w) }

// Expires returns the monotonic time (ns, same scale as the now arguments)
// at which the connection becomes collectable. The resolution is 256 ns,
// rounded up.
func (c *Conn) Expires() int64 { return expOf(c.word.Load()) }

// State returns the protocol state (for UDP always 0).
func (c *Conn) State() State { return State(c.word.Load() & wStateMask) }

// StateName returns the state as ipvsadm -Lnc prints it: the TCP state
// name, "UDP" for UDP, "NONE" for templates.
func (c *Conn) StateName() string {
	if c.fixed&fixTemplate != 0 {
		return "NONE"
	}
	switch c.Proto {
	case vs.TCP:
		return c.State().String()
	case vs.UDP:
		return "UDP"
	}
	return "NONE"
}

// Flags returns the connection's flags.
func (c *Conn) Flags() Flags {
	w := c.word.Load()
	var f Flags
	if w&wInactive != 0 {
		f |= FlagInactive
	}
	if w&wNoOutput != 0 {
		f |= FlagNoOutput
	}
	if c.fixed&fixOnePacket != 0 {
		f |= FlagOnePacket
	}
	if c.fixed&fixTemplate != 0 {
		f |= FlagTemplate
	}
	if c.fixed&fixSynced != 0 {
		f |= FlagSynced
	}
	return f
}

// Alive reports whether the connection is still in the table (not expired,
// deleted or flushed). A Conn obtained from a lookup may die concurrently;
// using it for one more packet is harmless.
func (c *Conn) Alive() bool { return c.word.Load()&wDead == 0 }

// InKey returns the key under which LookupIn finds c: client → VIP (for a
// template, LookupTemplate: client network → VIP or mark).
func (c *Conn) InKey() Key {
	return Key{Proto: c.Proto, IPv6: c.IPv6, Template: c.fixed&fixTemplate != 0, Src: c.CAddr, Dst: c.VAddr, SPort: c.CPort, DPort: c.VPort}
}

// Control returns the persistence template that controls c, or nil.
func (c *Conn) Control() *Conn {
	if c.fixed&fixTemplate != 0 {
		return nil
	}
	return c.ext.tpl
}

// Controlled returns how many live connections a template controls (0 for
// a connection).
func (c *Conn) Controlled() int {
	if c.fixed&fixTemplate == 0 {
		return 0
	}
	return int(c.ext.nControl.Load())
}

// controls reports whether c is a template that controls live connections.
func (c *Conn) controls() bool {
	return c.fixed&fixTemplate != 0 && c.ext.nControl.Load() > 0
}

// Touch restarts a template's timeout from now, as the kernel does each
// time ip_vs_sched_persist uses a template. It does nothing on a dead
// connection or one that is not a template.
func (c *Conn) Touch(now int64) {
	if c.fixed&fixTemplate == 0 {
		return
	}
	nexp := expBits(now + c.ext.tmo)
	for {
		w := c.word.Load()
		if w&wDead != 0 || c.word.CompareAndSwap(w, w&wLowMask|nexp) {
			return
		}
	}
}

// OutKey returns the key under which LookupOut finds c: a reply as the
// director receives it. For NAT and FullNAT that is real server → local
// address (DAddr:DPort → LAddr:LPort, LAddr being CAddr for NAT); for the
// other methods the real server answers from the VIP, so, as in the
// kernel's ip_vs_conn_out_get, it is VAddr:VPort → CAddr:CPort.
func (c *Conn) OutKey() Key {
	k := Key{Proto: c.Proto, IPv6: c.IPv6, Dst: c.LAddr, DPort: c.LPort}
	if seesReplies(c.Fwd) {
		k.Src, k.SPort = c.DAddr, c.DPort
	} else {
		k.Src, k.SPort = c.VAddr, c.VPort
	}
	return k
}

// seesReplies reports whether replies of the method come back through the
// director rewritten by it (the kernel sets NOOUTPUT for all others).
func seesReplies(m vs.FwdMethod) bool { return m == vs.Masq || m == vs.FullNAT }

func (c *Conn) matchIn(k *Key) bool {
	return c.CPort == k.SPort && c.VPort == k.DPort && c.CAddr == k.Src &&
		c.VAddr == k.Dst && c.Proto == k.Proto && c.IPv6 == k.IPv6 &&
		(c.fixed&fixTemplate != 0) == k.Template
}

func (c *Conn) matchOut(k *Key) bool {
	if c.LPort != k.DPort || c.LAddr != k.Dst || c.Proto != k.Proto || c.IPv6 != k.IPv6 {
		return false
	}
	if seesReplies(c.Fwd) {
		return c.DPort == k.SPort && c.DAddr == k.Src
	}
	return c.VPort == k.SPort && c.VAddr == k.Src
}

// Update accounts one packet of the connection: for TCP it runs the IPVS
// state machine on the packet's flags (the TCP header flags byte) in
// direction dir, keeps the Dest's active/inactive counters in step, and sets
// the expiry to now plus the timeout of the new state; for UDP (and other
// protocols) it sets the expiry to now plus the UDP timeout. It does not
// allocate, makes no time call, and is safe when several workers update the
// same connection at once (a CAS on one word). Updating a dead connection
// does nothing. Templates are left alone.
func (c *Conn) Update(now int64, dir Dir, tcpFlags uint8) {
	if c.fixed&fixTemplate != 0 {
		return
	}
	to := c.ext.to
	if c.Proto != vs.TCP {
		nexp := expBits(now + to.udp.Load())
		for {
			w := c.word.Load()
			if w&wDead != 0 {
				return
			}
			nw := w&wLowMask | nexp
			if nw == w || c.word.CompareAndSwap(w, nw) {
				return
			}
		}
	}
	for {
		w := c.word.Load()
		if w&wDead != 0 {
			return
		}
		cur := State(w & wStateMask)
		low := w & (wInactive | wNoOutput)
		d := dir
		if low&wNoOutput != 0 {
			if d == Out {
				low &^= wNoOutput
			} else {
				d = InOnly
			}
		}
		ns := nextTCP(cur, d, tcpFlags)
		delta := 0 // +1: became active, -1: became inactive
		if ns != cur && c.Dest != nil {
			if low&wInactive == 0 && !tcpActive[ns] {
				low |= wInactive
				delta = -1
			} else if low&wInactive != 0 && tcpActive[ns] {
				low &^= wInactive
				delta = 1
			}
		}
		nw := uint64(ns) | low | expBits(now+to.tcp[ns].Load())
		if nw == w {
			return
		}
		if c.word.CompareAndSwap(w, nw) {
			switch delta {
			case 1:
				c.Dest.ActiveConns.Add(1)
				c.Dest.InactConns.Add(-1)
			case -1:
				c.Dest.ActiveConns.Add(-1)
				c.Dest.InactConns.Add(1)
			}
			if ns != cur {
				to.notify(c) // connection sync (sync.go)
			}
			return
		}
	}
}

// bind attaches a new connection to its Dest like ip_vs_bind_dest: count it
// (templates as persistent, others as inactive or active by their flag) and
// mark the Dest overloaded when it reaches its upper threshold.
func (c *Conn) bind(w uint64) {
	if c.fixed&fixTemplate == 0 && c.ext.tpl != nil {
		c.ext.nControl.Add(1) // ip_vs_control_add
	}
	d := c.Dest
	if d == nil {
		return
	}
	switch {
	case c.fixed&fixTemplate != 0:
		d.PersistConns.Add(1)
	case w&wInactive != 0:
		d.InactConns.Add(1)
	default:
		d.ActiveConns.Add(1)
	}
	if u := d.UThreshold.Load(); u != 0 && totalConns(d) >= int64(u) {
		d.Flags.Or(vs.DestOverload)
	}
}

// unbind detaches a dead connection from its Dest like ip_vs_unbind_dest,
// using the flags of w, the word the connection died with.
func (c *Conn) unbind(w uint64) {
	if c.fixed&fixTemplate == 0 && c.ext.tpl != nil {
		c.ext.nControl.Add(-1) // ip_vs_control_del
	}
	d := c.Dest
	if d == nil {
		return
	}
	switch {
	case c.fixed&fixTemplate != 0:
		d.PersistConns.Add(-1)
	case w&wInactive != 0:
		d.InactConns.Add(-1)
	default:
		d.ActiveConns.Add(-1)
	}
	l, u := d.LThreshold.Load(), d.UThreshold.Load()
	switch {
	case l != 0:
		if totalConns(d) < int64(l) {
			d.Flags.And(^vs.DestOverload)
		}
	case u != 0:
		if totalConns(d)*4 < int64(u)*3 {
			d.Flags.And(^vs.DestOverload)
		}
	default:
		if d.Flags.Load()&vs.DestOverload != 0 {
			d.Flags.And(^vs.DestOverload)
		}
	}
}

func totalConns(d *vs.Dest) int64 {
	return int64(d.ActiveConns.Load()) + int64(d.InactConns.Load())
}

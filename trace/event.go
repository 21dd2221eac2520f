package trace

import (
	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/vs"
)

// SnapLen is how many bytes of each frame an Event keeps: enough for the
// Ethernet header with two VLAN tags, an outer and an inner IPv6 header
// and a TCP header with options, and the start of the payload.
const SnapLen = 256

// MaxDests is how many of a service's dests a SchedInfo lists.
const MaxDests = 16

// Frame is a copy of the start of a frame.
type Frame struct {
	Len  int // the frame's length
	N    int // bytes kept in Data
	Data [SnapLen]byte
}

// Set copies the start of b.
func (f *Frame) Set(b []byte) {
	f.Len = len(b)
	f.N = copy(f.Data[:], b)
}

// Bytes returns the bytes kept.
func (f *Frame) Bytes() []byte { return f.Data[:f.N] }

// ConnDecision is what the connection table did with a packet.
type ConnDecision uint8

// Connection table decisions.
const (
	ConnNone ConnDecision = iota // no connection: dropped before, or not a connection's packet
	ConnHit                      // the packet belongs to a known connection
	ConnNew                      // a new connection was created for it
)

// TemplateDecision is what persistence did for a new connection.
type TemplateDecision uint8

// Persistence template decisions.
const (
	TemplateNone TemplateDecision = iota // the service is not persistent
	TemplateHit                          // the client's template chose the real server
	TemplateNew                          // the scheduler chose, and a template records it
)

// ConnInfo is the connection a packet belonged to.
type ConnInfo struct {
	Decision ConnDecision
	Proto    vs.Proto
	IPv6     bool
	Fwd      vs.FwdMethod
	// Before and After are the protocol states before and after the packet;
	// Template is set for UDP and templates, whose state is not TCP's.
	Before, After conntrack.State
	// Expires is the time left after the packet (ns).
	Expires                    int64
	CAddr, VAddr, DAddr, LAddr [16]byte
	CPort, VPort, DPort, LPort uint16
	// Svc is the key of the connection's service (zero if unknown).
	Svc vs.ServiceKey
}

// Set records connection c and its state before the packet.
func (ci *ConnInfo) Set(d ConnDecision, c *conntrack.Conn) {
	*ci = ConnInfo{
		Decision: d, Proto: c.Proto, IPv6: c.IPv6, Fwd: c.Fwd, Before: c.State(),
		CAddr: c.CAddr, VAddr: c.VAddr, DAddr: c.DAddr, LAddr: c.LAddr,
		CPort: c.CPort, VPort: c.VPort, DPort: c.DPort, LPort: c.LPort,
	}
	if d == ConnNew {
		ci.Before = conntrack.StateNone
	}
	if c.Svc != nil {
		ci.Svc = c.Svc.Key
	}
}

// Finish records c's state and expiry after the packet.
func (ci *ConnInfo) Finish(c *conntrack.Conn, now int64) {
	ci.After = c.State()
	ci.Expires = c.Expires() - now
}

// TemplateInfo is the persistence template of a new connection.
type TemplateInfo struct {
	Decision     TemplateDecision
	CAddr, VAddr [16]byte // the client net and the VIP (or the mark)
	DAddr        [16]byte
	VPort, DPort uint16
	Expires      int64 // time left (ns), after this use
}

// Set records template ct, after its use by this packet.
func (ti *TemplateInfo) Set(d TemplateDecision, ct *conntrack.Conn, now int64) {
	*ti = TemplateInfo{Decision: d, CAddr: ct.CAddr, VAddr: ct.VAddr, DAddr: ct.DAddr,
		VPort: ct.VPort, DPort: ct.DPort, Expires: ct.Expires() - now}
}

// DestLoad is what a scheduler sees of one dest.
type DestLoad struct {
	Addr       [16]byte
	Port       uint16
	Weight     int32
	Active     int32
	Inact      int32
	Overloaded bool
}

// Overhead is the kernel's ip_vs_dest_conn_overhead: 256×active + inactive.
func (d *DestLoad) Overhead() int64 { return int64(d.Active)<<8 + int64(d.Inact) }

// SchedInfo explains one pick of a scheduler. Indices are positions in
// the service's dest list (the order the scheduler walks: the most
// recently added first); -1 is none (for Last: the head of the list).
type SchedInfo struct {
	Valid    bool
	Name     string // the scheduler (svc.SchedName)
	SvcFlags uint32
	IPv6     bool
	N        int // dests in the service; the first MaxDests are in Dests
	Dests    [MaxDests]DestLoad
	Chosen   int // -1: none (no_dest)

	// rr, wrr: the position before the pick and wrr's weights.
	HasLast    bool
	Last       int
	CW, MW, DI int32

	// sh, dh, mh: the entry the hashed address (and port) selects.
	HasSlot  bool
	Slot     int
	Slots    int
	SlotDest int
	Key      [16]byte // the hashed address: the client's (sh, mh) or the destination (dh, lblc, lblcr)
	KeyPort  uint16   // with sh-port / mh-port

	// lblc, lblcr: the cache entry of the destination address, before the pick.
	HasEntry bool
	Entry    [sched.PeekEntryMax]int
	EntryLen int
	Age      int64

	// twos: the two weighted draws (R in 0..Total) and their dests.
	HasDraws bool
	Draw     [2]int
	R        [2]int64
	Total    int64
}

// Slot table sizes, as the kernel's.
const (
	hashBuckets = 256  // sh, dh: IP_VS_SH_TAB_SIZE / IP_VS_DH_TAB_SIZE
	mhSlots     = 4093 // mh: IP_VS_MH_TAB_SIZE
)

func indexOf(ds []*vs.Dest, d *vs.Dest) int {
	if d == nil {
		return -1
	}
	for i, x := range ds {
		if x == d {
			return i
		}
	}
	return -1
}

// Capture records, before the pick, what svc's scheduler will look at for
// flow f: every dest's weight and connection counters, and the
// scheduler's own state (sched.Peeker, sched.Slotter), using pk as
// scratch (keep it off the stack of the caller: an interface call makes
// it escape). It allocates nothing; the counters are read racily (see
// the package doc).
func (s *SchedInfo) Capture(svc *vs.Service, f *vs.Flow, pk *sched.Peek) {
	ds := svc.Dests
	s.Valid, s.Name, s.SvcFlags, s.IPv6, s.N, s.Chosen = true, svc.SchedName, svc.Flags, f.IPv6, len(ds), -1
	s.HasLast, s.HasSlot, s.HasEntry, s.HasDraws = false, false, false, false
	for i := 0; i < len(ds) && i < MaxDests; i++ {
		d := ds[i]
		s.Dests[i] = DestLoad{Addr: d.Addr16, Port: d.Port, Weight: d.Weight.Load(),
			Active: d.ActiveConns.Load(), Inact: d.InactConns.Load(), Overloaded: d.Overloaded()}
	}
	switch svc.SchedName {
	case "sh", "mh":
		s.Key = f.Src
		if svc.Flags&vs.SvcSchedFlag2 != 0 {
			s.KeyPort = f.SPort
		} else {
			s.KeyPort = 0
		}
	default:
		s.Key, s.KeyPort = f.Dst, 0
	}
	if sl, ok := svc.Sched.(sched.Slotter); ok {
		if slot, d, ok := sl.Slot(svc, f); ok {
			s.HasSlot, s.Slot, s.SlotDest = true, slot, indexOf(ds, d)
			s.Slots = hashBuckets
			if svc.SchedName == "mh" {
				s.Slots = mhSlots
			}
		}
	}
	if svc.SchedName == "twos" {
		return // its draws are known after the pick
	}
	if pr, ok := svc.Sched.(sched.Peeker); ok {
		*pk = sched.Peek{}
		pr.Peek(svc, f, pk)
		s.fromPeek(ds, pk)
	}
}

func (s *SchedInfo) fromPeek(ds []*vs.Dest, p *sched.Peek) {
	if p.HasLast {
		s.HasLast, s.Last, s.CW, s.MW, s.DI = true, indexOf(ds, p.Last), p.CW, p.MW, p.DI
	}
	if p.HasEntry {
		s.HasEntry, s.EntryLen, s.Age = true, p.EntryLen, p.Age
		for i := range s.Entry {
			s.Entry[i] = indexOf(ds, p.Entry[i])
		}
	}
	if p.HasDraws {
		s.HasDraws, s.Total, s.R = true, p.Total, p.R
		for i := range s.Draw {
			s.Draw[i] = indexOf(ds, p.Draw[i])
		}
	}
}

// Picked records the scheduler's choice d (nil: none) for flow f; for
// twos it also recomputes the pick's two draws.
func (s *SchedInfo) Picked(svc *vs.Service, f *vs.Flow, d *vs.Dest, pk *sched.Peek) {
	s.Chosen = indexOf(svc.Dests, d)
	if svc.SchedName == "twos" {
		if pr, ok := svc.Sched.(sched.Peeker); ok {
			*pk = sched.Peek{}
			pr.Peek(svc, f, pk)
			s.fromPeek(svc.Dests, pk)
		}
	}
}

// Event is one traced packet, filled by the worker that handled it. It is
// a plain value: no pointer into the data plane, so it can be copied into
// a channel and read at leisure.
type Event struct {
	Seq  uint64 // set by Tracer.Emit, from 1
	Time int64  // the worker's clock for the packet's batch (ns)
	Lane int    // the worker (lane) that handled it
	In   int    // the interface it came in on (index into the director's devices)
	Out  int    // the interface it left by; -1: it did not leave (dropped, parked)

	Reason forward.Reason // forward.Pass, or why it was dropped
	Parked bool           // waiting for its next hop's neighbour resolution
	Dir    forward.Dir    // relative to Conn (In for packets without a connection)
	ICMP   bool           // an ICMP error about a connection (ip_vs_in_icmp / ip_vs_out_icmp)

	// Tuple is what filters match: the connection's, or the packet's.
	Tuple Tuple

	Conn     ConnInfo
	Template TemplateInfo
	Sched    SchedInfo

	Before, After Frame
}

// Start begins the event of a frame just read.
func (ev *Event) Start(now int64, lane, in int, frame []byte) {
	ev.Seq, ev.Time, ev.Lane, ev.In, ev.Out = 0, now, lane, in, -1
	ev.Reason, ev.Parked, ev.Dir, ev.ICMP = forward.Pass, false, forward.In, false
	ev.Conn.Decision, ev.Template.Decision, ev.Sched.Valid = ConnNone, TemplateNone, false
	ev.Tuple = Tuple{}
	ev.Before.Set(frame)
	ev.After.Len, ev.After.N = 0, 0
}

// Tuple is what a Filter looks at: the connection's client, VIP, service
// port and protocol (for a packet without a connection, its source,
// destination, destination port and protocol).
type Tuple struct {
	Proto vs.Proto
	IPv6  bool
	// Known: a connection (or a decoded packet) supplied the fields.
	Known  bool
	Client [16]byte
	VIP    [16]byte
	Port   uint16
}

// Package vs is the IPVS model shared by the control plane and the data
// plane: virtual services (VIP:port/protocol or firewall mark) with their
// scheduler, flags and persistence, the real servers (Dest) behind them, and
// the immutable Table snapshot the data plane reads without locking.
//
// Identity and counters live in long-lived *Service and *Dest objects that
// survive configuration changes, so that connections keep pointing at the
// Dest they were bound to and counters are not lost on an edit. Scalar
// settings an operator can edit on a Dest (weight, thresholds, forwarding
// method) are atomics, as in the kernel. The list of services and each
// service's list of dests are immutable within a Table; the control plane
// builds a new Table for every change and publishes it atomically.
package vs

import (
	"net/netip"
	"sync/atomic"
)

// Proto is an IP protocol number the director balances.
type Proto uint8

// Protocols handled by services.
const (
	TCP  Proto = 6
	UDP  Proto = 17
	SCTP Proto = 132
)

// String returns ipvsadm's protocol name (TCP, UDP, SCTP).
func (p Proto) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case SCTP:
		return "SCTP"
	}
	return "IP"
}

// FwdMethod is how packets reach a Dest. The values of the first four match
// the kernel's IP_VS_CONN_F_* forwarding codes.
type FwdMethod uint8

// Forwarding methods.
const (
	Masq        FwdMethod = 0 // NAT, ipvsadm -m
	Local       FwdMethod = 1 // the director itself
	Tunnel      FwdMethod = 2 // IPIP, ipvsadm -i
	DirectRoute FwdMethod = 3 // DR, ipvsadm -g (the default)
	FullNAT     FwdMethod = 5 // source and destination NAT, ipvsadm -b on -a (DPVS)
)

// String returns the method as ipvsadm -L prints it in the Forward column.
func (m FwdMethod) String() string {
	switch m {
	case Masq:
		return "Masq"
	case Local:
		return "Local"
	case Tunnel:
		return "Tunnel"
	case DirectRoute:
		return "Route"
	case FullNAT:
		return "FullNat"
	}
	return "Unknown"
}

// Service flags (the kernel's IP_VS_SVC_F_* bits that matter here).
const (
	SvcPersistent uint32 = 0x0001 // -p
	SvcHashed     uint32 = 0x0002
	SvcOnePacket  uint32 = 0x0004 // -o
	SvcSchedFlag1 uint32 = 0x0008 // sh-fallback / mh-fallback
	SvcSchedFlag2 uint32 = 0x0010 // sh-port / mh-port
	SvcSchedFlag3 uint32 = 0x0020
)

// SchedFlagByName returns the service flag that ipvsadm's -b (and
// keepalived's lvs_sched flags) spell name, and the scheduler it belongs
// to ("" for the generic flag-N names); ok is false for an unknown name.
func SchedFlagByName(name string) (flag uint32, sched string, ok bool) {
	switch name {
	case "flag-1":
		return SvcSchedFlag1, "", true
	case "flag-2":
		return SvcSchedFlag2, "", true
	case "flag-3":
		return SvcSchedFlag3, "", true
	case "sh-fallback":
		return SvcSchedFlag1, "sh", true
	case "sh-port":
		return SvcSchedFlag2, "sh", true
	case "mh-fallback":
		return SvcSchedFlag1, "mh", true
	case "mh-port":
		return SvcSchedFlag2, "mh", true
	}
	return 0, "", false
}

// Dest flags.
const (
	DestAvailable uint32 = 0x0001
	DestOverload  uint32 = 0x0002
)

// Addr16 returns a as 16 bytes (IPv4 in IPv4-mapped form), the form used in
// keys on the hot path.
func Addr16(a netip.Addr) [16]byte { return a.As16() }

// AddrFrom16 converts a key address back, unmapping IPv4.
func AddrFrom16(b [16]byte) netip.Addr { return netip.AddrFrom16(b).Unmap() }

// Stats are the traffic counters of a Service or a Dest, as IPVS keeps
// them: connections scheduled, and packets and bytes (the IP packet's
// length, the kernel's skb->len) that came in from clients and went out
// from real servers. The data plane adds to the counters; the control plane
// estimates their rates (Estimate, Rates; see estimator.go).
type Stats struct {
	Conns    atomic.Uint64
	InPkts   atomic.Uint64
	OutPkts  atomic.Uint64
	InBytes  atomic.Uint64
	OutBytes atomic.Uint64

	est estimator
}

// Zero resets the counters and their rate estimates (ipvsadm -Z).
func (s *Stats) Zero() {
	s.est.mu.Lock()
	defer s.est.mu.Unlock()
	s.Conns.Store(0)
	s.InPkts.Store(0)
	s.OutPkts.Store(0)
	s.InBytes.Store(0)
	s.OutBytes.Store(0)
	s.est.last = [numEst]uint64{}
	s.est.avg = [numEst]uint64{}
}

// Dest is a real server of one service.
type Dest struct {
	Addr   netip.Addr
	Port   uint16
	Addr16 [16]byte // Addr in key form

	Weight     atomic.Int32
	Fwd        atomic.Uint32 // a FwdMethod
	UThreshold atomic.Uint32 // upper connection threshold, 0 = none
	LThreshold atomic.Uint32 // lower connection threshold, 0 = none
	Flags      atomic.Uint32 // DestAvailable, DestOverload

	ActiveConns  atomic.Int32
	InactConns   atomic.Int32
	PersistConns atomic.Int32

	Stats Stats
}

// NewDest returns an available dest with the given settings.
func NewDest(addr netip.Addr, port uint16, fwd FwdMethod, weight int32) *Dest {
	d := &Dest{Addr: addr.Unmap(), Port: port, Addr16: addr.As16()}
	d.Weight.Store(weight)
	d.Fwd.Store(uint32(fwd))
	d.Flags.Store(DestAvailable)
	return d
}

// FwdMethod returns the dest's forwarding method.
func (d *Dest) FwdMethod() FwdMethod { return FwdMethod(d.Fwd.Load()) }

// Overloaded reports whether the dest is marked overloaded.
func (d *Dest) Overloaded() bool { return d.Flags.Load()&DestOverload != 0 }

// Available reports whether the dest is still part of its service.
func (d *Dest) Available() bool { return d.Flags.Load()&DestAvailable != 0 }

// Flow is what a scheduler may look at for a new connection: the packet's
// addresses and ports (and the firewall mark the director assigned).
type Flow struct {
	Proto    Proto
	IPv6     bool
	Src, Dst [16]byte
	SPort    uint16
	DPort    uint16
	Mark     uint32
}

// Scheduler picks a Dest for a new connection. Implementations are in
// package sched; the interface lives here so a Service can carry its
// instance without an import cycle.
//
// Schedule is called concurrently by data-plane workers with the snapshot's
// Service and must not allocate. Update is called by the control plane (one
// writer at a time) with the Service of a snapshot about to be published,
// after its dest list or a dest's weight changed.
type Scheduler interface {
	Name() string
	Schedule(svc *Service, f *Flow) *Dest
	Update(svc *Service)
}

// ServiceKey identifies a service. A firewall-mark service has FwMark set
// and zero Addr, Port and Proto.
type ServiceKey struct {
	FwMark uint32
	IPv6   bool
	Proto  Proto
	Port   uint16
	Addr   [16]byte
}

// Service is a virtual service as one Table snapshot sees it. A Service
// value is never modified after publication; Stats and the Dests are shared
// with the next snapshot's value of the same service.
type Service struct {
	Key    ServiceKey
	Addr   netip.Addr // zero for fwmark services
	Port   uint16
	Proto  Proto
	FwMark uint32
	IPv6   bool

	SchedName string
	Sched     Scheduler
	Flags     uint32 // Svc* flags
	Timeout   uint32 // persistence timeout in seconds (with SvcPersistent)
	Netmask   uint32 // persistence netmask (IPv4 mask bits or IPv6 prefix length)
	PEName    string

	Dests []*Dest // the kernel's order: most recently added first
	Stats *Stats

	// LAddrs are the FullNAT local addresses (DPVS's laddrs, ipvsadm
	// --add-laddr) in the order they were added: the sources the director
	// gives the connections it forwards to FullNAT real servers. Like
	// Dests, the slice is immutable within a Table and the LocalAddr
	// objects (with their counters) live on across snapshots.
	LAddrs []*LocalAddr
}

// LocalAddr is a FullNAT local address of a service (DPVS's struct
// dp_vs_laddr): an address the director owns and answers ARP/NDP for,
// optionally bound to a named interface. Addr, Addr16 and Iface never
// change after creation; the counters are updated concurrently.
type LocalAddr struct {
	Addr   netip.Addr
	Addr16 [16]byte // Addr in key form
	Iface  string   // interface the address was bound to; "" = any

	// Conns counts the connections bound to the address; the data plane
	// maintains it (DPVS's conn_counts, ipvsadm -G's CONNS column).
	Conns atomic.Int64
	// Conflicts counts local port candidates found in use when a port was
	// allocated (DPVS's port_conflict, ipvsadm -G's CONFLICTS column).
	Conflicts atomic.Uint64
}

// NewLocalAddr returns a local address bound to iface ("" = any).
func NewLocalAddr(addr netip.Addr, iface string) *LocalAddr {
	addr = addr.Unmap().WithZone("")
	return &LocalAddr{Addr: addr, Addr16: addr.As16(), Iface: iface}
}

// Persistent reports whether -p was given.
func (s *Service) Persistent() bool { return s.Flags&SvcPersistent != 0 }

// Table is an immutable snapshot of the whole configuration.
type Table struct {
	Services []*Service // in the order they were added
	// Marks are the director's firewall-mark rules, in order (see
	// MarkRule and Classify).
	Marks    []MarkRule
	byKey    map[ServiceKey]*Service
	portZero int // services with port 0 (match any port)
}

// NewTableMarks is NewTable with firewall-mark rules. The rules are copied.
func NewTableMarks(services []*Service, marks []MarkRule) *Table {
	t := NewTable(services)
	if len(marks) > 0 {
		t.Marks = make([]MarkRule, len(marks))
		copy(t.Marks, marks)
		for i := range t.Marks {
			t.Marks[i].Dst = t.Marks[i].Dst.Unmap()
			t.Marks[i].dst16 = t.Marks[i].Dst.As16()
		}
	}
	return t
}

// Classify returns the firewall mark of a packet that opens a connection:
// that of the last rule that matches it, as when several iptables MARK
// rules match, or 0. It does not allocate.
func (t *Table) Classify(ipv6 bool, proto Proto, src, dst *[16]byte, dport uint16) uint32 {
	if t == nil {
		return 0
	}
	var mark uint32
	for i := range t.Marks {
		if t.Marks[i].Match(ipv6, proto, src, dst, dport) {
			mark = t.Marks[i].Mark
		}
	}
	return mark
}

// NewTable indexes services into a snapshot. The slice is kept as is.
func NewTable(services []*Service) *Table {
	t := &Table{Services: services, byKey: make(map[ServiceKey]*Service, len(services))}
	for _, s := range services {
		t.byKey[s.Key] = s
		if s.FwMark == 0 && s.Port == 0 {
			t.portZero++
		}
	}
	return t
}

// Get returns the service with exactly that key, or nil.
func (t *Table) Get(k ServiceKey) *Service {
	if t == nil {
		return nil
	}
	return t.byKey[k]
}

// Lookup finds the service for a packet the way IPVS does: a firewall-mark
// service when mark is set and one exists, then the exact VIP:port/proto,
// then a port-zero (all ports) service on that VIP. It does not allocate.
func (t *Table) Lookup(mark uint32, ipv6 bool, proto Proto, dst [16]byte, dport uint16) *Service {
	if t == nil {
		return nil
	}
	if mark != 0 {
		if s := t.byKey[ServiceKey{FwMark: mark, IPv6: ipv6}]; s != nil {
			return s
		}
	}
	k := ServiceKey{IPv6: ipv6, Proto: proto, Port: dport, Addr: dst}
	if s := t.byKey[k]; s != nil {
		return s
	}
	if t.portZero > 0 {
		k.Port = 0
		return t.byKey[k]
	}
	return nil
}

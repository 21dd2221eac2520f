package datapath

import (
	"net/netip"

	"github.com/gdirector/gdirector/vs"
)

// Standby addresses: a director that runs VRRP (package vrrp, wired by the
// daemon) owns a virtual address only while its instance is master. The
// daemon gives the data plane the addresses it holds back, those of the
// instances that are not master, with SetStandby; they are taken out of
// the VIP set that ARP/NDP answers, ICMP echo and the no-service and ICMP
// drops consult, and a packet that would open a connection to one of them
// is dropped (counted as "standby") instead of scheduled: a client whose
// neighbour cache still points here after a fail-back retries its SYN to
// the master, where the connection will live. Packets of connections the
// director already tracks (its own from before it lost the address, or
// installed by connection synchronisation) are still forwarded when they
// reach it, which is what a client with a stale neighbour entry needs.
//
// The sets are immutable maps behind atomic pointers: the packet path pays
// one pointer load and one map lookup, on new connections only.

// SetStandby replaces the set of addresses held back (nil: none), keeping
// the extra owned addresses. An address that becomes owned again is not
// announced here: whoever took it over (the VRRP node) sends the
// gratuitous ARPs or unsolicited neighbour advertisements.
func (d *Director) SetStandby(addrs []netip.Addr) {
	m := standbySet(addrs)
	d.vipMu.Lock()
	defer d.vipMu.Unlock()
	d.standby.Store(&m)
	cur := d.vips.Load()
	d.vips.Store(d.buildVIPs(cur.src, cur.table))
}

func standbySet(addrs []netip.Addr) map[[16]byte]struct{} {
	m := make(map[[16]byte]struct{}, len(addrs))
	for _, a := range addrs {
		if a.IsValid() {
			m[a.Unmap().As16()] = struct{}{}
		}
	}
	return m
}

// Standby returns the addresses held back.
func (d *Director) Standby() []netip.Addr {
	p := d.standby.Load()
	if p == nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(*p))
	for a := range *p {
		out = append(out, netip.AddrFrom16(a).Unmap())
	}
	return out
}

// buildVIPs returns the owned set of table src, whose own addresses are
// tbl: tbl and the extra owned addresses, less the standby ones; vipMu is
// held.
func (d *Director) buildVIPs(src *vs.Table, tbl map[[16]byte]struct{}) *vipSet {
	var held map[[16]byte]struct{}
	if p := d.standby.Load(); p != nil {
		held = *p
	}
	ext := d.owned.Load()
	ns := &vipSet{src: src, table: tbl, addr: make(map[[16]byte]struct{}, len(tbl)+len(ext.dev))}
	for a := range tbl {
		if _, h := held[a]; !h {
			ns.addr[a] = struct{}{}
		}
	}
	for a, dev := range ext.dev {
		if _, h := held[a]; h {
			continue
		}
		if _, svc := tbl[a]; svc {
			continue // a service's address: answered everywhere
		}
		ns.addr[a] = struct{}{}
		if dev >= 0 {
			if ns.only == nil {
				ns.only = map[[16]byte]int{}
			}
			ns.only[a] = dev
		}
	}
	return ns
}

// isStandby reports whether a is held back (hot path: new connections).
func (d *Director) isStandby(a *[16]byte) bool {
	p := d.standby.Load()
	if p == nil || len(*p) == 0 {
		return false
	}
	_, ok := (*p)[*a]
	return ok
}

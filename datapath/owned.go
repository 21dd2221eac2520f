package datapath

import (
	"net/netip"
	"slices"

	"github.com/gdirector/gdirector/header"
)

// Extra owned addresses: a director owns the addresses of its table (VIPs,
// FullNAT local addresses) and, given by the daemon with SetOwned,
// addresses no service uses: the VRRP addresses of an LVS-NAT pair such as
// the floating gateway of the real servers (keepalived's
// virtual_ipaddress { VIP dev eth0; DIP dev eth1 }). While owned (not held
// back by the standby set) such an address is answered like a VIP: ARP
// requests and Neighbor Solicitations on the interface it is placed on
// (OwnedAddr.Dev; every interface when none), ICMP echo requests, and
// packets to it that open nothing are dropped as no_service. Packets that
// are only routed through it need nothing more: a real server's reply
// reaches the director's MAC address addressed to the client and is
// matched by its connection (the NAT reply path never looks at the
// gateway's address).
//
// Like the standby set, the owned set is an immutable map published
// behind an atomic pointer and folded into the VIP set, so the packet path
// pays nothing for it; the placement is consulted only when answering
// ARP/NDP.

// OwnedAddr is an address owned besides the table's.
type OwnedAddr struct {
	Addr netip.Addr
	// Dev names the interface whose ARP requests / Neighbor
	// Solicitations are answered for Addr (the one whose subnet holds
	// it); "" or an interface the director does not serve: every one.
	// An address that is also a service's is answered everywhere.
	Dev string
}

// ownedSet is what SetOwned publishes.
type ownedSet struct {
	list []OwnedAddr
	dev  map[[16]byte]int // address → device index, -1: every device
}

// SetOwned replaces the extra owned addresses and the standby set (the
// addresses held back, see SetStandby) at once, so that no address is
// answered in between. Like SetStandby it announces nothing.
func (d *Director) SetOwned(extra []OwnedAddr, standby []netip.Addr) {
	os := &ownedSet{dev: make(map[[16]byte]int, len(extra))}
	for _, o := range extra {
		if !o.Addr.IsValid() {
			continue
		}
		a := o.Addr.Unmap()
		i := d.devByName(o.Dev)
		if _, dup := os.dev[a.As16()]; dup {
			continue
		}
		os.dev[a.As16()] = i
		if i < 0 {
			o.Dev = ""
		}
		os.list = append(os.list, OwnedAddr{Addr: a, Dev: o.Dev})
	}
	m := standbySet(standby)
	d.vipMu.Lock()
	defer d.vipMu.Unlock()
	d.owned.Store(os)
	d.standby.Store(&m)
	cur := d.vips.Load()
	d.vips.Store(d.buildVIPs(cur.src, cur.table))
}

// Owned returns the extra owned addresses (held back or not), with the
// device of those placed on one ("" for the others).
func (d *Director) Owned() []OwnedAddr {
	return slices.Clone(d.owned.Load().list)
}

// Announce sends a gratuitous ARP (IPv4) or an unsolicited neighbour
// advertisement (IPv6) for each of addrs that is owned now, on the
// devices that answer it, except the one named skip (where the VRRP node
// already announces). It is the announcement of extra owned addresses
// placed away from their VRRP instance's interface, which the node does
// not reach.
func (d *Director) Announce(addrs []netip.Addr, skip string) {
	cur := d.vips.Load()
	except := d.devByName(skip)
	for _, a := range addrs {
		if !a.IsValid() {
			continue
		}
		k := a.Unmap().As16()
		if _, ok := cur.addr[k]; !ok {
			continue
		}
		dev := cur.dev(k)
		for i := range d.devs {
			if (dev < 0 || i == dev) && i != except {
				d.announceOn(i, k)
			}
		}
	}
}

// devByName returns the index of the served device called name, or -1.
func (d *Director) devByName(name string) int {
	if name == "" {
		return -1
	}
	for i, dv := range d.devs {
		if dv.Name() == name {
			return i
		}
	}
	return -1
}

// dev returns the device that answers owned address a, -1: every device.
func (s *vipSet) dev(a [16]byte) int {
	if i, ok := s.only[a]; ok {
		return i
	}
	return -1
}

// answers reports whether ARP/NDP on device dev answers for a: an owned
// address answered on every device or placed on dev (slow path).
func (d *Director) answers(a *[16]byte, dev int) bool {
	s := d.vips.Load()
	if _, ok := s.addr[*a]; !ok {
		return false
	}
	if i, ok := s.only[*a]; ok && i != dev {
		return false
	}
	return true
}

// announce announces a on device dev, or on every device when dev < 0.
func (d *Director) announce(a [16]byte, dev int) {
	for i := range d.devs {
		if dev < 0 || i == dev {
			d.announceOn(i, a)
		}
	}
}

// announceOn sends one gratuitous ARP or unsolicited advertisement for a
// on device i.
func (d *Director) announceOn(i int, a [16]byte) {
	if header.Is4(&a) {
		d.sendGratuitousARP(i, [4]byte(a[12:16]))
	} else {
		d.sendUnsolicitedNA(i, a)
	}
}

package datapath

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/forward/tun"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/link"
)

// Route is how the host would send a packet to some destination.
type Route struct {
	IfIndex int        // egress interface
	NextHop netip.Addr // the destination itself when on-link, else the gateway
	Src     netip.Addr // preferred source address (used in ARP requests)
}

// Router answers route and neighbour questions the way the host kernel
// would (package route implements it over netlink). It is called only off
// the hot path, by the resolver goroutine.
type Router interface {
	Route(dst netip.Addr) (Route, error)
	// Neighbor returns the link-layer address the host knows for addr on
	// the interface, if it has a usable entry.
	Neighbor(ifindex int, addr netip.Addr) ([6]byte, bool)
}

// ErrNoRoute is returned by routers that have no route.
var ErrNoRoute = errors.New("datapath: no route to host")

// nextHop is a resolved layer-2 destination for one IP destination.
type nextHop struct {
	dev int      // index into Director.devs
	mac [6]byte  // next hop's MAC
	src [16]byte // the host's preferred source address toward the destination (outer source for tunnels)
}

// nhTable is an immutable map from destination address to next hop,
// replaced as a whole by the resolver.
type nhTable map[[16]byte]nextHop

// Limits of the neighbour machinery.
const (
	parkPerDest   = 8                      // frames queued per unresolved destination
	parkTotal     = 1024                   // frames queued in all
	arpRetries    = 3                      // ARP requests before giving up
	arpRetryEvery = 300 * time.Millisecond // between ARP requests
	refreshAfter  = 60 * time.Second       // re-resolve entries this old
	negativeFor   = time.Second            // remember a failed resolution
	resolveQueue  = 4096
	learnQueue    = 1024
)

type parked struct {
	dst    [16]byte
	frame  []byte
	tunnel bool // the inner packet of a TUN connection, not yet encapsulated
}

type learned struct {
	ip   [16]byte
	mac  [6]byte
	dev  int
	seen time.Time
}

// pending is an unresolved destination.
type pending struct {
	route    Route
	dev      int
	frames   []parked
	tries    int
	lastSent time.Time
	failed   time.Time // when negative; frames are refused until negativeFor passes
}

// resolver owns the neighbour state; only its goroutine touches it.
type resolver struct {
	d       *Director
	router  Router
	neigh   map[[16]byte]learned // by next-hop address: what ARP told us
	dests   map[[16]byte]nhEntry // by destination: how we reach it
	pend    map[[16]byte]*pending
	nparked int
}

type nhEntry struct {
	hop netip.Addr
	dev int
	src netip.Addr
}

func newResolver(d *Director, r Router) *resolver {
	return &resolver{
		d: d, router: r,
		neigh: map[[16]byte]learned{},
		dests: map[[16]byte]nhEntry{},
		pend:  map[[16]byte]*pending{},
	}
}

// run serves resolution requests, parked frames and gleaned ARP until done.
func (r *resolver) run(done <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastRefresh := time.Now()
	for {
		select {
		case <-done:
			return
		case p := <-r.d.parkCh:
			r.park(p)
		case dst := <-r.d.resolveCh:
			r.want(dst)
		case l := <-r.d.learnCh:
			r.learn(l)
		case now := <-tick.C:
			r.retry(now)
			if now.Sub(lastRefresh) > refreshAfter/4 {
				r.refresh(now)
				lastRefresh = now
			}
		}
	}
}

// park queues a frame for an unresolved destination and starts resolution.
func (r *resolver) park(p parked) {
	pd := r.want(p.dst)
	if pd == nil { // resolved meanwhile: send now
		r.d.sendResolved(p)
		return
	}
	if !pd.failed.IsZero() || len(pd.frames) >= parkPerDest || r.nparked >= parkTotal {
		r.d.countSlow(forward.DropNeighbour)
		return
	}
	pd.frames = append(pd.frames, p)
	r.nparked++
}

// want makes sure dst is being resolved; it returns nil if dst already is.
func (r *resolver) want(dst [16]byte) *pending {
	if pd := r.pend[dst]; pd != nil {
		if !pd.failed.IsZero() && time.Since(pd.failed) > negativeFor {
			delete(r.pend, dst)
		} else {
			return pd
		}
	}
	if _, ok := r.d.nh.Load().get(dst); ok {
		return nil
	}
	pd := &pending{}
	r.pend[dst] = pd
	addr := header.AddrFrom16(dst)
	rt, err := r.router.Route(addr)
	if err != nil {
		pd.failed = time.Now()
		r.d.logf("datapath: no route to %v: %v", addr, err)
		return pd
	}
	dev := r.d.devIndex(rt.IfIndex)
	if dev < 0 && r.d.p2p >= 0 || dev >= 0 && dev == r.d.p2p {
		// Fed by the host's routing: hand the packet back to the TUN
		// device; the kernel chooses the way on. No MAC to learn.
		delete(r.pend, dst)
		r.publish(dst, dst, learned{dev: r.d.p2p}, rt.Src)
		return nil
	}
	if dev < 0 {
		pd.failed = time.Now()
		r.d.logf("datapath: route to %v leaves by interface %d, which the director does not serve", addr, rt.IfIndex)
		return pd
	}
	if !rt.NextHop.IsValid() {
		rt.NextHop = addr
	}
	pd.route, pd.dev = rt, dev
	hop := rt.NextHop.As16()
	if l, ok := r.neigh[hop]; ok && l.dev == dev {
		r.publish(dst, hop, l, rt.Src)
		return nil
	}
	if mac, ok := r.router.Neighbor(rt.IfIndex, rt.NextHop); ok {
		l := learned{ip: hop, mac: mac, dev: dev, seen: time.Now()}
		r.neigh[hop] = l
		r.publish(dst, hop, l, rt.Src)
		return nil
	}
	r.sendARP(pd)
	return pd
}

func (r *resolver) sendARP(pd *pending) {
	pd.tries++
	pd.lastSent = time.Now()
	r.d.solicit(pd.dev, pd.route.Src, pd.route.NextHop)
}

// solicit asks who has hop on device dev: an ARP request for IPv4, a
// Neighbor Solicitation for IPv6 (from src, which must then be one of the
// host's IPv6 addresses: NDP forbids soliciting from :: except for DAD).
func (d *Director) solicit(dev int, src, hop netip.Addr) {
	if hop.Is4() {
		s := netip.IPv4Unspecified()
		if src.Is4() {
			s = src
		}
		d.sendARPRequest(dev, s.As4(), hop.As4())
		return
	}
	if !src.Is6() || src.Is4In6() {
		d.logf("datapath: no IPv6 source address to solicit %v from", hop)
		return
	}
	dv := d.devs[dev]
	mac := dv.HardwareAddr()
	target := hop.As16()
	group, gmac := header.SolicitedNode(target)
	buf := make([]byte, link.Headroom+header.EthernetLen+72)
	f := buf[link.Headroom:]
	e := header.Ethernet(f)
	e.SetDst(gmac)
	e.SetSrc(mac)
	binary.BigEndian.PutUint16(f[12:], header.EtherTypeIPv6)
	n := header.PutNDP(f[header.EthernetLen:], header.ICMPv6NeighborSolicit, 0, src.As16(), group, target, mac)
	if _, err := dv.Write([][]byte{buf[:link.Headroom+header.EthernetLen+n]}, link.Headroom); err != nil {
		d.countSlow(forward.DropTx)
	}
}

// sendUnsolicitedNA announces an IPv6 address on device dev (the IPv6
// twin of a gratuitous ARP): an advertisement to all nodes with Override
// set.
func (d *Director) sendUnsolicitedNA(dev int, vip [16]byte) {
	dv := d.devs[dev]
	mac := dv.HardwareAddr()
	buf := make([]byte, link.Headroom+header.EthernetLen+72)
	f := buf[link.Headroom:]
	e := header.Ethernet(f)
	e.SetDst(header.AllNodesMAC)
	e.SetSrc(mac)
	binary.BigEndian.PutUint16(f[12:], header.EtherTypeIPv6)
	n := header.PutNDP(f[header.EthernetLen:], header.ICMPv6NeighborAdvert, header.NAFlagOverride, vip, header.AllNodes, vip, mac)
	if _, err := dv.Write([][]byte{buf[:link.Headroom+header.EthernetLen+n]}, link.Headroom); err != nil {
		d.countSlow(forward.DropTx)
	}
}

// learn records an address a worker saw in an ARP packet and completes
// every destination waiting for it.
func (r *resolver) learn(l learned) {
	l.seen = time.Now()
	old, known := r.neigh[l.ip]
	r.neigh[l.ip] = l
	for dst, pd := range r.pend {
		if pd.failed.IsZero() && pd.route.NextHop.IsValid() && pd.route.NextHop.As16() == l.ip && pd.dev == l.dev {
			r.publish(dst, l.ip, l, pd.route.Src)
		}
	}
	if known && old.mac != l.mac {
		// The neighbour moved: repoint every destination using it.
		for dst, e := range r.dests {
			if e.hop.As16() == l.ip {
				r.publish(dst, l.ip, l, e.src)
			}
		}
	}
}

// publish installs dst → (dev, mac, src) in a new table and flushes
// frames parked for dst.
func (r *resolver) publish(dst, hop [16]byte, l learned, src netip.Addr) {
	r.dests[dst] = nhEntry{hop: header.AddrFrom16(hop), dev: l.dev, src: src}
	old := r.d.nh.Load()
	nt := make(nhTable, len(*old)+1)
	for k, v := range *old {
		nt[k] = v
	}
	var src16 [16]byte
	if src.IsValid() {
		src16 = src.As16()
	}
	nt[dst] = nextHop{dev: l.dev, mac: l.mac, src: src16}
	r.d.nh.Store(&nt)
	if pd := r.pend[dst]; pd != nil {
		for _, f := range pd.frames {
			r.d.sendResolved(f)
		}
		r.nparked -= len(pd.frames)
		delete(r.pend, dst)
	}
}

func (r *resolver) retry(now time.Time) {
	for dst, pd := range r.pend {
		if !pd.failed.IsZero() {
			if now.Sub(pd.failed) > negativeFor {
				delete(r.pend, dst)
			}
			continue
		}
		if now.Sub(pd.lastSent) < arpRetryEvery {
			continue
		}
		if pd.tries >= arpRetries {
			for range pd.frames {
				r.d.countSlow(forward.DropNeighbour)
			}
			r.nparked -= len(pd.frames)
			pd.frames = nil
			pd.failed = now
			r.d.logf("datapath: %v does not answer ARP", pd.route.NextHop)
			continue
		}
		r.sendARP(pd)
	}
}

// refresh keeps neighbours fresh: one not heard from for refreshAfter is
// asked again with an ARP request while its entry stays in use; one silent
// for twice that is forgotten with every destination that used it, so the
// next packet resolves afresh (the kernel's STALE → PROBE → FAILED).
func (r *resolver) refresh(now time.Time) {
	for hop, l := range r.neigh {
		age := now.Sub(l.seen)
		switch {
		case age > 2*refreshAfter:
			delete(r.neigh, hop)
			r.forgetHop(hop)
		case age > refreshAfter:
			a := header.AddrFrom16(hop)
			var src netip.Addr
			if rt, err := r.router.Route(a); err == nil {
				src = rt.Src
			}
			r.d.solicit(l.dev, src, a)
		}
	}
}

// forgetHop removes every destination reached through hop.
func (r *resolver) forgetHop(hop [16]byte) {
	old := r.d.nh.Load()
	nt := make(nhTable, len(*old))
	for k, v := range *old {
		nt[k] = v
	}
	for dst, e := range r.dests {
		if e.hop.As16() == hop {
			delete(r.dests, dst)
			delete(nt, dst)
		}
	}
	r.d.nh.Store(&nt)
}

func (t *nhTable) get(dst [16]byte) (nextHop, bool) {
	h, ok := (*t)[dst]
	return h, ok
}

// sendARPRequest broadcasts "who has tpa, tell spa" on device dev.
func (d *Director) sendARPRequest(dev int, spa, tpa [4]byte) {
	dv := d.devs[dev]
	buf := make([]byte, link.Headroom+64)
	mac := dv.HardwareAddr()
	n := header.PutARP(buf[link.Headroom:], broadcast, mac, header.ARPRequest, mac, spa, [6]byte{}, tpa)
	if _, err := dv.Write([][]byte{buf[:link.Headroom+n]}, link.Headroom); err != nil {
		d.countSlow(forward.DropTx)
	}
}

// sendGratuitousARP announces vip on device dev.
func (d *Director) sendGratuitousARP(dev int, vip [4]byte) {
	dv := d.devs[dev]
	buf := make([]byte, link.Headroom+64)
	mac := dv.HardwareAddr()
	n := header.PutARP(buf[link.Headroom:], broadcast, mac, header.ARPRequest, mac, vip, [6]byte{}, vip)
	if _, err := dv.Write([][]byte{buf[:link.Headroom+n]}, link.Headroom); err != nil {
		d.countSlow(forward.DropTx)
	}
}

// sendResolved writes a parked frame (headroom included) now that its
// destination has a next hop, encapsulating it first if it belongs to a
// TUN connection.
func (d *Director) sendResolved(pk parked) {
	h, ok := d.nh.Load().get(pk.dst)
	if !ok {
		d.countSlow(forward.DropNeighbour)
		return
	}
	dv := d.devs[h.dev]
	frame, off := pk.frame, link.Headroom
	if pk.tunnel {
		var p header.Parsed
		if header.Decode(frame[off:], &p) != header.OK {
			d.countSlow(forward.DropDecode)
			return
		}
		d.slowIPID++ // only the resolver goroutine sends parked frames
		id := d.slowIPID
		o, n, r := tun.Encap(frame, off, len(frame)-off, &p, h.src, pk.dst, id, dv.MTU())
		if r != forward.Pass {
			// Too big for the tunnel: the client's retransmission meets
			// the resolved next hop and gets frag-needed on the fast path.
			d.countSlow(r)
			return
		}
		frame, off = frame[:o+n], o
	}
	e := header.Ethernet(frame[off:])
	e.SetDst(h.mac)
	e.SetSrc(dv.HardwareAddr())
	if _, err := dv.Write([][]byte{frame}, off); err != nil {
		d.countSlow(forward.DropTx)
		return
	}
	d.countSlowTx()
}

var broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

package datapath

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/internal/pkt"
	"github.com/gdirector/gdirector/link"
	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/vs"
)

// fakeDev is a device that is never read; Process tests drive the worker
// directly, and writes (ARP requests, parked frames) are recorded.
type fakeDev struct {
	name  string
	index int
	mac   [6]byte
	sent  [][]byte
}

func (d *fakeDev) Name() string                           { return d.name }
func (d *fakeDev) Index() int                             { return d.index }
func (d *fakeDev) HardwareAddr() [6]byte                  { return d.mac }
func (d *fakeDev) MTU() int                               { return 1500 }
func (d *fakeDev) BatchSize() int                         { return 8 }
func (d *fakeDev) Close() error                           { return nil }
func (d *fakeDev) Read([][]byte, []int, int) (int, error) { return 0, nil }
func (d *fakeDev) Write(bufs [][]byte, off int) (int, error) {
	for _, b := range bufs {
		d.sent = append(d.sent, append([]byte(nil), b[off:]...))
	}
	return len(bufs), nil
}

// staticRouter is a minimal Router for these tests.
type staticRouter struct {
	routes map[netip.Prefix]Route
	neigh  map[netip.Addr][6]byte
}

func (r *staticRouter) Route(dst netip.Addr) (Route, error) {
	for p, rt := range r.routes {
		if p.Contains(dst) {
			if !rt.NextHop.IsValid() {
				rt.NextHop = dst
			}
			return rt, nil
		}
	}
	return Route{}, ErrNoRoute
}

func (r *staticRouter) Neighbor(_ int, a netip.Addr) ([6]byte, bool) {
	m, ok := r.neigh[a]
	return m, ok
}

var (
	cip  = netip.MustParseAddr("198.51.100.2")
	dip1 = netip.MustParseAddr("198.51.100.1")
	dip2 = netip.MustParseAddr("203.0.113.1")
	vip  = netip.MustParseAddr("192.0.2.10")
	rip1 = netip.MustParseAddr("203.0.113.11")
	rip2 = netip.MustParseAddr("203.0.113.12")

	macClient = pkt.MAC(0x01)
	macDirC   = pkt.MAC(0x10) // director, client side
	macDirR   = pkt.MAC(0x20) // director, real-server side
	macRS1    = pkt.MAC(0x31)
	macRS2    = pkt.MAC(0x32)
)

type rig struct {
	d          *Director
	w          *Worker // reads the client side
	wr         *Worker // reads the real-server side
	cdev, rdev *fakeDev
	clk        *clock.Fake
	tbl        atomic.Pointer[vs.Table]
	svc        *vs.Service
	dests      []*vs.Dest
}

func newRig(t testing.TB, proto vs.Proto, port uint16) *rig {
	t.Helper()
	return newRigDevs(t, proto, port, nil)
}

// newRigDevs is newRig with the director's devices made by wrap from the
// rig's fakeDevs (nil: the fakeDevs themselves).
func newRigDevs(t testing.TB, proto vs.Proto, port uint16, wrap func(*fakeDev) link.Device) *rig {
	t.Helper()
	r := &rig{
		cdev: &fakeDev{name: "eth0", index: 1, mac: macDirC},
		rdev: &fakeDev{name: "eth1", index: 2, mac: macDirR},
		clk:  clock.NewFake(1_000_000_000),
	}
	r.dests = []*vs.Dest{vs.NewDest(rip1, port, vs.Masq, 1), vs.NewDest(rip2, port, vs.Masq, 1)}
	r.svc = rrService(t, &r.tbl, proto, vip, port, r.dests...)
	devs := []link.Device{r.cdev, r.rdev}
	if wrap != nil {
		devs = []link.Device{wrap(r.cdev), wrap(r.rdev)}
	}
	router := &staticRouter{
		routes: map[netip.Prefix]Route{
			netip.MustParsePrefix("198.51.100.0/24"): {IfIndex: 1, Src: dip1},
			netip.MustParsePrefix("203.0.113.0/24"):  {IfIndex: 2, Src: dip2},
		},
		neigh: map[netip.Addr][6]byte{cip: macClient, rip1: macRS1, rip2: macRS2},
	}
	d, err := New(Config{
		Devices: devs,
		Table:   &r.tbl, Conns: conntrack.NewTable(conntrack.Options{Capacity: 1024}),
		Clock: r.clk, Router: router,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.d, r.w, r.wr = d, d.workers[0], d.workers[1]
	// The VIP was announced with a gratuitous ARP on every interface.
	for _, dv := range []*fakeDev{r.cdev, r.rdev} {
		if len(dv.sent) != 1 {
			t.Fatalf("%s: %d frames at start, want one gratuitous ARP", dv.name, len(dv.sent))
		}
		want := make([]byte, 60)
		header.PutARP(want, broadcast, dv.mac, header.ARPRequest, dv.mac, vip.As4(), [6]byte{}, vip.As4())
		if !bytes.Equal(dv.sent[0], want) {
			t.Fatalf("%s: gratuitous ARP\n got %x\nwant %x", dv.name, dv.sent[0], want)
		}
		dv.sent = nil
	}
	// Resolve next hops synchronously (the resolver goroutine is not running).
	for _, a := range []netip.Addr{cip, rip1, rip2} {
		if r.d.res.want(a.As16()) != nil {
			t.Fatalf("%v not resolved", a)
		}
	}
	return r
}

func withHeadroom(f []byte) []byte {
	b := make([]byte, link.Headroom+len(f), link.Headroom+link.MaxFrame)
	copy(b[link.Headroom:], f)
	return b
}

// step sends frame through worker w and returns (device, frame out).
func step(t testing.TB, w *Worker, now int64, f []byte) (int, []byte, forward.Reason) {
	t.Helper()
	b := withHeadroom(f)
	dev, out, r := w.Process(b, now)
	if out == nil {
		out = b[link.Headroom:]
	}
	return dev, out, r
}

// mustStep is step that fails the test unless the frame leaves by device
// dev (-1: none) for reason why; it returns the frame out.
func mustStep(t testing.TB, w *Worker, now int64, f []byte, dev int, why forward.Reason) []byte {
	t.Helper()
	gotDev, out, gotWhy := step(t, w, now, f)
	if gotDev != dev || gotWhy != why {
		t.Fatalf("frame out on device %d for %v, want device %d for %v", gotDev, gotWhy, dev, why)
	}
	return out
}

// rrService returns an rr service addr:port over dests, its scheduler
// up to date, and stores a table of it alone in tbl.
func rrService(t testing.TB, tbl *atomic.Pointer[vs.Table], proto vs.Proto, addr netip.Addr, port uint16, dests ...*vs.Dest) *vs.Service {
	t.Helper()
	s, err := sched.New("rr")
	if err != nil {
		t.Fatal(err)
	}
	svc := &vs.Service{
		Key:  vs.ServiceKey{Proto: proto, Port: port, Addr: addr.As16(), IPv6: addr.Is6()},
		Addr: addr, Port: port, Proto: proto, IPv6: addr.Is6(), SchedName: "rr", Sched: s,
		Dests: dests, Stats: &vs.Stats{},
	}
	s.Update(svc)
	tbl.Store(vs.NewTable([]*vs.Service{svc}))
	return svc
}

// learnARP feeds worker w (the client side r.w or the real-server side
// r.wr) the ARP reply of mac for addr, sent to the director's address on
// that side, and lets the resolver learn it: frames parked for addr leave.
func (r *rig) learnARP(t testing.TB, w *Worker, addr netip.Addr, mac [6]byte) {
	t.Helper()
	dirMAC, dirIP := macDirC, dip1
	if w == r.wr {
		dirMAC, dirIP = macDirR, dip2
	}
	rep := make([]byte, 60)
	header.PutARP(rep, dirMAC, mac, header.ARPReply, mac, addr.As4(), dirMAC, dirIP.As4())
	step(t, w, r.clk.Now(), rep)
	r.d.res.learn(<-r.d.learnCh)
}

// timeExceeded sends reply, a TTL-1 packet of rs1, into the real-server
// side and checks the director drops it and tells rs1 with an ICMP time
// exceeded from its own address there; it returns that frame.
func (r *rig) timeExceeded(t *testing.T, reply []byte) ([]byte, header.Parsed) {
	t.Helper()
	out := mustStep(t, r.wr, r.clk.Now(), reply, 1, forward.DropTTL)
	p, typ, code, _ := icmpOf(t, out)
	if typ != 11 || code != 0 || header.AddrFrom16(p.Src) != dip2 || header.AddrFrom16(p.Dst) != rip1 {
		t.Fatalf("time exceeded %d/%d from %v to %v", typ, code, header.AddrFrom16(p.Src), header.AddrFrom16(p.Dst))
	}
	return out, p
}

func expectFrame(t *testing.T, got []byte, want pkt.Spec) {
	t.Helper()
	w := pkt.Build(want)
	if !bytes.Equal(got, w) {
		t.Fatalf("frame differs\n got %x\nwant %x", got, w)
	}
}

func TestNATTCPConnection(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	now := r.clk.Now()
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, Seq: 1}
	out := mustStep(t, r.w, now, pkt.Build(syn), 1, forward.Pass)
	want := syn
	want.SrcMAC, want.DstMAC, want.Dst = macDirR, macRS1, rip1
	expectFrame(t, out, want)
	d1 := r.dests[0]
	// Current kernels count the pre-established states (SYN_RECV here) as
	// active (ip_vs_proto_tcp.c, tcp_state_active_table).
	if d1.ActiveConns.Load() != 1 || d1.InactConns.Load() != 0 {
		t.Fatalf("after SYN: active %d inact %d", d1.ActiveConns.Load(), d1.InactConns.Load())
	}

	synack := pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: cip, Proto: header.ProtoTCP, SPort: 80, DPort: 40000, TCPFlags: header.TCPSyn | header.TCPAck, Seq: 9, Ack: 2}
	out = mustStep(t, r.wr, now, pkt.Build(synack), 0, forward.Pass)
	want = synack
	want.SrcMAC, want.DstMAC, want.Src, want.TTL = macDirC, macClient, vip, 63
	expectFrame(t, out, want)

	ack := syn
	ack.TCPFlags, ack.Seq, ack.Ack, ack.Payload = header.TCPAck|header.TCPPsh, 2, 10, []byte("GET / HTTP/1.0\r\n\r\n")
	dev, out, _ := step(t, r.w, now, pkt.Build(ack))
	want = ack
	want.SrcMAC, want.DstMAC, want.Dst = macDirR, macRS1, rip1
	if dev != 1 {
		t.Fatalf("ack dev %d", dev)
	}
	expectFrame(t, out, want)
	if d1.ActiveConns.Load() != 1 || d1.InactConns.Load() != 0 {
		t.Fatalf("established: active %d inact %d", d1.ActiveConns.Load(), d1.InactConns.Load())
	}
	if got := d1.Stats.InPkts.Load(); got != 2 {
		t.Fatalf("dest InPkts %d", got)
	}
	if got := r.svc.Stats.OutPkts.Load(); got != 1 {
		t.Fatalf("svc OutPkts %d", got)
	}

	// The next connection goes to the second real server (rr).
	syn2 := syn
	syn2.SPort = 40001
	_, out, _ = step(t, r.w, now, pkt.Build(syn2))
	want = syn2
	want.SrcMAC, want.DstMAC, want.Dst = macDirR, macRS2, rip2
	expectFrame(t, out, want)
}

func TestNATUDP(t *testing.T) {
	r := newRig(t, vs.UDP, 53)
	now := r.clk.Now()
	q := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 5353, DPort: 53, Payload: []byte("query")}
	dev, out, _ := step(t, r.w, now, pkt.Build(q))
	want := q
	want.SrcMAC, want.DstMAC, want.Dst = macDirR, macRS1, rip1
	if dev != 1 {
		t.Fatalf("dev %d", dev)
	}
	expectFrame(t, out, want)
	a := pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: cip, Proto: header.ProtoUDP, SPort: 53, DPort: 5353, Payload: []byte("answer")}
	dev, out, _ = step(t, r.wr, now, pkt.Build(a))
	want = a
	want.SrcMAC, want.DstMAC, want.Src, want.TTL = macDirC, macClient, vip, 63
	if dev != 0 {
		t.Fatalf("dev %d", dev)
	}
	expectFrame(t, out, want)
	if r.dests[0].InactConns.Load() != 1 { // UDP connections count as inactive, as in IPVS
		t.Fatalf("udp inact %d", r.dests[0].InactConns.Load())
	}
}

func TestARPForVIP(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	req := make([]byte, 60)
	header.PutARP(req, broadcast, macClient, header.ARPRequest, macClient, cip.As4(), [6]byte{}, vip.As4())
	dev, out, _ := step(t, r.w, r.clk.Now(), req)
	if dev != 0 {
		t.Fatalf("ARP reply on dev %d", dev)
	}
	want := make([]byte, 60)
	header.PutARP(want, macClient, macDirC, header.ARPReply, macDirC, vip.As4(), macClient, cip.As4())
	if !bytes.Equal(out, want) {
		t.Fatalf("ARP reply\n got %x\nwant %x", out, want)
	}
	// A request for some other address is none of our business.
	other := make([]byte, 60)
	header.PutARP(other, broadcast, macClient, header.ARPRequest, macClient, cip.As4(), [6]byte{}, dip1.As4())
	if dev, _, _ := step(t, r.w, r.clk.Now(), other); dev != -1 {
		t.Fatal("answered ARP for a non-VIP")
	}
}

func TestDropsCounted(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	now := r.clk.Now()
	cases := []struct {
		name string
		spec pkt.Spec
		want forward.Reason
	}{
		{"no service on VIP port", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 81, TCPFlags: header.TCPSyn}, forward.DropNoService},
		{"ack without connection", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 2, DPort: 80, TCPFlags: header.TCPAck}, forward.DropNotSyn},
		{"syn-ack to VIP", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 3, DPort: 80, TCPFlags: header.TCPSyn | header.TCPAck}, forward.DropNotSyn},
	}
	for _, c := range cases {
		if _, _, why := step(t, r.w, now, pkt.Build(c.spec)); why != c.want {
			t.Errorf("%s: reason %v, want %v", c.name, why, c.want)
		}
	}
	bad := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, TCPFlags: header.TCPSyn})
	bad[14+10] ^= 1
	if _, _, why := step(t, r.w, now, bad); why != forward.DropDecode {
		t.Errorf("bad checksum: %v", why)
	}
	// Quiesce both dests: weight 0 means no new connections.
	for _, d := range r.dests {
		d.Weight.Store(0)
	}
	r.svc.Sched.Update(r.svc)
	if _, _, why := step(t, r.w, now, pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 9, DPort: 80, TCPFlags: header.TCPSyn})); why != forward.DropNoDest {
		t.Errorf("quiesced: %v", why)
	}
	c := r.d.Counters()
	for _, k := range []string{"no_service", "not_syn", "decode", "no_dest"} {
		if c.Drops[k] == 0 {
			t.Errorf("drop counter %s not counted: %v", k, c.Drops)
		}
	}
	if c.Drops["not_syn"] != 2 {
		t.Errorf("not_syn = %d", c.Drops["not_syn"])
	}
	// Traffic that is not for a VIP nor a connection is ignored, not dropped.
	if _, _, why := step(t, r.w, now, pkt.Build(pkt.Spec{Src: cip, Dst: dip1, Proto: header.ProtoTCP, SPort: 1, DPort: 22, TCPFlags: header.TCPSyn})); why != forward.Pass {
		t.Errorf("host traffic: %v", why)
	}
}

func TestUnresolvedNextHopParks(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	// A client we have never heard of, behind no neighbour entry.
	other := netip.MustParseAddr("198.51.100.77")
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: other, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, TCPFlags: header.TCPSyn}
	step(t, r.w, r.clk.Now(), pkt.Build(syn))
	reply := pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: other, Proto: header.ProtoTCP, SPort: 80, DPort: 1, TCPFlags: header.TCPSyn | header.TCPAck}
	dev, _, why := step(t, r.wr, r.clk.Now(), pkt.Build(reply))
	if dev != -1 || why != forward.Pass {
		t.Fatalf("unresolved: dev %d reason %v", dev, why)
	}
	p := <-r.d.parkCh
	r.d.res.park(p)
	// The resolver asked with ARP on the client side, from the DIP.
	if len(r.cdev.sent) != 1 {
		t.Fatalf("%d frames sent", len(r.cdev.sent))
	}
	var ph header.Parsed
	header.Decode(r.cdev.sent[0], &ph)
	a := header.ARP(r.cdev.sent[0][ph.L3:])
	if a.Op() != header.ARPRequest || a.TargetIP() != other.As4() || a.SenderIP() != dip1.As4() {
		t.Fatalf("bad ARP request %x", r.cdev.sent[0])
	}
	// The answer arrives; the parked SYN-ACK leaves toward the learned MAC.
	mac := pkt.MAC(0x77)
	r.learnARP(t, r.w, other, mac)
	if len(r.cdev.sent) != 2 {
		t.Fatalf("parked frame not flushed: %d frames", len(r.cdev.sent))
	}
	want := reply
	want.SrcMAC, want.DstMAC, want.Src, want.TTL = macDirC, mac, vip, 63
	expectFrame(t, r.cdev.sent[1], want)
}

func TestEstablishedFlowNoAlloc(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	now := r.clk.Now()
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn}
	step(t, r.w, now, pkt.Build(syn))
	in := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck, Payload: make([]byte, 1000)})
	out := pkt.Build(pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: cip, Proto: header.ProtoTCP, SPort: 80, DPort: 40000, TCPFlags: header.TCPAck, Payload: make([]byte, 1000), TTL: 255})
	bin, bout := withHeadroom(in), withHeadroom(out)
	fin, fout := append([]byte(nil), bin...), append([]byte(nil), bout...)
	n := testing.AllocsPerRun(500, func() {
		copy(bin, fin)
		copy(bout, fout)
		if dev, _, _ := r.w.Process(bin, now); dev != 1 {
			t.Fatal("in not forwarded")
		}
		if dev, _, _ := r.wr.Process(bout, now); dev != 0 {
			t.Fatal("out not forwarded")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per established in+out packet pair", n)
	}
}

func BenchmarkProcessEstablished(b *testing.B) {
	r := newRig(b, vs.TCP, 80)
	now := r.clk.Now()
	step(b, r.w, now, pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn}))
	in := withHeadroom(pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck, Payload: make([]byte, 64)}))
	orig := append([]byte(nil), in...)
	b.ReportAllocs()
	for b.Loop() {
		copy(in, orig)
		r.w.Process(in, now)
	}
}

// TestOnePacketUDP: with ipvsadm -o every datagram is scheduled on its own
// and leaves no connection behind.
func TestOnePacketUDP(t *testing.T) {
	r := newRig(t, vs.UDP, 53)
	r.svc.Flags |= vs.SvcOnePacket
	now := r.clk.Now()
	q := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 5353, DPort: 53, Payload: []byte("q")}
	var got []netip.Addr
	for i := 0; i < 4; i++ {
		_, out, why := step(t, r.w, now, pkt.Build(q)) // same source port every time
		if why != forward.Pass {
			t.Fatal(why)
		}
		var p header.Parsed
		header.Decode(out, &p)
		got = append(got, header.AddrFrom16(p.Dst))
	}
	if got[0] != rip1 || got[1] != rip2 || got[2] != rip1 || got[3] != rip2 {
		t.Fatalf("one-packet scheduling went to %v", got)
	}
	if n := r.d.conns.Len(); n != 0 {
		t.Fatalf("%d connections left", n)
	}
	if r.dests[0].InactConns.Load() != 0 || r.dests[0].Stats.Conns.Load() != 2 {
		t.Fatalf("dest counters: inact %d conns %d", r.dests[0].InactConns.Load(), r.dests[0].Stats.Conns.Load())
	}
}

// TestDRConnection: direct routing rewrites only the MACs, keeps the TTL,
// and tracks the connection from the client's packets alone (input-only
// transitions): SYN then ACK reach ESTABLISHED.
func TestDRConnection(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	for _, d := range r.dests {
		d.Fwd.Store(uint32(vs.DirectRoute))
	}
	now := r.clk.Now()
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, TTL: 17}
	out := mustStep(t, r.w, now, pkt.Build(syn), 1, forward.Pass)
	want := syn
	want.SrcMAC, want.DstMAC = macDirR, macRS1
	expectFrame(t, out, want)
	ack := syn
	ack.TCPFlags, ack.Payload = header.TCPAck, []byte("x")
	_, out, _ = step(t, r.w, now, pkt.Build(ack))
	want = ack
	want.SrcMAC, want.DstMAC = macDirR, macRS1
	expectFrame(t, out, want)
	var c *conntrack.Conn
	r.d.conns.Range(func(x *conntrack.Conn) bool { c = x; return false })
	if c == nil || c.StateName() != "ESTABLISHED" || c.Fwd != vs.DirectRoute {
		t.Fatalf("conn %+v state %s", c, c.StateName())
	}
	if r.dests[0].ActiveConns.Load() != 1 {
		t.Fatalf("active %d", r.dests[0].ActiveConns.Load())
	}
}

// TestTunnel: -i wraps the untouched client packet in an outer IPv4 header
// from the director's source toward the real server, protocol 4.
func TestTunnel(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	for _, d := range r.dests {
		d.Fwd.Store(uint32(vs.Tunnel))
	}
	syn := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, TTL: 33, DF: true})
	inner := append([]byte(nil), syn[14:]...)
	out := mustStep(t, r.w, r.clk.Now(), syn, 1, forward.Pass)
	var p header.Parsed
	if st := header.Decode(out, &p); st != header.OK {
		t.Fatal(st)
	}
	if p.Proto != header.ProtoIPIP || header.AddrFrom16(p.Src) != dip2 || header.AddrFrom16(p.Dst) != rip1 || p.TTL != 33 {
		t.Fatalf("outer %+v", p)
	}
	if e := header.Ethernet(out); e.Dst() != macRS1 || e.Src() != macDirR {
		t.Fatalf("MACs %x", out[:12])
	}
	if !header.IPv4(out[14:]).DF() || !bytes.Equal(out[34:], inner) {
		t.Fatalf("inner packet changed or DF not copied:\n got %x\nwant %x", out[34:], inner)
	}
	// Established flows stay allocation-free through the tunnel too.
	ack := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck})
	b := withHeadroom(ack)
	orig := append([]byte(nil), b...)
	if n := testing.AllocsPerRun(200, func() {
		copy(b, orig)
		r.w.Process(b, r.clk.Now())
	}); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// icmpOf decodes an ICMP error frame and returns its header fields.
func icmpOf(t *testing.T, f []byte) (p header.Parsed, typ, code uint8, mtu uint16) {
	t.Helper()
	if st := header.Decode(f, &p); st != header.OK || p.Proto != header.ProtoICMP {
		t.Fatalf("not an ICMP frame (%v): %x", st, f)
	}
	l4 := f[p.L4:]
	if header.Checksum(l4[:p.End-p.L4], 0) != 0 {
		t.Fatal("bad ICMP checksum")
	}
	return p, l4[0], l4[1], uint16(l4[6])<<8 | uint16(l4[7])
}

func TestICMPErrors(t *testing.T) {
	t.Run("nat reply ttl expired", func(t *testing.T) {
		r := newRig(t, vs.TCP, 80)
		step(t, r.w, r.clk.Now(), pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, TCPFlags: header.TCPSyn}))
		reply := pkt.Build(pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: cip, Proto: header.ProtoTCP, SPort: 80, DPort: 1, TCPFlags: header.TCPSyn | header.TCPAck, TTL: 1})
		out, p := r.timeExceeded(t, reply)
		if e := header.Ethernet(out); e.Dst() != macRS1 || e.Src() != macDirR {
			t.Fatal("ICMP not sent back to the real server's MAC")
		}
		if !bytes.Equal(out[p.L4+8:p.L4+8+20], reply[14:34]) {
			t.Fatal("the quoted header is not the reply as received")
		}
	})
	t.Run("nat request too big with DF", func(t *testing.T) {
		r := newRig(t, vs.UDP, 53)
		big := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 9, DPort: 53, DF: true, Payload: make([]byte, 1600)})
		step(t, r.w, r.clk.Now(), pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 9, DPort: 53})) // creates the connection
		out := mustStep(t, r.w, r.clk.Now(), big, 0, forward.DropMTU)
		p, typ, code, mtu := icmpOf(t, out)
		if typ != 3 || code != 4 || mtu != 1500 || header.AddrFrom16(p.Src) != vip || header.AddrFrom16(p.Dst) != cip {
			t.Fatalf("frag needed %d/%d mtu %d from %v", typ, code, mtu, header.AddrFrom16(p.Src))
		}
		// The quoted packet is the one the client sent (to the VIP, not rewritten).
		if !bytes.Equal(out[p.L4+8:p.L4+8+20], big[14:34]) {
			t.Fatal("quoted header differs from the client's packet")
		}
	})
	t.Run("tunnel inner too big", func(t *testing.T) {
		r := newRig(t, vs.TCP, 80)
		for _, d := range r.dests {
			d.Fwd.Store(uint32(vs.Tunnel))
		}
		step(t, r.w, r.clk.Now(), pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 2, DPort: 80, TCPFlags: header.TCPSyn}))
		big := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 2, DPort: 80, TCPFlags: header.TCPAck, DF: true, Payload: make([]byte, 1500-40)})
		out := mustStep(t, r.w, r.clk.Now(), big, 0, forward.DropMTU)
		_, typ, code, mtu := icmpOf(t, out)
		if typ != 3 || code != 4 || mtu != 1480 {
			t.Fatalf("tunnel frag needed %d/%d mtu %d, want 3/4 1480", typ, code, mtu)
		}
	})
}

// quote is what an ICMP error quotes of a frame: its IP header and 8 bytes.
func quote(frame []byte) []byte { return append([]byte(nil), frame[14:14+28]...) }

// TestICMPTranslation: errors about a NAT connection reach the other party
// as if the director were not there, the quoted packet rewritten too.
func TestICMPTranslation(t *testing.T) {
	r := newRig(t, vs.UDP, 53)
	now := r.clk.Now()
	q := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 5353, DPort: 53, Payload: []byte("query")}
	client := pkt.Build(q)
	_, atRS, _ := step(t, r.w, now, client) // the connection; atRS is what rs1 received
	atRS = append([]byte(nil), atRS...)

	// rs1 answers with port unreachable quoting what it received.
	unreach := pkt.Build(pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: cip, Proto: header.ProtoICMP, ICMPType: 3, ICMPCode: 3, Payload: quote(atRS)})
	out := mustStep(t, r.wr, now, unreach, 0, forward.Pass)
	expectFrame(t, out, pkt.Spec{SrcMAC: macDirC, DstMAC: macClient, Src: vip, Dst: cip, Proto: header.ProtoICMP, ICMPType: 3, ICMPCode: 3, TTL: 63, Payload: quote(client)})

	// The client answers a reply with port unreachable; rs1 gets it about
	// its own packet.
	reply := pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: cip, Proto: header.ProtoUDP, SPort: 53, DPort: 5353, Payload: []byte("answer")}
	_, atClient, _ := step(t, r.wr, now, pkt.Build(reply))
	atClient = append([]byte(nil), atClient...)
	fromClient := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoICMP, ICMPType: 3, ICMPCode: 3, Payload: quote(atClient)})
	out = mustStep(t, r.w, now, fromClient, 1, forward.Pass)
	reply.TTL = 63 // as the client received (and quoted) it
	expectFrame(t, out, pkt.Spec{SrcMAC: macDirR, DstMAC: macRS1, Src: cip, Dst: rip1, Proto: header.ProtoICMP, ICMPType: 3, ICMPCode: 3, Payload: quote(pkt.Build(reply))})

	// An error to the VIP about nothing we track is dropped and counted.
	stray := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoICMP, ICMPType: 3, ICMPCode: 3,
		Payload: quote(pkt.Build(pkt.Spec{Src: vip, Dst: cip, Proto: header.ProtoUDP, SPort: 53, DPort: 9999}))})
	if _, _, why := step(t, r.w, now, stray); why != forward.DropICMP {
		t.Fatalf("unrelated error: %v", why)
	}
}

// p2pDev is a point-to-point (TUN) device.
type p2pDev struct{ fakeDev }

func (*p2pDev) PointToPoint() bool { return true }

// TestPointToPoint: fed by a TUN device, every packet goes back to it (the
// host routes it), NAT and tunnelling alike, with no neighbour resolution.
func TestPointToPoint(t *testing.T) {
	tdev := &p2pDev{fakeDev{name: "gdtun0", index: 7, mac: pkt.MAC(0x70)}}
	var tbl atomic.Pointer[vs.Table]
	rrService(t, &tbl, vs.TCP, vip, 80, vs.NewDest(rip1, 80, vs.Masq, 1), vs.NewDest(rip2, 80, vs.Tunnel, 1))
	router := &staticRouter{routes: map[netip.Prefix]Route{ // routes leave by interfaces 1 and 2, not the TUN device
		netip.MustParsePrefix("198.51.100.0/24"): {IfIndex: 1, Src: dip1},
		netip.MustParsePrefix("203.0.113.0/24"):  {IfIndex: 2, Src: dip2},
	}}
	d, err := New(Config{Devices: []link.Device{tdev}, Table: &tbl, Conns: conntrack.NewTable(conntrack.Options{}), Clock: clock.NewFake(1), Router: router})
	if err != nil {
		t.Fatal(err)
	}
	if !d.PointToPoint() {
		t.Fatal("not point-to-point")
	}
	for _, a := range []netip.Addr{cip, rip1, rip2} {
		if d.res.want(a.As16()) != nil {
			t.Fatalf("%v not resolved through the TUN device", a)
		}
	}
	w := d.workers[0]
	syn := func(port uint16) []byte {
		return pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: port, DPort: 80, TCPFlags: header.TCPSyn})
	}
	// rr: rs1 (NAT) first, then rs2 (tunnel).
	dev, out, why := step(t, w, 1, syn(1))
	var p header.Parsed
	header.Decode(out, &p)
	if dev != 0 || why != forward.Pass || header.AddrFrom16(p.Dst) != rip1 {
		t.Fatalf("nat: dev %d %v dst %v", dev, why, header.AddrFrom16(p.Dst))
	}
	dev, out, why = step(t, w, 1, syn(2))
	header.Decode(out, &p)
	if dev != 0 || why != forward.Pass || p.Proto != header.ProtoIPIP || header.AddrFrom16(p.Src) != dip2 || header.AddrFrom16(p.Dst) != rip2 {
		t.Fatalf("tunnel: dev %d %v outer %+v", dev, why, p)
	}
}

func TestFullNAT(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	for _, d := range r.dests {
		d.Fwd.Store(uint32(vs.FullNAT))
	}
	now := r.clk.Now()
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn}
	if _, _, why := step(t, r.w, now, pkt.Build(syn)); why != forward.DropNoLAddr {
		t.Fatalf("no local address: %v", why)
	}
	laddr := netip.MustParseAddr("203.0.113.100")
	r.svc.LAddrs = []*vs.LocalAddr{vs.NewLocalAddr(laddr, "")}
	out := mustStep(t, r.w, now, pkt.Build(syn), 1, forward.Pass)
	var p header.Parsed
	header.Decode(out, &p)
	// The refused SYN was scheduled (rr moved on) before the local address
	// was missing, so this connection goes to rs2.
	if header.AddrFrom16(p.Src) != laddr || header.AddrFrom16(p.Dst) != rip2 || p.DPort != 80 || !header.L4ChecksumOK(out, &p) {
		t.Fatalf("in: %v:%d → %v:%d", header.AddrFrom16(p.Src), p.SPort, header.AddrFrom16(p.Dst), p.DPort)
	}
	lport := p.SPort
	// The reply comes back to the local address and leaves from the VIP.
	synack := pkt.Spec{SrcMAC: macRS2, DstMAC: macDirR, Src: rip2, Dst: laddr, Proto: header.ProtoTCP, SPort: 80, DPort: lport, TCPFlags: header.TCPSyn | header.TCPAck}
	dev, out, _ := step(t, r.wr, now, pkt.Build(synack))
	want := pkt.Spec{SrcMAC: macDirC, DstMAC: macClient, Src: vip, Dst: cip, Proto: header.ProtoTCP, SPort: 80, DPort: 40000, TCPFlags: header.TCPSyn | header.TCPAck, TTL: 63}
	if dev != 0 {
		t.Fatalf("reply dev %d", dev)
	}
	expectFrame(t, out, want)
	// The handshake's last ACK carries the client's address (TOA).
	ack := syn
	ack.TCPFlags = header.TCPAck
	in := pkt.Build(ack)
	_, out, _ = step(t, r.w, now, in)
	if len(out) != len(in)+8 {
		t.Fatalf("ACK %d bytes, want %d with TOA", len(out), len(in)+8)
	}
	header.Decode(out, &p)
	opt := out[p.L4+20 : p.Payload]
	if len(opt) != 8 || opt[0] != 254 || opt[1] != 8 || netip.AddrFrom4([4]byte(opt[4:8])) != cip || !header.L4ChecksumOK(out, &p) {
		t.Fatalf("TOA option %x", opt)
	}
	// Established flows allocate nothing.
	data := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck | header.TCPPsh, Payload: make([]byte, 100)})
	b := withHeadroom(data)
	orig := append([]byte(nil), b...)
	if n := testing.AllocsPerRun(200, func() {
		copy(b, orig)
		r.w.Process(b, now)
	}); n != 0 {
		t.Fatalf("%v allocs", n)
	}
	if r.svc.LAddrs[0].Conns.Load() != 1 {
		t.Fatalf("laddr conns %d", r.svc.LAddrs[0].Conns.Load())
	}
	r.d.conns.Range(func(c *conntrack.Conn) bool { r.d.conns.Delete(c); ConnRemoved(c); return true })
	if r.svc.LAddrs[0].Conns.Load() != 0 {
		t.Fatalf("laddr conns after removal %d", r.svc.LAddrs[0].Conns.Load())
	}
}

// TestICMPTranslationFullNAT: both ends of the outer and the quoted packet
// are translated for a FullNAT connection.
func TestICMPTranslationFullNAT(t *testing.T) {
	r := newRig(t, vs.UDP, 53)
	laddr := netip.MustParseAddr("203.0.113.100")
	r.svc.LAddrs = []*vs.LocalAddr{vs.NewLocalAddr(laddr, "")}
	for _, d := range r.dests {
		d.Fwd.Store(uint32(vs.FullNAT))
	}
	now := r.clk.Now()
	client := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 5353, DPort: 53, Payload: []byte("q")})
	_, atRS, _ := step(t, r.w, now, client)
	atRS = append([]byte(nil), atRS...)
	var p header.Parsed
	header.Decode(atRS, &p)
	lport := p.SPort
	unreach := pkt.Build(pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: laddr, Proto: header.ProtoICMP, ICMPType: 3, ICMPCode: 3, Payload: quote(atRS)})
	out := mustStep(t, r.wr, now, unreach, 0, forward.Pass)
	expectFrame(t, out, pkt.Spec{SrcMAC: macDirC, DstMAC: macClient, Src: vip, Dst: cip, Proto: header.ProtoICMP, ICMPType: 3, ICMPCode: 3, TTL: 63, Payload: quote(client)})

	reply := pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: laddr, Proto: header.ProtoUDP, SPort: 53, DPort: lport, Payload: []byte("a")}
	_, atClient, _ := step(t, r.wr, now, pkt.Build(reply))
	atClient = append([]byte(nil), atClient...)
	fromClient := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoICMP, ICMPType: 3, ICMPCode: 3, Payload: quote(atClient)})
	out = mustStep(t, r.w, now, fromClient, 1, forward.Pass)
	reply.TTL = 63
	expectFrame(t, out, pkt.Spec{SrcMAC: macDirR, DstMAC: macRS1, Src: laddr, Dst: rip1, Proto: header.ProtoICMP, ICMPType: 3, ICMPCode: 3, Payload: quote(pkt.Build(reply))})
}

// TestRemovedDestConnection: as ip_vs_in does, a client packet of a
// connection whose real server was removed is dropped (nodest_conn) while
// replies still pass; with expire_nodest_conn the connection is expired
// and the packet scheduled afresh: a SYN reaches the remaining real
// server, anything else is dropped as not_syn.
func TestRemovedDestConnection(t *testing.T) {
	for _, expire := range []bool{false, true} {
		t.Run(fmt.Sprintf("expire_nodest_conn=%v", expire), func(t *testing.T) {
			r := newRig(t, vs.TCP, 80)
			r.d.expireNodest = expire
			now := r.clk.Now()
			syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, Seq: 1}
			want := syn
			want.SrcMAC, want.DstMAC, want.Dst = macDirR, macRS1, rip1
			expectFrame(t, mustStep(t, r.w, now, pkt.Build(syn), 1, forward.Pass), want)
			// ipvsadm -d of rs1: the control plane clears Available.
			r.dests[0].Flags.Store(r.dests[0].Flags.Load() &^ vs.DestAvailable)
			ack := syn
			ack.TCPFlags, ack.Seq = header.TCPAck, 2
			reply := pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: cip, Proto: header.ProtoTCP, SPort: 80, DPort: 40000, TCPFlags: header.TCPSyn | header.TCPAck, Seq: 9, Ack: 2}
			if !expire {
				mustStep(t, r.w, now, pkt.Build(ack), -1, forward.DropNodestConn)
				mustStep(t, r.wr, now, pkt.Build(reply), 0, forward.Pass)
				mustStep(t, r.w, now, pkt.Build(syn), -1, forward.DropNodestConn)
				if n := r.d.conns.Len(); n != 1 {
					t.Fatalf("%d connections, want the one kept until it times out", n)
				}
				return
			}
			mustStep(t, r.w, now, pkt.Build(ack), -1, forward.DropNotSyn)
			if n := r.d.conns.Len(); n != 0 {
				t.Fatalf("%d connections after expiry, want 0", n)
			}
			want.DstMAC, want.Dst = macRS2, rip2
			expectFrame(t, mustStep(t, r.w, now, pkt.Build(syn), 1, forward.Pass), want)
		})
	}
}

// TestNATSharedOutKey: one client port reaching one real server through
// two services (VIP:8016 and VIP:8017, both NAT to rs1:80), the first
// connection closed but lingering in TIME_WAIT. The kernel takes the
// second connection and answers the real server's replies from the newest
// (its hash chains put new connections first). gdirector used to refuse
// it — the client's SYNs were dropped for the two minutes of TIME_WAIT,
// the cause of a flaky end-to-end test whose client happened to reuse a
// port.
func TestNATSharedOutKey(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	var svcs []*vs.Service
	for _, port := range []uint16{8016, 8017} {
		svcs = append(svcs, rrService(t, &r.tbl, vs.TCP, vip, port, vs.NewDest(rip1, 80, vs.Masq, 1)))
	}
	r.tbl.Store(vs.NewTable(svcs))
	now := r.clk.Now()
	from := func(dport uint16, flags uint8, seq uint32) []byte {
		return pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP,
			SPort: 40000, DPort: dport, TCPFlags: flags, Seq: seq})
	}
	reply := func(flags uint8) []byte {
		return pkt.Build(pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: cip, Proto: header.ProtoTCP,
			SPort: 80, DPort: 40000, TCPFlags: flags, Seq: 9})
	}
	vportOf := func(frame []byte) uint16 {
		var p header.Parsed
		if st := header.Decode(frame, &p); st != header.OK {
			t.Fatal(st)
		}
		if header.AddrFrom16(p.Src) != vip {
			t.Fatalf("reply from %v, want the VIP", header.AddrFrom16(p.Src))
		}
		return p.SPort
	}
	// The first connection, to :8016: opened, then closed by the client
	// first (the director's entry then waits in TIME_WAIT).
	mustStep(t, r.w, now, from(8016, header.TCPSyn, 1), 1, forward.Pass)
	if got := vportOf(mustStep(t, r.wr, now, reply(header.TCPSyn|header.TCPAck), 0, forward.Pass)); got != 8016 {
		t.Fatalf("SYN-ACK of the first connection from port %d", got)
	}
	mustStep(t, r.w, now, from(8016, header.TCPAck, 2), 1, forward.Pass)
	mustStep(t, r.w, now, from(8016, header.TCPFin|header.TCPAck, 2), 1, forward.Pass)
	mustStep(t, r.wr, now, reply(header.TCPFin|header.TCPAck), 0, forward.Pass)
	mustStep(t, r.w, now, from(8016, header.TCPAck, 3), 1, forward.Pass)
	// The second, to :8017, from the same port: scheduled, and the real
	// server's replies are now its.
	mustStep(t, r.w, now, from(8017, header.TCPSyn, 100), 1, forward.Pass)
	if got := vportOf(mustStep(t, r.wr, now, reply(header.TCPSyn|header.TCPAck), 0, forward.Pass)); got != 8017 {
		t.Fatalf("SYN-ACK of the second connection from port %d, want 8017", got)
	}
	if n := r.d.conns.Len(); n != 2 {
		t.Fatalf("%d connections, want both", n)
	}
	if a, b := svcs[0].Dests[0].Stats.Conns.Load(), svcs[1].Dests[0].Stats.Conns.Load(); a != 1 || b != 1 {
		t.Fatalf("connections counted %d, %d", a, b)
	}
	// The second one reset: the replies belong to the first again, as
	// in the kernel once the newer entry is unhashed.
	mustStep(t, r.w, now, from(8017, header.TCPRst, 101), 1, forward.Pass)
	var second *conntrack.Conn
	r.d.conns.Range(func(c *conntrack.Conn) bool {
		if c.VPort == 8017 {
			second = c
		}
		return true
	})
	r.d.conns.Delete(second)
	if got := vportOf(mustStep(t, r.wr, now, reply(header.TCPAck), 0, forward.Pass)); got != 8016 {
		t.Fatalf("reply from port %d after the second connection went, want 8016", got)
	}
}

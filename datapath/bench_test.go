package datapath

import (
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
	"github.com/gdirector/gdirector/vs"
)

// The whole per-packet pipeline (decode, connection lookup or scheduling,
// state update, method rewrite, statistics, next hop and Ethernet
// rewrite) through Worker.Process, on the in-memory devices of the test
// rig, for each forwarding method: established flows in both directions
// (0 allocations, checked by TestProcessAllocs) and connection-opening
// SYNs.

var benchMethods = []vs.FwdMethod{vs.Masq, vs.DirectRoute, vs.Tunnel, vs.FullNAT}

// benchName is the method's name in benchmark names.
var benchName = map[vs.FwdMethod]string{vs.Masq: "nat", vs.DirectRoute: "dr", vs.Tunnel: "tun", vs.FullNAT: "fullnat"}

var benchLAddr = netip.MustParseAddr("203.0.113.100")

// methodRig is a rig whose dests use method m (with a local address for
// FullNAT).
func methodRig(tb testing.TB, m vs.FwdMethod) *rig {
	tb.Helper()
	r := newRig(tb, vs.TCP, 80)
	for _, d := range r.dests {
		d.Fwd.Store(uint32(m))
	}
	if m == vs.FullNAT {
		r.svc.LAddrs = []*vs.LocalAddr{vs.NewLocalAddr(benchLAddr, "")}
	}
	return r
}

// establish opens a connection from the client port and returns the frame
// of its next client packet and of its real server's next reply (nil for
// DR and TUN, whose replies do not come back), both with headroom.
func establish(tb testing.TB, r *rig, m vs.FwdMethod, port uint16) (in, out []byte) {
	tb.Helper()
	now := r.clk.Now()
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: port, DPort: 80, TCPFlags: header.TCPSyn}
	o := mustStep(tb, r.w, now, pkt.Build(syn), 1, forward.Pass)
	replies := m == vs.Masq || m == vs.FullNAT
	var reply pkt.Spec
	if replies {
		var p header.Parsed
		header.Decode(o, &p)
		rs := header.AddrFrom16(p.Dst)
		mac := map[netip.Addr][6]byte{rip1: macRS1, rip2: macRS2}[rs]
		reply = pkt.Spec{SrcMAC: mac, DstMAC: macDirR, Src: rs, Dst: header.AddrFrom16(p.Src), Proto: header.ProtoTCP,
			SPort: p.DPort, DPort: p.SPort, TCPFlags: header.TCPSyn | header.TCPAck}
		mustStep(tb, r.wr, now, pkt.Build(reply), 0, forward.Pass)
	}
	ack := syn
	ack.TCPFlags = header.TCPAck
	mustStep(tb, r.w, now, pkt.Build(ack), 1, forward.Pass)
	data := syn
	data.TCPFlags, data.Payload = header.TCPAck|header.TCPPsh, make([]byte, 64)
	in = withHeadroom(pkt.Build(data))
	if replies {
		reply.TCPFlags, reply.Payload = header.TCPAck|header.TCPPsh, make([]byte, 64)
		out = withHeadroom(pkt.Build(reply))
	}
	var c *conntrack.Conn
	r.d.conns.Range(func(x *conntrack.Conn) bool {
		if x.CPort == port {
			c = x
		}
		return c == nil
	})
	if c == nil || c.StateName() != "ESTABLISHED" {
		tb.Fatalf("%v: connection not established: %+v", m, c)
	}
	return in, out
}

// replay returns a function that processes frame (restored first: Process
// rewrites it in place) through w and checks it leaves by device dev.
func replay(tb testing.TB, w *Worker, r *rig, frame []byte, dev int) func() {
	orig := append([]byte(nil), frame...)
	now := r.clk.Now()
	return func() {
		copy(frame, orig)
		if d, _, why := w.Process(frame, now); d != dev {
			tb.Fatalf("frame left by device %d (%v), want %d", d, why, dev)
		}
	}
}

// TestProcessAllocs: an established flow's packets, in each direction and
// for each method, go through the whole pipeline without allocating.
func TestProcessAllocs(t *testing.T) {
	for _, m := range benchMethods {
		r := methodRig(t, m)
		in, out := establish(t, r, m, 40000)
		if n := testing.AllocsPerRun(500, replay(t, r.w, r, in, 1)); n != 0 {
			t.Errorf("%v client packet: %v allocs", m, n)
		}
		if out != nil {
			if n := testing.AllocsPerRun(500, replay(t, r.wr, r, out, 0)); n != 0 {
				t.Errorf("%v reply: %v allocs", m, n)
			}
		}
	}
}

func reportPPS(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkProcess: per method, an established flow's client packet
// ("in"), its reply ("out", NAT and FullNAT), and a connection-opening SYN
// from a new client port each time ("new": scheduling, connection
// creation, and for FullNAT the local port).
func BenchmarkProcess(b *testing.B) {
	for _, m := range benchMethods {
		b.Run(benchName[m]+"/in", func(b *testing.B) {
			r := methodRig(b, m)
			in, _ := establish(b, r, m, 40000)
			run := replay(b, r.w, r, in, 1)
			b.ReportAllocs()
			for b.Loop() {
				run()
			}
			reportPPS(b)
		})
		if m == vs.Masq || m == vs.FullNAT {
			b.Run(benchName[m]+"/out", func(b *testing.B) {
				r := methodRig(b, m)
				_, out := establish(b, r, m, 40000)
				run := replay(b, r.wr, r, out, 0)
				b.ReportAllocs()
				for b.Loop() {
					run()
				}
				reportPPS(b)
			})
		}
		b.Run(benchName[m]+"/new", func(b *testing.B) {
			r := methodRig(b, m)
			r.d.conns = conntrack.NewTable(conntrack.Options{Capacity: 1 << 17, OnRemove: ConnRemoved})
			syn := withHeadroom(pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1024, DPort: 80, TCPFlags: header.TCPSyn}))
			orig := append([]byte(nil), syn...)
			var p0, p header.Parsed
			header.Decode(orig[link.Headroom:], &p0)
			now := r.clk.Now()
			port := 1024
			b.ReportAllocs()
			for b.Loop() {
				if port == 65536 {
					b.StopTimer()
					r.d.conns.Flush()
					port = 1024
					b.StartTimer()
				}
				copy(syn, orig)
				// A new client port: the TCP checksum follows the port.
				p = p0
				header.RewriteAddrPort(syn[link.Headroom:], &p, true, p.Src, uint16(port))
				port++
				if d, _, why := r.w.Process(syn, now); d != 1 {
					b.Fatalf("SYN left by device %d (%v)", d, why)
				}
			}
			reportPPS(b)
		})
	}
}

// BenchmarkProcessParallel runs established NAT flows through several
// lanes' workers at once (one goroutine each, distinct flows, one shared
// connection table): how the per-packet pipeline scales with workers.
func BenchmarkProcessParallel(b *testing.B) {
	const lanes = 8
	var tbl atomic.Pointer[vs.Table]
	dests := []*vs.Dest{vs.NewDest(rip1, 80, vs.Masq, 1), vs.NewDest(rip2, 80, vs.Masq, 1)}
	rrService(b, &tbl, vs.TCP, vip, 80, dests...)
	devs := func() []link.Device {
		return []link.Device{&fakeDev{name: "eth0", index: 1, mac: macDirC}, &fakeDev{name: "eth1", index: 2, mac: macDirR}}
	}
	var queues [][]link.Device
	for range lanes - 1 {
		queues = append(queues, devs())
	}
	clk := clock.NewFake(1_000_000_000)
	d, err := New(Config{
		Devices: devs(), Queues: queues, Table: &tbl, Clock: clk,
		Conns: conntrack.NewTable(conntrack.Options{Capacity: 1 << 16}),
		Router: &staticRouter{
			routes: map[netip.Prefix]Route{
				netip.MustParsePrefix("198.51.100.0/24"): {IfIndex: 1, Src: dip1},
				netip.MustParsePrefix("203.0.113.0/24"):  {IfIndex: 2, Src: dip2},
			},
			neigh: map[netip.Addr][6]byte{cip: macClient, rip1: macRS1, rip2: macRS2},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, a := range []netip.Addr{cip, rip1, rip2} {
		if d.res.want(a.As16()) != nil {
			b.Fatalf("%v not resolved", a)
		}
	}
	var next atomic.Int32
	now := clk.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		k := int(next.Add(1)-1) % lanes
		w := d.lanes[k].workers[0]
		port := uint16(30000 + k)
		syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: port, DPort: 80, TCPFlags: header.TCPSyn}
		if dv, _, why := w.Process(withHeadroom(pkt.Build(syn)), now); dv != 1 {
			panic(fmt.Sprintf("SYN: %v", why))
		}
		data := syn
		data.TCPFlags, data.Payload = header.TCPAck, make([]byte, 64)
		in := withHeadroom(pkt.Build(data))
		orig := append([]byte(nil), in...)
		for pb.Next() {
			copy(in, orig)
			if dv, _, _ := w.Process(in, now); dv != 1 {
				panic("not forwarded")
			}
		}
	})
	reportPPS(b)
}

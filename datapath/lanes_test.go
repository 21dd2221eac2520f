package datapath

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/forward/fullnat"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/internal/pkt"
	"github.com/gdirector/gdirector/link"
	"github.com/gdirector/gdirector/link/linktest"
	"github.com/gdirector/gdirector/vs"
)

// TestLanesSplitDirections runs the director with two lanes, each serving
// its own device on both interfaces (as two sockets of a PACKET_FANOUT
// group would), and sends every flow's client packets through one lane and
// its real server's replies through the other, for many flows at once:
// the worst case the fanout hash can produce, since the two directions of
// a NAT or FullNAT connection are different tuples. Both lanes create,
// look up and update connections of the shared table concurrently (run
// with -race). Every flow must complete its handshake and exchange, its
// packets must all reach the same real server and come back rewritten to
// the VIP, and the counters of the table, the dests and the lanes must add
// up exactly.
func TestLanesSplitDirections(t *testing.T) {
	for _, m := range []vs.FwdMethod{vs.Masq, vs.FullNAT} {
		t.Run(m.String(), func(t *testing.T) { testLanes(t, m, 600) })
	}
}

func testLanes(t *testing.T, method vs.FwdMethod, flows int) {
	laddr := netip.MustParseAddr("203.0.113.100")
	var cdev, rdev [2]*linktest.Device
	for k := range cdev {
		cdev[k] = linktest.New(fmt.Sprintf("eth0q%d", k), macDirC)
		rdev[k] = linktest.New(fmt.Sprintf("eth1q%d", k), macDirR)
	}
	var tbl atomic.Pointer[vs.Table]
	dests := []*vs.Dest{vs.NewDest(rip1, 80, method, 1), vs.NewDest(rip2, 80, method, 1)}
	svc := rrService(t, &tbl, vs.TCP, vip, 80, dests...)
	if method == vs.FullNAT {
		svc.LAddrs = []*vs.LocalAddr{vs.NewLocalAddr(laddr, "")}
		tbl.Store(vs.NewTable([]*vs.Service{svc}))
	}
	router := &staticRouter{
		routes: map[netip.Prefix]Route{
			netip.MustParsePrefix("198.51.100.0/24"): {IfIndex: cdev[0].Index(), Src: dip1},
			netip.MustParsePrefix("203.0.113.0/24"):  {IfIndex: rdev[0].Index(), Src: dip2},
		},
		neigh: map[netip.Addr][6]byte{cip: macClient, rip1: macRS1, rip2: macRS2},
	}
	conns := conntrack.NewTable(conntrack.Options{Capacity: 4 * flows, OnRemove: ConnRemoved})
	d, err := New(Config{
		Devices: []link.Device{cdev[0], rdev[0]},
		Queues:  [][]link.Device{{cdev[1], rdev[1]}},
		Table:   &tbl, Conns: conns, Clock: clock.Real{}, Router: router,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.Lanes() != 2 || len(d.workers) != 4 {
		t.Fatalf("%d lanes, %d workers", d.Lanes(), len(d.workers))
	}
	for _, l := range d.lanes {
		if l.poller == nil {
			t.Fatal("lane devices not multiplexed")
		}
	}
	for _, a := range []netip.Addr{cip, rip1, rip2} {
		if d.res.want(a.As16()) != nil {
			t.Fatalf("%v not resolved", a)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-runErr; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	defer stop()

	const base = 10000
	laneOf := func(port uint16) int { return int(port-base) % 2 } // the lane of the client's packets
	var (
		mu       sync.Mutex
		rsOf     = map[uint16]netip.Addr{} // flow (client port) → its real server
		done     = map[uint16]bool{}
		problems []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	deadline := time.Now().Add(30 * time.Second)
	var finished atomic.Bool
	var wg sync.WaitGroup

	// The real servers: they see what each lane sends toward them and
	// answer through the other lane.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !finished.Load() && time.Now().Before(deadline) {
			for k, dv := range rdev {
				for _, f := range dv.Drain(time.Millisecond) {
					var p header.Parsed
					if header.Decode(f, &p) != header.OK || p.Proto != header.ProtoTCP {
						continue
					}
					dst, src := header.AddrFrom16(p.Dst), header.AddrFrom16(p.Src)
					if (dst != rip1 && dst != rip2) || p.DPort != 80 || !header.L4ChecksumOK(f, &p) || !ipv4HeaderOK(f, &p) {
						fail("to the real servers: bad frame %v:%d → %v:%d", src, p.SPort, dst, p.DPort)
						continue
					}
					port := p.SPort
					if method == vs.FullNAT {
						if src != laddr {
							fail("FullNAT source %v, want the local address", src)
							continue
						}
					} else {
						if src != cip {
							fail("NAT source %v, want the client", src)
							continue
						}
						if laneOf(port) != k {
							fail("flow %d: client packet sent by lane %d", port, k)
						}
						mu.Lock()
						if rs, ok := rsOf[port]; ok && rs != dst {
							problems = append(problems, fmt.Sprintf("flow %d moved from %v to %v", port, rs, dst))
						}
						rsOf[port] = dst
						mu.Unlock()
					}
					mac := map[netip.Addr][6]byte{rip1: macRS1, rip2: macRS2}[dst]
					if e := header.Ethernet(f); e.Dst() != mac || e.Src() != macDirR {
						fail("L2 toward %v: %x", dst, f[:12])
					}
					reply := pkt.Spec{SrcMAC: mac, DstMAC: macDirR, Src: dst, Dst: src, Proto: header.ProtoTCP, SPort: 80, DPort: p.SPort}
					switch payload := f[p.Payload:p.End]; {
					case p.TCPFlags == header.TCPSyn:
						reply.TCPFlags = header.TCPSyn | header.TCPAck
					case bytes.Equal(payload, []byte("req")):
						reply.TCPFlags, reply.Payload = header.TCPAck|header.TCPPsh, []byte("resp")
					default:
						continue
					}
					rdev[1-k].Inject(pkt.Build(reply))
				}
			}
		}
	}()

	// The client: it sees what each lane sends back, checks it came by the
	// other lane than its own packets, and goes on with the flow.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !finished.Load() && time.Now().Before(deadline) {
			for k, dv := range cdev {
				for _, f := range dv.Drain(time.Millisecond) {
					var p header.Parsed
					if header.Decode(f, &p) != header.OK || p.Proto != header.ProtoTCP {
						continue
					}
					port := p.DPort
					if header.AddrFrom16(p.Src) != vip || p.SPort != 80 || header.AddrFrom16(p.Dst) != cip ||
						!header.L4ChecksumOK(f, &p) || !ipv4HeaderOK(f, &p) {
						fail("to the client: bad frame %v:%d → %v:%d", header.AddrFrom16(p.Src), p.SPort, header.AddrFrom16(p.Dst), port)
						continue
					}
					if e := header.Ethernet(f); e.Dst() != macClient || e.Src() != macDirC {
						fail("L2 toward the client: %x", f[:12])
					}
					a := laneOf(port)
					if k != 1-a {
						fail("flow %d: reply sent by lane %d, its client packets by lane %d", port, k, a)
					}
					switch {
					case p.TCPFlags == header.TCPSyn|header.TCPAck:
						cdev[a].Inject(pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP,
							SPort: port, DPort: 80, TCPFlags: header.TCPAck | header.TCPPsh, Payload: []byte("req")}))
					case bytes.Equal(f[p.Payload:p.End], []byte("resp")):
						mu.Lock()
						done[port] = true
						if len(done) == flows {
							finished.Store(true)
						}
						mu.Unlock()
					}
				}
			}
		}
	}()

	// The client opens every flow, in bursts the queues can hold.
	for i := 0; i < flows && time.Now().Before(deadline); i++ {
		port := uint16(base + i)
		for cdev[0].Pending()+cdev[1].Pending() > 256 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
		cdev[laneOf(port)].Inject(pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP,
			SPort: port, DPort: 80, TCPFlags: header.TCPSyn}))
	}
	wg.Wait()
	stop()
	for _, p := range problems {
		t.Error(p)
	}
	if len(done) != flows {
		t.Fatalf("%d of %d flows completed", len(done), flows)
	}
	for k := range cdev {
		for _, dv := range []*linktest.Device{cdev[k], rdev[k]} {
			if st := dv.Stats(); st.Dropped != 0 || st.WriteLost != 0 {
				t.Fatalf("%s dropped frames: %+v", dv.Name(), st)
			}
		}
	}

	// The table: one established connection per flow, spread evenly.
	if n := conns.Len(); n != flows {
		t.Fatalf("%d connections, want %d", n, flows)
	}
	states := map[string]int{}
	conns.Range(func(c *conntrack.Conn) bool { states[c.StateName()]++; return true })
	if states["ESTABLISHED"] != flows {
		t.Fatalf("connection states %v", states)
	}
	var active int64
	for _, dst := range dests {
		if dst.InactConns.Load() != 0 {
			t.Errorf("%v: %d inactive connections", dst.Addr, dst.InactConns.Load())
		}
		active += int64(dst.ActiveConns.Load())
		if in, out := dst.Stats.InPkts.Load(), dst.Stats.OutPkts.Load(); in != out || in != dst.Stats.Conns.Load()*2 {
			t.Errorf("%v: in %d out %d packets for %d connections", dst.Addr, in, out, dst.Stats.Conns.Load())
		}
	}
	if active != int64(flows) {
		t.Fatalf("%d active connections on the dests, want %d", active, flows)
	}
	if method == vs.FullNAT {
		if n := svc.LAddrs[0].Conns.Load(); n != int64(flows) {
			t.Fatalf("local address counts %d connections", n)
		}
	}
	// Each lane forwarded two client packets of half the flows one way and
	// two replies of the other half back, and dropped nothing.
	c := d.Counters()
	if c.In != uint64(2*flows) || c.Out != uint64(2*flows) || c.NewConns != uint64(flows) || len(c.Drops) != 0 && sum(c.Drops) != 0 {
		t.Fatalf("counters %+v", c)
	}
	for k := range d.lanes {
		var in, out uint64
		for _, w := range d.lanes[k].workers {
			in += atomic.LoadUint64(&w.c.in)
			out += atomic.LoadUint64(&w.c.out)
		}
		if in != uint64(flows) || out != uint64(flows) {
			t.Errorf("lane %d forwarded %d in, %d out; want %d each", k, in, out, flows)
		}
	}
}

func sum(m map[string]uint64) uint64 {
	var s uint64
	for _, v := range m {
		s += v
	}
	return s
}

// ipv4HeaderOK checks the IPv4 header checksum of frame f in full.
func ipv4HeaderOK(f []byte, p *header.Parsed) bool {
	ip := header.IPv4(f[p.L3:])
	return header.Checksum(ip[:ip.HeaderLen()], 0) == 0
}

// TestFullNATPortRace: when another worker takes the local port the pool
// offered (free when probed, taken before this connection is inserted),
// the new connection takes the next port instead of being dropped.
func TestFullNATPortRace(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	for _, d := range r.dests {
		d.Fwd.Store(uint32(vs.FullNAT))
	}
	laddr := netip.MustParseAddr("203.0.113.100")
	r.svc.LAddrs = []*vs.LocalAddr{vs.NewLocalAddr(laddr, "")}
	pool, err := fullnat.NewPool(fullnat.PoolConfig{MinPort: 5000, MaxPort: 5003, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	r.d.pool = pool
	now := r.clk.Now()
	// Three of the four ports toward rs1 are taken by other workers'
	// connections that the pool's probe could not see yet.
	for port := uint16(5000); port < 5003; port++ {
		_, err := r.d.conns.New(now, &conntrack.Params{
			Proto: vs.TCP, CAddr: netip.MustParseAddr("198.51.100.99").As16(), CPort: port,
			VAddr: vip.As16(), VPort: 80, DAddr: rip1.As16(), DPort: 80,
			LAddr: laddr.As16(), LPort: port, Fwd: vs.FullNAT, Dest: r.dests[0], Svc: r.svc,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	r.w.inUse = func(conntrack.Key) bool { return false } // the race: every probe finds its port free
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn}
	out := mustStep(t, r.w, now, pkt.Build(syn), 1, forward.Pass)
	var p header.Parsed
	header.Decode(out, &p)
	if header.AddrFrom16(p.Src) != laddr || header.AddrFrom16(p.Dst) != rip1 || p.SPort != 5003 {
		t.Fatalf("SYN left as %v:%d → %v:%d, want the only free port 5003 toward rs1", header.AddrFrom16(p.Src), p.SPort, header.AddrFrom16(p.Dst), p.DPort)
	}
	if n := r.d.conns.Len(); n != 4 {
		t.Fatalf("%d connections", n)
	}
}

// TestFullNATReplyTooBig: a FullNAT reply too big for the client's link
// (DF set) is answered with frag-needed from the director's address toward
// the real server, as for NAT: the MTU is the one toward the client, where
// the reply goes once rewritten (not toward the local address it was sent
// to).
func TestFullNATReplyTooBig(t *testing.T) {
	r := newRig(t, vs.UDP, 53)
	for _, d := range r.dests {
		d.Fwd.Store(uint32(vs.FullNAT))
	}
	laddr := netip.MustParseAddr("203.0.113.100")
	r.svc.LAddrs = []*vs.LocalAddr{vs.NewLocalAddr(laddr, "")}
	now := r.clk.Now()
	q := mustStep(t, r.w, now, pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 9, DPort: 53}), 1, forward.Pass)
	var p header.Parsed
	header.Decode(q, &p)
	rs, lport := header.AddrFrom16(p.Dst), p.SPort
	big := pkt.Build(pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rs, Dst: laddr, Proto: header.ProtoUDP, SPort: 53, DPort: lport, DF: true, Payload: make([]byte, 1600)})
	out := mustStep(t, r.wr, now, big, 1, forward.DropMTU)
	ip, typ, code, mtu := icmpOf(t, out)
	if typ != 3 || code != 4 || mtu != 1500 || header.AddrFrom16(ip.Src) != dip2 || header.AddrFrom16(ip.Dst) != rs {
		t.Fatalf("ICMP %d/%d mtu %d %v → %v, want frag needed mtu 1500 from %v to %v", typ, code, mtu, header.AddrFrom16(ip.Src), header.AddrFrom16(ip.Dst), dip2, rs)
	}
}

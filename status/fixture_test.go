package status

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/internal/pkt"
	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/trace"
	"github.com/gdirector/gdirector/vs"
)

// lab is a hand-built director state: services, real servers, counters
// and a connection table on a fake clock.
type lab struct {
	clk   *clock.Fake
	conns *conntrack.Table
	svcs  []*vs.Service
	table *vs.Table
	down  map[*vs.Dest]bool // health verdicts; absent = no checker
}

var t0 = time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)

func newLab() *lab {
	return &lab{
		clk:   clock.NewFake(1_000 * int64(time.Second)),
		conns: conntrack.NewTable(conntrack.Options{Capacity: 1024}),
		down:  map[*vs.Dest]bool{},
	}
}

func (l *lab) service(proto vs.Proto, vip string, port uint16, sched string, dests ...*vs.Dest) *vs.Service {
	a := netip.MustParseAddr(vip)
	s := &vs.Service{
		Key:  vs.ServiceKey{IPv6: a.Is6(), Proto: proto, Port: port, Addr: a.As16()},
		Addr: a, Port: port, Proto: proto, IPv6: a.Is6(),
		SchedName: sched, Dests: dests, Stats: new(vs.Stats),
	}
	l.svcs = append(l.svcs, s)
	l.table = vs.NewTable(l.svcs)
	return s
}

func dest(addr string, port uint16, fwd vs.FwdMethod, weight int32) *vs.Dest {
	return vs.NewDest(netip.MustParseAddr(addr), port, fwd, weight)
}

// conn opens a connection of s to d from client cip:cport and accounts
// its first packets as the data plane would: a SYN, then (established)
// an ACK from the client.
func (l *lab) conn(t testing.TB, s *vs.Service, d *vs.Dest, cip string, cport uint16, established bool, laddr string, lport uint16) *conntrack.Conn {
	t.Helper()
	p := &conntrack.Params{
		Proto: s.Proto, IPv6: s.IPv6,
		CAddr: netip.MustParseAddr(cip).As16(), CPort: cport,
		VAddr: s.Addr.As16(), VPort: s.Port,
		DAddr: d.Addr16, DPort: d.Port,
		Fwd: d.FwdMethod(), Dest: d, Svc: s,
	}
	if laddr != "" {
		p.LAddr, p.LPort = netip.MustParseAddr(laddr).As16(), lport
	}
	now := l.clk.Now()
	c, err := l.conns.New(now, p)
	if err != nil {
		t.Fatal(err)
	}
	dir := conntrack.In
	if d.FwdMethod() != vs.Masq && d.FwdMethod() != vs.FullNAT {
		dir = conntrack.InOnly
	}
	c.Update(now, dir, header.TCPSyn)
	if established {
		if dir == conntrack.In {
			c.Update(now, conntrack.Out, header.TCPSyn|header.TCPAck)
		}
		c.Update(now, dir, header.TCPAck)
	}
	return c
}

func (l *lab) health(s *vs.Service, d *vs.Dest) (up, known bool) {
	down, known := l.down[d]
	return !down, known
}

// traffic sets a Stats' counters and rate estimates.
func traffic(st *vs.Stats, conns, inPkts, outPkts, inBytes, outBytes uint64, cps, inPPS, outPPS, inBPS, outBPS uint64) {
	st.Conns.Store(conns)
	st.InPkts.Store(inPkts)
	st.OutPkts.Store(outPkts)
	st.InBytes.Store(inBytes)
	st.OutBytes.Store(outBytes)
	// Scaled so that Rates reads back exactly these values.
	st.SetScaled(vs.ScaledRates{CPS: cps << 10, InPPS: inPPS << 10, OutPPS: outPPS << 10, InBPS: inBPS << 5, OutBPS: outBPS << 5})
}

// handler serves l with a fake wall clock and a walk at every request.
func (l *lab) handler(t testing.TB, tableFn func() *vs.Table) *Handler {
	t.Helper()
	if tableFn == nil {
		tableFn = func() *vs.Table { return l.table }
	}
	h, err := New(Config{
		Table: tableFn, Health: l.health, Conns: l.conns, ConnClock: l.clk.Now,
		Conntrack: func() (int, int) { return l.conns.Len(), l.conns.Capacity() },
		Now:       func() time.Time { return t0 }, ScanEvery: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// realistic builds the state the screenshot and the browser test show: a
// NAT web service with three real servers (one failing its check) and a
// persistent DR service with two, with traffic.
func realistic(t testing.TB) *lab {
	l := newLab()
	w1 := dest("203.0.113.11", 80, vs.Masq, 3)
	w2 := dest("203.0.113.12", 80, vs.Masq, 1)
	w3 := dest("203.0.113.13", 80, vs.Masq, 1)
	web := l.service(vs.TCP, "192.0.2.10", 80, "wlc", w1, w2, w3)
	l.down[w3] = true
	l.down[w1], l.down[w2] = false, false
	s1 := dest("203.0.113.21", 443, vs.DirectRoute, 1)
	s2 := dest("203.0.113.22", 443, vs.DirectRoute, 1)
	tls := l.service(vs.TCP, "192.0.2.20", 443, "rr", s1, s2)
	tls.Flags |= vs.SvcPersistent
	tls.Timeout = 300

	for i := range 6 {
		d := []*vs.Dest{w1, w1, w1, w2, w1, w2}[i]
		l.conn(t, web, d, "198.51.100.7", uint16(41000+i), i != 5, "", 0)
		l.clk.Advance(150 * time.Millisecond)
	}
	for i := range 4 {
		d := []*vs.Dest{s1, s2, s1, s2}[i]
		l.conn(t, tls, d, "198.51.100."+string(rune('2'+i)), uint16(52000+i), true, "", 0)
		l.clk.Advance(100 * time.Millisecond)
	}
	traffic(&w1.Stats, 18342, 211904, 198311, 15377192, 268102444, 41, 903, 870, 66100, 1182300)
	traffic(&w2.Stats, 6107, 70544, 66190, 5120984, 89440211, 14, 301, 289, 21980, 393210)
	traffic(&w3.Stats, 512, 1540, 0, 98560, 0, 0, 0, 0, 0, 0)
	traffic(web.Stats, 24961, 283988, 264501, 20596736, 357542655, 55, 1204, 1159, 88080, 1575510)
	traffic(&s1.Stats, 9120, 120877, 0, 9870112, 0, 22, 530, 0, 43300, 0)
	traffic(&s2.Stats, 9098, 119502, 0, 9766010, 0, 21, 524, 0, 42810, 0)
	traffic(tls.Stats, 18218, 240379, 0, 19636122, 0, 43, 1054, 0, 86110, 0)
	return l
}

// Link-layer addresses of the packets the fixture makes: the client (or
// the router in front of it), the director's two sides, the real servers.
var (
	macClient  = pkt.MAC(0x01)
	macDirC    = pkt.MAC(0x10)
	macDirR    = pkt.MAC(0x20)
	macRSFirst = byte(0x31)
)

// rsMAC is real server d's link-layer address in the fixture.
func rsMAC(s *vs.Service, d *vs.Dest) [6]byte {
	for i, x := range s.Dests {
		if x == d {
			return pkt.MAC(macRSFirst + byte(i))
		}
	}
	return pkt.MAC(0x3f)
}

// record makes the trace record the data plane would report for a packet
// of connection c (a client's packet, or with out a reply) with TCP flags
// flags, through the trace package's own Event and Record code: the frame
// as received, the frame as s's method rewrites it, the connection's
// state, and for a new connection (isNew) the scheduler's explanation of
// the pick of c's real server. at is the record's wall-clock time.
func (l *lab) record(t testing.TB, s *vs.Service, c *conntrack.Conn, out bool, flags uint8, isNew bool, seq uint64, at time.Time) *trace.Record {
	t.Helper()
	var d *vs.Dest
	for _, x := range s.Dests {
		if x.Addr16 == c.DAddr && x.Port == c.DPort {
			d = x
		}
	}
	if d == nil {
		t.Fatalf("connection %v has no real server in %s", c.DAddr, serviceName(s))
	}
	cip, vip, rip := vs.AddrFrom16(c.CAddr), vs.AddrFrom16(c.VAddr), vs.AddrFrom16(c.DAddr)
	in := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: c.CPort, DPort: c.VPort, TCPFlags: flags}
	sent := in
	sent.SrcMAC, sent.DstMAC = macDirR, rsMAC(s, d)
	if out {
		in = pkt.Spec{SrcMAC: rsMAC(s, d), DstMAC: macDirR, Src: rip, Dst: cip, Proto: header.ProtoTCP, SPort: c.DPort, DPort: c.CPort, TCPFlags: flags}
		sent = in
		sent.SrcMAC, sent.DstMAC, sent.Src, sent.SPort, sent.TTL = macDirC, macClient, vip, c.VPort, 63
	} else if c.Fwd == vs.Masq {
		sent.Dst, sent.DPort = rip, c.DPort
	}
	var ev trace.Event
	ev.Start(l.clk.Now(), 0, 0, pkt.Build(in))
	ev.Out = 1
	if out {
		ev.In, ev.Out, ev.Dir = 1, 0, forward.Out
	}
	ev.After.Set(pkt.Build(sent))
	dec := trace.ConnHit
	if isNew {
		dec = trace.ConnNew
	}
	ev.Conn.Set(dec, c)
	ev.Conn.Finish(c, l.clk.Now())
	ev.Tuple = trace.Tuple{Proto: c.Proto, Known: true, Client: c.CAddr, VIP: c.VAddr, Port: c.VPort}
	if isNew {
		sc, err := sched.New(s.SchedName)
		if err != nil {
			t.Fatal(err)
		}
		sc.Update(s)
		withSched := *s
		withSched.Sched = sc
		fl := &vs.Flow{Proto: c.Proto, Src: c.CAddr, Dst: c.VAddr, SPort: c.CPort, DPort: c.VPort}
		var pk sched.Peek
		ev.Sched.Capture(&withSched, fl, &pk)
		ev.Sched.Picked(&withSched, fl, d, &pk)
	}
	ev.Seq = seq
	return trace.NewRecord(&ev, []string{"eth0", "eth1"}, at)
}

// fakeTrace stands in for the daemon's trace.Hub: Trace hands out a
// channel the test feeds records into, and counts starts and stops.
type fakeTrace struct {
	mu      sync.Mutex
	ch      chan *trace.Record
	filter  trace.Filter
	starts  int
	stops   int
	running bool
}

func (f *fakeTrace) start(flt trace.Filter) (<-chan *trace.Record, func() uint64, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts++
	f.running, f.filter = true, flt
	ch := make(chan *trace.Record, 64)
	f.ch = ch
	var once sync.Once
	return ch, func() uint64 { return 0 }, func() {
		once.Do(func() {
			f.mu.Lock()
			f.stops++
			f.running = false
			close(ch)
			f.mu.Unlock()
		})
	}
}

// send hands rec to the running trace; false if none runs.
func (f *fakeTrace) send(rec *trace.Record) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running {
		return false
	}
	f.ch <- rec
	return true
}

func (f *fakeTrace) state() (starts, stops int, running bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts, f.stops, f.running
}

// realisticPackets are sampled packets for the realistic lab, oldest
// first: on the NAT web service a data packet of an established
// connection to its first real server, then a new connection's SYN to
// the second, the reply and the client's ACK; on the DR service a packet
// of an established connection and a new connection's SYN.
func realisticPackets(t testing.TB, l *lab) []*trace.Record {
	t.Helper()
	web, tls := l.svcs[0], l.svcs[1]
	w1 := web.Dests[0]
	var old *conntrack.Conn
	l.conns.Range(func(c *conntrack.Conn) bool {
		if c.Svc == web && c.DAddr == w1.Addr16 && c.StateName() == "ESTABLISHED" {
			old = c
		}
		return old == nil
	})
	if old == nil {
		t.Fatal("no established web connection in the lab")
	}
	at := t0.Add(-2 * time.Second)
	var recs []*trace.Record
	add := func(s *vs.Service, c *conntrack.Conn, out bool, flags uint8, isNew bool) {
		at = at.Add(137 * time.Millisecond)
		recs = append(recs, l.record(t, s, c, out, flags, isNew, uint64(len(recs)+4000), at))
	}
	add(web, old, false, header.TCPAck|header.TCPPsh, false)
	// The real servers the schedulers pick (wlc: the lowest overhead per
	// weight, rr: the head of the list), so that the explanations agree.
	nc := l.conn(t, web, w1, "198.51.100.14", 47120, false, "", 0)
	add(web, nc, false, header.TCPSyn, true)
	nc.Update(l.clk.Now(), conntrack.Out, header.TCPSyn|header.TCPAck)
	add(web, nc, true, header.TCPSyn|header.TCPAck, false)
	nc.Update(l.clk.Now(), conntrack.In, header.TCPAck)
	add(web, nc, false, header.TCPAck, false)
	var dr *conntrack.Conn
	l.conns.Range(func(c *conntrack.Conn) bool {
		if c.Svc == tls {
			dr = c
		}
		return dr == nil
	})
	add(tls, dr, false, header.TCPAck|header.TCPPsh, false)
	nd := l.conn(t, tls, tls.Dests[0], "198.51.100.15", 52810, false, "", 0)
	add(tls, nd, false, header.TCPSyn, true)
	return recs
}

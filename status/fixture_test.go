package status

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/clock"
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

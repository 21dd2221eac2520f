package ipvssync

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/vs"
)

// director is one side of a test: a configuration and a connection table.
type director struct {
	tbl   atomic.Pointer[vs.Table]
	conns *conntrack.Table
	clk   *clock.Fake
	svc   *vs.Service
	dest  *vs.Dest
	mark  *vs.Service
	mdest *vs.Dest
}

// newDirector builds the same configuration on every director: a
// persistent TCP service 192.0.2.10:80 (DR) with real server
// 203.0.113.2:80, and a firewall-mark service 5 with 203.0.113.3.
func newDirector() *director {
	d := &director{conns: conntrack.NewTable(conntrack.Options{}), clk: clock.NewFake(1e12)}
	vip := netip.MustParseAddr("192.0.2.10")
	d.dest = vs.NewDest(netip.MustParseAddr("203.0.113.2"), 80, vs.DirectRoute, 1)
	d.svc = &vs.Service{Key: vs.ServiceKey{Proto: vs.TCP, Port: 80, Addr: vip.As16()}, Addr: vip, Port: 80,
		Proto: vs.TCP, Flags: vs.SvcPersistent, Timeout: 300, Netmask: 0xffffffff,
		Dests: []*vs.Dest{d.dest}, Stats: &vs.Stats{}}
	d.mdest = vs.NewDest(netip.MustParseAddr("203.0.113.3"), 0, vs.DirectRoute, 1)
	d.mark = &vs.Service{Key: vs.ServiceKey{FwMark: 5}, FwMark: 5, Dests: []*vs.Dest{d.mdest}, Stats: &vs.Stats{}}
	d.tbl.Store(vs.NewTable([]*vs.Service{d.svc, d.mark}))
	return d
}

func tcpConn(t *testing.T, d *director, client string, cport uint16, tmpl *conntrack.Conn) *conntrack.Conn {
	t.Helper()
	c, err := d.conns.New(d.clk.Now(), &conntrack.Params{Proto: vs.TCP, CAddr: a4(client), CPort: cport,
		VAddr: d.svc.Key.Addr, VPort: 80, DAddr: d.dest.Addr16, DPort: 80, Fwd: vs.DirectRoute,
		Dest: d.dest, Svc: d.svc, Control: tmpl})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func template(t *testing.T, d *director, client string) *conntrack.Conn {
	t.Helper()
	c, err := d.conns.New(d.clk.Now(), &conntrack.Params{Proto: vs.TCP, CAddr: a4(client), VAddr: d.svc.Key.Addr,
		VPort: 80, DAddr: d.dest.Addr16, DPort: 80, Fwd: vs.DirectRoute, Dest: d.dest, Svc: d.svc,
		Flags: conntrack.FlagTemplate, Timeout: 300e9})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pair wires a master sender to a backup receiver over loopback UDP.
type pair struct {
	master, backup *director
	q              *Queue
	snd            *Sender
	rcv            *Receiver
	rconn          *net.UDPConn
	cancel         context.CancelFunc
	done           chan struct{}
}

func newPair(t *testing.T, key []byte, allow string) *pair {
	t.Helper()
	p := &pair{master: newDirector(), backup: newDirector(), q: NewQueue(4, 64)}
	p.master.conns.SetSyncer(p.q)
	var err error
	p.rconn, err = Listen(netip.AddrPort{}, "", netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddrPort(p.rconn.LocalAddr().String())
	tr, err := DialUnicast(netip.MustParseAddrPort("127.0.0.1:0"), []netip.AddrPort{dst})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	p.snd, err = NewSender(SenderConfig{SyncID: 4, Key: key, Queue: p.q, Conns: p.master.conns, Send: tr.Send, Refresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	p.rcv, err = NewReceiver(ReceiverConfig{SyncID: 4, Key: key, Peers: []netip.Prefix{netip.MustParsePrefix(allow)},
		Table: &p.backup.tbl, Conns: p.backup.conns, Clock: p.backup.clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() { defer close(p.done); _ = p.rcv.Run(ctx, p.rconn) }()
	t.Cleanup(func() { cancel(); <-p.done })
	return p
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestSyncLoopback: a connection and its template created on the master
// appear on the backup with the same real server, state and timeout; a
// state change follows; the dests' counters agree.
func TestSyncLoopback(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		name := "plain"
		var key []byte
		if keyed {
			name, key = "hmac", []byte("shared secret")
		}
		t.Run(name, func(t *testing.T) {
			p := newPair(t, key, "127.0.0.1/32")
			m, b := p.master, p.backup
			tpl := template(t, m, "198.51.100.7")
			c := tcpConn(t, m, "198.51.100.7", 40000, tpl)
			c.Update(m.clk.Now(), conntrack.In, 0x02) // SYN: SYN_RECV, not synced
			c.Update(m.clk.Now(), conntrack.In, 0x10) // ACK: ESTABLISHED, synced
			if c.State() != conntrack.StateEstablished {
				t.Fatalf("master state %v", c.State())
			}
			p.snd.Flush()
			key := conntrack.Key{Proto: vs.TCP, Src: c.CAddr, Dst: c.VAddr, SPort: 40000, DPort: 80}
			waitFor(t, "connection on the backup", func() bool { return b.conns.LookupIn(&key) != nil && b.conns.Len() == 2 })
			bc := b.conns.LookupIn(&key)
			if bc.Dest != b.dest || bc.DAddr != c.DAddr || bc.DPort != 80 || bc.State() != conntrack.StateEstablished {
				t.Fatalf("backup conn dest %v state %v", bc.DAddr, bc.State())
			}
			if !bc.Synced() || bc.Fwd != vs.DirectRoute || bc.Flags()&conntrack.FlagNoOutput == 0 {
				t.Fatalf("backup conn flags %v", bc.Flags())
			}
			if got, want := bc.Expires()-b.clk.Now(), int64(900e9); got < want || got > want+1e6 {
				t.Fatalf("backup expiry in %d ns, want 900 s", got)
			}
			tk := key
			tk.SPort = 0
			bt := b.conns.LookupTemplate(&tk)
			if bt == nil || bt.Dest != b.dest || bt.Timeout() != 300e9 {
				t.Fatalf("template on backup: %+v", bt)
			}
			if b.dest.ActiveConns.Load() != 1 || b.dest.InactConns.Load() != 0 || b.dest.PersistConns.Load() != 1 {
				t.Fatalf("backup counters active %d inact %d persist %d", b.dest.ActiveConns.Load(), b.dest.InactConns.Load(), b.dest.PersistConns.Load())
			}
			if b.dest.Stats.Conns.Load() != 0 {
				t.Fatal("a synced connection was counted as scheduled")
			}
			// FIN from the client: CLOSE_WAIT on the master, inactive.
			c.Update(m.clk.Now(), conntrack.In, 0x11)
			p.snd.Flush()
			waitFor(t, "state change on the backup", func() bool { return bc.State() == c.State() })
			if b.dest.ActiveConns.Load() != m.dest.ActiveConns.Load() || b.dest.InactConns.Load() != m.dest.InactConns.Load() {
				t.Fatalf("counters differ: master %d/%d backup %d/%d", m.dest.ActiveConns.Load(), m.dest.InactConns.Load(),
					b.dest.ActiveConns.Load(), b.dest.InactConns.Load())
			}
			if s := p.rcv.Stats(); s.Installed != 2 || s.Updated < 1 || s.BadSource+s.Malformed+s.BadAuth != 0 {
				t.Fatalf("receiver stats %+v", s)
			}
			// Failover: the backup's data plane now sees the client's
			// next packet and the connection goes on.
			bc.Update(b.clk.Now(), conntrack.In, 0x10)
			if !bc.Alive() || bc.Dest != b.dest {
				t.Fatal("connection lost on the backup")
			}
		})
	}
}

// TestSyncRefreshAndFwmark: the refresh walk sends what no state change
// did, and a firewall-mark template finds its service by mark.
func TestSyncRefreshAndFwmark(t *testing.T) {
	p := newPair(t, nil, "127.0.0.0/8")
	m, b := p.master, p.backup
	markVIP := markAddr4(5)
	_, err := m.conns.New(m.clk.Now(), &conntrack.Params{CAddr: a4("198.51.100.9"), VAddr: markVIP,
		DAddr: m.mdest.Addr16, Fwd: vs.DirectRoute, Dest: m.mdest, Svc: m.mark,
		Flags: conntrack.FlagTemplate, Timeout: 600e9})
	if err != nil {
		t.Fatal(err)
	}
	p.q.Drain(func(*conntrack.Conn) {}) // lose the queued record
	p.snd.Refresh()
	waitFor(t, "template by refresh", func() bool { return b.mdest.PersistConns.Load() == 1 })
	k := conntrack.Key{Src: a4("198.51.100.9"), Dst: markVIP}
	if bt := b.conns.LookupTemplate(&k); bt == nil || bt.Timeout() != 600e9 || bt.Svc != b.mark {
		t.Fatalf("fwmark template %+v", bt)
	}
}

func markAddr4(mark uint32) [16]byte {
	var a [16]byte
	a[10], a[11] = 0xff, 0xff
	a[12], a[13], a[14], a[15] = byte(mark>>24), byte(mark>>16), byte(mark>>8), byte(mark)
	return a
}

// TestForgedSource: a message from an address outside the allow-list is
// refused and counted, and changes nothing.
func TestForgedSource(t *testing.T) {
	p := newPair(t, nil, "127.0.0.1/32")
	buf := make([]byte, 1472)
	w := goldenConns[0]
	n, _ := Encode(buf, 4, []Conn{w})
	forger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2: %v", err)
	}
	defer forger.Close()
	if _, err := forger.WriteTo(buf[:n], p.rconn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reject", func() bool { return p.rcv.Stats().BadSource == 1 })
	if p.backup.conns.Len() != 0 {
		t.Fatal("forged message installed a connection")
	}
	// The same bytes from the allowed address are applied.
	ok, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	ok.WriteTo(buf[:n], p.rconn.LocalAddr())
	waitFor(t, "install", func() bool { return p.backup.conns.Len() == 1 })
}

// TestReceiverRejects covers every refusal reason of Handle.
func TestReceiverRejects(t *testing.T) {
	b := newDirector()
	now := time.Unix(2e9, 0)
	mk := func(key []byte) *Receiver {
		r, err := NewReceiver(ReceiverConfig{SyncID: 4, Key: key, Peers: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
			Table: &b.tbl, Conns: b.conns, Clock: b.clk, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	peer := netip.MustParseAddr("192.0.2.1")
	buf := make([]byte, 1472)
	good := goldenConns[0]
	enc := func(id uint8, cs ...Conn) []byte {
		n, err := Encode(buf, id, cs)
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), buf[:n]...)
	}
	r := mk(nil)
	r.Handle(netip.MustParseAddr("192.0.3.1"), enc(4, good))
	r.Handle(peer, enc(5, good))
	r.Handle(peer, enc(4, good)[:20])
	unknownSvc := good
	unknownSvc.VPort = 81
	unknownDest := good
	unknownDest.DAddr = a4("203.0.113.99")
	badState := good
	badState.State = 11
	r.Handle(peer, enc(4, unknownSvc, unknownDest, badState))
	s := r.Stats()
	if s.BadSource != 1 || s.BadSyncID != 1 || s.Malformed != 1 || s.UnknownSvc != 1 || s.UnknownDest != 1 || s.BadRecord != 1 || s.Installed != 0 {
		t.Fatalf("stats %+v", s)
	}
	if b.conns.Len() != 0 {
		t.Fatal("refused records installed something")
	}
	// Authenticated mode: unsigned, wrongly signed and stale messages.
	rk := mk([]byte("k1"))
	rk.Handle(peer, enc(4, good))
	msg := enc(4, good)
	sb := make([]byte, len(msg)+trailerLen)
	copy(sb, msg)
	rk.Handle(peer, newSigner([]byte("k2")).sign(sb, len(msg), now))
	copy(sb, msg)
	rk.Handle(peer, newSigner([]byte("k1")).sign(sb, len(msg), now.Add(-time.Minute)))
	if s := rk.Stats(); s.BadAuth != 3 || s.Installed != 0 {
		t.Fatalf("auth stats %+v", s)
	}
	copy(sb, msg)
	if err := rk.Handle(peer, newSigner([]byte("k1")).sign(sb, len(msg), now)); err != nil || rk.Stats().Installed != 1 {
		t.Fatalf("signed message: %v, %+v", err, rk.Stats())
	}
}

func TestQueueLossy(t *testing.T) {
	d := newDirector()
	q := NewQueue(1, 4)
	c := tcpConn(t, d, "198.51.100.7", 1, nil)
	for range 6 {
		q.Push(c)
	}
	if q.Dropped() != 2 {
		t.Fatalf("dropped %d", q.Dropped())
	}
	if n := q.Drain(func(*conntrack.Conn) {}); n != 4 {
		t.Fatalf("drained %d", n)
	}
	if a := testing.AllocsPerRun(100, func() { q.Push(c); q.Drain(func(*conntrack.Conn) {}) }); a != 0 {
		t.Fatalf("push allocates %v", a)
	}
}

func BenchmarkQueuePushParallel(b *testing.B) {
	d := newDirector()
	q := NewQueue(0, 0)
	c, _ := d.conns.New(0, &conntrack.Params{Proto: vs.UDP, CAddr: a4("198.51.100.1"), VAddr: d.svc.Key.Addr, DAddr: d.dest.Addr16, Dest: d.dest})
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				q.Drain(func(*conntrack.Conn) {})
			}
		}
	}()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			q.SyncConn(c)
		}
	})
	close(stop)
}

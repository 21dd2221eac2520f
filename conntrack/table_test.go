package conntrack

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/vs"
)

func v4(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }

var (
	cip = vs.Addr16(v4(198, 51, 100, 7))
	vip = vs.Addr16(v4(192, 0, 2, 1))
)

// natParams: client 198.51.100.7:cport → 192.0.2.1:80 → d.
func natParams(cport uint16, d *vs.Dest) *Params {
	return &Params{
		Proto: vs.TCP, CAddr: cip, CPort: cport, VAddr: vip, VPort: 80,
		DAddr: d.Addr16, DPort: d.Port, Fwd: d.FwdMethod(), Dest: d,
	}
}

func udpParams(cport uint16, d *vs.Dest) *Params {
	p := natParams(cport, d)
	p.Proto = vs.UDP
	p.VPort = 53
	return p
}

// pkt helpers: keys as the datapath would build them from packets.
func inKey(p *Params) Key {
	return Key{Proto: p.Proto, IPv6: p.IPv6, Src: p.CAddr, Dst: p.VAddr, SPort: p.CPort, DPort: p.VPort}
}

func natOutKey(p *Params) Key {
	return Key{Proto: p.Proto, IPv6: p.IPv6, Src: p.DAddr, Dst: p.CAddr, SPort: p.DPort, DPort: p.CPort}
}

func counts(d *vs.Dest) [2]int32 { return [2]int32{d.ActiveConns.Load(), d.InactConns.Load()} }

func wantCounts(t *testing.T, step string, d *vs.Dest, active, inact int32) {
	t.Helper()
	if got := counts(d); got != [2]int32{active, inact} {
		t.Fatalf("%s: active/inactive = %v, want [%d %d]", step, got, active, inact)
	}
}

const (
	fFIN = 0x01
	fSYN = 0x02
	fRST = 0x04
	fPSH = 0x08
	fACK = 0x10
)

func TestConnSize(t *testing.T) {
	if s := unsafe.Sizeof(Conn{}); s > 112 {
		t.Fatalf("Conn is %d bytes, want ≤ 112 (size class)", s)
	}
	if s := unsafe.Sizeof(shard{}); s != 64 {
		t.Fatalf("shard is %d bytes", s)
	}
	if s := unsafe.Sizeof(Key{}); s != 40 {
		t.Fatalf("Key is %d bytes", s)
	}
}

func TestNATHandshakeAndClose(t *testing.T) {
	clk := clock.NewFake(1e9)
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 8080, vs.Masq, 1)
	svc := &vs.Service{Stats: &vs.Stats{}}
	p := natParams(40000, d)
	p.Svc = svc
	c, err := tab.New(clk.Now(), p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Flags() != FlagInactive || c.StateName() != "NONE" || c.LAddr != cip || c.LPort != 40000 {
		t.Fatalf("new conn: flags %v state %s", c.Flags(), c.StateName())
	}
	if c.Expires() != clk.Now()+3e9 {
		t.Fatal("new conn expiry", c.Expires())
	}
	wantCounts(t, "new", d, 0, 1)
	if d.Stats.Conns.Load() != 1 || svc.Stats.Conns.Load() != 1 || tab.Len() != 1 {
		t.Fatal("stats", d.Stats.Conns.Load(), svc.Stats.Conns.Load(), tab.Len())
	}
	ik, ok := inKey(p), natOutKey(p)
	if tab.LookupIn(&ik) != c || tab.LookupOut(&ok) != c {
		t.Fatal("lookup")
	}
	if k := c.InKey(); k != ik {
		t.Fatal("InKey", k)
	}
	if k := c.OutKey(); k != ok {
		t.Fatal("OutKey", k)
	}
	if tab.LookupIn(&ok) != nil || tab.LookupOut(&ik) != nil {
		t.Fatal("cross lookup hit")
	}

	steps := []struct {
		dir           Dir
		flags         uint8
		state         string
		active, inact int32
	}{
		{In, fSYN, "SYN_RECV", 1, 0}, // pre-established states count as active
		{Out, fSYN | fACK, "SYN_RECV", 1, 0},
		{In, fACK, "ESTABLISHED", 1, 0},
		{In, fPSH | fACK, "ESTABLISHED", 1, 0},
		{Out, fPSH | fACK, "ESTABLISHED", 1, 0},
		{In, fFIN | fACK, "CLOSE_WAIT", 0, 1},
		{Out, fACK, "CLOSE_WAIT", 0, 1},
		{Out, fFIN | fACK, "TIME_WAIT", 0, 1},
		{In, fACK, "TIME_WAIT", 0, 1},
	}
	for _, s := range steps {
		clk.Advance(time.Millisecond)
		tab.LookupIn(&ik).Update(clk.Now(), s.dir, s.flags)
		if c.StateName() != s.state {
			t.Fatalf("after %#x dir %d: %s, want %s", s.flags, s.dir, c.StateName(), s.state)
		}
		wantCounts(t, s.state, d, s.active, s.inact)
		if c.Expires() != expOf(expBits(clk.Now()+kernelTimeout[s.state]*1e9)) {
			t.Fatalf("%s expiry %d", s.state, c.Expires()-clk.Now())
		}
	}
	// TIME_WAIT lasts 120 s (expiry kept to 256 ns, rounded up).
	if e := c.Expires() - clk.Now(); e < 120e9 || e >= 120e9+256 {
		t.Fatal("TIME_WAIT timeout", e)
	}
	clk.Set(c.Expires() - 1)
	if n := tab.Expire(clk.Now(), 1<<20); n != 0 {
		t.Fatal("expired early")
	}
	clk.Advance(1)
	if n := tab.Expire(clk.Now(), 1<<20); n != 1 {
		t.Fatal("not expired", n)
	}
	wantCounts(t, "expired", d, 0, 0)
	if tab.Len() != 0 || tab.LookupIn(&ik) != nil || tab.LookupOut(&ok) != nil || c.Alive() {
		t.Fatal("still there")
	}
	c.Update(clk.Now(), In, fSYN) // a stale pointer: no effect on counters
	wantCounts(t, "stale update", d, 0, 0)
}

func TestReset(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 8080, vs.Masq, 1)
	c, _ := tab.New(0, natParams(1, d))
	c.Update(1, In, fSYN)
	c.Update(2, Out, fSYN|fACK)
	c.Update(3, In, fACK)
	wantCounts(t, "established", d, 1, 0)
	c.Update(1e9, In, fRST|fACK)
	if c.StateName() != "CLOSE" || c.Expires() != 11e9 {
		t.Fatal(c.StateName(), c.Expires())
	}
	wantCounts(t, "rst", d, 0, 1)
	// A SYN on the same tuple revives it (CLOSE --SYN--> SYN_RECV).
	c.Update(2e9, In, fSYN)
	wantCounts(t, "syn again", d, 1, 0)
	if tab.Expire(2e9+60e9, 1<<20) != 1 {
		t.Fatal("not expired")
	}
	wantCounts(t, "gone", d, 0, 0)
}

func TestDRInputOnly(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.DirectRoute, 1)
	p := natParams(5555, d)
	c, err := tab.New(0, p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Flags() != FlagInactive|FlagNoOutput {
		t.Fatal(c.Flags())
	}
	// The real server answers from the VIP: that is the DR out-key.
	rk := Key{Proto: vs.TCP, Src: vip, Dst: cip, SPort: 80, DPort: 5555}
	if tab.LookupOut(&rk) != c {
		t.Fatal("DR out lookup")
	}
	steps := []struct {
		flags         uint8
		state         string
		active, inact int32
	}{
		{fSYN, "SYN_RECV", 1, 0},
		{fACK, "ESTABLISHED", 1, 0},
		{fPSH | fACK, "ESTABLISHED", 1, 0},
		{fFIN | fACK, "FIN_WAIT", 0, 1},
		{fACK, "FIN_WAIT", 0, 1},
		{fRST, "CLOSE", 0, 1},
	}
	for i, s := range steps {
		c.Update(int64(i), In, s.flags)
		if c.StateName() != s.state {
			t.Fatalf("%#x: %s want %s", s.flags, c.StateName(), s.state)
		}
		wantCounts(t, s.state, d, s.active, s.inact)
	}
	// Same client port to a second VIP on the same real server: distinct.
	p2 := *p
	p2.VAddr = vs.Addr16(v4(192, 0, 2, 2))
	if _, err := tab.New(0, &p2); err != nil {
		t.Fatal("second VIP:", err)
	}
	tab.Flush()
	wantCounts(t, "flush", d, 0, 0)
}

func TestUDPStaysInactive(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 53, vs.Masq, 1)
	c, _ := tab.New(0, udpParams(999, d))
	for i, dir := range []Dir{In, Out, In, Out} {
		now := int64(i+1) * 1e9
		c.Update(now, dir, 0)
		if c.StateName() != "UDP" || c.Expires() != now+300e9 {
			t.Fatal(c.StateName(), c.Expires())
		}
		wantCounts(t, "udp", d, 0, 1)
	}
	if tab.Expire(4e9+300e9-1, 1<<20) != 0 || tab.Expire(4e9+300e9, 1<<20) != 1 {
		t.Fatal("udp expiry")
	}
	wantCounts(t, "udp gone", d, 0, 0)
}

func TestOnePacket(t *testing.T) {
	tab := NewTable(Options{Capacity: 1})
	d := vs.NewDest(v4(203, 0, 113, 10), 53, vs.Masq, 1)
	p := udpParams(1, d)
	p.Flags = FlagOnePacket
	c, err := tab.New(0, p)
	if err != nil {
		t.Fatal(err)
	}
	k := inKey(p)
	if c.Flags()&FlagOnePacket == 0 || tab.LookupIn(&k) != nil || tab.Len() != 1 {
		t.Fatal("one-packet conn hashed")
	}
	wantCounts(t, "one packet", d, 0, 1)
	if _, err := tab.New(0, udpParams(2, d)); !errors.Is(err, ErrTableFull) {
		t.Fatal(err)
	}
	if !tab.Delete(c) || tab.Delete(c) {
		t.Fatal("delete")
	}
	wantCounts(t, "deleted", d, 0, 0)
	// -o only applies to UDP.
	tp := natParams(3, d)
	tp.Flags = FlagOnePacket
	c, _ = tab.New(0, tp)
	if c.Flags()&FlagOnePacket != 0 {
		t.Fatal("TCP one-packet")
	}
}

func TestTemplateAccounting(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	p := natParams(0, d)
	p.Flags = FlagTemplate
	c, err := tab.New(0, p)
	if err != nil {
		t.Fatal(err)
	}
	if d.PersistConns.Load() != 1 || counts(d) != [2]int32{} || d.Stats.Conns.Load() != 0 {
		t.Fatal("template counters")
	}
	if c.StateName() != "NONE" || c.Flags()&FlagTemplate == 0 {
		t.Fatal(c.StateName())
	}
	if _, err := tab.New(0, p); !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	tab.Flush()
	if d.PersistConns.Load() != 0 || tab.Len() != 0 {
		t.Fatal("template flush")
	}
}

func TestOverloadThresholds(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	d.UThreshold.Store(2)
	a, _ := tab.New(0, natParams(1, d))
	if d.Overloaded() {
		t.Fatal("overloaded at 1")
	}
	b, _ := tab.New(0, natParams(2, d))
	if !d.Overloaded() {
		t.Fatal("not overloaded at 2")
	}
	tab.Delete(b) // 1*4 < 2*3: cleared
	if d.Overloaded() {
		t.Fatal("still overloaded")
	}
	tab.Delete(a)
}

func TestCapacityAndExists(t *testing.T) {
	tab := NewTable(Options{Capacity: 2})
	if tab.Capacity() != 2 || NewTable(Options{}).Capacity() != DefaultCapacity {
		t.Fatal("capacity")
	}
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	if _, err := tab.New(0, natParams(1, d)); err != nil {
		t.Fatal(err)
	}
	// Same in-key.
	if _, err := tab.New(0, natParams(1, d)); !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	if tab.Len() != 1 || d.Stats.Conns.Load() != 1 {
		t.Fatal("ErrExists changed something", tab.Len(), d.Stats.Conns.Load())
	}
	wantCounts(t, "exists", d, 0, 1)
	// Same out-key (another VIP to the same RS from the same client
	// port): allowed, as in the kernel (TestSharedOutKey).
	p := natParams(1, d)
	p.VAddr = vs.Addr16(v4(192, 0, 2, 9))
	if _, err := tab.New(0, p); err != nil {
		t.Fatal(err)
	}
	before := counts(d)
	_, err := tab.New(0, natParams(3, d))
	if !errors.Is(err, ErrTableFull) {
		t.Fatal(err)
	}
	k := inKey(natParams(3, d))
	if tab.Len() != 2 || counts(d) != before || d.Stats.Conns.Load() != 2 || tab.LookupIn(&k) != nil {
		t.Fatal("ErrTableFull changed something")
	}
	// FullNAT: the out-key uses the local address.
	ft := NewTable(Options{})
	fd := vs.NewDest(v4(203, 0, 113, 11), 80, vs.FullNAT, 1)
	fp := natParams(7, fd)
	fp.LAddr, fp.LPort = vs.Addr16(v4(203, 0, 113, 1)), 30000
	c, err := ft.New(0, fp)
	if err != nil {
		t.Fatal(err)
	}
	ok := Key{Proto: vs.TCP, Src: fd.Addr16, Dst: fp.LAddr, SPort: 80, DPort: 30000}
	if ft.LookupOut(&ok) != c || c.LAddr != fp.LAddr {
		t.Fatal("FullNAT out lookup")
	}
	// Another client behind another local port: fine; same local port: taken.
	fp2 := natParams(8, fd)
	fp2.LAddr, fp2.LPort = fp.LAddr, 30001
	if _, err := ft.New(0, fp2); err != nil {
		t.Fatal(err)
	}
	fp2.CPort, fp2.LPort = 9, 30000
	if _, err := ft.New(0, fp2); !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
}

func TestIPv6Keys(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(netip.MustParseAddr("2001:db8:2::10"), 80, vs.Masq, 1)
	p := &Params{Proto: vs.TCP, IPv6: true,
		CAddr: vs.Addr16(netip.MustParseAddr("2001:db8:1::7")), CPort: 1234,
		VAddr: vs.Addr16(netip.MustParseAddr("2001:db8::1")), VPort: 80,
		DAddr: d.Addr16, DPort: 80, Fwd: vs.Masq, Dest: d}
	c, err := tab.New(0, p)
	if err != nil {
		t.Fatal(err)
	}
	k := inKey(p)
	if tab.LookupIn(&k) != c {
		t.Fatal("v6 lookup")
	}
	k.IPv6 = false
	if tab.LookupIn(&k) != nil {
		t.Fatal("family ignored")
	}
	k.IPv6, k.Proto = true, vs.UDP
	if tab.LookupIn(&k) != nil {
		t.Fatal("proto ignored")
	}
}

func TestExpiryFakeClock(t *testing.T) {
	clk := clock.NewFake(0)
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	const n = 3000
	conns := make([]*Conn, n)
	for i := range conns {
		c, err := tab.New(clk.Now(), natParams(uint16(i+1), d))
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		switch i % 3 {
		case 0: // SYN only: SYN_RECV, 60 s, active
			c.Update(clk.Now(), In, fSYN)
		case 1: // established: 900 s, active
			c.Update(clk.Now(), In, fSYN)
			c.Update(clk.Now(), Out, fSYN|fACK)
			c.Update(clk.Now(), In, fACK)
		case 2: // reset after the handshake: CLOSE, 10 s, inactive
			c.Update(clk.Now(), In, fSYN)
			c.Update(clk.Now(), In, fACK)
			c.Update(clk.Now(), In, fRST)
		}
	}
	wantCounts(t, "start", d, 2*n/3, n/3)
	collect := func() int {
		total := 0
		for range 10000 {
			k := tab.Expire(clk.Now(), 16)
			if k > 16 {
				t.Fatalf("Expire removed %d with budget 16", k)
			}
			total += k
		}
		return total
	}
	clk.Advance(10*time.Second - 1)
	if collect() != 0 {
		t.Fatal("early")
	}
	clk.Advance(1)
	if got := collect(); got != n/3 {
		t.Fatal("CLOSE collected", got)
	}
	wantCounts(t, "after 10s", d, 2*n/3, 0)

	// Expired but not collected: still found, and a packet refreshes it.
	clk.Set(60e9)
	k := conns[0].InKey()
	if tab.LookupIn(&k) != conns[0] {
		t.Fatal("expired conn not found before collection")
	}
	tab.LookupIn(&k).Update(clk.Now(), In, fACK) // SYN_RECV → ESTABLISHED
	if got := collect(); got != n/3-1 {
		t.Fatal("SYN_RECV collected", got)
	}
	if tab.LookupIn(&k) != conns[0] || conns[0].StateName() != "ESTABLISHED" {
		t.Fatal("refreshed conn collected")
	}
	clk.Set(900e9)
	if got := collect(); got != n/3 {
		t.Fatal("ESTABLISHED collected", got)
	}
	clk.Set(960e9)
	if got := collect(); got != 1 || tab.Len() != 0 {
		t.Fatal("last", got, tab.Len())
	}
	wantCounts(t, "end", d, 0, 0)
}

func TestExpireIncremental(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	const n = 5000
	for i := range n {
		p := natParams(uint16(i%60000+1), d)
		p.CAddr[15] = byte(i / 60000)
		if _, err := tab.New(0, p); err != nil {
			t.Fatal(err)
		}
	}
	calls, total := 0, 0
	for tab.Len() > 0 {
		k := tab.Expire(10e9, 50)
		if k > 50 {
			t.Fatal("over budget", k)
		}
		total += k
		calls++
		if calls > 100000 {
			t.Fatal("no progress", tab.Len())
		}
	}
	if total != n || calls < n/50 {
		t.Fatal(total, calls)
	}
	t.Logf("%d conns collected in %d calls of budget 50", n, calls)
	wantCounts(t, "all expired", d, 0, 0)
	if tab.Expire(10e9, 50) != 0 {
		t.Fatal("expired from empty table")
	}
}

func TestFlushAndRange(t *testing.T) {
	tab := NewTable(Options{})
	d1 := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	d2 := vs.NewDest(v4(203, 0, 113, 11), 80, vs.DirectRoute, 1)
	for i := range 2000 {
		d := d1
		if i%2 == 1 {
			d = d2
		}
		c, err := tab.New(0, natParams(uint16(i+1), d))
		if err != nil {
			t.Fatal(err)
		}
		if i%4 < 2 {
			c.Update(0, In, fSYN)
		}
	}
	seen := map[*Conn]bool{}
	tab.Range(func(c *Conn) bool { seen[c] = true; return true })
	if len(seen) != 2000 {
		t.Fatal("range saw", len(seen))
	}
	stop := 0
	tab.Range(func(*Conn) bool { stop++; return stop < 10 })
	if stop != 10 {
		t.Fatal("range did not stop", stop)
	}
	// Delete from inside Range.
	tab.Range(func(c *Conn) bool {
		if c.CPort%10 == 0 {
			tab.Delete(c)
		}
		return true
	})
	if tab.Len() != 1800 {
		t.Fatal(tab.Len())
	}
	tab.Flush()
	if tab.Len() != 0 {
		t.Fatal("len after flush", tab.Len())
	}
	wantCounts(t, "d1", d1, 0, 0)
	wantCounts(t, "d2", d2, 0, 0)
	n := 0
	tab.Range(func(*Conn) bool { n++; return true })
	if n != 0 {
		t.Fatal("range after flush", n)
	}
}

// The index against a map model: random inserts and deletes drive growth,
// tombstones, reuse and shrinking.
func TestIndexModel(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	model := map[Key]*Conn{}
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 4 {
		target := []int{20000, 100, 30000, 0}[round]
		for step := 0; step < 60000; step++ {
			p := natParams(uint16(r.IntN(20000)+1), d)
			p.CAddr[14] = byte(r.IntN(3))
			k := inKey(p)
			grow := len(model) < target
			if c, ok := model[k]; ok {
				if !grow || r.IntN(4) == 0 {
					if !tab.Delete(c) {
						t.Fatal("delete failed")
					}
					delete(model, k)
				}
				continue
			}
			if !grow && r.IntN(4) != 0 {
				continue
			}
			c, err := tab.New(0, p)
			if err != nil {
				t.Fatal(err)
			}
			model[k] = c
		}
		if tab.Len() != len(model) {
			t.Fatal("len", tab.Len(), len(model))
		}
		for k, c := range model {
			ok := c.OutKey()
			if tab.LookupIn(&k) != c || tab.LookupOut(&ok) != c {
				t.Fatal("lost", k)
			}
		}
		for s := range tab.idx.shards {
			sh := &tab.idx.shards[s]
			a := sh.arr.Load()
			live := 0
			for _, v := range a.slots {
				if uint32(v) != 0 { // a connection id
					live++
				}
			}
			if live != sh.live || sh.used < sh.live || uint64(sh.used)*8 > a.ngroups*8*7 {
				t.Fatalf("shard %d: live %d/%d used %d groups %d", s, live, sh.live, sh.used, a.ngroups)
			}
		}
	}
	if n := int(d.InactConns.Load()); n != len(model) {
		t.Fatal("inactive", n, len(model))
	}
}

func TestZeroAllocs(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	p := natParams(1, d)
	c, _ := tab.New(0, p)
	c.Update(0, In, fSYN)
	c.Update(0, Out, fSYN|fACK)
	c.Update(0, In, fACK)
	ik, ok := inKey(p), natOutKey(p)
	now := int64(0)
	if a := testing.AllocsPerRun(1000, func() {
		if tab.LookupIn(&ik) == nil {
			panic("miss")
		}
	}); a != 0 {
		t.Errorf("LookupIn: %v allocs", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		if tab.LookupOut(&ok) == nil {
			panic("miss")
		}
	}); a != 0 {
		t.Errorf("LookupOut: %v allocs", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		now += 1000
		c.Update(now, In, fACK|fPSH)
		c.Update(now, Out, fACK)
	}); a != 0 {
		t.Errorf("Update: %v allocs", a)
	}
	miss := ik
	miss.SPort = 2
	if a := testing.AllocsPerRun(1000, func() {
		if tab.LookupIn(&miss) != nil {
			panic("hit")
		}
	}); a != 0 {
		t.Errorf("LookupIn miss: %v allocs", a)
	}
}

// TestOnRemove: the hook sees every connection once, whichever way it
// leaves (delete, expiry, flush), after it was unbound.
func TestOnRemove(t *testing.T) {
	var mu sync.Mutex
	seen := map[*Conn]int{}
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	tab := NewTable(Options{OnRemove: func(c *Conn) {
		mu.Lock()
		seen[c]++
		mu.Unlock()
		if c.Alive() {
			t.Error("hook called on a live connection")
		}
	}})
	var conns []*Conn
	for i := range 30 {
		c, err := tab.New(0, natParams(uint16(i+1), d))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	tab.Delete(conns[0])
	tab.Delete(conns[0]) // a second delete is no removal
	for i := 1; i < 10; i++ {
		conns[i].Update(0, In, fSYN) // SYN_RECV: 60 s
	}
	tab.Expire(int64(30e9), 1<<20) // the 20 never updated expire (3 s)
	if len(seen) != 21 {
		t.Fatalf("after delete and expiry: %d removals seen", len(seen))
	}
	tab.Flush()
	if len(seen) != 30 {
		t.Fatalf("after flush: %d", len(seen))
	}
	for c, n := range seen {
		if n != 1 {
			t.Fatalf("%p removed %d times", c, n)
		}
	}
}

package fullnat_test

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward/fullnat"
	"github.com/gdirector/gdirector/vs"
)

func laddrs(addrs ...string) []*vs.LocalAddr {
	var out []*vs.LocalAddr
	for _, a := range addrs {
		out = append(out, vs.NewLocalAddr(netip.MustParseAddr(a), ""))
	}
	return out
}

func newPool(t testing.TB, c fullnat.PoolConfig) *fullnat.Pool {
	t.Helper()
	p, err := fullnat.NewPool(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tuples is a set of out-keys in use, standing in for the connection table.
type tuples map[conntrack.Key]bool

func (s tuples) inUse(k conntrack.Key) bool { return s[k] }

func outKey(proto vs.Proto, daddr netip.Addr, dport uint16, la *vs.LocalAddr, lport uint16) conntrack.Key {
	return conntrack.Key{Proto: proto, IPv6: daddr.Is6(), Src: daddr.As16(), SPort: dport, Dst: la.Addr16, DPort: lport}
}

func TestNewPool(t *testing.T) {
	p := newPool(t, fullnat.PoolConfig{})
	if lo, hi := p.Range(); lo != 1024 || hi != 65535 {
		t.Fatalf("default range %d-%d", lo, hi)
	}
	p = newPool(t, fullnat.PoolConfig{MinPort: 40000, MaxPort: 40000})
	if lo, hi := p.Range(); lo != 40000 || hi != 40000 {
		t.Fatalf("range %d-%d", lo, hi)
	}
	for _, c := range []fullnat.PoolConfig{
		{MinPort: 2000, MaxPort: 1999},
		{MinPort: 70, MaxPort: 10},
		{Probes: -1},
	} {
		if _, err := fullnat.NewPool(c); err == nil {
			t.Errorf("NewPool(%+v) accepted", c)
		}
	}
}

// TestAllocOrder: consecutive connections to one real server take the
// local addresses round-robin and, on each, consecutive ports (wrapping
// at the end of the range).
func TestAllocOrder(t *testing.T) {
	p := newPool(t, fullnat.PoolConfig{MinPort: 1000, MaxPort: 1009, Seed: 1})
	las := laddrs("203.0.113.250", "203.0.113.251", "203.0.113.252")
	rs := netip.MustParseAddr("203.0.113.11")
	used := tuples{}
	var firstPort uint16
	for i := range 60 {
		la, port, ok := p.Alloc(las, vs.TCP, rs.As16(), 8080, used.inUse)
		if !ok {
			t.Fatalf("alloc %d failed", i)
		}
		if la != las[i%3] {
			t.Fatalf("alloc %d: laddr %v, want %v", i, la.Addr, las[i%3].Addr)
		}
		if i == 0 {
			firstPort = port
		}
		if want := 1000 + (uint16(firstPort-1000)+uint16(i/3))%10; port != want {
			t.Fatalf("alloc %d: port %d, want %d", i, port, want)
		}
		if port < 1000 || port > 1009 {
			t.Fatalf("port %d out of range", port)
		}
		// Not recorded as used: the counter alone moves on.
	}
}

// TestAllocNoReuseAndExhaustion: with enough probes to cover the whole
// tuple space, Alloc hands out every (laddr, port) exactly once, then
// fails, counting conflicts; a freed tuple is found again; other real
// servers and protocols are not affected.
func TestAllocNoReuseAndExhaustion(t *testing.T) {
	const size, n = 16, 3
	p := newPool(t, fullnat.PoolConfig{MinPort: 50000, MaxPort: 50000 + size - 1, Probes: size * n})
	las := laddrs("203.0.113.250", "203.0.113.251", "203.0.113.252")
	rs := netip.MustParseAddr("203.0.113.11")
	used := tuples{}
	for i := range size * n {
		la, port, ok := p.Alloc(las, vs.TCP, rs.As16(), 80, used.inUse)
		if !ok {
			t.Fatalf("alloc %d failed with %d tuples free", i, size*n-i)
		}
		k := outKey(vs.TCP, rs, 80, la, port)
		if used[k] {
			t.Fatalf("alloc %d reused %v:%d", i, la.Addr, port)
		}
		used[k] = true
		// Some connections end, at random, and come back later.
		if i%5 == 4 {
			for k := range used {
				delete(used, k)
				break
			}
		}
	}
	// Fill up whatever was freed.
	for len(used) < size*n {
		la, port, ok := p.Alloc(las, vs.TCP, rs.As16(), 80, used.inUse)
		if !ok {
			t.Fatalf("alloc failed with %d tuples free", size*n-len(used))
		}
		k := outKey(vs.TCP, rs, 80, la, port)
		if used[k] {
			t.Fatalf("reused %v:%d", la.Addr, port)
		}
		used[k] = true
	}
	var before uint64
	for _, la := range las {
		before += la.Conflicts.Load()
	}
	if _, _, ok := p.Alloc(las, vs.TCP, rs.As16(), 80, used.inUse); ok {
		t.Fatal("alloc succeeded on a full tuple space")
	}
	var after uint64
	for _, la := range las {
		after += la.Conflicts.Load()
	}
	if after-before != size*n {
		t.Fatalf("%d conflicts counted for a failed alloc, want %d", after-before, size*n)
	}
	// One tuple freed: found again.
	free := outKey(vs.TCP, rs, 80, las[1], 50007)
	delete(used, free)
	la, port, ok := p.Alloc(las, vs.TCP, rs.As16(), 80, used.inUse)
	if !ok || la != las[1] || port != 50007 {
		t.Fatalf("freed tuple not found: %v %d %v", la, port, ok)
	}
	// Another real server, another port of the same one, UDP: free.
	for _, d := range []struct {
		proto vs.Proto
		addr  string
		port  uint16
	}{{vs.TCP, "203.0.113.12", 80}, {vs.TCP, "203.0.113.11", 81}, {vs.UDP, "203.0.113.11", 80}} {
		if _, _, ok := p.Alloc(las, d.proto, netip.MustParseAddr(d.addr).As16(), d.port, used.inUse); !ok {
			t.Errorf("alloc for %v %s:%d failed", d.proto, d.addr, d.port)
		}
	}
}

// TestAllocBoundedProbes: with few probes, Alloc gives up after that many
// candidates even though free tuples remain.
func TestAllocBoundedProbes(t *testing.T) {
	p := newPool(t, fullnat.PoolConfig{MinPort: 1024, MaxPort: 2047, Probes: 4})
	las := laddrs("203.0.113.250")
	calls := 0
	all := func(conntrack.Key) bool { calls++; return true }
	if _, _, ok := p.Alloc(las, vs.TCP, netip.MustParseAddr("203.0.113.11").As16(), 80, all); ok || calls != 4 {
		t.Fatalf("ok %v after %d probes", ok, calls)
	}
	if las[0].Conflicts.Load() != 4 {
		t.Fatalf("conflicts %d", las[0].Conflicts.Load())
	}
}

// TestAllocFamilies: no local address gives ok=false at once; addresses of
// the other family are skipped; IPv6 keys are IPv6.
func TestAllocFamilies(t *testing.T) {
	p := newPool(t, fullnat.PoolConfig{})
	none := func(conntrack.Key) bool { return false }
	rs := netip.MustParseAddr("203.0.113.11").As16()
	rs6 := netip.MustParseAddr("2001:db8:3::11").As16()
	if _, _, ok := p.Alloc(nil, vs.TCP, rs, 80, none); ok {
		t.Fatal("alloc without laddrs")
	}
	mixed := laddrs("2001:db8:3::250", "203.0.113.250")
	for range 10 {
		la, _, ok := p.Alloc(mixed, vs.TCP, rs, 80, none)
		if !ok || la != mixed[1] {
			t.Fatalf("v4: %v %v", la, ok)
		}
		la, _, ok = p.Alloc(mixed, vs.TCP, rs6, 80, func(k conntrack.Key) bool {
			if !k.IPv6 || k.Src != rs6 || k.Dst != mixed[0].Addr16 || k.SPort != 80 || k.Proto != vs.TCP {
				t.Fatalf("key %+v", k)
			}
			return false
		})
		if !ok || la != mixed[0] {
			t.Fatalf("v6: %v %v", la, ok)
		}
	}
	if _, _, ok := p.Alloc(laddrs("2001:db8:3::250"), vs.TCP, rs, 80, none); ok {
		t.Fatal("v4 real server got a v6 laddr")
	}
}

// TestAllocSpreadsServers: different real servers start at unrelated
// ports (a hashed offset), so that their sequences do not collide.
func TestAllocSpreadsServers(t *testing.T) {
	p := newPool(t, fullnat.PoolConfig{})
	las := laddrs("203.0.113.250")
	none := func(conntrack.Key) bool { return false }
	ports := map[uint16]bool{}
	for i := range 64 {
		rs := netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}).As16()
		_, port, _ := p.Alloc(las, vs.TCP, rs, 80, none)
		ports[port] = true
	}
	if len(ports) < 56 {
		t.Fatalf("64 servers got only %d distinct first ports", len(ports))
	}
}

// TestAllocConcurrent: workers allocate and insert FullNAT connections
// into a real connection table at once (run with -race). The table
// refuses a tuple two workers picked together; retried, every connection
// gets a distinct out-key, and the whole tuple space can be used.
func TestAllocConcurrent(t *testing.T) {
	const size, workers = 512, 8
	las := laddrs("203.0.113.250", "203.0.113.251")
	p := newPool(t, fullnat.PoolConfig{MinPort: 20000, MaxPort: 20000 + size - 1, Probes: 2 * size})
	tbl := conntrack.NewTable(conntrack.Options{Capacity: 4 * size})
	inUse := func(k conntrack.Key) bool { return tbl.LookupOut(&k) != nil }
	rs := netip.MustParseAddr("203.0.113.11").As16()
	vip := netip.MustParseAddr("192.0.2.10").As16()
	var wg sync.WaitGroup
	var mu sync.Mutex
	made, lost := 0, 0
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 2 * size * 2 / workers {
				cl := netip.AddrFrom4([4]byte{198, 51, 100, byte(r.IntN(250) + 1)}).As16()
				for {
					la, port, ok := p.Alloc(las, vs.TCP, rs, 8080, inUse)
					if !ok {
						return // space full
					}
					_, err := tbl.New(0, &conntrack.Params{Proto: vs.TCP, CAddr: cl, CPort: uint16(r.IntN(60000) + 1024),
						VAddr: vip, VPort: 80, DAddr: rs, DPort: 8080, LAddr: la.Addr16, LPort: port, Fwd: vs.FullNAT})
					mu.Lock()
					if err == nil {
						made++
					} else if errors.Is(err, conntrack.ErrExists) {
						lost++
					}
					mu.Unlock()
					if err == nil || !errors.Is(err, conntrack.ErrExists) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if made != 2*size || tbl.Len() != 2*size {
		t.Fatalf("%d connections made (table %d), want %d", made, tbl.Len(), 2*size)
	}
	seen := map[conntrack.Key]bool{}
	tbl.Range(func(c *conntrack.Conn) bool {
		k := c.OutKey()
		if seen[k] {
			t.Errorf("out-key %+v twice", k)
		}
		seen[k] = true
		return true
	})
	t.Logf("%d connections, %d lost races", made, lost)
}

func TestAllocNoAlloc(t *testing.T) {
	p := newPool(t, fullnat.PoolConfig{})
	las := laddrs("203.0.113.250", "203.0.113.251")
	tbl := conntrack.NewTable(conntrack.Options{Capacity: 16})
	inUse := func(k conntrack.Key) bool { return tbl.LookupOut(&k) != nil }
	rs := netip.MustParseAddr("203.0.113.11").As16()
	n := testing.AllocsPerRun(1000, func() {
		if _, _, ok := p.Alloc(las, vs.TCP, rs, 8080, inUse); !ok {
			t.Fatal("alloc failed")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func BenchmarkAlloc(b *testing.B) {
	p := newPool(b, fullnat.PoolConfig{})
	las := laddrs("203.0.113.250", "203.0.113.251", "203.0.113.252", "203.0.113.253")
	tbl := conntrack.NewTable(conntrack.Options{Capacity: 16})
	inUse := func(k conntrack.Key) bool { return tbl.LookupOut(&k) != nil }
	rs := netip.MustParseAddr("203.0.113.11").As16()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Alloc(las, vs.TCP, rs, 8080, inUse)
		}
	})
}

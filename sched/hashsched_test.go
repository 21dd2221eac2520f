package sched

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

// ---- Reference hashing, written from the specifications ----

// sipRef is SipHash-c-d of msg under the key (k0, k1), written from the
// SipHash paper over a byte message.
func sipRef(c, d int, k0, k1 uint64, msg []byte) uint64 {
	v := [4]uint64{
		k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d,
		k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573,
	}
	rotl := func(x uint64, b uint) uint64 { return x<<b | x>>(64-b) }
	sipround := func() {
		v[0] += v[1]
		v[2] += v[3]
		v[1] = rotl(v[1], 13) ^ v[0]
		v[3] = rotl(v[3], 16) ^ v[2]
		v[0] = rotl(v[0], 32)
		v[2] += v[1]
		v[0] += v[3]
		v[1] = rotl(v[1], 17) ^ v[2]
		v[3] = rotl(v[3], 21) ^ v[0]
		v[2] = rotl(v[2], 32)
	}
	blocks := len(msg) / 8
	for i := range blocks {
		m := binary.LittleEndian.Uint64(msg[8*i:])
		v[3] ^= m
		for range c {
			sipround()
		}
		v[0] ^= m
	}
	var last [8]byte
	copy(last[:], msg[8*blocks:])
	last[7] = byte(len(msg))
	m := binary.LittleEndian.Uint64(last[:])
	v[3] ^= m
	for range c {
		sipround()
	}
	v[0] ^= m
	v[2] ^= 0xff
	for range d {
		sipround()
	}
	return v[0] ^ v[1] ^ v[2] ^ v[3]
}

// hsipRef is the kernel's 64-bit hsiphash of an unsigned int:
// SipHash-1-3 of its four little-endian bytes, truncated, with both key
// words equal to key.
func hsipRef(x uint32, key uint64) uint32 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], x)
	return uint32(sipRef(1, 3, key, key, b[:]))
}

// foldRef folds an address: IPv4 as its value, IPv6 as the XOR of its
// words.
func foldRef(a netip.Addr) uint32 {
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return binary.BigEndian.Uint32(b[:])
	}
	b := a.As16()
	var x uint32
	for i := 0; i < 16; i += 4 {
		x ^= binary.BigEndian.Uint32(b[i:])
	}
	return x
}

// hash32Ref is hash_32(v, bits): the top bits of v × 0x61C88647 mod 2^32.
func hash32Ref(v uint32, nbits int) int {
	return int((uint64(v) * 0x61C88647 % (1 << 32)) >> (32 - nbits))
}

func TestHashPrimitives(t *testing.T) {
	// The SipHash paper's test vector: key 00..0f, message 00..0e.
	var msg [15]byte
	for i := range msg {
		msg[i] = byte(i)
	}
	if got := sipRef(2, 4, 0x0706050403020100, 0x0f0e0d0c0b0a0908, msg[:]); got != 0xa129ca6149be45e5 {
		t.Fatalf("reference SipHash-2-4 = %#x", got)
	}
	r := rand.New(rand.NewPCG(31, 32))
	for range 2000 {
		x, k := r.Uint32(), r.Uint64()
		if got, want := hsiphash32(x, k, k), hsipRef(x, k); got != want {
			t.Fatalf("hsiphash32(%#x, %#x) = %#x, want %#x", x, k, got, want)
		}
		if got, want := hash32(x, 8), uint32(hash32Ref(x, 8)); got != want {
			t.Fatalf("hash32(%#x) = %d, want %d", x, got, want)
		}
	}
	// Values computed by hand (an independent script) from the formulas.
	for _, tc := range []struct {
		addr      string
		h8, h10   uint32
		fold      uint32
		v6        bool
		shPort    uint32 // bucket with source port 40000
		hasShPort bool
	}{
		{addr: "192.0.2.1", h8: 50, h10: 203, fold: 0xc0000201},
		{addr: "198.51.100.7", h8: 171, h10: 684, fold: 0xc6336407, shPort: 79, hasShPort: true},
		{addr: "198.51.100.8", h8: 12, h10: 51, fold: 0xc6336408},
		{addr: "2001:db8::1", h8: 63, fold: 0x20010db9, v6: true},
	} {
		a := vs.Addr16(netip.MustParseAddr(tc.addr))
		f := foldKey(&a, tc.v6)
		if f != tc.fold || hash32(f, 8) != tc.h8 || (!tc.v6 && hash32(f, 10) != tc.h10) {
			t.Errorf("%s: fold %#x hash8 %d hash10 %d", tc.addr, f, hash32(f, 8), hash32(f, 10))
		}
		if tc.hasShPort && shBucket(f, 40000, 0) != tc.shPort {
			t.Errorf("%s:40000: bucket %d want %d", tc.addr, shBucket(f, 40000, 0), tc.shPort)
		}
	}
	// mh's hashes of 203.0.113.1:80 with the kernel's first key.
	if got := hsiphash32(0xcb007101+80, refKey1, refKey1); got != 0x6618744f {
		t.Errorf("hsiphash(203.0.113.1+80) = %#x", got)
	}
	// Mixed families as the kernel folds dest->addr with svc->af.
	d4 := vs.NewDest(netip.MustParseAddr("203.0.113.1"), 80, vs.Tunnel, 1)
	d6 := vs.NewDest(netip.MustParseAddr("2001:db8:1:2::3"), 80, vs.Tunnel, 1)
	if foldDest(d4, true) != 0xcb007101 || foldDest(d4, false) != 0xcb007101 {
		t.Error("IPv4 dest fold")
	}
	if foldDest(d6, false) != 0x20010db8 || foldDest(d6, true) != 0x20010db8^0x00010002^0^3 {
		t.Errorf("IPv6 dest fold %#x %#x", foldDest(d6, false), foldDest(d6, true))
	}
}

// ---- sh ----

// shRefTable builds sh's table the plain way: one round lists each dest
// as many times as its weight (at least once), and the table repeats the
// round.
func shRefTable(ws []int32) []int {
	var round []int
	for i, w := range ws {
		for range max(w, 1) {
			round = append(round, i)
		}
	}
	tab := make([]int, 256)
	for i := range tab {
		if len(round) == 0 {
			tab[i] = -1
		} else {
			tab[i] = round[i%len(round)]
		}
	}
	return tab
}

func tableIndexes(tab []*vs.Dest, ds []*vs.Dest) []int {
	out := make([]int, len(tab))
	for i, d := range tab {
		out[i] = slices.Index(ds, d)
	}
	return out
}

func letters(idx []int) string {
	b := make([]byte, len(idx))
	for i, x := range idx {
		if x < 0 {
			b[i] = '-'
		} else {
			b[i] = names[x]
		}
	}
	return string(b)
}

func TestSHTable(t *testing.T) {
	for _, tc := range []struct {
		ws         []int32
		head, tail string // buckets 0-11 and 248-255
	}{
		{[]int32{3, 1, 2}, "AAABCCAAABCC", tailSH312},
		{[]int32{1, 1, 1}, "ABCABCABCABC", "CABCABCA"},
		{[]int32{0, 2}, "ABBABBABBABB", "BABBABBA"},
		{[]int32{4}, "AAAAAAAAAAAA", "AAAAAAAA"},
		{nil, "------------", "--------"},
	} {
		ds := mkDests(tc.ws...)
		s := newSched(t, "sh", mkSvc(ds)).(Inspector)
		got := tableIndexes(s.Inspect().Table, ds)
		if want := shRefTable(tc.ws); !slices.Equal(got, want) {
			t.Errorf("weights %v: table %s\nwant %s", tc.ws, letters(got), letters(want))
		}
		if h, tl := letters(got[:12]), letters(got[248:]); h != tc.head || tl != tc.tail {
			t.Errorf("weights %v: head %s tail %s", tc.ws, h, tl)
		}
	}
}

// tailSH312: weights 3, 1, 2 make a round of 6; bucket 248 is 248 mod 6 =
// 2 into it (A), and so on: 248-255 read A B C C A A A B.
const tailSH312 = "ABCCAAAB"

// shRefPick is ip_vs_sh_schedule on a reference table.
func shRefPick(tab []int, ds []*vs.Dest, f *vs.Flow, flags uint32) int {
	addr := foldRef(vs.AddrFrom16(f.Src))
	var port uint32
	if flags&vs.SvcSchedFlag2 != 0 && (f.Proto == vs.TCP || f.Proto == vs.UDP || f.Proto == vs.SCTP) {
		port = uint32(f.SPort)
	}
	bucket := func(off int) int { return (off + hash32Ref(port+addr, 8)) % 256 }
	ok := func(i int) bool { return ds[i].Weight.Load() > 0 && !ds[i].Overloaded() }
	h := bucket(0)
	if tab[h] < 0 || ok(tab[h]) {
		return tab[h]
	}
	if flags&vs.SvcSchedFlag1 == 0 {
		return -1
	}
	for off := range 256 {
		i := tab[bucket((off+h)%256)]
		if i < 0 {
			return -1
		}
		if ok(i) {
			return i
		}
	}
	return -1
}

func flowFrom(src string, sport uint16) *vs.Flow {
	a := netip.MustParseAddr(src)
	return &vs.Flow{Proto: vs.TCP, IPv6: a.Is6(), Src: vs.Addr16(a), Dst: vs.Addr16(a), SPort: sport, DPort: 80}
}

// TestSHSchedule checks picks worked out by hand: 192.0.2.1 hashes to
// bucket 50, 198.51.100.7 to 171, with source port 40000 to 79.
func TestSHSchedule(t *testing.T) {
	ds := mkDests(1, 1, 1) // bucket i holds dest i mod 3
	svc := mkSvc(ds)
	s := newSched(t, "sh", svc)
	pick := func(f *vs.Flow) string { return nameOf(ds, s.Schedule(svc, f)) }

	if got := pick(flowFrom("192.0.2.1", 1000)); got != "C" { // 50 mod 3 = 2
		t.Errorf("192.0.2.1: %s", got)
	}
	if got := pick(flowFrom("198.51.100.7", 40000)); got != "A" { // 171 mod 3 = 0
		t.Errorf("198.51.100.7: %s", got)
	}
	// sh-port
	svc.Flags = vs.SvcSchedFlag2
	if got := pick(flowFrom("198.51.100.7", 40000)); got != "B" { // 79 mod 3 = 1
		t.Errorf("198.51.100.7:40000 with sh-port: %s", got)
	}
	icmp := flowFrom("198.51.100.7", 40000)
	icmp.Proto = 1 // no ports: port 0
	if got := pick(icmp); got != "A" {
		t.Errorf("ICMP with sh-port: %s", got)
	}
	svc.Flags = 0

	// C (bucket 50) overloaded: nil without fallback.
	ds[2].Flags.Store(vs.DestAvailable | vs.DestOverload)
	if got := pick(flowFrom("192.0.2.1", 1000)); got != "-" {
		t.Errorf("overloaded without fallback: %s", got)
	}
	// With sh-fallback the kernel probes bucket (2×50 + k) mod 256: 100
	// (B). A naive "next bucket" probe would give 51 (A).
	svc.Flags = vs.SvcSchedFlag1
	if got := pick(flowFrom("192.0.2.1", 1000)); got != "B" {
		t.Errorf("fallback: %s", got)
	}
	// B quiesced too: 101 is C (overloaded), 102 is A.
	ds[1].Weight.Store(0)
	if got := pick(flowFrom("192.0.2.1", 1000)); got != "A" {
		t.Errorf("second fallback: %s", got)
	}
	ds[0].Weight.Store(0)
	if got := pick(flowFrom("192.0.2.1", 1000)); got != "-" {
		t.Errorf("nothing available: %s", got)
	}
	// Quiesced and overloaded dests keep their buckets after Update.
	s.Update(svc)
	if got := tableIndexes(s.(Inspector).Inspect().Table, ds); !slices.Equal(got, shRefTable([]int32{0, 0, 1})) {
		t.Errorf("table after quiescing: %s", letters(got))
	}
}

func randFlow(r *rand.Rand) *vs.Flow {
	var a netip.Addr
	if r.IntN(4) == 0 {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:], 0x20010db800000000|uint64(r.IntN(1<<16)))
		binary.BigEndian.PutUint64(b[8:], r.Uint64())
		a = netip.AddrFrom16(b)
	} else {
		a = netip.AddrFrom4([4]byte{198, 51, byte(r.IntN(4)), byte(r.IntN(256))})
	}
	f := &vs.Flow{Proto: []vs.Proto{vs.TCP, vs.UDP, vs.SCTP, 1}[r.IntN(4)], IPv6: a.Is6(),
		Src: vs.Addr16(a), SPort: uint16(r.IntN(65536)), DPort: 80}
	f.Dst = vs.Addr16(netip.AddrFrom4([4]byte{192, 0, 2, byte(r.IntN(256))}))
	if f.IPv6 {
		f.Dst = f.Src
		f.Dst[15] ^= 0x5a
	}
	return f
}

func TestSHMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for iter := range 300 {
		ws := make([]int32, r.IntN(8))
		for i := range ws {
			ws[i] = int32(r.IntN(5))
		}
		ds := mkDests(ws...)
		svc := mkSvc(ds)
		svc.Flags = uint32(r.IntN(4)) * vs.SvcSchedFlag1 // none, fallback, port, both
		s := newSched(t, "sh", svc)
		tab := shRefTable(ws)
		if got := tableIndexes(s.(Inspector).Inspect().Table, ds); !slices.Equal(got, tab) {
			t.Fatalf("iter %d weights %v: table differs", iter, ws)
		}
		for range 100 {
			if len(ds) > 0 && r.IntN(3) == 0 { // flags and weights change; the table does not
				d := ds[r.IntN(len(ds))]
				d.Flags.Store(vs.DestAvailable | uint32(r.IntN(2))*vs.DestOverload)
				d.Weight.Store(int32(r.IntN(3)))
			}
			f := randFlow(r)
			want := shRefPick(tab, ds, f, svc.Flags)
			got := s.Schedule(svc, f)
			if (want < 0) != (got == nil) || (want >= 0 && got != ds[want]) {
				t.Fatalf("iter %d flags %#x: got %s want %d", iter, svc.Flags, nameOf(ds, got), want)
			}
		}
	}
}

// ---- dh ----

func TestDH(t *testing.T) {
	ds := mkDests(1, 5, 1) // weights play no part
	svc := mkSvc(ds)
	s := newSched(t, "dh", svc)
	got := tableIndexes(s.(Inspector).Inspect().Table, ds)
	for i, x := range got {
		if x != i%3 {
			t.Fatalf("bucket %d holds %d", i, x)
		}
	}
	dst := func(a string) *vs.Flow {
		f := flowFrom("198.51.100.1", 1)
		f.Dst = vs.Addr16(netip.MustParseAddr(a))
		return f
	}
	for _, tc := range []struct{ dst, want string }{
		{"192.0.2.1", "C"},    // bucket 50
		{"198.51.100.7", "A"}, // bucket 171
		{"198.51.100.8", "A"}, // bucket 12
	} {
		if got := nameOf(ds, s.Schedule(svc, dst(tc.dst))); got != tc.want {
			t.Errorf("dst %s: %s want %s", tc.dst, got, tc.want)
		}
	}
	f6 := dst("2001:db8::1") // bucket 63
	f6.IPv6 = true
	if got := nameOf(ds, s.Schedule(svc, f6)); got != "A" {
		t.Errorf("dst 2001:db8::1: %s", got)
	}
	// No fallback: unavailable, quiesced or overloaded means nil.
	for _, mod := range []func(*vs.Dest){
		func(d *vs.Dest) { d.Flags.Store(0) },
		func(d *vs.Dest) { d.Weight.Store(0) },
		func(d *vs.Dest) { d.Flags.Store(vs.DestAvailable | vs.DestOverload) },
	} {
		c := mkDests(1, 1, 1)
		mod(c[2])
		csvc := mkSvc(c)
		cs := newSched(t, "dh", csvc)
		if d := cs.Schedule(csvc, dst("192.0.2.1")); d != nil {
			t.Errorf("unusable dest picked: %s", nameOf(c, d))
		}
		if d := cs.Schedule(csvc, dst("198.51.100.7")); d != c[0] {
			t.Errorf("other bucket: %s", nameOf(c, d))
		}
	}
	empty := mkSvc(nil)
	if d := newSched(t, "dh", empty).Schedule(empty, dst("192.0.2.1")); d != nil {
		t.Error("empty service")
	}
}

func TestDHMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	for range 200 {
		ds := mkDests(make([]int32, r.IntN(7))...)
		for _, d := range ds {
			d.Weight.Store(int32(r.IntN(3)))
			d.Flags.Store(uint32(r.IntN(4))) // available and overload bits at random
		}
		svc := mkSvc(ds)
		s := newSched(t, "dh", svc)
		for range 50 {
			f := randFlow(r)
			want := -1
			if len(ds) > 0 {
				i := hash32Ref(foldRef(vs.AddrFrom16(f.Dst)), 8) % len(ds)
				if d := ds[i]; d.Available() && d.Weight.Load() > 0 && !d.Overloaded() {
					want = i
				}
			}
			got := s.Schedule(svc, f)
			if (want < 0) != (got == nil) || (want >= 0 && got != ds[want]) {
				t.Fatalf("got %s want %d", nameOf(ds, got), want)
			}
		}
	}
}

// ---- mh ----

// The reference's parameters, from ip_vs_mh.c: the table size and the
// two hsiphash keys (each used for both key words).
const (
	refM    = 4093
	refKey1 = 2654435761
	refKey2 = 2654446892
)

// mhRefTable is Maglev's population, written from the paper with the
// kernel's parameters: dest i's j-th preference is (offset_i + j·skip_i)
// mod M; in each round every dest in list order takes its next free
// preferences "turns" times. It returns each slot's dest index (-1 empty).
func mhRefTable(ds []*vs.Dest, lw []int32, svc6 bool) (tab []int, g, shift int) {
	tab = make([]int, refM)
	for i := range tab {
		tab[i] = -1
	}
	maxw := 0
	for _, w := range lw {
		if w > 0 {
			a, b := int(w), g
			for b != 0 {
				a, b = b, a%b
			}
			g = a
		}
		maxw = max(maxw, int(w))
	}
	if g == 0 {
		return tab, 0, 0
	}
	for x := maxw / g; x > 0; x >>= 1 {
		shift++
	}
	shift = max(0, shift-6)
	n := len(ds)
	offset, skip, turns, next := make([]int, n), make([]int, n), make([]int, n), make([]int, n)
	for i, d := range ds {
		var key uint32
		switch {
		case d.Addr.Is4():
			key = foldRef(d.Addr)
		case svc6:
			key = foldRef(d.Addr)
		default:
			b := d.Addr.As16()
			key = binary.BigEndian.Uint32(b[:4])
		}
		key += uint32(d.Port)
		offset[i] = int(hsipRef(key, refKey1) % refM)
		skip[i] = int(hsipRef(key, refKey2)%(refM-1)) + 1
		turns[i] = (int(lw[i]) / g) >> shift
		if turns[i] == 0 && lw[i] != 0 {
			turns[i] = 1
		}
	}
	filled := 0
	for filled < refM {
		for i := range ds {
			for k := 0; k < turns[i] && filled < refM; k++ {
				for {
					c := (offset[i] + next[i]*skip[i]) % refM
					next[i]++
					if tab[c] < 0 {
						tab[c] = i
						filled++
						break
					}
				}
			}
		}
	}
	return tab, g, shift
}

// mhRefPick is ip_vs_mh_schedule on a reference table.
func mhRefPick(tab []int, ds []*vs.Dest, f *vs.Flow, flags uint32) int {
	addr := foldRef(vs.AddrFrom16(f.Src))
	var port uint32
	if flags&vs.SvcSchedFlag2 != 0 && (f.Proto == vs.TCP || f.Proto == vs.UDP || f.Proto == vs.SCTP) {
		port = uint32(f.SPort)
	}
	slot := func(off int) int { return int(hsipRef(uint32(off)+port+addr, refKey1) % refM) }
	ok := func(i int) bool { return ds[i].Weight.Load() > 0 && !ds[i].Overloaded() }
	h := slot(0)
	if tab[h] < 0 || ok(tab[h]) {
		return tab[h]
	}
	if flags&vs.SvcSchedFlag1 == 0 {
		return -1
	}
	for off := range refM {
		i := tab[slot((off+h)%refM)]
		if i < 0 {
			return -1
		}
		if ok(i) {
			return i
		}
	}
	return -1
}

func weightsOf(ds []*vs.Dest) []int32 {
	ws := make([]int32, len(ds))
	for i, d := range ds {
		ws[i] = d.Weight.Load()
	}
	return ws
}

// TestMHKernelVectors checks values computed by hand from the kernel's
// formulas: for 203.0.113.1, .2, .3 port 80, the offsets are 3194, 674
// and 3851 and the skips 514, 3682 and 1747; client 198.51.100.7 hashes
// to slot 924 and 192.0.2.1 to slot 2891.
func TestMHKernelVectors(t *testing.T) {
	ds := mkDests(1, 1, 1)
	svc := mkSvc(ds)
	s := newSched(t, "mh", svc)
	st := s.(Inspector).Inspect()
	tab := tableIndexes(st.Table, ds)
	// Round one: each dest takes its offset. A's second preference is
	// 3194 + 514 = 3708, B's is 674 + 3682 = 4356 - 4093 = 263.
	for slot, want := range map[int]int{3194: 0, 674: 1, 3851: 2, 3708: 0, 263: 1, (3851 + 1747) % refM: 2} {
		if tab[slot] != want {
			t.Errorf("slot %d holds %d, want %d", slot, tab[slot], want)
		}
	}
	count := make([]int, 3)
	for _, x := range tab {
		count[x]++
	}
	if !slices.Equal(count, []int{1365, 1364, 1364}) { // 4093 = 3 × 1364 + 1, A first
		t.Errorf("shares %v", count)
	}
	if g, _ := st.Var("gcd"); g != 1 {
		t.Errorf("gcd %d", g)
	}
	if got := s.Schedule(svc, flowFrom("198.51.100.7", 1)); got != st.Table[924] {
		t.Errorf("198.51.100.7 not mapped by slot 924")
	}
	if got := s.Schedule(svc, flowFrom("192.0.2.1", 1)); got != st.Table[2891] {
		t.Errorf("192.0.2.1 not mapped by slot 2891")
	}
	want, _, _ := mhRefTable(ds, []int32{1, 1, 1}, false)
	if !slices.Equal(tab, want) {
		t.Error("table differs from the reference")
	}
}

func TestMHMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	for iter := range 60 {
		n := 1 + r.IntN(12)
		if iter%10 == 0 {
			n = 100 + r.IntN(200)
		}
		svc6 := r.IntN(3) == 0
		ds := make([]*vs.Dest, n)
		for i := range ds {
			var a netip.Addr
			if svc6 && r.IntN(4) != 0 {
				a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8), 9: byte(r.IntN(256))})
			} else {
				a = netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(i >> 8), byte(i)})
			}
			w := int32(r.IntN(6))
			if r.IntN(4) == 0 {
				w *= int32(1 + r.IntN(400)) // wide weights: rshift > 0
			}
			ds[i] = vs.NewDest(a, uint16(80+r.IntN(3)), vs.Masq, w)
		}
		svc := mkSvc(ds)
		svc.IPv6 = svc6
		svc.Flags = uint32(r.IntN(4)) * vs.SvcSchedFlag1
		s := newSched(t, "mh", svc)
		st := s.(Inspector).Inspect()
		tab, g, shift := mhRefTable(ds, weightsOf(ds), svc6)
		if got := tableIndexes(st.Table, ds); !slices.Equal(got, tab) {
			t.Fatalf("iter %d: table differs", iter)
		}
		if sg, _ := st.Var("gcd"); sg != int64(g) {
			t.Fatalf("iter %d: gcd %d want %d", iter, sg, g)
		}
		if ss, _ := st.Var("rshift"); ss != int64(shift) {
			t.Fatalf("iter %d: rshift %d want %d", iter, ss, shift)
		}
		for range 60 {
			if r.IntN(3) == 0 { // flags and weights change; the table does not
				d := ds[r.IntN(n)]
				d.Flags.Store(vs.DestAvailable | uint32(r.IntN(2))*vs.DestOverload)
				d.Weight.Store(int32(r.IntN(2)))
			}
			f := randFlow(r)
			want := mhRefPick(tab, ds, f, svc.Flags)
			got := s.Schedule(svc, f)
			if (want < 0) != (got == nil) || (want >= 0 && got != ds[want]) {
				t.Fatalf("iter %d flags %#x: got %v want %d", iter, svc.Flags, got, want)
			}
		}
	}
}

// TestMHWeights: weights set the share of slots (turns = weight/gcd,
// shifted when the largest is wide); quiescing keeps the table (the
// kernel's last_weight); removal and re-adding recompute it.
func TestMHWeights(t *testing.T) {
	ds := mkDests(2, 4, 6) // gcd 2: turns 1, 2, 3
	svc := mkSvc(ds)
	s := newSched(t, "mh", svc)
	ins := s.(Inspector)
	tab := tableIndexes(ins.Inspect().Table, ds)
	want, _, _ := mhRefTable(ds, []int32{1, 2, 3}, false)
	if !slices.Equal(tab, want) {
		t.Fatal("gcd scaling: table differs from weights 1, 2, 3")
	}
	count := make([]int, 3)
	for _, x := range tab {
		count[x]++
	}
	// 4093 = 682 rounds of 6 + 1: A takes the last slot.
	if !slices.Equal(count, []int{683, 1364, 2046}) {
		t.Errorf("shares %v", count)
	}

	// Wide weights: 1000 and 1, gcd 1, 1000 has 10 bits: rshift 4,
	// turns 62 and 1.
	w := mkDests(1000, 1)
	wsvc := mkSvc(w)
	ws := newSched(t, "mh", wsvc).(Inspector).Inspect()
	if r, _ := ws.Var("rshift"); r != 4 {
		t.Errorf("rshift %d", r)
	}
	wt, _, _ := mhRefTable(w, []int32{1000, 1}, false)
	if !slices.Equal(tableIndexes(ws.Table, w), wt) {
		t.Error("wide weights: table differs")
	}
	wcount := 0
	for _, x := range wt {
		if x == 1 {
			wcount++
		}
	}
	if wcount != 64 { // 4093 = 64 rounds of 63 + 61 slots of A's
		t.Errorf("B has %d slots", wcount)
	}

	// Quiesce B: the table stays; B's clients get nil, or another dest
	// with mh-fallback.
	ds[1].Weight.Store(0)
	s.Update(svc)
	if got := tableIndexes(ins.Inspect().Table, ds); !slices.Equal(got, tab) {
		t.Fatal("quiescing changed the table")
	}
	var bflow *vs.Flow
	for i := range 1000 {
		f := flowFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String(), 1)
		if ins.Inspect().Table[mhSlot(foldKey(&f.Src, false), 0, 0)] == ds[1] {
			bflow = f
			break
		}
	}
	if bflow == nil {
		t.Fatal("no client of B found")
	}
	if d := s.Schedule(svc, bflow); d != nil {
		t.Errorf("quiesced B's client got %s", nameOf(ds, d))
	}
	svc.Flags = vs.SvcSchedFlag1
	if d := s.Schedule(svc, bflow); d == nil || d == ds[1] {
		t.Errorf("fallback gave %s", nameOf(ds, d))
	}
	svc.Flags = 0
	// Back to weight 4: same table again. To 8: recomputed (gcd 2, turns 1, 4, 3).
	ds[1].Weight.Store(4)
	s.Update(svc)
	if got := tableIndexes(ins.Inspect().Table, ds); !slices.Equal(got, tab) {
		t.Fatal("un-quiescing changed the table")
	}
	ds[1].Weight.Store(8)
	s.Update(svc)
	want, _, _ = mhRefTable(ds, []int32{1, 4, 3}, false)
	if got := tableIndexes(ins.Inspect().Table, ds); !slices.Equal(got, want) {
		t.Fatal("edit: table differs")
	}
	// A dest added with weight 0 has no slots, even one removed while
	// quiesced (its last weight is forgotten with it).
	ds[2].Weight.Store(0)
	s.Update(svc)
	svc2 := mkSvc(ds[:2])
	s.Update(svc2)
	ds[2].Weight.Store(0)
	svc3 := mkSvc(ds)
	s.Update(svc3)
	want, _, _ = mhRefTable(ds, []int32{2, 8, 0}, false)
	if got := tableIndexes(ins.Inspect().Table, ds); !slices.Equal(got, want) || slices.Contains(got, 2) {
		t.Fatal("re-added quiesced dest: table differs")
	}
	// No weight at all: an empty table.
	for _, d := range ds {
		d.Weight.Store(0)
	}
	s.Update(mkSvc(ds[:0]))
	if got := ins.Inspect().Table; slices.ContainsFunc(got, func(d *vs.Dest) bool { return d != nil }) {
		t.Fatal("empty service: table not empty")
	}
}

// TestMHTooManyDests: a list longer than the table is refused and the
// previous table stays, as the kernel's -EINVAL.
func TestMHTooManyDests(t *testing.T) {
	ds := benchDests(refM + 1)
	svc := mkSvc(ds[:3])
	s := newSched(t, "mh", svc)
	before := s.(Inspector).Inspect().Table
	s.Update(mkSvc(ds))
	if !slices.Equal(s.(Inspector).Inspect().Table, before) {
		t.Fatal("table changed")
	}
}

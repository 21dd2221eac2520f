package afpacket

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// runFilter builds a filter, decodes the raw program and returns a VM
// running it, failing the test on any error.
func runFilter(t *testing.T, dsts, srcs []netip.Addr) *bpf.VM {
	t.Helper()
	raw, err := BuildFilter(dsts, srcs)
	if err != nil {
		t.Fatalf("BuildFilter: %v", err)
	}
	if len(raw) > MaxFilterLen {
		t.Fatalf("program has %d instructions", len(raw))
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("program does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	return vm
}

func accepted(t *testing.T, vm *bpf.VM, f []byte) bool {
	t.Helper()
	n, err := vm.Run(f)
	if err != nil {
		t.Fatalf("vm.Run: %v", err)
	}
	if n != 0 && n < len(f) {
		t.Fatalf("filter accepts only %d of %d bytes", n, len(f))
	}
	return n != 0
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestBuildFilter(t *testing.T) {
	vm := runFilter(t,
		addrs("192.0.2.1", "192.0.2.2", "2001:db8::10", "2001:db8:0:1::10"),
		addrs("203.0.113.5", "2001:db8:ffff::5"))
	other := eth(macB, macA, 0x88b5, make([]byte, 60))
	tcp4 := func(src, dst string) []byte {
		s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
		return eth(macB, macA, etherTypeIPv4, ipv4(s, d, protoTCP, nil, l4(protoTCP, s, d, 1, 80, nil)))
	}
	cases := []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"arp", arpFrame(), true},
		{"v4 to listed dst", udp4Frame("198.51.100.1", "192.0.2.1", nil), true},
		{"v4 to second dst", tcp4("198.51.100.1", "192.0.2.2"), true},
		{"v4 from listed src", udp4Frame("203.0.113.5", "198.51.100.1", nil), true},
		{"v4 other", udp4Frame("198.51.100.1", "192.0.2.3", nil), false},
		{"v4 listed dst as src", udp4Frame("192.0.2.1", "198.51.100.1", nil), false},
		{"v4 listed src as dst", udp4Frame("198.51.100.1", "203.0.113.5", nil), false},
		{"v6 to listed dst", udp6Frame("2001:db8:5::1", "2001:db8::10", nil), true},
		{"v6 to listed dst 2", udp6Frame("2001:db8:5::1", "2001:db8:0:1::10", nil), true},
		{"v6 from listed src", udp6Frame("2001:db8:ffff::5", "2001:db8:5::1", nil), true},
		{"v6 other", udp6Frame("2001:db8:5::1", "2001:db8::11", nil), false},
		{"v6 other prefix", udp6Frame("2001:db8:5::1", "2001:db8:0:2::10", nil), false},
		{"v6 neighbour solicitation", icmp6Frame("fe80::1", "ff02::1:ff00:10", 135), true},
		{"v6 neighbour advertisement", icmp6Frame("fe80::1", "fe80::2", 136), true},
		{"v6 echo to other", icmp6Frame("2001:db8:5::1", "2001:db8::99", 128), false},
		{"v6 echo to listed", icmp6Frame("2001:db8:5::1", "2001:db8::10", 128), true},
		{"other ethertype", other, false},
		{"mpls", eth(macB, macA, 0x8847, make([]byte, 60)), false},
		{"short v4", udp4Frame("198.51.100.1", "192.0.2.1", nil)[:20], false},
		{"short v6", udp6Frame("2001:db8:5::1", "2001:db8::10", nil)[:30], false},
		{"empty", nil, false},
	}
	for _, c := range cases {
		if got := accepted(t, vm, c.frame); got != c.want {
			t.Errorf("%s: accepted = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestBuildFilterEmpty(t *testing.T) {
	vm := runFilter(t, nil, nil)
	if !accepted(t, vm, arpFrame()) {
		t.Error("ARP dropped")
	}
	if !accepted(t, vm, icmp6Frame("fe80::1", "ff02::1:ff00:1", 135)) {
		t.Error("NS dropped")
	}
	for _, f := range [][]byte{
		udp4Frame("198.51.100.1", "192.0.2.1", nil),
		udp6Frame("2001:db8::1", "2001:db8::2", nil),
		eth(macB, macA, 0x88b5, nil),
	} {
		if accepted(t, vm, f) {
			t.Errorf("accepted %x", f[:14])
		}
	}
}

func TestBuildFilterMapped(t *testing.T) {
	vm := runFilter(t, addrs("::ffff:192.0.2.7", "fe80::1%eth0"), nil)
	if !accepted(t, vm, udp4Frame("198.51.100.1", "192.0.2.7", nil)) {
		t.Error("IPv4-mapped address not matched as IPv4")
	}
	if !accepted(t, vm, udp6Frame("2001:db8::1", "fe80::1", nil)) {
		t.Error("zoned address not matched")
	}
}

// TestBuildFilterMany checks hundreds of addresses with mixed prefixes
// against a map: every listed address matches, its neighbours do not.
func TestBuildFilterMany(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	set := map[netip.Addr]bool{}
	var dsts, srcs []netip.Addr
	randV6 := func() netip.Addr {
		var b [16]byte
		binary.BigEndian.PutUint32(b[:], 0x20010db8)
		// Few distinct values in the upper words so groups form a tree.
		binary.BigEndian.PutUint32(b[4:], uint32(rng.IntN(3)))
		binary.BigEndian.PutUint32(b[8:], uint32(rng.IntN(4)))
		binary.BigEndian.PutUint32(b[12:], rng.Uint32())
		return netip.AddrFrom16(b)
	}
	for i := 0; i < 400; i++ {
		d4 := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		if i >= 256 {
			d4 = netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		}
		dsts = append(dsts, d4, randV6())
		srcs = append(srcs, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), randV6())
	}
	dsts = append(dsts, dsts[:50]...) // duplicates are fine
	for _, a := range dsts {
		set[a] = true
	}
	vm := runFilter(t, dsts, srcs)
	raw, _ := BuildFilter(dsts, srcs)
	t.Logf("%d dsts + %d srcs: %d instructions", len(dsts), len(srcs), len(raw))

	client4, client6 := "198.51.100.250", "2001:db8:9::1"
	for _, d := range dsts {
		var f []byte
		if d.Is4() {
			f = udp4Frame(client4, d.String(), nil)
		} else {
			f = udp6Frame(client6, d.String(), nil)
		}
		if !accepted(t, vm, f) {
			t.Fatalf("dst %v dropped", d)
		}
		if n := d.Next(); !set[n] && !n.Is4() {
			if accepted(t, vm, udp6Frame(client6, n.String(), nil)) {
				t.Fatalf("unlisted dst %v accepted", n)
			}
		}
	}
	for _, s := range srcs {
		var f []byte
		if s.Is4() {
			f = udp4Frame(s.String(), client4, nil)
		} else {
			f = udp6Frame(s.String(), client6, nil)
		}
		if !accepted(t, vm, f) {
			t.Fatalf("src %v dropped", s)
		}
	}
	for i := 0; i < 200; i++ {
		a := randV6()
		if set[a] {
			continue
		}
		if accepted(t, vm, udp6Frame(client6, a.String(), nil)) {
			t.Fatalf("random unlisted %v accepted", a)
		}
	}
	if accepted(t, vm, udp4Frame(client4, "203.0.113.200", nil)) {
		t.Fatal("unlisted IPv4 dst accepted")
	}
}

func TestBuildFilterTooLong(t *testing.T) {
	var many []netip.Addr
	for i := 0; i < 5000; i++ {
		many = append(many, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}))
	}
	if _, err := BuildFilter(many, nil); !errors.Is(err, ErrFilterTooLong) {
		t.Fatalf("err = %v, want ErrFilterTooLong", err)
	}
	if _, err := BuildFilter([]netip.Addr{{}}, nil); err == nil {
		t.Fatal("invalid address accepted")
	}
}

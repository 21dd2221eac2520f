package vs

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	a := netip.MustParseAddr
	vip, vip6 := a("192.0.2.10"), a("2001:db8:2::10")
	tb := NewTableMarks(nil, []MarkRule{
		{Dst: vip, Proto: TCP, Ports: []PortRange{{80, 80}, {443, 443}}, Mark: 10},
		{Dst: vip, Proto: TCP, Ports: []PortRange{{8000, 8099}}, Mark: 11},
		{Dst: vip, Src: netip.MustParsePrefix("198.51.100.128/25"), Mark: 12}, // any protocol and port
		{Dst: vip6, Proto: UDP, Mark: 13},
	})
	c := func(ipv6 bool, p Proto, src, dst string, port uint16) uint32 {
		s, d := Addr16(a(src)), Addr16(a(dst))
		return tb.Classify(ipv6, p, &s, &d, port)
	}
	for _, tc := range []struct {
		ipv6     bool
		p        Proto
		src, dst string
		port     uint16
		want     uint32
	}{
		{false, TCP, "198.51.100.2", "192.0.2.10", 80, 10},
		{false, TCP, "198.51.100.2", "192.0.2.10", 443, 10},
		{false, TCP, "198.51.100.2", "192.0.2.10", 444, 0},
		{false, UDP, "198.51.100.2", "192.0.2.10", 80, 0},
		{false, TCP, "198.51.100.2", "192.0.2.10", 8050, 11},
		{false, TCP, "198.51.100.2", "192.0.2.11", 80, 0},
		{false, TCP, "198.51.100.200", "192.0.2.10", 80, 12}, // the last matching rule wins
		{false, UDP, "198.51.100.200", "192.0.2.10", 5, 12},
		{true, UDP, "2001:db8:1::2", "2001:db8:2::10", 53, 13},
		{true, TCP, "2001:db8:1::2", "2001:db8:2::10", 53, 0},
	} {
		if got := c(tc.ipv6, tc.p, tc.src, tc.dst, tc.port); got != tc.want {
			t.Errorf("%v %s → %s:%d: mark %d, want %d", tc.p, tc.src, tc.dst, tc.port, got, tc.want)
		}
	}
	s, d := Addr16(a("198.51.100.2")), Addr16(vip)
	if n := testing.AllocsPerRun(100, func() { tb.Classify(false, TCP, &s, &d, 443) }); n != 0 {
		t.Fatalf("Classify allocates %v", n)
	}
	var nilTable *Table
	if nilTable.Classify(false, TCP, &s, &d, 80) != 0 {
		t.Fatal("nil table")
	}
}

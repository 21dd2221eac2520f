package vs

import (
	"net/netip"
	"testing"
)

func svc(proto Proto, addr string, port uint16, mark uint32) *Service {
	s := &Service{Proto: proto, Port: port, FwMark: mark, Stats: &Stats{}}
	if addr != "" {
		s.Addr = netip.MustParseAddr(addr)
		s.IPv6 = s.Addr.Is6()
		s.Key = ServiceKey{Proto: proto, Port: port, Addr: s.Addr.As16(), IPv6: s.IPv6}
	}
	if mark != 0 {
		s.Key = ServiceKey{FwMark: mark}
	}
	return s
}

func TestLookupOrder(t *testing.T) {
	web := svc(TCP, "192.0.2.10", 80, 0)
	dns := svc(UDP, "192.0.2.10", 53, 0)
	any := svc(TCP, "192.0.2.20", 0, 0) // port-zero (all ports) service
	fwm := svc(0, "", 0, 7)
	web6 := svc(TCP, "2001:db8::10", 80, 0)
	tb := NewTable([]*Service{web, dns, any, fwm, web6})
	v := netip.MustParseAddr("192.0.2.10").As16()
	w := netip.MustParseAddr("192.0.2.20").As16()
	cases := []struct {
		name  string
		mark  uint32
		v6    bool
		proto Proto
		dst   [16]byte
		port  uint16
		want  *Service
	}{
		{"exact tcp", 0, false, TCP, v, 80, web},
		{"exact udp", 0, false, UDP, v, 53, dns},
		{"wrong proto", 0, false, UDP, v, 80, nil},
		{"wrong port", 0, false, TCP, v, 81, nil},
		{"port zero matches any port", 0, false, TCP, w, 8443, any},
		{"port zero is per protocol", 0, false, UDP, w, 53, nil},
		{"fwmark first", 7, false, TCP, v, 80, fwm},
		{"unknown mark falls back", 8, false, TCP, v, 80, web},
		{"ipv6", 0, true, TCP, netip.MustParseAddr("2001:db8::10").As16(), 80, web6},
	}
	for _, c := range cases {
		if got := tb.Lookup(c.mark, c.v6, c.proto, c.dst, c.port); got != c.want {
			t.Errorf("%s: got %v want %v", c.name, got, c.want)
		}
	}
	var nilTable *Table
	if nilTable.Lookup(0, false, TCP, v, 80) != nil || nilTable.Get(web.Key) != nil {
		t.Error("nil table found something")
	}
	if tb.Get(dns.Key) != dns {
		t.Error("Get")
	}
	if n := testing.AllocsPerRun(1000, func() { tb.Lookup(0, false, TCP, w, 8443) }); n != 0 {
		t.Errorf("Lookup allocates %v", n)
	}
}

func TestDestAndNames(t *testing.T) {
	d := NewDest(netip.MustParseAddr("::ffff:203.0.113.11"), 80, Masq, 2)
	if d.Addr.String() != "203.0.113.11" || d.FwdMethod() != Masq || d.Weight.Load() != 2 || !d.Available() || d.Overloaded() {
		t.Fatalf("NewDest: %+v", d)
	}
	if AddrFrom16(d.Addr16) != d.Addr {
		t.Fatal("Addr16 round trip")
	}
	for m, s := range map[FwdMethod]string{Masq: "Masq", Local: "Local", Tunnel: "Tunnel", DirectRoute: "Route", FullNAT: "FullNat", 9: "Unknown"} {
		if m.String() != s {
			t.Errorf("%d: %s", m, m.String())
		}
	}
	for p, s := range map[Proto]string{TCP: "TCP", UDP: "UDP", SCTP: "SCTP", 1: "IP"} {
		if p.String() != s {
			t.Errorf("%d: %s", p, p.String())
		}
	}
	var st Stats
	st.Conns.Add(3)
	st.InBytes.Add(9)
	st.Zero()
	if st.Conns.Load() != 0 || st.InBytes.Load() != 0 {
		t.Fatal("Zero")
	}
}

func TestNewLocalAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"198.51.100.250", "198.51.100.250"},
		{"::ffff:198.51.100.250", "198.51.100.250"},
		{"fe80::1%eth0", "fe80::1"},
		{"2001:db8::250", "2001:db8::250"},
	} {
		la := NewLocalAddr(netip.MustParseAddr(tc.in), "eth1")
		if la.Addr.String() != tc.want || la.Addr16 != netip.MustParseAddr(tc.want).As16() || la.Iface != "eth1" {
			t.Errorf("NewLocalAddr(%s) = %v %x %q", tc.in, la.Addr, la.Addr16, la.Iface)
		}
		if la.Conns.Load() != 0 || la.Conflicts.Load() != 0 {
			t.Error("counters not zero")
		}
	}
	if FullNAT.String() != "FullNat" {
		t.Errorf("FullNAT prints %q", FullNAT.String())
	}
}

func TestSchedFlagByName(t *testing.T) {
	for _, c := range []struct {
		name  string
		flag  uint32
		sched string
		ok    bool
	}{
		{"flag-1", SvcSchedFlag1, "", true}, {"flag-2", SvcSchedFlag2, "", true}, {"flag-3", SvcSchedFlag3, "", true},
		{"sh-fallback", SvcSchedFlag1, "sh", true}, {"sh-port", SvcSchedFlag2, "sh", true},
		{"mh-fallback", SvcSchedFlag1, "mh", true}, {"mh-port", SvcSchedFlag2, "mh", true},
		{"", 0, "", false}, {"sh-Port", 0, "", false}, {"flag-4", 0, "", false},
	} {
		f, s, ok := SchedFlagByName(c.name)
		if f != c.flag || s != c.sched || ok != c.ok {
			t.Errorf("SchedFlagByName(%q) = %#x, %q, %v", c.name, f, s, ok)
		}
	}
}

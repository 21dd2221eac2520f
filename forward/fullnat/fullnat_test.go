package fullnat_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/forward/fullnat"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
)

var (
	cip   = netip.MustParseAddr("198.51.100.2")
	vip   = netip.MustParseAddr("192.0.2.10")
	lip   = netip.MustParseAddr("203.0.113.250")
	rip   = netip.MustParseAddr("203.0.113.11")
	cip6  = netip.MustParseAddr("2001:db8:1::2")
	vip6  = netip.MustParseAddr("2001:db8:2::10")
	lip6  = netip.MustParseAddr("2001:db8:3::250")
	rip6  = netip.MustParseAddr("2001:db8:3::11")
	hello = []byte("GET / HTTP/1.0\r\n\r\n")
)

func decode(t testing.TB, f []byte) *header.Parsed {
	t.Helper()
	var p header.Parsed
	if st := header.Decode(f, &p); st != header.OK {
		t.Fatalf("decode: %v", st)
	}
	return &p
}

// verify checks a frame with gopacket: it decodes without error, and the
// IPv4 header and transport checksums are valid (UDP without checksum
// aside).
func verify(t *testing.T, f []byte) gopacket.Packet {
	t.Helper()
	pk := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := pk.ErrorLayer(); el != nil && pk.TransportLayer() == nil {
		// (payload decoders such as DNS on port 53 may fail: not ours)
		t.Fatalf("gopacket: %v", el.Error())
	}
	var nl gopacket.NetworkLayer
	if ip4, ok := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		if header.Checksum(ip4.Contents, 0) != 0 {
			t.Fatal("gopacket: bad IPv4 header checksum")
		}
		nl = ip4
	} else if ip6, ok := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		nl = ip6
	}
	type verifier interface {
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		VerifyChecksum() (error, gopacket.ChecksumVerificationResult)
	}
	var l verifier
	switch {
	case pk.Layer(layers.LayerTypeTCP) != nil:
		l = pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	case pk.Layer(layers.LayerTypeUDP) != nil:
		u := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if u.Checksum == 0 && nl.LayerType() == layers.LayerTypeIPv4 {
			return pk
		}
		l = u
	default:
		return pk
	}
	if err := l.SetNetworkLayerForChecksum(nl); err != nil {
		t.Fatal(err)
	}
	if err, res := l.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("gopacket: transport checksum %v %+v", err, res)
	}
	return pk
}

// endpoints returns what gopacket reads as the frame's addresses and ports.
func endpoints(t *testing.T, pk gopacket.Packet) (src, dst netip.AddrPort) {
	t.Helper()
	a, _ := netip.AddrFromSlice(pk.NetworkLayer().NetworkFlow().Src().Raw())
	b, _ := netip.AddrFromSlice(pk.NetworkLayer().NetworkFlow().Dst().Raw())
	var sp, dp uint16
	switch l := pk.TransportLayer().(type) {
	case *layers.TCP:
		sp, dp = uint16(l.SrcPort), uint16(l.DstPort)
	case *layers.UDP:
		sp, dp = uint16(l.SrcPort), uint16(l.DstPort)
	default:
		t.Fatalf("no transport layer")
	}
	return netip.AddrPortFrom(a, sp), netip.AddrPortFrom(b, dp)
}

type golden struct {
	name     string
	in, want pkt.Spec
	dir      forward.Dir
	// In: local address and port, real server; Out: VIP, client.
	a1 netip.Addr
	p1 uint16
	a2 netip.Addr
	p2 uint16
}

var goldens = []golden{
	{"tcp syn in", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, Seq: 7, TTL: 64},
		pkt.Spec{Src: lip, Dst: rip, Proto: header.ProtoTCP, SPort: 5000, DPort: 8080, TCPFlags: header.TCPSyn, Seq: 7, TTL: 64},
		forward.In, lip, 5000, rip, 8080},
	{"tcp data in, same ports", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck | header.TCPPsh, Payload: hello},
		pkt.Spec{Src: lip, Dst: rip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck | header.TCPPsh, Payload: hello},
		forward.In, lip, 40000, rip, 80},
	{"udp in", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 5353, DPort: 53, Payload: []byte("query")},
		pkt.Spec{Src: lip, Dst: rip, Proto: header.ProtoUDP, SPort: 1024, DPort: 5300, Payload: []byte("query")},
		forward.In, lip, 1024, rip, 5300},
	{"udp no checksum in", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 5353, DPort: 53, NoUDPCsum: true, Payload: []byte("q")},
		pkt.Spec{Src: lip, Dst: rip, Proto: header.ProtoUDP, SPort: 1025, DPort: 53, NoUDPCsum: true, Payload: []byte("q")},
		forward.In, lip, 1025, rip, 53},
	{"ip options and df in", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, DF: true, ID: 77, IPOptions: []byte{1, 1, 1, 0}},
		pkt.Spec{Src: lip, Dst: rip, Proto: header.ProtoTCP, SPort: 65535, DPort: 80, DF: true, ID: 77, IPOptions: []byte{1, 1, 1, 0}},
		forward.In, lip, 65535, rip, 80},
	{"ttl 1 in is forwarded", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, TTL: 1},
		pkt.Spec{Src: lip, Dst: rip, Proto: header.ProtoTCP, SPort: 2000, DPort: 80, TTL: 1},
		forward.In, lip, 2000, rip, 80},
	{"vlan in", pkt.Spec{VLAN: 100, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80},
		pkt.Spec{VLAN: 100, Src: lip, Dst: rip, Proto: header.ProtoTCP, SPort: 3000, DPort: 80},
		forward.In, lip, 3000, rip, 80},
	{"tcp syn-ack out", pkt.Spec{Src: rip, Dst: lip, Proto: header.ProtoTCP, SPort: 8080, DPort: 5000, TCPFlags: header.TCPSyn | header.TCPAck, Seq: 9, Ack: 8, TTL: 64},
		pkt.Spec{Src: vip, Dst: cip, Proto: header.ProtoTCP, SPort: 80, DPort: 40000, TCPFlags: header.TCPSyn | header.TCPAck, Seq: 9, Ack: 8, TTL: 63},
		forward.Out, vip, 80, cip, 40000},
	{"udp out", pkt.Spec{Src: rip, Dst: lip, Proto: header.ProtoUDP, SPort: 5300, DPort: 1024, Payload: []byte("answer"), TTL: 2},
		pkt.Spec{Src: vip, Dst: cip, Proto: header.ProtoUDP, SPort: 53, DPort: 5353, Payload: []byte("answer"), TTL: 1},
		forward.Out, vip, 53, cip, 5353},
	{"udp no checksum out", pkt.Spec{Src: rip, Dst: lip, Proto: header.ProtoUDP, SPort: 53, DPort: 1025, NoUDPCsum: true},
		pkt.Spec{Src: vip, Dst: cip, Proto: header.ProtoUDP, SPort: 53, DPort: 5353, NoUDPCsum: true, TTL: 63},
		forward.Out, vip, 53, cip, 5353},
	{"ipv6 tcp in", pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 40000, DPort: 443, TCPFlags: header.TCPAck, Payload: hello},
		pkt.Spec{Src: lip6, Dst: rip6, Proto: header.ProtoTCP, SPort: 61000, DPort: 8443, TCPFlags: header.TCPAck, Payload: hello},
		forward.In, lip6, 61000, rip6, 8443},
	{"ipv6 udp in", pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoUDP, SPort: 9, DPort: 53, Payload: []byte("x")},
		pkt.Spec{Src: lip6, Dst: rip6, Proto: header.ProtoUDP, SPort: 4242, DPort: 53, Payload: []byte("x")},
		forward.In, lip6, 4242, rip6, 53},
	{"ipv6 tcp out", pkt.Spec{Src: rip6, Dst: lip6, Proto: header.ProtoTCP, SPort: 8443, DPort: 61000, TCPFlags: header.TCPAck, Payload: hello, TTL: 255},
		pkt.Spec{Src: vip6, Dst: cip6, Proto: header.ProtoTCP, SPort: 443, DPort: 40000, TCPFlags: header.TCPAck, Payload: hello, TTL: 254},
		forward.Out, vip6, 443, cip6, 40000},
	{"ipv6 udp out", pkt.Spec{Src: rip6, Dst: lip6, Proto: header.ProtoUDP, SPort: 53, DPort: 4242, TTL: 2},
		pkt.Spec{Src: vip6, Dst: cip6, Proto: header.ProtoUDP, SPort: 53, DPort: 9, TTL: 1},
		forward.Out, vip6, 53, cip6, 9},
}

func run(f []byte, p *header.Parsed, g golden) forward.Reason {
	if g.dir == forward.In {
		return fullnat.In(f, p, g.a1.As16(), g.p1, g.a2.As16(), g.p2)
	}
	return fullnat.Out(f, p, g.a1.As16(), g.p1, g.a2.As16(), g.p2)
}

// TestGolden feeds frames built by the packet builder through In and Out
// and compares them byte for byte with the frame the builder makes of the
// expected spec (checksums computed in full), then checks the result with
// gopacket: valid checksums and the expected endpoints.
func TestGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			f := pkt.Build(g.in)
			p := decode(t, f)
			if r := run(f, p, g); r != forward.Pass {
				t.Fatalf("reason %v", r)
			}
			if want := pkt.Build(g.want); !bytes.Equal(f, want) {
				t.Fatalf("frame differs\n got % x\nwant % x", f, want)
			}
			q := decode(t, f)
			if q.Src != p.Src || q.Dst != p.Dst || q.SPort != p.SPort || q.DPort != p.DPort || q.TTL != p.TTL {
				t.Fatalf("parsed view stale: %+v vs %+v", p, q)
			}
			src, dst := endpoints(t, verify(t, f))
			if src != netip.AddrPortFrom(g.want.Src, g.want.SPort) || dst != netip.AddrPortFrom(g.want.Dst, g.want.DPort) {
				t.Fatalf("gopacket sees %v → %v", src, dst)
			}
		})
	}
}

// TestRoundTrip: a request in and its reply out, through one connection's
// four addresses, leave the client seeing only the VIP and the real server
// only the local address.
func TestRoundTrip(t *testing.T) {
	req := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck, Payload: hello})
	if r := fullnat.In(req, decode(t, req), lip.As16(), 7000, rip.As16(), 8080); r != forward.Pass {
		t.Fatal(r)
	}
	src, dst := endpoints(t, verify(t, req))
	if src.Addr() != lip || dst.Addr() != rip {
		t.Fatalf("request %v → %v", src, dst)
	}
	// The real server answers the way it was asked.
	rep := pkt.Build(pkt.Spec{Src: dst.Addr(), Dst: src.Addr(), Proto: header.ProtoTCP, SPort: dst.Port(), DPort: src.Port(), TCPFlags: header.TCPAck, Payload: []byte("200 OK")})
	if r := fullnat.Out(rep, decode(t, rep), vip.As16(), 80, cip.As16(), 40000); r != forward.Pass {
		t.Fatal(r)
	}
	src, dst = endpoints(t, verify(t, rep))
	if src != netip.MustParseAddrPort("192.0.2.10:80") || dst != netip.MustParseAddrPort("198.51.100.2:40000") {
		t.Fatalf("reply %v → %v", src, dst)
	}
}

// TestDropsLeaveFrame: every drop leaves the frame as it was.
func TestDropsLeaveFrame(t *testing.T) {
	tcp4 := pkt.Spec{Src: rip, Dst: lip, Proto: header.ProtoTCP, SPort: 80, DPort: 1}
	frag := func(s pkt.Spec) []byte {
		f := pkt.Build(s)
		ip := header.IPv4(f[14:])
		ip[7] = 0x10 // offset 128
		ip.SetChecksum()
		return f
	}
	ttl1 := tcp4
	ttl1.TTL = 1
	ttl16 := pkt.Spec{Src: rip6, Dst: lip6, Proto: header.ProtoTCP, SPort: 80, DPort: 1, TTL: 1}
	for _, tc := range []struct {
		name  string
		frame []byte
		fn    func(f []byte, p *header.Parsed) forward.Reason
		want  forward.Reason
	}{
		{"out ttl 1", pkt.Build(ttl1), func(f []byte, p *header.Parsed) forward.Reason {
			return fullnat.Out(f, p, vip.As16(), 80, cip.As16(), 1)
		}, forward.DropTTL},
		{"out hop limit 1", pkt.Build(ttl16), func(f []byte, p *header.Parsed) forward.Reason {
			return fullnat.Out(f, p, vip6.As16(), 80, cip6.As16(), 1)
		}, forward.DropTTL},
		{"in later fragment", frag(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 53, Payload: make([]byte, 16)}),
			func(f []byte, p *header.Parsed) forward.Reason {
				return fullnat.In(f, p, lip.As16(), 1024, rip.As16(), 53)
			}, forward.DropFragment},
		{"out later fragment", frag(tcp4), func(f []byte, p *header.Parsed) forward.Reason {
			return fullnat.Out(f, p, vip.As16(), 80, cip.As16(), 1)
		}, forward.DropFragment},
		{"in ipv6 laddr on ipv4", pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80}),
			func(f []byte, p *header.Parsed) forward.Reason {
				return fullnat.In(f, p, lip6.As16(), 1024, rip.As16(), 80)
			}, forward.DropNoLAddr},
		{"in ipv4 laddr on ipv6", pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 1, DPort: 80}),
			func(f []byte, p *header.Parsed) forward.Reason {
				return fullnat.In(f, p, lip.As16(), 1024, rip6.As16(), 80)
			}, forward.DropNoLAddr},
		{"in ipv6 rs on ipv4", pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80}),
			func(f []byte, p *header.Parsed) forward.Reason {
				return fullnat.In(f, p, lip.As16(), 1024, rip6.As16(), 80)
			}, forward.DropMethod},
		{"out family", pkt.Build(tcp4), func(f []byte, p *header.Parsed) forward.Reason {
			return fullnat.Out(f, p, vip6.As16(), 80, cip.As16(), 1)
		}, forward.DropMethod},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := bytes.Clone(tc.frame)
			if r := tc.fn(tc.frame, decode(t, tc.frame)); r != tc.want {
				t.Fatalf("reason %v, want %v", r, tc.want)
			}
			if !bytes.Equal(tc.frame, orig) {
				t.Fatal("dropped frame was modified")
			}
		})
	}
}

func TestNoAlloc(t *testing.T) {
	f := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TTL: 255, Payload: make([]byte, 512)})
	p := decode(t, f)
	l, r, v, c := lip.As16(), rip.As16(), vip.As16(), cip.As16()
	n := testing.AllocsPerRun(200, func() {
		fullnat.In(f, p, l, 5000, r, 8080)
		fullnat.Out(f, p, v, 80, c, 40000)
	})
	if n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func BenchmarkIn(b *testing.B) {
	f := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, Payload: make([]byte, 1400)})
	p := decode(b, f)
	l, r, v, c := lip.As16(), rip.As16(), vip.As16(), cip.As16()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i&1 == 0 {
			fullnat.In(f, p, l, 5000, r, 8080)
		} else {
			fullnat.In(f, p, c, 40000, v, 80)
		}
	}
}

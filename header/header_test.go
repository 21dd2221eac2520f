package header_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
)

var (
	cip  = netip.MustParseAddr("198.51.100.2")
	vip  = netip.MustParseAddr("192.0.2.10")
	rip  = netip.MustParseAddr("203.0.113.11")
	cip6 = netip.MustParseAddr("2001:db8:1::2")
	vip6 = netip.MustParseAddr("2001:db8:2::10")
)

func TestDecodeTable(t *testing.T) {
	tcp := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, Payload: []byte("x")})
	udp := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 5353, DPort: 53, Payload: []byte("q")})
	vlan := pkt.Build(pkt.Spec{VLAN: 7, Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 2})
	tcp6 := pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 1234, DPort: 443, TCPFlags: header.TCPAck})
	opts := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, IPOptions: []byte{1, 1, 1, 0}})
	badCsum := append([]byte(nil), tcp...)
	badCsum[14+10] ^= 0xff
	badIHL := append([]byte(nil), tcp...)
	badIHL[14] = 0x44
	truncated := tcp[:30]
	badTCPOff := append([]byte(nil), tcp...)
	badTCPOff[14+20+12] = 0xf0 // data offset 60 > segment
	frag := append([]byte(nil), udp...)
	frag[14+6] = 0x00
	frag[14+7] = 0x10 // offset 16*8
	binary.BigEndian.PutUint16(frag[14+10:], 0)
	binary.BigEndian.PutUint16(frag[14+10:], header.Checksum(frag[14:34], 0))
	arp := make([]byte, 60)
	header.PutARP(arp, [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, pkt.MAC(1), header.ARPRequest, pkt.MAC(1), cip.As4(), [6]byte{}, vip.As4())
	lldp := append([]byte(nil), tcp...)
	binary.BigEndian.PutUint16(lldp[12:], 0x88cc)

	cases := []struct {
		name  string
		frame []byte
		want  header.Status
		check func(t *testing.T, p *header.Parsed)
	}{
		{"tcp", tcp, header.OK, func(t *testing.T, p *header.Parsed) {
			if p.Proto != header.ProtoTCP || p.SPort != 40000 || p.DPort != 80 || p.TCPFlags != header.TCPSyn || p.L3 != 14 || p.L4 != 34 || p.Payload != 54 || p.End != len(tcp) || p.TTL != 64 {
				t.Fatalf("bad parse %+v", p)
			}
			if header.AddrFrom16(p.Dst) != vip || header.AddrFrom16(p.Src) != cip {
				t.Fatalf("addresses %v %v", p.Src, p.Dst)
			}
		}},
		{"udp", udp, header.OK, func(t *testing.T, p *header.Parsed) {
			if p.Proto != header.ProtoUDP || p.DPort != 53 || p.Payload != 42 {
				t.Fatalf("bad parse %+v", p)
			}
		}},
		{"vlan", vlan, header.OK, func(t *testing.T, p *header.Parsed) {
			if p.VLANs != 1 || p.L3 != 18 || p.DPort != 2 {
				t.Fatalf("bad parse %+v", p)
			}
		}},
		{"tcp6", tcp6, header.OK, func(t *testing.T, p *header.Parsed) {
			if !p.IPv6 || p.L4 != 54 || p.DPort != 443 || header.AddrFrom16(p.Dst) != vip6 {
				t.Fatalf("bad parse %+v", p)
			}
		}},
		{"ip options", opts, header.OK, func(t *testing.T, p *header.Parsed) {
			if p.L4 != 38 || p.DPort != 80 {
				t.Fatalf("bad parse %+v", p)
			}
		}},
		{"arp", arp, header.OK, func(t *testing.T, p *header.Parsed) {
			if p.EtherType != header.EtherTypeARP || !header.ARP(arp[p.L3:]).Valid() {
				t.Fatalf("bad parse %+v", p)
			}
		}},
		{"later fragment", frag, header.OK, func(t *testing.T, p *header.Parsed) {
			if p.Frag != header.FragLater || p.L4 != 0 {
				t.Fatalf("bad parse %+v", p)
			}
		}},
		{"bad ip checksum", badCsum, header.ErrIPChecksum, nil},
		{"bad ihl", badIHL, header.ErrIPHeader, nil},
		{"truncated", truncated, header.ErrShort, nil},
		{"bad tcp offset", badTCPOff, header.ErrL4Header, nil},
		{"lldp", lldp, header.ErrEtherType, nil},
		{"runt", tcp[:10], header.ErrShort, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p header.Parsed
			if got := header.Decode(c.frame, &p); got != c.want {
				t.Fatalf("Decode = %v, want %v", got, c.want)
			}
			if c.check != nil {
				c.check(t, &p)
			}
		})
	}
}

// gopacketValid decodes f with gopacket, an independent implementation,
// and checks every checksum it can verify.
func gopacketValid(t *testing.T, f []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	var ph header.Parsed
	if st := header.Decode(f, &ph); st != header.OK {
		t.Fatalf("decode: %v", st)
	}
	if !header.L4ChecksumOK(f, &ph) {
		t.Fatalf("transport checksum wrong")
	}
	if ip4 := p.Layer(layers.LayerTypeIPv4); ip4 != nil {
		h := ip4.(*layers.IPv4)
		hb := h.Contents
		if header.Checksum(hb, 0) != 0 {
			t.Fatalf("ipv4 header checksum wrong")
		}
	}
	return p
}

func TestRewriteMatchesFullChecksum(t *testing.T) {
	for _, proto := range []uint8{header.ProtoTCP, header.ProtoUDP} {
		for _, v6 := range []bool{false, true} {
			src, dst, nd := cip, vip, rip
			if v6 {
				src, dst, nd = cip6, vip6, netip.MustParseAddr("2001:db8:3::11")
			}
			f := pkt.Build(pkt.Spec{Src: src, Dst: dst, Proto: proto, SPort: 40000, DPort: 80, Payload: []byte("hello world")})
			var p header.Parsed
			header.Decode(f, &p)
			header.RewriteAddrPort(f, &p, false, nd.As16(), 8080)
			want := pkt.Build(pkt.Spec{Src: src, Dst: nd, Proto: proto, SPort: 40000, DPort: 8080, Payload: []byte("hello world")})
			if !bytes.Equal(f, want) {
				t.Fatalf("proto %d v6 %v:\n got %x\nwant %x", proto, v6, f, want)
			}
			gp := gopacketValid(t, f)
			if gp.NetworkLayer().NetworkFlow().Dst().String() != nd.String() {
				t.Fatalf("gopacket sees dst %v", gp.NetworkLayer().NetworkFlow().Dst())
			}
		}
	}
}

func TestRewriteUDPNoChecksum(t *testing.T) {
	f := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 53, NoUDPCsum: true, Payload: []byte("a")})
	var p header.Parsed
	header.Decode(f, &p)
	header.RewriteAddrPort(f, &p, false, rip.As16(), 5353)
	want := pkt.Build(pkt.Spec{Src: cip, Dst: rip, Proto: header.ProtoUDP, SPort: 1, DPort: 5353, NoUDPCsum: true, Payload: []byte("a")})
	if !bytes.Equal(f, want) {
		t.Fatalf("got %x want %x", f, want)
	}
}

func TestDecTTL(t *testing.T) {
	f := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, TTL: 9})
	header.IPv4(f[14:]).DecTTL()
	want := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, TTL: 8})
	if !bytes.Equal(f, want) {
		t.Fatal("DecTTL checksum differs from full computation")
	}
}

// FuzzIncremental checks RFC 1624 updates against a full recomputation for
// random packets and random new addresses and ports.
func FuzzIncremental(f *testing.F) {
	f.Add([]byte("payload"), uint32(0xcb007101), uint16(80), false, uint8(6))
	f.Add([]byte{}, uint32(0), uint16(0), true, uint8(17))
	f.Add([]byte{0xff, 0xff, 0xff}, uint32(0xffffffff), uint16(0xffff), false, uint8(17))
	f.Fuzz(func(t *testing.T, payload []byte, addr uint32, port uint16, src bool, proto uint8) {
		if proto != header.ProtoTCP {
			proto = header.ProtoUDP
		}
		if len(payload) > 1400 {
			payload = payload[:1400]
		}
		frame := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: proto, SPort: 1000, DPort: 80, Payload: payload})
		var p header.Parsed
		if st := header.Decode(frame, &p); st != header.OK {
			t.Fatal(st)
		}
		var a4 [4]byte
		binary.BigEndian.PutUint32(a4[:], addr)
		na := netip.AddrFrom4(a4)
		header.RewriteAddrPort(frame, &p, src, na.As16(), port)
		s := pkt.Spec{Src: cip, Dst: vip, Proto: proto, SPort: 1000, DPort: 80, Payload: payload}
		if src {
			s.Src, s.SPort = na, port
		} else {
			s.Dst, s.DPort = na, port
		}
		want := pkt.Build(s)
		// A UDP checksum of 0x0000 and 0xffff are the same value in one's
		// complement; the full computation writes 0xffff for a zero result.
		if !bytes.Equal(frame, want) {
			t.Fatalf("incremental differs:\n got %x\nwant %x", frame, want)
		}
	})
}

// FuzzDecode: no panic on any input, and offsets stay inside the frame.
func FuzzDecode(f *testing.F) {
	f.Add(pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80}))
	f.Add(pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoUDP, SPort: 1, DPort: 53}))
	f.Add(pkt.Build(pkt.Spec{VLAN: 3, Src: cip, Dst: vip, Proto: header.ProtoICMP, ICMPType: 8}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p header.Parsed
		if header.Decode(b, &p) != header.OK {
			return
		}
		if p.End > len(b) || p.L3 > p.End || p.L4 > p.End || p.Payload > p.End {
			t.Fatalf("offsets outside frame: %+v len %d", p, len(b))
		}
		// Rewriting a decoded frame must not panic either.
		if p.EtherType != header.EtherTypeARP {
			header.RewriteAddrPort(b, &p, false, rip.As16(), 1)
		}
	})
}

func TestDecodeAndRewriteNoAlloc(t *testing.T) {
	f := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, Payload: make([]byte, 100)})
	var p header.Parsed
	n := testing.AllocsPerRun(1000, func() {
		header.Decode(f, &p)
		header.RewriteAddrPort(f, &p, false, rip.As16(), 80)
		header.RewriteAddrPort(f, &p, false, vip.As16(), 80)
	})
	if n != 0 {
		t.Fatalf("%v allocs per run", n)
	}
}

func TestSumMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, r.IntN(200))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		var naive uint32
		for j := 0; j+1 < len(b); j += 2 {
			naive += uint32(b[j])<<8 | uint32(b[j+1])
		}
		if len(b)%2 == 1 {
			naive += uint32(b[len(b)-1]) << 8
		}
		if header.Fold(header.Sum(b, 0)) != header.Fold(naive) {
			t.Fatalf("sum mismatch for %x", b)
		}
	}
}

func BenchmarkDecodeTCP(b *testing.B) {
	f := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, Payload: make([]byte, 1400)})
	var p header.Parsed
	b.ReportAllocs()
	for b.Loop() {
		header.Decode(f, &p)
	}
}

func BenchmarkRewrite(b *testing.B) {
	f := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, Payload: make([]byte, 1400)})
	var p header.Parsed
	header.Decode(f, &p)
	a, c := rip.As16(), vip.As16()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i&1 == 0 {
			header.RewriteAddrPort(f, &p, false, a, 8080)
		} else {
			header.RewriteAddrPort(f, &p, false, c, 80)
		}
	}
}

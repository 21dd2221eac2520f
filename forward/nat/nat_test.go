package nat_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/forward/nat"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
)

var (
	cip  = netip.MustParseAddr("198.51.100.2")
	vip  = netip.MustParseAddr("192.0.2.10")
	rip  = netip.MustParseAddr("203.0.113.11")
	cip6 = netip.MustParseAddr("2001:db8:1::2")
	vip6 = netip.MustParseAddr("2001:db8:2::10")
	rip6 = netip.MustParseAddr("2001:db8:3::11")
)

func decode(t testing.TB, f []byte) *header.Parsed {
	var p header.Parsed
	if st := header.Decode(f, &p); st != header.OK {
		t.Fatalf("decode: %v", st)
	}
	return &p
}

// TestGolden feeds frames built from a spec through In/Out and compares with
// the frame built directly from the expected spec (checksums computed in
// full by the builder).
func TestGolden(t *testing.T) {
	payload := []byte("GET / HTTP/1.0\r\n\r\n")
	cases := []struct {
		name     string
		in, want pkt.Spec
		dir      forward.Dir
		to       netip.Addr
		port     uint16
	}{
		{"tcp syn in", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, TTL: 64},
			pkt.Spec{Src: cip, Dst: rip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, TTL: 64}, forward.In, rip, 80},
		{"tcp data port map in", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck | header.TCPPsh, Payload: payload},
			pkt.Spec{Src: cip, Dst: rip, Proto: header.ProtoTCP, SPort: 40000, DPort: 8080, TCPFlags: header.TCPAck | header.TCPPsh, Payload: payload}, forward.In, rip, 8080},
		{"udp in", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 5353, DPort: 53, Payload: []byte("query")},
			pkt.Spec{Src: cip, Dst: rip, Proto: header.ProtoUDP, SPort: 5353, DPort: 53, Payload: []byte("query")}, forward.In, rip, 53},
		{"ip options in", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, IPOptions: []byte{1, 1, 1, 0}},
			pkt.Spec{Src: cip, Dst: rip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, IPOptions: []byte{1, 1, 1, 0}}, forward.In, rip, 80},
		{"df kept in", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, DF: true, ID: 77},
			pkt.Spec{Src: cip, Dst: rip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, DF: true, ID: 77}, forward.In, rip, 80},
		{"tcp reply out", pkt.Spec{Src: rip, Dst: cip, Proto: header.ProtoTCP, SPort: 8080, DPort: 40000, TCPFlags: header.TCPSyn | header.TCPAck, TTL: 64},
			pkt.Spec{Src: vip, Dst: cip, Proto: header.ProtoTCP, SPort: 80, DPort: 40000, TCPFlags: header.TCPSyn | header.TCPAck, TTL: 63}, forward.Out, vip, 80},
		{"udp reply out", pkt.Spec{Src: rip, Dst: cip, Proto: header.ProtoUDP, SPort: 53, DPort: 5353, Payload: []byte("answer"), TTL: 2},
			pkt.Spec{Src: vip, Dst: cip, Proto: header.ProtoUDP, SPort: 53, DPort: 5353, Payload: []byte("answer"), TTL: 1}, forward.Out, vip, 53},
		{"udp no checksum out", pkt.Spec{Src: rip, Dst: cip, Proto: header.ProtoUDP, SPort: 53, DPort: 5353, NoUDPCsum: true},
			pkt.Spec{Src: vip, Dst: cip, Proto: header.ProtoUDP, SPort: 53, DPort: 5353, NoUDPCsum: true, TTL: 63}, forward.Out, vip, 53},
		{"ipv6 tcp in", pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 1, DPort: 80, Payload: payload},
			pkt.Spec{Src: cip6, Dst: rip6, Proto: header.ProtoTCP, SPort: 1, DPort: 80, Payload: payload}, forward.In, rip6, 80},
		{"ipv6 udp out", pkt.Spec{Src: rip6, Dst: cip6, Proto: header.ProtoUDP, SPort: 53, DPort: 9},
			pkt.Spec{Src: vip6, Dst: cip6, Proto: header.ProtoUDP, SPort: 53, DPort: 9, TTL: 63}, forward.Out, vip6, 53},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := pkt.Build(c.in)
			p := decode(t, f)
			var r forward.Reason
			if c.dir == forward.In {
				r = nat.In(f, p, c.to.As16(), c.port)
			} else {
				r = nat.Out(f, p, c.to.As16(), c.port)
			}
			if r != forward.Pass {
				t.Fatalf("reason %v", r)
			}
			want := pkt.Build(c.want)
			if !bytes.Equal(f, want) {
				t.Fatalf("frame differs\n got %x\nwant %x", f, want)
			}
			// The Parsed view follows the rewrite.
			q := decode(t, f)
			if q.Src != p.Src || q.Dst != p.Dst || q.SPort != p.SPort || q.DPort != p.DPort || q.TTL != p.TTL {
				t.Fatalf("parsed view stale: %+v vs %+v", p, q)
			}
		})
	}
}

func TestOutTTLExpired(t *testing.T) {
	f := pkt.Build(pkt.Spec{Src: rip, Dst: cip, Proto: header.ProtoTCP, SPort: 80, DPort: 1, TTL: 1})
	orig := append([]byte(nil), f...)
	if r := nat.Out(f, decode(t, f), vip.As16(), 80); r != forward.DropTTL {
		t.Fatalf("reason %v, want ttl", r)
	}
	if !bytes.Equal(f, orig) {
		t.Fatal("dropped frame was modified")
	}
}

func TestLaterFragmentDropped(t *testing.T) {
	f := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 53, Payload: make([]byte, 16)})
	ip := header.IPv4(f[14:])
	ip[7] = 0x10
	ip.SetChecksum()
	if r := nat.In(f, decode(t, f), rip.As16(), 53); r != forward.DropFragment {
		t.Fatalf("reason %v", r)
	}
}

func TestNoAlloc(t *testing.T) {
	f := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TTL: 255, Payload: make([]byte, 512)})
	p := decode(t, f)
	a, v := rip.As16(), vip.As16()
	n := testing.AllocsPerRun(200, func() {
		nat.In(f, p, a, 8080)
		nat.Out(f, p, v, 80) // source rewrite: frame stays decodable
	})
	if n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func BenchmarkIn(b *testing.B) {
	f := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, Payload: make([]byte, 1400)})
	p := decode(b, f)
	a, v := rip.As16(), vip.As16()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i&1 == 0 {
			nat.In(f, p, a, 8080)
		} else {
			nat.In(f, p, v, 80)
		}
	}
}

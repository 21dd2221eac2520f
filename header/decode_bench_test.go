package header_test

import (
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
)

// decodeCases are the frames of the per-packet decode benchmarks: a TCP
// segment and a UDP datagram with 64 bytes of payload over IPv4 and IPv6,
// as the data plane sees them.
func decodeCases() []struct {
	name  string
	frame []byte
} {
	c4, v4 := netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("192.0.2.10")
	c6, v6 := netip.MustParseAddr("2001:db8:1::2"), netip.MustParseAddr("2001:db8:2::10")
	payload := make([]byte, 64)
	return []struct {
		name  string
		frame []byte
	}{
		{"ipv4-tcp", pkt.Build(pkt.Spec{Src: c4, Dst: v4, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck, Payload: payload})},
		{"ipv4-udp", pkt.Build(pkt.Spec{Src: c4, Dst: v4, Proto: header.ProtoUDP, SPort: 40000, DPort: 53, Payload: payload})},
		{"ipv6-tcp", pkt.Build(pkt.Spec{Src: c6, Dst: v6, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck, Payload: payload})},
		{"ipv6-udp", pkt.Build(pkt.Spec{Src: c6, Dst: v6, Proto: header.ProtoUDP, SPort: 40000, DPort: 53, Payload: payload})},
	}
}

// TestDecodeAllocs: decoding any of the benchmark frames allocates nothing
// and finds the transport header.
func TestDecodeAllocs(t *testing.T) {
	for _, c := range decodeCases() {
		var p header.Parsed
		if st := header.Decode(c.frame, &p); st != header.OK || p.SPort != 40000 {
			t.Fatalf("%s: %v %+v", c.name, st, p)
		}
		if n := testing.AllocsPerRun(1000, func() { header.Decode(c.frame, &p) }); n != 0 {
			t.Errorf("%s: %v allocs per Decode", c.name, n)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range decodeCases() {
		b.Run(c.name, func(b *testing.B) {
			var p header.Parsed
			b.ReportAllocs()
			for b.Loop() {
				header.Decode(c.frame, &p)
			}
		})
	}
}

package forward_test

import (
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/forward/dr"
	"github.com/gdirector/gdirector/forward/fullnat"
	"github.com/gdirector/gdirector/forward/nat"
	"github.com/gdirector/gdirector/forward/tun"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
)

// The per-method rewrites of an established flow, each on a TCP segment
// with 64 bytes of payload over IPv4 and IPv6: what the data plane does to
// a packet once the connection is found. Every case restores the frame
// (headers only) and its decoded form before the rewrite, as a new packet
// would arrive; the restore is part of the measured time (a few ns).

// methodHeadroom is the space kept in front of the frame (link.Headroom).
const methodHeadroom = 64

type methodCase struct {
	name string
	in   bool // client → real server (else the reply)
	run  func(buf []byte, p *header.Parsed) forward.Reason
}

func methodCases(v6 bool) (cases []methodCase, client, reply []byte) {
	c, v, r, l, d := cip, vip, netip.MustParseAddr("203.0.113.11"), netip.MustParseAddr("203.0.113.100"), netip.MustParseAddr("203.0.113.1")
	if v6 {
		c, v, r, l, d = cip6, vip6, netip.MustParseAddr("2001:db8:3::11"), netip.MustParseAddr("2001:db8:3::100"), netip.MustParseAddr("2001:db8:3::1")
	}
	payload := make([]byte, 64)
	client = pkt.Build(pkt.Spec{Src: c, Dst: v, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck, Payload: payload})
	reply = pkt.Build(pkt.Spec{Src: r, Dst: l, Proto: header.ProtoTCP, SPort: 8080, DPort: 61000, TCPFlags: header.TCPAck, Payload: payload})
	c16, v16, r16, l16, d16 := c.As16(), v.As16(), r.As16(), l.As16(), d.As16()
	f := func(buf []byte) []byte { return buf[methodHeadroom:] }
	cases = []methodCase{
		{"nat-in", true, func(buf []byte, p *header.Parsed) forward.Reason { return nat.In(f(buf), p, r16, 8080) }},
		{"nat-out", false, func(buf []byte, p *header.Parsed) forward.Reason { return nat.Out(f(buf), p, v16, 80) }},
		{"dr-in", true, func(buf []byte, p *header.Parsed) forward.Reason { return dr.In(p) }},
		{"tun-in", true, func(buf []byte, p *header.Parsed) forward.Reason {
			_, _, why := tun.Encap(buf, methodHeadroom, len(buf)-methodHeadroom, p, d16, r16, 7, 1500)
			return why
		}},
		{"fullnat-in", true, func(buf []byte, p *header.Parsed) forward.Reason {
			return fullnat.In(f(buf), p, l16, 61000, r16, 8080)
		}},
		{"fullnat-out", false, func(buf []byte, p *header.Parsed) forward.Reason {
			return fullnat.Out(f(buf), p, v16, 80, c16, 40000)
		}},
	}
	return cases, client, reply
}

// methodRun returns the function that restores the frame and runs one
// rewrite, checking it passes.
func methodRun(tb testing.TB, mc methodCase, frame []byte) func() {
	buf := append(make([]byte, methodHeadroom), frame...)
	orig := append([]byte(nil), buf...)
	var p0, p header.Parsed
	if st := header.Decode(buf[methodHeadroom:], &p0); st != header.OK {
		tb.Fatal(st)
	}
	hdr := methodHeadroom + p0.Payload // what a rewrite may touch
	return func() {
		copy(buf[:hdr], orig[:hdr])
		p = p0
		if why := mc.run(buf, &p); why != forward.Pass {
			tb.Fatalf("%s: %v", mc.name, why)
		}
	}
}

// TestMethodsAllocs: no method allocates on an established flow.
func TestMethodsAllocs(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		cases, client, reply := methodCases(v6)
		for _, mc := range cases {
			frame := reply
			if mc.in {
				frame = client
			}
			run := methodRun(t, mc, frame)
			if n := testing.AllocsPerRun(1000, run); n != 0 {
				t.Errorf("%s (IPv6 %v): %v allocs", mc.name, v6, n)
			}
		}
	}
}

func BenchmarkMethod(b *testing.B) {
	for _, v6 := range []bool{false, true} {
		cases, client, reply := methodCases(v6)
		fam := "ipv4"
		if v6 {
			fam = "ipv6"
		}
		for _, mc := range cases {
			frame := reply
			if mc.in {
				frame = client
			}
			b.Run(mc.name+"/"+fam, func(b *testing.B) {
				run := methodRun(b, mc, frame)
				b.ReportAllocs()
				for b.Loop() {
					run()
				}
			})
		}
	}
}

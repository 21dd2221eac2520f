package forward_test

import (
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
)

func TestDecodeInner(t *testing.T) {
	orig := pkt.Build(pkt.Spec{Src: netip.MustParseAddr("198.51.100.2"), Dst: netip.MustParseAddr("192.0.2.10"), Proto: header.ProtoUDP, SPort: 5353, DPort: 53})
	cases := []struct {
		name  string
		quote []byte
		ok    bool
	}{
		{"ip header and 8 bytes", orig[14:42], true},
		{"ip header and ports only", orig[14:38], true},
		{"truncated ip header", orig[14:30], false},
		{"no quote", nil, false},
	}
	for _, c := range cases {
		f := pkt.Build(pkt.Spec{Src: netip.MustParseAddr("203.0.113.11"), Dst: netip.MustParseAddr("198.51.100.2"), Proto: header.ProtoICMP, ICMPType: 3, ICMPCode: 3, Payload: c.quote})
		var p header.Parsed
		if st := header.Decode(f, &p); st != header.OK {
			t.Fatal(st)
		}
		var in forward.Inner
		ok := forward.DecodeInner(f, &p, &in)
		if ok != c.ok {
			t.Errorf("%s: ok=%v", c.name, ok)
		}
		if ok && (in.SPort != 5353 || in.DPort != 53 || in.Proto != header.ProtoUDP || header.AddrFrom16(in.Dst) != netip.MustParseAddr("192.0.2.10")) {
			t.Errorf("%s: %+v", c.name, in)
		}
	}
	if !forward.IsICMPError(false, 3) || forward.IsICMPError(false, 8) || !forward.IsICMPError(true, 2) || forward.IsICMPError(true, 128) {
		t.Error("IsICMPError")
	}
}

// FuzzICMPInner: any quoted bytes, decoded and rewritten, never panic and
// leave a frame whose ICMP checksum is right.
func FuzzICMPInner(f *testing.F) {
	orig := pkt.Build(pkt.Spec{Src: netip.MustParseAddr("198.51.100.2"), Dst: netip.MustParseAddr("192.0.2.10"), Proto: header.ProtoTCP, SPort: 1, DPort: 80})
	f.Add(orig[14:], false)
	f.Add(orig[14:40], true)
	f.Add([]byte{0x45}, false)
	f.Fuzz(func(t *testing.T, q []byte, src bool) {
		if len(q) > 1400 {
			q = q[:1400]
		}
		fr := pkt.Build(pkt.Spec{Src: netip.MustParseAddr("203.0.113.11"), Dst: netip.MustParseAddr("198.51.100.2"), Proto: header.ProtoICMP, ICMPType: 3, Payload: q})
		var p header.Parsed
		if header.Decode(fr, &p) != header.OK {
			return
		}
		var in forward.Inner
		if !forward.DecodeInner(fr, &p, &in) {
			return
		}
		forward.RewriteInner(fr, &p, &in, src, netip.MustParseAddr("192.0.2.99").As16(), 4242)
		if header.Checksum(fr[p.L4:p.End], 0) != 0 {
			t.Fatal("ICMP checksum wrong after rewrite")
		}
	})
}

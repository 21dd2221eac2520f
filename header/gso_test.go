package header_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
)

func superSpec(proto uint8, src, dst netip.Addr, n int) pkt.Spec {
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(i*13 + i>>8)
	}
	return pkt.Spec{SrcMAC: pkt.MAC(1), DstMAC: pkt.MAC(2), Src: src, Dst: dst, Proto: proto,
		SPort: 40000, DPort: 80, TCPFlags: header.TCPAck | header.TCPPsh | header.TCPFin | 0x80, Seq: 7000, Ack: 1,
		ID: 0x100, DF: true, Payload: payload}
}

// TestPutSegment cuts TCP and UDP super-frames of both families and checks
// each segment against a frame built independently for that piece.
func TestPutSegment(t *testing.T) {
	for _, c := range []struct {
		name     string
		proto    uint8
		src, dst netip.Addr
		n, size  int
	}{
		{"tcp4", header.ProtoTCP, cip, rip, 10000, 1448},
		{"tcp4-exact", header.ProtoTCP, cip, rip, 2 * 1460, 1460},
		{"tcp4-one", header.ProtoTCP, cip, rip, 100, 1460},
		{"tcp6", header.ProtoTCP, cip6, vip6, 7000, 1440},
		{"udp4", header.ProtoUDP, cip, rip, 3000, 1000},
		{"udp6", header.ProtoUDP, cip6, vip6, 2500, 1200},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := superSpec(c.proto, c.src, c.dst, c.n)
			f := pkt.Build(s)
			var p header.Parsed
			if st := header.Decode(f, &p); st != header.OK {
				t.Fatal(st)
			}
			n := header.Segments(f, &p, c.size)
			if want := (c.n + c.size - 1) / c.size; n != want {
				t.Fatalf("Segments = %d, want %d", n, want)
			}
			hl := header.SuperPayload(f, &p) - p.L3
			if got, want := header.SegmentLen(f, &p, c.size), hl+min(c.size, c.n); got != want {
				t.Errorf("SegmentLen = %d, want %d", got, want)
			}
			dst := make([]byte, 2000)
			for i := 0; i < n; i++ {
				got := dst[:header.PutSegment(dst, f, &p, c.size, i)]
				piece := s
				piece.Payload = s.Payload[i*c.size : min((i+1)*c.size, c.n)]
				piece.ID = s.ID + uint16(i)
				if c.proto == header.ProtoTCP {
					piece.Seq = s.Seq + uint32(i*c.size)
					if i != n-1 {
						piece.TCPFlags &^= header.TCPFin | header.TCPPsh
					}
					if i != 0 {
						piece.TCPFlags &^= 0x80
					}
				}
				if want := pkt.Build(piece); !bytes.Equal(got, want) {
					t.Fatalf("segment %d:\n got %x\nwant %x", i, got, want)
				}
				gopacketValid(t, got)
			}
			if header.PutSegment(dst, f, &p, c.size, n) != 0 || header.PutSegment(dst[:10], f, &p, c.size, 0) != 0 {
				t.Error("PutSegment out of range or into a short buffer did not return 0")
			}
		})
	}
}

// TestSetPartialChecksum checks the partial form against its definition:
// completing it over the transport segment gives the full checksum.
func TestSetPartialChecksum(t *testing.T) {
	for _, proto := range []uint8{header.ProtoTCP, header.ProtoUDP} {
		for _, v6 := range []bool{false, true} {
			src, dst := cip, rip
			if v6 {
				src, dst = cip6, vip6
			}
			f := pkt.Build(superSpec(proto, src, dst, 5000))
			var p header.Parsed
			header.Decode(f, &p)
			full := append([]byte(nil), f...)
			if !header.SetPartialChecksum(f, &p) {
				t.Fatal("SetPartialChecksum refused a TCP/UDP frame")
			}
			off := 16
			if proto == header.ProtoUDP {
				off = 6
			}
			// Completing: the complement of the sum over the segment with
			// the partial field in place.
			c := header.Checksum(f[p.L4:p.End], 0)
			if want := binary.BigEndian.Uint16(full[p.L4+off:]); c != want {
				t.Errorf("proto %d v6 %v: completed %#04x, full checksum %#04x", proto, v6, c, want)
			}
		}
	}
	f := pkt.Build(pkt.Spec{SrcMAC: pkt.MAC(1), DstMAC: pkt.MAC(2), Src: cip, Dst: rip, Proto: header.ProtoICMP, ICMPType: 8})
	var p header.Parsed
	header.Decode(f, &p)
	if header.SetPartialChecksum(f, &p) || header.Segments(f, &p, 1000) != 0 {
		t.Error("an ICMP frame was treated as a super-frame")
	}
}

func TestPutSegmentNoAlloc(t *testing.T) {
	f := pkt.Build(superSpec(header.ProtoTCP, cip, rip, 30000))
	var p header.Parsed
	header.Decode(f, &p)
	dst := make([]byte, 2000)
	if a := testing.AllocsPerRun(100, func() {
		for i := 0; i < header.Segments(f, &p, 1448); i++ {
			header.PutSegment(dst, f, &p, 1448, i)
		}
		header.SetPartialChecksum(f, &p)
	}); a != 0 {
		t.Errorf("%v allocations", a)
	}
}

// FuzzPutSegment: any decodable frame, any size: no panic, and every
// segment made decodes with a valid transport checksum.
func FuzzPutSegment(f *testing.F) {
	f.Add(pkt.Build(superSpec(header.ProtoTCP, cip, rip, 3000)), uint16(1448))
	f.Add(pkt.Build(superSpec(header.ProtoUDP, cip6, vip6, 3000)), uint16(1000))
	dst := make([]byte, 70000)
	f.Fuzz(func(t *testing.T, b []byte, size uint16) {
		var p header.Parsed
		if header.Decode(b, &p) != header.OK {
			return
		}
		n := header.Segments(b, &p, int(size))
		for i := 0; i < n && i < 64; i++ {
			m := header.PutSegment(dst, b, &p, int(size), i)
			if m == 0 {
				t.Fatalf("segment %d of %d not made", i, n)
			}
			var q header.Parsed
			if st := header.Decode(dst[:m], &q); st != header.OK {
				t.Fatalf("segment %d does not decode: %v", i, st)
			}
			if !header.L4ChecksumOK(dst[:m], &q) {
				t.Fatalf("segment %d: bad checksum", i)
			}
		}
	})
}

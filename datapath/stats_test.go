package datapath

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
	"github.com/gdirector/gdirector/vs"
)

// ipLen is the IP total length of an IPv4 frame: what IPVS counts (skb->len
// at the IP layer), whatever Ethernet padding the frame carries.
func ipLen(frame []byte) uint64 { return uint64(binary.BigEndian.Uint16(frame[14+2:])) }

type counts struct{ conns, inPkts, outPkts, inBytes, outBytes uint64 }

func countsOf(s *vs.Stats) counts {
	return counts{s.Conns.Load(), s.InPkts.Load(), s.OutPkts.Load(), s.InBytes.Load(), s.OutBytes.Load()}
}

// TestStatsAccounting follows ip_vs_in_stats / ip_vs_out_stats for every
// method: a client packet counts (its IP length) when it is received for a
// connection, even when sending it then fails (too big: the kernel counts
// before ip_vs_*_xmit); a reply counts once rewritten, and only NAT and
// FullNAT see replies; nothing counts once the real server was removed.
// The service and the real server count alike; the other real server
// nothing.
func TestStatsAccounting(t *testing.T) {
	for _, m := range []vs.FwdMethod{vs.Masq, vs.DirectRoute, vs.Tunnel, vs.FullNAT} {
		t.Run(fmt.Sprint(m), func(t *testing.T) {
			r, atRS := edgeRig(t, m) // the SYN, to rs1
			syn := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn})
			want := counts{conns: 1, inPkts: 1, inBytes: ipLen(syn)}
			check := func(when string) {
				t.Helper()
				if got := countsOf(&r.dests[0].Stats); got != want {
					t.Errorf("%s: rs1 %+v, want %+v", when, got, want)
				}
				if got := countsOf(r.svc.Stats); got != want {
					t.Errorf("%s: service %+v, want %+v", when, got, want)
				}
				if got := countsOf(&r.dests[1].Stats); got != (counts{}) {
					t.Errorf("%s: rs2 counted %+v", when, got)
				}
			}
			check("SYN")

			// A bare ACK in a frame padded to Ethernet's 60 bytes: the
			// padding is not counted.
			ack := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck})
			ack = append(ack, make([]byte, 60-len(ack))...)
			mustStep(t, r.w, r.clk.Now(), ack, 1, forward.Pass)
			want.inPkts++
			want.inBytes += 40
			check("padded ACK")

			// Too big with DF: dropped with frag-needed, counted.
			mtu := 1500
			if m == vs.Tunnel {
				mtu = 1480
			}
			big := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80,
				TCPFlags: header.TCPAck, DF: true, Payload: make([]byte, mtu-40+1)})
			mustStep(t, r.w, r.clk.Now(), big, 0, forward.DropMTU)
			want.inPkts++
			want.inBytes += ipLen(big)
			check("too big")

			// A data packet that goes through.
			data := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80,
				TCPFlags: header.TCPAck | header.TCPPsh, Payload: make([]byte, 300)})
			mustStep(t, r.w, r.clk.Now(), data, 1, forward.Pass)
			want.inPkts++
			want.inBytes += 340
			check("data")

			// The real server's reply through the director.
			var p header.Parsed
			header.Decode(atRS, &p)
			reply := pkt.Build(pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: header.AddrFrom16(p.Src), Proto: header.ProtoTCP,
				SPort: 80, DPort: p.SPort, TCPFlags: header.TCPSyn | header.TCPAck, Payload: make([]byte, 10)})
			dev, _, why := step(t, r.wr, r.clk.Now(), reply)
			if m == vs.Masq || m == vs.FullNAT {
				if dev != 0 || why != forward.Pass {
					t.Fatalf("reply: dev %d %v", dev, why)
				}
				want.outPkts++
				want.outBytes += 50
			} else if dev >= 0 {
				t.Fatalf("%v forwarded a reply", m)
			}
			check("reply")

			// rs1 removed (ipvsadm -d): its connection's packets no longer
			// count for it or the service.
			r.dests[0].Flags.Store(r.dests[0].Flags.Load() &^ vs.DestAvailable)
			step(t, r.w, r.clk.Now(), data)
			check("dest removed")
		})
	}
}

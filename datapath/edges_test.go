package datapath

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
	"github.com/gdirector/gdirector/vs"
)

// edgeRig is a TCP :80 rig whose dests all use method, with a local
// address for FullNAT, and one connection from cip:40000 to rs1 set up by
// a SYN (rr is moved so rs1 is picked).
func edgeRig(t *testing.T, method vs.FwdMethod) (*rig, []byte) {
	t.Helper()
	r := newRig(t, vs.TCP, 80)
	for _, d := range r.dests {
		d.Fwd.Store(uint32(method))
	}
	if method == vs.FullNAT {
		r.svc.LAddrs = []*vs.LocalAddr{vs.NewLocalAddr(edgeLAddr, "")}
	}
	syn := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn})
	out := mustStep(t, r.w, r.clk.Now(), syn, 1, forward.Pass)
	return r, append([]byte(nil), out...)
}

var edgeLAddr = netip.MustParseAddr("203.0.113.100")

// innerIP returns the IP packet the real server gets out of a frame the
// director sent: the frame's IP packet, or for the TUN method the packet
// inside the outer IPv4 header.
func innerIP(t *testing.T, method vs.FwdMethod, out []byte) []byte {
	t.Helper()
	ip := out[14:]
	if method == vs.Tunnel {
		if ip[9] != header.ProtoIPIP {
			t.Fatalf("TUN frame is not IPIP: %x", out)
		}
		ip = ip[int(ip[0]&0xf)*4:]
	}
	return ip
}

// TestMethodEdges is the golden matrix of the forwarding methods (NAT, DR,
// TUN, FullNAT) against the packets that test a director: TTL 1, IPv4
// options, a DF packet over the MTU, a reply with TTL 1, and an ICMP error
// about the connection.
func TestMethodEdges(t *testing.T) {
	methods := []vs.FwdMethod{vs.Masq, vs.DirectRoute, vs.Tunnel, vs.FullNAT}
	opts := []byte{0x94, 0x04, 0, 0} // router alert, 4 bytes
	for _, m := range methods {
		t.Run(fmt.Sprintf("%v/ttl1-options", m), func(t *testing.T) {
			// A request is delivered locally in IPVS (LOCAL_IN): TTL 1 is
			// not expired, and the options travel on unchanged.
			r, _ := edgeRig(t, m)
			spec := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80,
				TCPFlags: header.TCPAck | header.TCPPsh, TTL: 1, IPOptions: opts, Payload: []byte("GET / HTTP/1.0\r\n\r\n"), DF: true, ID: 4242}
			in := pkt.Build(spec)
			out := mustStep(t, r.w, r.clk.Now(), in, 1, forward.Pass)
			ip := innerIP(t, m, out)
			var p header.Parsed
			if st := header.Decode(append(append([]byte(nil), out[:14]...), ip...), &p); st != header.OK {
				t.Fatalf("decode: %v", st)
			}
			if !header.L4ChecksumOK(append(append([]byte(nil), out[:14]...), ip...), &p) || header.Checksum(ip[:24], 0) != 0 {
				t.Fatal("bad checksum")
			}
			if ip[0] != 0x46 || !bytes.Equal(ip[20:24], opts) || ip[8] != 1 || !header.IPv4(ip).DF() || ip[4] != 4242>>8 || ip[5] != 4242&0xff {
				t.Fatalf("IP header %x: want IHL 6 with the options, TTL 1, DF, ID kept", ip[:24])
			}
			switch m {
			case vs.DirectRoute, vs.Tunnel: // the IP packet itself is untouched
				if !bytes.Equal(ip, in[14:]) {
					t.Fatalf("%v changed the packet:\n got %x\nwant %x", m, ip, in[14:])
				}
			case vs.Masq:
				if header.AddrFrom16(p.Dst) != rip1 || header.AddrFrom16(p.Src) != cip {
					t.Fatalf("NAT %v → %v", header.AddrFrom16(p.Src), header.AddrFrom16(p.Dst))
				}
			case vs.FullNAT:
				if header.AddrFrom16(p.Dst) != rip1 || header.AddrFrom16(p.Src) != edgeLAddr {
					t.Fatalf("FullNAT %v → %v", header.AddrFrom16(p.Src), header.AddrFrom16(p.Dst))
				}
			}
			if m == vs.Tunnel && out[14+8] != 1 {
				t.Fatalf("outer TTL %d, want the inner 1", out[14+8])
			}
		})
		t.Run(fmt.Sprintf("%v/df-over-mtu", m), func(t *testing.T) {
			// Too big for the egress (1500, or 1480 inside IPIP) with DF:
			// the client gets "fragmentation needed" from the VIP with the
			// size that fits, quoting its own packet.
			r, _ := edgeRig(t, m)
			want := 1500
			if m == vs.Tunnel {
				want = 1480
			}
			big := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80,
				TCPFlags: header.TCPAck, DF: true, Payload: make([]byte, want-40+1)})
			out := mustStep(t, r.w, r.clk.Now(), big, 0, forward.DropMTU)
			p, typ, code, mtu := icmpOf(t, out)
			if typ != 3 || code != 4 || int(mtu) != want || header.AddrFrom16(p.Src) != vip || header.AddrFrom16(p.Dst) != cip {
				t.Fatalf("ICMP %d/%d mtu %d %v → %v, want 3/4 mtu %d VIP → client", typ, code, mtu, header.AddrFrom16(p.Src), header.AddrFrom16(p.Dst), want)
			}
			if !bytes.Equal(out[p.L4+8:p.L4+8+28], big[14:14+28]) {
				t.Fatal("the quote is not the client's packet")
			}
			// Without DF it is forwarded (fragmenting is the host's job;
			// the director sends what fits, IPVS likewise lets it through).
			small := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80,
				TCPFlags: header.TCPAck, Payload: make([]byte, want-40)})
			if dev, _, why := step(t, r.w, r.clk.Now(), small); dev != 1 || why != forward.Pass {
				t.Fatalf("a packet that just fits: dev %d %v", dev, why)
			}
		})
		t.Run(fmt.Sprintf("%v/icmp-from-client", m), func(t *testing.T) {
			// The client reports "fragmentation needed" about a reply it
			// got from the VIP: the error concerns the connection, so it
			// goes to rs1 by the connection's method (for NAT and FullNAT
			// with the quote rewritten to what rs1 sent).
			r, atRS := edgeRig(t, m)
			var p header.Parsed
			header.Decode(atRS, &p)
			reply := pkt.Build(pkt.Spec{Src: vip, Dst: cip, Proto: header.ProtoTCP, SPort: 80, DPort: 40000, TCPFlags: header.TCPAck, DF: true})
			fn := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoICMP,
				ICMPType: 3, ICMPCode: 4, Payload: quote(reply)})
			out := mustStep(t, r.w, r.clk.Now(), fn, 1, forward.Pass)
			if e := header.Ethernet(out); e.Dst() != macRS1 {
				t.Fatalf("sent to %x, not rs1", out[:6])
			}
			ip := innerIP(t, m, out)
			if ip[9] != header.ProtoICMP {
				t.Fatalf("not ICMP: %x", ip)
			}
			qt := ip[20+8:]
			qsrc := netip.AddrFrom4([4]byte(qt[12:16]))
			wantSrc := vip
			if m == vs.Masq || m == vs.FullNAT {
				wantSrc = rip1
			}
			if qsrc != wantSrc {
				t.Fatalf("quoted source %v, want %v (what rs1 sent)", qsrc, wantSrc)
			}
		})
		if m == vs.DirectRoute || m == vs.Tunnel {
			continue // replies bypass the director
		}
		t.Run(fmt.Sprintf("%v/reply-ttl1", m), func(t *testing.T) {
			// A reply is forwarded: TTL 1 expires at the director, which
			// tells the real server (time exceeded from its own address).
			r, atRS := edgeRig(t, m)
			var p header.Parsed
			header.Decode(atRS, &p)
			reply := pkt.Build(pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: header.AddrFrom16(p.Src), Proto: header.ProtoTCP,
				SPort: 80, DPort: p.SPort, TCPFlags: header.TCPSyn | header.TCPAck, TTL: 1})
			r.timeExceeded(t, reply)
			// TTL 2 passes with TTL 1.
			reply2 := pkt.Build(pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: header.AddrFrom16(p.Src), Proto: header.ProtoTCP,
				SPort: 80, DPort: p.SPort, TCPFlags: header.TCPSyn | header.TCPAck, TTL: 2})
			dev, out, why := step(t, r.wr, r.clk.Now(), reply2)
			if dev != 0 || why != forward.Pass || out[14+8] != 1 || header.Checksum(out[14:34], 0) != 0 {
				t.Fatalf("TTL 2 reply: dev %d %v ttl %d", dev, why, out[14+8])
			}
		})
		t.Run(fmt.Sprintf("%v/icmp-from-real-server", m), func(t *testing.T) {
			// rs1 reports port unreachable about what it received: the
			// client gets it from the VIP about the packet it sent.
			r, atRS := edgeRig(t, m)
			var p header.Parsed
			header.Decode(atRS, &p)
			unreach := pkt.Build(pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: header.AddrFrom16(p.Src), Proto: header.ProtoICMP,
				ICMPType: 3, ICMPCode: 3, Payload: quote(atRS)})
			out := mustStep(t, r.wr, r.clk.Now(), unreach, 0, forward.Pass)
			q, typ, code, _ := icmpOf(t, out)
			if typ != 3 || code != 3 || header.AddrFrom16(q.Src) != vip || header.AddrFrom16(q.Dst) != cip {
				t.Fatalf("ICMP %d/%d %v → %v", typ, code, header.AddrFrom16(q.Src), header.AddrFrom16(q.Dst))
			}
			qt := out[q.L4+8:]
			l4 := int(qt[0]&0xf) * 4
			src, dst := netip.AddrFrom4([4]byte(qt[12:16])), netip.AddrFrom4([4]byte(qt[16:20]))
			sport, dport := int(qt[l4])<<8|int(qt[l4+1]), int(qt[l4+2])<<8|int(qt[l4+3])
			if src != cip || dst != vip || sport != 40000 || dport != 80 || header.Checksum(qt[:l4], 0) != 0 {
				t.Fatalf("quote %v:%d → %v:%d, want the client's packet with a valid header", src, sport, dst, dport)
			}
		})
	}
}

// TestTunnelParksUnresolved: a TUN connection whose real server has no
// known next hop (here: a dest the rig never resolved) parks the client's
// packet; once ARP answers, the resolver encapsulates it, outer header
// DIP → RIP, and sends it to the learned MAC.
func TestTunnelParksUnresolved(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	rip3 := netip.MustParseAddr("203.0.113.13")
	d3 := vs.NewDest(rip3, 80, vs.Tunnel, 1)
	r.svc.Dests = []*vs.Dest{d3}
	r.svc.Sched.Update(r.svc)
	syn := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, DF: true})
	dev, _, why := step(t, r.w, r.clk.Now(), syn)
	if dev != -1 || why != forward.Pass {
		t.Fatalf("unresolved tunnel: dev %d %v, want parked", dev, why)
	}
	r.d.res.park(<-r.d.parkCh)
	if len(r.rdev.sent) != 1 {
		t.Fatalf("%d frames on the real-server side, want one ARP request", len(r.rdev.sent))
	}
	mac := pkt.MAC(0x33)
	r.learnARP(t, r.wr, rip3, mac)
	if len(r.rdev.sent) != 2 {
		t.Fatalf("parked frame not sent: %d frames", len(r.rdev.sent))
	}
	out := r.rdev.sent[1]
	var p header.Parsed
	if st := header.Decode(out, &p); st != header.OK {
		t.Fatal(st)
	}
	if e := header.Ethernet(out); e.Dst() != mac || e.Src() != macDirR {
		t.Fatalf("MACs %x", out[:12])
	}
	if p.Proto != header.ProtoIPIP || header.AddrFrom16(p.Src) != dip2 || header.AddrFrom16(p.Dst) != rip3 || !bytes.Equal(out[34:], syn[14:]) {
		t.Fatalf("outer %v → %v proto %d, inner equal %v", header.AddrFrom16(p.Src), header.AddrFrom16(p.Dst), p.Proto, bytes.Equal(out[34:], syn[14:]))
	}
	if header.Checksum(out[14:34], 0) != 0 || !header.IPv4(out[14:]).DF() {
		t.Fatal("outer header checksum or DF")
	}
}

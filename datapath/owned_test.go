package datapath

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
	"github.com/gdirector/gdirector/vs"
)

// gw is the floating gateway of the real servers (an LVS-NAT pair's second
// VRRP address), used by no service.
var gw = netip.MustParseAddr("203.0.113.254")

func arpWhoHas(srcMAC [6]byte, spa, tpa netip.Addr) []byte {
	f := make([]byte, 60)
	header.PutARP(f, broadcast, srcMAC, header.ARPRequest, srcMAC, spa.As4(), [6]byte{}, tpa.As4())
	return f
}

// TestOwnedGateway: an extra owned address placed on the real-server
// interface is answered (ARP there only, ICMP echo) while owned, not while
// held back, is announced only by Announce and only where it is placed,
// and a real server's reply routed through it is forwarded back to the
// client.
func TestOwnedGateway(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	now := r.clk.Now()
	fromRS := arpWhoHas(macRS1, rip1, gw)
	fromClient := arpWhoHas(macClient, cip, gw)

	// A backup: owned but held back.
	r.d.SetOwned([]OwnedAddr{{Addr: gw, Dev: "eth1"}}, []netip.Addr{gw})
	if got := r.d.Owned(); len(got) != 1 || got[0] != (OwnedAddr{Addr: gw, Dev: "eth1"}) {
		t.Fatalf("Owned() = %v", got)
	}
	if dev, _, _ := step(t, r.wr, now, fromRS); dev != -1 {
		t.Fatal("a held-back gateway answered ARP")
	}
	echo := pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: gw, Proto: header.ProtoICMP, ICMPType: 8, Payload: []byte("ping")}
	if dev, _, _ := step(t, r.wr, now, pkt.Build(echo)); dev != -1 {
		t.Fatal("a held-back gateway answered ICMP echo")
	}
	r.d.Announce([]netip.Addr{gw}, "eth0")
	if len(r.cdev.sent)+len(r.rdev.sent) != 0 {
		t.Fatal("a held-back gateway was announced")
	}

	// Master: answered on eth1 with eth1's MAC, not on eth0.
	r.d.SetOwned([]OwnedAddr{{Addr: gw, Dev: "eth1"}}, nil)
	if len(r.cdev.sent)+len(r.rdev.sent) != 0 {
		t.Fatal("SetOwned announced an address")
	}
	out := mustStep(t, r.wr, now, fromRS, 1, forward.Pass)
	want := make([]byte, 60)
	header.PutARP(want, macRS1, macDirR, header.ARPReply, macDirR, gw.As4(), macRS1, rip1.As4())
	if !bytes.Equal(out, want) {
		t.Fatalf("ARP reply\n got %x\nwant %x", out, want)
	}
	if dev, _, _ := step(t, r.w, now, fromClient); dev != -1 {
		t.Fatal("the gateway was answered on the client interface")
	}
	out = mustStep(t, r.wr, now, pkt.Build(echo), 1, forward.Pass)
	reply := echo
	reply.SrcMAC, reply.DstMAC, reply.Src, reply.Dst, reply.ICMPType = macDirR, macRS1, gw, rip1, 0
	expectFrame(t, out, reply)
	// Nothing listens on it: a TCP packet to it is dropped, not passed
	// to the host.
	ssh := pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: gw, Proto: header.ProtoTCP, SPort: 40000, DPort: 22, TCPFlags: header.TCPSyn}
	mustStep(t, r.wr, now, pkt.Build(ssh), -1, forward.DropNoService)

	// Announced on eth1 only, and not at all when eth1 is the one the
	// VRRP node announces on.
	r.d.Announce([]netip.Addr{gw, netip.MustParseAddr("203.0.113.99")}, "eth0")
	if len(r.cdev.sent) != 0 || len(r.rdev.sent) != 1 {
		t.Fatalf("Announce sent %d on eth0, %d on eth1; want 0, 1", len(r.cdev.sent), len(r.rdev.sent))
	}
	header.PutARP(want, broadcast, macDirR, header.ARPRequest, macDirR, gw.As4(), [6]byte{}, gw.As4())
	if !bytes.Equal(r.rdev.sent[0], want) {
		t.Fatalf("gratuitous ARP\n got %x\nwant %x", r.rdev.sent[0], want)
	}
	r.rdev.sent = nil
	r.d.Announce([]netip.Addr{gw}, "eth1")
	if len(r.cdev.sent)+len(r.rdev.sent) != 0 {
		t.Fatal("Announce sent on the skipped interface")
	}

	// A NAT connection; the real server's reply (addressed to the client,
	// sent to the director's MAC as its gateway) goes back to the client.
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, Seq: 1}
	mustStep(t, r.w, now, pkt.Build(syn), 1, forward.Pass)
	synack := pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: cip, Proto: header.ProtoTCP, SPort: 80, DPort: 40000, TCPFlags: header.TCPSyn | header.TCPAck, Seq: 7, Ack: 2}
	out = mustStep(t, r.wr, now, pkt.Build(synack), 0, forward.Pass)
	back := synack
	back.SrcMAC, back.DstMAC, back.Src, back.TTL = macDirC, macClient, vip, 63
	expectFrame(t, out, back)

	// Back to backup: silent again; the table change keeps it so.
	r.d.SetStandby([]netip.Addr{gw})
	r.d.TableChanged(r.tbl.Load())
	if dev, _, _ := step(t, r.wr, now, fromRS); dev != -1 {
		t.Fatal("the gateway answered ARP after it was held back again")
	}
	if len(r.cdev.sent)+len(r.rdev.sent) != 0 {
		t.Fatal("a table change announced the held-back gateway")
	}
	r.d.SetStandby(nil)
	mustStep(t, r.wr, now, fromRS, 1, forward.Pass)
	r.d.SetOwned(nil, nil) // no longer a VRRP address
	if dev, _, _ := step(t, r.wr, now, fromRS); dev != -1 {
		t.Fatal("a removed owned address answered ARP")
	}
}

// TestOwnedPlacement: an owned address without a (served) interface is
// answered on every one, and a service's address stays answered everywhere
// whatever its placement.
func TestOwnedPlacement(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	now := r.clk.Now()
	other := netip.MustParseAddr("192.0.2.77")
	r.d.SetOwned([]OwnedAddr{{Addr: other}, {Addr: gw, Dev: "eth9"}, {Addr: vip, Dev: "eth1"}}, nil)
	for _, a := range []netip.Addr{other, gw, vip} {
		mustStep(t, r.w, now, arpWhoHas(macClient, cip, a), 0, forward.Pass)
		mustStep(t, r.wr, now, arpWhoHas(macRS1, rip1, a), 1, forward.Pass)
	}
	if got := r.d.Owned(); len(got) != 3 || got[1] != (OwnedAddr{Addr: gw}) {
		t.Fatalf("Owned() = %v (an unserved interface reads as none)", got)
	}
	// Announce: every interface but the skipped one.
	r.d.Announce([]netip.Addr{other}, "eth0")
	if len(r.cdev.sent) != 0 || len(r.rdev.sent) != 1 {
		t.Fatalf("Announce sent %d on eth0, %d on eth1; want 0, 1", len(r.cdev.sent), len(r.rdev.sent))
	}
}

// TestOwnedNDP: an IPv6 owned address placed on eth1 is solicited and
// answered there only.
func TestOwnedNDP(t *testing.T) {
	d, _, _, clk := newRig6(t, nil)
	gw6 := netip.MustParseAddr("2001:db8:3::fe")
	d.SetOwned([]OwnedAddr{{Addr: gw6, Dev: "eth1"}}, nil)
	sn, smac := header.SolicitedNode(gw6.As16())
	ns := make([]byte, 14+72)
	e := header.Ethernet(ns)
	e.SetDst(smac)
	e.SetSrc(macRS1)
	ns[12], ns[13] = 0x86, 0xdd
	header.PutNDP(ns[14:], header.ICMPv6NeighborSolicit, 0, rip61.As16(), sn, gw6.As16(), macRS1)
	out := mustStep(t, d.workers[1], clk.Now(), ns, 1, forward.Pass)
	var p header.Parsed
	if header.Decode(out, &p) != header.OK || p.ICMPType != header.ICMPv6NeighborAdvert || header.Ethernet(out).Src() != macDirR {
		t.Fatalf("not an advertisement from eth1: %x", out)
	}
	if dev, _, _ := step(t, d.workers[0], clk.Now(), ns); dev != -1 {
		t.Fatal("the IPv6 gateway was answered on eth0")
	}
	d.SetStandby([]netip.Addr{gw6})
	if dev, _, _ := step(t, d.workers[1], clk.Now(), ns); dev != -1 {
		t.Fatal("a held-back IPv6 gateway was answered")
	}
}

// TestOwnedNoAlloc: with owned addresses published, an established flow's
// packets in both directions still cost no allocation.
func TestOwnedNoAlloc(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	r.d.SetOwned([]OwnedAddr{{Addr: gw, Dev: "eth1"}}, []netip.Addr{netip.MustParseAddr("192.0.2.99")})
	now := r.clk.Now()
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, Seq: 1}
	mustStep(t, r.w, now, pkt.Build(syn), 1, forward.Pass)
	ack := syn
	ack.TCPFlags, ack.Seq = header.TCPAck, 2
	rep := pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: cip, Proto: header.ProtoTCP, SPort: 80, DPort: 40000, TCPFlags: header.TCPAck, Seq: 8, Ack: 2}
	for _, c := range []struct {
		name string
		w    *Worker
		f    []byte
	}{{"client→RS", r.w, withHeadroom(pkt.Build(ack))}, {"RS→client", r.wr, withHeadroom(pkt.Build(rep))}} {
		buf := make([]byte, len(c.f), cap(c.f))
		if n := testing.AllocsPerRun(100, func() {
			copy(buf, c.f)
			if dev, _, _ := c.w.Process(buf, now); dev < 0 {
				t.Fatalf("%s: not forwarded", c.name)
			}
		}); n != 0 {
			t.Fatalf("%s: %v allocs per packet with owned addresses", c.name, n)
		}
	}
}

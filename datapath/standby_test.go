package datapath

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
	"github.com/gdirector/gdirector/vs"
)

// TestStandby: an address held back (a VRRP backup's) is not answered by
// ARP, ICMP echo or new connections, while connections already tracked go
// on; given back, it is answered again without a second announcement.
func TestStandby(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	now := r.clk.Now()
	arpReq := make([]byte, 60)
	header.PutARP(arpReq, broadcast, macClient, header.ARPRequest, macClient, cip.As4(), [6]byte{}, vip.As4())
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, Seq: 1}
	// A connection opened while the address was owned.
	mustStep(t, r.w, now, pkt.Build(syn), 1, forward.Pass)

	r.d.SetStandby([]netip.Addr{vip, netip.MustParseAddr("192.0.2.99")})
	if got := r.d.Standby(); len(got) != 2 || !slices.Contains(got, vip) {
		t.Fatalf("Standby() = %v", got)
	}
	if dev, _, _ := step(t, r.w, now, arpReq); dev != -1 {
		t.Fatal("a standby address answered ARP")
	}
	echo := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoICMP, ICMPType: 8, Payload: []byte("ping")}
	if dev, _, _ := step(t, r.w, now, pkt.Build(echo)); dev != -1 {
		t.Fatal("a standby address answered ICMP echo")
	}
	syn2 := syn
	syn2.SPort = 40001
	mustStep(t, r.w, now, pkt.Build(syn2), -1, forward.DropStandby)
	if got := r.d.Counters().Drops["standby"]; got != 1 {
		t.Fatalf("standby drops %d, want 1", got)
	}
	// The tracked connection is still forwarded.
	ack := syn
	ack.TCPFlags, ack.Seq, ack.Payload = header.TCPAck, 2, []byte("x")
	mustStep(t, r.w, now, pkt.Build(ack), 1, forward.Pass)

	// A table change keeps the address held back.
	r.d.TableChanged(r.tbl.Load())
	if dev, _, _ := step(t, r.w, now, arpReq); dev != -1 {
		t.Fatal("a standby address answered ARP after a table change")
	}
	if len(r.cdev.sent)+len(r.rdev.sent) != 0 {
		t.Fatal("a standby address was announced")
	}

	// Owned again: answered, not announced (the VRRP node announces).
	r.d.SetStandby(nil)
	if dev, _, _ := step(t, r.w, now, arpReq); dev != 0 {
		t.Fatal("an owned address did not answer ARP")
	}
	if len(r.cdev.sent)+len(r.rdev.sent) != 0 {
		t.Fatal("SetStandby announced an address")
	}
	mustStep(t, r.w, now, pkt.Build(syn2), 1, forward.Pass)
}

// TestStandbyNoAlloc: the standby check costs no allocation on an
// established flow or a new one.
func TestStandbyNoAlloc(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	r.d.SetStandby([]netip.Addr{netip.MustParseAddr("192.0.2.99")})
	now := r.clk.Now()
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, Seq: 1}
	mustStep(t, r.w, now, pkt.Build(syn), 1, forward.Pass)
	ack := syn
	ack.TCPFlags, ack.Seq = header.TCPAck, 2
	f := withHeadroom(pkt.Build(ack))
	buf := make([]byte, len(f), cap(f))
	if n := testing.AllocsPerRun(100, func() {
		copy(buf, f)
		r.w.Process(buf, now)
	}); n != 0 {
		t.Fatalf("%v allocs per established packet with a standby set", n)
	}
}

package datapath

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
	"github.com/gdirector/gdirector/link"
	"github.com/gdirector/gdirector/vs"
)

// offDev is a fakeDev that takes super-frames whole (a packet socket with
// PACKET_VNET_HDR): it records the Offload of every frame written.
type offDev struct {
	*fakeDev
	sentOff   []link.Offload
	counted   int // countOnly: frames written, not recorded
	countOnly bool
}

func (d *offDev) MaxFrameSize() int        { return link.MaxSuperFrame }
func (d *offDev) Offloads() []link.Offload { return nil }
func (d *offDev) WriteOffload(bufs [][]byte, offl []link.Offload, off int) (int, error) {
	if d.countOnly {
		d.counted += len(bufs)
		return len(bufs), nil
	}
	d.sentOff = append(d.sentOff, offl[:len(bufs)]...)
	return d.fakeDev.Write(bufs, off)
}

// offloadOn wraps every device; offloadIn only the client side, so that
// super-frames read there must be cut on their way to the real servers.
func offloadOn(d *fakeDev) link.Device { return &offDev{fakeDev: d} }
func offloadIn(d *fakeDev) link.Device {
	if d.name == "eth0" {
		return &offDev{fakeDev: d}
	}
	return d
}

// superBatch makes w handle frames as one batch read with offl.
func superBatch(w *Worker, frames [][]byte, offl []link.Offload) {
	for i, f := range frames {
		w.sizes[i] = copy(w.bufs[i][link.Headroom:], f)
	}
	w.offl = offl
	w.batch(len(frames))
	w.offl = nil
}

const superMSS = 1448

// superPayload is n pattern bytes.
func superPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>9)
	}
	return b
}

// clientSuper is a client→VIP TCP super-frame of connection cip:40000 as
// a packet socket reads it: its checksum partial.
func clientSuper(payload []byte) []byte {
	f := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80,
		TCPFlags: header.TCPAck | header.TCPPsh, Seq: 1, DF: true, Payload: payload})
	var p header.Parsed
	header.Decode(f, &p)
	header.SetPartialChecksum(f, &p)
	return f
}

// TestSuperFrameWhole: toward a device that takes super-frames, a NAT
// director rewrites a 20000-byte super-frame like any packet (MTU checked
// on its segments, not its length) and writes it whole with its Offload;
// the reply super-frame comes back whole too. The stats count one packet
// and all its bytes each way, as IPVS counts a GSO packet.
func TestSuperFrameWhole(t *testing.T) {
	r := newRigDevs(t, vs.TCP, 80, offloadOn)
	syn := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn})
	mustStep(t, r.w, r.clk.Now(), syn, 1, forward.Pass)
	rdev := r.d.devs[1].(*offDev)
	cdev := r.d.devs[0].(*offDev)
	rdev.sent, rdev.sentOff = nil, nil
	payload := superPayload(20000)
	o := link.Offload{GSO: link.GSOTCPv4, GSOSize: superMSS}
	superBatch(r.w, [][]byte{clientSuper(payload)}, []link.Offload{o})
	if len(rdev.sent) != 1 || len(rdev.sentOff) != 1 || rdev.sentOff[0] != o {
		t.Fatalf("real-server side: %d frames, offloads %v; want the super-frame whole with %v", len(rdev.sent), rdev.sentOff, o)
	}
	out := rdev.sent[0]
	var p header.Parsed
	if st := header.Decode(out, &p); st != header.OK || header.AddrFrom16(p.Dst) != rip1 || header.AddrFrom16(p.Src) != cip {
		t.Fatalf("out: %v %v → %v", st, header.AddrFrom16(p.Src), header.AddrFrom16(p.Dst))
	}
	if !bytes.Equal(out[len(out)-len(payload):], payload) || header.Checksum(out[14:34], 0) != 0 {
		t.Fatal("payload or IPv4 header checksum wrong")
	}

	reply := pkt.Build(pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip1, Dst: cip, Proto: header.ProtoTCP, SPort: 80, DPort: 40000,
		TCPFlags: header.TCPAck, Seq: 9, DF: true, Payload: payload})
	cdev.sent, cdev.sentOff = nil, nil
	superBatch(r.wr, [][]byte{reply}, []link.Offload{o})
	if len(cdev.sent) != 1 || cdev.sentOff[0] != o {
		t.Fatalf("client side: %d frames, offloads %v", len(cdev.sent), cdev.sentOff)
	}
	header.Decode(cdev.sent[0], &p)
	if header.AddrFrom16(p.Src) != vip {
		t.Fatalf("reply from %v, want the VIP", header.AddrFrom16(p.Src))
	}
	st := r.svc.Stats
	if in, out := st.InPkts.Load(), st.OutPkts.Load(); in != 2 || out != 1 {
		t.Errorf("service packets in %d out %d, want 2 (SYN + super-frame) and 1", in, out)
	}
	if b := st.InBytes.Load(); b < 20000 {
		t.Errorf("service bytes in %d: the super-frame's bytes are not counted", b)
	}

	// Segments that would not fit the MTU: frag-needed from the VIP, as
	// IPVS answers a GSO packet whose segments are too big.
	big := link.Offload{GSO: link.GSOTCPv4, GSOSize: 1461}
	rdev.sent = nil
	cdev.sent = nil
	superBatch(r.w, [][]byte{clientSuper(payload)}, []link.Offload{big})
	if len(rdev.sent) != 0 || len(cdev.sent) != 1 {
		t.Fatalf("segments over the MTU: %d frames to the real server, %d to the client (want 0, 1 ICMP)", len(rdev.sent), len(cdev.sent))
	}
	if _, typ, code, mtu := icmpOf(t, cdev.sent[0]); typ != 3 || code != 4 || mtu != 1500 {
		t.Fatalf("ICMP %d/%d mtu %d, want frag-needed 1500", typ, code, mtu)
	}
}

// TestSuperFrameICMPToPlainDevice: the frag-needed answer to a
// super-frame is an ordinary frame, sent as such on a device that takes
// no super-frames (it was once taken for the super-frame and cut, that
// is, dropped).
func TestSuperFrameICMPToPlainDevice(t *testing.T) {
	offloadOut := func(d *fakeDev) link.Device {
		if d.name == "eth1" {
			return &offDev{fakeDev: d}
		}
		return d
	}
	r := newRigDevs(t, vs.TCP, 80, offloadOut)
	syn := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn})
	mustStep(t, r.w, r.clk.Now(), syn, 1, forward.Pass)
	r.cdev.sent = nil
	superBatch(r.w, [][]byte{clientSuper(superPayload(20000))}, []link.Offload{{GSO: link.GSOTCPv4, GSOSize: 1461}})
	if len(r.cdev.sent) != 1 {
		t.Fatalf("%d frames back to the client, want the frag-needed", len(r.cdev.sent))
	}
	if _, typ, code, mtu := icmpOf(t, r.cdev.sent[0]); typ != 3 || code != 4 || mtu != 1500 {
		t.Fatalf("ICMP %d/%d mtu %d, want frag-needed 1500", typ, code, mtu)
	}
}

// checkSegments checks that frames are the segments of payload (sent from
// seq 1 in mss-byte pieces) with valid checksums, and returns their inner
// packets' parsed headers.
func checkSegments(t *testing.T, frames [][]byte, payload []byte, mss int, inner func([]byte) []byte) []header.Parsed {
	t.Helper()
	want := (len(payload) + mss - 1) / mss
	if len(frames) != want {
		t.Fatalf("%d frames, want %d segments", len(frames), want)
	}
	var joined []byte
	var ps []header.Parsed
	for i, f := range frames {
		if len(f)-14 > 1500 {
			t.Errorf("segment %d: %d bytes of IP, over the MTU", i, len(f)-14)
		}
		g := inner(f)
		var p header.Parsed
		if st := header.Decode(g, &p); st != header.OK || !header.L4ChecksumOK(g, &p) || header.Checksum(g[14:34], 0) != 0 {
			t.Fatalf("segment %d: decode %v or a bad checksum", i, st)
		}
		if seq := binary.BigEndian.Uint32(g[p.L4+4:]); seq != uint32(1+i*mss) {
			t.Errorf("segment %d: seq %d", i, seq)
		}
		joined = append(joined, g[p.L4+20:p.End]...)
		ps = append(ps, p)
	}
	if !bytes.Equal(joined, payload) {
		t.Fatal("the segments do not carry the payload")
	}
	return ps
}

// TestSuperFrameSegmented: toward a device that cannot take super-frames,
// NAT cuts the rewritten super-frame into MSS segments with full
// checksums.
func TestSuperFrameSegmented(t *testing.T) {
	r := newRigDevs(t, vs.TCP, 80, offloadIn)
	syn := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn})
	mustStep(t, r.w, r.clk.Now(), syn, 1, forward.Pass)
	r.rdev.sent = nil
	payload := superPayload(20000)
	superBatch(r.w, [][]byte{clientSuper(payload)}, []link.Offload{{GSO: link.GSOTCPv4, GSOSize: superMSS}})
	for _, p := range checkSegments(t, r.rdev.sent, payload, superMSS, func(f []byte) []byte { return f }) {
		if header.AddrFrom16(p.Dst) != rip1 {
			t.Fatalf("segment to %v, want rs1", header.AddrFrom16(p.Dst))
		}
	}
}

// TestSuperFrameTunnel: no offload type describes an IPIP packet, so the
// TUN method cuts a super-frame into segments and encapsulates each one;
// segments that would not fit inside the tunnel get frag-needed with the
// inner MTU (1480).
func TestSuperFrameTunnel(t *testing.T) {
	r := newRigDevs(t, vs.TCP, 80, offloadOn)
	for _, d := range r.dests {
		d.Fwd.Store(uint32(vs.Tunnel))
	}
	syn := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn})
	mustStep(t, r.w, r.clk.Now(), syn, 1, forward.Pass)
	rdev := r.d.devs[1].(*offDev)
	rdev.sent, rdev.sentOff = nil, nil
	// 1440 bytes: 20 (IP) + 20 (TCP) + 1440 fill the 1480 bytes an IPIP
	// tunnel leaves of a 1500-byte MTU.
	const tunMSS = 1440
	payload := superPayload(30000)
	superBatch(r.w, [][]byte{clientSuper(payload)}, []link.Offload{{GSO: link.GSOTCPv4, GSOSize: tunMSS}})
	for i, o := range rdev.sentOff {
		if o.Super() {
			t.Fatalf("segment %d written as a super-frame", i)
		}
	}
	outer := func(f []byte) []byte {
		if f[14+9] != header.ProtoIPIP || binary.BigEndian.Uint16(f[14+2:]) != uint16(len(f)-14) {
			t.Fatalf("not an IPIP frame of its length: %x", f[:40])
		}
		return append(append([]byte(nil), f[:14]...), f[34:]...)
	}
	for _, p := range checkSegments(t, rdev.sent, payload, tunMSS, outer) {
		if header.AddrFrom16(p.Dst) != vip {
			t.Fatalf("inner destination %v, want the VIP untouched", header.AddrFrom16(p.Dst))
		}
	}
	rdev.sent = nil
	cdev := r.d.devs[0].(*offDev)
	cdev.sent = nil
	superBatch(r.w, [][]byte{clientSuper(payload)}, []link.Offload{{GSO: link.GSOTCPv4, GSOSize: tunMSS + 1}})
	if len(rdev.sent) != 0 || len(cdev.sent) != 1 {
		t.Fatalf("segments too big for the tunnel: %d frames out, %d back", len(rdev.sent), len(cdev.sent))
	}
	if _, typ, code, mtu := icmpOf(t, cdev.sent[0]); typ != 3 || code != 4 || mtu != 1480 {
		t.Fatalf("ICMP %d/%d mtu %d, want frag-needed 1480", typ, code, mtu)
	}
}

// TestSuperFrameNoAlloc: an established flow's super-frames, written whole
// or cut (tunnel), allocate nothing.
func TestSuperFrameNoAlloc(t *testing.T) {
	for _, m := range []vs.FwdMethod{vs.Masq, vs.Tunnel} {
		r := newRigDevs(t, vs.TCP, 80, offloadOn)
		for _, d := range r.dests {
			d.Fwd.Store(uint32(m))
		}
		syn := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn})
		mustStep(t, r.w, r.clk.Now(), syn, 1, forward.Pass)
		frames := [][]byte{clientSuper(superPayload(20000))}
		offl := []link.Offload{{GSO: link.GSOTCPv4, GSOSize: 1440}}
		rdev := r.d.devs[1].(*offDev)
		rdev.countOnly = true
		if a := testing.AllocsPerRun(50, func() { superBatch(r.w, frames, offl) }); a != 0 {
			t.Errorf("%v: %v allocations per super-frame", m, a)
		}
		if want := map[vs.FwdMethod]int{vs.Masq: 51, vs.Tunnel: 51 * 14}[m]; rdev.counted != want {
			t.Errorf("%v: %d frames written, want %d", m, rdev.counted, want)
		}
	}
}

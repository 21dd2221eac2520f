package afpacket

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/link"
)

// superFrame builds an Ethernet TCP super-frame from src to dst (port
// 40000 → 9) carrying payload, its checksum field left as garbage (the
// sender's putVnet must replace it).
func superFrame(srcMAC, dstMAC [6]byte, src, dst netip.Addr, seq uint32, payload []byte) []byte {
	var f []byte
	f = append(f, dstMAC[:]...)
	f = append(f, srcMAC[:]...)
	tcpLen := header.TCPMinLen + len(payload)
	if src.Is4() {
		f = binary.BigEndian.AppendUint16(f, header.EtherTypeIPv4)
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+tcpLen))
		binary.BigEndian.PutUint16(ip[4:], 0x1234)
		ip[6] = 0x40 // DF
		ip[8], ip[9] = 64, header.ProtoTCP
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		header.IPv4(ip).SetChecksum()
		f = append(f, ip...)
	} else {
		f = binary.BigEndian.AppendUint16(f, header.EtherTypeIPv6)
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(tcpLen))
		ip[6], ip[7] = header.ProtoTCP, 64
		s, d := src.As16(), dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		f = append(f, ip...)
	}
	tcp := make([]byte, header.TCPMinLen)
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 9)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], 1)
	tcp[12] = 5 << 4
	tcp[13] = header.TCPAck | header.TCPPsh
	binary.BigEndian.PutUint16(tcp[14:], 502)
	binary.BigEndian.PutUint16(tcp[16:], 0xdead)
	f = append(f, tcp...)
	return append(f, payload...)
}

// readOffload reads from d until it has want frames of the test's flow
// (TCP port 40000 → 9) or timeout passes, and returns copies of them with
// their Offloads.
func readOffload(t *testing.T, d *Device, want int, timeout time.Duration) ([][]byte, []link.Offload) {
	t.Helper()
	bufs := make([][]byte, d.BatchSize())
	sizes := make([]int, len(bufs))
	for i := range bufs {
		bufs[i] = make([]byte, link.Headroom+d.MaxFrameSize()+vlanTagLen)
	}
	var got [][]byte
	var offl []link.Offload
	var p header.Parsed
	deadline := time.Now().Add(timeout)
	for reads := 0; reads < 10000 && len(got) < want && time.Now().Before(deadline); reads++ {
		n, err := d.Read(bufs, sizes, link.Headroom)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		o := d.Offloads()
		for i := 0; i < n; i++ {
			f := bufs[i][link.Headroom : link.Headroom+sizes[i]]
			if header.Decode(f, &p) != header.OK || p.Proto != header.ProtoTCP || p.SPort != 40000 || p.DPort != 9 {
				continue
			}
			got = append(got, append([]byte(nil), f...))
			offl = append(offl, o[i])
		}
	}
	return got, offl
}

// TestRootOffload sends a TCP super-frame with WriteOffload across a veth
// pair and reads it back: whole, with its segmentation pending, when the
// sending veth keeps TSO on; cut by the kernel into MSS segments with
// valid checksums when TSO is off (which checks the partial checksum
// WriteOffload wrote). Both receive modes, IPv4 and IPv6.
func TestRootOffload(t *testing.T) {
	for _, rx := range []RXMode{RXRing, RXRecvmmsg} {
		for _, v6 := range []bool{false, true} {
			name := "ring"
			if rx == RXRecvmmsg {
				name = "recvmmsg"
			}
			if v6 {
				name += "/ipv6"
			}
			t.Run(name, func(t *testing.T) { testOffload(t, rx, v6) })
		}
	}
}

func testOffload(t *testing.T, rx RXMode, v6 bool) {
	lab := newVethLab(t)
	tx := lab.open(t, "va", Options{RX: rx, Offload: true})
	rcv := lab.open(t, "vb", Options{RX: rx, Offload: true})
	if !tx.Offloading() || !rcv.Offloading() {
		t.Fatalf("PACKET_VNET_HDR refused: offloading tx %v rx %v", tx.Offloading(), rcv.Offloading())
	}
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	gso := link.GSOTCPv4
	if v6 {
		src, dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
		gso = link.GSOTCPv6
	}
	payload := make([]byte, 10000)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	mss := 1460 // segments of exactly the MTU: 20 (IP) + 20 (TCP) + 1460
	if v6 {
		mss = 1440
	}
	frame := superFrame(tx.HardwareAddr(), rcv.HardwareAddr(), src, dst, 1000, payload)
	buf := append(make([]byte, link.Headroom), frame...)
	if n, err := tx.WriteOffload([][]byte{buf}, []link.Offload{{GSO: gso, GSOSize: uint16(mss)}}, link.Headroom); n != 1 || err != nil {
		t.Fatalf("WriteOffload = %d, %v", n, err)
	}
	got, offl := readOffload(t, rcv, 1, 3*time.Second)
	if len(got) != 1 {
		t.Fatalf("read %d frames of the flow, want the super-frame whole", len(got))
	}
	if offl[0] != (link.Offload{GSO: gso, GSOSize: uint16(mss)}) {
		t.Errorf("Offload = %+v, want %v/%d", offl[0], gso, mss)
	}
	if len(got[0]) != len(frame) || !bytes.Equal(got[0][len(got[0])-len(payload):], payload) {
		t.Errorf("super-frame read back with %d bytes (sent %d) or a different payload", len(got[0]), len(frame))
	}
	var p header.Parsed
	header.Decode(got[0], &p)
	partial := append([]byte(nil), got[0]...)
	header.SetPartialChecksum(partial, &p)
	if !bytes.Equal(partial, got[0]) {
		t.Errorf("checksum field %#04x is not the partial pseudo-header sum %#04x",
			binary.BigEndian.Uint16(got[0][p.L4+16:]), binary.BigEndian.Uint16(partial[p.L4+16:]))
	}
	st := tx.Stats()
	if st.SuperWritten != 1 {
		t.Errorf("tx SuperWritten = %d, want 1", st.SuperWritten)
	}
	if st := rcv.Stats(); st.SuperRead != 1 || st.Truncated != 0 {
		t.Errorf("rx SuperRead %d Truncated %d, want 1, 0", st.SuperRead, st.Truncated)
	}

	// Without TSO on the sending veth the kernel segments the frame on
	// its way out, completing each segment's checksum from the partial
	// one.
	if out, err := exec.Command("ip", "netns", "exec", lab.name, "ethtool", "-K", "va", "tso", "off", "gso", "off").CombinedOutput(); err != nil {
		setupFatal(t, "ethtool -K va tso off gso off: %v: %s", err, out)
	}
	if n, err := tx.WriteOffload([][]byte{buf}, []link.Offload{{GSO: gso, GSOSize: uint16(mss)}}, link.Headroom); n != 1 || err != nil {
		t.Fatalf("WriteOffload = %d, %v", n, err)
	}
	want := (len(payload) + mss - 1) / mss
	segs, offl := readOffload(t, rcv, want, 3*time.Second)
	if len(segs) != want {
		t.Fatalf("read %d segments, want %d (first: %d bytes, %+v)", len(segs), want, len(segs[0]), offl[0])
	}
	var joined []byte
	for i, s := range segs {
		header.Decode(s, &p)
		if offl[i].Super() {
			t.Errorf("segment %d still a super-frame: %+v", i, offl[i])
		}
		if !header.L4ChecksumOK(s, &p) {
			t.Errorf("segment %d: bad TCP checksum", i)
		}
		if seq := binary.BigEndian.Uint32(s[p.L4+4:]); seq != uint32(1000+i*mss) {
			t.Errorf("segment %d: seq %d, want %d", i, seq, 1000+i*mss)
		}
		if psh := s[p.L4+13]&header.TCPPsh != 0; psh != (i == want-1) {
			t.Errorf("segment %d: PSH %v", i, psh)
		}
		joined = append(joined, s[p.L4+header.TCPMinLen:p.End]...)
	}
	if !bytes.Equal(joined, payload) {
		t.Errorf("segments carry %d bytes, not the payload sent (%d)", len(joined), len(payload))
	}
}

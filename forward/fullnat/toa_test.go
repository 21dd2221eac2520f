package fullnat_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward/fullnat"
	"github.com/gdirector/gdirector/header"
)

// seg describes a TCP segment for the gopacket builder.
type seg struct {
	src, dst     netip.Addr
	sport, dport uint16
	syn, ack     bool
	opts         []layers.TCPOption
	payload      []byte
	vlan         uint16
	mf           bool // IPv4 more-fragments
}

// build serialises s with gopacket, lengths and checksums computed by it.
func build(t testing.TB, s seg) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	if s.vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: s.vlan})
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: 1000, Ack: 2000,
		SYN: s.syn, ACK: s.ack, Window: 502, Options: append([]layers.TCPOption(nil), s.opts...)}
	et := layers.EthernetTypeIPv4
	if s.src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Id: 4242,
			SrcIP: s.src.AsSlice(), DstIP: s.dst.AsSlice(), Flags: layers.IPv4DontFragment}
		if s.mf {
			ip.Flags = layers.IPv4MoreFragments
		}
		ls = append(ls, ip)
		tcp.SetNetworkLayerForChecksum(ip)
	} else {
		et = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: s.src.AsSlice(), DstIP: s.dst.AsSlice()}
		ls = append(ls, ip)
		tcp.SetNetworkLayerForChecksum(ip)
	}
	if s.vlan != 0 {
		ls[1].(*layers.Dot1Q).Type = et
	} else {
		eth.EthernetType = et
	}
	ls = append(ls, tcp, gopacket.Payload(s.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

var (
	nop = layers.TCPOption{OptionType: layers.TCPOptionKindNop}
	ts  = layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionData: []byte{0, 0, 1, 0, 0, 0, 2, 0}}
)

func sack(blocks int) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionData: bytes.Repeat([]byte{0, 0, 0x10, 0, 0, 0, 0x20, 0}, blocks)}
}

// toaOpt is the TOA option for a client address and port.
func toaOpt(ap netip.AddrPort) layers.TCPOption {
	d := binary.BigEndian.AppendUint16(nil, ap.Port())
	return layers.TCPOption{OptionType: 254, OptionData: append(d, ap.Addr().AsSlice()...)}
}

func nops(n int) []layers.TCPOption {
	out := make([]layers.TCPOption, n)
	for i := range out {
		out[i] = nop
	}
	return out
}

func cat(parts ...[]layers.TCPOption) []layers.TCPOption {
	var out []layers.TCPOption
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func one(o ...layers.TCPOption) []layers.TCPOption { return o }

var (
	client4 = netip.MustParseAddrPort("198.51.100.2:40000")
	client6 = netip.MustParseAddrPort("[2001:db8:1::2]:40001")
)

// TestInsertTOA: golden frames, each the input built by gopacket and the
// expected output built by gopacket with the expected options; the result
// must be byte-identical, decode with the new offsets, and verify.
func TestInsertTOA(t *testing.T) {
	v4 := func(opts []layers.TCPOption, payload []byte) seg {
		return seg{src: lip, dst: rip, sport: 5000, dport: 8080, ack: true, opts: opts, payload: payload}
	}
	v6 := func(opts []layers.TCPOption, payload []byte) seg {
		return seg{src: lip6, dst: rip6, sport: 5000, dport: 8443, ack: true, opts: opts, payload: payload}
	}
	t4, t6 := toaOpt(client4), toaOpt(client6)
	// a foreign TOA: what a client could send to pose as 192.0.2.99
	forged := toaOpt(netip.MustParseAddrPort("192.0.2.99:1"))
	type tc struct {
		name   string
		in     seg
		client netip.AddrPort
		mtu    int
		extra  int // bytes of buffer past the frame; default 64
		want   *seg
	}
	with := func(s seg, opts []layers.TCPOption) *seg { s.opts = opts; return &s }
	cases := []tc{
		{"ipv4 bare ack", v4(nil, nil), client4, 1500, 0, with(v4(nil, nil), one(t4))},
		{"ipv4 ack with timestamps", v4(cat(nops(2), one(ts)), nil), client4, 1500, 0, with(v4(nil, nil), cat(one(t4), nops(2), one(ts)))},
		{"ipv4 data", v4(cat(nops(2), one(ts)), hello), client4, 1500, 0, with(v4(nil, hello), cat(one(t4), nops(2), one(ts)))},
		{"ipv6 bare ack", v6(nil, nil), client6, 1500, 0, with(v6(nil, nil), one(t6))},
		{"ipv6 data with timestamps", v6(cat(nops(2), one(ts)), hello), client6, 1500, 0, with(v6(nil, hello), cat(one(t6), nops(2), one(ts)))},
		{"ipv4 client on ipv6 packet", v6(nil, nil), client4, 1500, 0, with(v6(nil, nil), one(t4))},
		{"vlan", seg{vlan: 7, src: lip, dst: rip, sport: 5000, dport: 80, ack: true}, client4, 1500, 0,
			&seg{vlan: 7, src: lip, dst: rip, sport: 5000, dport: 80, ack: true, opts: one(t4)}},
		{"header exactly 60", v4(cat(nops(2), one(ts), nops(2), one(sack(2))), nil), client4, 1500, 0,
			with(v4(nil, nil), cat(one(t4), nops(2), one(ts), nops(2), one(sack(2))))},
		{"ipv6 toa into 32", v6(cat(nops(2), one(ts), nops(2)), nil), client6, 1500, 0,
			with(v6(nil, nil), cat(one(t6), nops(2), one(ts), nops(2)))},
		{"ipv6 room made by dropping NOPs", v6(cat(nops(2), one(ts), nops(2), one(sack(1))), nil), client6, 1500, 0,
			with(v6(nil, nil), cat(one(t6), one(ts), one(sack(1))))},
		{"room made by dropping NOPs", v4(cat(nops(4), one(ts), one(sack(2)), nops(4)), nil), client4, 1500, 0,
			with(v4(nil, nil), cat(one(t4), one(ts), one(sack(2))))},
		{"forged toa replaced", v4(cat(nops(2), one(ts), one(forged)), nil), client4, 1500, 0,
			with(v4(nil, nil), cat(one(t4), nops(2), one(ts)))},
		{"forged toa replaced, full header", v4(cat(one(forged), one(ts), one(sack(2)), nops(4)), nil), client4, 1500, 0,
			with(v4(nil, nil), cat(one(t4), one(ts), one(sack(2)), nops(4)))},
		{"mtu exactly", v4(nil, make([]byte, 1460)), client4, 1508, 0, with(v4(nil, make([]byte, 1460)), one(t4))},
		{"mtu met by dropping NOPs", v4(cat(nops(4), one(ts), nops(2)), make([]byte, 1000)), client4, 1060, 0,
			with(v4(nil, make([]byte, 1000)), cat(one(t4), one(ts)))},
		{"buffer exactly", v4(nil, hello), client4, 1500, 8, with(v4(nil, hello), one(t4))},

		// No room: the frame is unchanged (a forged TOA blanked).
		{"no room: 40 option bytes", v4(cat(one(ts), one(sack(3)), nops(4)), nil), client4, 1500, 0, nil},
		{"no room: ipv6 toa", v6(cat(nops(2), one(ts), nops(2), one(sack(2))), nil), client6, 1500, 0, nil},
		{"no room: mtu", v4(nil, make([]byte, 1460)), client4, 1500, 0, nil},
		{"no room: mtu one short", v4(nil, make([]byte, 1460)), client4, 1507, 0, nil},
		{"no room: mtu even without NOPs", v4(cat(nops(4), one(ts), nops(2)), make([]byte, 1000)), client4, 1059, 0, nil},
		{"no room: buffer", v4(nil, hello), client4, 1500, 7, nil},
		{"no room: forged toa blanked", v6(cat(one(forged), one(ts), one(sack(2)), nops(4)), nil), client6, 1500, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := build(t, c.in)
			extra := c.extra
			if extra == 0 {
				extra = 64
			}
			const off = 40 // headroom, as the data plane reads frames
			buf := make([]byte, off+len(in)+extra)
			copy(buf[off:], in)
			frame := buf[off : off+len(in)]
			p := decode(t, frame)
			n, ok := fullnat.InsertTOA(buf, off, len(in), p, c.client.Addr().As16(), c.client.Port(), c.mtu)
			if c.want == nil {
				if ok || n != len(in) {
					t.Fatalf("InsertTOA = %d, %v; want no room", n, ok)
				}
				want := in
				if c.name == "no room: forged toa blanked" {
					want = build(t, *with(c.in, cat(nops(8), one(ts), one(sack(2)), nops(4))))
				}
				if !bytes.Equal(buf[off:off+n], want) {
					t.Fatalf("frame changed\n got % x\nwant % x", buf[off:off+n], want)
				}
				verify(t, buf[off:off+n])
				return
			}
			if !ok {
				t.Fatal("InsertTOA found no room")
			}
			want := build(t, *c.want)
			out := buf[off : off+n]
			if !bytes.Equal(out, want) {
				t.Fatalf("frame differs\n got % x\nwant % x", out, want)
			}
			q := decode(t, out)
			if q.End != p.End || q.Payload != p.Payload || q.L4 != p.L4 {
				t.Fatalf("parsed view stale: %+v vs %+v", p, q)
			}
			pk := verify(t, out)
			tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if o := tcp.Options[0]; o.OptionType != 254 || !bytes.Equal(o.OptionData, toaOpt(c.client).OptionData) {
				t.Fatalf("first option %v", o)
			}
			if !bytes.Equal(tcp.Payload, c.in.payload) {
				t.Fatal("payload changed")
			}
			if buf[off-1] != 0 || !bytes.Equal(buf[:off], make([]byte, off)) {
				t.Fatal("wrote before the frame")
			}
		})
	}
}

// TestInsertTOAUntouched: what InsertTOA must leave alone.
func TestInsertTOAUntouched(t *testing.T) {
	c := client4.Addr().As16()
	// a segment whose option after the timestamps has length l
	badLen := func(l byte) []byte {
		f := build(t, seg{src: lip, dst: rip, sport: 1, dport: 2, ack: true, opts: cat(nops(2), one(ts), nops(4))})
		opts := 14 + 20 + 20
		f[opts+12], f[opts+13] = 30, l
		binary.BigEndian.PutUint16(f[14+20+16:], 0)
		binary.BigEndian.PutUint16(f[14+20+16:], header.Checksum(f[14+20:], header.PseudoSum(f[14+12:14+16], f[14+16:14+20], header.ProtoTCP, len(f)-14-20)))
		return f
	}
	plain := build(t, seg{src: lip, dst: rip, sport: 1, dport: 2, ack: true})
	for _, tc := range []struct {
		name  string
		frame []byte
		edit  func(p *header.Parsed)
	}{
		{"first fragment", build(t, seg{src: lip, dst: rip, sport: 1, dport: 2, ack: true, mf: true, payload: hello}), nil},
		{"option length 1", badLen(1), nil},
		{"option past the end", badLen(9), nil},
		{"not tcp", plain, func(p *header.Parsed) { p.Proto = header.ProtoUDP }},
		{"later fragment", plain, func(p *header.Parsed) { p.Frag = header.FragLater }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, len(tc.frame)+64)
			copy(buf, tc.frame)
			var p header.Parsed
			if st := header.Decode(buf[:len(tc.frame)], &p); st != header.OK {
				t.Fatal(st)
			}
			if tc.edit != nil {
				tc.edit(&p)
			}
			n, ok := fullnat.InsertTOA(buf, 0, len(tc.frame), &p, c, 1, 1500)
			if ok || n != len(tc.frame) || !bytes.Equal(buf[:n], tc.frame) {
				t.Fatalf("InsertTOA = %d, %v, frame changed: %v", n, ok, !bytes.Equal(buf[:n], tc.frame))
			}
		})
	}
	// Bad arguments.
	f := build(t, seg{src: lip, dst: rip, sport: 1, dport: 2, ack: true})
	p := decode(t, f)
	for _, a := range []struct{ off, n int }{{-1, len(f)}, {1, len(f)}, {0, len(f) + 1}, {0, p.End - 1}, {len(f) + 1, 0}} {
		if n, ok := fullnat.InsertTOA(f, a.off, a.n, p, c, 1, 1500); ok || n != a.n {
			t.Fatalf("InsertTOA(off %d, n %d) = %d, %v", a.off, a.n, n, ok)
		}
	}
}

// TestInsertTOAPadding: a minimum-size frame with Ethernet padding grows
// from the end of its IP packet; the padding is not kept.
func TestInsertTOAPadding(t *testing.T) {
	f := build(t, seg{src: lip, dst: rip, sport: 5000, dport: 80, ack: true})
	if len(f) != 60 { // gopacket pads to the Ethernet minimum
		t.Fatalf("len %d", len(f))
	}
	buf := make([]byte, 128)
	copy(buf, f)
	for i := 54; i < 60; i++ {
		buf[i] = 0xee
	}
	p := decode(t, buf[:60])
	if p.End != 54 {
		t.Fatalf("end %d", p.End)
	}
	n, ok := fullnat.InsertTOA(buf, 0, 60, p, client4.Addr().As16(), client4.Port(), 1500)
	want := build(t, seg{src: lip, dst: rip, sport: 5000, dport: 80, ack: true, opts: one(toaOpt(client4))})
	if !ok || n != 62 || !bytes.Equal(buf[:n], want) {
		t.Fatalf("InsertTOA = %d, %v\n got % x\nwant % x", n, ok, buf[:n], want)
	}
}

// TestInsertTOAChecksumFuzz compares the incremental TCP checksum with a
// full recomputation over random segments, options and payload lengths
// (odd ones included).
func TestInsertTOAChecksumFuzz(t *testing.T) {
	optsets := [][]layers.TCPOption{nil, cat(nops(2), one(ts)), cat(one(ts), nops(2)), cat(nops(1), one(ts), nops(1)), cat(nops(2), one(ts), nops(2), one(sack(1)))}
	for i := range 200 {
		v6 := i%2 == 1
		s := seg{src: lip, dst: rip, sport: uint16(i * 7919), dport: uint16(i*31 + 1), ack: true,
			opts: optsets[i%len(optsets)], payload: bytes.Repeat([]byte{byte(i), 0xa5, byte(i * 3)}, 16)[:(i*5)%47]}
		cl := client4
		if v6 {
			s.src, s.dst, cl = lip6, rip6, client6
		}
		f := build(t, s)
		buf := make([]byte, len(f)+32)
		copy(buf, f)
		p := decode(t, buf[:len(f)])
		n, ok := fullnat.InsertTOA(buf, 0, len(f), p, cl.Addr().As16(), cl.Port(), 1500)
		if !ok {
			t.Fatalf("case %d: no room", i)
		}
		out := buf[:n]
		l4 := out[p.L4:p.End]
		var ps uint32
		if v6 {
			ps = header.PseudoSum(out[p.L3+8:p.L3+24], out[p.L3+24:p.L3+40], header.ProtoTCP, len(l4))
		} else {
			ps = header.PseudoSum(out[p.L3+12:p.L3+16], out[p.L3+16:p.L3+20], header.ProtoTCP, len(l4))
		}
		if header.Fold(header.Sum(l4, ps)) != 0xffff {
			t.Fatalf("case %d: TCP checksum wrong", i)
		}
		verify(t, out)
	}
}

func TestReduceMSS(t *testing.T) {
	mss := func(v uint16) layers.TCPOption {
		return layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: binary.BigEndian.AppendUint16(nil, v)}
	}
	synack := seg{src: rip, dst: lip, sport: 8080, dport: 5000, syn: true, ack: true, opts: cat(one(mss(1460)), nops(1), one(layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{7}}))}
	f := build(t, synack)
	if !fullnat.ReduceMSS(f, decode(t, f), fullnat.TOALen4) {
		t.Fatal("MSS not reduced")
	}
	synack.opts[0] = mss(1452)
	if want := build(t, synack); !bytes.Equal(f, want) {
		t.Fatalf("frame differs\n got % x\nwant % x", f, want)
	}
	verify(t, f)
	six := seg{src: rip6, dst: lip6, sport: 8080, dport: 5000, syn: true, ack: true, opts: cat(nops(2), one(ts), one(mss(1440)))}
	f = build(t, six)
	if !fullnat.ReduceMSS(f, decode(t, f), fullnat.TOALen6) {
		t.Fatal("MSS not reduced")
	}
	six.opts[3] = mss(1420)
	if want := build(t, six); !bytes.Equal(f, want) {
		t.Fatalf("frame differs\n got % x\nwant % x", f, want)
	}
	for _, s := range []seg{
		{src: rip, dst: lip, sport: 1, dport: 2, ack: true, opts: one(mss(1460))},                       // not a SYN
		{src: rip, dst: lip, sport: 1, dport: 2, syn: true, ack: true, opts: cat(nops(2), one(ts))},     // no MSS
		{src: rip, dst: lip, sport: 1, dport: 2, syn: true, ack: true, opts: one(mss(8))},               // too small
		{src: rip, dst: lip, sport: 1, dport: 2, syn: true, ack: true, opts: cat(nops(3), one(mss(1)))}, // too small
	} {
		f := build(t, s)
		orig := bytes.Clone(f)
		if fullnat.ReduceMSS(f, decode(t, f), fullnat.TOALen4) || !bytes.Equal(f, orig) {
			t.Fatalf("ReduceMSS changed %+v", s)
		}
	}
}

func TestStripTOA(t *testing.T) {
	forged := toaOpt(netip.MustParseAddrPort("192.0.2.99:1"))
	s := seg{src: cip, dst: vip, sport: 40000, dport: 80, ack: true, opts: cat(nops(2), one(ts), one(forged)), payload: hello}
	f := build(t, s)
	p := decode(t, f)
	if !fullnat.StripTOA(f, p) {
		t.Fatal("no TOA found")
	}
	s.opts = cat(nops(2), one(ts), nops(8))
	if want := build(t, s); !bytes.Equal(f, want) {
		t.Fatalf("frame differs\n got % x\nwant % x", f, want)
	}
	verify(t, f)
	if fullnat.StripTOA(f, p) {
		t.Fatal("TOA found twice")
	}
	clean := build(t, seg{src: cip, dst: vip, sport: 1, dport: 80, ack: true, opts: cat(nops(2), one(ts))})
	orig := bytes.Clone(clean)
	if fullnat.StripTOA(clean, decode(t, clean)) || !bytes.Equal(clean, orig) {
		t.Fatal("StripTOA changed a clean segment")
	}
}

func TestWantTOA(t *testing.T) {
	for _, tc := range []struct {
		flags uint8
		st    conntrack.State
		want  bool
	}{
		{header.TCPAck, conntrack.StateSynRecv, true},
		{header.TCPAck | header.TCPPsh, conntrack.StateSynRecv, true},
		{header.TCPAck | header.TCPFin, conntrack.StateSynRecv, true},
		{header.TCPAck, conntrack.StateEstablished, false},
		{header.TCPAck, conntrack.StateNone, false},
		{header.TCPSyn, conntrack.StateSynRecv, false},
		{header.TCPSyn | header.TCPAck, conntrack.StateSynRecv, false},
		{header.TCPRst | header.TCPAck, conntrack.StateSynRecv, false},
		{0, conntrack.StateSynRecv, false},
	} {
		if got := fullnat.WantTOA(tc.flags, tc.st); got != tc.want {
			t.Errorf("WantTOA(%#x, %v) = %v", tc.flags, tc.st, got)
		}
	}
}

func TestTOANoAlloc(t *testing.T) {
	orig := build(t, seg{src: lip, dst: rip, sport: 5000, dport: 8080, ack: true, opts: cat(nops(2), one(ts)), payload: make([]byte, 512)})
	syn := build(t, seg{src: rip, dst: lip, sport: 8080, dport: 5000, syn: true, ack: true,
		opts: one(layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{5, 0xb4}})})
	buf := make([]byte, len(orig)+64)
	var p, q header.Parsed
	c := client4.Addr().As16()
	n := testing.AllocsPerRun(200, func() {
		copy(buf, orig)
		header.Decode(buf[:len(orig)], &p)
		fullnat.StripTOA(buf, &p)
		if _, ok := fullnat.InsertTOA(buf, 0, len(orig), &p, c, 40000, 1500); !ok {
			t.Fatal("no room")
		}
		header.Decode(syn, &q)
		fullnat.ReduceMSS(syn, &q, 0)
	})
	if n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func BenchmarkInsertTOA(b *testing.B) {
	orig := build(b, seg{src: lip, dst: rip, sport: 5000, dport: 8080, ack: true, opts: cat(nops(2), one(ts)), payload: make([]byte, 1000)})
	buf := make([]byte, len(orig)+64)
	var p header.Parsed
	c := client4.Addr().As16()
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, orig)
		header.Decode(buf[:len(orig)], &p)
		fullnat.InsertTOA(buf, 0, len(orig), &p, c, 40000, 1500)
	}
}

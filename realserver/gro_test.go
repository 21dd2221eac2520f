package realserver

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/header"
)

// seg describes a TCP segment for tcpPacket.
type seg struct {
	v6          bool
	sport       uint16
	seq, ack    uint32
	flags       byte
	win         uint16
	opts        []byte
	n           int  // payload bytes (a pattern from seq)
	badSum      bool // corrupt the TCP checksum
	ttl, tos    byte // 0: 64, 0
	frag, ipOpt bool // an IPv4 fragment; IPv4 options
}

// tcpPacket builds the inner packet of s, client → VIP:80, with valid
// checksums (unless s.badSum).
func tcpPacket(s seg) []byte {
	tl := 20 + len(s.opts)
	t := make([]byte, tl+s.n)
	binary.BigEndian.PutUint16(t[0:], s.sport)
	binary.BigEndian.PutUint16(t[2:], 80)
	binary.BigEndian.PutUint32(t[4:], s.seq)
	binary.BigEndian.PutUint32(t[8:], s.ack)
	t[12] = byte(tl/4) << 4
	t[13] = s.flags
	binary.BigEndian.PutUint16(t[14:], s.win)
	copy(t[20:], s.opts)
	for i := 0; i < s.n; i++ {
		t[tl+i] = byte(s.seq + uint32(i))
	}
	var p []byte
	var pseudo uint32
	if s.v6 {
		p = ip6(client6, vip6, 6, s.tos, t)
		pseudo = header.PseudoSum(p[8:24], p[24:40], 6, len(t))
		if s.ttl != 0 {
			p[7] = s.ttl
		}
	} else {
		var opts []byte
		if s.ipOpt {
			opts = []byte{1, 1, 1, 0} // NOPs and an end of options
		}
		p = ip4(client, vip, 6, s.tos, opts, t)
		if s.frag {
			p[6] = 0x20 // MF
		}
		if s.ttl != 0 {
			p[8] = s.ttl
		}
		pseudo = header.PseudoSum(p[12:16], p[16:20], 6, len(t))
	}
	off := len(p) - len(t)
	binary.BigEndian.PutUint16(p[off+16:], header.Checksum(p[off:], pseudo))
	if s.badSum {
		p[off+16] ^= 0xff
	}
	return p
}

// written is one packet the coalescer wrote: its virtio header and packet.
type written struct {
	flags, gsoType                       byte
	hdrLen, gsoSize, csumStart, csumOffs uint16
	pkt                                  []byte
}

func collect() (*coalescer, *[]written) {
	var out []written
	c := newCoalescer(func(b []byte) error {
		w := written{flags: b[0], gsoType: b[1], hdrLen: binary.NativeEndian.Uint16(b[2:]), gsoSize: binary.NativeEndian.Uint16(b[4:]),
			csumStart: binary.NativeEndian.Uint16(b[6:]), csumOffs: binary.NativeEndian.Uint16(b[8:]), pkt: bytes.Clone(b[vnetHdrLen:])}
		out = append(out, w)
		return nil
	})
	return c, &out
}

// complete finishes a GSO packet's partial checksum as the stack would
// and reports whether the packet then checks as one whole TCP segment.
func complete(t *testing.T, w written) bool {
	t.Helper()
	p := bytes.Clone(w.pkt)
	if w.flags&vnetNeedsCsum != 0 {
		at := int(w.csumStart + w.csumOffs)
		binary.BigEndian.PutUint16(p[at:], header.Checksum(p[w.csumStart:], 0))
	}
	s, ok := parseSegment(p)
	return ok && tcpChecksumOK(p, &s)
}

// TestCoalesce: runs of segments become GSO packets exactly when the
// kernel's TCP GRO would merge them; everything else goes through alone
// with an empty virtio header.
func TestCoalesce(t *testing.T) {
	ts1 := []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 9} // NOP NOP timestamp 1/9
	ts2 := []byte{1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 9}
	run := func(v6 bool, seq uint32, n, size int, last int) []seg {
		var ss []seg
		for i := 0; i < n; i++ {
			l := size
			if i == n-1 && last != 0 {
				l = last
			}
			ss = append(ss, seg{v6: v6, sport: 40000, seq: seq, ack: 7, flags: tcpACK, win: 512, opts: ts1, n: l})
			seq += uint32(l)
		}
		return ss
	}
	with := func(ss []seg, i int, f func(*seg)) []seg { f(&ss[i]); return ss }
	for _, tc := range []struct {
		name string
		segs []seg
		want []int // segments in each packet written
	}{
		{"five full segments and a short one", run(false, 1000, 6, 1448, 300), []int{6}},
		{"IPv6", run(true, 1000, 4, 1428, 0), []int{4}},
		{"one segment alone", run(false, 1000, 1, 1448, 0), []int{1}},
		{"PSH ends the run", with(run(false, 1000, 5, 1000, 0), 2, func(s *seg) { s.flags |= tcpPSH }), []int{3, 2}},
		{"a short segment ends the run", with(run(false, 1000, 4, 1000, 0), 1, func(s *seg) { s.n = 10 }), []int{2, 2}},
		{"a sequence gap", with(run(false, 1000, 4, 1000, 0), 2, func(s *seg) { s.seq += 1 }), []int{2, 1, 1}},
		{"another acknowledgment", with(run(false, 1000, 3, 1000, 0), 2, func(s *seg) { s.ack++ }), []int{2, 1}},
		{"another window", with(run(false, 1000, 3, 1000, 0), 1, func(s *seg) { s.win++ }), []int{1, 1, 1}},
		{"other options", with(run(false, 1000, 3, 1000, 0), 2, func(s *seg) { s.opts = ts2 }), []int{2, 1}},
		{"another flow", with(run(false, 1000, 3, 1000, 0), 1, func(s *seg) { s.sport++ }), []int{1, 1, 1}},
		{"another TTL", with(run(false, 1000, 3, 1000, 0), 1, func(s *seg) { s.ttl = 9 }), []int{1, 1, 1}},
		{"another TOS", with(run(true, 1000, 3, 1000, 0), 1, func(s *seg) { s.tos = 4 }), []int{1, 1, 1}},
		{"a bad checksum goes alone", with(run(false, 1000, 4, 1000, 0), 1, func(s *seg) { s.badSum = true }), []int{1, 1, 2}},
		{"FIN is not merged", with(run(false, 1000, 3, 1000, 0), 2, func(s *seg) { s.flags |= tcpFIN }), []int{2, 1}},
		{"a fragment", with(run(false, 1000, 3, 1000, 0), 1, func(s *seg) { s.frag = true }), []int{1, 1, 1}},
		{"IP options", with(run(false, 1000, 3, 1000, 0), 0, func(s *seg) { s.ipOpt = true }), []int{1, 2}},
		{"a pure ACK", with(run(false, 1000, 3, 1000, 0), 1, func(s *seg) { s.n = 0; s.seq = 2000 }), []int{1, 1, 1}},
		{"64 KiB at most", run(false, 1000, 50, 1448, 0), []int{45, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, out := collect()
			var payload []byte
			for _, s := range tc.segs {
				p := tcpPacket(s)
				if _, ok := parseSegment(p); ok && !s.badSum {
					payload = append(payload, p[len(p)-s.n:]...)
				}
				if err := c.add(p); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.flush(); err != nil {
				t.Fatal(err)
			}
			var got []int
			var merged []byte
			i := 0
			for _, w := range *out {
				k := 1
				if w.gsoType != 0 {
					s, _ := parseSegment(w.pkt)
					k = (s.payload + int(w.gsoSize) - 1) / int(w.gsoSize)
					want := tcpPacket(tc.segs[i])
					f, _ := parseSegment(want)
					if w.flags != vnetNeedsCsum || int(w.hdrLen) != f.ipLen+f.tcpLen || int(w.gsoSize) != f.payload ||
						int(w.csumStart) != f.ipLen || w.csumOffs != 16 || (w.gsoType == vnetGSOTCPv6) != f.v6 {
						t.Errorf("virtio header %+v for segments of %d bytes", w, f.payload)
					}
					if !f.v6 && header.Checksum(w.pkt[:20], 0) != 0 {
						t.Errorf("IPv4 header checksum of the merged packet")
					}
				} else if w.flags != 0 || w.hdrLen != 0 || w.gsoSize != 0 {
					t.Errorf("a packet alone has virtio header %+v", w)
				}
				if s, ok := parseSegment(w.pkt); ok && !tc.segs[i].badSum {
					if !complete(t, w) {
						t.Errorf("packet %d does not check once its checksum is completed", len(got))
					}
					merged = append(merged, w.pkt[s.ipLen+s.tcpLen:]...)
				}
				got = append(got, k)
				i += k
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("packets of %v segments, want %v", got, tc.want)
			}
			if !bytes.Equal(merged, payload) {
				t.Errorf("payload differs: %d bytes written, %d sent", len(merged), len(payload))
			}
		})
	}
}

// TestCoalescePSH: a run ended by PSH carries it, once.
func TestCoalescePSH(t *testing.T) {
	c, out := collect()
	for i, f := range []byte{tcpACK, tcpACK, tcpACK | tcpPSH} {
		if err := c.add(tcpPacket(seg{sport: 1, seq: uint32(100 + 500*i), ack: 1, flags: f, n: 500})); err != nil {
			t.Fatal(err)
		}
	}
	if len(*out) != 1 || (*out)[0].pkt[20+13] != tcpACK|tcpPSH {
		t.Fatalf("%d packets written (want the run flushed at PSH), flags %#x", len(*out), (*out)[0].pkt[33])
	}
	if c.merged != 3 || c.gso != 1 {
		t.Fatalf("counters %d %d", c.merged, c.gso)
	}
}

// TestCoalesceAllocs: merging and writing allocate nothing.
func TestCoalesceAllocs(t *testing.T) {
	c := newCoalescer(func([]byte) error { return nil })
	var pkts [][]byte
	for i := 0; i < 8; i++ {
		pkts = append(pkts, tcpPacket(seg{sport: 1, seq: uint32(1448 * i), ack: 1, flags: tcpACK, n: 1448}))
	}
	pkts = append(pkts, ip4(client, vip, 17, 0, nil, udp(1, 2, strings.Repeat("x", 100))))
	if n := testing.AllocsPerRun(100, func() {
		for _, p := range pkts {
			_ = c.add(p)
		}
		_ = c.flush()
	}); n != 0 {
		t.Fatalf("%v allocations per batch", n)
	}
}

// FuzzCoalesce: any sequence of packets is written whole — every byte of
// payload in order, nothing invented — and never panics.
func FuzzCoalesce(f *testing.F) {
	f.Add(tcpPacket(seg{sport: 1, seq: 5, flags: tcpACK, n: 100}), tcpPacket(seg{sport: 1, seq: 105, flags: tcpACK, n: 50}))
	f.Add(tcpPacket(seg{v6: true, sport: 1, seq: 5, flags: tcpACK, n: 100}), []byte{0x45})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		c, out := collect()
		for _, p := range [][]byte{a, b, a} {
			_ = c.add(p)
		}
		_ = c.flush()
		total := 0
		for _, w := range *out {
			total += len(w.pkt)
		}
		if total > 3*(len(a)+len(b)) || len(*out) == 0 {
			t.Fatalf("%d packets, %d bytes written from %d", len(*out), total, 2*len(a)+len(b))
		}
	})
}

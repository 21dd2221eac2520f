package afpacket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/gdirector/gdirector/link"
)

// TestRootRecvmmsg runs the root tests of the package once more with
// recvmmsg as the receive path (the others run with the TPACKET_V3 ring).
func TestRootRecvmmsg(t *testing.T) {
	needRoot(t)
	defer func(old RXMode) { rxUnderTest = old }(rxUnderTest)
	rxUnderTest = RXRecvmmsg
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Batch", TestRootBatch}, {"UDPChecksum", TestRootUDPChecksum}, {"VLANPartial", TestRootVLANPartial},
		{"Filter", TestRootFilter}, {"Truncated", TestRootTruncated}, {"Fanout", TestRootFanout},
		{"ZeroAlloc", TestRootZeroAlloc}, {"Close", TestRootClose}, {"ConcurrentWrite", TestRootConcurrentWrite},
		{"Multicast", TestRootMulticast}, {"OpenFanout", TestRootOpenFanout}, {"Poller", TestRootPoller},
	} {
		t.Run(tc.name, tc.fn)
	}
}

func TestOptionErrors(t *testing.T) {
	bad := []Options{
		{RingBlockSize: 1000}, {RingBlockSize: 3 * 4096}, {RingBlockSize: 2048}, {RingBlocks: -1},
		{RingBlocks: 1 << 17}, {RingBlockSize: 1 << 30, RingBlocks: 4}, {RingTimeout: -time.Second},
		{RingTimeout: time.Hour}, {RX: RXMode(7)}, {Fanout: FanoutMode(9)},
	}
	for _, o := range bad {
		if d, err := Open("lo", o); err == nil {
			d.Close()
			t.Errorf("Open with %+v succeeded", o)
		}
	}
	for _, n := range []int{0, -1, 257} {
		if _, err := OpenFanout("lo", n, Options{}); err == nil {
			t.Errorf("OpenFanout with %d sockets succeeded", n)
		}
	}
	if _, err := OpenFanout("lo", 2, Options{FanoutGroup: 7}); err == nil {
		t.Error("OpenFanout with a FanoutGroup succeeded")
	}
}

// writeAll sends frames one at a time, in order, sending a frame again
// when the kernel refuses it (a veth whose peer's backlog is full under
// load answers ENOBUFS): the tests need every frame, in order.
func writeAll(t testing.TB, d *Device, frames [][]byte) {
	t.Helper()
	for _, f := range atOffset(frames) {
		for try := 0; ; try++ {
			n, err := d.Write([][]byte{f}, link.Headroom)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if n == 1 {
				break
			}
			if try == 100 {
				t.Fatal("Write refused a frame 100 times")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// udpFlow builds an Ethernet/IPv4/UDP frame to dst's MAC.
func udpFlow(dst, src [6]byte, from, to string, sport, dport uint16, payload []byte) []byte {
	s, d := netip.MustParseAddr(from), netip.MustParseAddr(to)
	return eth(dst, src, etherTypeIPv4, ipv4(s, d, protoUDP, nil, l4(protoUDP, s, d, sport, dport, payload)))
}

// readAll reads each device in its own goroutine until want frames that
// keep accepts have been read in all, or the timeout; it returns them per
// device.
func readAll(t *testing.T, devs []*Device, want int, timeout time.Duration, keep func([]byte) bool) [][][]byte {
	t.Helper()
	got := make([][][]byte, len(devs))
	var mu sync.Mutex
	total := 0
	deadline := time.Now().Add(timeout)
	var wg sync.WaitGroup
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bufs, sizes := newBufs(d.BatchSize())
			for reads := 0; reads < 100000 && time.Now().Before(deadline); reads++ {
				mu.Lock()
				done := total >= want
				mu.Unlock()
				if done {
					return
				}
				n, err := d.Read(bufs, sizes, link.Headroom)
				if err != nil {
					t.Errorf("Read: %v", err)
					return
				}
				for j := 0; j < n; j++ {
					f := bufs[j][link.Headroom : link.Headroom+sizes[j]]
					if keep(f) {
						mu.Lock()
						got[i] = append(got[i], append([]byte(nil), f...))
						total++
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	return got
}

// TestRootOpenFanout opens two fanout groups of two sockets each (one per
// end of a veth pair, so their kernel-chosen identifiers must differ):
// every frame is read exactly once, both sockets of a group get frames,
// and the two directions of a flow (the tuple and its reverse) land on the
// same socket: PACKET_FANOUT_HASH uses the symmetric flow hash. The two
// directions of a NAT connection are different tuples, which is why the
// data plane's connection table is shared by all workers.
func TestRootOpenFanout(t *testing.T) {
	lab := newVethLab(t)
	a := lab.openFanout(t, "va", 2, Options{})
	b := lab.openFanout(t, "vb", 2, Options{})
	ids := map[int]bool{}
	for _, d := range append(append([]*Device{}, a...), b...) {
		v, err := unix.GetsockoptInt(d.fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
		if err != nil {
			t.Fatal(err)
		}
		if v>>16&0xff != unix.PACKET_FANOUT_HASH {
			t.Fatalf("fanout type %#x, want hash", v>>16&0xff)
		}
		ids[v&0xffff] = true
	}
	if len(ids) != 2 {
		t.Fatalf("fanout group identifiers %v, want one per interface", ids)
	}
	const flows = 128
	var frames [][]byte
	for i := 0; i < flows; i++ {
		port := uint16(20000 + i)
		// Forward (198.51.100.1:port → 192.0.2.2:9) and reverse tuples,
		// both sent to vb.
		frames = append(frames,
			udpFlow(b[0].HardwareAddr(), a[0].HardwareAddr(), "198.51.100.1", "192.0.2.2", port, 9, []byte("fwd")),
			udpFlow(b[0].HardwareAddr(), a[0].HardwareAddr(), "192.0.2.2", "198.51.100.1", 9, port, []byte("rev")))
	}
	writeAll(t, a[1], frames)
	keep := func(f []byte) bool {
		seg, proto := transport(f)
		return proto == protoUDP && len(seg) == 11 && (bytes.Equal(seg[8:], []byte("fwd")) || bytes.Equal(seg[8:], []byte("rev")))
	}
	got := readAll(t, b, len(frames), 5*time.Second, keep)
	where := map[uint16]int{} // flow port → socket
	count := map[string]int{}
	for i, fs := range got {
		for _, f := range fs {
			seg, _ := transport(f)
			port, dir := binary.BigEndian.Uint16(seg), string(seg[8:])
			if dir == "rev" {
				port = binary.BigEndian.Uint16(seg[2:])
			}
			count[fmt.Sprint(port, dir)]++
			if s, ok := where[port]; ok && s != i {
				t.Errorf("flow %d: its two directions read on sockets %d and %d", port, s, i)
			}
			where[port] = i
		}
	}
	if len(count) != len(frames) {
		t.Fatalf("read %d distinct frames, want %d", len(count), len(frames))
	}
	for k, c := range count {
		if c != 1 {
			t.Fatalf("frame %s read %d times", k, c)
		}
	}
	if len(got[0]) == 0 || len(got[1]) == 0 {
		t.Fatalf("split %d / %d: a socket got nothing", len(got[0]), len(got[1]))
	}
	var on0 []int
	for p, i := range where {
		if i == 0 {
			on0 = append(on0, int(p)-20000)
		}
	}
	sort.Ints(on0)
	t.Logf("split: %d / %d; flows on socket 0: %v", len(got[0]), len(got[1]), on0)
	// Replies written on any socket of a group leave by the interface and
	// are not read back by the group (ignore-outgoing).
	if echo := readAll(t, a, 1, 300*time.Millisecond, keep); len(echo[0])+len(echo[1]) != 0 {
		t.Fatalf("sending group read %d of its own frames", len(echo[0])+len(echo[1]))
	}
	// And the other way: vb's group sends, va's group reads each once.
	var back [][]byte
	for i := 0; i < flows; i++ {
		back = append(back, udpFlow(a[0].HardwareAddr(), b[0].HardwareAddr(), "192.0.2.2", "198.51.100.1", 9, uint16(20000+i), []byte("bck")))
	}
	writeAll(t, b[0], back[:flows/2])
	writeAll(t, b[1], back[flows/2:])
	isBack := func(f []byte) bool {
		seg, proto := transport(f)
		return proto == protoUDP && len(seg) == 11 && bytes.Equal(seg[8:], []byte("bck"))
	}
	got = readAll(t, a, flows, 5*time.Second, isBack)
	ports := map[uint16]int{}
	for _, fs := range got {
		for _, f := range fs {
			seg, _ := transport(f)
			ports[binary.BigEndian.Uint16(seg[2:])]++
		}
	}
	if len(ports) != flows || len(got[0]) == 0 || len(got[1]) == 0 {
		t.Fatalf("va's group read %d distinct of %d frames, split %d / %d", len(ports), flows, len(got[0]), len(got[1]))
	}
	for p, c := range ports {
		if c != 1 {
			t.Fatalf("frame to port %d read %d times", p, c)
		}
	}
}

// TestRootPoller: TryRead never waits; a Poller over sockets of two
// interfaces wakes up for a frame on either and otherwise waits for its
// timeout.
func TestRootPoller(t *testing.T) {
	lab := newVethLab(t)
	a := lab.open(t, "va", Options{Filter: onlyTestFrames(t)})
	b := lab.open(t, "vb", Options{Filter: onlyTestFrames(t)})
	bufs, sizes := newBufs(8)
	start := time.Now()
	for i := 0; i < 20; i++ {
		if n, err := b.TryRead(bufs, sizes, link.Headroom); n != 0 || err != nil {
			t.Fatalf("idle TryRead = %d, %v", n, err)
		}
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Fatalf("20 idle TryReads took %v: they wait", el)
	}
	p := a.NewPoller([]link.Device{a, b, b})
	if p == nil {
		t.Fatal("no poller over two packet sockets")
	}
	start = time.Now()
	p.Wait(30 * time.Millisecond)
	if el := time.Since(start); el < 25*time.Millisecond {
		t.Fatalf("idle Wait returned after %v", el)
	}
	// A test frame sent by a reaches b.
	writeAll(t, a, testFrames(a, b, 1))
	got := 0
	deadline := time.Now().Add(5 * time.Second)
	for got == 0 && time.Now().Before(deadline) {
		p.Wait(time.Second)
		n, err := b.TryRead(bufs, sizes, link.Headroom)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if got != 1 {
		t.Fatalf("read %d frames after Wait, want 1", got)
	}
	if a.NewPoller([]link.Device{a, otherDev{}}) != nil {
		t.Fatal("poller over a foreign device")
	}
	b.Close()
	if _, err := b.TryRead(bufs, sizes, link.Headroom); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("TryRead after Close: %v", err)
	}
	p.Wait(10 * time.Millisecond) // a closed member is skipped
}

// onlyTestFrames is a BPF filter that accepts the test EtherType only, so
// that the kernel's own traffic on the lab's links (router solicitations,
// neighbour discovery) never reaches an idle socket of a timing test.
func onlyTestFrames(t testing.TB) []bpf.RawInstruction {
	t.Helper()
	f, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: testEtherType, SkipFalse: 1},
		bpf.RetConstant{Val: 0x40000},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// otherDev is a link.Device of another kind.
type otherDev struct{ link.Device }

// TestRootRingWrap reads many rounds of frames through a small ring (4
// blocks of one page) so that reading wraps around the blocks many times
// while the kernel fills them; every frame arrives intact and in order. A
// burst larger than the ring is dropped by the kernel and counted, and the
// ring keeps working afterwards.
func TestRootRingWrap(t *testing.T) {
	lab := newVethLab(t)
	a := lab.open(t, "va", Options{RX: RXRecvmmsg})
	b := lab.open(t, "vb", Options{RX: RXRing, RingBlockSize: unix.Getpagesize(), RingBlocks: 4, BatchSize: 7})
	const rounds, per = 40, 20
	next := 0
	for r := 0; r < rounds; r++ {
		frames := testFrames(a, b, per)
		for i := range frames {
			binary.BigEndian.PutUint32(frames[i][14:], uint32(r*per+i))
			// Small enough that a page holds several.
			frames[i] = frames[i][:60+i*3]
		}
		writeAll(t, a, frames)
		got := collect(t, b, per, 5*time.Second, isTest)
		if len(got) != per {
			t.Fatalf("round %d: read %d frames, want %d", r, len(got), per)
		}
		for i, f := range got {
			if !bytes.Equal(f, frames[i]) {
				t.Fatalf("round %d frame %d differs:\n got %x\nwant %x", r, i, f, frames[i])
			}
			next++
		}
	}
	// Overrun: far more than 4 pages of frames, none read meanwhile.
	burst := testFrames(a, b, 300)
	if n, err := a.Write(atOffset(burst), link.Headroom); n < len(burst)/2 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	kept := collect(t, b, len(burst), 500*time.Millisecond, isTest)
	if len(kept) == 0 || len(kept) == len(burst) {
		t.Fatalf("kept %d of a %d-frame burst into a 4-page ring", len(kept), len(burst))
	}
	if st := b.Stats(); st.KernelDrops == 0 {
		t.Fatalf("no kernel drops counted: %+v", st)
	}
	for _, f := range kept {
		i := binary.BigEndian.Uint32(f[14:])
		if !bytes.Equal(f, burst[i]) {
			t.Fatalf("burst frame %d corrupted", i)
		}
	}
	last := testFrames(a, b, 3)
	writeAll(t, a, last)
	if got := collect(t, b, 3, 5*time.Second, isTest); len(got) != 3 {
		t.Fatalf("after the overrun read %d frames, want 3", len(got))
	}
}

// TestRootRingLightTraffic: with the ring, a lone frame is handed over
// once the kernel retires its block (RingTimeout), not when the block
// fills: it is read well within a second.
func TestRootRingLightTraffic(t *testing.T) {
	lab := newVethLab(t)
	a := lab.open(t, "va", Options{RX: RXRecvmmsg})
	b := lab.open(t, "vb", Options{RX: RXRing, Filter: onlyTestFrames(t)})
	for i := 0; i < 5; i++ {
		start := time.Now()
		writeAll(t, a, testFrames(a, b, 1))
		if got := collect(t, b, 1, time.Second, isTest); len(got) != 1 {
			t.Fatalf("lone frame %d not read within a second", i)
		}
		t.Logf("lone frame read after %v", time.Since(start).Round(10*time.Microsecond))
	}
}

// BenchmarkRootRead measures the receive path per frame: a burst of
// frames of about 64 or 1500 bytes is sent over a veth pair (timed: the kernel's delivery to the
// packet socket runs in the sender's context), given time for the ring's
// last block to be retired (untimed), then read back (timed). "ring"
// copies each frame out of the TPACKET_V3 ring into a buffer with
// headroom, as Read does; "ring-inplace" walks the same ring without
// copying (what a zero-copy Read would cost); "recvmmsg" is the fallback.
// Besides ns/op (both phases), it reports each phase per frame: the
// kernel's delivery into the socket happens in the sending phase.
func BenchmarkRootRead(b *testing.B) {
	for _, size := range []int{64, 1500} {
		for _, mode := range []string{"ring", "ring-inplace", "recvmmsg"} {
			b.Run(fmt.Sprintf("%s/%dB", mode, size), func(b *testing.B) { benchRead(b, mode, size) })
		}
	}
}

func benchRead(b *testing.B, mode string, size int) {
	lab := newVethLab(b)
	rx := RXRing
	if mode == "recvmmsg" {
		rx = RXRecvmmsg
	}
	snd := lab.open(b, "va", Options{RX: RXRecvmmsg})
	// A ring (and socket buffer) that holds a whole burst of big frames.
	rcv := lab.open(b, "vb", Options{RX: rx, RingBlocks: 256, RcvBuf: 64 << 20})
	const burst = 4096
	frames := make([][]byte, burst)
	for i := range frames {
		payload := make([]byte, size-14-i%8)
		binary.BigEndian.PutUint32(payload, uint32(i))
		frames[i] = eth(rcv.HardwareAddr(), snd.HardwareAddr(), testEtherType, payload)
	}
	out := atOffset(frames)
	bufs, sizes := newBufs(64)
	b.ReportAllocs()
	b.ResetTimer()
	done := 0
	var sendDur, readDur time.Duration
	for done < b.N {
		want := min(burst, b.N-done)
		// The write is timed too: the kernel delivers each frame to the
		// packet socket (into the ring, or as a queued skb) in the
		// sender's context, and that is part of the receive cost.
		t0 := time.Now()
		n, err := snd.Write(out[:want], link.Headroom)
		if err != nil || n == 0 {
			b.Fatalf("Write = %d, %v", n, err)
		}
		want = n // what a busy veth refused is not there to read
		sendDur += time.Since(t0)
		b.StopTimer()
		time.Sleep(3 * time.Millisecond) // the ring retires its last block
		b.StartTimer()
		t0 = time.Now()
		got := 0
		for tries := 0; got < want && tries < 100000; tries++ {
			var n int
			if mode == "ring-inplace" {
				n = walkRing(rcv, want-got)
			} else {
				var err error
				if n, err = rcv.TryRead(bufs, sizes, link.Headroom); err != nil {
					b.Fatal(err)
				}
			}
			got += n
		}
		if got < want {
			b.Fatalf("read %d of %d frames", got, want)
		}
		readDur += time.Since(t0)
		done += want
	}
	b.StopTimer()
	b.ReportMetric(float64(sendDur.Nanoseconds())/float64(b.N), "send+deliver-ns/frame")
	b.ReportMetric(float64(readDur.Nanoseconds())/float64(b.N), "read-ns/frame")
	if st := rcv.Stats(); st.KernelDrops != 0 {
		b.Fatalf("kernel dropped %d frames", st.KernelDrops)
	}
}

// walkRing reads up to max frames of the ring in place: what Read does
// minus the copy into the caller's buffer.
func walkRing(d *Device, max int) int {
	d.fdMu.RLock()
	defer d.fdMu.RUnlock()
	r := d.ring
	var c rxCounts
	n := 0
	for n < max {
		h, f, _, pkttype, ok := r.next()
		if !ok {
			break
		}
		if pkttype == unix.PACKET_OUTGOING || h.Len > h.Snaplen || len(f) < 14 {
			continue
		}
		c.finish(f, len(f), h.Status&^unix.TP_STATUS_VLAN_VALID, 0, 0, false)
		n++
	}
	if r.left == 0 {
		r.release()
	}
	d.count(n, &c)
	return n
}

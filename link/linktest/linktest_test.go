package linktest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gdirector/gdirector/link"
)

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
)

func frame(i int, size int) []byte {
	f := make([]byte, size)
	copy(f, macB[:])
	copy(f[6:], macA[:])
	f[12], f[13] = 0x88, 0xb5
	for j := 14; j < size; j++ {
		f[j] = byte(i + j)
	}
	if size >= 18 {
		f[14], f[15], f[16], f[17] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	}
	return f
}

func withHeadroom(frames ...[]byte) [][]byte {
	out := make([][]byte, len(frames))
	for i, f := range frames {
		out[i] = append(make([]byte, link.Headroom), f...)
	}
	return out
}

func bufs(n int) ([][]byte, []int) {
	b := make([][]byte, n)
	for i := range b {
		b[i] = make([]byte, link.Headroom+link.MaxFrame)
	}
	return b, make([]int, n)
}

// readAll reads from d until it has want frames or the deadline passes.
func readAll(t *testing.T, d *Device, want int, timeout time.Duration) [][]byte {
	t.Helper()
	in, sizes := bufs(d.BatchSize())
	var got [][]byte
	deadline := time.Now().Add(timeout)
	for reads := 0; reads < 10000 && len(got) < want && time.Now().Before(deadline); reads++ {
		n, err := d.Read(in, sizes, link.Headroom)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		for i := 0; i < n; i++ {
			got = append(got, append([]byte(nil), in[i][link.Headroom:link.Headroom+sizes[i]]...))
		}
	}
	return got
}

func TestPair(t *testing.T) {
	a, b := NewPair("a0", "b0", macA, macB)
	defer a.Close()
	defer b.Close()
	if a.Name() != "a0" || b.Name() != "b0" || a.HardwareAddr() != macA || b.HardwareAddr() != macB ||
		a.Index() == b.Index() || a.MTU() != 1500 || a.BatchSize() != 64 || a.Peer() != b || b.Peer() != a {
		t.Fatal("device info wrong")
	}
	var frames [][]byte
	for i := 0; i < 150; i++ {
		frames = append(frames, frame(i, 60+i*7))
	}
	out := withHeadroom(frames...)
	if n, err := a.Write(out, link.Headroom); n != len(frames) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	// Write copied: scribbling on the buffers changes nothing read.
	for _, o := range out {
		clear(o)
	}
	got := readAll(t, b, len(frames), time.Second)
	if len(got) != len(frames) {
		t.Fatalf("read %d, want %d", len(got), len(frames))
	}
	for i := range frames {
		if !bytes.Equal(got[i], frames[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	// Nothing comes back on the writer, and Read times out with 0, nil.
	in, sizes := bufs(4)
	start := time.Now()
	if n, err := a.Read(in, sizes, link.Headroom); n != 0 || err != nil {
		t.Fatalf("idle Read = %d, %v", n, err)
	}
	if el := time.Since(start); el < ReadTimeout/2 || el > time.Second {
		t.Fatalf("idle Read took %v", el)
	}
	// The other direction.
	if n, _ := b.Write(withHeadroom(frame(7, 64)), link.Headroom); n != 1 {
		t.Fatal("reverse Write failed")
	}
	if got := readAll(t, a, 1, time.Second); len(got) != 1 || !bytes.Equal(got[0], frame(7, 64)) {
		t.Fatal("reverse frame not read")
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.Written != 150 || sb.Read != 150 || sb.Written != 1 || sa.Read != 1 || sa.Dropped+sb.Dropped != 0 {
		t.Fatalf("stats a %+v b %+v", sa, sb)
	}
	if a.Sent() != nil {
		t.Fatal("paired device recorded writes")
	}
}

func TestReadWakesOnWrite(t *testing.T) {
	a, b := NewPair("a", "b", macA, macB)
	in, sizes := bufs(8)
	done := make(chan int, 1)
	go func() {
		n, _ := b.Read(in, sizes, link.Headroom)
		done <- n
	}()
	time.Sleep(2 * time.Millisecond)
	a.Write(withHeadroom(frame(1, 60)), link.Headroom)
	select {
	case n := <-done:
		if n != 1 && n != 0 { // 0 only if the Read timed out before the write
			t.Fatalf("Read = %d", n)
		}
	case <-time.After(time.Second):
		t.Fatal("Read did not return")
	}
}

func TestQueueFullAndTruncated(t *testing.T) {
	a, b := NewPair("a", "b", macA, macB)
	frames := make([][]byte, QueueLen+10)
	for i := range frames {
		frames[i] = frame(i, 64)
	}
	n, err := a.Write(withHeadroom(frames...), link.Headroom)
	if err != nil || n != QueueLen {
		t.Fatalf("Write = %d, %v; want %d", n, err, QueueLen)
	}
	if b.Pending() != QueueLen || b.Stats().Dropped != 10 || a.Stats().WriteLost != 10 {
		t.Fatalf("pending %d, b %+v, a %+v", b.Pending(), b.Stats(), a.Stats())
	}
	got := readAll(t, b, QueueLen, 2*time.Second)
	if len(got) != QueueLen || !bytes.Equal(got[QueueLen-1], frames[QueueLen-1]) {
		t.Fatalf("read %d frames", len(got))
	}

	// A frame too big for the buffer is dropped, the next one returned.
	b.Inject(frame(1, 500))
	b.Inject(frame(2, 60))
	small := [][]byte{make([]byte, link.Headroom+100), make([]byte, link.Headroom+100)}
	sizes := make([]int, 2)
	n, err = b.Read(small, sizes, link.Headroom)
	if err != nil || n != 1 || sizes[0] != 60 || !bytes.Equal(small[0][link.Headroom:link.Headroom+60], frame(2, 60)) {
		t.Fatalf("Read = %d, %v, sizes %v", n, err, sizes)
	}
	if b.Stats().Truncated != 1 {
		t.Fatalf("Truncated = %d", b.Stats().Truncated)
	}
}

func TestUnpaired(t *testing.T) {
	d := New("solo", macA)
	if d.Peer() != nil {
		t.Fatal("unpaired device has a peer")
	}
	if got := d.Drain(5 * time.Millisecond); got != nil {
		t.Fatalf("Drain on empty = %d frames", len(got))
	}
	f1, f2 := frame(1, 60), frame(2, 70)
	if n, err := d.Write(withHeadroom(f1, f2), link.Headroom); n != 2 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if s := d.Sent(); len(s) != 2 || !bytes.Equal(s[0], f1) || !bytes.Equal(s[1], f2) {
		t.Fatalf("Sent = %x", s)
	}
	if s := d.Sent(); len(s) != 2 {
		t.Fatal("Sent removed frames")
	}
	if s := d.Drain(0); len(s) != 2 || !bytes.Equal(s[1], f2) {
		t.Fatalf("Drain = %x", s)
	}
	if s := d.Sent(); s != nil {
		t.Fatal("Drain left frames")
	}
	// Drain waits for a frame written later.
	go func() {
		time.Sleep(5 * time.Millisecond)
		d.Write(withHeadroom(f1), link.Headroom)
	}()
	if s := d.Drain(2 * time.Second); len(s) != 1 || !bytes.Equal(s[0], f1) {
		t.Fatalf("Drain after wait = %x", s)
	}
	// Writes do not loop back into Read; Inject does.
	in, sizes := bufs(4)
	if n, _ := d.Read(in, sizes, link.Headroom); n != 0 {
		t.Fatal("write looped back")
	}
	d.Inject(f2)
	if n, _ := d.Read(in, sizes, 0); n != 1 || !bytes.Equal(in[0][:sizes[0]], f2) {
		t.Fatal("injected frame not read at offset 0")
	}
	if st := d.Stats(); st.Injected != 1 || st.Written != 3 || st.Read != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClose(t *testing.T) {
	a, b := NewPair("a", "b", macA, macB)
	in, sizes := bufs(4)
	errc := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 1000 && err == nil; i++ {
			_, err = b.Read(in, sizes, link.Headroom)
		}
		errc <- err
	}()
	time.Sleep(5 * time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, link.ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Read did not return after Close")
	}
	if err := b.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := b.Write(withHeadroom(frame(1, 60)), link.Headroom); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	// Writing to a closed peer drops, without error.
	if n, err := a.Write(withHeadroom(frame(1, 60)), link.Headroom); n != 0 || err != nil {
		t.Fatalf("Write to closed peer = %d, %v", n, err)
	}
	if a.Stats().WriteLost != 1 {
		t.Fatalf("WriteLost = %d", a.Stats().WriteLost)
	}
}

func TestSettersAndBatch(t *testing.T) {
	a, b := NewPair("a", "b", macA, macB)
	a.SetMTU(9000)
	b.SetBatchSize(3)
	b.SetBatchSize(0) // ignored
	if a.MTU() != 9000 || b.BatchSize() != 3 {
		t.Fatal("setters")
	}
	a.Write(withHeadroom(frame(1, 60), frame(2, 60), frame(3, 60), frame(4, 60)), link.Headroom)
	in, sizes := bufs(10)
	if n, _ := b.Read(in, sizes, link.Headroom); n != 3 {
		t.Fatalf("Read = %d, want batch size 3", n)
	}
	if n, _ := b.Read(in, sizes[:0], link.Headroom); n != 0 {
		t.Fatal("Read with no sizes returned frames")
	}
	if n, _ := b.Read(in, sizes, link.Headroom); n != 1 {
		t.Fatalf("Read = %d, want the remaining 1", n)
	}
}

func TestConcurrent(t *testing.T) {
	a, b := NewPair("a", "b", macA, macB)
	const writers, per = 4, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				a.Write(withHeadroom(frame(w*per+i, 64)), link.Headroom)
			}
		}()
	}
	wg.Add(1)
	go func() { // stats and injections in parallel
		defer wg.Done()
		for i := 0; i < 50; i++ {
			_ = a.Stats()
			_ = b.Pending()
			b.Inject(frame(1_000_000+i, 64))
		}
	}()
	got := readAll(t, b, writers*per+50, 5*time.Second)
	wg.Wait()
	if len(got) != writers*per+50 {
		t.Fatalf("read %d frames, want %d", len(got), writers*per+50)
	}
	seen := map[string]bool{}
	for _, f := range got {
		seen[fmt.Sprint(f[14:18])] = true
	}
	if len(seen) != writers*per+50 {
		t.Fatalf("%d distinct frames", len(seen))
	}
}

func TestZeroAlloc(t *testing.T) {
	a, b := NewPair("a", "b", macA, macB)
	out := withHeadroom(frame(1, 1500), frame(2, 60), frame(3, 900))
	in, sizes := bufs(8)
	// Warm up the queue slots.
	for i := 0; i < 4*QueueLen/len(out); i++ { // every slot sees every size
		a.Write(out, link.Headroom)
		b.Read(in, sizes, link.Headroom)
	}
	allocs := testing.AllocsPerRun(500, func() {
		a.Write(out, link.Headroom)
		if n, _ := b.Read(in, sizes, link.Headroom); n != len(out) {
			panic("short read")
		}
	})
	if allocs != 0 {
		t.Fatalf("allocs per Write+Read = %v", allocs)
	}
}

// TestMultiplexer: TryRead never waits; a Poller over two devices wakes up
// for a frame written to either, for Inject, and for Close, and otherwise
// waits its timeout; stale wake-ups are harmless.
func TestMultiplexer(t *testing.T) {
	a, b := NewPair("a", "b", macA, macB)
	c := New("c", macA)
	bs, sizes := bufs(4)
	start := time.Now()
	for i := 0; i < 50; i++ {
		if n, err := b.TryRead(bs, sizes, link.Headroom); n != 0 || err != nil {
			t.Fatalf("idle TryRead = %d, %v", n, err)
		}
	}
	if el := time.Since(start); el >= ReadTimeout {
		t.Fatalf("50 idle TryReads took %v: they wait", el)
	}
	if b.NewPoller([]link.Device{b, struct{ link.Device }{c}}) != nil {
		t.Fatal("poller over a foreign device")
	}
	p := b.NewPoller([]link.Device{b, c})
	start = time.Now()
	p.Wait(30 * time.Millisecond)
	if el := time.Since(start); el < 25*time.Millisecond {
		t.Fatalf("idle Wait returned after %v", el)
	}
	wakes := func(what string, fn func(), dev *Device, want int) {
		t.Helper()
		done := make(chan struct{})
		go func() { p.Wait(10 * time.Second); close(done) }()
		time.Sleep(5 * time.Millisecond)
		fn()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not wake the poller", what)
		}
		if dev == nil {
			return
		}
		n, err := dev.TryRead(bs, sizes, link.Headroom)
		if n != want || err != nil {
			t.Fatalf("after %s TryRead = %d, %v; want %d", what, n, err, want)
		}
	}
	wakes("a write to b", func() { a.Write(withHeadroom(frame(1, 60), frame(2, 60)), link.Headroom) }, b, 2)
	wakes("an Inject into c", func() { c.Inject(frame(3, 60)) }, c, 1)
	// A frame queued before the poller existed wakes its first Wait.
	a.Write(withHeadroom(frame(4, 60)), link.Headroom)
	p = b.NewPoller([]link.Device{b, c})
	start = time.Now()
	p.Wait(5 * time.Second)
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Wait with a frame pending took %v", el)
	}
	if n, _ := b.TryRead(bs, sizes, link.Headroom); n != 1 || !bytes.Equal(bs[0][link.Headroom:link.Headroom+sizes[0]], frame(4, 60)) {
		t.Fatalf("pending frame not read: %d", n)
	}
	wakes("Close of c", func() { c.Close() }, nil, 0)
	if _, err := c.TryRead(bs, sizes, link.Headroom); !errors.Is(err, link.ErrClosed) {
		t.Fatalf("TryRead after Close: %v", err)
	}
	for i := 0; i < 2*QueueLen; i++ { // warm up every queue slot
		a.Write(withHeadroomNoAlloc, link.Headroom)
		b.TryRead(bs, sizes, link.Headroom)
	}
	if a := testing.AllocsPerRun(100, func() {
		a.Write(withHeadroomNoAlloc, link.Headroom)
		p.Wait(time.Second)
		b.TryRead(bs, sizes, link.Headroom)
	}); a != 0 {
		t.Fatalf("Write+Wait+TryRead allocate %v times", a)
	}
}

var withHeadroomNoAlloc = withHeadroom(frame(9, 60))

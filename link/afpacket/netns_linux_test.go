package afpacket

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gdirector/gdirector/link"
)

// Root test support. The project's rule: when CI is set, root tests must
// run, and fail loudly if they are not root or cannot set up; without CI
// and without root they are skipped.

var nsSeq atomic.Int32

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but the test is not running as root: AF_PACKET tests need root")
	}
	t.Skip("needs root (set CI to make this a failure)")
}

// setupFatal fails the test on a setup error; it exists to make clear
// that setup failures are never skips.
func setupFatal(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("setup failed: "+format, args...)
}

// netns is a named network namespace created for one test and deleted in
// t.Cleanup.
type netns struct {
	name string
}

func newNetns(t testing.TB) *netns {
	t.Helper()
	needRoot(t)
	ns := &netns{name: fmt.Sprintf("gdt-afp-%d-%d", os.Getpid(), nsSeq.Add(1))}
	if out, err := exec.Command("ip", "netns", "add", ns.name).CombinedOutput(); err != nil {
		setupFatal(t, "ip netns add %s: %v: %s", ns.name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
			t.Errorf("cleanup: ip netns del %s: %v: %s", ns.name, err, out)
		}
	})
	return ns
}

// ip runs `ip -n <ns> args...` and fails the test on error.
func (ns *netns) ip(t testing.TB, args ...string) {
	t.Helper()
	full := append([]string{"-n", ns.name}, args...)
	if out, err := exec.Command("ip", full...).CombinedOutput(); err != nil {
		setupFatal(t, "ip %s: %v: %s", strings.Join(full, " "), err, out)
	}
}

// do runs fn on a fresh OS thread switched into the namespace. Sockets
// created by fn stay in the namespace. If switching back fails, the
// thread is left locked so the runtime discards it.
func (ns *netns) do(t testing.TB, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return // thread stays locked and is discarded
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns.name)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("netns %s: function did not return in 10s", ns.name)
	}
}

// vethLab is a namespace with a veth pair va (192.0.2.1, 2001:db8::1) and
// vb (192.0.2.2, 2001:db8::2), both up.
type vethLab struct {
	*netns
}

func newVethLab(t testing.TB) *vethLab {
	t.Helper()
	lab := &vethLab{newNetns(t)}
	lab.ip(t, "link", "set", "lo", "up")
	lab.ip(t, "link", "add", "va", "type", "veth", "peer", "name", "vb")
	lab.ip(t, "addr", "add", "192.0.2.1/24", "dev", "va")
	lab.ip(t, "addr", "add", "192.0.2.2/24", "dev", "vb")
	lab.ip(t, "addr", "add", "2001:db8::1/64", "dev", "va", "nodad")
	lab.ip(t, "addr", "add", "2001:db8::2/64", "dev", "vb", "nodad")
	lab.ip(t, "link", "set", "va", "up")
	lab.ip(t, "link", "set", "vb", "up")
	lab.waitUp(t, "va")
	lab.waitUp(t, "vb")
	return lab
}

// waitUp waits (at most 5s) until the kernel reports ifname's operational
// state UP: link watch has then also activated its queueing discipline,
// before which frames sent through the qdisc (by sockets without
// PACKET_QDISC_BYPASS) are dropped.
func (ns *netns) waitUp(t testing.TB, ifname string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := exec.Command("ip", "-n", ns.name, "-o", "link", "show", "dev", ifname).CombinedOutput()
		if err == nil && strings.Contains(string(out), "state UP") {
			return
		}
		if time.Now().After(deadline) {
			setupFatal(t, "%s not up after 5s: %s %v", ifname, out, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newSplitLab is like newVethLab but with vb moved to a second namespace,
// so traffic between the two addresses really crosses the veth pair.
func newSplitLab(t testing.TB) (nsA, nsB *netns) {
	t.Helper()
	nsA, nsB = newNetns(t), newNetns(t)
	nsA.ip(t, "link", "add", "va", "type", "veth", "peer", "name", "vb")
	nsA.ip(t, "link", "set", "vb", "netns", nsB.name)
	for _, c := range []struct {
		ns     *netns
		ifname string
		v4, v6 string
	}{{nsA, "va", "192.0.2.1/24", "2001:db8::1/64"}, {nsB, "vb", "192.0.2.2/24", "2001:db8::2/64"}} {
		c.ns.ip(t, "link", "set", "lo", "up")
		c.ns.ip(t, "addr", "add", c.v4, "dev", c.ifname)
		c.ns.ip(t, "addr", "add", c.v6, "dev", c.ifname, "nodad")
		c.ns.ip(t, "link", "set", c.ifname, "up")
	}
	nsA.waitUp(t, "va")
	nsB.waitUp(t, "vb")
	return nsA, nsB
}

// rxUnderTest is the receive mode the root tests open sockets with when
// their Options leave it to RXAuto: the ring, and every root test runs
// once more with recvmmsg in TestRootRecvmmsg.
var rxUnderTest = RXRing

// open opens a Device on ifname inside the namespace; it is closed in
// t.Cleanup.
func (ns *netns) open(t testing.TB, ifname string, opt Options) *Device {
	t.Helper()
	if opt.RX == RXAuto {
		opt.RX = rxUnderTest
	}
	var d *Device
	err := ns.do(t, func() error {
		var err error
		d, err = Open(ifname, opt)
		return err
	})
	if err != nil {
		setupFatal(t, "Open(%s): %v", ifname, err)
	}
	if d.Ring() != (opt.RX == RXRing) {
		t.Fatalf("Open(%s) with RX %d: ring %v", ifname, opt.RX, d.Ring())
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// openFanout opens n sockets of one new fanout group on ifname inside the
// namespace; they are closed in t.Cleanup.
func (ns *netns) openFanout(t testing.TB, ifname string, n int, opt Options) []*Device {
	t.Helper()
	if opt.RX == RXAuto {
		opt.RX = rxUnderTest
	}
	var devs []*Device
	err := ns.do(t, func() error {
		var err error
		devs, err = OpenFanout(ifname, n, opt)
		return err
	})
	if err != nil {
		setupFatal(t, "OpenFanout(%s, %d): %v", ifname, n, err)
	}
	t.Cleanup(func() {
		for _, d := range devs {
			d.Close()
		}
	})
	return devs
}

// newBufs returns n buffers of link.Headroom+link.MaxFrame bytes.
func newBufs(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, link.Headroom+link.MaxFrame)
	}
	return bufs, make([]int, n)
}

// collect reads from d until it has want frames for which keep returns
// true, or timeout passes (bounded also in the number of reads). It
// returns copies of the kept frames.
func collect(t *testing.T, d *Device, want int, timeout time.Duration, keep func([]byte) bool) [][]byte {
	t.Helper()
	bufs, sizes := newBufs(d.BatchSize())
	var got [][]byte
	deadline := time.Now().Add(timeout)
	for reads := 0; reads < 100000 && len(got) < want && time.Now().Before(deadline); reads++ {
		n, err := d.Read(bufs, sizes, link.Headroom)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		for i := 0; i < n; i++ {
			f := bufs[i][link.Headroom : link.Headroom+sizes[i]]
			if keep(f) {
				got = append(got, append([]byte(nil), f...))
			}
		}
	}
	return got
}

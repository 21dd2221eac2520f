package nsutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// requireRoot skips without root, except under CI where it fails loudly.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set: netns tests must run as root")
		}
		t.Skip("needs root (set CI to make this a failure)")
	}
}

// testPrefix is unique per process and test; it ends with a separator so
// it never matches another run's names.
func testPrefix(t *testing.T, tag string) string {
	return fmt.Sprintf("gdt%d%s-", os.Getpid(), tag)
}

// newNS creates a namespace removed at the end of the test.
func newNS(t *testing.T, name string) string {
	t.Helper()
	if err := Create(name); err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	t.Cleanup(func() {
		if Exists(name) {
			if err := Delete(name); err != nil {
				t.Errorf("Delete(%q): %v", name, err)
			}
		}
	})
	return name
}

func loUp(t *testing.T, ns string) {
	t.Helper()
	err := Do(ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	if err != nil {
		t.Fatalf("lo up in %s: %v", ns, err)
	}
}

func selfNetInode(t *testing.T) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"gdl1-client": true, "a.b": true, "": false, ".": false, "..": false,
		"a/b": false, "x\x00": false, strings.Repeat("n", 255): true, strings.Repeat("n", 256): false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestSysctlPath(t *testing.T) {
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":                "/proc/sys/net/ipv4/ip_forward",
		"net/ipv4/conf/eth0.100/rp_filter":   "/proc/sys/net/ipv4/conf/eth0.100/rp_filter",
		"/net/ipv6/conf/all/disable_ipv6":    "/proc/sys/net/ipv6/conf/all/disable_ipv6",
		"net..x":                             "",
		"net/../../etc/passwd":               "",
		"":                                   "",
		"net.ipv4.conf.all.accept_redirects": "/proc/sys/net/ipv4/conf/all/accept_redirects",
	} {
		got, err := sysctlPath(key)
		if want == "" {
			if err == nil {
				t.Errorf("sysctlPath(%q) = %q, want error", key, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("sysctlPath(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	var b tailBuffer
	chunk := []byte(strings.Repeat("x", 1000) + "\n")
	for i := 0; i < 3*outputCap/len(chunk); i++ {
		b.Write(chunk)
	}
	b.Write([]byte("END"))
	s := b.String()
	if !strings.HasSuffix(s, "END") || !strings.HasPrefix(s, "[…earlier output dropped…]") {
		t.Fatalf("tail not kept: prefix %q suffix %q", s[:40], s[len(s)-10:])
	}
	if len(s) > outputCap+100 {
		t.Fatalf("buffer holds %d bytes, cap %d", len(s), outputCap)
	}
}

func TestCleanupRefusesEmptyPrefix(t *testing.T) {
	if err := Cleanup(""); err == nil {
		t.Fatal("Cleanup(\"\") accepted")
	}
	if err := Cleanup("a/b"); err == nil {
		t.Fatal("Cleanup(\"a/b\") accepted")
	}
}

func TestCreateDeleteDo(t *testing.T) {
	requireRoot(t)
	p := testPrefix(t, "cd")
	name := newNS(t, p+"a")
	if !Exists(name) {
		t.Fatalf("Exists(%q) = false after Create", name)
	}
	names, err := List()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range names {
		found = found || n == name
	}
	if !found {
		t.Fatalf("List() = %v, missing %q", names, name)
	}
	if err := Create(name); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: %v, want ErrExist", err)
	}
	if err := Create("bad/name"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Create(bad/name): %v", err)
	}

	ino, err := Inode(name)
	if err != nil {
		t.Fatal(err)
	}
	host := selfNetInode(t)
	if ino == host {
		t.Fatal("new namespace has the host's inode")
	}
	var inside uint64
	var links []string
	err = Do(name, func() error {
		h, err := netns.Get()
		if err != nil {
			return err
		}
		defer h.Close()
		var st syscall.Stat_t
		if err := syscall.Fstat(int(h), &st); err != nil {
			return err
		}
		inside = st.Ino
		ls, err := netlink.LinkList()
		for _, l := range ls {
			links = append(links, l.Attrs().Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside != ino {
		t.Fatalf("Do ran in namespace %d, want %d", inside, ino)
	}
	if len(links) != 1 || links[0] != "lo" {
		t.Fatalf("links inside new namespace: %v, want [lo]", links)
	}
	if got := selfNetInode(t); got != host {
		t.Fatalf("process namespace changed to %d", got)
	}

	wantErr := errors.New("boom")
	if err := Do(name, func() error { return wantErr }); !errors.Is(err, wantErr) {
		t.Fatalf("Do error = %v", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "panic in ns" {
				t.Fatalf("recovered %v, want the panic of fn", r)
			}
		}()
		_ = Do(name, func() error { panic("panic in ns") })
	}()
	if err := Do(p+"missing", func() error { return nil }); err == nil {
		t.Fatal("Do in a missing namespace succeeded")
	}

	if err := Delete(name); err != nil {
		t.Fatal(err)
	}
	if Exists(name) {
		t.Fatal("still exists after Delete")
	}
	if _, err := os.Lstat(Path(name)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s left behind: %v", Path(name), err)
	}
	if err := Delete(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("second Delete: %v, want ErrNotExist", err)
	}
}

func TestNamespacedSockets(t *testing.T) {
	requireRoot(t)
	name := newNS(t, testPrefix(t, "sk")+"a")
	loUp(t, name)
	ln, err := Listen(name, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for i := 0; i < 4; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.Copy(c, c)
			c.Close()
		}
	}()
	addr := ln.Addr().String()

	// From the host namespace the port is not there.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("listener in %s reachable from the host namespace", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialContext(ctx, name, "tcp", addr)
	if err != nil {
		t.Fatalf("dial inside: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}

	pc, err := ListenPacket(name, "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	uc, err := DialContext(ctx, name, "udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	if _, err := uc.Write([]byte("dgram")); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf[:4])
	if err != nil || string(buf[:n]) != "dgra" {
		t.Fatalf("udp: %q %v", buf[:n], err)
	}
}

func TestSysctl(t *testing.T) {
	requireRoot(t)
	name := newNS(t, testPrefix(t, "sy")+"a")
	hostBefore, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	old, err := SetSysctl(name, "net.ipv4.ip_forward", "1")
	if err != nil {
		t.Fatal(err)
	}
	if old != "0" {
		t.Fatalf("old ip_forward in a new namespace = %q, want 0", old)
	}
	if v, err := Sysctl(name, "net.ipv4.ip_forward"); err != nil || v != "1" {
		t.Fatalf("Sysctl after set = %q, %v", v, err)
	}
	hostAfter, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	if string(hostAfter) != string(hostBefore) {
		t.Fatalf("host ip_forward changed from %q to %q", hostBefore, hostAfter)
	}
	if _, err := SetSysctl(name, "net.ipv4.no_such_knob", "1"); err == nil {
		t.Fatal("writing a missing sysctl succeeded")
	}
}

func TestDisableOffloads(t *testing.T) {
	requireRoot(t)
	name := newNS(t, testPrefix(t, "of")+"a")
	err := Do(name, func() error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "va"}, PeerName: "vb"})
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := Offloads(name, "va")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("veth offloads before: %+v", before)
	if err := DisableOffloads(name, "va"); err != nil {
		t.Fatal(err)
	}
	after, err := Offloads(name, "va")
	if err != nil {
		t.Fatal(err)
	}
	if after.TSO || after.GSO || after.GRO {
		t.Fatalf("offloads still on: %+v", after)
	}
	if after.TxChecksum != before.TxChecksum {
		t.Fatalf("tx checksum offload changed: %+v -> %+v", before, after)
	}
	if err := DisableOffloads(name, "nosuchif"); err == nil {
		t.Fatal("DisableOffloads on a missing interface succeeded")
	}
	if err := DisableOffloads(name, strings.Repeat("x", 16)); err == nil {
		t.Fatal("DisableOffloads accepted a 16-byte name")
	}
}

// forEachExecMode runs f with `ip netns exec` (when available) and with the
// setns-before-fork fallback.
func forEachExecMode(t *testing.T, f func(t *testing.T)) {
	saved := ipPath
	t.Cleanup(func() { ipPath = saved })
	if saved != "" {
		t.Run("ip-netns-exec", func(t *testing.T) { ipPath = saved; f(t) })
	} else if os.Getenv("CI") != "" {
		t.Log("ip binary missing: only the setns fallback is tested")
	}
	t.Run("setns", func(t *testing.T) { ipPath = ""; f(t) })
}

func TestStartRun(t *testing.T) {
	requireRoot(t)
	name := newNS(t, testPrefix(t, "pr")+"a")
	ino, err := Inode(name)
	if err != nil {
		t.Fatal(err)
	}
	forEachExecMode(t, func(t *testing.T) {
		out, err := Run(name, "readlink", "/proc/self/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("net:[%d]", ino); strings.TrimSpace(out) != want {
			t.Fatalf("Run in namespace: %q, want %q", out, want)
		}
		out, err = Run(name, "sh", "-c", "echo oops; exit 3")
		if err == nil || !strings.Contains(err.Error(), "oops") || !strings.Contains(out, "oops") {
			t.Fatalf("failing Run: out %q err %v", out, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := RunContext(ctx, name, "sleep", "20"); err == nil {
			t.Fatal("RunContext past its deadline succeeded")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("RunContext took %v to honour a 300ms timeout", d)
		}

		p, err := Start(name, "sh", "-c", "echo to-out; echo to-err >&2; readlink /proc/self/ns/net; exec sleep 30")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Stop() })
		want := fmt.Sprintf("net:[%d]", ino)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(p.Stdout(), want) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(p.Stdout(), "to-out") || !strings.Contains(p.Stdout(), want) ||
			!strings.Contains(p.Stderr(), "to-err") || strings.Contains(p.Stdout(), "to-err") ||
			!strings.Contains(p.Output(), "to-out") || !strings.Contains(p.Output(), "to-err") {
			t.Fatalf("captured: stdout %q stderr %q output %q", p.Stdout(), p.Stderr(), p.Output())
		}
		if p.Exited() {
			t.Fatalf("exited early: %v %q", p.Wait(), p.Output())
		}
		start = time.Now()
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Stop of a SIGTERM-obeying process took %v", d)
		}
		if !p.Exited() || p.Wait() == nil {
			t.Fatalf("after Stop: exited %v wait %v", p.Exited(), p.Wait())
		}
		if err := p.Stop(); err != nil { // idempotent
			t.Fatal(err)
		}
	})
	if _, err := Start(name); err == nil {
		t.Fatal("Start with empty argv succeeded")
	}
	if _, err := Start(testPrefix(t, "pr")+"missing", "true"); err == nil {
		t.Fatal("Start in a missing namespace succeeded")
	}
}

func TestStopEscalatesToKill(t *testing.T) {
	requireRoot(t)
	name := newNS(t, testPrefix(t, "kl")+"a")
	// SIGTERM is ignored by the shell and, inherited through exec, by sleep.
	p, err := Start(name, "sh", "-c", "trap '' TERM; echo ready; sleep 30; echo survived")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Output(), "ready") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	if d < StopTimeout-100*time.Millisecond || d > StopTimeout+3*time.Second {
		t.Fatalf("Stop took %v, want about %v", d, StopTimeout)
	}
	var ee *exec.ExitError
	if err := p.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("exit: %v, want SIGKILL", err)
	}
	if strings.Contains(p.Output(), "survived") {
		t.Fatal("the sleeping child survived")
	}
}

func TestCleanup(t *testing.T) {
	requireRoot(t)
	prefix := testPrefix(t, "cl")
	a := newNS(t, prefix+"a")
	b := newNS(t, prefix+"b")
	// A sibling whose name merely shares a shorter stem must survive.
	other := newNS(t, strings.TrimSuffix(prefix, "-")+"x-keep")

	tracked, err := Start(a, "sleep", "30")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tracked.Stop() })
	// An untracked resident, as left by a crashed run.
	stray := exec.Command("sleep", "30")
	if err := Do(b, stray.Start); err != nil {
		t.Fatal(err)
	}
	strayDone := make(chan struct{})
	go func() {
		_ = stray.Wait()
		close(strayDone)
	}()
	t.Cleanup(func() {
		_ = stray.Process.Kill()
		<-strayDone
	})
	keep, err := Start(other, "sleep", "30")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = keep.Stop() })

	if err := Cleanup(prefix); err != nil {
		t.Fatal(err)
	}
	if Exists(a) || Exists(b) {
		t.Fatalf("namespaces survived Cleanup: a %v b %v", Exists(a), Exists(b))
	}
	if !Exists(other) {
		t.Fatal("Cleanup deleted a namespace outside its prefix")
	}
	if !tracked.Exited() {
		t.Fatal("tracked process still running")
	}
	select {
	case <-strayDone:
	case <-time.After(5 * time.Second):
		t.Fatal("untracked resident still running")
	}
	if keep.Exited() {
		t.Fatalf("process outside the prefix was stopped: %v", keep.Wait())
	}
	// Cleanup with nothing to do is fine.
	if err := Cleanup(prefix); err != nil {
		t.Fatal(err)
	}
}

package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/gdirector/gdirector/internal/nsutil"
)

// helperEnv turns the test binary into a stand-in for `gdirector serve …`
// (see TestMain and helperBin).
const helperEnv = "GDIRECTOR_LAB_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		args := os.Args[1:]
		if len(args) == 0 || args[0] != "serve" {
			fmt.Fprintln(os.Stderr, "helper: want serve …")
			os.Exit(2)
		}
		if err := RunServe(ctx, args[1:], os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperBin writes a script that runs this test binary in serve mode, to be
// passed to StartReals as the gdirector binary.
func helperBin(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gdirector-serve-helper")
	quoted := "'" + strings.ReplaceAll(self, "'", `'\''`) + "'"
	script := fmt.Sprintf("#!/bin/sh\n%s=1\nexport %s\nexec %s \"$@\"\n", helperEnv, helperEnv, quoted)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// requireRoot skips without root, except under CI where it fails loudly.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set: lab tests must run as root")
		}
		t.Skip("needs root (set CI to make this a failure)")
	}
}

// testPrefix is unique per process and tag (no '-': it is a lab prefix).
func testPrefix(tag string) string { return fmt.Sprintf("gdt%d%s", os.Getpid(), tag) }

// leftovers lists the namespaces whose names start with "<prefix>-".
func leftovers(t *testing.T, prefix string) []string {
	t.Helper()
	names, err := nsutil.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix+"-") {
			out = append(out, n)
		}
	}
	return out
}

// buildLab builds a topology that is removed at the end of the test,
// whatever happens.
func buildLab(t *testing.T, opt Options) *Topology {
	t.Helper()
	topo, err := Build(opt)
	t.Cleanup(func() {
		if topo != nil {
			if err := topo.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
		if err := Cleanup(opt.Prefix); err != nil { // safety net
			t.Errorf("Cleanup: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return topo
}

// routes lists the IPv4 routes of the main table in ns as "dst via gw dev
// ifname scope s" strings.
func routes(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	err := withHandle(ns, func(h *netlink.Handle) error {
		rs, err := h.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range rs {
			dst := "default"
			if r.Dst != nil && !(r.Dst.IP.IsUnspecified() && r.Dst.Mask.String() == "00000000") {
				dst = r.Dst.String()
			}
			dev := "?"
			if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
				dev = l.Attrs().Name
			}
			s := dst
			if r.Gw != nil {
				s += " via " + r.Gw.String()
			}
			s += " dev " + dev + " scope " + r.Scope.String()
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("routes in %s: %v", ns, err)
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func addrsOf(t *testing.T, ns string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := withHandle(ns, func(h *netlink.Handle) error {
		links, err := h.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			as, err := h.AddrList(l, netlink.FAMILY_ALL)
			if err != nil {
				return err
			}
			out[l.Attrs().Name] = nil
			for _, a := range as {
				out[l.Attrs().Name] = append(out[l.Attrs().Name], a.IPNet.String())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("addresses in %s: %v", ns, err)
	}
	return out
}

func TestNATTopology(t *testing.T) {
	requireRoot(t)
	prefix := testPrefix("nat")
	topo := buildLab(t, Options{Prefix: prefix, Reals: 3})
	t.Log("\n" + topo.Describe())

	// Names and namespaces.
	wantNS := []string{prefix + "-client", prefix + "-dir", prefix + "-sw", prefix + "-rs1", prefix + "-rs2", prefix + "-rs3"}
	if got := topo.Namespaces(); !sameSet(got, wantNS) {
		t.Fatalf("namespaces %v, want %v", got, wantNS)
	}
	for _, ns := range wantNS {
		if !nsutil.Exists(ns) {
			t.Fatalf("namespace %s missing", ns)
		}
	}
	if topo.ClientNS != wantNS[0] || topo.DirectorNS != wantNS[1] || topo.SwitchNS != wantNS[2] {
		t.Fatalf("names: %+v", topo)
	}
	wantRIPs := []netip.Addr{netip.MustParseAddr("203.0.113.11"), netip.MustParseAddr("203.0.113.12"), netip.MustParseAddr("203.0.113.13")}
	for i, a := range topo.RIPs() {
		if a != wantRIPs[i] || topo.Reals[i].Name != fmt.Sprintf("rs%d", i+1) {
			t.Fatalf("real %d: %+v", i, topo.Reals[i])
		}
	}
	if topo.CIP.String() != "198.51.100.2" || topo.VIP.String() != "192.0.2.10" ||
		topo.DIPClient.String() != "198.51.100.1" || topo.DIPReal.String() != "203.0.113.1" {
		t.Fatalf("addresses: %s", topo)
	}
	desc := topo.Describe()
	for _, s := range []string{"198.51.100.2/24", "198.51.100.1/24", "203.0.113.1/24", "203.0.113.13/24", "192.0.2.10", topo.SwitchNS, "br0"} {
		if !strings.Contains(desc, s) {
			t.Errorf("Describe lacks %q", s)
		}
	}

	// Addresses: the VIP is on no kernel.
	if got := addrsOf(t, topo.ClientNS); !sameSet(got["eth0"], []string{"198.51.100.2/24"}) || len(got) != 2 {
		t.Fatalf("client addresses %v", got)
	}
	dirAddrs := addrsOf(t, topo.DirectorNS)
	if !sameSet(dirAddrs["eth0"], []string{"198.51.100.1/24"}) || !sameSet(dirAddrs["eth1"], []string{"203.0.113.1/24"}) || len(dirAddrs) != 3 {
		t.Fatalf("director addresses %v", dirAddrs)
	}
	for _, ns := range wantNS {
		for ifname, as := range addrsOf(t, ns) {
			for _, a := range as {
				if strings.HasPrefix(a, "192.0.2.") || strings.Contains(a, ":") {
					t.Fatalf("%s/%s has %s (VIP range or IPv6)", ns, ifname, a)
				}
			}
			if len(ifname) > 15 {
				t.Fatalf("interface name %q too long", ifname)
			}
		}
	}

	// Routes.
	if got, want := routes(t, topo.ClientNS), []string{
		"198.51.100.0/24 dev eth0 scope link", "192.0.2.0/24 dev eth0 scope link",
	}; !sameSet(got, want) {
		t.Fatalf("client routes %q, want %q", got, want)
	}
	for _, r := range topo.Reals {
		if got, want := routes(t, r.NS), []string{
			"203.0.113.0/24 dev eth0 scope link", "default via 203.0.113.1 dev eth0 scope universe",
		}; !sameSet(got, want) {
			t.Fatalf("%s routes %q, want %q", r.Name, got, want)
		}
	}

	// Director kernel: no forwarding; IPv6 off everywhere.
	if v, err := nsutil.Sysctl(topo.DirectorNS, "net.ipv4.ip_forward"); err != nil || v != "0" {
		t.Fatalf("director ip_forward = %q, %v", v, err)
	}
	for _, ns := range wantNS {
		if v, err := nsutil.Sysctl(ns, "net.ipv6.conf.all.disable_ipv6"); err == nil && v != "1" {
			t.Fatalf("%s: IPv6 enabled", ns)
		}
	}

	// Offloads on every veth end.
	ends := [][2]string{{topo.ClientNS, "eth0"}, {topo.DirectorNS, "eth0"}, {topo.DirectorNS, "eth1"}, {topo.SwitchNS, topo.DirSwitchPort}}
	for _, r := range topo.Reals {
		ends = append(ends, [2]string{r.NS, r.If}, [2]string{topo.SwitchNS, r.SwitchPort})
	}
	for _, e := range ends {
		o, err := nsutil.Offloads(e[0], e[1])
		if err != nil {
			t.Fatal(err)
		}
		if o.TSO || o.GSO || o.GRO || !o.TxChecksum {
			t.Fatalf("%s/%s offloads %+v, want TSO/GSO/GRO off, tx checksum on", e[0], e[1], o)
		}
	}

	// Bridge: ports enslaved, STP off, forward delay 0.
	err := withHandle(topo.SwitchNS, func(h *netlink.Handle) error {
		br, err := h.LinkByName("br0")
		if err != nil {
			return err
		}
		if br.Attrs().OperState != netlink.OperUp && br.Attrs().Flags&net.FlagUp == 0 {
			return fmt.Errorf("br0 down: %v", br.Attrs().OperState)
		}
		for _, p := range append([]string{topo.DirSwitchPort}, topo.Reals[0].SwitchPort, topo.Reals[2].SwitchPort) {
			l, err := h.LinkByName(p)
			if err != nil {
				return err
			}
			if l.Attrs().MasterIndex != br.Attrs().Index {
				return fmt.Errorf("%s not in br0", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("ip"); err == nil {
		out, err := nsutil.Run(topo.SwitchNS, "ip", "-d", "link", "show", "br0")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "forward_delay 0 ") || !strings.Contains(out, "stp_state 0 ") {
			t.Fatalf("br0 not STP-off/forward-delay-0: %s", out)
		}
	}

	// Real servers, run as separate processes.
	if err := topo.StartReals(helperBin(t)); err != nil {
		t.Fatal(err)
	}
	client := nsutil.HTTPClient(topo.DirectorNS)
	payload := make([]byte, 1<<20+7)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	for _, r := range topo.Reals {
		base := "http://" + netip.AddrPortFrom(r.RIP, HTTPPort).String()
		resp, err := client.Get(base + "/")
		if err != nil {
			t.Fatalf("GET %s from the director: %v", base, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "served by "+r.Name+"\n" || resp.Header.Get("X-Real-Server") != r.Name {
			t.Fatalf("%s answered %q (%s)", r.Name, body, resp.Header.Get("X-Real-Server"))
		}
		if host, _, _ := net.SplitHostPort(resp.Header.Get("X-Client-Addr")); host != "203.0.113.1" {
			t.Fatalf("%s saw client %q, want the director's 203.0.113.1", r.Name, resp.Header.Get("X-Client-Addr"))
		}
		resp, err = client.Post(base+"/echo", "application/octet-stream", bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(body, payload) {
			t.Fatalf("%s /echo: %d of %d bytes, %v", r.Name, len(body), len(payload), err)
		}

		u, err := nsutil.DialContext(context.Background(), topo.DirectorNS, "udp", netip.AddrPortFrom(r.RIP, UDPPort).String())
		if err != nil {
			t.Fatal(err)
		}
		_ = u.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = u.Write([]byte("query"))
		buf := make([]byte, 100)
		n, err := u.Read(buf)
		u.Close()
		if err != nil || string(buf[:n]) != r.Name+":query" {
			t.Fatalf("%s udp: %q %v", r.Name, buf[:n], err)
		}
	}
	// Real servers see each other through the bridge.
	resp, err := nsutil.HTTPClient(topo.Reals[0].NS).Get("http://203.0.113.13/bytes?n=300000")
	if err != nil {
		t.Fatalf("rs1 -> rs3 over br0: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := make([]byte, 300000)
	FillPattern(want, 0)
	if !bytes.Equal(body, want) {
		t.Fatalf("rs1 -> rs3 /bytes: %d bytes, mismatch", len(body))
	}

	// An in-process server: a listener made inside rs2 stays there.
	ln, err := nsutil.Listen(topo.Reals[1].NS, "tcp", netip.AddrPortFrom(topo.Reals[1].RIP, 8080).String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = ServeHTTPOn(ctx, ln, "inproc")
	}()
	t.Cleanup(func() { cancel(); <-served })
	resp, err = client.Get("http://203.0.113.12:8080/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "served by inproc\n" {
		t.Fatalf("in-process server answered %q", body)
	}

	// Client <-> director on 198.51.100.0/24.
	dl, err := nsutil.Listen(topo.DirectorNS, "tcp", "198.51.100.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	accepted := make(chan string, 1)
	go func() {
		c, err := dl.Accept()
		if err != nil {
			accepted <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 5)
		_, err = io.ReadFull(c, b)
		_, _ = c.Write([]byte("pong"))
		accepted <- c.RemoteAddr().String() + " " + string(b) + fmt.Sprint(err)
	}()
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	cc, err := nsutil.DialContext(dctx, topo.ClientNS, "tcp", dl.Addr().String())
	if err != nil {
		t.Fatalf("client -> director: %v", err)
	}
	_ = cc.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = cc.Write([]byte("ping!"))
	pong := make([]byte, 4)
	_, err = io.ReadFull(cc, pong)
	cc.Close()
	if got := <-accepted; err != nil || string(pong) != "pong" || !strings.HasPrefix(got, "198.51.100.2:") || !strings.HasSuffix(got, " ping!<nil>") {
		t.Fatalf("client <-> director: %q %v, server saw %q", pong, err, got)
	}
	// The client has no route to the real servers: only the director's
	// userspace forwarding (VIP) can connect them.
	if c, err := nsutil.DialContext(dctx, topo.ClientNS, "tcp", "203.0.113.11:80"); err == nil {
		c.Close()
		t.Fatal("client reached a RIP directly")
	} else if !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("client -> RIP: %v, want network unreachable", err)
	}

	// Close stops the servers and removes every namespace.
	procs := topo.Procs()
	if len(procs) != 2*len(topo.Reals) {
		t.Fatalf("%d processes tracked", len(procs))
	}
	cancel()
	<-served
	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if !p.Exited() {
			t.Fatalf("%s still running after Close", p)
		}
	}
	if left := leftovers(t, prefix); len(left) != 0 {
		t.Fatalf("namespaces left after Close: %v", left)
	}
	for _, ns := range wantNS {
		if _, err := os.Lstat(nsutil.Path(ns)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still in %s: %v", ns, nsutil.Dir, err)
		}
	}
	if err := topo.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := topo.Start(topo.ClientNS, "true"); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

func TestBuildFailureCleansUp(t *testing.T) {
	requireRoot(t)
	steps := []string{
		"ns client", "ns sw", "ns rs2", "link client-dir", "bridge",
		"link dir-sw", "link rs1-sw", "link rs2-sw", "route client", "route rs2",
	}
	for i, step := range steps {
		prefix := testPrefix(fmt.Sprintf("f%d", i))
		t.Cleanup(func() { _ = Cleanup(prefix) })
		topo, err := Build(Options{Prefix: prefix, Reals: 2, failAt: step})
		if err == nil {
			topo.Close()
			t.Fatalf("step %q: Build succeeded", step)
		}
		if topo != nil || !strings.Contains(err.Error(), "injected") {
			t.Fatalf("step %q: topo %v, err %v", step, topo, err)
		}
		if left := leftovers(t, prefix); len(left) != 0 {
			t.Fatalf("step %q: left %v", step, left)
		}
	}
}

func TestBuildFailureKeepsForeignNamespace(t *testing.T) {
	requireRoot(t)
	prefix := testPrefix("clash")
	foreign := prefix + "-rs2"
	if err := nsutil.Create(foreign); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if nsutil.Exists(foreign) {
			_ = nsutil.Delete(foreign)
		}
		_ = Cleanup(prefix)
	})
	foreignIno, err := nsutil.Inode(foreign)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := Build(Options{Prefix: prefix, Reals: 3})
	if err == nil {
		topo.Close()
		t.Fatal("Build over an existing namespace succeeded")
	}
	if !errors.Is(err, os.ErrExist) {
		t.Fatalf("Build error %v, want ErrExist", err)
	}
	if left := leftovers(t, prefix); len(left) != 1 || left[0] != foreign {
		t.Fatalf("left %v, want only the pre-existing %s", left, foreign)
	}
	if ino, err := nsutil.Inode(foreign); err != nil || ino != foreignIno {
		t.Fatalf("pre-existing namespace replaced: %d %v", ino, err)
	}
}

func TestBuilderPieces(t *testing.T) {
	requireRoot(t)
	prefix := testPrefix("pc")
	b, err := NewBuilder(prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
		_ = Cleanup(prefix)
	})
	x, err := b.AddNamespace("x")
	if err != nil {
		t.Fatal(err)
	}
	y, err := b.AddNamespace("y")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddNamespace("x"); err == nil {
		t.Fatal("duplicate AddNamespace succeeded")
	}
	if err := b.AddVeth(Endpoint{NS: x, If: strings.Repeat("v", 16)}, Endpoint{NS: y, If: "v"}, 0); err == nil {
		t.Fatal("16-byte interface name accepted")
	}
	err = b.AddVeth(
		Endpoint{NS: x, If: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("198.51.100.20/24")}},
		Endpoint{NS: y, If: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("198.51.100.21/24")}},
		1400)
	if err != nil {
		t.Fatal(err)
	}
	err = withHandle(y, func(h *netlink.Handle) error {
		l, err := h.LinkByName("eth0")
		if err == nil && (l.Attrs().MTU != 1400 || l.Attrs().TxQLen == 0) {
			err = fmt.Errorf("eth0 mtu %d txqlen %d", l.Attrs().MTU, l.Attrs().TxQLen)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddRoute(x, Route{Dst: netip.MustParsePrefix("192.0.2.0/24"), Via: netip.MustParseAddr("198.51.100.21")}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddRoute(x, Route{Dst: netip.MustParsePrefix("203.0.113.0/24")}); err == nil {
		t.Fatal("route without gateway or device accepted")
	}
	if got := routes(t, x); !sameSet(got, []string{"198.51.100.0/24 dev eth0 scope link", "192.0.2.0/24 via 198.51.100.21 dev eth0 scope universe"}) {
		t.Fatalf("routes %q", got)
	}
	p, err := b.Start(x, "sleep", "30")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() || nsutil.Exists(x) || nsutil.Exists(y) {
		t.Fatalf("after Close: proc exited %v, x %v, y %v", p.Exited(), nsutil.Exists(x), nsutil.Exists(y))
	}
}

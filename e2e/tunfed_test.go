package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/lab"
)

// tunDev is the TUN device the TUN-fed director creates in the tests.
const tunDev = "gdtun0"

// newTunFedEnv builds a dual-stack lab with build, starts its real servers
// (and decapsulators for a TUN lab), and starts gdirector fed by a TUN
// device instead of raw sockets. The caller adds the host routes that send
// traffic into the device.
func newTunFedEnv(t *testing.T, mode string) *env {
	t.Helper()
	roottest(t)
	build := map[string]func(lab.Options) (*lab.Topology, error){"nat": lab.Build, "tun": lab.BuildTUN}[mode]
	topo, err := build(lab.Options{Prefix: labPrefix(), IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	if mode == "tun" {
		if err := topo.StartDecapsulators(bin, t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	if err := topo.StartReals(bin); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	logFile := filepath.Join(t.TempDir(), "director.log")
	p, err := topo.StartLogged(topo.DirectorNS, logFile, bin, "run", "--tun", tunDev, "--ctl", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(logFile)
			t.Logf("director log:\n%s", log)
		}
	})
	if err := lab.WaitReady(t.Context(), sock, p); err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("%v\n%s", err, log)
	}
	return &env{Topology: topo, sock: sock, logFile: logFile, dir: p}
}

// tunFedFamilies are the lab's two families with FullNAT local addresses
// off the real servers' subnet (the host routes them into the device).
func tunFedFamilies(e *env) []family {
	f4, f6 := family4(e), family6(e)
	f4.laddr, f6.laddr = netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("2001:db8:2::200")
	return []family{f4, f6}
}

// tunFedRound configures TCP :80 and UDP :53 services on the family's VIP
// with method, sends four HTTP requests and two UDP queries, and checks the
// answers alternate; with FullNAT it also checks the real server saw the
// local address as its peer. The services are deleted afterwards.
func (e *env) tunFedRound(t *testing.T, f family, method string) {
	t.Helper()
	tr := workload{http: 4, udp: 2}
	e.services(t, f, method, tr)
	got, responses := e.exchange(t, f, tr)
	for _, out := range responses {
		if method == "-b" && !strings.Contains(out, "X-Client-Addr: "+f.host(f.laddr)+":") {
			t.Errorf("%s FullNAT: the real server did not see the local address:\n%s", f.name, out)
		}
	}
	t.Logf("%s %s through %s: %q", f.name, method, tunDev, got)
	e.mustIpvsadm(t, "-D", "-t", f.host(f.vip)+":80")
	e.mustIpvsadm(t, "-D", "-u", f.host(f.vip)+":53")
}

// stopTunFed stops the director and checks the TUN device went with it.
func (e *env) stopTunFed(t *testing.T) {
	t.Helper()
	if err := e.dir.Stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	if out, err := run2(e.DirectorNS, "ip", "link", "show", tunDev); err == nil {
		t.Errorf("TUN device left behind after SIGTERM: %s", out)
	}
}

// TestTunFedNAT: gdirector fed by a TUN device instead of raw sockets, on
// the NAT lab, IPv4 and IPv6, TCP and UDP. The director's host routes VIP
// traffic into the device, and the real servers' replies too (a source
// rule: from the real-server network, coming in on eth1). gdirector NATs
// and writes the packets back for the host to route. Then the same with
// FullNAT: the host routes the local address into the device, and the real
// servers reach it by their default route (the director host). DR is
// refused with a clear error there.
func TestTunFedNAT(t *testing.T) {
	e := newTunFedEnv(t, "nat")
	fams := tunFedFamilies(e)
	for _, c := range [][]string{
		{"ip", "route", "add", e.VIP.String() + "/32", "dev", tunDev},
		{"ip", "rule", "add", "from", e.RealNet.String(), "iif", e.DirRealIf, "lookup", "100"},
		{"ip", "route", "add", "default", "dev", tunDev, "table", "100"},
		{"ip", "route", "add", fams[0].laddr.String() + "/32", "dev", tunDev},
		{"ip", "-6", "route", "add", e.VIP6.String() + "/128", "dev", tunDev},
		{"ip", "-6", "rule", "add", "from", e.RealNet6.String(), "iif", e.DirRealIf, "lookup", "100"},
		{"ip", "-6", "route", "add", "default", "dev", tunDev, "table", "100"},
		{"ip", "-6", "route", "add", fams[1].laddr.String() + "/128", "dev", tunDev},
	} {
		run(t, e.DirectorNS, 5*time.Second, c...)
	}
	// The client reaches the VIPs through the director as a router now.
	run(t, e.ClientNS, 5*time.Second, "ip", "route", "replace", e.VIPNet.String(), "via", e.DIPClient.String())
	run(t, e.ClientNS, 5*time.Second, "ip", "-6", "route", "replace", e.VIPNet6.String(), "via", e.DIP6Client.String())

	for _, f := range fams {
		e.tunFedRound(t, f, "-m")
		e.tunFedRound(t, f, "-b")
	}
	// DR needs layer 2: refused on a TUN-fed director.
	vip := e.VIP.String()
	e.mustIpvsadm(t, "-A", "-t", vip+":81", "-s", "rr")
	_, stderr, code := e.ipvsadm(t, "-a", "-t", vip+":81", "-r", e.Reals[0].RIP.String()+":81", "-g")
	if code == 0 || !strings.Contains(stderr, "TUN") {
		t.Errorf("-g on a TUN-fed director: exit %d, %q", code, stderr)
	}
	e.stopTunFed(t)
}

// TestTunFedTUN: the TUN method (-i) on a TUN-fed director, on the TUN lab,
// IPv4 (IPIP) and IPv6 (ip6ip6), TCP and UDP. The host routes the VIPs into
// the device; gdirector writes back the encapsulated packets, outer source
// the director's address, which the host routes to the real servers.
func TestTunFedTUN(t *testing.T) {
	e := newTunFedEnv(t, "tun")
	for _, c := range [][]string{
		{"ip", "route", "add", e.VIP.String() + "/32", "dev", tunDev},
		{"ip", "-6", "route", "add", e.VIP6.String() + "/128", "dev", tunDev},
	} {
		run(t, e.DirectorNS, 5*time.Second, c...)
	}
	link := startCapture(t, e.SwitchNS, "dir", "ip proto 4 or ip6 proto 41")
	for _, f := range tunFedFamilies(e) {
		e.tunFedRound(t, f, "-i")
	}
	rips := map[netip.Addr]bool{}
	for _, r := range e.Reals {
		rips[r.RIP], rips[r.RIP6] = true, true
	}
	var v4, v6 int
	for _, p := range packets(t, link.stop(t)) {
		var src, dst, innerDst netip.Addr
		if ip := ipv4(p); ip != nil {
			src, dst = addrOf(ip.SrcIP), addrOf(ip.DstIP)
			if len(ip.Payload) >= 20 {
				innerDst = addrOf(ip.Payload[16:20])
			}
			if src == e.DIPReal {
				v4++
			}
		} else if ip := ipv6Of(p); ip != nil {
			src, dst = addrOf(ip.SrcIP), addrOf(ip.DstIP)
			if len(ip.Payload) >= 40 {
				innerDst = addrOf(ip.Payload[24:40])
			}
			if src == e.DIP6Real {
				v6++
			}
		}
		if (src != e.DIPReal && src != e.DIP6Real) || !rips[dst] || (innerDst != e.VIP && innerDst != e.VIP6) {
			t.Errorf("tunnelled packet %v → %v carrying a packet to %v; want DIP → RIP carrying a packet to the VIP", src, dst, innerDst)
		}
	}
	if v4 == 0 || v6 == 0 {
		t.Errorf("on the director's link: %d IPIP and %d ip6ip6 packets", v4, v6)
	}
	t.Logf("the host routed %d IPIP packets %v → RIP and %d ip6ip6 packets %v → RIP6 that gdirector wrote to %s", v4, e.DIPReal, v6, e.DIP6Real, tunDev)
	e.stopTunFed(t)
}

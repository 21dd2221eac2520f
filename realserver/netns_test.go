package realserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/internal/roottest"
)

// nsPrefix returns a per-test namespace prefix and removes every namespace
// carrying it when the test ends, whatever happened.
func nsPrefix(t *testing.T, tag string) string {
	t.Helper()
	p := fmt.Sprintf("gdt-rs-%d-%s-", os.Getpid(), tag)
	if err := nsutil.Cleanup(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nsutil.Cleanup(p); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return p
}

func mkNS(t *testing.T, name string) string {
	t.Helper()
	if err := nsutil.Create(name); err != nil {
		t.Fatal(err)
	}
	ip(t, name, "link", "set", "lo", "up")
	return name
}

// ip runs `ip ARGS` inside ns and fails the test on error.
func ip(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := nsutil.Run(ns, append([]string{"ip"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// veth connects a:an to b:bn and brings both ends up.
func veth(t *testing.T, a, an, b, bn string) {
	t.Helper()
	ip(t, a, "link", "add", an, "type", "veth", "peer", "name", bn, "netns", b)
	ip(t, a, "link", "set", an, "up")
	ip(t, b, "link", "set", bn, "up")
}

func sysctlIn(t *testing.T, ns, key string) string {
	t.Helper()
	v, err := nsutil.Sysctl(ns, key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// arpAnswered sends ARP requests for target from ns's interface dev
// (sender address src) through an AF_PACKET socket and reports whether a
// reply came back within about a second.
func arpAnswered(t *testing.T, ns, dev string, src, target netip.Addr) bool {
	t.Helper()
	var got bool
	err := nsutil.Do(ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		proto := uint16(unix.ETH_P_ARP)
		proto = proto<<8 | proto>>8 // network order
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			return err
		}
		req := make([]byte, 42)
		copy(req[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(req[6:12], ifi.HardwareAddr)
		binary.BigEndian.PutUint16(req[12:], unix.ETH_P_ARP)
		copy(req[14:], []byte{0, 1, 8, 0, 6, 4, 0, 1}) // Ethernet, IPv4, request
		copy(req[22:28], ifi.HardwareAddr)
		s4, t4 := src.As4(), target.As4()
		copy(req[28:32], s4[:])
		copy(req[38:42], t4[:])
		to := &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index, Halen: 6}
		copy(to.Addr[:], req[0:6])
		buf := make([]byte, 1500)
		for try := 0; try < 3 && !got; try++ {
			if err := unix.Sendto(fd, req, 0, to); err != nil {
				return err
			}
			deadline := time.Now().Add(350 * time.Millisecond)
			for !got {
				left := time.Until(deadline)
				if left <= 0 {
					break
				}
				pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
				if n, err := unix.Poll(pfd, int(left/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) {
					return err
				} else if n == 0 {
					continue
				}
				n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
				if err != nil {
					continue
				}
				f := buf[:n]
				if n >= 42 && binary.BigEndian.Uint16(f[12:]) == unix.ETH_P_ARP &&
					binary.BigEndian.Uint16(f[20:]) == 2 && netip.AddrFrom4([4]byte(f[28:32])) == target {
					got = true
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// ndpResolved sends a UDP datagram to target from ns (which must route it
// on-link through dev) and reports whether the neighbour entry got a link
// address within wait.
func ndpResolved(t *testing.T, ns, dev string, target netip.Addr, wait time.Duration) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := nsutil.DialContext(ctx, ns, "udp6", netip.AddrPortFrom(target, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(wait)
	for {
		_, _ = c.Write([]byte("x"))
		out := ip(t, ns, "-6", "neigh", "show", target.String(), "dev", dev)
		if strings.Contains(out, "lladdr") && !strings.Contains(out, "FAILED") {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func addrsOn(t *testing.T, ns, dev string) string {
	t.Helper()
	return ip(t, ns, "-o", "addr", "show", "dev", dev)
}

func TestDRNetns(t *testing.T) {
	roottest.Require(t, "ip")
	p := nsPrefix(t, "dr")
	peer, rs := mkNS(t, p+"peer"), mkNS(t, p+"rs")
	veth(t, peer, "p0", rs, "r0")
	ip(t, peer, "addr", "add", "203.0.113.1/24", "dev", "p0")
	ip(t, rs, "addr", "add", "203.0.113.11/24", "dev", "r0")
	ip(t, peer, "-6", "addr", "add", "2001:db8:1::1/64", "dev", "p0", "nodad")
	ip(t, rs, "-6", "addr", "add", "2001:db8:1::11/64", "dev", "r0", "nodad")
	peerIP, rsIP := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.11")
	kept := netip.MustParseAddr("192.0.2.12") // configured before the setup: must survive undo

	keys := []string{}
	for _, d := range []string{"all", "lo", "r0"} {
		keys = append(keys, "net.ipv4.conf."+d+".arp_ignore", "net.ipv4.conf."+d+".arp_announce")
	}
	before := map[string]string{}
	for _, k := range keys {
		before[k] = sysctlIn(t, rs, k)
	}

	// Control: with the kernel defaults a VIP on lo IS answered on r0, so
	// the checks below can tell the difference.
	ip(t, rs, "addr", "add", "192.0.2.10/32", "dev", "lo")
	if !arpAnswered(t, peer, "p0", peerIP, vip) {
		t.Fatal("control: the kernel did not answer ARP for an lo address with default sysctls")
	}
	ip(t, rs, "addr", "del", "192.0.2.10/32", "dev", "lo")
	ip(t, rs, "addr", "add", kept.String()+"/32", "dev", "lo")

	dir := t.TempDir()
	// A setup that fails halfway (unknown real interface, met after conf/all
	// and lo were changed) leaves nothing behind.
	bad := DROptions{VIPs: []netip.Addr{vip}, Ifaces: []string{"r0", "nosuch0"}, StateDir: dir}
	if err := nsutil.Do(rs, func() error { _, err := SetupDR(bad); return err }); err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Fatalf("setup with a missing interface: %v", err)
	}
	for _, k := range keys {
		if got := sysctlIn(t, rs, k); got != before[k] {
			t.Errorf("%s = %s after a failed setup, want %s", k, got, before[k])
		}
	}
	if _, err := os.Stat(StatePath(dir, ModeDR)); !os.IsNotExist(err) {
		t.Errorf("failed setup left a state file: %v", err)
	}

	opts := DROptions{VIPs: []netip.Addr{vip, kept, vip6}, StateDir: dir}
	var st *State
	if err := nsutil.Do(rs, func() (err error) { st, err = SetupDR(opts); return err }); err != nil {
		t.Fatal(err)
	}
	t.Logf("setup: %q", st.Log)
	wantAdded := []AddedAddr{{"lo", netip.MustParsePrefix("192.0.2.10/32")}, {"lo", netip.MustParsePrefix("2001:db8:f::10/128")}}
	if fmt.Sprint(st.Added) != fmt.Sprint(wantAdded) {
		t.Fatalf("added %v, want %v", st.Added, wantAdded)
	}
	lo := addrsOn(t, rs, "lo")
	for _, a := range []string{"192.0.2.10/32", "192.0.2.12/32", "2001:db8:f::10/128"} {
		if !strings.Contains(lo, " "+a+" ") {
			t.Errorf("%s not on lo:\n%s", a, lo)
		}
	}
	for _, k := range keys {
		want := "1"
		if strings.HasSuffix(k, "announce") {
			want = "2"
		}
		if got := sysctlIn(t, rs, k); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	if _, err := os.Stat(StatePath(dir, ModeDR)); err != nil {
		t.Fatal(err)
	}

	// ARP: the VIPs are never answered, the real address still is.
	if arpAnswered(t, peer, "p0", peerIP, vip) {
		t.Error("ARP reply for the VIP")
	}
	if arpAnswered(t, peer, "p0", peerIP, kept) {
		t.Error("ARP reply for the pre-existing VIP")
	}
	if !arpAnswered(t, peer, "p0", peerIP, rsIP) {
		t.Error("no ARP reply for the real server's own address")
	}
	// NDP: the same for IPv6.
	ip(t, peer, "-6", "route", "add", vip6.String()+"/128", "dev", "p0")
	if !ndpResolved(t, peer, "p0", netip.MustParseAddr("2001:db8:1::11"), 5*time.Second) {
		t.Error("the real server's own IPv6 address was not resolved")
	}
	if ndpResolved(t, peer, "p0", vip6, 1500*time.Millisecond) {
		t.Error("neighbour advertisement for the IPv6 VIP")
	}

	// The real server accepts packets for the VIP sent to its MAC (what a
	// DR director does) and answers from the VIP.
	ip(t, peer, "route", "add", vip.String()+"/32", "via", rsIP.String())
	srv, err := nsutil.ListenPacket(rs, "udp4", "192.0.2.10:7777")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go echo(srv)
	if from, msg := udpExchange(t, peer, "udp4", "203.0.113.1:40000", "192.0.2.10:7777", nil); from != "192.0.2.10:7777" || msg != "echo:ping" {
		t.Errorf("reply %q from %s", msg, from)
	}

	// Idempotent.
	var again *State
	if err := nsutil.Do(rs, func() (err error) { again, err = SetupDR(opts); return err }); err != nil {
		t.Fatal(err)
	}
	if len(again.Log) != 0 || fmt.Sprint(again.Added) != fmt.Sprint(st.Added) || fmt.Sprint(again.Sysctls) != fmt.Sprint(st.Sysctls) {
		t.Fatalf("second setup changed something: %q\n%+v\n%+v", again.Log, again, st)
	}
	if lo2 := addrsOn(t, rs, "lo"); lo2 != lo {
		t.Fatalf("addresses changed:\n%s\n%s", lo, lo2)
	}

	// Undo (from the state file, as the CLI does).
	srv.Close()
	var undone *State
	if err := nsutil.Do(rs, func() (err error) { undone, err = Undo(dir, ModeDR); return err }); err != nil {
		t.Fatal(err)
	}
	t.Logf("undo: %q", undone.Log)
	lo = addrsOn(t, rs, "lo")
	if strings.Contains(lo, "192.0.2.10") || strings.Contains(lo, "2001:db8:f::10") || !strings.Contains(lo, "192.0.2.12/32") {
		t.Errorf("after undo, lo has:\n%s", lo)
	}
	for _, k := range keys {
		if got := sysctlIn(t, rs, k); got != before[k] {
			t.Errorf("%s = %s after undo, want %s", k, got, before[k])
		}
	}
	if _, err := os.Stat(StatePath(dir, ModeDR)); !os.IsNotExist(err) {
		t.Errorf("state file left: %v", err)
	}
	if err := nsutil.Do(rs, func() error { _, err := Undo(dir, ModeDR); return err }); !errors.Is(err, ErrNoState) {
		t.Errorf("second undo: %v", err)
	}
}

// echo answers every datagram on c with "echo:" and the payload.
func echo(c net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = c.WriteTo(append([]byte("echo:"), buf[:n]...), from)
	}
}

// udpExchange listens on laddr inside ns, then (re)sends "ping" to raddr,
// or calls send instead when it is not nil, until a datagram arrives (at
// most 5 s). It returns the sender and payload of that datagram.
func udpExchange(t *testing.T, ns, network, laddr, raddr string, send func()) (string, string) {
	t.Helper()
	c, err := nsutil.ListenPacket(ns, network, laddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to, err := net.ResolveUDPAddr(network, raddr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for try := 0; try < 10; try++ {
		if send != nil {
			send()
		} else if _, err := c.WriteTo([]byte("ping"), to); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, from, err := c.ReadFrom(buf)
		if err == nil {
			return from.String(), string(buf[:n])
		}
	}
	t.Errorf("no reply on %s in %s", laddr, ns)
	return "", ""
}

// sum16 is the ones' complement sum used by the checksums.
func sum16(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// udpPacket builds a complete IPv4 or IPv6 UDP packet with a valid
// checksum.
func udpPacket(src, dst netip.AddrPort, data string) []byte {
	u := udp(src.Port(), dst.Port(), data)
	pseudo := append(src.Addr().AsSlice(), dst.Addr().AsSlice()...)
	pseudo = append(pseudo, 0, unix.IPPROTO_UDP, byte(len(u)>>8), byte(len(u)))
	binary.BigEndian.PutUint16(u[6:], fold(sum16(u, sum16(pseudo, 0))))
	if src.Addr().Is4() {
		return ip4(src.Addr(), dst.Addr(), unix.IPPROTO_UDP, 0, nil, u)
	}
	return ip6(src.Addr(), dst.Addr(), unix.IPPROTO_UDP, 0, u)
}

// rawSocket opens a raw socket inside ns.
func rawSocket(t *testing.T, ns string, family, proto int) int {
	t.Helper()
	var fd int
	err := nsutil.Do(ns, func() (err error) {
		fd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// icmpSeen drains fd (an ICMP or ICMPv6 raw socket) for wait and reports
// whether a message of type typ and code code arrived. IPv4 raw sockets
// deliver the IP header too; v6 says they do not.
func icmpSeen(t *testing.T, fd int, v6 bool, typ, code byte, wait time.Duration) bool {
	t.Helper()
	buf := make([]byte, 2048)
	seen := false
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return seen
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(pfd, int(left/time.Millisecond)+1); n <= 0 {
			continue
		}
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			continue
		}
		m := buf[:n]
		if !v6 {
			if n < 20 || n < int(m[0]&0x0f)*4+2 {
				continue
			}
			m = m[int(m[0]&0x0f)*4:]
		}
		if len(m) >= 2 && m[0] == typ && m[1] == code {
			seen = true
		}
	}
}

func TestTunNetns(t *testing.T) {
	roottest.Require(t, "ip")
	p := nsPrefix(t, "tun")
	dir, rs, cl := mkNS(t, p+"dir"), mkNS(t, p+"rs"), mkNS(t, p+"cl")
	veth(t, dir, "d0", rs, "r0")
	veth(t, rs, "r1", cl, "c0")
	ip(t, dir, "addr", "add", "203.0.113.1/28", "dev", "d0")
	ip(t, rs, "addr", "add", "203.0.113.11/28", "dev", "r0")
	ip(t, rs, "addr", "add", "203.0.113.65/28", "dev", "r1")
	ip(t, cl, "addr", "add", "203.0.113.66/28", "dev", "c0")
	ip(t, cl, "addr", "add", "198.51.100.2/32", "dev", "lo")
	ip(t, rs, "route", "add", "default", "via", "203.0.113.66")
	ip(t, cl, "route", "add", "192.0.2.0/24", "via", "203.0.113.65")
	ip(t, dir, "-6", "addr", "add", "2001:db8:1::1/64", "dev", "d0", "nodad")
	ip(t, rs, "-6", "addr", "add", "2001:db8:1::11/64", "dev", "r0", "nodad")
	ip(t, rs, "-6", "addr", "add", "2001:db8:2::65/64", "dev", "r1", "nodad")
	ip(t, cl, "-6", "addr", "add", "2001:db8:2::66/64", "dev", "c0", "nodad")
	ip(t, cl, "-6", "addr", "add", "2001:db8:c::2/128", "dev", "lo")
	ip(t, rs, "-6", "route", "add", "default", "via", "2001:db8:2::66")
	ip(t, cl, "-6", "route", "add", "2001:db8:f::/64", "via", "2001:db8:2::65")
	// A strict reverse-path filter, which RunTun must relax and restore.
	if _, err := nsutil.SetSysctl(rs, "net.ipv4.conf.all.rp_filter", "1"); err != nil {
		t.Fatal(err)
	}
	watched := map[string]string{}
	for _, k := range []string{"net.ipv4.conf.all.rp_filter", "net.ipv4.conf.r0.rp_filter", "net.ipv4.conf.r1.rp_filter",
		"net.ipv4.conf.lo.rp_filter", "net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce"} {
		watched[k] = sysctlIn(t, rs, k)
	}

	raw4 := rawSocket(t, dir, unix.AF_INET, unix.IPPROTO_RAW) // IP_HDRINCL
	raw6 := rawSocket(t, dir, unix.AF_INET6, protoIPv6)       // kernel builds the outer IPv6 header
	icmp4 := rawSocket(t, dir, unix.AF_INET, unix.IPPROTO_ICMP)
	icmp6 := rawSocket(t, dir, unix.AF_INET6, unix.IPPROTO_ICMPV6)
	cport4 := netip.MustParseAddrPort("198.51.100.2:40000")
	cport6 := netip.MustParseAddrPort("[2001:db8:c::2]:40000")
	ripAddr := netip.MustParseAddr("203.0.113.11")
	sendIPIP := func(inner []byte, proto byte) {
		outer := ip4(netip.MustParseAddr("203.0.113.1"), ripAddr, proto, 0, nil, inner)
		if err := unix.Sendto(raw4, outer, 0, &unix.SockaddrInet4{Addr: ripAddr.As4()}); err != nil {
			t.Errorf("send IPIP: %v", err)
		}
	}
	sendIP6IP6 := func(inner []byte) {
		if err := unix.Sendto(raw6, inner, 0, &unix.SockaddrInet6{Addr: rip6.As16()}); err != nil {
			t.Errorf("send ip6ip6: %v", err)
		}
	}
	ping4 := udpPacket(cport4, netip.AddrPortFrom(vip, 7777), "ping4")
	ping6 := udpPacket(cport6, netip.AddrPortFrom(vip6, 7777), "ping6")

	// Control: without a raw socket the kernel answers IPIP with ICMP
	// protocol unreachable and ip6ip6 with a parameter problem (unknown
	// next header), so their absence below means something.
	sendIPIP(ping4, protoIPIP)
	if !icmpSeen(t, icmp4, false, 3, 2, 2*time.Second) {
		t.Fatal("control: no ICMP protocol unreachable for IPIP without RunTun")
	}
	sendIP6IP6(ping6)
	if !icmpSeen(t, icmp6, true, 4, 1, 2*time.Second) {
		t.Fatal("control: no ICMPv6 parameter problem for ip6ip6 without RunTun")
	}

	stateDir := t.TempDir()
	stats := new(TunStats)
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runErr = nsutil.Do(rs, func() error {
			_, err := RunTun(ctx, TunOptions{
				VIPs: []netip.Addr{vip, vip6}, TunName: "gdt0", StateDir: stateDir, Stats: stats,
				Logf:  func(f string, a ...any) { t.Logf("runtun: "+f, a...) },
				Ready: func() { close(ready) },
			})
			return err
		})
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
	}
	t.Cleanup(stop) // before the namespaces go
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		stop()
		t.Fatalf("RunTun not ready: %v", runErr)
	}

	// While running: TUN up with rp_filter 0, VIPs on lo, strictness kept.
	if out := ip(t, rs, "-o", "link", "show", "gdt0"); !strings.Contains(out, ",UP") {
		t.Errorf("gdt0 not up: %s", out)
	}
	for k, want := range map[string]string{"net.ipv4.conf.gdt0.rp_filter": "0", "net.ipv4.conf.all.rp_filter": "0",
		"net.ipv4.conf.r0.rp_filter": "1", "net.ipv4.conf.r1.rp_filter": "1",
		"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2"} {
		if got := sysctlIn(t, rs, k); got != want {
			t.Errorf("while running %s = %s, want %s", k, got, want)
		}
	}
	if lo := addrsOn(t, rs, "lo"); !strings.Contains(lo, "192.0.2.10/32") || !strings.Contains(lo, "2001:db8:f::10/128") {
		t.Errorf("VIPs not on lo:\n%s", lo)
	}
	// Recorded, so that `realserver tun --undo` can clean up after a crash.
	if st, err := LoadState(stateDir, ModeTun); err != nil || len(st.Added) != 2 || st.sysctl("net/ipv4/conf/all/rp_filter") == nil {
		t.Errorf("state while running: %+v, %v", st, err)
	}
	for _, nw := range []string{"udp4", "udp6"} {
		a := "192.0.2.10:7777"
		if nw == "udp6" {
			a = "[2001:db8:f::10]:7777"
		}
		srv, err := nsutil.ListenPacket(rs, nw, a)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		go echo(srv)
	}

	// The client (in its own namespace, reachable from the real server
	// only through r1) receives the answers straight from the VIP.
	if from, msg := udpExchange(t, cl, "udp4", cport4.String(), "", func() { sendIPIP(ping4, protoIPIP) }); from != "192.0.2.10:7777" || msg != "echo:ping4" {
		t.Errorf("IPIP: reply %q from %q", msg, from)
	}
	if from, msg := udpExchange(t, cl, "udp6", cport6.String(), "", func() { sendIP6IP6(ping6) }); from != "[2001:db8:f::10]:7777" || msg != "echo:ping6" {
		t.Errorf("ip6ip6: reply %q from %q", msg, from)
	}
	// IPv6 inside IPv4 (protocol 41), as IPVS sends to an IPv4 real server
	// of an IPv6 service.
	if from, msg := udpExchange(t, cl, "udp6", cport6.String(), "", func() { sendIPIP(ping6, protoIPv6) }); from != "[2001:db8:f::10]:7777" || msg != "echo:ping6" {
		t.Errorf("6in4: reply %q from %q", msg, from)
	}
	// A tunnelled packet for an address that is not a VIP is dropped.
	sendIPIP(udpPacket(cport4, netip.MustParseAddrPort("203.0.113.65:7777"), "sneak"), protoIPIP)
	for i := 0; i < 50 && stats.Dropped(DropNotVIP) == 0; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if stats.Dropped(DropNotVIP) != 1 {
		t.Errorf("not-vip drops: %d", stats.Dropped(DropNotVIP))
	}
	// No complaints reached the director.
	if icmpSeen(t, icmp4, false, 3, 2, 300*time.Millisecond) {
		t.Error("ICMP protocol unreachable sent while RunTun ran")
	}
	if icmpSeen(t, icmp6, true, 4, 1, 100*time.Millisecond) {
		t.Error("ICMPv6 parameter problem sent while RunTun ran")
	}

	stop()
	if runErr != nil {
		t.Fatalf("RunTun: %v", runErr)
	}
	t.Logf("stats: %s", stats)
	if stats.Decapsulated.Load() < 3 || stats.DroppedTotal() != 1 || stats.Received.Load() != stats.Decapsulated.Load()+1 {
		t.Errorf("stats: %s", stats)
	}
	// Everything is back.
	if out, err := nsutil.Run(rs, "ip", "link", "show", "gdt0"); err == nil {
		t.Errorf("gdt0 still exists: %s", out)
	}
	if lo := addrsOn(t, rs, "lo"); strings.Contains(lo, "192.0.2.10") || strings.Contains(lo, "2001:db8:f::10") {
		t.Errorf("VIPs left on lo:\n%s", lo)
	}
	for k, v := range watched {
		if got := sysctlIn(t, rs, k); got != v {
			t.Errorf("%s = %s after RunTun, want %s", k, got, v)
		}
	}
	if _, err := os.Stat(StatePath(stateDir, ModeTun)); !os.IsNotExist(err) {
		t.Errorf("state file left: %v", err)
	}
}

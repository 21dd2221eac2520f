package tun

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/internal/roottest"
	"github.com/gdirector/gdirector/link"
)

var nsSeq atomic.Int32

// lab is a namespace created for one test (deleted in t.Cleanup) holding
// one TUN device.
type lab struct {
	ns string
	d  *Device
}

// newNS creates a namespace with lo up; it is deleted in t.Cleanup, also
// when the test fails.
func newNS(t *testing.T) string {
	t.Helper()
	roottest.Require(t, "ip")
	ns := fmt.Sprintf("gdt-tun-%d-%d", os.Getpid(), nsSeq.Add(1))
	if err := nsutil.Create(ns); err != nil {
		t.Fatalf("setup: %v", err)
	}
	t.Cleanup(func() {
		if err := nsutil.Delete(ns); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	ip(t, ns, "link", "set", "lo", "up")
	return ns
}

func ip(t *testing.T, ns string, args ...string) {
	t.Helper()
	full := append([]string{"-n", ns}, args...)
	if out, err := exec.Command("ip", full...).CombinedOutput(); err != nil {
		t.Fatalf("setup: ip %s: %v: %s", strings.Join(full, " "), err, out)
	}
}

func sysctl(t *testing.T, ns, key, value string) {
	t.Helper()
	if _, err := nsutil.SetSysctl(ns, key, value); err != nil {
		t.Fatalf("setup: %v", err)
	}
}

// open opens a TUN device inside ns; it is closed in t.Cleanup.
func open(t *testing.T, ns, name string, opt Options) *Device {
	t.Helper()
	var d *Device
	err := nsutil.Do(ns, func() error {
		var err error
		d, err = Open(name, opt)
		return err
	})
	if err != nil {
		t.Fatalf("setup: Open(%q): %v", name, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// newLab builds a namespace with a TUN device "gdtun0" holding
// 198.51.100.1/32 and 2001:db8:1::1/128, routes 192.0.2.0/24 and
// 2001:db8:2::/64 into it, and rp_filter off. With noIPv6, IPv6 is
// disabled on the device so that nothing (router solicitations, MLD) is
// sent into it unasked.
func newLab(t *testing.T, opt Options, noIPv6 bool) *lab {
	t.Helper()
	ns := newNS(t)
	if noIPv6 {
		sysctl(t, ns, "net.ipv6.conf.default.disable_ipv6", "1")
	}
	sysctl(t, ns, "net.ipv4.conf.all.rp_filter", "0")
	sysctl(t, ns, "net.ipv4.conf.default.rp_filter", "0")
	d := open(t, ns, "gdtun0", opt)
	sysctl(t, ns, "net/ipv4/conf/"+d.Name()+"/rp_filter", "0")
	ip(t, ns, "addr", "add", "198.51.100.1/32", "dev", d.Name())
	ip(t, ns, "route", "add", "192.0.2.0/24", "dev", d.Name())
	if !noIPv6 {
		ip(t, ns, "addr", "add", "2001:db8:1::1/128", "dev", d.Name(), "nodad")
		ip(t, ns, "route", "add", "2001:db8:2::/64", "dev", d.Name())
	}
	return &lab{ns: ns, d: d}
}

func newBufs(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, link.Headroom+link.MaxFrame)
	}
	return bufs, make([]int, n)
}

// collect reads until keep accepted want frames or timeout passed and
// returns copies of the kept frames.
func collect(t *testing.T, d *Device, want int, timeout time.Duration, keep func([]byte) bool) [][]byte {
	t.Helper()
	bufs, sizes := newBufs(d.BatchSize())
	var got [][]byte
	for deadline := time.Now().Add(timeout); len(got) < want && time.Now().Before(deadline); {
		n, err := d.Read(bufs, sizes, link.Headroom)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		for i := 0; i < n; i++ {
			if f := bufs[i][link.Headroom : link.Headroom+sizes[i]]; keep(f) {
				got = append(got, bytes.Clone(f))
			}
		}
	}
	return got
}

// ---- packets ----

func sum(b []byte, s uint32) uint32 {
	for ; len(b) >= 2; b = b[2:] {
		s += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// l4Sum returns the one's complement sum of the pseudo-header and segment
// (0xffff when the segment's checksum is correct).
func l4Sum(src, dst netip.Addr, proto byte, seg []byte) uint16 {
	s := sum(src.AsSlice(), 0)
	s = sum(dst.AsSlice(), s)
	s += uint32(proto) + uint32(len(seg))
	return fold(sum(seg, s))
}

// udpPacket builds an IPv4 or IPv6 UDP packet with complete checksums.
func udpPacket(src, dst netip.AddrPort, payload []byte) []byte {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	c := ^l4Sum(src.Addr(), dst.Addr(), 17, udp)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	if src.Addr().Is4() {
		h := make([]byte, 20)
		h[0], h[8], h[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(udp)))
		binary.BigEndian.PutUint16(h[6:], 0x4000)
		copy(h[12:], src.Addr().AsSlice())
		copy(h[16:], dst.Addr().AsSlice())
		binary.BigEndian.PutUint16(h[10:], ^fold(sum(h, 0)))
		return append(h, udp...)
	}
	h := make([]byte, 40)
	h[0], h[6], h[7] = 0x60, 17, 64
	binary.BigEndian.PutUint16(h[4:], uint16(len(udp)))
	copy(h[8:], src.Addr().AsSlice())
	copy(h[24:], dst.Addr().AsSlice())
	return append(h, udp...)
}

// frame puts pkt behind link.Headroom and an Ethernet header whose
// addresses are junk (Write ignores them).
func frame(etype uint16, pkt []byte) []byte {
	b := make([]byte, link.Headroom+EthHeaderLen, link.Headroom+EthHeaderLen+len(pkt))
	for i := range b[link.Headroom : link.Headroom+12] {
		b[link.Headroom+i] = 0xee
	}
	binary.BigEndian.PutUint16(b[link.Headroom+12:], etype)
	return append(b, pkt...)
}

// udpInfo parses a frame Read returned: EtherType, addresses, UDP
// payload; ok is false unless it is UDP.
type udpInfo struct {
	etype    uint16
	src, dst netip.AddrPort
	ip, udp  []byte
	payload  []byte
}

func parseUDP(f []byte) (u udpInfo, ok bool) {
	if len(f) < EthHeaderLen+28 {
		return u, false
	}
	u.etype = binary.BigEndian.Uint16(f[12:])
	u.ip = f[EthHeaderLen:]
	var src, dst netip.Addr
	switch {
	case u.etype == EtherTypeIPv4 && u.ip[0] == 0x45 && u.ip[9] == 17:
		src, dst = netip.AddrFrom4([4]byte(u.ip[12:16])), netip.AddrFrom4([4]byte(u.ip[16:20]))
		u.udp = u.ip[20:]
	case u.etype == EtherTypeIPv6 && len(u.ip) >= 48 && u.ip[0]>>4 == 6 && u.ip[6] == 17:
		src, dst = netip.AddrFrom16([16]byte(u.ip[8:24])), netip.AddrFrom16([16]byte(u.ip[24:40]))
		u.udp = u.ip[40:]
	default:
		return u, false
	}
	u.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(u.udp[0:]))
	u.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(u.udp[2:]))
	u.payload = u.udp[8:]
	return u, true
}

// ---- tests ----

func TestOpenErrors(t *testing.T) {
	for _, opt := range []Options{
		{BatchSize: -1}, {BatchSize: MaxBatchSize + 1},
		{ReadTimeout: time.Microsecond}, {MTU: -1}, {MTU: 70000},
	} {
		if d, err := Open("gdtunx", opt); err == nil {
			d.Close()
			t.Errorf("Open(%+v) succeeded", opt)
		}
	}
	if _, err := Open("a-name-too-long-for-linux", Options{}); err == nil {
		t.Error("long name accepted")
	}
}

// TestRootUDP sends a datagram from a socket in the namespace into the
// TUN device, reads it as a frame, then writes a reply that the socket
// must receive, over IPv4 and IPv6.
func TestRootUDP(t *testing.T) {
	l := newLab(t, Options{MTU: 1400}, false)
	d := l.d
	if d.MTU() != 1400 || d.Index() <= 0 || d.Name() != "gdtun0" || !d.PointToPoint() {
		t.Fatalf("MTU %d index %d name %q", d.MTU(), d.Index(), d.Name())
	}
	if d.HardwareAddr() != PseudoMAC("gdtun0") {
		t.Fatalf("HardwareAddr %x", d.HardwareAddr())
	}
	for _, c := range []struct {
		name, network, local, remote string
		etype                        uint16
	}{
		{"ipv4", "udp4", "198.51.100.1:0", "192.0.2.10:53", EtherTypeIPv4},
		{"ipv6", "udp6", "[2001:db8:1::1]:0", "[2001:db8:2::10]:53", EtherTypeIPv6},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := nsutil.ListenPacket(l.ns, c.network, c.local)
			if err != nil {
				t.Fatalf("setup: %v", err)
			}
			defer conn.Close()
			local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
			local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
			remote := netip.MustParseAddrPort(c.remote)
			query := bytes.Repeat([]byte("query "), 100)
			if _, err := conn.WriteTo(query, net.UDPAddrFromAddrPort(remote)); err != nil {
				t.Fatalf("WriteTo: %v", err)
			}
			got := collect(t, d, 1, 5*time.Second, func(f []byte) bool {
				u, ok := parseUDP(f)
				return ok && u.dst == remote
			})
			if len(got) != 1 {
				t.Fatalf("datagram to %v not read", remote)
			}
			f := got[0]
			if [6]byte(f[0:6]) != d.HardwareAddr() || [6]byte(f[6:12]) != PeerHardwareAddr() {
				t.Errorf("Ethernet addresses %x", f[:12])
			}
			u, _ := parseUDP(f)
			if u.etype != c.etype || u.src != local || !bytes.Equal(u.payload, query) {
				t.Errorf("frame: type %#x %v -> %v payload %q", u.etype, u.src, u.dst, u.payload)
			}
			if u.etype == EtherTypeIPv4 {
				if n := int(binary.BigEndian.Uint16(u.ip[2:])); n != len(u.ip) {
					t.Errorf("IPv4 total length %d, packet %d bytes", n, len(u.ip))
				}
				if fold(sum(u.ip[:20], 0)) != 0xffff {
					t.Errorf("IPv4 header checksum wrong")
				}
			} else if n := int(binary.BigEndian.Uint16(u.ip[4:])); n+40 != len(u.ip) {
				t.Errorf("IPv6 payload length %d, packet %d bytes", n, len(u.ip))
			}
			if ck := binary.BigEndian.Uint16(u.udp[6:]); ck == 0 || l4Sum(u.src.Addr(), u.dst.Addr(), 17, u.udp) != 0xffff {
				t.Errorf("UDP checksum %#04x not complete", ck)
			}

			reply := []byte("reply from the real server")
			out := [][]byte{frame(c.etype, udpPacket(remote, local, reply))}
			if n, err := d.Write(out, link.Headroom); n != 1 || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 2000)
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				t.Fatalf("reply not received: %v", err)
			}
			fromAP := from.(*net.UDPAddr).AddrPort()
			if !bytes.Equal(buf[:n], reply) || fromAP.Addr().Unmap() != remote.Addr() || fromAP.Port() != remote.Port() {
				t.Errorf("received %q from %v", buf[:n], from)
			}
		})
	}
	st := d.Stats()
	if st.PacketsRead < 2 || st.PacketsWritten != 2 || st.WriteErrors != 0 || st.ReadErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestRootBatch queues many packets before reading: one Read returns them
// all.
func TestRootBatch(t *testing.T) {
	l := newLab(t, Options{BatchSize: 64}, true)
	conn, err := nsutil.ListenPacket(l.ns, "udp4", "198.51.100.1:0")
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	defer conn.Close()
	const count = 40
	for i := 0; i < count; i++ {
		dst := &net.UDPAddr{IP: net.IPv4(192, 0, 2, byte(10+i)), Port: 53}
		if _, err := conn.WriteTo([]byte{byte(i)}, dst); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
	}
	bufs, sizes := newBufs(64)
	n, err := l.d.Read(bufs, sizes, link.Headroom)
	if err != nil || n != count {
		t.Fatalf("Read = %d, %v; want %d", n, err, count)
	}
	for i := 0; i < n; i++ {
		u, ok := parseUDP(bufs[i][link.Headroom : link.Headroom+sizes[i]])
		if !ok || u.dst.Addr() != netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}) || u.payload[0] != byte(i) {
			t.Errorf("packet %d: %+v", i, u)
		}
	}
	// A batch smaller than what is queued is filled; the rest waits.
	for i := 0; i < 3; i++ {
		conn.WriteTo([]byte{1}, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 9), Port: 53})
	}
	if n, _ := l.d.Read(bufs[:2], sizes, link.Headroom); n != 2 {
		t.Errorf("Read into 2 buffers = %d", n)
	}
	if n, _ := l.d.Read(bufs, sizes, link.Headroom); n != 1 {
		t.Errorf("second Read = %d", n)
	}
}

// TestRootTimeout checks that an idle Read returns 0, nil after the read
// timeout, without allocating.
func TestRootTimeout(t *testing.T) {
	l := newLab(t, Options{ReadTimeout: 50 * time.Millisecond}, true)
	bufs, sizes := newBufs(8)
	start := time.Now()
	n, err := l.d.Read(bufs, sizes, link.Headroom)
	if el := time.Since(start); n != 0 || err != nil || el < 40*time.Millisecond || el > 2*time.Second {
		t.Fatalf("idle Read = %d, %v after %v", n, err, el)
	}
	if a := testing.AllocsPerRun(3, func() { l.d.Read(bufs, sizes, link.Headroom) }); a != 0 {
		t.Fatalf("idle Read allocates %v times", a)
	}
}

// TestRootTruncated reads a packet into a buffer too small for it: it is
// dropped and counted, never returned cut short.
func TestRootTruncated(t *testing.T) {
	l := newLab(t, Options{ReadTimeout: 20 * time.Millisecond}, true)
	conn, err := nsutil.ListenPacket(l.ns, "udp4", "198.51.100.1:0")
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	defer conn.Close()
	dst := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 53}
	conn.WriteTo(make([]byte, 1000), dst)
	conn.WriteTo(make([]byte, 200-28+1), dst) // one byte too many
	conn.WriteTo(make([]byte, 200-28), dst)   // fits exactly
	small := [][]byte{make([]byte, link.Headroom+EthHeaderLen+200)}
	sizes := []int{0}
	var got []int
	for i := 0; i < 10 && len(got) == 0; i++ {
		n, err := l.d.Read(small, sizes, link.Headroom)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			got = append(got, sizes[0])
		}
	}
	if len(got) != 1 || got[0] != EthHeaderLen+200 {
		t.Fatalf("read sizes %v, want the 200-byte packet only", got)
	}
	if st := l.d.Stats(); st.Truncated != 2 {
		t.Fatalf("Truncated = %d", st.Truncated)
	}
	if _, err := l.d.Read([][]byte{make([]byte, link.Headroom+EthHeaderLen)}, sizes, link.Headroom); err == nil {
		t.Error("Read into a buffer with no room succeeded")
	}
}

// TestRootWriteDrops checks the frames Write refuses.
func TestRootWriteDrops(t *testing.T) {
	l := newLab(t, Options{}, true)
	good := udpPacket(netip.MustParseAddrPort("192.0.2.10:53"), netip.MustParseAddrPort("198.51.100.1:9"), []byte("x"))
	bad := bytes.Clone(good)
	bad[0] = 0x55 // neither IPv4 nor IPv6: the kernel refuses it
	short := make([]byte, link.Headroom+EthHeaderLen)
	out := [][]byte{frame(0x0806, good), frame(EtherTypeIPv4, bad), short, frame(EtherTypeIPv4, good)}
	n, err := l.d.Write(out, link.Headroom)
	if n != 1 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	st := l.d.Stats()
	if st.PacketsWritten != 1 || st.WriteErrors != 2 || st.NonIPWritten != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRootZeroAlloc forwards packets through the device: Write, the
// kernel routes them back into it, Read. Neither allocates.
func TestRootZeroAlloc(t *testing.T) {
	l := newLab(t, Options{}, true)
	sysctl(t, l.ns, "net.ipv4.ip_forward", "1")
	var out [][]byte
	for i := 0; i < 8; i++ {
		src := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.5"), uint16(1000+i))
		out = append(out, frame(EtherTypeIPv4, udpPacket(src, netip.MustParseAddrPort("192.0.2.20:80"), make([]byte, 100))))
	}
	in, sizes := newBufs(16)
	var read, reads int
	deadline := time.Now().Add(20 * time.Second)
	allocs := testing.AllocsPerRun(200, func() {
		if n, err := l.d.Write(out, link.Headroom); n != len(out) || err != nil {
			panic("write failed")
		}
		for got := 0; got < len(out) && reads < 100000 && time.Now().Before(deadline); reads++ {
			n, err := l.d.Read(in, sizes, link.Headroom)
			if err != nil {
				panic("read failed")
			}
			got += n
			read += n
		}
	})
	if allocs != 0 {
		t.Fatalf("Read+Write allocate %v times per run", allocs)
	}
	if read < 8*200 {
		t.Fatalf("read only %d packets", read)
	}
	u, ok := parseUDP(in[0][link.Headroom : link.Headroom+sizes[0]])
	if !ok || u.dst != netip.MustParseAddrPort("192.0.2.20:80") || u.ip[8] != 63 {
		t.Fatalf("forwarded packet %+v", u)
	}
}

func linkExists(t *testing.T, ns, name string) bool {
	t.Helper()
	exists := false
	err := nsutil.Do(ns, func() error {
		_, err := net.InterfaceByName(name)
		exists = err == nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return exists
}

// TestRootClose checks that Close wakes a blocked Read, removes the device
// it created, and that Read and Write then return link.ErrClosed.
func TestRootClose(t *testing.T) {
	ns := newNS(t)
	d := open(t, ns, "gdtun%d", Options{ReadTimeout: 30 * time.Second})
	if !strings.HasPrefix(d.Name(), "gdtun") || !linkExists(t, ns, d.Name()) {
		t.Fatalf("device %q not there", d.Name())
	}
	bufs, sizes := newBufs(4)
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := d.Read(bufs, sizes, link.Headroom); err != nil {
				errc <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, link.ErrClosed) {
			t.Errorf("Read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Read")
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Close took %v", el)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.Write([][]byte{frame(EtherTypeIPv4, []byte{0x45})}, link.Headroom); !errors.Is(err, link.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if linkExists(t, ns, d.Name()) {
		t.Errorf("device %s still there after Close", d.Name())
	}
}

// TestRootPersist checks that a persistent device survives Close, that
// Open attaches to an existing device and leaves it in place, and that a
// non-TUN interface is refused.
func TestRootPersist(t *testing.T) {
	ns := newNS(t)
	d := open(t, ns, "gdtunp", Options{Persist: true})
	d.Close()
	if !linkExists(t, ns, "gdtunp") {
		t.Fatal("persistent device removed by Close")
	}
	d2 := open(t, ns, "gdtunp", Options{MTU: 1280})
	if d2.Index() != d.Index() || d2.MTU() != 1280 {
		t.Errorf("attached: index %d (was %d), MTU %d", d2.Index(), d.Index(), d2.MTU())
	}
	d2.Close()
	if !linkExists(t, ns, "gdtunp") {
		t.Fatal("pre-existing device removed by Close")
	}
	ip(t, ns, "link", "del", "gdtunp")

	err := nsutil.Do(ns, func() error {
		d, err := Open("lo", Options{})
		if err == nil {
			d.Close()
			return errors.New("Open(lo) succeeded")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if !linkExists(t, ns, "lo") {
		t.Error("lo gone")
	}
}

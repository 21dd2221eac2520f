package realserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultTunName is the TUN device RunTun creates unless told otherwise.
const DefaultTunName = "gdrs0"

// TunOptions configures RunTun.
type TunOptions struct {
	// VIPs are the virtual addresses; only tunnelled packets addressed to
	// one of them are decapsulated. They are configured on lo.
	VIPs []netip.Addr
	// Iface, if set, is the only interface tunnelled packets are accepted
	// on (SO_BINDTODEVICE) and the real interface that gets the ARP
	// sysctls; otherwise any interface, and every real interface.
	Iface string
	// TunName is the TUN device to create; "" means DefaultTunName. It must
	// not exist.
	TunName string
	// Directors, if not empty, are the only outer sources accepted.
	Directors []netip.Prefix
	// StateDir holds the "tun" state file; "" means DefaultStateDir.
	StateDir string
	// BatchSize is the number of packets read per recvmmsg; 0 means 32.
	BatchSize int
	// Stats, if not nil, receives the counters (readable while running).
	Stats *TunStats
	// Logf, if not nil, receives one line per setup or teardown action and
	// warnings.
	Logf func(format string, args ...any)
	// Ready, if not nil, is called once everything is set up and packets
	// are being read.
	Ready func()
}

const (
	defaultBatch  = 32
	bufSize       = 1 << 16 // an IPv4 packet or an IPv6 payload fits
	ctrlSize      = 128     // IPV6_PKTINFO and IPV6_TCLASS
	refreshPeriod = time.Second
	maxRounds     = 8 // recvmmsg calls per socket per poll, for fairness
)

// rawSock is one raw socket: outer family and outer protocol number.
type rawSock struct {
	fd     int
	family int
	proto  uint8
}

// tunRunner is the state of one RunTun loop; it is used by one goroutine.
type tunRunner struct {
	o     TunOptions
	stats *TunStats
	h     *netlink.Handle
	d     *decapper
	socks []rawSock
	tunFD int
	gro   *coalescer

	buf   []byte
	names []unix.RawSockaddrInet6
	ctrl  []byte
	iovs  []unix.Iovec
	msgs  []unix.Mmsghdr
}

func (o *TunOptions) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// RunTun decapsulates IPIP and ip6ip6 packets for the VIPs until ctx is
// done (see the package documentation), then removes the TUN device and
// undoes the host setup. It returns the counters, also on error.
func RunTun(ctx context.Context, o TunOptions) (stats *TunStats, err error) {
	stats = o.Stats
	if stats == nil {
		stats = new(TunStats)
	}
	if o.TunName == "" {
		o.TunName = DefaultTunName
	}
	if o.BatchSize <= 0 {
		o.BatchSize = defaultBatch
	}
	if o.BatchSize > 1024 {
		o.BatchSize = 1024
	}
	if len(o.TunName) >= unix.IFNAMSIZ {
		return stats, fmt.Errorf("realserver: TUN name %q too long", o.TunName)
	}
	o.Directors = slices.Clone(o.Directors)
	for i, p := range o.Directors {
		o.Directors[i] = p.Masked()
	}
	o.VIPs = slices.Clone(o.VIPs)
	for i, v := range o.VIPs {
		o.VIPs[i] = v.Unmap()
	}
	// Setup, reads and teardown all belong to this thread's namespace.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	r := &tunRunner{o: o, stats: stats, tunFD: -1}
	if r.h, err = netlink.NewHandle(); err != nil {
		return stats, fmt.Errorf("realserver: netlink: %w", err)
	}
	defer r.h.Close()
	if l, err := r.h.LinkByName(o.TunName); err == nil {
		return stats, fmt.Errorf("realserver: device %s exists already (type %s)", o.TunName, l.Type())
	}
	r.warnKernelTunnels()

	dro := DROptions{VIPs: o.VIPs, Dev: "lo", StateDir: o.StateDir}
	if o.Iface != "" {
		dro.Ifaces = []string{o.Iface}
	}
	st, err := setup(ModeTun, dro, func(s *State) error { return s.relaxRPFilter(o.TunName) })
	if err != nil {
		return stats, err
	}
	logState := func() {
		for _, l := range append(st.Log, st.Notes...) {
			o.logf("%s", l)
		}
	}
	logState()
	defer func() {
		uerr := st.Undo()
		logState()
		err = errors.Join(err, uerr)
	}()
	// Only this run's VIPs: the state may also list those of a crashed run.
	r.d = newDecapper(o.VIPs, o.Directors)

	if err := r.openTun(); err != nil {
		return stats, err
	}
	defer func() {
		unix.Close(r.tunFD) // a non-persistent TUN device goes with its fd
		o.logf("removed %s", o.TunName)
	}()
	if err := r.openSockets(); err != nil {
		return stats, err
	}
	defer func() {
		for _, s := range r.socks {
			unix.Close(s.fd)
		}
	}()
	if err := r.refreshLocal(); err != nil {
		return stats, err
	}
	r.allocBuffers()
	return stats, r.loop(ctx)
}

// warnKernelTunnels logs kernel tunnel devices that are up: they would
// decapsulate the same packets a second time.
func (r *tunRunner) warnKernelTunnels() {
	links, err := r.h.LinkList()
	if err != nil {
		return
	}
	for _, l := range links {
		switch l.Type() {
		case "ipip", "sit", "ip6tnl":
			if l.Attrs().Flags&net.FlagUp != 0 {
				r.o.logf("warning: kernel tunnel %s (%s) is up: packets would be decapsulated twice", l.Attrs().Name, l.Type())
			}
		}
	}
}

// openTun creates the TUN device, turns off its reverse-path filter and
// address autoconfiguration, and brings it up.
func (r *tunRunner) openTun() error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("realserver: open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(r.o.TunName)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("realserver: TUN name: %w", err)
	}
	// IFF_VNET_HDR: every packet written carries a virtio_net_hdr, which
	// lets a merged run of TCP segments in as one GSO packet (gro.go).
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return fmt.Errorf("realserver: create TUN %s: %w", r.o.TunName, err)
	}
	r.tunFD = fd
	r.gro = newCoalescer(func(b []byte) error {
		_, err := unix.Write(fd, b)
		return err
	})
	name := ifr.Name()
	if err := setSysctl("net/ipv4/conf/"+name+"/rp_filter", "0"); err != nil {
		return err
	}
	// No link-local address, hence no router or multicast listener
	// solicitations written to a device nobody reads. Absent without IPv6.
	_ = setSysctl("net/ipv6/conf/"+name+"/addr_gen_mode", "1")
	link, err := r.h.LinkByName(name)
	if err == nil {
		err = r.h.LinkSetUp(link)
	}
	if err != nil {
		return fmt.Errorf("realserver: bring up %s: %w", name, err)
	}
	r.o.logf("created %s (rp_filter 0), up", name)
	return nil
}

// openSockets opens the raw sockets the VIP families need: IPv4 VIPs come
// inside IPv4 (protocol 4) or IPv6 (next header 4), IPv6 VIPs inside IPv6
// (41) or IPv4 (41). A missing IPv6 stack only skips the IPv6 sockets.
func (r *tunRunner) openSockets() error {
	var want []rawSock
	if hasIPv4(r.o.VIPs) {
		want = append(want, rawSock{family: unix.AF_INET, proto: protoIPIP}, rawSock{family: unix.AF_INET6, proto: protoIPIP})
	}
	if hasIPv6(r.o.VIPs) {
		want = append(want, rawSock{family: unix.AF_INET6, proto: protoIPv6}, rawSock{family: unix.AF_INET, proto: protoIPv6})
	}
	for _, w := range want {
		fd, err := unix.Socket(w.family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(w.proto))
		if w.family == unix.AF_INET6 && errors.Is(err, unix.EAFNOSUPPORT) {
			r.o.logf("no IPv6 stack: not receiving over IPv6")
			continue
		}
		if err != nil {
			return fmt.Errorf("realserver: raw socket (family %d, protocol %d): %w", w.family, w.proto, err)
		}
		w.fd = fd
		r.socks = append(r.socks, w)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20); err != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
		}
		if r.o.Iface != "" {
			if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, r.o.Iface); err != nil {
				return fmt.Errorf("realserver: bind raw socket to %s: %w", r.o.Iface, err)
			}
		}
		if w.family == unix.AF_INET6 {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
				return fmt.Errorf("realserver: IPV6_RECVPKTINFO: %w", err)
			}
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS, 1); err != nil {
				return fmt.Errorf("realserver: IPV6_RECVTCLASS: %w", err)
			}
		}
	}
	if len(r.socks) == 0 {
		return errors.New("realserver: no raw socket could be opened")
	}
	return nil
}

// refreshLocal reloads this host's addresses, against which outer
// destinations are checked.
func (r *tunRunner) refreshLocal() error {
	addrs, err := r.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("realserver: list addresses: %w", err)
	}
	m := make(map[netip.Addr]struct{}, len(addrs))
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			m[ip.Unmap()] = struct{}{}
		}
	}
	r.d.local = m
	return nil
}

// allocBuffers sets up one recvmmsg vector shared by all sockets (they
// are read one after the other).
func (r *tunRunner) allocBuffers() {
	n := r.o.BatchSize
	r.buf = make([]byte, n*bufSize)
	r.names = make([]unix.RawSockaddrInet6, n)
	r.ctrl = make([]byte, n*ctrlSize)
	r.iovs = make([]unix.Iovec, n)
	r.msgs = make([]unix.Mmsghdr, n)
	for i := range r.msgs {
		r.iovs[i].Base = &r.buf[i*bufSize]
		r.iovs[i].SetLen(bufSize)
		h := &r.msgs[i].Hdr
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
	}
}

// loop polls the raw sockets, the TUN device (to drain anything the kernel
// sends to it) and an eventfd signalled when ctx is done.
func (r *tunRunner) loop(ctx context.Context) error {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("realserver: eventfd: %w", err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			var one [8]byte
			binary.NativeEndian.PutUint64(one[:], 1)
			_, _ = unix.Write(efd, one[:])
		case <-stop:
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
		unix.Close(efd)
	}()

	pfds := make([]unix.PollFd, 2+len(r.socks))
	pfds[0] = unix.PollFd{Fd: int32(efd), Events: unix.POLLIN}
	pfds[1] = unix.PollFd{Fd: int32(r.tunFD), Events: unix.POLLIN}
	for i, s := range r.socks {
		pfds[2+i] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
	}
	if r.o.Ready != nil {
		r.o.Ready()
	}
	last := time.Now()
	for {
		if ctx.Err() != nil {
			return nil
		}
		_, err := unix.Poll(pfds, int(refreshPeriod/time.Millisecond))
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("realserver: poll: %w", err)
		}
		if pfds[0].Revents != 0 {
			return nil
		}
		if pfds[1].Revents&unix.POLLIN != 0 {
			r.drainTun()
		}
		for i := range r.socks {
			if pfds[2+i].Revents == 0 {
				continue
			}
			for round := 0; round < maxRounds; round++ {
				n, err := r.recvBatch(&r.socks[i])
				if err != nil {
					return err
				}
				if n < len(r.msgs) {
					break
				}
			}
		}
		if now := time.Now(); now.Sub(last) >= refreshPeriod {
			last = now
			if err := r.refreshLocal(); err != nil {
				r.o.logf("%v (keeping the previous list)", err)
			}
		}
	}
}

// drainTun discards what the kernel routed into the TUN device.
func (r *tunRunner) drainTun() {
	b := r.buf[:bufSize]
	for i := 0; i < 64; i++ {
		if _, err := unix.Read(r.tunFD, b); err != nil {
			return
		}
	}
}

// recvBatch reads one batch from s, decapsulates it and writes the inner
// packets to the TUN device. It returns the number of packets read.
func (r *tunRunner) recvBatch(s *rawSock) (int, error) {
	for i := range r.msgs {
		h := &r.msgs[i].Hdr
		if s.family == unix.AF_INET6 {
			h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
			h.Namelen = unix.SizeofSockaddrInet6
			h.Control = &r.ctrl[i*ctrlSize]
			h.SetControllen(ctrlSize)
		} else {
			h.Name, h.Namelen = nil, 0
			h.Control = nil
			h.SetControllen(0)
		}
		h.Flags = 0
		r.msgs[i].Len = 0
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&r.msgs[0])),
		uintptr(len(r.msgs)), unix.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0:
	case unix.EAGAIN, unix.EINTR:
		return 0, nil
	case unix.ENOBUFS, unix.ENOMEM:
		return 0, nil
	default:
		return 0, fmt.Errorf("realserver: recvmmsg: %w", e)
	}
	got := int(n)
	var decap, bytes uint64
	for i := 0; i < got; i++ {
		m := &r.msgs[i]
		pkt := r.buf[i*bufSize : i*bufSize+min(int(m.Len), bufSize)]
		var inner []byte
		var why DropReason
		switch {
		case m.Hdr.Flags&unix.MSG_TRUNC != 0:
			why = DropTruncated
		case s.family == unix.AF_INET:
			inner, why = r.d.fromIPv4(pkt)
		default:
			src := netip.AddrFrom16(r.names[i].Addr)
			dst, tclass := parseCmsg6(r.ctrl[i*ctrlSize : i*ctrlSize+int(m.Hdr.Controllen)])
			inner, why = r.d.fromIPv6(pkt, src, dst, s.proto, tclass)
		}
		if why == dropNone && r.gro.add(inner) != nil {
			r.stats.drop(DropWrite)
		}
		if why != dropNone {
			r.stats.drop(why)
			continue
		}
		decap++
		bytes += uint64(len(inner))
	}
	if r.gro.flush() != nil {
		r.stats.drop(DropWrite)
	}
	r.stats.Coalesced.Store(r.gro.merged)
	r.stats.GSOPackets.Store(r.gro.gso)
	r.stats.Received.Add(uint64(got))
	r.stats.Decapsulated.Add(decap)
	r.stats.Bytes.Add(bytes)
	return got, nil
}

// parseCmsg6 finds the destination address (IPV6_PKTINFO) and the traffic
// class (IPV6_TCLASS) in a control buffer without allocating. A missing
// destination is returned as the zero Addr.
func parseCmsg6(b []byte) (dst netip.Addr, tclass uint8) {
	hdr := unix.CmsgLen(0)
	for len(b) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < hdr || l > len(b) {
			break
		}
		data := b[hdr:l]
		if h.Level == unix.IPPROTO_IPV6 {
			switch h.Type {
			case unix.IPV6_PKTINFO:
				if len(data) >= unix.SizeofInet6Pktinfo {
					dst = netip.AddrFrom16([16]byte(data[:16]))
				}
			case unix.IPV6_TCLASS:
				if len(data) >= 4 {
					tclass = uint8(binary.NativeEndian.Uint32(data[:4]))
				}
			}
		}
		next := unix.CmsgSpace(l - hdr)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return dst, tclass
}

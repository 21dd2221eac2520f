package forward

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gdirector/gdirector/internal/nsutil"
)

const (
	// udpPort is where the sinks listen and the UDP service is.
	udpPort = 9000
	// udpPayload makes a 64-byte Ethernet frame with its FCS: 14 + 20 +
	// 8 + 18 = 60 bytes on the veth, 64 on a wire.
	udpPayload = 18
	// mmsgBatch is the sendmmsg/recvmmsg vector length.
	mmsgBatch = 64
	// sockTimeout bounds every blocking send or receive so that loops
	// notice their stop flag.
	sockTimeout = 100 * 1000 // µs
)

// setTimeouts sets SO_SNDTIMEO and SO_RCVTIMEO.
func setTimeouts(fd int) error {
	tv := unix.NsecToTimeval(sockTimeout * 1000)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return err
	}
	return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

// setBuf sets a socket buffer size, forcing past the sysctl limits (root),
// falling back to the capped option.
func setBuf(fd, force, plain, size int) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size)
	}
}

// pinThread locks the calling goroutine to its thread and pins that thread
// to cpu. The goroutine must never unlock it: the thread, whose affinity
// now differs from the rest of the process, then exits with the goroutine
// instead of going back to the scheduler's pool.
func pinThread(cpu int) error {
	runtime.LockOSThread()
	return unix.SchedSetaffinity(0, cpuSet(cpu))
}

// mmsgs is a vector of mmsghdr whose iovecs point into bufs.
type mmsgs struct {
	hdr  []unix.Mmsghdr
	iov  []unix.Iovec
	bufs [][]byte
}

func newMmsgs(n, size int, shared []byte) *mmsgs {
	m := &mmsgs{hdr: make([]unix.Mmsghdr, n), iov: make([]unix.Iovec, n), bufs: make([][]byte, n)}
	for i := range m.hdr {
		b := shared
		if b == nil {
			b = make([]byte, size)
		}
		m.bufs[i] = b
		m.iov[i].Base = &b[0]
		m.iov[i].SetLen(len(b))
		m.hdr[i].Hdr.Iov = &m.iov[i]
		m.hdr[i].Hdr.SetIovlen(1)
	}
	return m
}

// sink counts the UDP datagrams arriving at one real server's port
// udpPort, reading them in recvmmsg batches on a thread pinned to the
// load CPU.
type sink struct {
	fd    int
	count atomic.Uint64
	stop  atomic.Bool
	done  chan struct{}
}

// openSink binds 0.0.0.0:udpPort in namespace ns (so it receives what is
// addressed to the RIP and, on DR and TUN real servers, to the VIP on lo)
// and starts counting, pinned to cpu.
func openSink(ns string, cpu int) (*sink, error) {
	s := &sink{fd: -1, done: make(chan struct{})}
	err := nsutil.Do(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		s.fd = fd
		setBuf(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, 16<<20)
		if err := setTimeouts(fd); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrInet4{Port: udpPort})
	})
	if err != nil {
		if s.fd >= 0 {
			unix.Close(s.fd)
		}
		return nil, fmt.Errorf("udp sink in %s: %w", ns, err)
	}
	started := make(chan error, 1)
	go s.run(cpu, started)
	if err := <-started; err != nil {
		s.Close()
		return nil, fmt.Errorf("udp sink in %s: %w", ns, err)
	}
	return s, nil
}

func (s *sink) run(cpu int, started chan<- error) {
	defer close(s.done)
	if err := pinThread(cpu); err != nil {
		started <- err
		return
	}
	started <- nil
	m := newMmsgs(mmsgBatch, 2048, nil)
	for !s.stop.Load() {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&m.hdr[0])),
			uintptr(len(m.hdr)), unix.MSG_WAITFORONE, 0, 0)
		switch e {
		case 0:
			s.count.Add(uint64(n))
		case unix.EAGAIN, unix.EINTR:
		default:
			return // EBADF after Close, or worse: stop counting
		}
	}
}

// Count returns the datagrams received so far.
func (s *sink) Count() uint64 { return s.count.Load() }

// Close stops the sink (within one receive timeout) and closes its socket.
func (s *sink) Close() {
	s.stop.Store(true)
	<-s.done
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// generator sends 64-byte UDP frames as fast as it can, in sendmmsg
// batches, from flows connected sockets (one flow each: its own source
// port) in round robin, on a thread pinned to the load CPU.
type generator struct {
	fds  []int
	sent atomic.Uint64
	errs atomic.Uint64
	stop atomic.Bool
	done chan struct{}
}

// startGenerator opens flows sockets in namespace ns, socket i connected
// to dsts[i % len(dsts)], and starts sending.
func startGenerator(ns string, dsts []netip.AddrPort, flows, cpu int) (*generator, error) {
	if len(dsts) == 0 || flows < 1 {
		return nil, errors.New("udp generator: no destination")
	}
	g := &generator{done: make(chan struct{})}
	err := nsutil.Do(ns, func() error {
		for i := 0; i < flows; i++ {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			g.fds = append(g.fds, fd)
			setBuf(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, 4<<20)
			if err := setTimeouts(fd); err != nil {
				return err
			}
			d := dsts[i%len(dsts)]
			if !d.Addr().Is4() {
				return fmt.Errorf("destination %s is not IPv4", d)
			}
			if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: d.Addr().As4(), Port: int(d.Port())}); err != nil {
				return fmt.Errorf("connect %s: %w", d, err)
			}
		}
		return nil
	})
	if err != nil {
		g.closeFDs()
		return nil, fmt.Errorf("udp generator in %s: %w", ns, err)
	}
	started := make(chan error, 1)
	go g.run(cpu, started)
	if err := <-started; err != nil {
		g.Stop()
		return nil, fmt.Errorf("udp generator: %w", err)
	}
	return g, nil
}

func (g *generator) run(cpu int, started chan<- error) {
	defer close(g.done)
	if err := pinThread(cpu); err != nil {
		started <- err
		return
	}
	started <- nil
	payload := []byte("gdirector-bench-64") // udpPayload bytes
	m := newMmsgs(mmsgBatch, 0, payload[:udpPayload])
	for !g.stop.Load() {
		for _, fd := range g.fds {
			n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&m.hdr[0])),
				uintptr(len(m.hdr)), 0, 0, 0)
			if e != 0 {
				// ENOBUFS, EAGAIN, ECONNREFUSED (an ICMP error
				// reported on the flow): keep going.
				g.errs.Add(1)
				if e == unix.EBADF {
					return
				}
				continue
			}
			g.sent.Add(uint64(n))
		}
	}
}

// Sent returns the datagrams handed to the kernel so far.
func (g *generator) Sent() uint64 { return g.sent.Load() }

// Stop stops sending (within one send timeout) and closes the sockets.
func (g *generator) Stop() {
	g.stop.Store(true)
	<-g.done
	g.closeFDs()
}

func (g *generator) closeFDs() {
	for _, fd := range g.fds {
		unix.Close(fd)
	}
	g.fds = nil
}

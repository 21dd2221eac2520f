package tun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gdirector/gdirector/link"
)

// Defaults for Options fields left zero.
const (
	DefaultBatchSize   = 64
	DefaultReadTimeout = 100 * time.Millisecond
)

// MaxBatchSize bounds Options.BatchSize.
const MaxBatchSize = 1024

// maxEINTR bounds the retries of a read or write interrupted by a signal.
const maxEINTR = 8

// errShortBuffer is returned by Read when the first buffer cannot hold the
// Ethernet header and at least one byte behind offset.
var errShortBuffer = errors.New("tun: read buffer too short for offset and Ethernet header")

// Options configure Open. The zero value is usable.
type Options struct {
	// BatchSize is the most packets one Read returns; default 64, at most
	// 1024.
	BatchSize int
	// ReadTimeout bounds how long Read waits on an idle device before it
	// returns 0, nil; default 100ms, at least 1ms (rounded up to whole
	// milliseconds, the resolution of poll(2)).
	ReadTimeout time.Duration
	// MTU, if not 0, is set on the device (the kernel accepts 68..65535;
	// IPv6 needs at least 1280).
	MTU int
	// Persist keeps a device that Open creates after Close (TUNSETPERSIST);
	// remove it with `ip link del NAME` or `ip tuntap del NAME mode tun`.
	Persist bool
}

// Stats are a Device's counters since Open.
type Stats struct {
	PacketsRead    uint64 // packets returned by Read
	PacketsWritten uint64 // packets the kernel accepted in Write
	ReadErrors     uint64 // failed reads (not packets)
	WriteErrors    uint64 // frames Write dropped: rejected by the kernel, or shorter than an Ethernet header
	Truncated      uint64 // packets dropped because they did not fit the buffer
	NonIPRead      uint64 // packets read that were neither IPv4 nor IPv6, dropped
	NonIPWritten   uint64 // frames given to Write whose EtherType was neither IPv4 nor IPv6, dropped
}

// Device is an open TUN device. It implements link.Device.
type Device struct {
	name      string
	index     int
	mac       [6]byte
	mtu       int
	batch     int
	timeoutMs int
	created   bool // Open created the device (it did not exist before)

	// fdMu guards the descriptors' lifetime: Read, Write and Stats hold
	// it shared, Close exclusively, so a descriptor is never closed (and
	// reused) under a syscall.
	fdMu   sync.RWMutex
	fd     int // /dev/net/tun, non-blocking
	efd    int // eventfd signalled by Close to wake a Read in poll
	closed atomic.Bool

	// Read's scratch (Read is single-threaded): the poll set {fd, efd},
	// and the readv vector {packet room, one spill byte}; a packet that
	// reaches the spill byte did not fit.
	pfds  []unix.PollFd
	riov  []unix.Iovec
	spill []byte

	packetsRead, packetsWritten, readErrors, writeErrors atomic.Uint64
	truncated, nonIPRead, nonIPWritten                   atomic.Uint64
}

var _ link.Device = (*Device)(nil)

// Open creates the TUN device name (IFF_TUN|IFF_NO_PI) in the network
// namespace of the calling thread, or attaches to an existing persistent
// TUN device of that name, disables its offloads, sets its MTU if asked
// and brings it up. An empty name, or one with a "%d", lets the kernel
// choose ("tun%d"); Name returns the result. Open needs CAP_NET_ADMIN.
func Open(name string, opt Options) (*Device, error) {
	if opt.BatchSize == 0 {
		opt.BatchSize = DefaultBatchSize
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = DefaultReadTimeout
	}
	switch {
	case opt.BatchSize < 0 || opt.BatchSize > MaxBatchSize:
		return nil, fmt.Errorf("tun: batch size %d out of 1..%d", opt.BatchSize, MaxBatchSize)
	case opt.ReadTimeout < time.Millisecond:
		return nil, fmt.Errorf("tun: read timeout %v below 1ms", opt.ReadTimeout)
	case opt.MTU < 0 || opt.MTU > 65535:
		return nil, fmt.Errorf("tun: MTU %d out of range", opt.MTU)
	case len(name) >= unix.IFNAMSIZ:
		return nil, fmt.Errorf("tun: interface name %q longer than %d bytes", name, unix.IFNAMSIZ-1)
	}

	ctl, err := ctlSocket()
	if err != nil {
		return nil, err
	}
	defer unix.Close(ctl)

	existed := false
	if name != "" && !strings.Contains(name, "%") {
		_, err := ifIndex(ctl, name)
		existed = err == nil
	}

	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tun: open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: %w", err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		if existed && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EBUSY)) {
			return nil, fmt.Errorf("tun: TUNSETIFF %s: %w (an interface of that name exists and is not a free TUN device)", name, err)
		}
		return nil, fmt.Errorf("tun: TUNSETIFF %s: %w", name, err)
	}
	d := &Device{
		name:      ifr.Name(),
		batch:     opt.BatchSize,
		timeoutMs: int((opt.ReadTimeout + time.Millisecond - 1) / time.Millisecond),
		created:   !existed,
		fd:        fd,
		efd:       -1,
	}
	d.mac = PseudoMAC(d.name)
	if err := d.setup(ctl, opt); err != nil {
		if d.created && opt.Persist {
			_ = unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 0)
		}
		unix.Close(fd) // removes a device we created
		if d.efd >= 0 {
			unix.Close(d.efd)
		}
		return nil, fmt.Errorf("tun: %s: %w", d.name, err)
	}
	return d, nil
}

func (d *Device) setup(ctl int, opt Options) error {
	// No offloads: plain MTU-sized packets with complete checksums, also
	// on a device a previous user configured otherwise.
	if err := unix.IoctlSetInt(d.fd, unix.TUNSETOFFLOAD, 0); err != nil {
		return fmt.Errorf("TUNSETOFFLOAD: %w", err)
	}
	if d.created && opt.Persist {
		if err := unix.IoctlSetInt(d.fd, unix.TUNSETPERSIST, 1); err != nil {
			return fmt.Errorf("TUNSETPERSIST: %w", err)
		}
	}
	idx, err := ifIndex(ctl, d.name)
	if err != nil {
		return err
	}
	d.index = idx
	ifr, err := unix.NewIfreq(d.name)
	if err != nil {
		return err
	}
	if opt.MTU > 0 {
		ifr.SetUint32(uint32(opt.MTU))
		if err := unix.IoctlIfreq(ctl, unix.SIOCSIFMTU, ifr); err != nil {
			return fmt.Errorf("set MTU %d: %w", opt.MTU, err)
		}
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFMTU, ifr); err != nil {
		return fmt.Errorf("SIOCGIFMTU: %w", err)
	}
	d.mtu = int(int32(ifr.Uint32()))
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	if flags := ifr.Uint16(); flags&unix.IFF_UP == 0 {
		ifr.SetUint16(flags | unix.IFF_UP)
		if err := unix.IoctlIfreq(ctl, unix.SIOCSIFFLAGS, ifr); err != nil {
			return fmt.Errorf("set up: %w", err)
		}
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	d.efd = efd
	d.pfds = []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}, {Fd: int32(efd), Events: unix.POLLIN}}
	d.riov = make([]unix.Iovec, 2)
	d.spill = make([]byte, 1)
	d.riov[1].Base = &d.spill[0]
	d.riov[1].SetLen(1)
	return nil
}

// ctlSocket returns a socket for interface ioctls in the calling thread's
// network namespace.
func ctlSocket() (int, error) {
	var err error
	for _, family := range []int{unix.AF_INET, unix.AF_INET6, unix.AF_UNIX} {
		var fd int
		if fd, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err == nil {
			return fd, nil
		}
	}
	return -1, fmt.Errorf("tun: ioctl socket: %w", err)
}

func ifIndex(ctl int, name string) (int, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("SIOCGIFINDEX %s: %w", name, err)
	}
	return int(int32(ifr.Uint32())), nil
}

// Name returns the device name (as chosen by the kernel for a pattern).
func (d *Device) Name() string { return d.name }

// Index returns the interface index.
func (d *Device) Index() int { return d.index }

// HardwareAddr returns the device's pseudo MAC address, PseudoMAC(Name()):
// the destination of the frames Read returns.
func (d *Device) HardwareAddr() [6]byte { return d.mac }

// MTU returns the device's MTU as set or found at Open.
func (d *Device) MTU() int { return d.mtu }

// BatchSize returns the most packets one Read returns.
func (d *Device) BatchSize() int { return d.batch }

// PointToPoint reports true: a TUN device has no link-layer neighbours, so
// the data plane must not resolve next-hop MAC addresses for it; packets
// written to it are routed by the kernel.
func (d *Device) PointToPoint() bool { return true }

// Read reads up to min(len(bufs), len(sizes), BatchSize()) packets, packet
// i as the frame bufs[i][offset:offset+sizes[i]]: a synthetic Ethernet
// header (see the package doc) followed by the IP packet. It reads what is
// queued without blocking; only when nothing is queued does it wait in
// poll(2), for at most the read timeout (then it returns 0, nil) or until
// Close. Packets that do not fit their buffer are dropped and counted
// (Stats.Truncated), as are non-IP packets. Read must not be called by
// two goroutines at once.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	d.fdMu.RLock()
	defer d.fdMu.RUnlock()
	if d.closed.Load() {
		return 0, link.ErrClosed
	}
	n := min(len(bufs), len(sizes), d.batch)
	got, eintr := 0, 0
	waited := false
	var trunc, nonIP uint64
	var err error
	for got < n {
		b := bufs[got]
		start := offset + EthHeaderLen
		room := len(b) - start
		if offset < 0 || room <= 0 {
			if got == 0 {
				err = errShortBuffer
			}
			break
		}
		// The kernel copies what fits and returns the bytes copied, so
		// a packet is known to be whole only if it left the spill byte
		// untouched.
		d.riov[0].Base = &b[start]
		d.riov[0].SetLen(room)
		r, _, e := unix.Syscall(unix.SYS_READV, uintptr(d.fd), uintptr(unsafe.Pointer(&d.riov[0])), 2)
		if e == 0 {
			size := int(r)
			if size > room {
				trunc++
				continue
			}
			et := etherType(b[start : start+size])
			if et == 0 {
				nonIP++
				continue
			}
			putEthHeader(b[offset:start], d.mac, et)
			sizes[got] = EthHeaderLen + size
			got++
			continue
		}
		switch e {
		case unix.EAGAIN:
			if got > 0 || waited || !d.wait() {
				n = got // queue empty (or timeout, or Close): done
			}
			waited = true
		case unix.EINTR:
			if eintr++; eintr > maxEINTR {
				n = got
			}
		default:
			// EBADFD: the device was deleted under us; EIO and others.
			d.readErrors.Add(1)
			if got == 0 {
				err = e
			}
			n = got
		}
	}
	d.riov[0].Base = nil // do not keep the caller's buffer alive
	if got > 0 {
		d.packetsRead.Add(uint64(got))
	}
	if trunc|nonIP != 0 {
		d.truncated.Add(trunc)
		d.nonIPRead.Add(nonIP)
	}
	return got, err
}

// wait polls the device and the close eventfd for at most the read
// timeout and reports whether the device may have something to read.
func (d *Device) wait() bool {
	d.pfds[0].Revents, d.pfds[1].Revents = 0, 0
	n, err := unix.Poll(d.pfds, d.timeoutMs)
	if err != nil || n == 0 || d.pfds[1].Revents != 0 {
		return false
	}
	return d.pfds[0].Revents != 0
}

// Write writes the IP packet of every frame bufs[i][offset:] (the bytes
// after its 14-byte Ethernet header) to the device, one write(2) each, for
// the kernel to route as if it had been received on the device. It
// returns how many packets the kernel accepted. A frame whose EtherType is
// neither IPv4 nor IPv6 is dropped and counted (Stats.NonIPWritten); one
// the kernel rejects (malformed, device down) or too short to hold a
// packet is dropped and counted in Stats.WriteErrors. An error is returned
// only for link.ErrClosed or a fault of the descriptor itself (for
// instance the device was deleted). Write is safe for concurrent use.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	d.fdMu.RLock()
	defer d.fdMu.RUnlock()
	if d.closed.Load() {
		return 0, link.ErrClosed
	}
	sent, failed, nonIP := 0, 0, 0
	var err error
	for i, b := range bufs {
		start := offset + EthHeaderLen
		if offset < 0 || len(b) <= start {
			failed++
			continue
		}
		if et := binary.BigEndian.Uint16(b[offset+12 : start]); et != EtherTypeIPv4 && et != EtherTypeIPv6 {
			nonIP++
			continue
		}
		switch e := d.write(b[start:]); e {
		case 0:
			sent++
		case unix.EBADF, unix.EBADFD, unix.EFAULT:
			err = e
			failed += len(bufs) - i
		default:
			failed++ // EINVAL (not IP), EIO (device down), …: next frame
		}
		if err != nil {
			break
		}
	}
	if sent > 0 {
		d.packetsWritten.Add(uint64(sent))
	}
	if failed > 0 {
		d.writeErrors.Add(uint64(failed))
	}
	if nonIP > 0 {
		d.nonIPWritten.Add(uint64(nonIP))
	}
	return sent, err
}

// write writes one packet, retrying a bounded number of EINTRs.
func (d *Device) write(p []byte) unix.Errno {
	for i := 0; ; i++ {
		_, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(d.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e != unix.EINTR || i >= maxEINTR {
			return e
		}
	}
}

// Stats returns the counters.
func (d *Device) Stats() Stats {
	return Stats{
		PacketsRead:    d.packetsRead.Load(),
		PacketsWritten: d.packetsWritten.Load(),
		ReadErrors:     d.readErrors.Load(),
		WriteErrors:    d.writeErrors.Load(),
		Truncated:      d.truncated.Load(),
		NonIPRead:      d.nonIPRead.Load(),
		NonIPWritten:   d.nonIPWritten.Load(),
	}
}

// Close wakes a Read blocked in poll, waits for Reads and Writes in
// progress, and closes the device's descriptor, which removes the device
// unless it existed before Open or Options.Persist was set. It is
// idempotent; Read and Write after Close return link.ErrClosed.
func (d *Device) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(d.efd, one[:])
	d.fdMu.Lock()
	defer d.fdMu.Unlock()
	err := unix.Close(d.fd)
	unix.Close(d.efd)
	d.fd, d.efd = -1, -1
	if err != nil {
		return fmt.Errorf("tun: close %s: %w", d.name, err)
	}
	return nil
}

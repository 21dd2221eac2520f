package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/link"
)

// Defaults for Options fields left zero.
const (
	DefaultBatchSize   = 64
	DefaultReadTimeout = 100 * time.Millisecond
	DefaultRcvBuf      = 16 << 20
	DefaultSndBuf      = 4 << 20
)

// maxBatch bounds BatchSize (the kernel caps a recvmmsg/sendmmsg vector at
// UIO_MAXIOV, 1024).
const maxBatch = 1024

// maxEINTR bounds the retries of a sendmmsg interrupted by a signal.
const maxEINTR = 8

// Options configure Open. The zero value is usable.
type Options struct {
	// BatchSize is the most frames one Read returns and one syscall
	// sends; default 64, at most 1024.
	BatchSize int
	// ReadTimeout bounds how long Read blocks on an idle link before it
	// returns 0, nil (SO_RCVTIMEO); it also bounds a Write blocked on a
	// full socket buffer (SO_SNDTIMEO). Default 100ms.
	ReadTimeout time.Duration
	// Filter is an optional classic BPF program (see BuildFilter),
	// attached before the socket is bound. Its accept value is the number
	// of bytes kept: it must be at least the frame length, or frames are
	// truncated and so dropped.
	Filter []bpf.RawInstruction
	// Promisc puts the interface in promiscuous mode for as long as the
	// socket is open (PACKET_MR_PROMISC membership).
	Promisc bool
	// FanoutGroup, if not 0, joins the socket to that PACKET_FANOUT group
	// (1..65535) of type Fanout: sockets of the same group on the same
	// interface share its frames. OpenFanout makes a group of its own
	// instead, with an identifier no other group uses.
	FanoutGroup int
	// Fanout is how a fanout group spreads frames: FanoutHash (default)
	// or FanoutCPU.
	Fanout FanoutMode
	// RX is how frames are received: RXAuto (default) maps a TPACKET_V3
	// ring and falls back to recvmmsg if the kernel refuses it; RXRing
	// insists on the ring; RXRecvmmsg never maps one.
	RX RXMode
	// RingBlockSize is the size of a ring block, a power-of-two multiple
	// of the page size (default 128 KiB); RingBlocks the number of blocks
	// (default 64, so 8 MiB per socket); RingTimeout how long the kernel
	// keeps a block that is not full before handing it over (default
	// 1ms, the kernel's granularity). A frame waits in the ring for up
	// to RingTimeout when traffic is light.
	RingBlockSize, RingBlocks int
	RingTimeout               time.Duration
	// RcvBuf and SndBuf are the socket buffer sizes asked for (forced past
	// the sysctl limits when the process has CAP_NET_ADMIN); defaults 16
	// MiB and 4 MiB.
	RcvBuf, SndBuf int
	// Offload reads and writes super-frames whole (PACKET_VNET_HDR; see
	// link.OffloadDevice): with GRO, GSO or TSO on, frames longer than the
	// MTU arrive with their segmentation pending and leave the same way,
	// instead of being dropped as truncated. Buffers must then hold
	// link.MaxSuperFrame bytes. If the kernel refuses the option, the
	// socket works without it (Offloading reports false).
	Offload bool
}

// vnetHdrLen is the size of struct virtio_net_hdr, which precedes every
// frame read and written on a socket with PACKET_VNET_HDR.
const vnetHdrLen = 10

// virtio_net_hdr flags.
const (
	vnetNeedsCsum = 1
)

// FanoutMode is a PACKET_FANOUT algorithm.
type FanoutMode int

const (
	// FanoutHash picks a socket by the kernel's symmetric flow hash of the
	// frame (addresses and ports; addresses only for IP fragments): every
	// frame of a flow, in either direction of that flow, goes to the same
	// socket, whatever the NIC's queues.
	FanoutHash FanoutMode = iota
	// FanoutCPU picks the socket by the CPU that received the frame:
	// useful only with one worker per receive queue and RSS spreading
	// the queues over the CPUs.
	FanoutCPU
)

// errRingSetup marks failures of the ring setup (RXAuto then falls back).
var errRingSetup = errors.New("TPACKET_V3 ring refused")

// errShortHeadroom is returned by a read on a socket with offloads when
// the offset leaves no room for the virtio_net_hdr in front of the frame.
var errShortHeadroom = fmt.Errorf("afpacket: offloads need an offset of at least %d bytes", vnetHdrLen)

// Stats are a Device's counters since Open.
type Stats struct {
	FramesRead     uint64 // frames returned by Read
	FramesWritten  uint64 // frames the kernel accepted in Write
	WriteErrors    uint64 // frames Write dropped (rejected, or send buffer full)
	ReadErrors     uint64 // transient receive errors (e.g. ENETDOWN), not frames
	Truncated      uint64 // frames dropped because they did not fit the buffer
	Outgoing       uint64 // our own outgoing frames skipped (old kernels)
	CsumCompleted  uint64 // partial TCP/UDP checksums finished
	CsumUnhandled  uint64 // partial checksums left alone (unparsable frame)
	SuperRead      uint64 // super-frames (GSO/GRO) read whole (Options.Offload)
	SuperWritten   uint64 // super-frames the kernel accepted to segment
	VLANReinserted uint64 // VLAN tags put back into frames
	KernelPackets  uint64 // frames the kernel queued or dropped (PACKET_STATISTICS)
	KernelDrops    uint64 // frames the kernel dropped, socket buffer full
}

// Device is an AF_PACKET socket bound to one interface. It implements
// link.Device.
type Device struct {
	name  string
	index int
	mac   [6]byte
	mtu   int
	batch int

	timeout time.Duration // Options.ReadTimeout

	// vnet: every frame read and written is preceded by a virtio_net_hdr
	// (Options.Offload, accepted by the kernel).
	vnet bool
	offl []link.Offload // per frame of the last read (vnet only)

	// fdMu guards the descriptor's lifetime: Read, Write, SetFilter and
	// Stats hold it shared around syscalls, Close exclusively, so the
	// descriptor is never closed (and reused) under a syscall.
	fdMu   sync.RWMutex
	fd     int
	closed atomic.Bool

	// ring is the TPACKET_V3 receive ring, nil with recvmmsg.
	ring *rxRing

	// Receive scratch: Read is called by one goroutine at a time.
	rmsgs  []unix.Mmsghdr
	riov   []unix.Iovec
	rnames []unix.RawSockaddrLinklayer
	rctrl  []byte

	// Send scratch, shared by concurrent writers.
	wmu   sync.Mutex
	wmsgs []unix.Mmsghdr
	wiov  []unix.Iovec
	wvnet []byte        // vnet: one virtio_net_hdr per frame of a send
	wp    header.Parsed // WriteOffload's decode scratch

	framesRead, framesWritten, writeErrors, readErrors atomic.Uint64
	truncated, outgoing, csumDone, csumUnhandled       atomic.Uint64
	vlanDone, superRead, superWritten                  atomic.Uint64

	kmu              sync.Mutex // PACKET_STATISTICS resets on read
	kPackets, kDrops uint64

	mcMu  sync.Mutex       // guards mcast
	mcast map[[6]byte]bool // link-layer multicast groups joined (SetMulticast)
}

var (
	_ link.Multiplexer   = (*Device)(nil)
	_ link.OffloadDevice = (*Device)(nil)
)

const (
	auxSize = int(unsafe.Sizeof(unix.TpacketAuxdata{}))
	ptrSize = int(unsafe.Sizeof(uintptr(0)))
	// CMSG_SPACE(sizeof(struct tpacket_auxdata)).
	ctrlSpace = (unix.SizeofCmsghdr+ptrSize-1)&^(ptrSize-1) + (auxSize+ptrSize-1)&^(ptrSize-1)
)

// cmsgAlign rounds n up to the alignment of control messages (CMSG_ALIGN).
func cmsgAlign(n int) int { return (n + ptrSize - 1) &^ (ptrSize - 1) }

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Open creates a packet socket bound to interface ifname. It needs
// CAP_NET_RAW in the interface's network namespace; the socket stays in
// the namespace of the calling thread.
func Open(ifname string, opt Options) (*Device, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	if opt.FanoutGroup != 0 {
		return open(ifname, opt, opt.FanoutGroup|opt.Fanout.kernelType()<<16, true)
	}
	return open(ifname, opt, 0, false)
}

// OpenFanout opens n sockets on interface ifname joined in a new
// PACKET_FANOUT group of type opt.Fanout (the kernel picks an identifier
// no other group uses, PACKET_FANOUT_FLAG_UNIQUEID, Linux 4.2), so that
// the interface's frames are shared among them: one socket per worker.
// With n == 1 it opens one socket and no group. opt.FanoutGroup must be 0.
func OpenFanout(ifname string, n int, opt Options) ([]*Device, error) {
	if n < 1 || n > maxFanout {
		return nil, fmt.Errorf("afpacket: %d fanout sockets, want 1..%d", n, maxFanout)
	}
	if opt.FanoutGroup != 0 {
		return nil, fmt.Errorf("afpacket: OpenFanout picks its own fanout group; FanoutGroup must be 0")
	}
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	if n == 1 {
		d, err := open(ifname, opt, 0, false)
		if err != nil {
			return nil, err
		}
		return []*Device{d}, nil
	}
	first, err := open(ifname, opt, fanoutUnique|opt.Fanout.kernelType()<<16, true)
	if err != nil {
		return nil, err
	}
	devs := []*Device{first}
	// The group as the kernel made it (identifier, which may be 0, type
	// and flags) is what the other sockets must ask for to join it.
	v, err := unix.GetsockoptInt(first.fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
	if err != nil {
		first.Close()
		return nil, fmt.Errorf("afpacket: %s: PACKET_FANOUT group: %w", ifname, err)
	}
	for len(devs) < n {
		d, err := open(ifname, opt, v, true)
		if err != nil {
			for _, x := range devs {
				x.Close()
			}
			return nil, err
		}
		devs = append(devs, d)
	}
	return devs, nil
}

// maxFanout is the kernel's PACKET_FANOUT_MAX (sockets per group).
const maxFanout = 256

// fanoutUnique asks the kernel for a new group identifier
// (PACKET_FANOUT_FLAG_UNIQUEID, with identifier 0).
const fanoutUnique = unix.PACKET_FANOUT_FLAG_UNIQUEID << 16

func (m FanoutMode) kernelType() int {
	if m == FanoutCPU {
		return unix.PACKET_FANOUT_CPU
	}
	return unix.PACKET_FANOUT_HASH
}

func (opt *Options) defaults() error {
	if opt.BatchSize == 0 {
		opt.BatchSize = DefaultBatchSize
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = DefaultReadTimeout
	}
	if opt.RcvBuf == 0 {
		opt.RcvBuf = DefaultRcvBuf
	}
	if opt.SndBuf == 0 {
		opt.SndBuf = DefaultSndBuf
	}
	switch {
	case opt.BatchSize < 0 || opt.BatchSize > maxBatch:
		return fmt.Errorf("afpacket: batch size %d out of 1..%d", opt.BatchSize, maxBatch)
	case opt.ReadTimeout < time.Millisecond:
		return fmt.Errorf("afpacket: read timeout %v below 1ms", opt.ReadTimeout)
	case opt.FanoutGroup < 0 || opt.FanoutGroup > 0xffff:
		return fmt.Errorf("afpacket: fanout group %d out of 1..65535", opt.FanoutGroup)
	case len(opt.Filter) > MaxFilterLen:
		return ErrFilterTooLong
	case opt.Fanout != FanoutHash && opt.Fanout != FanoutCPU:
		return fmt.Errorf("afpacket: unknown fanout mode %d", opt.Fanout)
	case opt.RX < RXAuto || opt.RX > RXRecvmmsg:
		return fmt.Errorf("afpacket: unknown receive mode %d", opt.RX)
	}
	if opt.RingBlockSize == 0 {
		opt.RingBlockSize = DefaultRingBlockSize
	}
	if opt.RingBlocks == 0 {
		opt.RingBlocks = DefaultRingBlocks
	}
	if opt.RingTimeout == 0 {
		opt.RingTimeout = DefaultRingTimeout
	}
	page := unix.Getpagesize()
	switch bs := opt.RingBlockSize; {
	case bs < page || bs > 1<<30 || bs&(bs-1) != 0:
		return fmt.Errorf("afpacket: ring block size %d is not a power-of-two multiple of the page size (%d)", bs, page)
	case opt.RingBlocks < 1 || opt.RingBlocks > 1<<16 || opt.RingBlocks*bs > 1<<31:
		return fmt.Errorf("afpacket: %d ring blocks of %d bytes out of range", opt.RingBlocks, bs)
	case opt.RingTimeout < 0 || opt.RingTimeout > time.Minute:
		return fmt.Errorf("afpacket: ring timeout %v out of range (0 for the default, up to 1m)", opt.RingTimeout)
	}
	return nil
}

// open opens one socket; with join, it joins the fanout group given by
// the PACKET_FANOUT value fanout (identifier | type_flags<<16). With
// RXAuto a refused ring falls back to recvmmsg on a fresh socket.
func open(ifname string, opt Options, fanout int, join bool) (*Device, error) {
	d, err := open1(ifname, opt, fanout, join)
	if err != nil && opt.RX == RXAuto && errors.Is(err, errRingSetup) {
		opt.RX = RXRecvmmsg
		d, err = open1(ifname, opt, fanout, join)
	}
	return d, err
}

func open1(ifname string, opt Options, fanout int, join bool) (*Device, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("afpacket: %w", err)
	}
	// Protocol 0: nothing is queued before bind, so the filter applies
	// to every frame read.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("afpacket: socket: %w", err)
	}
	d := &Device{name: ifi.Name, index: ifi.Index, mtu: ifi.MTU, batch: opt.BatchSize, timeout: opt.ReadTimeout, fd: fd}
	copy(d.mac[:], ifi.HardwareAddr)
	if err := d.setup(opt, fanout, join); err != nil {
		if d.ring != nil {
			d.ring.close()
		}
		unix.Close(fd)
		return nil, fmt.Errorf("afpacket: %s: %w", ifname, err)
	}
	d.alloc()
	return d, nil
}

func (d *Device) setup(opt Options, fanout int, join bool) error {
	fd := d.fd
	if len(opt.Filter) > 0 {
		if err := attachFilter(fd, opt.Filter); err != nil {
			return err
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fmt.Errorf("PACKET_AUXDATA: %w", err)
	}
	// Best effort: Read also skips PACKET_OUTGOING frames, and without
	// qdisc bypass frames merely go through the qdisc.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	if !opt.Offload {
		// Not with offloads: a device that cannot take a super-frame
		// whole (TSO off, a NIC without it) needs the kernel to cut it,
		// which only the queueing path does; the bypass drops it.
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, opt.RcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, opt.RcvBuf)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, opt.SndBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, opt.SndBuf)
	}
	tv := unix.NsecToTimeval(opt.ReadTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("SO_RCVTIMEO: %w", err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return fmt.Errorf("SO_SNDTIMEO: %w", err)
	}
	if opt.Promisc {
		mreq := unix.PacketMreq{Ifindex: int32(d.index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return fmt.Errorf("PACKET_MR_PROMISC: %w", err)
		}
	}
	if opt.Offload {
		// Before the ring: the kernel refuses the option once one is mapped.
		d.vnet = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1) == nil
	}
	if opt.RX != RXRecvmmsg {
		r, err := setupRing(fd, &opt, d.vnet)
		if err != nil {
			return fmt.Errorf("%w: %w", errRingSetup, err)
		}
		d.ring = r
	}
	sa := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: d.index}
	if err := unix.Bind(fd, &sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if join {
		// A fanout group registers one hook for all its sockets, so the
		// sockets' own PACKET_IGNORE_OUTGOING does not apply: ask the
		// group for it where the kernel has the flag; Read skips outgoing
		// frames anyway.
		// (A group's members must ask for the same flags: on a kernel
		// without the flag, every member falls back alike.)
		v := fanout | unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING<<16
		err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, v)
		if errors.Is(err, unix.EINVAL) && v != fanout {
			err = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, fanout)
		}
		if err != nil {
			return fmt.Errorf("PACKET_FANOUT: %w", err)
		}
	}
	return nil
}

// alloc builds the fixed msghdr/iovec/control arrays; only lengths and
// buffer pointers change per call.
func (d *Device) alloc() {
	n := d.batch
	d.rmsgs = make([]unix.Mmsghdr, n)
	d.riov = make([]unix.Iovec, n)
	d.rnames = make([]unix.RawSockaddrLinklayer, n)
	d.rctrl = make([]byte, n*ctrlSpace)
	for i := range d.rmsgs {
		h := &d.rmsgs[i].Hdr
		h.Iov = &d.riov[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&d.rnames[i]))
		h.Control = &d.rctrl[i*ctrlSpace]
	}
	d.wmsgs = make([]unix.Mmsghdr, n)
	if !d.vnet {
		d.wiov = make([]unix.Iovec, n)
		for i := range d.wmsgs {
			d.wmsgs[i].Hdr.Iov = &d.wiov[i]
			d.wmsgs[i].Hdr.SetIovlen(1)
		}
		return
	}
	// Each frame sent is its virtio_net_hdr, then the frame.
	d.offl = make([]link.Offload, n)
	d.wvnet = make([]byte, n*vnetHdrLen)
	d.wiov = make([]unix.Iovec, 2*n)
	for i := range d.wmsgs {
		d.wiov[2*i].Base = &d.wvnet[i*vnetHdrLen]
		d.wiov[2*i].SetLen(vnetHdrLen)
		d.wmsgs[i].Hdr.Iov = &d.wiov[2*i]
		d.wmsgs[i].Hdr.SetIovlen(2)
	}
}

func attachFilter(fd int, f []bpf.RawInstruction) error {
	if len(f) > MaxFilterLen {
		return ErrFilterTooLong
	}
	prog := make([]unix.SockFilter, len(f))
	for i, r := range f {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return fmt.Errorf("SO_ATTACH_FILTER: %w", err)
	}
	return nil
}

// SetFilter replaces the socket's BPF filter (atomically: no frame is let
// through unfiltered in between). An empty program removes the filter.
func (d *Device) SetFilter(f []bpf.RawInstruction) error {
	d.fdMu.RLock()
	defer d.fdMu.RUnlock()
	if d.closed.Load() {
		return link.ErrClosed
	}
	if len(f) == 0 {
		err := unix.SetsockoptInt(d.fd, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("afpacket: SO_DETACH_FILTER: %w", err)
		}
		return nil
	}
	if err := attachFilter(d.fd, f); err != nil {
		return fmt.Errorf("afpacket: %w", err)
	}
	return nil
}

// SetMulticast makes the interface receive exactly the given link-layer
// multicast groups on the socket's behalf (PACKET_ADD_MEMBERSHIP and
// PACKET_DROP_MEMBERSHIP with PACKET_MR_MULTICAST), beyond the groups the
// host joined itself. gdirector joins the solicited-node group of every
// IPv6 address it owns but the kernel does not (33:33:ff:xx:xx:xx), so a
// NIC that filters multicast still delivers the Neighbor Solicitations
// for them. The memberships end with the socket.
func (d *Device) SetMulticast(groups [][6]byte) error {
	d.fdMu.RLock()
	defer d.fdMu.RUnlock()
	if d.closed.Load() {
		return link.ErrClosed
	}
	d.mcMu.Lock()
	defer d.mcMu.Unlock()
	if d.mcast == nil {
		d.mcast = map[[6]byte]bool{}
	}
	want := make(map[[6]byte]bool, len(groups))
	for _, g := range groups {
		want[g] = true
	}
	var errs []error
	for g := range d.mcast {
		if !want[g] {
			if err := d.membership(unix.PACKET_DROP_MEMBERSHIP, g); err != nil {
				errs = append(errs, err)
			}
			delete(d.mcast, g)
		}
	}
	for g := range want {
		if d.mcast[g] {
			continue
		}
		if err := d.membership(unix.PACKET_ADD_MEMBERSHIP, g); err != nil {
			errs = append(errs, err)
			continue
		}
		d.mcast[g] = true
	}
	return errors.Join(errs...)
}

func (d *Device) membership(op int, g [6]byte) error {
	mr := unix.PacketMreq{Ifindex: int32(d.index), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	copy(mr.Address[:], g[:])
	if err := unix.SetsockoptPacketMreq(d.fd, unix.SOL_PACKET, op, &mr); err != nil {
		name := map[int]string{unix.PACKET_ADD_MEMBERSHIP: "PACKET_ADD_MEMBERSHIP", unix.PACKET_DROP_MEMBERSHIP: "PACKET_DROP_MEMBERSHIP"}[op]
		return fmt.Errorf("afpacket: %s %x on %s: %w", name, g, d.name, err)
	}
	return nil
}

// Name returns the interface name.
func (d *Device) Name() string { return d.name }

// Index returns the interface index.
func (d *Device) Index() int { return d.index }

// HardwareAddr returns the interface's MAC address as found at Open.
func (d *Device) HardwareAddr() [6]byte { return d.mac }

// MTU returns the interface's MTU as found at Open.
func (d *Device) MTU() int { return d.mtu }

// BatchSize returns the most frames one Read returns.
func (d *Device) BatchSize() int { return d.batch }

// Read receives up to min(len(bufs), len(sizes), BatchSize()) frames,
// frame i into bufs[i][offset:offset+sizes[i]]: copied out of the
// TPACKET_V3 ring, or with one recvmmsg call. It blocks until at least one
// frame is queued or the read timeout passes (then it returns 0, nil).
// Each buffer keeps its last 4 bytes free so a stripped VLAN tag can be
// put back; frames that do not fit are dropped and counted
// (Stats.Truncated). Partial checksums are completed. Read must not be
// called by two goroutines at once.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return d.read(bufs, sizes, offset, true)
}

// TryRead is Read without waiting: it returns 0, nil at once when no frame
// is queued (link.Multiplexer).
func (d *Device) TryRead(bufs [][]byte, sizes []int, offset int) (int, error) {
	return d.read(bufs, sizes, offset, false)
}

func (d *Device) read(bufs [][]byte, sizes []int, offset int, wait bool) (int, error) {
	d.fdMu.RLock()
	if d.closed.Load() {
		d.fdMu.RUnlock()
		return 0, link.ErrClosed
	}
	n := min(len(bufs), len(sizes), d.batch)
	if n == 0 {
		d.fdMu.RUnlock()
		return 0, nil
	}
	hdr := 0 // bytes in front of each frame: its virtio_net_hdr
	if d.vnet {
		if offset < vnetHdrLen {
			d.fdMu.RUnlock()
			return 0, errShortHeadroom
		}
		hdr = vnetHdrLen
	}
	if d.ring != nil {
		got := d.readRing(bufs[:n], sizes[:n], offset, wait)
		d.fdMu.RUnlock()
		return got, nil
	}
	for i := 0; i < n; i++ {
		room := len(bufs[i]) - offset - vlanTagLen
		if room > 0 {
			d.riov[i].Base = &bufs[i][offset-hdr]
			d.riov[i].SetLen(room + hdr)
		} else {
			d.riov[i].Base = nil
			d.riov[i].SetLen(0)
		}
		h := &d.rmsgs[i].Hdr
		h.Namelen = unix.SizeofSockaddrLinklayer
		h.SetControllen(ctrlSpace)
		h.Flags = 0
		d.rmsgs[i].Len = 0
	}
	flags := unix.MSG_WAITFORONE
	if !wait {
		flags |= unix.MSG_DONTWAIT
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(d.fd),
		uintptr(unsafe.Pointer(&d.rmsgs[0])), uintptr(n), uintptr(flags), 0, 0)
	d.fdMu.RUnlock()
	switch e {
	case 0:
	case unix.EAGAIN, unix.EINTR:
		return 0, nil
	case unix.ENETDOWN, unix.ENOBUFS, unix.ENOMEM:
		d.readErrors.Add(1)
		return 0, nil
	default:
		return 0, e
	}
	got := int(r)
	kept := 0
	var c rxCounts
	for i := 0; i < got; i++ {
		m := &d.rmsgs[i]
		if d.rnames[i].Pkttype == unix.PACKET_OUTGOING {
			c.outg++
			continue
		}
		size := int(m.Len) - hdr
		aux := auxdata(d.rctrl[i*ctrlSpace:i*ctrlSpace+int(m.Hdr.Controllen)], m.Hdr.Flags)
		if size < 0 || m.Hdr.Flags&unix.MSG_TRUNC != 0 || (aux != nil && (aux.Len > aux.Snaplen || int(aux.Len) > size)) {
			c.trunc++
			continue
		}
		b := bufs[i][offset:]
		var o link.Offload
		if hdr != 0 {
			o = parseVnet(bufs[i][offset-hdr : offset])
		}
		if aux != nil {
			size = c.finish(b, size, aux.Status, aux.Vlan_tpid, uint16(aux.Vlan_tci), o.Super())
		}
		if hdr != 0 {
			d.offl[kept] = o
			if o.Super() {
				c.super++
			}
		}
		if kept != i {
			// Rare (a skipped frame before this one): move the bytes so
			// that the returned frames are bufs[0:kept].
			size = copy(bufs[kept][offset:], b[:size])
		}
		sizes[kept] = size
		kept++
	}
	d.count(kept, &c)
	return kept, nil
}

// readRing copies up to len(bufs) frames out of the ring, waiting (poll)
// for a block if wait is set and none is ready. The caller holds fdMu.
func (d *Device) readRing(bufs [][]byte, sizes []int, offset int, wait bool) int {
	r := d.ring
	if wait && !r.ready() {
		// An error (EINTR, ENOMEM) is as good as a timeout: the ring is
		// looked at anyway, and the caller calls again.
		_, _ = unix.Poll(r.pfd[:], int(d.timeout/time.Millisecond))
	}
	kept := 0
	var c rxCounts
	for kept < len(bufs) {
		h, f, vnet, pkttype, ok := r.next()
		if !ok {
			break
		}
		if pkttype == unix.PACKET_OUTGOING {
			c.outg++
			continue
		}
		room := len(bufs[kept]) - offset - vlanTagLen
		if h.Len > h.Snaplen || len(f) > room {
			c.trunc++
			continue
		}
		b := bufs[kept][offset:]
		size := copy(b, f)
		var o link.Offload
		if vnet != nil {
			o = parseVnet(vnet)
			d.offl[kept] = o
			if o.Super() {
				c.super++
			}
		}
		sizes[kept] = c.finish(b, size, h.Status, h.Hv1.Vlan_tpid, uint16(h.Hv1.Vlan_tci), o.Super())
		kept++
	}
	// Every frame copied: the block goes back to the kernel now, not at
	// the next Read.
	if r.left == 0 {
		r.release()
	}
	d.count(kept, &c)
	return kept
}

// rxCounts are one Read's counters, added to the Device's once.
type rxCounts struct {
	trunc, outg, csum, csumBad, vlan, super uint64
}

// finish puts back a stripped VLAN tag and completes a partial checksum
// (as reported in the tpacket status) of the frame b[:size], and returns
// its new size. A super-frame's checksum stays partial: it is completed
// per segment, by the kernel when the frame is sent whole
// (WriteOffload), or by whoever cuts it (header.PutSegment).
func (c *rxCounts) finish(b []byte, size int, status uint32, tpid, tci uint16, super bool) int {
	if status&unix.TP_STATUS_VLAN_VALID != 0 {
		if status&unix.TP_STATUS_VLAN_TPID_VALID == 0 {
			tpid = 0
		}
		var ok bool
		if size, ok = InsertVLAN(b, size, tpid, tci); ok {
			c.vlan++
		}
	}
	if status&unix.TP_STATUS_CSUMNOTREADY != 0 && !super {
		if CompleteChecksum(b[:size]) {
			c.csum++
		} else {
			c.csumBad++
		}
	}
	return size
}

func (d *Device) count(kept int, c *rxCounts) {
	if kept > 0 {
		d.framesRead.Add(uint64(kept))
	}
	if c.trunc|c.outg|c.csum|c.csumBad|c.vlan|c.super != 0 {
		d.superRead.Add(c.super)
		d.truncated.Add(c.trunc)
		d.outgoing.Add(c.outg)
		d.csumDone.Add(c.csum)
		d.csumUnhandled.Add(c.csumBad)
		d.vlanDone.Add(c.vlan)
	}
}

// Ring reports whether frames are received through a TPACKET_V3 ring
// (otherwise with recvmmsg).
func (d *Device) Ring() bool { return d.ring != nil }

// NewPoller returns a link.Poller over devs if they are all packet
// sockets of this package, else nil (link.Multiplexer).
func (d *Device) NewPoller(devs []link.Device) link.Poller {
	p := &poller{}
	seen := map[*Device]bool{}
	for _, x := range devs {
		ad, ok := x.(*Device)
		if !ok {
			return nil
		}
		if !seen[ad] {
			seen[ad] = true
			p.devs = append(p.devs, ad)
		}
	}
	p.fds = make([]unix.PollFd, len(p.devs))
	return p
}

// poller waits on several sockets with one poll(2).
type poller struct {
	devs []*Device
	fds  []unix.PollFd
}

// Wait polls the sockets for input. It holds no lock during the poll: a
// socket closed meanwhile (its number perhaps reused) can at worst wake it
// early, and the next Read reports link.ErrClosed.
func (p *poller) Wait(timeout time.Duration) {
	for i, d := range p.devs {
		d.fdMu.RLock()
		fd := d.fd
		if d.closed.Load() {
			fd = -1
		}
		d.fdMu.RUnlock()
		p.fds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	ms := int((timeout + time.Millisecond - 1) / time.Millisecond)
	_, _ = unix.Poll(p.fds, ms)
}

// auxdata returns the tpacket_auxdata control message in ctrl, or nil.
func auxdata(ctrl []byte, flags int32) *unix.TpacketAuxdata {
	if flags&unix.MSG_CTRUNC != 0 {
		return nil
	}
	for len(ctrl) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(ctrl) {
			return nil
		}
		if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && l >= unix.CmsgLen(auxSize) {
			return (*unix.TpacketAuxdata)(unsafe.Pointer(&ctrl[unix.CmsgLen(0)]))
		}
		l = cmsgAlign(l)
		if l >= len(ctrl) {
			return nil
		}
		ctrl = ctrl[l:]
	}
	return nil
}

// Write sends bufs[i][offset:] for every i, BatchSize() frames per
// sendmmsg call, looping over partial sends. It returns how many frames
// the kernel accepted. A frame the kernel rejects (too large, device
// down, device queue full) is skipped and counted in Stats.WriteErrors;
// if the socket buffer stays full for the timeout the rest of the batch is
// dropped and counted the same way. An error is returned only for
// ErrClosed or a fault of the socket itself. Write is safe for concurrent
// use.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	return d.write(bufs, nil, offset)
}

// WriteOffload is Write with offl[i] describing bufs[i]
// (link.OffloadDevice): a super-frame is sent whole, with a
// virtio_net_hdr asking the kernel to segment it, its partial checksum
// recomputed from its headers as they now are (header.SetPartialChecksum).
// On a socket without offloads, or for a frame that is not TCP or UDP
// over IP, a super-frame is sent as an ordinary frame, which the kernel
// rejects if it is longer than the MTU (counted in Stats.WriteErrors).
func (d *Device) WriteOffload(bufs [][]byte, offl []link.Offload, offset int) (int, error) {
	return d.write(bufs, offl, offset)
}

func (d *Device) write(bufs [][]byte, offl []link.Offload, offset int) (int, error) {
	d.fdMu.RLock()
	defer d.fdMu.RUnlock()
	if d.closed.Load() {
		return 0, link.ErrClosed
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	sent, failed, supers := 0, 0, 0
	var err error
	for start := 0; start < len(bufs) && err == nil; {
		n := min(len(bufs)-start, d.batch)
		for i := 0; i < n; i++ {
			b := bufs[start+i]
			iov := &d.wiov[i]
			if d.vnet {
				iov = &d.wiov[2*i+1]
				var o link.Offload
				if start+i < len(offl) {
					o = offl[start+i]
				}
				if d.putVnet(d.wvnet[i*vnetHdrLen:(i+1)*vnetHdrLen], b, offset, o) {
					supers++
				}
			}
			if len(b) > offset {
				iov.Base = &b[offset]
				iov.SetLen(len(b) - offset)
			} else {
				iov.Base = nil
				iov.SetLen(0)
			}
		}
		pos, eintr := 0, 0
		for pos < n {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(d.fd),
				uintptr(unsafe.Pointer(&d.wmsgs[pos])), uintptr(n-pos), 0, 0, 0)
			switch e {
			case 0:
				if r == 0 { // cannot happen for n-pos > 0; never spin
					failed += n - pos
					pos = n
				}
				sent += int(r)
				pos += int(r)
			case unix.EINTR:
				if eintr++; eintr > maxEINTR {
					failed++
					pos++
				}
			case unix.EAGAIN:
				// Send buffer full for the whole timeout: drop the rest.
				failed += len(bufs) - start - pos
				pos = n
				start = len(bufs)
			case unix.EBADF, unix.EFAULT, unix.ENOTSOCK:
				err = e
				failed += len(bufs) - start - pos
				pos = n
			default:
				failed++ // this frame was rejected; go on with the next
				pos++
			}
		}
		for i := range d.wiov {
			if !d.vnet || i&1 == 1 {
				d.wiov[i].Base = nil // do not keep the caller's buffers alive
			}
		}
		if start < len(bufs) {
			start += n
		}
	}
	if sent > 0 {
		d.framesWritten.Add(uint64(sent))
	}
	if failed > 0 {
		d.writeErrors.Add(uint64(failed))
	}
	if supers > 0 {
		// Frames are rejected individually and rarely: count the
		// super-frames offered, less the failures if all failed.
		d.superWritten.Add(uint64(max(supers-failed, 0)))
	}
	return sent, err
}

// putVnet fills the virtio_net_hdr h for the frame b[offset:] described
// by o, and reports whether it asks the kernel to segment the frame. For
// a super-frame it rewrites the transport checksum field into the partial
// form the kernel completes per segment.
func (d *Device) putVnet(h, b []byte, offset int, o link.Offload) bool {
	clear(h)
	if !o.Super() || len(b) <= offset {
		return false
	}
	f := b[offset:]
	p := &d.wp
	if header.Decode(f, p) != header.OK {
		return false
	}
	var gso link.GSOType
	csumOff := 16
	switch {
	case p.Proto == header.ProtoTCP && p.IPv6:
		gso = link.GSOTCPv6 | o.GSO&link.GSOECN
	case p.Proto == header.ProtoTCP:
		gso = link.GSOTCPv4 | o.GSO&link.GSOECN
	case p.Proto == header.ProtoUDP:
		gso, csumOff = link.GSOUDPL4, 6
	default:
		return false
	}
	hl := header.SuperPayload(f, p)
	if hl < 0 || !header.SetPartialChecksum(f, p) {
		return false
	}
	h[0] = vnetNeedsCsum
	h[1] = byte(gso)
	binary.LittleEndian.PutUint16(h[2:], uint16(hl))
	binary.LittleEndian.PutUint16(h[4:], o.GSOSize)
	binary.LittleEndian.PutUint16(h[6:], uint16(p.L4))
	binary.LittleEndian.PutUint16(h[8:], uint16(csumOff))
	return true
}

// parseVnet returns the Offload a received virtio_net_hdr describes: a
// super-frame when it names a segmentation type with a segment size.
func parseVnet(h []byte) link.Offload {
	o := link.Offload{GSO: link.GSOType(h[1]), GSOSize: binary.LittleEndian.Uint16(h[4:])}
	if !o.Super() {
		return link.Offload{}
	}
	return o
}

// Offloading reports whether the socket reads and writes super-frames
// (Options.Offload, accepted by the kernel).
func (d *Device) Offloading() bool { return d.vnet }

// MaxFrameSize is the longest frame Read returns: link.MaxSuperFrame with
// offloads, else link.MaxFrame (link.OffloadDevice).
func (d *Device) MaxFrameSize() int {
	if d.vnet {
		return link.MaxSuperFrame
	}
	return link.MaxFrame
}

// Offloads returns the Offload of each frame the last Read or TryRead
// returned, or nil without offloads (link.OffloadDevice).
func (d *Device) Offloads() []link.Offload {
	if !d.vnet {
		return nil
	}
	return d.offl
}

// Stats returns the counters. It also reads (and so resets) the kernel's
// PACKET_STATISTICS and adds them to the running totals.
func (d *Device) Stats() Stats {
	d.fdMu.RLock()
	if !d.closed.Load() {
		d.pollKernelStats()
	}
	d.fdMu.RUnlock()
	d.kmu.Lock()
	kp, kd := d.kPackets, d.kDrops
	d.kmu.Unlock()
	return Stats{
		FramesRead:     d.framesRead.Load(),
		FramesWritten:  d.framesWritten.Load(),
		WriteErrors:    d.writeErrors.Load(),
		ReadErrors:     d.readErrors.Load(),
		Truncated:      d.truncated.Load(),
		Outgoing:       d.outgoing.Load(),
		CsumCompleted:  d.csumDone.Load(),
		CsumUnhandled:  d.csumUnhandled.Load(),
		SuperRead:      d.superRead.Load(),
		SuperWritten:   d.superWritten.Load(),
		VLANReinserted: d.vlanDone.Load(),
		KernelPackets:  kp,
		KernelDrops:    kd,
	}
}

// pollKernelStats adds PACKET_STATISTICS (which the kernel resets when
// read) to the running totals. The caller holds fdMu and fd is open.
func (d *Device) pollKernelStats() {
	st, err := unix.GetsockoptTpacketStats(d.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return
	}
	d.kmu.Lock()
	d.kPackets += uint64(st.Packets)
	d.kDrops += uint64(st.Drops)
	d.kmu.Unlock()
}

// Close closes the socket. It waits for a Read or Write in progress (at
// most about the read timeout). It is idempotent; Read and Write after
// Close return link.ErrClosed.
func (d *Device) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	d.fdMu.Lock()
	defer d.fdMu.Unlock()
	d.pollKernelStats() // keep the kernel counters of the last interval
	err := unix.Close(d.fd)
	d.fd = -1
	if d.ring != nil {
		if uerr := d.ring.close(); err == nil {
			err = uerr
		}
	}
	if err != nil {
		return fmt.Errorf("afpacket: close: %w", err)
	}
	return nil
}

// Package link moves batches of Ethernet frames between the data plane and
// a network device.
//
// A Device reads and writes frames in caller-owned buffers at a fixed
// offset, so that the space in front of each frame (headroom) can later be
// used to prepend headers in place (IPIP encapsulation). Implementations
// live in sub-packages: link/afpacket (AF_PACKET sockets on a real or veth
// interface) and link/linktest (an in-memory pair for root-free tests).
//
// One data-plane worker can serve several devices from one goroutine when
// they implement Multiplexer: it reads each without waiting (TryRead) and,
// when none has frames, waits on all of them at once with a Poller.
package link

import (
	"errors"
	"time"
)

// Headroom is the number of bytes the data plane keeps in front of every
// frame it reads. It is enough for an outer IPv6 header (40 bytes) plus a
// VLAN tag, rounded up.
const Headroom = 64

// MaxFrame is the largest frame a buffer must hold after the headroom.
const MaxFrame = 9216 + 18

// ErrClosed is returned by Read and Write after Close.
var ErrClosed = errors.New("link: device closed")

// Device is a source and sink of Ethernet frames.
//
// Read fills bufs[i][offset:offset+sizes[i]] with up to len(bufs) frames and
// returns how many it filled. It blocks for at most a short, implementation
// defined time (so that callers can notice shutdown) and may return 0, nil.
// Frames are returned complete: a transport checksum left partial by the
// sender's offload is finished, and a VLAN tag the kernel stripped is put
// back into the frame.
//
// Write sends bufs[i][offset:] for every i (each slice's length marks the
// end of its frame) and returns how many frames the kernel accepted. Write
// is safe for concurrent use; Read is called by one goroutine at a time.
type Device interface {
	Name() string
	Index() int
	HardwareAddr() [6]byte
	MTU() int
	BatchSize() int
	Read(bufs [][]byte, sizes []int, offset int) (int, error)
	Write(bufs [][]byte, offset int) (int, error)
	Close() error
}

// Multiplexer is implemented by devices that one goroutine can serve
// together with other devices of the same kind.
type Multiplexer interface {
	Device
	// TryRead is Read without waiting: it returns 0, nil at once when no
	// frame is queued. Like Read, it is called by one goroutine at a time.
	TryRead(bufs [][]byte, sizes []int, offset int) (int, error)
	// NewPoller returns a Poller that waits on every device of devs, or
	// nil if it cannot wait on all of them together (another kind of
	// device, for instance).
	NewPoller(devs []Device) Poller
}

// A Poller waits for frames on a fixed set of devices. It is used by one
// goroutine at a time.
type Poller interface {
	// Wait returns when a frame may be queued on one of the devices, when
	// timeout has passed, or when a device was closed. It may return
	// early; the caller then finds nothing to read and waits again.
	Wait(timeout time.Duration)
}

// GSOType is the segmentation a super-frame still needs, in the values of
// the kernel's virtio_net_hdr (VIRTIO_NET_HDR_GSO_*).
type GSOType uint8

// Segmentation types.
const (
	GSONone  GSOType = 0    // an ordinary frame
	GSOTCPv4 GSOType = 1    // TCP over IPv4, cut into segments
	GSOTCPv6 GSOType = 4    // TCP over IPv6
	GSOUDPL4 GSOType = 5    // UDP datagrams of one size (UDP_SEGMENT)
	GSOECN   GSOType = 0x80 // flag: the TCP super-frame carries CWR (set on the first segment only)
)

// Offload describes what the kernel left for later in a frame read from
// an OffloadDevice: a super-frame (GSO or GRO) longer than the MTU, whose
// transport checksum is partial, to be cut into segments of GSOSize
// payload bytes. The zero value is an ordinary, complete frame.
type Offload struct {
	GSO     GSOType
	GSOSize uint16
}

// Super reports whether the frame is a super-frame.
func (o Offload) Super() bool { return o.GSO&^GSOECN != GSONone && o.GSOSize != 0 }

// MaxSuperFrame is the largest super-frame an OffloadDevice returns: a
// 64 KiB IP packet with its Ethernet header and two VLAN tags.
const MaxSuperFrame = 65535 + 14 + 8

// OffloadDevice is a Device that reads and writes super-frames instead of
// making the kernel cut them before the data plane sees them (on Linux, a
// packet socket with PACKET_VNET_HDR). Its buffers must hold
// MaxFrameSize() bytes after the headroom.
type OffloadDevice interface {
	Device
	// MaxFrameSize is the longest frame Read may return.
	MaxFrameSize() int
	// Offloads returns the Offload of each frame the last Read (or
	// TryRead) returned, in order. The slice is the device's and is valid
	// until the next read.
	Offloads() []Offload
	// WriteOffload is Write with offl[i] describing bufs[i]: a super-frame
	// goes to the kernel whole, its partial checksum recomputed from its
	// headers as they now are, and is segmented on its way out.
	WriteOffload(bufs [][]byte, offl []Offload, offset int) (int, error)
}

package afpacket

import (
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring defaults (Options fields left zero).
const (
	DefaultRingBlockSize = 128 << 10
	DefaultRingBlocks    = 64
	DefaultRingTimeout   = time.Millisecond
)

// ringFrameSize is the nominal frame size the kernel wants in the ring
// request; with TPACKET_V3 frames are variable-sized and packed in blocks,
// so it bounds nothing.
const ringFrameSize = 2048

// Offsets in a block: the block descriptor (struct tpacket_block_desc) is
// version, offset_to_priv, then struct tpacket_hdr_v1, whose first fields
// are block_status, num_pkts and offset_to_first_pkt.
const (
	blkStatusOff = 8
	blkNumOff    = 12
	blkFirstOff  = 16
	// sockaddr_ll follows the tpacket3_hdr, aligned; sll_pkttype is its
	// byte 10.
	ringSllOff     = (unix.SizeofTpacket3Hdr + unix.TPACKET_ALIGNMENT - 1) &^ (unix.TPACKET_ALIGNMENT - 1)
	ringPkttypeOff = ringSllOff + 10
)

// rxRing is a TPACKET_V3 receive ring: the kernel packs frames into
// blocks of a memory-mapped area and hands a block to user space (status
// TP_STATUS_USER) when it is full or RingTimeout after its first frame;
// user space gives it back by setting the status to TP_STATUS_KERNEL.
type rxRing struct {
	mem     []byte
	bsize   int
	nblocks int

	cur   int  // block being read
	owned bool // cur is handed over and partly read
	left  int  // frames left in cur
	off   int  // offset in cur of the next frame

	pfd [1]unix.PollFd // for the blocking Read

	vnet bool // frames are preceded by a virtio_net_hdr (PACKET_VNET_HDR)
}

// setupRing switches fd to TPACKET_V3 and maps a receive ring; it must be
// called before bind.
func setupRing(fd int, opt *Options, vnet bool) (*rxRing, error) {
	bs, nb := opt.RingBlockSize, opt.RingBlocks
	tov := int((opt.RingTimeout + time.Millisecond - 1) / time.Millisecond)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("PACKET_VERSION TPACKET_V3: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size: uint32(bs), Block_nr: uint32(nb),
		Frame_size: ringFrameSize, Frame_nr: uint32(bs / ringFrameSize * nb),
		Retire_blk_tov: uint32(tov),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("PACKET_RX_RING: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, bs*nb, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap ring: %w", err)
	}
	r := &rxRing{mem: mem, bsize: bs, nblocks: nb, vnet: vnet}
	r.pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	return r, nil
}

func (r *rxRing) close() error {
	if r.mem == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	r.mem = nil
	return err
}

func (r *rxRing) word(block, off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[block*r.bsize+off]))
}

// next returns the next frame of the ring (its tpacket3_hdr and the bytes
// the kernel copied), or ok false when no handed-over block has frames
// left. The frame stays valid until the following call of next or
// release: next gives a block back to the kernel once all its frames have
// been returned. With PACKET_VNET_HDR, vnet is the frame's
// virtio_net_hdr, which the kernel puts right in front of it.
func (r *rxRing) next() (h *unix.Tpacket3Hdr, frame, vnet []byte, pkttype uint8, ok bool) {
	for r.left == 0 {
		if r.owned {
			r.release()
		}
		// Acquire: the frames are complete once the status says so.
		if atomic.LoadUint32(r.word(r.cur, blkStatusOff))&unix.TP_STATUS_USER == 0 {
			return nil, nil, nil, 0, false
		}
		r.owned = true
		r.left = int(*r.word(r.cur, blkNumOff))
		r.off = int(*r.word(r.cur, blkFirstOff))
	}
	base := r.cur*r.bsize + r.off
	if r.off+unix.SizeofTpacket3Hdr > r.bsize {
		r.left = 0 // corrupt block: skip the rest
		return r.next()
	}
	h = (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.mem[base]))
	start, end := base+int(h.Mac), base+int(h.Mac)+int(h.Snaplen)
	minMac := ringPkttypeOff
	if r.vnet {
		minMac = ringSllOff + unix.SizeofSockaddrLinklayer + vnetHdrLen
	}
	if int(h.Mac) < minMac || end > (r.cur+1)*r.bsize {
		r.left = 0
		return r.next()
	}
	pkttype = r.mem[base+ringPkttypeOff]
	r.left--
	if h.Next_offset == 0 {
		r.left = 0
	}
	r.off += int(h.Next_offset)
	if r.vnet {
		vnet = r.mem[start-vnetHdrLen : start : start]
	}
	return h, r.mem[start:end:end], vnet, pkttype, true
}

// release gives a block whose frames have all been read back to the
// kernel (release store: the reads of its frames happened before).
func (r *rxRing) release() {
	if !r.owned {
		return
	}
	atomic.StoreUint32(r.word(r.cur, blkStatusOff), unix.TP_STATUS_KERNEL)
	r.owned = false
	r.left = 0
	r.cur++
	if r.cur == r.nblocks {
		r.cur = 0
	}
}

// ready reports whether a block is handed over and not yet read.
func (r *rxRing) ready() bool {
	return r.left > 0 || atomic.LoadUint32(r.word(r.cur, blkStatusOff))&unix.TP_STATUS_USER != 0
}

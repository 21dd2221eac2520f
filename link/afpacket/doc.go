// Package afpacket implements link.Device over a Linux AF_PACKET SOCK_RAW
// socket bound to one interface, written directly against
// golang.org/x/sys/unix (no cgo, no gopacket, no mdlayher/packet).
//
// # Receive: a TPACKET_V3 ring, or recvmmsg
//
// By default (Options.RX = RXAuto) the socket receives into a TPACKET_V3
// ring: a memory-mapped area of blocks (64 × 128 KiB by default) that the
// kernel fills with frames and hands to user space a block at a time, when
// the block is full or RingTimeout (1 ms) after its first frame. Read
// copies frames out of the handed-over blocks into the caller's buffers at
// the caller's offset (headroom) and gives each block back as soon as its
// last frame is copied; it makes a system call (poll) only when no block
// is ready. If the kernel refuses the ring, Open falls back to recvmmsg;
// RXRing makes that an error and RXRecvmmsg never maps a ring.
//
// With recvmmsg, Read fills the caller's buffers with one recvmmsg(2)
// call per batch, with MSG_WAITFORONE so the call returns as soon as at
// least one frame is queued instead of waiting for a full batch. The
// socket has SO_RCVTIMEO set (Options.ReadTimeout), so a Read on an idle
// link returns 0, nil periodically and the caller can notice shutdown
// without a second goroutine or a poller.
//
// Measured here (BenchmarkRootRead, a veth pair, per frame, on a shared
// 2-vCPU VM): taking a frame out of the ring costs the reader about 16 ns
// for a 64-byte frame and 110-130 ns for a 1500-byte one, against 750-900
// ns with recvmmsg×64, where the kernel copies each frame and frees its
// buffer in the reader's system call; delivery into the ring happens in
// the sender's softirq instead, for about 0.1-0.2 µs more than queueing
// the frame on the socket. Reading in place, without the copy, would save
// about 8 ns per 64-byte frame and 70 ns per 1500-byte frame; it is not
// done, because a frame in the ring has no headroom for the tunnel header,
// no tail room for the TOA option or an NDP answer that grows, and would
// pin its block until the batch is sent. The price of the ring is latency
// at light load: a lone frame waits up to RingTimeout (1 ms) for its block
// to be handed over; RXRecvmmsg avoids it.
//
// Sending uses sendmmsg(2), looping over partial sends. A TX ring is not
// used: with PACKET_QDISC_BYPASS the cost of a send is the driver's, and
// sendmmsg already amortises the system call over the batch.
//
// All msghdr, iovec, sockaddr and control-message buffers, and the ring,
// are allocated once in Open: Read, TryRead and Write make no allocation
// (tested with testing.AllocsPerRun).
//
// # Several sockets per interface: PACKET_FANOUT
//
// OpenFanout opens N sockets on one interface in a new PACKET_FANOUT group
// (an identifier the kernel picks, PACKET_FANOUT_FLAG_UNIQUEID): the
// kernel delivers each frame to exactly one of them, and the data plane
// runs one worker per socket. The group spreads frames by
// PACKET_FANOUT_HASH, the kernel's symmetric flow hash: every frame of a
// flow, in both directions of that tuple, reaches the same socket, so a
// flow's packets are never reordered between workers, whatever the NIC's
// queues (a veth or a single-queue virtio NIC has one). PACKET_FANOUT_CPU
// (Options.Fanout) would spread by receiving CPU instead, which only
// spreads anything with RSS over several queues, and does nothing at all
// on one-queue devices. PACKET_FANOUT_FLAG_DEFRAG is not set: it makes the
// kernel reassemble IPv4 fragments before hashing and hand over the whole
// datagram, larger than the MTU, which the director could not forward
// without fragmenting it again; without it every fragment of a datagram
// hashes on its addresses alone, so they still reach one socket together.
// PACKET_FANOUT_FLAG_IGNORE_OUTGOING, where the kernel has it, replaces
// the sockets' own PACKET_IGNORE_OUTGOING, which a group's shared hook
// ignores; Read drops outgoing frames itself on older kernels.
//
// The symmetric hash keeps a tuple and its reverse together, but the two
// directions of a NAT or FullNAT connection are different tuples (client
// ↔ VIP, real server ↔ client or local address), so they usually reach
// different workers: the data plane's connection table is shared by all
// workers for that reason (see package datapath).
//
// Devices are link.Multiplexers: TryRead is Read without waiting, and
// NewPoller waits on several sockets with one poll(2), so that one worker
// goroutine serves its socket of every interface.
//
// # PACKET_AUXDATA
//
// A packet socket reads frames as the kernel holds them, which is not
// always what was on the wire:
//
//   - A TCP or UDP packet produced on this host or a virtual peer (veth,
//     virtio) usually carries a partial checksum (CHECKSUM_PARTIAL): the
//     checksum field holds only the folded pseudo-header sum, to be
//     finished by the NIC. The kernel reports this as
//     TP_STATUS_CSUMNOTREADY. A load balancer that forwards such a frame
//     unchanged (or adjusts its checksum incrementally) sends a packet
//     that receivers drop silently, so Read finishes the checksum.
//   - A VLAN tag is usually removed from the frame by the NIC or by the
//     receive path before packet taps run; it is reported in
//     tp_vlan_tci/tp_vlan_tpid. Read puts the tag back, so that frames
//     read are frames as sent.
//   - tp_len is the frame's real length; if it is larger than what was
//     copied the frame was truncated: it is dropped and counted, never
//     returned.
//
// # Super-frames: PACKET_VNET_HDR
//
// With GRO on the receiving interface, or TSO/GSO on a virtual peer (a
// veth's other end, a TAP), the kernel hands packet sockets super-frames:
// one TCP segment of up to 64 KiB, to be cut into MSS-sized segments only
// when it leaves on a device that cannot carry it. A director that reads
// them as ordinary frames must drop them (they do not fit its buffers, or
// its MTU), and bulk TCP through it collapses to a trickle of
// retransmissions. With Options.Offload the socket has PACKET_VNET_HDR:
// the kernel puts a struct virtio_net_hdr in front of every frame it
// delivers (for the ring, right before the frame in the block), saying
// whether the frame is a super-frame, of which kind and with which segment
// size; Read returns it as a link.Offload per frame (Offloads), and leaves
// a super-frame's checksum partial instead of completing it over 64 KiB.
// Every frame sent carries such a header too: zero for an ordinary frame,
// and for a super-frame written with WriteOffload the segmentation to do,
// its partial checksum recomputed from the headers as they now are
// (header.SetPartialChecksum), so that after a NAT rewrite the kernel cuts
// and checksums the segments correctly. Super-frames thus cross the
// director whole, one system call and one rewrite per 64 KiB.
//
// The queueing discipline is not bypassed on such a socket: a device that
// cannot take a super-frame whole (TSO off, a NIC without it) needs the
// kernel to segment it, which only the queueing path does; with
// PACKET_QDISC_BYPASS the kernel drops it.
//
// # PACKET_IGNORE_OUTGOING
//
// A packet socket bound with ETH_P_ALL also sees the frames the host sends
// on the interface, including the ones this data plane writes. Reading
// them back would double the work and could loop frames through the
// director. PACKET_IGNORE_OUTGOING (Linux 4.20) stops the kernel from
// queueing them; frames whose sll_pkttype is PACKET_OUTGOING are also
// skipped in Read, for older kernels.
//
// # Other choices
//
//   - The socket is created with protocol 0 (it receives nothing) and the
//     BPF filter is attached before bind, so no unfiltered frame is ever
//     queued. SetFilter replaces the filter atomically at run time.
//   - PACKET_QDISC_BYPASS (without Options.Offload) sends frames straight
//     to the driver: no qdisc queueing or shaping, and a full device queue
//     drops the frame (counted as a write error) instead of blocking.
//   - The ring (8 MiB by default), or with recvmmsg a large socket buffer
//     (SO_RCVBUFFORCE, falling back to SO_RCVBUF), absorbs bursts; drops
//     in the kernel are reported by Stats through PACKET_STATISTICS.
//   - Frames larger than the buffer are dropped and counted (the kernel
//     truncates them with recvmmsg; with the ring Read finds them too long
//     for the caller's buffer). Without Options.Offload that includes
//     every GRO, GSO or TSO super-frame (see below).
//   - Each receive buffer keeps 4 bytes free at its end so that a stripped
//     VLAN tag can always be put back.
package afpacket

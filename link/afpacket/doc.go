// Package afpacket implements link.Device over a Linux AF_PACKET SOCK_RAW
// socket bound to one interface, written directly against
// golang.org/x/sys/unix (no cgo, no gopacket, no mdlayher/packet).
//
// # Receive: recvmmsg now, a TPACKET_V3 ring later
//
// Read fills the caller's buffers with one recvmmsg(2) call per batch, with
// MSG_WAITFORONE so the call returns as soon as at least one frame is
// queued instead of waiting for a full batch. The socket has SO_RCVTIMEO
// set (Options.ReadTimeout), so a Read on an idle link returns 0, nil
// periodically and the caller can notice shutdown without a second
// goroutine or a poller. On these machines a syscall costs about 1.6 µs, so
// batching matters: recvmmsg×64 is about 1.7 times per-frame reads. A
// TPACKET_V3 memory-mapped ring is faster still (about 2.3 times, and it
// leaves CPU to spare) but it hands out frames in kernel-owned blocks,
// which does not fit link.Device's caller-owned buffers with headroom
// without a copy; it is left as a later performance change behind the same
// interface. Sending uses sendmmsg(2), looping over partial sends.
//
// All msghdr, iovec, sockaddr and control-message buffers are allocated
// once in Open: Read and Write make no allocation (tested with
// testing.AllocsPerRun).
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
//   - PACKET_QDISC_BYPASS sends frames straight to the driver: no qdisc
//     queueing or shaping, and a full device queue drops the frame
//     (counted as a write error) instead of blocking.
//   - Large socket buffers (SO_RCVBUFFORCE, falling back to SO_RCVBUF)
//     absorb bursts; drops in the kernel are reported by Stats through
//     PACKET_STATISTICS.
//   - PACKET_FANOUT_HASH spreads one interface's frames over several
//     sockets (one per worker) by flow hash. Fragments after the first hash
//     on addresses only, so they may land on another worker.
//   - Frames larger than the buffer (for example GRO aggregates larger than
//     the MTU) are truncated by the kernel and therefore dropped and
//     counted; disable GRO on interfaces the director reads from.
//   - Each receive buffer keeps 4 bytes free at its end so that a stripped
//     VLAN tag can always be put back.
package afpacket

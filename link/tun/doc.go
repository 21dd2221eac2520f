// Package tun is a link.Device over a Linux TUN device (IFF_TUN,
// IFF_NO_PI): the director is fed by the host's routing instead of a raw
// NIC. The host routes VIP traffic (and, for NAT, the real servers'
// replies) into the TUN device; the data plane reads the packets, rewrites
// them and writes them back into the same device, and the kernel routes
// them on as if they had been received on it ("gdirector run --tun NAME").
//
// # Frames
//
// A TUN device carries bare IP packets but the data plane works on
// Ethernet frames, so every packet is presented as a frame with a
// synthetic 14-byte Ethernet header. Read puts the IP packet at
// bufs[i][offset+14:] and fills bufs[i][offset:offset+14] with the
// destination HardwareAddr() (a stable, locally administered pseudo MAC
// derived from the device name), the source PeerHardwareAddr() (a fixed,
// locally administered MAC) and the EtherType given by the IP version
// nibble (0x0800 or 0x86DD). A packet that is neither IPv4 nor IPv6 is
// dropped and counted (Stats.NonIPRead). Write ignores the first 14 bytes
// of each frame (bufs[i][offset:]) except for the EtherType, which must be
// IPv4 or IPv6 (anything else, an ARP reply for instance, is dropped and
// counted in Stats.NonIPWritten), and writes the IP packet behind them.
// A packet larger than its buffer is dropped and counted
// (Stats.Truncated): each read is a readv(2) into the buffer plus one
// spill byte, because the kernel silently cuts packets to the length
// asked for. There are no neighbours on a TUN device: PointToPoint reports true so
// the data plane skips next-hop MAC resolution and lets the kernel route
// what it writes.
//
// # Offloads and checksums
//
// The device is opened without IFF_VNET_HDR and no offloads are enabled
// (TUNSETOFFLOAD is never called), so the kernel hands over plain packets
// of at most the MTU with complete checksums: GSO aggregates are
// segmented and CHECKSUM_PARTIAL packets are finished in software before
// they reach the device. Nothing has to be completed here, unlike with
// AF_PACKET on veth or virtio. Enabling vnet-hdr offloads (GSO/GRO
// batching, as wireguard-go does) is a later performance change behind the
// same interface.
//
// # Batching and its cost
//
// A TUN file descriptor has no recvmmsg or sendmmsg: every packet costs
// one read(2) or write(2) system call (about 1.6 µs each on the VMs this
// was measured on), which is unavoidable without vnet-hdr GSO. Read still
// returns batches: the descriptor is non-blocking, and after the first
// packet (or the first poll(2) wake-up) Read keeps reading until the
// queue is empty or the batch is full, so a busy device costs one syscall
// per packet plus one per batch, and an idle one a single poll. Write
// loops over its frames the same way. A partial batch is never waited
// for.
//
// poll(2) waits on the device and on an eventfd that Close signals, so
// Close wakes a blocked Read at once; an idle Read returns 0, nil after
// Options.ReadTimeout so callers notice shutdown.
//
// All state used by Read and Write is set up in Open: they make no
// allocation (tested with testing.AllocsPerRun).
//
// # Device lifetime
//
// Open creates the device in the network namespace of the calling thread
// (or attaches to an existing persistent TUN device of that name), brings
// it up and optionally sets its MTU. A device Open created is removed by
// Close, unless Options.Persist made it persistent; a device that existed
// before Open is left in place. The kernel queues at most txqueuelen (500
// by default) packets for a slow reader and drops the rest (counted as the
// device's tx_dropped); raise it with `ip link set NAME txqueuelen N` for
// bursty loads.
package tun

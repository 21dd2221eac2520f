// Package realserver prepares a Linux host to be an LVS real server behind
// a direct-routing (DR, ipvsadm -g) or tunnelling (TUN, ipvsadm -i)
// director, and undoes exactly what it did.
//
// # Why DR and TUN need real-server configuration
//
// With DR and TUN the director does not rewrite the destination: the packet
// that reaches the real server is still addressed to the virtual IP (VIP).
// The real server must therefore accept the VIP as one of its own
// addresses, and its replies leave with the VIP as source straight to the
// client, bypassing the director. At the same time the real server must
// never claim the VIP on the shared network: if it answered an ARP request
// for the VIP, the router would send the clients' traffic to this real
// server instead of the director.
//
// SetupDR does what the classic LVS "realserver.sh" does, but reversibly:
//
//   - The VIPs become host addresses (/32, IPv6 /128) on a device, lo by
//     default. An address on lo is local to the whole host (Linux uses the
//     weak host model for IPv4: the local routing table, not the receiving
//     interface, decides what is ours), so a packet for the VIP arriving on
//     eth0 is delivered to sockets bound to the VIP.
//   - net.ipv4.conf.*.arp_ignore=1: answer an ARP request only if the
//     target address is configured on the interface the request came in on.
//     By default (0) Linux answers for any local address on any interface,
//     which is exactly what DR must avoid; with 1 the VIP, living on lo, is
//     never announced on eth0 while eth0's own address still is.
//   - net.ipv4.conf.*.arp_announce=2: when the real server itself sends an
//     ARP request (for instance to resolve its gateway while replying from
//     the VIP), use the best local address of the outgoing interface as the
//     ARP sender address, never the packet's source. Otherwise the request
//     would carry "VIP is at <this server's MAC>" and poison the neighbours'
//     caches just like a reply would.
//
// The kernel uses the larger of conf/all and conf/<dev> for both settings,
// so conf/all alone is enough; like the classic scripts SetupDR also sets
// them on the VIP's device and on the real interfaces (every up,
// non-loopback interface with an IPv4 address, or those named), which keeps
// the protection if something later resets conf/all (a sysctl.d reload,
// say). The sysctls are changed before the VIPs are added, and the VIPs are
// removed before the sysctls are restored, so there is no instant in which
// the VIP is configured and answered by ARP.
//
// IPv6 needs no sysctl: Linux answers a neighbour solicitation only for an
// address configured on the interface that received it, so an IPv6 VIP on
// lo is never advertised on eth0. IPv6 VIPs get IFA_F_NODAD.
//
// # Reversibility and idempotence
//
// Every change is recorded in a JSON state file, by default
// /run/gdirector-realserver/<mode>.json: the sysctls with their previous
// values and the addresses that were added (an address that was already
// present is never recorded, so it is never removed). Running the setup
// again merges into the same state: a sysctl already recorded keeps its
// original previous value, an address already present changes nothing.
// Undo removes the recorded addresses, restores the recorded sysctls in
// reverse order and deletes the file. A setup that fails halfway rolls back
// what that call changed.
//
// # TUN mode without the ipip module
//
// An IPVS director in TUN mode encapsulates the client's packet in a new
// IPv4 header (IP protocol 4, IPIP) or IPv6 header (next header 41,
// ip6ip6) addressed to the real server; the real server normally
// decapsulates it with a kernel tunnel device (tunl0, ip6tnl0) that needs
// the ipip/ip6_tunnel modules. RunTun does the decapsulation in userspace
// for kernels without them:
//
//	director ──IPIP──► eth0 ─► raw socket (proto 4/41) ─► strip outer header
//	                                                          │
//	client ◄── reply from VIP ◄── socket on VIP ◄── TUN device ┘ (IFF_TUN|IFF_NO_PI)
//
// Input is a raw IP socket per (outer family, inner protocol), not an
// AF_PACKET tap. The reasons:
//
//   - Without a protocol handler for protocol 4 (no ipip/tunnel4 module)
//     the kernel answers every IPIP packet with ICMP protocol-unreachable,
//     unless a raw socket took a copy (ip_local_deliver_finish and its IPv6
//     counterpart only complain when no raw socket was delivered to). An
//     AF_PACKET design would need such a socket, or a firewall rule, anyway.
//   - The raw socket receives exactly what the kernel decided is for this
//     host: routed locally, checksum-verified, outer fragments reassembled,
//     on any link type, with VLANs already removed; a packet tap sees every
//     frame, needs a BPF filter and would have to reassemble fragments.
//   - An IPv4 raw socket delivers the whole packet including the outer
//     header (the outer destination can be checked); an IPv6 raw socket
//     delivers the payload, which is the inner packet, with the outer
//     addresses in the source address and IPV6_PKTINFO.
//
// Reads are batched with recvmmsg(2) (up to TunOptions.BatchSize packets a
// syscall) into one set of buffers shared by all sockets, after poll(2) says
// which sockets are readable; an eventfd wakes the loop on cancellation.
// Writes carry a virtio_net_hdr (the device is opened with IFF_VNET_HDR):
// consecutive segments of one TCP flow in a batch are merged into one GSO
// packet, one write(2) and one trip through the stack, as the kernel's GRO
// would have merged them on a tunnel device of its own (see gro.go); any
// other packet is one write with an empty header.
//
// A packet is decapsulated only if the outer destination is one of this
// host's addresses (the list is refreshed from netlink every second), the
// outer source is in TunOptions.Directors when that list is given, the
// inner version matches the outer protocol number, the inner header and
// length are sane and the inner destination is one of the VIPs: the tunnel
// cannot be used to inject packets to any other local address. ECN is
// decapsulated as RFC 6040 says (outer CE marks an ECN-capable inner packet
// CE; a not-ECN-capable inner packet under CE is dropped). Every drop has a
// counter in TunStats.
//
// The inner packet enters the stack on the TUN device with the client as
// its source, while the route back to the client leaves through the real
// interface, so strict reverse-path filtering would drop it. RunTun sets
// rp_filter=0 on the TUN device; because the kernel uses the larger of
// conf/all and conf/<dev>, a strict conf/all (1) is lowered to 0 and every
// existing interface whose own value was lower is raised to 1 instead, which
// keeps their effective strictness (interfaces created later get
// conf/default). Loose mode (2) accepts the packets and is left alone.
// The VIPs are configured on lo with the same ARP settings as for DR. All of
// this is recorded in the "tun" state file, so `gdirector realserver tun
// --undo` cleans up after a crash; a normal exit (context cancelled, SIGTERM
// or SIGINT in the CLI) closes the TUN device, which removes it, and undoes
// the state. IPVS also tunnels across families (IPv6 inside IPv4, protocol
// 41, and IPv4 inside IPv6, next header 4); RunTun accepts those too.
//
// If a kernel tunnel device (ipip, sit, ip6tnl) is up on the host, the
// kernel decapsulates as well and every packet would be delivered twice;
// RunTun logs a warning.
//
// An alternative to the TUN device would be to send the inner packet to the
// VIP through a raw socket with IP_HDRINCL, which loops it back through lo
// (and would allow sendmmsg). It was not chosen: the packet would cross the
// OUTPUT hooks as a locally generated packet with a foreign source, and
// firewall rules, tcpdump and counters could not tell tunnelled traffic
// apart. With a TUN device it arrives on its own interface, as with tunl0.
//
// # Namespaces
//
// Everything happens in the network namespace of the calling OS thread
// (sysctls under /proc/sys/net, netlink, sockets, the TUN device). A program
// whose threads all share one namespace, like the gdirector command, needs
// nothing special; tests call into this package from a goroutine locked to
// a thread switched into a namespace (internal/nsutil.Do). RunTun locks its
// goroutine to its thread for its whole run.
package realserver

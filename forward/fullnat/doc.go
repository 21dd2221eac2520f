// Package fullnat implements FullNAT ("two-arm NAT", DPVS's fullnat and
// its ipvsadm -b): the director rewrites both ends of every packet. A
// client's packet CIP:cport → VIP:vport leaves as LADDR:LPORT → RIP:rport,
// from a local address the director owns (vs.Service.LAddrs) and a local
// port allocated for the connection; the real server's reply RIP:rport →
// LADDR:LPORT is turned back into VIP:vport → CIP:cport. Real servers
// therefore need no route back to the clients (and no VIP, unlike DR and
// TUN): they answer the director, wherever it sits.
//
// # Rewriting
//
// In and Out edit a decoded frame in place with header.RewriteAddrPort
// twice (source, then destination): the IPv4 header checksum and the
// TCP/UDP checksum are updated incrementally (RFC 1624), an IPv4 UDP
// datagram without checksum keeps none, and SCTP's CRC32c is recomputed
// when a port changes. TTL semantics are those of forward/nat, as in IPVS:
// the request direction is delivered to the director locally (LOCAL_IN)
// and leaves without a TTL decrement; replies are forwarded and have their
// TTL or hop limit decremented, and are dropped (forward.DropTTL) when it
// would reach zero. Later fragments carry no ports and are dropped
// (forward.DropFragment). Nothing is allocated.
//
// # Local ports
//
// A connection's reply is found by its out-key, RIP:rport → LADDR:LPORT
// (conntrack.Conn.OutKey), so the local address and port must make that
// tuple unique among live connections; the same LADDR:LPORT may serve
// other real servers at the same time. Pool.Alloc chooses them by
// probing candidates against the connection table (RFC 6056's double-hash
// algorithm, round-robin over the service's local addresses, a bounded
// number of probes; see Alloc) without locks or per-port state, and
// conntrack.Table.New, which refuses a tuple in use, closes the race
// between two workers. The data plane drops a new connection of a FullNAT
// real server with forward.DropNoLAddr when its service has no local
// address (DPVS accepts real servers before local addresses) and with
// forward.DropPortsExhausted when Alloc finds no free tuple.
//
// Local addresses are the director's own: the data plane answers ARP/NDP
// for them and the host kernel must not (see DESIGN.md §4). ipvsadm's -F
// names the interface an address was configured for, as in DPVS.
//
// # Client address: TOA
//
// With its source rewritten, a real server sees LADDR:LPORT as its peer.
// For TCP the client address travels in a TCP option, TOA ("TCP Option
// Address", Alibaba's and then DPVS's): kind 254, length 8, the client
// port and IPv4 address; or length 20 with an IPv6 address
// (TOALen4, TOALen6). InsertTOA puts it first in the options, growing the
// TCP header in place. DPVS inserts it into the client's packets that
// acknowledge the real server's SYN-ACK; what matters is the packet that
// completes the three-way handshake, because that is where the real
// server's kernel creates the socket and where toa.ko looks. WantTOA
// selects that packet from the connection state (SYN_RECV, ACK without SYN
// or RST); if that ACK is lost after the director, the socket is created
// from the client's next segment, which carries no TOA. ReduceMSS, applied
// to the real server's SYN-ACK, lowers the MSS the client will use by the
// TOA length, so that the client's full-sized segments keep room for it
// (DPVS's tcp_out_adjust_mss).
//
// When there is no room (the TCP header is limited to 60 bytes, 40 of
// options, and the packet must stay within the egress MTU), InsertTOA
// first drops NOP padding, as DPVS does before giving up; if the option
// still does not fit, the packet is forwarded without TOA, InsertTOA
// returns false for the data plane to count, and that connection's real
// server sees the local address. A TOA option sent by the client itself
// must never reach a real server, or clients could choose the address it
// believes: InsertTOA removes such options (or overwrites them with NOPs
// when it inserts nothing), and StripTOA does the same for the client's
// other packets.
//
// # Reading TOA on a real server
//
// Linux real servers load the toa kernel module, kmod/toa in DPVS's
// repository (github.com/iqiyi/dpvs; descended from Taobao's LVS toa),
// built against the running kernel: "make -C kmod/toa" (or with
// KERNDIR=...), then "insmod toa.ko". The module hooks the kernel's
// tcp_v4_syn_recv_sock and tcp_v6_syn_recv_sock to read the first option
// 254 of the packet that completes the handshake into the new socket
// (sk_user_data), and inet_getname/inet6_getname so that getpeername(2)
// and accept(2) report the client's address and port instead of
// LADDR:LPORT. Applications need no change for IPv4 and IPv6 (DPVS's
// FNAT44 and FNAT66; only its NAT64 mode needs a getsockopt, and gdirector
// has no NAT64). /proc/net/toa_stat counts sockets with and without TOA
// (syn_recv_sock_toa, syn_recv_sock_no_toa) and lookups. Without the
// module the option is ignored, as TCP requires of unknown options, and
// the peer is LADDR:LPORT. UDP has no TOA (DPVS's UOA and the Proxy
// Protocol are other means, not implemented here).
package fullnat

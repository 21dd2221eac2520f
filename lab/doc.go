// Package lab builds network-namespace topologies for the `gdirector lab`
// demo and for root end-to-end tests, and provides the small servers that
// run on the lab's real servers.
//
// Build creates the classic LVS-NAT teaching topology (see Build and
// Topology.Describe) in namespaces named "<prefix>-<role>": a client, the
// director, a switch namespace holding a Linux bridge, and N real servers,
// using the addresses of DESIGN.md §6 (client side 198.51.100.0/24, real
// servers 203.0.113.0/24, VIPs 192.0.2.0/24). Nothing is configured for the
// VIP on any kernel: answering ARP for it and forwarding are the director
// daemon's job. Every veth has TSO, GSO and GRO off (TX checksum offload
// stays on, see nsutil.DisableOffloads) and IPv6 is disabled so captures
// hold only the lab's traffic.
//
// BuildDR, BuildTUN and BuildFullNAT create the other classic setups: DR
// with the client, the director and the real servers on one segment and
// the VIP on the real servers' lo (arp_ignore=1, arp_announce=2); TUN with
// the real servers on another subnet behind a router, unwrapping the IPIP
// (or ip6ip6) packets in userspace with `gdirector realserver tun`, since
// the kernel may lack the ipip module; FullNAT with real servers that have
// no route to the client. Plan returns any of these topologies without
// creating it (names and addresses only).
//
// Builder holds the reusable pieces (namespace, veth pair with addresses,
// bridge, route, tracked process) and records everything it creates, so
// Close — and a Build that fails half-way — removes exactly what was made
// and nothing else; each topology is a sequence of Builder calls.
//
// `gdirector lab --explain` is built from three parts. Topology.Explain
// draws the diagram with the kernel settings that matter and the table of
// the roles (CIP, VIP, DIP, RIP, LADDR); it needs no root and is tested
// against golden files. Topology.Observe follows the director's live trace
// over its control socket (package trace/traceclient) while it sends one
// HTTP request from the client, and gathers an Observation: the trace
// records of that connection, the client's neighbour state before it, the
// real server's view (X-Real-Server, X-Client-Addr) and the lab's MACs.
// Topology.Narrate turns an Observation into the hop-by-hop story; every
// address, port, MAC and scheduler figure in it comes from the
// Observation or the topology, so recorded Observations
// (testdata/narrate-*.json) test it without root.
//
// ServeHTTP and ServeUDP are the built-in servers behind
// `gdirector serve http|udp --listen ADDR --name NAME` (RunServe parses that
// grammar); Topology.StartReals launches them in every real server. They
// identify the real server in every answer (HTTP headers X-Real-Server and
// X-Client-Addr, UDP reply "NAME:payload") and offer byte-exact transfers
// (/echo, /bytes with PatternByte) so tests can check what the director
// delivered.
//
// Lab names are created with a per-run prefix (DefaultPrefix is
// "gdl<pid>"), so parallel runs never collide; Cleanup(prefix) removes the
// leftovers of a crashed run.
package lab

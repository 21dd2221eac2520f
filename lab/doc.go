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
// Builder holds the reusable pieces (namespace, veth pair with addresses,
// bridge, route, tracked process) and records everything it creates, so
// Close — and a Build that fails half-way — removes exactly what was made
// and nothing else. The DR, TUN and FullNAT topologies are meant to be
// further sequences of Builder calls.
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

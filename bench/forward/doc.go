// Package forward is `gdirector bench forward`: a harness that measures
// gdirector's data plane against the kernel on the same lab and prints a
// table of medians.
//
// # What is measured
//
// For each forwarding method (NAT, DR, TUN, FullNAT) the harness builds
// that method's lab with package lab (client, director, switch or router,
// two real servers, each in its own network namespace) and measures, on
// that same lab,
//
//   - udp64: 64-byte UDP frames per second delivered to the real servers
//     through the VIP. The generator is in this process: 32 connected UDP
//     sockets (flows) in the client namespace sending 18-byte datagrams in
//     sendmmsg batches of 64 as fast as they can; a sink in each real
//     server counts what arrives with recvmmsg.
//   - cps: new TCP connections per second, wrk -t1 with
//     "Connection: close" against the built-in HTTP server
//     (gdirector serve http) on both real servers.
//   - bulk: one iperf3 TCP stream with TSO, GSO and GRO off on every veth,
//     so that every frame is MTU-sized.
//   - bulk-gso: the same stream with TSO, GSO and GRO on, so that the
//     director meets GSO/GRO super-frames.
//
// through these variants, each run visiting them in turn (A/B/A/B):
//
//   - fwd, the ceiling: the director namespace as a plain router
//     (ip_forward=1), the client addressing the RIPs (a route to the
//     real-server network via the director; on the TUN lab a policy rule
//     on the router sends the client's RIP traffic through the director).
//   - nft, the kernel load balancer a user without ip_vs would use: the
//     VIP on the director's lo and an nftables ruleset
//     "dnat to numgen inc mod 2 map { 0 : RIP1, 1 : RIP2 }" for the UDP and
//     HTTP services (iperf3's port is spread by jhash ip saddr, so its
//     control and data connections meet). Replies must cross the
//     director to be un-NATed, so on DR, TUN and FullNAT labs the real
//     servers' replies to the client are routed through it for this
//     variant.
//   - haproxy (cps only): HAProxy in mode tcp, round robin, VIP on lo.
//   - gdirector: `gdirector run` on the director's interfaces, the three
//     services configured with the method's ipvsadm flag (rr; sh for
//     iperf3). With a --workers flag in gdirector run, gdirector-2w adds
//     --workers 2 on both CPUs.
//
// # CPUs
//
// The machine has two CPUs. Everything but the director runs on CPU 0:
// the harness and its generator and sinks, wrk, iperf3, the HTTP servers,
// and, through Receive Packet Steering on every other namespace's veths,
// their kernels' receive work. The director runs on CPU 1: gdirector and
// HAProxy are pinned there with taskset, and RPS steers the receive work
// of the director namespace's interfaces (the kernel's forwarding and NAT
// for the anchors, the packet-socket delivery for gdirector) there too. So
// the busy time of CPU 1 in the window is the director's cost whatever the
// variant: it is reported as a share of the window and per packet (per
// frame the director namespace sent, or per 1448-byte segment delivered for
// the bulk tests). For gdirector and HAProxy the process's own CPU time
// (/proc/PID/stat utime+stime) is reported on the same denominator.
//
// # Cleanliness
//
// Each method's lab has its own namespace prefix (gdb<pid> plus the
// method's initial), every traffic loop is bounded by the window and by
// socket timeouts, every tool by its duration plus a grace period, every
// change a variant makes (routes, rules, addresses, sysctls, rulesets,
// processes) is undone before the next variant, and the lab (processes by
// pid, namespaces) and its state directory under /run/gdirector-bench are
// removed on return, also after an error or an interrupt.
package forward

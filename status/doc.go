// Package status serves the director's status page: one self-contained HTML
// page and the JSON document it polls, served by the daemon at an opt-in
// address (gdirector run --status ADDR; off by default, and best kept on a
// loopback address).
//
// # What it shows
//
// GET / is the page; GET /status.json is the document, built at each
// request from the current vs.Table snapshot (ctl.Manager.Table): every
// service with its scheduler and persistence, every real server with its
// address, forwarding method, weight, thresholds, active, inactive and
// persistent connections, overload flag and health, and the traffic
// counters and estimated rates (vs.Stats, vs.Stats.Rates: the figures of
// ipvsadm -L -n --stats and --rate) of each, plus their totals and the size
// of the connection table. The page asks for the document every second and
// updates its cells in place, so counters and rates move while one looks.
//
// Health is a health checker's verdict where one watches the real server
// (Config.Health, the signature of healthcheck.Engine.Verdict and
// metrics.HealthFunc); elsewhere it is what the scheduler would do with the
// real server: up while it is still in its service, its weight is above
// zero and it is not overloaded. The document says which ("checked").
//
// # High availability
//
// While the director runs VRRP instances, the document has an ha section
// (HA) and the page shows it first, as a "High availability" table that
// updates in place like the rest: each instance (keepalived's
// vrrp_instance) with its interface, VRID, state (INIT, BACKUP, MASTER,
// FAULT), effective priority (the configured one moved by its tracked
// interfaces' weights), when it entered that state, and its
// vrrp_sync_group with the group's state; and each running connection
// sync daemon (lvs_sync_daemon, ipvsadm --start-daemon) with its syncid,
// interface, the messages and connection records it sent (master) or
// accepted and applied (backup), and what it refused or lost, by reason.
// While only one sync daemon runs, the page lists the other as not
// running. Without instances there is neither the section nor the table.
// The handler reads it through Config.HA, an HAReporter the daemon
// implements, so this package needs neither the vrrp nor the ipvssync
// package.
//
// # The forwarding diagram
//
// Each service gets an inline SVG drawing: client → director → each real
// server, the edges labelled with what the real server's forwarding method
// does to the packet (NAT: destination VIP→RIP, and the reply's source
// RIP→VIP on its way back through the director; DR: only the destination
// MAC changes, the reply goes straight to the client; TUN: an outer IP
// header DIP→RIP around the untouched packet, reply straight to the client;
// FullNAT: source CIP→LIP and destination VIP→RIP, both undone on the
// reply). Each real server's edge also carries the rewrite its last
// sampled packet (and reply) got, and the edge of the service's newest
// packet is lit.
//
// # The last packets
//
// Under the drawing are the service's last packets (Service.Packets,
// Config.PacketsPerService, newest first), each with its direction, TCP
// flags, what the connection table decided (a new connection or a hit,
// with the state it moved to), the verdict, the headers the director
// changed as gdirector trace lists them (the MACs; the addresses and ports
// for NAT and FullNAT, with FullNAT's TOA option; the outer header of TUN
// around the untouched packet) and, for a packet that opened a connection,
// the scheduler's choice in the kernel's terms.
//
// They come from the data plane's packet trace (package trace), which
// costs nothing while nobody traces. The handler subscribes (Config.Trace;
// in the daemon a subscription to the trace.Hub that gdirector trace's
// streams share) only while the page is viewed: a request for
// /status.json starts it, and it ends Config.TraceIdle (10 s) after the
// last one, removing the data plane's tracer when it was the last
// subscriber. Its filter is PacketFilter: one packet in 64 per worker,
// decided before anything is copied, so a busy director pays about 1/64
// of a full trace; and a worker's next packet whenever it took none for
// 100 ms, so a quiet director (a lab) shows all its packets. Packets that
// open connections are sampled like the others: telling them apart needs
// the connection lookup, which comes after the frame had to be copied,
// and tracing every SYN would make a SYN flood costlier while someone
// looks. The rings are kept per service name and dropped with the
// service; a drop before any connection existed belongs to no service and
// is not listed (gdirector trace shows it).
//
// Below them are the service's latest new connections with their tuples
// before and after the rewrite, in both directions, from the connection
// table (ctl.Manager.Conns, what ipvsadm -L -n -c lists): the handler
// walks it at most once per Config.ScanEvery and remembers which
// connections it has already seen, and the newest are the ones it saw
// first most recently (on the first walk, the ones that expire last). A
// walk stops after Config.MaxScan connections, so a huge table costs a
// bounded amount of work per second; the document says when it stopped
// early.
//
// # Safety
//
// The page is read-only: the handler answers GET and HEAD only (405 with
// Allow otherwise) and exposes no secret (no token, no configuration file
// path, no control socket). Every answer carries Cache-Control: no-store,
// X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer,
// frame-ancestors 'none', and a Content-Security-Policy that allows nothing
// but the page's own script and style (by hash) and fetches from its own
// origin: no external resource, no CDN, no inline handlers.
package status

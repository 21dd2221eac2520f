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
// # The forwarding diagram
//
// Each service gets an inline SVG drawing: client → director → each real
// server, the edges labelled with what the real server's forwarding method
// does to the packet (NAT: destination VIP→RIP, and the reply's source
// RIP→VIP on its way back through the director; DR: only the destination
// MAC changes, the reply goes straight to the client; TUN: an outer IP
// header DIP→RIP around the untouched packet, reply straight to the client;
// FullNAT: source CIP→LIP and destination VIP→RIP, both undone on the
// reply).
//
// Under it are the service's latest new connections with their tuples
// before and after the rewrite, in both directions. The data plane keeps no
// record of individual packets (it counts them, allocation-free), so the
// page derives these from the connection table (ctl.Manager.Conns, what
// ipvsadm -L -n -c lists): the handler walks it at most once per
// Config.ScanEvery and remembers which connections it has already seen,
// and the newest are the ones it saw first most recently (on the first
// walk, the ones that expire last). Live per-packet rewrites are the job of
// gdirector trace. A walk stops after Config.MaxScan connections, so a huge
// table costs a bounded amount of work per second; the document says when
// it stopped early.
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

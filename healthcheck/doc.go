// Package healthcheck runs the health checks of a config.Config and keeps
// a ctl.Manager's table equal to the configuration as the checks shape
// it, with keepalived's semantics (and ldirectord's where its options
// map onto them).
//
// # Checks
//
// One checker per config.CheckKind, each attempt bounded by the check's
// Timeout (DefaultTimeout if 0) and by the engine's context:
//
//   - TCP_CHECK: a TCP connection to the target opens (from BindTo if
//     set).
//   - HTTP_GET, SSL_GET: a GET of every URL, with the URL's VirtualHost,
//     else the check's, as Host header; each answer must have an
//     accepted status (any 2xx if the URL lists none), and the body the
//     MD5 digest (hex), substring and regular expression the URL asks
//     for. Redirects are not followed. SSL_GET sends SNI only when set
//     and verifies the certificate only with VerifyTLS (keepalived
//     verifies nothing), against the SNI name, else the URL's Host
//     header, else the target address.
//   - UDP_CHECK: the payload, sent from a connected socket (without one,
//     32 bytes of fixed text, as keepalived sends 32 bytes of its own;
//     an empty non-nil Payload is an empty datagram): an ICMP port
//     unreachable (ECONNREFUSED) fails. With RequireReply an answer must
//     come and pass keepalived's reply checks: MinReplyLen..MaxReplyLen
//     bytes long (MaxReplyLen 0: any length) and equal to Reply, where
//     ReplyMask sets bits, over the bytes both have; otherwise any answer
//     passes, and so does silence until the timeout.
//   - PING_CHECK: one ICMP echo, over an unprivileged ping socket
//     (net.ipv4.ping_group_range) or else a raw socket (CAP_NET_RAW).
//   - DNS_CHECK: a UDP query for DNSName (default ".") of DNSType
//     (default SOA; A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT); a
//     response with the query's id and rcode NOERROR passes, as in
//     keepalived (an empty answer section too).
//   - SMTP_CHECK: the 220 greeting, then HELO (HELO, default the host
//     name) answered by 250, then QUIT.
//   - MISC_CHECK: the command, run by Options.RunCommand (/bin/sh -c,
//     killed with its process group at the timeout, which defaults to
//     the interval): exit status 0 passes; with Dynamic (misc_dynamic)
//     2..255 passes and sets the weight to status-2, 0 restores the
//     configured weight.
//   - on, off: ldirectord's checktypes; always up, always down.
//
// The target is the real server's address and port unless the check
// overrides them (Target).
//
// # Dampening
//
// A check that is up and fails is retried Retry more times,
// DelayBeforeRetry apart, before it goes down; while down, Rise
// consecutive passes, an Interval apart, bring it back (see damper). A
// real server is up while all its checks are up; one without checks is
// always up. Real servers start up, or down until their checks pass with
// Alpha on their service or on themselves (Dest.Alpha). Warmup delays
// each check's first attempt by a random part of it.
//
// # Shared checks
//
// keepalived runs one checker per real server of a virtual_server, and a
// virtual_server_group of n addresses is one virtual_server; its parser
// (like any configuration) gives each of the n services a copy of every
// check. The engine merges them again: checks of the same target (the
// resolved address and port) that are the same check (every setting but
// Line and File equal, and for MISC_CHECK the same environment, which
// names the service and real server, so MISC_CHECKs are not merged
// across services) and start in the same state (alpha or not) are one
// checker, one probe per attempt, whose verdict every real server that
// has the check shares: a failure takes the real server out of every
// service at once. Two equal checks of one real server stay two.
//
// # Reactions
//
// The engine never edits the Manager piecemeal: after every change of
// health it computes the configuration as health shapes it and publishes
// it with one ctl.Manager.Replace, so that real servers that stay keep
// their *vs.Dest, counters and connections. In that configuration (see
// buildEffective):
//
//   - a real server that is down is left out, or kept with weight 0 with
//     Inhibit (keepalived inhibit_on_failure, ldirectord quiescent=yes);
//     back up, it has its configured weight again (or its dynamic one);
//   - quorum (keepalived's update_quorum_state): a service has quorum
//     while the sum of the weights of its real servers that are up
//     holds: it starts with quorum if the sum reaches Quorum+Hysteresis,
//     loses it when the sum falls below Quorum-Hysteresis (or to 0), and
//     gains it back when the sum reaches Quorum+Hysteresis again. Quorum 0
//     counts as keepalived's default 1;
//   - a service with a sorry server (keepalived sorry_server, ldirectord
//     fallback) that has no quorum is served by the sorry server alone
//     (weight 1 unless it has one; its forwarding method): its real
//     servers are taken out (weight 0 with Inhibit), as keepalived does.
//     With quorum back the sorry server goes, or stays with weight 0 with
//     SorryInhibit.
//
// Because the engine publishes whole configurations, changes made with
// ipvsadm to the services it manages last until its next publication
// (a change of health or a reload).
//
// Timeouts of the configuration are applied by Apply, and so are its
// firewall-mark rules, which replace the current ones: when the
// configuration has mark rules, or had some at the previous Apply (so
// that deleting the last rule from the file deletes it). A configuration
// that never had mark rules leaves the ones made with gdirector mark.
//
// # Commands
//
// Notify and quorum commands run in the order of the events, one at a
// time, each within Options.NotifyTimeout, while Run runs:
//
//   - NotifyUp, NotifyDown when a real server's health changes, when an
//     alpha real server's first verdict is down, and NotifyDown for a
//     real server that is up and leaves the configuration on Apply;
//   - QuorumUp, QuorumDown when the service gains or loses quorum,
//     QuorumDown when it starts without quorum with a sorry server, and
//     when it leaves the configuration with quorum;
//   - with Omega, when Run ends, NotifyDown for every real server that
//     is up and QuorumDown for every service with quorum (keepalived at
//     shutdown), within Options.ShutdownTimeout.
//
// Like keepalived, the engine passes no arguments; the command line is
// run by /bin/sh -c as written. It adds environment variables that
// describe the event:
//
//	GDIRECTOR_SERVICE     the service's name (Service.Name, else "TCP 192.0.2.1:80" or "FWM 5")
//	GDIRECTOR_PROTO       tcp, udp, sctp, or fwm
//	GDIRECTOR_VIP         the virtual address (not for fwm)
//	GDIRECTOR_VPORT       the virtual port (not for fwm)
//	GDIRECTOR_FWMARK      the firewall mark (fwm only)
//	GDIRECTOR_RIP         the real server's address (notify and MISC_CHECK)
//	GDIRECTOR_RPORT       the real server's port (notify and MISC_CHECK)
//	GDIRECTOR_EVENT       up or down (notify and quorum)
//	GDIRECTOR_QUORUM      the quorum (quorum commands)
//	GDIRECTOR_HYSTERESIS  the hysteresis (quorum commands)
//	GDIRECTOR_WEIGHT_SUM  the live weight when the quorum changed, 0 when the service
//	                      leaves the configuration or at shutdown (quorum commands)
//
// MISC_CHECK commands get the service and real-server variables, so
// that ldirectord's external checks, which take the virtual and real
// addresses as arguments, can be written as
// `/path/check "$GDIRECTOR_VIP" "$GDIRECTOR_VPORT" "$GDIRECTOR_RIP" "$GDIRECTOR_RPORT"`.
//
// # Reloads
//
// Engine.Apply validates the whole configuration before anything
// changes, then carries the state over: services by key, real servers by
// address and port, checks by their settings and target. An unchanged
// check keeps running with its state (no flap on reload), whichever
// services its real servers are now in; a changed check of the same kind
// and target takes over its predecessor's state in the same real server;
// a new check starts up, or down with alpha unless each of its real
// servers was up with no failing check.
//
// # Metrics
//
// Engine.Verdict has the signature of metrics.HealthFunc: the daemon
// passes it as metrics.Source.Health so that gdirector_backend_up shows
// the checks' verdict for the real servers they watch. Engine.Health
// lists every real server's state for status output.
package healthcheck

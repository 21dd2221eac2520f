// Package keepalived reads keepalived.conf, the configuration file of
// keepalived's IPVS health checker, into a config.Config: the virtual
// services keepalived would give the kernel, their real and sorry
// servers, and every checker with the settings keepalived would run it
// with (defaults and inherited values filled in).
//
// The reference is keepalived 2.4.3 (github.com/acassen/keepalived, commit
// 9cbce3e2): the keepalived.conf(5) manual, doc/samples, and where the
// manual is silent or wrong the code: lib/parser.c (the file grammar),
// keepalived/check/check_parser.c and check_data.c (virtual and real
// servers, defaults, validate_check_config) and check_api.c, check_tcp.c,
// check_http.c, check_udp.c, check_ping.c, check_dns.c, check_smtp.c and
// check_misc.c (the checkers). DPVS's fork (github.com/iqiyi/dpvs,
// tools/keepalived) adds the FullNAT spellings this package also reads.
//
// Parse never returns part of a configuration: any error returns nil and
// names the file and line ("keepalived.conf:12: unknown keyword \"wieght\"
// in real_server"). keepalived itself logs most mistakes and goes on
// without the offending line (a bad weight is ignored, a real server of
// the wrong family dropped); here they are errors. What keepalived
// deliberately corrects, it is corrected here the same way, with a
// warning in Config.Warnings (below).
//
// # File grammar
//
// As keepalived reads it:
//
//   - '!' and '#' start a comment anywhere outside double quotes; "\!" and
//     "\#" outside quotes are the characters themselves.
//   - A line is split before every '{' or '}' outside double quotes (and
//     after one that starts it), so blocks may open and close on the
//     keyword's line or on lines of their own, and "TCP_CHECK {
//     connect_timeout 3 }" is three statements. Each statement is one
//     directive: keepalived reads the words a directive needs and ignores
//     the rest of the line, so "weight 3 TCP_CHECK {" silently loses the
//     checker there; here extra words are an error.
//   - Words are separated by blanks; "…" makes one word of text with
//     blanks. Scripts (notify_up, notify_down, quorum_up, quorum_down,
//     misc_path, vrrp_script's script) and regex are read again as keepalived reads them: '…'
//     quotes too, quoted parts join their neighbours, and the command is
//     split into arguments with the shell's backslash escapes.
//   - include, includer, includem, includew, includeb and includea FILE
//     read other files where they stand, FILE relative to the directory
//     of the including file, with glob wildcards and csh braces, matches
//     in name order; errors name the included file and its line. Unlike
//     keepalived, a file that cannot be read is always an error, and so
//     is a name without wildcards that matches nothing; a wildcard that
//     matches nothing is an error with includew and includea only (and an
//     unmatched brace alternative with includeb). Wildcards are matched on
//     the real file system even when Parse's readFile reads the files.
//     The Line of a service, real server or check read from an included
//     file is a line of that file, which its File names (File is "" for
//     the main file), so that errors found later name the right file.
//   - "$NAME=VALUE" defines a parameter (a value ending in '\' continues
//     on the next lines: keepalived's only line continuation), and $NAME
//     (followed by a blank, ',', ')' or the end of the line) or ${NAME}
//     is replaced by its value, again and again while the text has
//     references; a multi-line parameter may only end a line and brings
//     its lines after it. ${_PWD} (the directory of the file), ${_HASH}
//     and ${_BANG} are pre-defined.
//
// Not supported, each an error naming its line: conditional lines
// (@ID …, @^ID …: gdirector has no configuration id), ~SEQ and ~LST
// blocks, and ${_INSTANCE}, ${_RANDOM} and ${_ENV} (the file must mean the
// same on every host and at every read).
//
// # Top level
//
// virtual_server, virtual_server_group, global_defs, SSL, vrrp_instance,
// vrrp_sync_group and vrrp_script are read, and DPVS's
// local_address_group. Blocks for the rest of keepalived are skipped, with
// a warning: every other vrrp_* keyword (vrrp_track_file,
// vrrp_track_process, …), garp_group, track_group,
// linkbeat_interfaces, interface_up_down_delays, static_ipaddress,
// static_routes, static_rules, bfd_instance, track_file, and the process
// settings net_namespace, net_namespace_ipvs, namespace_with_ipsets,
// instance, use_pid_dir, child_wait_time and linkbeat_use_polling. Any
// other keyword is an error.
//
// vrrp_instance NAME becomes a config.VRRPInstance (see vrrp.go and
// package vrrp): state, interface, virtual_router_id, priority (1..255,
// default 100), advert_int (default 1 s; whole seconds for version 2,
// centiseconds for 3), version (else global_defs vrrp_version, else 2;
// IPv6 instances run 3), nopreempt, preempt_delay, authentication
// { auth_type PASS; auth_pass } (AH is an error), virtual_ipaddress
// { ADDR[/LEN] [dev IF] [label L] [brd B] [scope S] }, unicast_src_ip,
// mcast_src_ip, unicast_peer { ADDR }, notify_master, notify_backup,
// notify_fault, notify_stop, notify, track_interface { IF [weight W
// [reverse]] } (W -253..253; 0: FAULT while down), track_script { NAME
// [weight W [reverse|noreverse]] } (below), dont_track_primary, accept,
// no_accept, strict_mode, v3_checksum_as_v2; tuning of what gdirector does
// not do (VMAC, gratuitous ARP timers, track_file, track_process,
// track_bfd, smtp_alert …) is skipped with a warning; virtual_routes, virtual_rules and
// virtual_ipaddress_excluded are errors. global_defs vrrp_strict forbids
// unicast peers and drops authentication, as in keepalived.
//
// vrrp_sync_group NAME { group { INSTANCE ... } track_interface { ... }
// track_script { ... } notify_master|notify_backup|notify_fault|
// notify_stop|notify SCRIPT sync_group_tracking_weight } becomes a
// config.VRRPSyncGroup (see vrrpgroup.go): every member must be a
// vrrp_instance of the file and in no other group (errors name the line);
// as keepalived's configuration reader does (and says in its warnings):
// unless sync_group_tracking_weight, a member's own weighted
// track_interface lines get weight 0 (reverse kept: FAULT while down, or
// up) and its own weighted track_script lines are dropped, each with a
// warning; the group's track_interface and track_script lines keep their
// weights (they move every member alike; 0 when a member is an address
// owner, priority 255) and join every member, replacing a member's
// weighted line for the same interface or script. An address owner's
// weighted trackers are dropped with a warning (its priority never
// moves). smtp_alert and the other trackers are skipped with a warning.
//
// vrrp_script NAME { script CMD; interval SECS; timeout SECS; weight W
// [reverse]; rise N; fall N; user USER [GROUP]; init_fail } becomes a
// config.VRRPScript (see vrrpscript.go): script is required (one command
// line: quote it when it has arguments); interval defaults to 1 s and
// timeout to the interval (seconds, fractions allowed, 1 s to 4294 s; 0
// is taken as 1 s with a warning, as keepalived does); weight -253..253,
// default 0; rise and fall at least 1, default 1. A name defined twice is
// an error. Each track_script line of a vrrp_instance or vrrp_sync_group
// names a vrrp_script of the configuration, before or after it (an
// unknown name is an error); without a weight it takes the script's
// weight and reverse, and a weight without reverse or noreverse keeps the
// script's reverse (W -253..253; ±254 become ±253 with a warning, as in
// keepalived). The address owner's priority does not move: a priority
// 255 instance's weighted track_script lines are dropped, and a sync
// group with a priority 255 member tracks its scripts with weight 0, with
// a warning, as keepalived does. A vrrp_script no instance tracks is left
// out of Config.VRRPScripts with a warning (keepalived does not run it).
//
// In global_defs, lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS] sets
// Config.Timeouts (0 or absent leaves a timeout alone); lvs_sync_daemon
// IFACE INSTANCE [id N] [maxlen N] [port N] [ttl N] [group ADDR] sets
// Config.SyncDaemon (connection synchronisation, package ipvssync);
// script_user and net_namespace get a warning; everything else (mail,
// router_id, VRRP and checker logging defaults) is skipped.
//
// SSL may only be empty: its password, ca, certificate and key (client
// certificates for SSL_GET) are not supported.
//
// # virtual_server
//
// "virtual_server ADDR [PORT]", "virtual_server fwmark N" or
// "virtual_server group NAME"; a port of 0 or none is allowed for a
// persistent service only (keepalived makes it persistent, 360 s, with a
// warning). Directives:
//
//	lb_algo | lvs_sched   rr wrr lc wlc lblc sh mh dh fo ovf lblcr sed nq twos (default wlc)
//	flag-1 flag-2 flag-3  scheduler flags; sh-port, sh-fallback need sh and
//	                      mh-port, mh-fallback need mh (keepalived ignores them otherwise)
//	ops                   one-packet scheduling (UDP or fwmark; cleared with a warning otherwise)
//	hashed                accepted, no effect (as in the kernel)
//	lb_kind | lvs_method  NAT DR TUN [type ipip] [nocsum], or DPVS's FNAT; the default of the
//	                      real servers (NAT, with a warning, when nothing sets it)
//	persistence_timeout [SECS]      1..2678400, default 360 when given without a value
//	persistence_granularity MASK    IPv4 netmask or IPv6 prefix length (makes the service
//	                                persistent, 360 s, if no timeout is given)
//	protocol TCP|UDP|SCTP           default UDP with a warning (keepalived's, the kernel's
//	                                default); ignored with a warning for fwmark
//	ip_family inet|inet6            family of a firewall-mark service
//	delay_loop, connect_timeout, retry, delay_before_retry, warmup, inhibit_on_failure,
//	alpha, virtualhost, weight      defaults of the real servers (weight: 1..2^31-1)
//	omega, quorum N, hysteresis N, quorum_up CMD, quorum_down CMD
//	sorry_server ADDR [PORT], sorry_server_inhibit, sorry_server_lvs_method METHOD
//	laddr_group_name NAME           DPVS: FullNAT local addresses from a local_address_group
//	real_server ADDR [PORT] { … }
//
// keepalived ignores a virtual_server without real servers (with a
// warning here too). It lowers a quorum above the real servers' total
// weight to that total, and a hysteresis not below the quorum to quorum-1;
// so does Parse, with a warning. The ports of DR and TUN real servers are
// the virtual server's (0 for a firewall mark), with a warning when the
// file says otherwise; a NAT or FNAT real server without a port gets the
// service's port (the kernel forwards to it anyway), or keeps 0 in a
// firewall-mark service (the packet's port).
//
// A virtual_server group NAME is one service per address and firewall
// mark of the virtual_server_group, each with all the real servers and
// checks. Group entries are "ADDR [PORT]", ranges "A.B.C.D-E" (last byte;
// IPv6: last 16 bits, in hex), "ADDR-ADDR" and "ADDR/LEN" (host bits
// zero; every address, network and broadcast included), and "fwmark N
// [inet|inet6]" (without a family: the virtual server's). Expansion stops
// with an error beyond 65536 services. Unlike keepalived, which resets it
// for group members, persistence_granularity applies to group members too.
//
// # real_server
//
//	weight N (0..2^31-1, default the virtual server's weight, else 1)
//	lvs_method METHOD, uthreshold N, lthreshold N (not above uthreshold)
//	inhibit_on_failure [BOOL], alpha [BOOL], notify_up CMD, notify_down CMD
//	delay_loop, connect_timeout, retry, delay_before_retry, warmup, virtualhost
//	TCP_CHECK, HTTP_GET, SSL_GET, UDP_CHECK, PING_CHECK, DNS_CHECK, SMTP_CHECK,
//	MISC_CHECK { … } (any number, all must pass)
//
// Scripts (notify_up …, misc_path) become Config commands written as
// POSIX shell words: the arguments keepalived would pass to execve,
// quoted where needed, so that sh -c, or any splitter that follows the
// shell's quoting, gets them back. A user (and group) to run the script as
// is not supported.
//
// # Checkers
//
// Each setting comes from the checker, else its real server, else its
// virtual server, else keepalived's default:
//
//	delay_loop            Interval, default 60 s
//	connect_timeout       Timeout, default 5 s (MISC_CHECK: misc_timeout, else the virtual
//	                      server's delay_loop)
//	retry (nb_get_retry)  Retry, default 1; DNS_CHECK 3; MISC_CHECK 0
//	delay_before_retry    DelayBeforeRetry, default 1 s; HTTP_GET and SSL_GET 3 s;
//	                      DNS_CHECK its delay_loop
//	warmup                Warmup, default the checker's delay_loop
//	alpha [BOOL]          the real server starts down (Dest.Alpha) if any of its checkers
//	                      has alpha (keepalived starts that checker failed)
//	connect_ip, connect_port, bindto   Target and BindTo; the port checked is connect_port,
//	                      else the real server's as written (which keepalived checks even
//	                      where the table uses another); none at all is an error (keepalived
//	                      would connect to port 0)
//
// HTTP_GET and SSL_GET take url blocks (path; digest, 32 hex digits;
// status_code CODES and ranges, default 200-299; virtualhost; regex, in
// Go's RE2 syntax, with regex_options caseless, multiline, dotall and
// ungreedy mapped to Go's flags), virtualhost (default the real server's,
// then the virtual server's), and on SSL_GET enable_sni and sni_name (the
// name sent is sni_name, else the url's, checker's or virtual server's
// virtualhost as in keepalived; urls that would send different names are
// an error). UDP_CHECK takes payload HEX, require_reply [HEX, with X
// wildcards], min_reply_length and max_reply_length (0 and 255).
// DNS_CHECK takes type (A NS CNAME SOA MX TXT AAAA RRSIG DNSKEY, default
// SOA) and name (default "."). SMTP_CHECK takes helo_name (default
// smtpchecker.keepalived.org) and the deprecated host blocks, each a
// check of its own with its connect_ip, connect_port, bindto and
// connect_timeout (SMTP_CHECK itself is the first host unless it has
// connection settings of its own; keepalived 2.4.3 mixes the hosts'
// settings into one check, which is taken for a bug). MISC_CHECK takes
// misc_path (one command line: quote it when it has arguments), misc_timeout
// SECS, misc_dynamic and user NAME.
//
// Accepted and ignored, as they change nothing gdirector does or sees:
// hashed, snmp_name, smtp_alert (with a warning when on: no mail is sent),
// ha_suspend (with a warning: without VRRP the address is always there),
// log_all_failures, http_protocol (the HTTP version of the request is the
// health engine's), fast_recovery, tls_compliant and regex_stack.
//
// Not supported, each an error: persistence_engine; lvs_method types gue
// and gre and their csum, remcsum and port options; DPVS's SNAT;
// FILE_CHECK and BFD_CHECK; bind_port, bind_if and fwmark in checkers (and
// so link-local connect_ip); regex_no_match, regex_min_offset,
// regex_max_offset and the other regex_options; a user for notify and
// quorum scripts and a group for MISC_CHECK's; SSL's client certificate
// settings.
//
// # DPVS
//
// lb_kind FNAT is FullNAT. local_address_group NAME { ADDR[-LAST] [IFACE]
// … } lists local addresses; laddr_group_name NAME in a virtual_server
// gives each of its services the group's addresses of its family.
package keepalived

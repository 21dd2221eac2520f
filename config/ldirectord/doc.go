// Package ldirectord reads ldirectord.cf, the configuration file of
// ldirectord (the Linux Director daemon of heartbeat and resource-agents),
// into a config.Config: the virtual services it would give ipvsadm, their
// real servers and fallback server, and the health checks of each real
// server as ldirectord would run them.
//
// The reference is ldirectord as shipped in resource-agents
// (ldirectord/ldirectord.in, "Linux Director v1.186-ha"): its read_config,
// set_defaults and ld_setup functions, its check functions and its
// ldirectord(8) manual (the POD in the same file). Where the manual and
// the code disagree, the code wins (see quiescent below).
//
// # Grammar
//
// A line is a directive "name=value" (blanks around '=' allowed). A line
// starting with "virtual=" (IPv4 address:port or a firewall mark) or
// "virtual6=" ([IPv6 address]:port or a firewall mark) opens a virtual
// section; the lines indented by at least 4 columns that follow belong to
// it (a tab counts 4 columns, as ldirectord turns each tab into 4
// spaces). The first non-indented directive closes the section. Every
// other non-indented line is a global directive. A line indented by 1 to
// 3 columns, or an indented line before any virtual=, is an error, as in
// ldirectord.
//
// '#' starts a comment wherever it stands outside double quotes. This is
// a little more lenient than ldirectord, which strips comments only inside
// virtual sections and also inside quotes; a file that ldirectord accepts
// reads the same. Blank lines inside a virtual section are skipped (for
// ldirectord they end the section and make the indented lines after them
// an error). Directive names are lower case. Values are trimmed. request,
// receive, login, passwd, database, secret, load and callback need double
// quotes, as in ldirectord; checkcommand, virtualhost, monitorfile,
// fallbackcommand and logfile take them optionally. A directive given
// twice in the same place keeps the last value. Numbers must be plain
// decimal numbers (ldirectord takes the first digits it finds in the
// value).
//
// Host names are not resolved (Parse does no I/O): virtual, real and
// fallback servers must be given as addresses, IPv6 ones in brackets.
// Port names (virtual=192.0.2.10:http) are looked up in the built-in
// services table of package ipvsadm, which stands in for /etc/services.
//
// A real server is
//
//	real=ADDR[->ADDR2][:PORT] gate|masq|ipip [WEIGHT] ["REQUEST", "RECEIVE"] [l:LOWER] [u:UPPER]
//
// (real6= with [IPv6] addresses in a virtual6 section). A range
// ADDR->ADDR2 adds every IPv4 address from ADDR to ADDR2 (IPv6 ranges are
// refused, as by ldirectord). A virtual service takes at most 4096 real
// servers and a file 65536. The weight defaults to 1
// (0..65535, ipvsadm's range); l: and u: are ipvsadm's -y and -x
// thresholds. A missing port is 0. As ipvsadm does for -g and -i, a gate
// or ipip real server of an address:port service gets the service's port
// in the table (the port written in the file is still the one checked);
// a masq real server without a port keeps port 0, which forwards to the
// service's port as in the kernel.
//
// # Defaults
//
// These are ldirectord's (set_defaults and read_config), not ipvsadm's:
//
//	checktimeout      5 s, for connect, ping and external checks
//	negotiatetimeout  30 s, for negotiate checks
//	checkinterval     10 s
//	failurecount      1
//	checkcount        1 (deprecated in ldirectord)
//	quiescent         no
//	autoreload        no
//	fork              no
//	scheduler         wrr
//	protocol          tcp, or udp when the port is 53; fwm for a mark
//	checktype         negotiate
//	service           from the port: 21 ftp, 25 smtp, 53 dns, 80 http,
//	                  110 pop, 119 nntp, 143 imap, 389 ldap, 443 https,
//	                  587 submission, 636 ldaps, 993 imaps, 995 pops,
//	                  1521 oracle, 1812 radius, 3128 http_proxy,
//	                  3306 mysql, 5060 sip, 5432 pgsql; otherwise (and
//	                  for firewall marks) none
//	request           "/"
//	checkcommand      /bin/true
//
// checktimeout and negotiatetimeout stand in for each other as ld_setup
// computes them: the connect timeout of a virtual service is its own
// checktimeout, else its negotiatetimeout, else the global checktimeout,
// else the global negotiatetimeout, else 5 s; the negotiate timeout is
// its own negotiatetimeout, else its checktimeout, else the global
// negotiatetimeout, else the global checktimeout, else 30 s. Global
// directives apply to every virtual section, wherever they stand in the
// file.
//
// quiescent: the manual says the default is yes, but the code has set it
// to no since ldirectord was imported into resource-agents (2009), and so
// does this package. A per-virtual checkinterval is honoured only with
// fork=yes, as in ldirectord (with fork=no it warns and uses the global
// value).
//
// # Mapping to config.Config
//
// A virtual section is a Service named by its virtual= value, with
// ldirectord's scheduler, persistent (-p, 1..2678400 s) and netmask (-M;
// a dotted quad for IPv4, a prefix length for IPv6; only with persistent,
// as ldirectord passes it), schedflags (-b), and ops (-o, UDP only).
// Services start with every real server down until its check passes
// (Alpha), as ldirectord adds a real server only once a check passed.
//
//   - quiescent=yes: Dest.Inhibit on every real server (weight 0 instead
//     of removal). The fallback server is never quiesced.
//   - fallback / fallback6 (global, or in the section): Service.Sorry,
//     weight 1, gate unless masq or ipip is given, port of the virtual
//     service when none is given; Quorum is 1, so the fallback server
//     takes over when no real server is up. checktype=off drops it, as
//     ldirectord then activates no fallback server.
//   - fallbackcommand: QuorumDown runs "COMMAND start VIP:PORT PROTOCOL"
//     and QuorumUp "COMMAND stop VIP:PORT PROTOCOL", the shell command
//     lines ldirectord runs (for a firewall mark, ":0 fwm").
//   - autoreload=yes: Config.AutoReload.
//
// Each real server gets the checks of its section, with Interval =
// checkinterval, Rise = 1 and Retry = failurecount - 1 further checks
// DelayBeforeRetry = checkinterval apart (ldirectord counts consecutive
// failed checks). Each check runs every checkinterval on its own; with
// fork=no ldirectord checks every real server in turn and then sleeps
// checkinterval, so its checks come a little less often. The port checked is checkport, else the port written on
// the real= line, else the well-known port of the service; it goes to
// Check.Target when it differs from the real server's port in the table.
// By checktype:
//
//   - connect: CheckTCP with the connect timeout; for protocol=udp a
//     CheckPing, as ldirectord pings instead.
//   - ping: CheckPing with the connect timeout. The deprecated checkcount
//     (ping attempts per check) multiplies the attempts: Retry =
//     failurecount × checkcount - 1, with no pause between them when
//     failurecount is 1.
//   - external: CheckMisc with the connect timeout; Command is the
//     checkcommand followed by ldirectord's four arguments: the virtual
//     address (the mark for a firewall-mark service; IPv6 in brackets),
//     the virtual port (0 for a mark), the real server's address (IPv6 in
//     brackets) and the real server's port as written (0 if none). Words
//     are quoted for a POSIX shell where needed. ldirectord runs the
//     command without a shell, so checkcommand is one program path.
//   - external-perl: the same, run as "perl SCRIPT ARGS" in a process of
//     its own instead of inside the daemon (with a warning); ldirectord
//     documents that such scripts work as external commands.
//   - on: CheckOn (always up); off: CheckOff (always down).
//   - negotiate (the default): by service, with the negotiate timeout:
//     http and https: CheckHTTP or CheckHTTPS with one URL, Path the
//     request (with a leading '/') and Regexp the receive regular
//     expression, VirtualHost the virtualhost, certificates not verified
//     (as ldirectord's LWP agent). A per-real "request", "receive" pair
//     replaces the section's; a per-real request that is an absolute
//     http:// (https://) URL with an address also sets the target.
//     httpmethod=HEAD is checked with GET (warning): the status decides
//     either way. A redirect is judged as it comes (3xx fails), where
//     ldirectord's LWP agent follows it. smtp and submission: CheckSMTP. dns: CheckDNS querying
//     the request name (type A, or PTR when it is an address, as
//     Net::DNS does), DNSAnswer the receive expression; both are
//     required, since without them ldirectord's DNS check never passes.
//     none: CheckOn, as ldirectord then brings the real servers up
//     unchecked (with a warning when none came from the port).
//   - a number N: ldirectord's combined check, a connect check every
//     interval with a negotiate check every N+1 intervals instead. This
//     becomes two checks that must both pass: CheckTCP every
//     checkinterval and the negotiate check every (N+1) × checkinterval,
//     retried every checkinterval after a failure. For protocol=udp the
//     connect check, which always passes in ldirectord (a UDP
//     "connect"), is left out. checktype=0 is negotiate.
//
// receive expressions are Perl regular expressions in ldirectord; they
// must also be valid Go (RE2) expressions here, or Parse fails naming the
// line.
//
// # What is refused
//
// An error names the file and line ("ldirectord.cf:12: ...") and Parse
// returns no Config. Besides syntax errors, values out of range, unknown
// directives and ldirectord's own errors (a real6 in a virtual section, a
// protocol that does not fit the virtual service, the obsolete timeout=,
// ...), and what ipvsadm or the kernel would refuse (an address that is
// not unicast, l: above u:, port 0 without persistent; Parse ends with
// config.Validate, so the daemon accepts every Config it returns), Parse
// refuses what gdirector cannot carry out and would otherwise silently
// change:
//
//   - negotiate checks of services gdirector has no checker for: ftp,
//     imap, imaps, pop, pops, ldap, ldaps, nntp, mysql, pgsql, oracle,
//     radius, sip, simpletcp and http_proxy ("unsupported: service=ldap
//     ..."). Mapping them to a TCP connect check would quietly weaken the
//     check the file asks for; the message tells how to ask for one
//     (checktype=connect) or for an external command instead. This
//     includes a service that comes from the port (virtual=...:389 with no
//     service= and no checktype= is an ldap negotiate check).
//   - maintenancedir (gdirector has no maintenance directory: a real
//     server in maintenance would get traffic) and execute (another
//     configuration file: load it on its own).
//   - host names, IPv6 address ranges, duplicate virtual services and
//     duplicate real servers (after the port rule above).
//
// # What is accepted with a warning
//
// Config.Warnings lists, each with its line, what is read but not carried
// out: logging and notification settings (logfile, emailalert,
// emailalertfreq, emailalertstatus, emailalertfrom, smtp, monitorfile,
// callback, load), cleanstop=no (gdirector's table lives in the daemon),
// a per-virtual checkinterval without fork=yes, ops on a TCP service,
// netmask without persistent, the deprecated connecttimeout (read as
// checktimeout, which replaced it) and checkcount, httpmethod=HEAD,
// external-perl, DNS checks of a TCP service (queried over UDP) and
// services left unchecked by service=none from the port. servicename,
// comment, login, passwd, database, secret, readdquiescent, fork and
// supervised are accepted silently: they change nothing gdirector does.
package ldirectord

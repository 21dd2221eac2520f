// Package ipvsadm is ipvsadm 1.31's command line on top of package ctl,
// with DPVS's FullNAT commands added:
// the same argument grammar, checks, error messages, exit statuses and
// byte-exact listings, so that scripts and operators can use gdirector
// exactly as they use ipvsadm. Run takes the arguments (without the
// program name) and returns standard output, standard error and the exit
// status; the package does no I/O of its own.
//
// # Grammar
//
// ipvsadm parses with popt, and so does this package (options.go): the
// first option must be a command (-A -E -D -C -L/-l -Z -a -e -d -R -S
// --set --start-daemon --stop-daemon -h -v, and DPVS's -P -Q -G), short
// options cluster and take attached arguments ("-Ln", "-srr", "-s=rr"),
// long options take "--name=value" or the next word and are never
// abbreviated, -p's optional timeout is the next word only when that does
// not start with '-', non-option words are collected wherever they appear
// (the three values of --set), and "!#:+" in an argument is replaced by
// the next word that is not an option ("-s w!#:+ rr" is "-s wrr"), as
// popt does. Each option then fills the command in the order given, as ipvsadm's parse_options
// does, with its checks and messages; the per-command table of required,
// forbidden and mutually exclusive options (parseopts.go) is ipvsadm's,
// for every option of 1.31, including the ones a later issue will give a
// meaning (sync daemon, GUE/GRE tunnels). Addresses are read with
// inet_aton's and inet_pton's rules, host names through Names.LookupHost
// (gethostbyname; none resolve by default), port names through a services
// database (getservbyname for the service's protocol; DefaultServices, the
// well-known names of Debian's /etc/services, unless Names.Services is
// given). An empty -b argument sets no flags, as in ipvsadm; one of commas
// only, on which ipvsadm 1.31 crashes, is refused.
//
// The grammar was compared with the real thing outside this repository
// (the comparison needs popt's and ipvsadm's sources): the scanner with
// popt 1.19 on two million random command lines, and messages, outputs and
// exit statuses with ipvsadm 1.31 built on a stand-in for libipvs, on
// random command lines; no difference remained. The tables of run_test.go
// and grammar_test.go use every option and print every message.
//
// # Exit statuses and messages
//
// Argument errors print ipvsadm's message and exit 2. Errors from the
// Manager (the kernel's answers in ipvsadm) print ipvs_strerror's text
// and exit 255 (ipvsadm returns -1), as do popt's errors
// ("-t: missing argument") and a missing or misplaced command ("Try
// `ipvsadm -h' ..."). A failed command changes nothing. -L of a missing
// service exits 1.
//
// What only the kernel has is refused like an error of the kernel (status
// 255), with the reason: --start-daemon (no connection synchronization
// daemon yet; --stop-daemon answers "No daemon is running" and -L --daemon
// lists nothing, as ipvsadm does on a kernel without one), --tun-type gue
// and gre (only IPIP encapsulation; their options are checked as ipvsadm
// checks them first), and --pe (no persistence engines: the kernel's
// message, "Scheduler or persistence engine not found", then gdirector's
// reason). Their options are parsed and checked as ipvsadm does, so a
// wrong one gets ipvsadm's message and status 2.
//
// # Output
//
// Listings (list.go) reproduce ipvsadm's printf formats: column widths,
// the trailing spaces of the dest lines, 33- and 28-column truncation,
// IPv6 in brackets, print_largenum's K/M/G/T scaling, --exact, and the sort
// order of libipvs's comparison functions under glibc's merge sort
// (sort.go). Without -n (-L, -S, -c, and a listing without arguments)
// addresses and ports are printed by name where there is one, as
// addrport_to_anyname does: the host name from Names.HostName
// (gethostbyaddr; none by default), the port name from the services
// database for the service's protocol (TCP for firewall-mark services, as
// ipvsadm creates them), cut at 59 bytes like its 60-byte buffer, then at
// the 33 and 28 columns of -L; DPVS's -G stays numeric. --nosort shows each
// service's real servers in the kernel's order (most recently added
// first). The header reports IPVS 1.2.1 and a connection hash table size
// of 4096, the kernel's defaults. Rates (--rate) are not estimated yet and
// print as 0. Firewall marks are printed unsigned, as ipvsadm does since
// the fix that followed 1.31 (1.31 itself printed marks above 2^31-1 as
// negative numbers).
//
// # FullNAT (DPVS's extensions)
//
// The FullNAT method and its local addresses use the syntax of DPVS's
// ipvsadm (iqiyi/dpvs tools/ipvsadm), whose meaning of -b differs from
// ipvsadm 1.31's: after -a, -e and -d, -b is --fullnat and takes no
// argument ("-a -t VIP:80 -r RIP:8080 -b -w 2"); after every other command
// it keeps 1.31's meaning, --sched-flags FLAGS with a required argument
// (legal on -A and -E only). The scanner learns the command from the first
// option, which must be the command, before it reads any -b, so "-ab" and
// "-bw 3" cluster as expected; the long names are unambiguous everywhere
// (--fullnat on -A is an illegal forwarding method, --sched-flags on -a an
// illegal option). A FullNAT real server keeps its own port, like NAT.
//
// Local addresses: --add-laddr/-P and --del-laddr/-Q with a service,
// --laddr/-z LADDR (parsed as DPVS parses it: "addr[:port]", the port
// ignored) and optionally --ifname/-F IFACE (cut to 15 bytes as DPVS's
// buffer does); --get-laddr/-G [service] lists them in DPVS's layout.
// DPVS requires -F on -P and -Q, because DPDK must bind the address to one
// of its ports; here it is optional (the address is answered for on the
// director's data-plane link) and -Q ignores it, as DPVS's delete does.
// The messages are DPVS's: "Local address already exists", "No such Local
// address", "Service not defined", "illegal local address", and "Operation
// not supported with specified address family" for a local address of the
// other family. -L shows "FullNat" in the Forward column and -S writes -b
// and the local addresses (as -P commands), so that -S | -R round-trips.
//
// # Restore and configuration files
//
// -R (RunInput's standard input; over the control socket, the input the
// client sends along) is all or nothing, where ipvsadm applies line by
// line: every line is parsed and checked first, then all of them run on
// a stage and the table changes once, only if every line succeeded; the
// first failing line is reported after ipvsadm's message ("Restore failed
// at line N; nothing was changed") and changes nothing. '#' starts a
// comment. Replace loads the same format as a whole configuration, keeping
// whatever did not change (gdirector run --config and its reloads). See
// restore.go.
//
// Not yet: --start-daemon (connection synchronization) fails with a
// message, and GUE/GRE tunnels are refused.
package ipvsadm

// Package ipvsadm is ipvsadm 1.31's command line on top of package ctl:
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
// --set --start-daemon --stop-daemon -h -v), short options cluster and
// take attached arguments ("-Ln", "-srr", "-s=rr"), long options take
// "--name=value" or the next word, -p's optional timeout is the next word
// only when that does not start with '-', and non-option words are
// collected wherever they appear (the three values of --set). Each option
// then fills the command in the order given, as ipvsadm's parse_options
// does, with its checks and messages; the per-command table of required,
// forbidden and mutually exclusive options (parseopts.go) is ipvsadm's,
// for every option of 1.31, including the ones a later issue will give a
// meaning (sync daemon, GUE/GRE tunnels). Addresses are read with
// inet_aton's and inet_pton's rules; host names are not resolved, and
// port names come from a small built-in table instead of /etc/services.
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
// # Output
//
// Listings (list.go) reproduce ipvsadm's printf formats: column widths,
// the trailing spaces of the dest lines, 33- and 28-column truncation,
// IPv6 in brackets, print_largenum's K/M/G/T scaling, --exact, and the sort
// order of libipvs's comparison functions under glibc's merge sort
// (sort.go). Addresses and ports are always numeric; without -n ipvsadm
// would resolve names, but the layout is the same. --nosort shows each
// service's real servers in the kernel's order (most recently added
// first). The header reports IPVS 1.2.1 and a connection hash table size
// of 4096, the kernel's defaults. Rates (--rate) are not estimated yet and
// print as 0. Firewall marks are printed unsigned, as ipvsadm does since
// the fix that followed 1.31 (1.31 itself printed marks above 2^31-1 as
// negative numbers).
//
// Not yet: --start-daemon (connection synchronization) fails with a
// message, and GUE/GRE tunnels are refused; -R reads standard input only
// through RunInput.
package ipvsadm

// Package ctl is the control plane's model of IPVS configuration: the
// Manager applies ipvsadm's operations (add, edit and delete services and
// real servers, flush, zero, timeouts) with the kernel's semantics and
// validation, and publishes every change as a new immutable vs.Table; Serve
// and Call carry ipvsadm command lines over a local unix socket.
//
// # Manager
//
// One mutex serializes writers. An operation first validates everything it
// needs (and creates a scheduler when it needs one), so a failed operation
// changes nothing; then it applies the change and publishes: a new Service
// value for each service it touched (unchanged services keep theirs), the
// service's scheduler updated with the value about to be published, the
// table stored into the atomic pointer, and the OnChange hook called, still
// under the lock so hooks see tables in order.
//
// Identity and counters live in long-lived objects shared by successive
// snapshots: a service keeps its *vs.Stats and scheduler instance, a real
// server its *vs.Dest, whose weight, method and thresholds an edit stores
// atomically in place, as the kernel does. A removed dest loses
// vs.DestAvailable; connections keep their pointer to it. Like the kernel's
// dest trash, a removed dest that still has connections (or was removed
// less than a minute ago) is brought back, counters and all, when the same
// real server is added to the same service again; its traffic statistics
// are zeroed if the service itself was re-created meanwhile.
//
// Errors are the sentinels of errors.go, whose texts are the messages
// ipvsadm prints for the kernel's answers (ipvs_strerror), chosen per
// operation as libipvs does: a missing service is ErrNoSuchService for
// service operations and ErrServiceNotDefined for real-server operations.
//
// # Batches
//
// Batch (ipvsadm -R) and Replace (a configuration reload) run many
// operations on a private stage and publish one table, or nothing at all
// if one fails; unchanged services and real servers keep their objects,
// counters and scheduler state (batch.go).
//
// # Order of real servers
//
// vs.Service.Dests lists real servers in the kernel's order, most recently
// added first (the order vs documents): like __ip_vs_update_dest, which
// links a new dest at the head of the service's list (list_add_rcu),
// AddDest puts every new dest at index 0, including one taken back from the
// trash. The schedulers of package sched walk Dests from index 0, so rr and
// wrr meet the most recently added server first, as the kernel's do.
// ipvsadm --nosort shows this order.
//
// # FullNAT local addresses
//
// A service's FullNAT local addresses (DPVS's laddrs) are managed with
// AddLAddr, DelLAddr and LAddrs, with DPVS's semantics and error texts
// (ErrLAddrExists, ErrNoSuchLAddr, ErrServiceNotDefined for a missing
// service): kept in the order added, matched by address alone on delete,
// shared by snapshots as vs.LocalAddr objects whose counters survive
// configuration changes, and dropped with their service. An address must
// be unicast and of the service's family (ErrAddrFamily otherwise: DPVS's
// NAT64 mix is not supported); an interface name, when given, must be a
// valid Linux name. FullNAT real servers may be added before any local
// address exists, as DPVS allows; the data plane then drops their new
// connections under a counted reason.
//
// # Control socket
//
// Serve listens on a unix stream socket created with mode 0600 (bound in a
// private directory and renamed into place, so it is never reachable with
// wider permissions), refuses to start when another daemon answers on the
// path, replaces a stale socket file, and never removes anything that is
// not a socket. Each line a client sends is a JSON Request; each answer is
// one JSON Response line. A Mux routes requests by command to a Handler, or
// to an InputHandler for commands that read standard input (ipvsadm -R);
// the daemon builds one Mux and serves it both here and on the remote API
// (package httpapi).
//
// # Wire format
//
// A client writes one JSON object per line (at most 1 MiB, unknown fields
// refused) and reads one JSON object per line back, as many times as it
// likes on one connection; a malformed request gets an answer with exit
// status 2 and the connection is closed.
//
//	request:  {"cmd": "", "argv": ["-L", "-n"], "input": ""}
//	answer:   {"stdout": "IP Virtual Server ...\n", "stderr": "", "code": 0}
//
// cmd is the command ("" or absent for ipvsadm; "mark", …), argv its
// arguments without the program name, input its standard input (absent =
// none); stdout, stderr and code are what the command would have printed
// and its exit status. Go programs use Call, CallCmd and Send; a shell
// needs no gdirector binary, only socat (or any tool that connects a pipe
// to a unix socket) and jq to take the answer apart:
//
//	printf '%s\n' '{"argv":["-L","-n"]}' |
//		socat -t 30 - UNIX-CONNECT:/run/gdirector.sock | jq -r .stdout
//
//	jq -cn --rawfile rules rules.txt '{argv: ["-R"], input: $rules}' |
//		socat -t 30 - UNIX-CONNECT:/run/gdirector.sock | jq -j .stderr
//
// socat's -t bounds how long it waits for the answer after its input ends.
package ctl

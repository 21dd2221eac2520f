// Package nsutil is the network-namespace toolbox behind the gdirector lab
// and the root end-to-end tests: create and delete named namespaces, run Go
// code or child processes inside them, read and write their sysctls, turn
// off NIC offloads, and remove the leftovers of a crashed run.
//
// # Named namespaces
//
// Namespaces follow the iproute2 convention: a namespace called NAME is kept
// alive by a bind mount of its nsfs inode on /run/netns/NAME, so `ip netns
// exec NAME …`, `ip -n NAME …` and tcpdump users see exactly what the lab
// built. Create uses vishvananda/netns (netns.NewNamed) on a dedicated,
// locked OS thread so that building a topology needs no external binary.
// Before the first creation /run/netns is turned into a shared mount point,
// as `ip netns add` does, so that the bind mounts propagate to (and their
// removal propagates into) the private mount namespaces of processes started
// with `ip netns exec`.
//
// # Running code inside a namespace
//
// Do runs a function on a fresh goroutine locked to its OS thread, switched
// into the namespace with setns(2). Sockets created by that function stay in
// the namespace for their whole life, whatever thread later uses them, which
// is how Dial, Listen and ListenPacket hand out namespaced connections to
// ordinary Go code. Goroutines started by the function do NOT inherit the
// namespace (they run on other threads). If the thread cannot be switched
// back, it is left locked so the Go runtime destroys it with its goroutine
// instead of reusing a thread that sits in the wrong namespace.
//
// # Processes
//
// Start and Run use `ip netns exec NAME argv…` when the ip binary is present:
// iproute2 execs the target in place (the pid we hold is the target's), gives
// it a private mount namespace with a /sys that describes the namespace's own
// interfaces, and honours /etc/netns/NAME. Without the ip binary they fall
// back to forking from a thread that Do has switched into the namespace; the
// child is then in the right network namespace but sees the caller's /sys.
// Every child gets its own process group so Stop reaches its descendants.
//
// # Offloads
//
// DisableOffloads uses the legacy SIOCETHTOOL ioctls through
// golang.org/x/sys/unix, so the ethtool binary is not needed either.
//
// # Leftovers
//
// Cleanup(prefix) deletes the namespaces whose names start with prefix after
// stopping the processes this program started there and killing any other
// resident (found by comparing /proc/PID/ns/net with the namespace inode),
// which is what a crashed run leaves behind. It never looks at other names.
package nsutil

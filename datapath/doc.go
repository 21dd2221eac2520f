// Package datapath is the director's packet pipeline: workers read batches
// of frames from link devices, decode them, look the flow up in the
// connection table (scheduling a real server on a miss), hand the frame to
// its forwarding method for the in-place layer 3/4 rewrite, set the layer-2
// next hop and write the batch out.
//
// It also does the neighbour work a kernel would: it answers ARP requests
// for every VIP of the current table (the VIPs are not configured on the
// host, so nothing else answers), announces new VIPs with a gratuitous ARP,
// and resolves the next hop of every packet it sends (real servers,
// clients, gateways) from the host's routes and neighbour table through a
// Router, sending its own ARP requests and gleaning the replies when the
// host has no entry. Frames whose next hop is still unresolved wait in a
// small bounded queue, like the kernel's unresolved-neighbour queue.
//
// Hot-path rules (DESIGN.md §3): per batch one clock read and one table
// snapshot load; per packet no allocation, no syscall, no lock other than
// the connection table's shard lock; every drop counted by reason in
// per-worker counters.
package datapath

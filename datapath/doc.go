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
//
// # Workers (lanes)
//
// The data plane runs N lanes (gdirector run --workers, one per CPU by
// default). Lane k has its own device on every interface
// (Config.Devices for lane 0, Config.Queues[k-1] for the others): with
// packet sockets, interface i is read through N sockets of one
// PACKET_FANOUT group (afpacket.OpenFanout), and the kernel gives each
// frame to exactly one of them by its symmetric flow hash. One goroutine
// per lane serves its devices of every interface (link.Multiplexer: a
// batch from each device in turn without waiting, one poll over all of
// them when none had frames) and writes through its own devices, so lanes
// share no buffer and no lock on the send path; each batch is decoded,
// looked up, rewritten and written by the lane that read it. Goroutines are
// not locked to threads or CPUs: with PACKET_FANOUT_HASH a lane's frames
// come from every CPU anyway, and the Go scheduler keeps a busy lane on a
// P of its own.
//
// # Why one shared connection table is consistent
//
// The fanout hash keeps all the frames of one tuple, and of its reverse,
// on one lane, so the packets of one direction of a flow are handled in
// order by one lane. But the two directions of a NAT or FullNAT connection
// are different tuples (client → VIP, and real server → client or → local
// address), so they usually land on different lanes; a per-lane table
// would not find the reply's connection. The table is therefore shared
// (package conntrack: lock-free lookups, per-shard locks for insertion
// and removal, connection state in one word changed by compare-and-swap),
// and it stays consistent across lanes because:
//
//   - A connection is inserted under both keys (in and out) by
//     conntrack.Table.New before its first packet is forwarded, and a
//     reply is caused by a forwarded packet: whichever lane reads the
//     reply, the out-key was published before the reply existed.
//   - Two lanes can race to create the same connection only for one
//     client tuple arriving on two interfaces at once; New refuses the
//     second (ErrExists) and that lane uses the first one's connection.
//     Persistence templates are created the same way. Two lanes can be
//     offered the same FullNAT local port by the pool (it probes the table,
//     and both probes can precede both insertions): the second New finds
//     the out-key taken and the lane takes another port (laddrRetries).
//   - A connection's TCP state, flags and expiry change by
//     compare-and-swap, and the dest's active/inactive counts follow the
//     transition that won, so concurrent packets of the two directions
//     are applied in some order the network could have delivered them in,
//     and causally ordered packets (SYN, then SYN-ACK, then ACK) are
//     applied in order because each exists only after the previous one was
//     forwarded.
//   - Statistics (per dest, service and lane) are atomic counters.
//
// TestLanesSplitDirections runs the worst case under the race detector:
// two lanes, every flow's client packets on one and its replies on the
// other, for NAT and FullNAT. docs/performance.md says where the time
// per packet goes.
package datapath

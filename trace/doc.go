// Package trace is the director's live packet trace (gdirector trace): for
// every packet the data plane handles that a filter selects, an Event says
// which worker took it, in which direction (client → real server, or a
// reply), by which forwarding method, what the connection table decided
// (a hit with the connection's state and expiry, a new connection, a
// persistence template found or created, or a drop with its
// forward.Reason), why the scheduler chose the real server of a new
// connection, in the kernel's terms (wlc's overhead = 256×active +
// inactive per weight, rr/wrr's position and current weight, sh/dh/mh's
// bucket or slot, the lblc/lblcr cache entry, twos' two draws, …), and the
// frame as it came in and as it left.
//
// # Cost on the data plane
//
// The data plane (package datapath) holds the current *Tracer in an
// atomic pointer, loaded once per batch; with no trace running the cost
// is that load and one nil check per packet. While a Tracer is installed
// each worker fills one Event of its own (a fixed-size struct: no
// pointers into packet buffers, the frames copied up to SnapLen bytes) and
// Emit copies it into a bounded channel without blocking: when the reader
// falls behind, events are dropped and counted (Tracer.Dropped), never
// waited for. Nothing allocates per packet, traced or not. Turning
// numbers into text happens on the reader's side: Tracer.Record turns an
// Event into a Record (JSON-ready, with the header changes worked out),
// and Record.Text renders the block gdirector trace prints.
//
// # Sampling
//
// A Filter's Sample thins a trace out to one packet in N per worker
// (gdirector trace --sample N; the status page asks for 1 in 64). The
// decision comes first, before the Event is filled: each worker counts on
// its own (Plan.Sample, no shared counter, no atomic operation beyond the
// load of the tracer's Plan that filtering needs anyway), and a packet it
// skips goes through the data plane exactly as with no tracer. A sampled
// trace so costs about 1/N of a full one. SampleGap also takes a worker's
// next packet after a quiet spell, so that sampling thins only busy
// traffic. With several subscribers the tracer samples for the densest,
// and the Hub thins the others' streams down to their own rate.
//
// The scheduler's explanation is taken around the pick only while
// tracing (SchedInfo.Capture before it, SchedInfo.Picked after it). The
// dests' connection counters and the schedulers' state are read racily:
// other workers may pick or change a connection's state in between, so
// the figures are those of a moment, like the kernel's own counters read
// from /proc.
//
// # Subscribers
//
// A Hub shares one Tracer among any number of subscribers (gdirector
// trace clients on the control socket, the lab's narration, the status
// page), each with its own Filter and its own bounded queue; it installs
// the Tracer when the first subscriber comes and removes it (nil) when
// the last one goes. The control socket carries a subscription as a
// stream of Line values, one JSON object per line.
//
// # Output
//
// Record.Text shows, per packet, exactly the headers the director
// changed: the MACs (every method sets the next hop), the addresses and
// ports for NAT and FullNAT (with the TOA option FullNAT inserts into a
// handshake's last ACK), and for TUN the outer IPIP/ip6ip6 header added
// (director → real server) with the inner packet untouched. PcapWriter
// writes the frames of each event, as received and as sent, to a pcap
// file for tcpdump or Wireshark (truncated to SnapLen bytes).
package trace

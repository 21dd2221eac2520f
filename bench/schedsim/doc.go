// Package schedsim is `gdirector bench sched`: a deterministic
// discrete-event simulation that runs the real schedulers of package
// sched (sched.New and Update, then Schedule for every new connection,
// on vs.Service and vs.Dest values built in memory) over a synthetic
// workload, and reports how each of them spreads connections and what
// that does to response times.
//
// # Model
//
// Time is virtual (float64 seconds) and advances from event to event
// through one heap ordered by (time, sequence number); no goroutine runs
// and no real clock is read, so a run is a function of its Config alone.
// Connections arrive as a Poisson process at Load times the servers'
// total capacity. Each carries an amount of work drawn from an
// exponential or a Pareto (heavy-tailed) distribution with the configured
// mean (seconds of work on a server of speed 1) and comes from a client
// address drawn from a population of 512 addresses (198.51.100.0/24 and
// 203.0.113.0/24), uniformly or by a Zipf law over a shuffled ranking.
// That address is the flow's source and, for the schedulers that hash
// the packet's destination (dh, lblc, lblcr), its destination too, as if
// each client asked a cache cluster for its own origin: every hashing
// scheduler sees the same population of keys.
//
// A real server is a processor-sharing queue of its speed: its n
// connections each progress at speed/n (computed with a per-server
// virtual clock of attained service, so an event costs O(log n)). The
// counters the schedulers read are kept as the data plane keeps them: a
// connection is active (vs.Dest.ActiveConns) from its scheduling until
// its work is done, then inactive (InactConns) for Config.Inact seconds,
// a TIME_WAIT-like tail, and then gone. A Schedule that returns nil
// drops the connection (counted).
//
// A failure run takes one server out at Config.FailAt of the run, as a
// health checker would: "quiesce" sets its weight to 0 (keepalived's
// inhibit_on_failure) and "remove" deletes it from the service (the
// default of keepalived and ldirectord); either way the scheduler's
// Update is called, the server's connections in progress are lost and
// the service has the sh-fallback/mh-fallback flag so that sh and mh
// reschedule instead of dropping. The remap figure is, over the client
// addresses that were last sent to a surviving server before the failure
// and were seen again after it, the fraction whose first connection after
// the failure went to a different server.
//
// Every scheduler in a run sees the same arrivals, work amounts and
// client addresses (common random numbers: the workload is drawn from
// PCG streams of math/rand/v2 seeded from Config.Seed, independent of the
// scheduling), and twos's random sequence is seeded from Config.Seed too.
// The output of a seed is byte-identical from run to run on one platform
// (architectures that fuse floating-point multiply-adds may differ in
// the last digits). lblc and lblcr expire their cache on the process's
// monotonic clock; their expiry never acts within a simulation (it needs
// more than 16384 cached addresses or a day of idleness).
//
// # Live mode
//
// `gdirector bench sched --live` (root) replays every run through a real
// lab and prints both sides (RunLive, LiveReport). It builds the NAT lab
// of package lab with one real server per speed, each running
// `gdirector serve http --speed S`, whose GET /work?s=W answers after W
// seconds of work in a processor-sharing queue of speed S (lab.PSQueue:
// the simulator's server model, in real time), adds --clients addresses
// 198.51.100.10, .11, … to the client namespace and starts the daemon (the
// same binary, re-executed) with --rx recvmmsg (a TPACKET_V3 ring holds a
// lone frame up to 1 ms, which would add about 4 ms to every short
// connection). Both sides then use that population and the VIP as every
// connection's destination (Config.Clients, Config.Dst), so the hashing
// schedulers see the same keys; the live duration is cut so that a run
// stays under --max-conns, and --inact defaults to the daemon's TIME_WAIT
// (120 s), which is what keeps a closed connection inactive there.
//
// For each run, a fresh service VIP:8001, :8002, … gets the scheduler, the
// sh-fallback/mh-fallback flag and the dests with their weights, added
// last to first because the daemon walks its dests newest first: the
// daemon's hash tables are then the simulator's. The run's Workload is
// replayed open-loop in real time: each arrival, at its simulated time,
// is handed to one of --conc workers whose threads sit in the client
// namespace (an arrival that finds none free waits, counted as capped,
// and its wait counts in its response time), which connects from the
// arrival's client address, sends GET /work?s=W with Connection: close
// and reads the answer; X-Real-Server names the server. A failure run
// quiesces (ipvsadm -e … -w 0) or removes (-d) the server at the
// simulated time, as a health checker would; its connections in progress
// complete (the simulator counts them lost). Utilisation is the servers'
// busy time (GET /busy) over the run. aggregate computes the live figures
// as Run computes the simulated ones, plus errors, the client's lag
// (arrival to dial), stickiness and the agreement of each client's usual
// server with the simulation's. The lab is removed on return, also on
// error or Ctrl-C; a killed run leaves namespaces "<prefix>-*" that
// `gdirector lab --clean PREFIX` removes.
package schedsim

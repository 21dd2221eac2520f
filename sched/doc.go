// Package sched holds the IPVS schedulers: one file per kernel scheduler
// (rr, wrr, lc, wlc, sed, nq, sh, dh, lblc, lblcr, mh, fo, ovf, twos) and a
// plain registry map from the name ipvsadm uses to a constructor. New
// returns a fresh instance for one service; the control plane keeps that
// instance for the service's lifetime and calls Update whenever the
// service's dest list or a dest's weight changes, as the kernel calls a
// scheduler's add_dest/del_dest/upd_dest hooks.
//
// # Kernel parity
//
// Each scheduler reproduces the decisions of its
// net/netfilter/ipvs/ip_vs_*.c counterpart for the same destination list,
// weights, flags and connection counters, including its tie-breaking, its
// arithmetic (cross-multiplied load comparisons, hash functions, table
// sizes) and its quirks; each type's comment states the rules it follows.
// The list is svc.Dests walked from index 0 upwards, standing for the
// kernel's svc->destinations walked from the head. (The kernel links a new
// dest at the head of that list, so after "-a A; -a B" it walks B then A;
// the control plane decides the order of svc.Dests, see package ctl.)
//
// A dest is quiesced by weight 0 and marked overloaded by vs.DestOverload
// (its upper threshold); which of the two a scheduler honours, and where,
// is the kernel's choice for that scheduler. A dest removed from the
// service loses vs.DestAvailable, which the cache schedulers (lblc,
// lblcr) and dh check like the kernel checks IP_VS_DEST_F_AVAILABLE. The
// hashing schedulers read the service flags vs.SvcSchedFlag1 (sh-fallback,
// mh-fallback) and vs.SvcSchedFlag2 (sh-port, mh-port) from svc.Flags at
// each pick, and fold addresses to 32 bits as the kernel does (IPv6: the
// XOR of the four words), taking the family from the flow.
//
// twos draws random numbers, so its parity is in the algorithm and the
// distribution of its picks rather than in the exact sequence.
//
// # Concurrency and cost
//
// Schedule is called by many data-plane workers at once, reads weights,
// flags and counters with atomic loads, walks the dest list a bounded
// number of times and allocates nothing (the one exception is below).
// Update is called by one writer at a time, possibly while Schedule runs
// with the previous snapshot's Service, so Schedule never trusts a stored
// index without checking it against the list it is given.
//
//   - lc, wlc, sed, nq, fo and ovf keep no state and take no lock.
//   - sh, dh and mh build their hash table in Update and publish it
//     through an atomic pointer; Schedule takes no lock.
//   - twos advances its random sequence with one atomic add per pick.
//   - rr, wrr, lblc and lblcr keep their state behind their own
//     sync.Mutex, the counterpart of the kernel's per-service sched_lock,
//     which Schedule takes once.
//
// lblc and lblcr keep a cache of packet destination addresses with the
// kernel's periodic expiry. No timer runs: the expiry runs that fell due
// are performed, with their due times, at the next pick (see locTable),
// which gives the kernel's result. They read the monotonic clock at each
// pick (tests substitute a fake clock), and a pick for an address not yet
// in the cache takes an entry from a free list refilled 64 entries at a
// time, so new addresses cost one allocation per 64 (an lblcr set that
// grows past two dests allocates too); picks for cached addresses
// allocate nothing.
//
// # Inspection
//
// The schedulers with state (rr, wrr, sh, dh, mh, lblc, lblcr) implement
// Inspector: Inspect returns a copy of that state (position, current
// weight, bucket or lookup table, cache entries) as a State, whose String
// method renders it as text for debugging and teaching. The hashing ones
// (sh, dh, mh) also implement Slotter: Slot names the table entry a flow
// hashes to, without picking anything.
package sched

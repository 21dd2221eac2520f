// Package sched holds the IPVS schedulers: one file per kernel scheduler
// (rr.go, wrr.go, …) and a plain registry map from the name ipvsadm uses to
// a constructor. New returns a fresh instance for one service; the control
// plane keeps that instance for the service's lifetime and calls Update
// whenever the service's dest list or a dest's weight changes, as the
// kernel calls a scheduler's add_dest/del_dest/upd_dest hooks.
//
// # Kernel parity
//
// Each scheduler reproduces the selection sequence of its
// net/netfilter/ipvs/ip_vs_*.c counterpart for the same destination list.
// The list is svc.Dests walked from index 0 upwards, standing for the
// kernel's svc->destinations walked from the head. (The kernel links a new
// dest at the head of that list, so after "-a A; -a B" it walks B then A;
// the control plane decides the order of svc.Dests, see package ctl.)
//
// # Concurrency and cost
//
// Schedule is called by many data-plane workers at once. A scheduler with
// state keeps it behind its own sync.Mutex, the counterpart of the kernel's
// per-service sched_lock; Schedule takes it once, walks at most the dest
// list a bounded number of times, reads weights and flags with atomic
// loads, and allocates nothing. Update is called by one writer at a time,
// possibly while Schedule runs with the previous snapshot's Service, so
// Schedule never trusts a stored index without checking it against the list
// it is given.
package sched

package sched

// Seed restarts twos's random sequence at x, so that a run replays the
// same picks: the scheduler simulator (bench/schedsim) seeds it from its
// own seed to keep its output a function of that seed. The data plane
// never calls it; a fresh instance starts at a random point.
func (s *twos) Seed(x uint64) { s.seed(x) }

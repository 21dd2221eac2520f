package vs

import (
	"sync"
	"time"
)

// The rate estimator of IPVS (the kernel's net/netfilter/ipvs/ip_vs_est.c),
// kept with the counters it estimates as the kernel keeps struct
// ip_vs_estimator inside struct ip_vs_stats.
//
// Every EstimationInterval the control plane calls Stats.Estimate on every
// service and real server of the current table (package estimator does it
// for the daemon). Each call takes the difference of the five counters since
// the previous call, turns it into a per-second rate held in fixed point —
// connections and packets scaled by 2^10, bytes by 2^5 — and moves a running
// average a quarter of the way towards it:
//
//	avg += (delta << 9  - avg) >> 2   (conns, packets: delta/2 s × 2^10)
//	avg += (delta << 4  - avg) >> 2   (bytes:          delta/2 s × 2^5)
//
// in 64-bit arithmetic with an arithmetic (flooring) right shift of the
// signed difference, exactly as ip_vs_chain_estimation does. Rates reads the
// averages as ip_vs_read_estimator does: (avg + 0x1FF) >> 10 for conns and
// packets, (avg + 0xF) >> 5 for bytes. Under a steady load of r per second
// the average settles at 2r·2^9 − 3 (or 2r·2^4 − 3) and reads back as r; a
// burst shows as a quarter of its per-second rate after one interval and
// then decays by a quarter (rounded up) every interval.
//
// Zero resets the counters and the estimator together (the kernel's
// ip_vs_zero_stats and ip_vs_zero_estimator), under the estimator's lock,
// so that an estimation never sees the counters go backwards. The packet
// path only adds to the counters; nothing here runs per packet.
//
// SetScaled puts given averages in place (restored or synchronized state,
// tests) and, like Zero, restarts the counting from the current counters;
// the kernel has no counterpart (its estimates only ever come from its own
// passes).
//
// One difference from the kernel, on purpose: the kernel's listings show
// the counters as its estimator last summed them from the per-CPU copies
// (so ipvsadm --stats lags up to 2 s behind the traffic); here the counters
// are single atomics and listings show their current values.

// EstimationInterval is the period of the rate estimator (2 s, fixed: the
// scaling of the averages assumes it).
const EstimationInterval = 2 * time.Second

// Indexes of the five estimated quantities.
const (
	estConns = iota
	estInPkts
	estOutPkts
	estInBytes
	estOutBytes
	numEst
)

// estimator is the state of the rate estimator of one Stats (struct
// ip_vs_estimator): the counters at the previous estimation and the
// smoothed, scaled rates.
type estimator struct {
	mu   sync.Mutex
	last [numEst]uint64
	avg  [numEst]uint64 // cps, inpps, outpps ×2^10; inbps, outbps ×2^5
}

// Rates are the estimated rates of a Stats as ipvsadm --rate shows them:
// connections, incoming and outgoing packets per second, incoming and
// outgoing bytes per second. The JSON names are those of the status page
// and the remote API.
type Rates struct {
	CPS    uint64 `json:"cps"`
	InPPS  uint64 `json:"in_pps"`
	OutPPS uint64 `json:"out_pps"`
	InBPS  uint64 `json:"in_bps"`
	OutBPS uint64 `json:"out_bps"`
}

// Counters are a Stats read at one moment with its rates: the figures of
// ipvsadm -L -n --stats --exact and --rate, with the JSON names of the
// status page and the remote API.
type Counters struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"in_pkts"`
	OutPkts  uint64 `json:"out_pkts"`
	InBytes  uint64 `json:"in_bytes"`
	OutBytes uint64 `json:"out_bytes"`
	Rates    Rates  `json:"rates"`
}

// Read returns s's counters and rates; zero for a nil s.
func (s *Stats) Read() Counters {
	if s == nil {
		return Counters{}
	}
	return Counters{
		Conns: s.Conns.Load(), InPkts: s.InPkts.Load(), OutPkts: s.OutPkts.Load(),
		InBytes: s.InBytes.Load(), OutBytes: s.OutBytes.Load(),
		Rates: s.Rates(),
	}
}

// Add adds o to c (totals over services).
func (c *Counters) Add(o Counters) {
	c.Conns += o.Conns
	c.InPkts += o.InPkts
	c.OutPkts += o.OutPkts
	c.InBytes += o.InBytes
	c.OutBytes += o.OutBytes
	c.Rates.CPS += o.Rates.CPS
	c.Rates.InPPS += o.Rates.InPPS
	c.Rates.OutPPS += o.Rates.OutPPS
	c.Rates.InBPS += o.Rates.InBPS
	c.Rates.OutBPS += o.Rates.OutBPS
}

// ScaledRates are the estimator's raw averages: CPS, InPPS and OutPPS
// scaled by 2^10, InBPS and OutBPS by 2^5 (the kernel's e->cps … e->outbps).
type ScaledRates Rates

// rateShift is, per quantity, the left shift that turns a 2-second delta
// into a scaled per-second rate: ×2^10/2 for conns and packets, ×2^5/2 for
// bytes.
var rateShift = [numEst]uint{9, 9, 9, 4, 4}

// load reads the five counters.
func (s *Stats) load() [numEst]uint64 {
	return [numEst]uint64{s.Conns.Load(), s.InPkts.Load(), s.OutPkts.Load(), s.InBytes.Load(), s.OutBytes.Load()}
}

// Estimate runs one estimation over s: what the kernel's estimator does to
// one stats object every 2 seconds. It is meant to be called every
// EstimationInterval; it does not look at the time itself.
func (s *Stats) Estimate() {
	e := &s.est
	e.mu.Lock()
	n := s.load() // under the lock: Zero cannot interleave
	for i := range n {
		rate := (n[i] - e.last[i]) << rateShift[i]
		e.last[i] = n[i]
		e.avg[i] += uint64((int64(rate) - int64(e.avg[i])) >> 2)
	}
	e.mu.Unlock()
}

// Rates returns the current estimates, rounded as the kernel reports them.
func (s *Stats) Rates() Rates {
	a := s.Scaled()
	return Rates{
		CPS:    (a.CPS + 0x1FF) >> 10,
		InPPS:  (a.InPPS + 0x1FF) >> 10,
		OutPPS: (a.OutPPS + 0x1FF) >> 10,
		InBPS:  (a.InBPS + 0xF) >> 5,
		OutBPS: (a.OutBPS + 0xF) >> 5,
	}
}

// Scaled returns the estimator's raw scaled averages.
func (s *Stats) Scaled() ScaledRates {
	e := &s.est
	e.mu.Lock()
	a := e.avg
	e.mu.Unlock()
	return ScaledRates{CPS: a[estConns], InPPS: a[estInPkts], OutPPS: a[estOutPkts], InBPS: a[estInBytes], OutBPS: a[estOutBytes]}
}

// SetScaled makes r the estimator's averages, as if its passes had arrived
// at them, and restarts the counting from the counters as they are now (as
// Zero does, without zeroing the counters): the next Estimate moves r with
// the traffic counted after the call only. It is how estimates carried from
// elsewhere — an earlier run being restored, another director's state being
// synchronized, a test that needs given rates — are put in place. Store the
// counters first, then call SetScaled: a counter stored lower or higher than
// the estimator last saw would otherwise read as a spike (or, going back, as
// a wrapped-around one) at the next pass.
//
// r is in the estimator's fixed point (see ScaledRates); Rates reads it back
// rounded, so that, for example, InPPS 512 reads as 0 packets per second and
// 513 as 1.
func (s *Stats) SetScaled(r ScaledRates) {
	e := &s.est
	e.mu.Lock()
	e.last = s.load() // under the lock, as in Estimate
	e.avg = [numEst]uint64{r.CPS, r.InPPS, r.OutPPS, r.InBPS, r.OutBPS}
	e.mu.Unlock()
}

package vs

import (
	"sync"
	"testing"
)

// add bumps every counter of s by the given deltas.
func add(s *Stats, d [numEst]uint64) {
	s.Conns.Add(d[0])
	s.InPkts.Add(d[1])
	s.OutPkts.Add(d[2])
	s.InBytes.Add(d[3])
	s.OutBytes.Add(d[4])
}

// The vectors below are worked out by hand from the kernel's formulas
// (ip_vs_chain_estimation, ip_vs_read_estimator):
//
//	conns, packets: avg += ((delta << 9) - avg) >> 2,  read (avg + 511) >> 10
//	bytes:          avg += ((delta << 4) - avg) >> 2,  read (avg + 15) >> 5
//
// with a flooring (arithmetic) shift of the signed difference.
func TestEstimateKernelVectors(t *testing.T) {
	type step struct {
		delta  [numEst]uint64 // counter increase before the pass
		scaled ScaledRates    // averages after the pass
		rates  Rates          // as ipvsadm shows them
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"one pass then decay", []step{
			// 5 conns: 5<<9 = 2560, avg 2560>>2 = 640, read (640+511)>>10 = 1.
			// 10 in: 5120 → 1280 → (1280+511)>>10 = 1.
			// 8 out: 4096 → 1024 → 1535>>10 = 1.
			// 1000 in bytes: 1000<<4 = 16000 → 4000 → 4015>>5 = 125.
			// 12345 out bytes: 197520 → 49380 → 49395>>5 = 1543.
			{[numEst]uint64{5, 10, 8, 1000, 12345}, ScaledRates{640, 1280, 1024, 4000, 49380}, Rates{1, 1, 1, 125, 1543}},
			// Nothing new: avg += (0 - avg) >> 2, i.e. minus a quarter
			// rounded up: 640-160, 1280-320, 1024-256, 4000-1000,
			// 49380-12345. Reads (480+511)>>10 = 0, 1471>>10 = 1,
			// 1279>>10 = 1, 3015>>5 = 94, 37050>>5 = 1157.
			{[numEst]uint64{}, ScaledRates{480, 960, 768, 3000, 37035}, Rates{0, 1, 1, 94, 1157}},
			// 480-120, 960-240, 768-192, 3000-750, 37035-9259 (-37035>>2
			// = -9259: floor of -9258.75). Reads 871>>10 = 0, 1231>>10
			// = 1, 1087>>10 = 1, 2265>>5 = 70, 27791>>5 = 868.
			{[numEst]uint64{}, ScaledRates{360, 720, 576, 2250, 27776}, Rates{0, 1, 1, 70, 868}},
		}},
		{"rounding boundaries", []step{
			// 4 conns in 2 s: 2048>>2 = 512, (512+511)>>10 = 0: half a
			// connection per second rounds down. 5: 640 → 1.
			// 4 bytes: 64>>2 = 16, (16+15)>>5 = 0; 5 bytes: 20 → 35>>5 = 1.
			{[numEst]uint64{4, 5, 0, 4, 5}, ScaledRates{512, 640, 0, 16, 20}, Rates{0, 1, 0, 0, 1}},
		}},
		{"flooring shift decays to zero", []step{
			// 1 byte: avg 4. Then 4 + (-4>>2) = 3, 3 + (-3>>2 = -1) = 2,
			// 1, 0: a truncating shift would stop at 3.
			{[numEst]uint64{0, 0, 0, 1, 0}, ScaledRates{InBPS: 4}, Rates{}},
			{[numEst]uint64{}, ScaledRates{InBPS: 3}, Rates{}},
			{[numEst]uint64{}, ScaledRates{InBPS: 2}, Rates{}},
			{[numEst]uint64{}, ScaledRates{InBPS: 1}, Rates{}},
			{[numEst]uint64{}, ScaledRates{}, Rates{}},
			{[numEst]uint64{}, ScaledRates{}, Rates{}},
		}},
		{"rise over passes", []step{
			// 100 packets every 2 s (50/s): target 100<<9 = 51200.
			// 0 + 12800 = 12800 (reads 13311>>10 = 12),
			// + (38400>>2 = 9600) = 22400 (22911>>10 = 22),
			// + (28800>>2 = 7200) = 29600 (30111>>10 = 29).
			{[numEst]uint64{0, 100, 0, 0, 0}, ScaledRates{InPPS: 12800}, Rates{InPPS: 12}},
			{[numEst]uint64{0, 100, 0, 0, 0}, ScaledRates{InPPS: 22400}, Rates{InPPS: 22}},
			{[numEst]uint64{0, 100, 0, 0, 0}, ScaledRates{InPPS: 29600}, Rates{InPPS: 29}},
		}},
		{"64-bit byte rates", []step{
			// 2^40 bytes in 2 s: 2^44 → avg 2^42, read (2^42+15)>>5 = 2^37.
			{[numEst]uint64{0, 0, 0, 1 << 40, 0}, ScaledRates{InBPS: 1 << 42}, Rates{InBPS: 1 << 37}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Stats
			for i, st := range tc.steps {
				add(&s, st.delta)
				s.Estimate()
				if got := s.Scaled(); got != st.scaled {
					t.Errorf("pass %d: scaled %+v, want %+v", i+1, got, st.scaled)
				}
				if got := s.Rates(); got != st.rates {
					t.Errorf("pass %d: rates %+v, want %+v", i+1, got, st.rates)
				}
			}
		})
	}
}

// TestEstimateSteady: under a steady load of r per second the average
// settles 3 below the target (d → ceil(3d/4) stops at 3) and reads back as
// exactly r; from above it settles on the target itself.
func TestEstimateSteady(t *testing.T) {
	const cps, pps, opps, bps, obps = 7, 1000, 999, 1_000_000, 123_456_789
	var s Stats
	for range 120 {
		add(&s, [numEst]uint64{2 * cps, 2 * pps, 2 * opps, 2 * bps, 2 * obps})
		s.Estimate()
	}
	want := ScaledRates{2*cps<<9 - 3, 2*pps<<9 - 3, 2*opps<<9 - 3, 2*bps<<4 - 3, 2*obps<<4 - 3}
	if got := s.Scaled(); got != want {
		t.Errorf("scaled %+v, want %+v", got, want)
	}
	if got := s.Rates(); got != (Rates{cps, pps, opps, bps, obps}) {
		t.Errorf("rates %+v", got)
	}
	// Halve the load: from above the average reaches the new target.
	for range 120 {
		add(&s, [numEst]uint64{cps, pps, opps, bps, obps})
		s.Estimate()
	}
	want = ScaledRates{cps << 9, pps << 9, opps << 9, bps << 4, obps << 4}
	if got := s.Scaled(); got != want {
		t.Errorf("after halving: scaled %+v, want %+v", got, want)
	}
	// 3.5/s reads (3584+511)>>10 = 3 (half rounds down), 1000 packets
	// per 2 s (512000+511)>>10 = 500, 999 per 2 s 511999>>10 = 499,
	// 61728394.5 B/s (1975308624+15)>>5 = 61728394.
	if got := s.Rates(); got != (Rates{3, 500, 499, 500_000, 61_728_394}) {
		t.Errorf("after halving: rates %+v", got)
	}
}

// TestZeroResetsEstimator: -Z zeroes the rates with the counters
// (ip_vs_zero_estimator), and the next pass starts from the zeroed counters
// instead of seeing them go backwards.
func TestZeroResetsEstimator(t *testing.T) {
	var s Stats
	add(&s, [numEst]uint64{100, 1000, 1000, 1 << 20, 1 << 20})
	s.Estimate()
	if s.Rates() == (Rates{}) {
		t.Fatal("no rates before zeroing")
	}
	s.Zero()
	if s.Scaled() != (ScaledRates{}) || s.Rates() != (Rates{}) || s.load() != [numEst]uint64{} {
		t.Fatalf("after Zero: scaled %+v counters %v", s.Scaled(), s.load())
	}
	add(&s, [numEst]uint64{5, 0, 0, 0, 0})
	s.Estimate()
	if got := s.Scaled(); got != (ScaledRates{CPS: 640}) {
		t.Fatalf("first pass after Zero: %+v, want only CPS 640", got)
	}
}

// TestEstimateConcurrent: the data plane adds while the estimator and -Z
// run; with -race this checks the locking, and the rates stay within what
// the counters can produce (no wrap-around from a counter seen going back).
func TestEstimateConcurrent(t *testing.T) {
	var s Stats
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				add(&s, [numEst]uint64{1, 1, 1, 100, 100})
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%7 == 0 {
				s.Zero()
			}
			s.Estimate()
			if r := s.Rates(); r.InBPS > 4*20000*100*256 {
				t.Errorf("impossible rate %+v", r)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-done
}

// TestSetScaled: SetScaled puts the given averages in place, Rates reads
// them rounded as the kernel does, the counters stay as they are, and the
// next pass starts from them — traffic counted before the call is not
// estimated again.
func TestSetScaled(t *testing.T) {
	var s Stats
	before := [numEst]uint64{100, 1000, 900, 1 << 20, 1 << 19} // never estimated
	add(&s, before)
	r := ScaledRates{CPS: 301, InPPS: 1816, OutPPS: 0, InBPS: 6183, OutBPS: 0}
	s.SetScaled(r)
	if got := s.Scaled(); got != r {
		t.Fatalf("scaled %+v, want %+v", got, r)
	}
	// (301+511)>>10 = 0, (1816+511)>>10 = 2, (6183+15)>>5 = 193.
	if got := s.Rates(); got != (Rates{0, 2, 0, 193, 0}) {
		t.Fatalf("rates %+v", got)
	}
	if s.load() != before {
		t.Fatalf("counters changed: %v", s.load())
	}
	// No traffic since the call: a quarter off, rounded up (301-76,
	// 1816-454, 6183-1546); the 100 conns etc. added before the call would
	// have pushed CPS to 301 + (51200-301)>>2 = 13025.
	s.Estimate()
	if got := s.Scaled(); got != (ScaledRates{CPS: 225, InPPS: 1362, InBPS: 4637}) {
		t.Fatalf("after a quiet pass: %+v", got)
	}
	// Then traffic: 2 conns, 4 packets, 400 bytes in 2 s.
	// 225 + (1024-225)>>2 = 424, 1362 + (2048-1362)>>2 = 1533,
	// 4637 + (6400-4637)>>2 = 5077; reads 0, 1, (5077+15)>>5 = 159.
	add(&s, [numEst]uint64{2, 4, 0, 400, 0})
	s.Estimate()
	if got := s.Scaled(); got != (ScaledRates{CPS: 424, InPPS: 1533, InBPS: 5077}) {
		t.Fatalf("after a busy pass: %+v", got)
	}
	if got := s.Rates(); got != (Rates{0, 1, 0, 159, 0}) {
		t.Fatalf("after a busy pass: rates %+v", got)
	}
}

// TestSetScaledRounding: the reading of set averages at the rounding
// boundaries: half a unit rounds down, anything above it up.
func TestSetScaledRounding(t *testing.T) {
	var s Stats
	s.SetScaled(ScaledRates{CPS: 512, InPPS: 513, OutPPS: 1537, InBPS: 16, OutBPS: 17})
	// (512+511)>>10 = 0, 1024>>10 = 1, 2048>>10 = 2, 31>>5 = 0, 32>>5 = 1.
	if got := s.Rates(); got != (Rates{0, 1, 2, 0, 1}) {
		t.Errorf("rates %+v", got)
	}
	s.SetScaled(ScaledRates{})
	if s.Scaled() != (ScaledRates{}) || s.Rates() != (Rates{}) {
		t.Errorf("not cleared: %+v", s.Scaled())
	}
}

// TestSetScaledRestore: counters stored below what the estimator last saw
// (state restored from elsewhere), then SetScaled: the next pass decays the
// set averages instead of reading the counters' step back as a wrapped,
// enormous rate.
func TestSetScaledRestore(t *testing.T) {
	var s Stats
	add(&s, [numEst]uint64{1000, 1000, 1000, 1 << 30, 1 << 30})
	s.Estimate()
	s.Conns.Store(7)
	s.InPkts.Store(70)
	s.OutPkts.Store(60)
	s.InBytes.Store(7000)
	s.OutBytes.Store(6000)
	s.SetScaled(ScaledRates{CPS: 4096, InPPS: 4096, OutPPS: 4096, InBPS: 4096, OutBPS: 4096})
	s.Estimate()
	want := ScaledRates{CPS: 3072, InPPS: 3072, OutPPS: 3072, InBPS: 3072, OutBPS: 3072}
	if got := s.Scaled(); got != want {
		t.Fatalf("after restore and a quiet pass: %+v, want %+v", got, want)
	}
	if s.load() != [numEst]uint64{7, 70, 60, 7000, 6000} {
		t.Fatalf("counters %v", s.load())
	}
}

// TestSetScaledConcurrent: SetScaled against the data plane and the
// estimator; with -race this checks the locking, and no pass ever sees the
// counters behind the estimator's last reading.
func TestSetScaledConcurrent(t *testing.T) {
	var s Stats
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20000 {
				add(&s, [numEst]uint64{1, 1, 1, 100, 100})
			}
		}()
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%5 == 0 {
				s.SetScaled(ScaledRates{CPS: 1024, InBPS: 32})
			}
			s.Estimate()
			if r := s.Rates(); r.InBPS > 4*20000*100*256 {
				t.Errorf("impossible rate %+v", r)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-done
}

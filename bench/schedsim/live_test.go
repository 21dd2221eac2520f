package schedsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestWorkloadReplay: the workload the live mode replays is the one Run
// simulates: the same arrivals in the same order, the same clients.
func TestWorkloadReplay(t *testing.T) {
	c := small("sh")
	c.Clients = LiveClients(16)
	c.Dst = liveVIP
	a, b := NewWorkload(&c, Exp), NewWorkload(&c, Exp)
	if !slices.Equal(a.Clients, b.Clients) || len(a.Clients) != 16 {
		t.Fatalf("populations differ or wrong size: %v", a.Clients)
	}
	var n uint64
	last := 0.0
	for a.Peek() <= c.Duration {
		x, y := a.Next(), b.Next()
		if x != y {
			t.Fatalf("arrival %d differs: %+v vs %+v", n, x, y)
		}
		if x.At < last || x.K < 0 || x.K >= 16 || x.Work <= 0 || x.Seq != n+1 {
			t.Fatalf("bad arrival %+v after %v", x, last)
		}
		last = x.At
		n++
	}
	r := run(t, &c, "sh", Exp, false)
	if r.Offered != n {
		t.Fatalf("Run offered %d connections, the workload has %d", r.Offered, n)
	}
	// Every client of sh stays on one server, and PerClient adds up.
	var sum uint64
	for _, row := range r.PerClient {
		for _, x := range row {
			sum += x
		}
	}
	if sum != total(r) || r.Sticky() != 1 {
		t.Fatalf("PerClient sums to %d (want %d), sticky %v (want 1)", sum, total(r), r.Sticky())
	}
	if rr := run(t, &c, "rr", Exp, false); rr.Sticky() > 0.5 {
		t.Fatalf("rr sticky %v: rr should spread a client's connections", rr.Sticky())
	}
}

func TestLiveClientsAndPrepare(t *testing.T) {
	cl := LiveClients(MaxLiveClients)
	if cl[0] != netip.MustParseAddr("198.51.100.10") || cl[len(cl)-1] != netip.MustParseAddr("198.51.100.249") {
		t.Fatalf("clients %v … %v", cl[0], cl[len(cl)-1])
	}
	c := Defaults() // speeds 1,1,2,4: 640 connections/s at 80% of 10 ms
	c.Live = LiveDefaults()
	c.Live.On = true
	c.Duration = 10
	c.Live.MaxConns = 3200
	note := PrepareLive(&c)
	if c.Duration != 4.5 || !strings.Contains(note, "cut from 10 s to 4.5 s") {
		t.Fatalf("duration %v, note %q; want 4.5 s (90%% of 3200 at 640/s)", c.Duration, note)
	}
	if len(c.Clients) != 64 || c.Dst != liveVIP {
		t.Fatalf("clients %d, dst %v", len(c.Clients), c.Dst)
	}
	c.Duration = 1
	if note := PrepareLive(&c); note != "" || c.Duration != 1 {
		t.Fatalf("short run changed: %v %q", c.Duration, note)
	}
}

// TestAggregate checks the live arithmetic on a hand-made run: three
// servers, four clients, one failed connection, one completed after the
// end, a failure of s1 at 5 s.
func TestAggregate(t *testing.T) {
	c := Defaults()
	c.Speeds, c.Weights = []float64{1, 2, 4}, []int32{1, 2, 4}
	c.Duration, c.FailAt, c.Fail = 10, 0.5, 1
	arr := []Arrival{
		{At: 1, K: 0}, {At: 2, K: 1}, {At: 3, K: 2}, {At: 4, K: 3}, // before the failure
		{At: 6, K: 0}, {At: 7, K: 1}, {At: 8, K: 2}, {At: 9, K: 3}, {At: 9.5, K: 2},
	}
	rec := []connRec{
		{server: 0, doneAt: 1.010}, {server: 1, doneAt: 2.020}, {server: 2, doneAt: 3.030}, {server: 2, doneAt: 4.040},
		{server: 1, doneAt: 6.050}, {server: 1, doneAt: 7.060}, {server: -1, err: errors.New("reset")},
		{server: 1, doneAt: 9.070}, {server: 2, doneAt: 10.5}, // after the end: open
	}
	busy := []float64{1, 2.5, 20}
	r := aggregate(&c, "wlc", Exp, true, 4, arr, rec, busy)
	if r.Offered != 9 || r.Errors != 1 || r.Err != "reset" || r.Open != 1 || r.Done != 7 {
		t.Fatalf("offered %d errors %d (%q) open %d done %d", r.Offered, r.Errors, r.Err, r.Open, r.Done)
	}
	if !slices.Equal(r.Count, []uint64{1, 4, 3}) {
		t.Fatalf("count %v", r.Count)
	}
	wantShare := []float64{1.0 / 8, 4.0 / 8, 3.0 / 8}
	for i := range wantShare {
		if math.Abs(r.Share[i]-wantShare[i]) > 1e-12 {
			t.Fatalf("share %v, want %v", r.Share, wantShare)
		}
	}
	if math.Abs(r.CVShare-cv(wantShare)) > 1e-12 {
		t.Fatalf("cv share %v", r.CVShare)
	}
	// Response times 10..70 ms without the error and the open one:
	// 10, 20, 30, 40, 50, 60, 70 → mean 40 ms, p99 the largest.
	if math.Abs(r.MeanResp-0.040) > 1e-9 || math.Abs(r.P99Resp-0.070) > 1e-9 {
		t.Fatalf("mean %v p99 %v", r.MeanResp, r.P99Resp)
	}
	if !slices.Equal(r.Util, []float64{0.1, 0.25, 1}) { // 20 s busy in a 10 s run clamps to 1
		t.Fatalf("util %v", r.Util)
	}
	// Remap: client 0 was on s1 (failed): not counted. Client 1: s2 → s2.
	// Client 2: s3 → an error (skipped), then s3 (the open one): stayed.
	// Client 3: s3 → s2: moved.
	if r.Seen != 3 || r.Moved != 1 || math.Abs(r.Remap()-1.0/3) > 1e-12 {
		t.Fatalf("seen %d moved %d", r.Seen, r.Moved)
	}
	// Sticky: of the clients with two answered connections, 1 (s2, s2)
	// and 2 (s3, s3) stayed, 0 (s1, s2) and 3 (s3, s2) did not.
	if got := r.Sticky(); got != 0.5 {
		t.Fatalf("sticky %v, want 1/2", got)
	}
}

func TestSourcePorts(t *testing.T) {
	arr := []Arrival{{K: 0}, {K: 1}, {K: 0}, {K: 0}, {K: 1}}
	next := make([]int, 2)
	if got := sourcePorts(arr, next); !slices.Equal(got, []uint16{10000, 10000, 10001, 10002, 10001}) {
		t.Fatalf("ports %v", got)
	}
	// The next run goes on where this one stopped.
	if got := sourcePorts(arr[:2], next); !slices.Equal(got, []uint16{10003, 10002}) {
		t.Fatalf("second run's ports %v", got)
	}
	many := make([]Arrival, livePorts+1)
	got := sourcePorts(many, make([]int, 1))
	if got[livePorts-1] != liveFirstPort+livePorts-1 || got[livePorts] != liveFirstPort {
		t.Fatalf("ports wrap at %d, %d", got[livePorts-1], got[livePorts])
	}
}

func TestAgreement(t *testing.T) {
	sim := [][]uint64{{3, 0}, {0, 2}, {1, 1}, {0, 0}}
	live := [][]uint64{{2, 1}, {1, 0}, {1, 1}, {5, 0}}
	// Client 0 agrees (s1), 1 does not, 2 agrees (tie → s1 both), 3 is
	// not seen in the simulation.
	if got := agreement(sim, live); math.Abs(got-2.0/3) > 1e-12 {
		t.Fatalf("agreement %v, want 2/3", got)
	}
	if got := agreement(nil, live); got != 0 {
		t.Fatalf("agreement with nothing %v", got)
	}
}

// TestLiveReportFiles renders a live report made of a simulation and a
// hand-made live side: table, CSV and JSON agree on the figures, and the
// plots render.
func TestLiveReportFiles(t *testing.T) {
	c := small("rr", "sh")
	c.Speeds, c.Weights = []float64{1, 2, 4}, []int32{1, 2, 4}
	c.Dists = []Dist{Exp}
	c.Duration = 2
	c.Live = LiveDefaults()
	c.Live.On = true
	PrepareLive(&c)
	sim, err := Simulate(c)
	if err != nil {
		t.Fatal(err)
	}
	lr := &LiveReport{Sim: sim}
	for _, s := range sim.Steady {
		l := &LiveResult{Result: *s, Errors: 2, Agree: 1}
		l.MeanResp, l.P99Resp = s.MeanResp*1.5, s.P99Resp*2
		lr.Steady = append(lr.Steady, l)
	}
	for _, s := range sim.Failure {
		lr.Failure = append(lr.Failure, &LiveResult{Result: *s})
	}
	var tab, csvb, js bytes.Buffer
	if err := lr.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	if err := lr.WriteCSV(&csvb); err != nil {
		t.Fatal(err)
	}
	if err := lr.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--live", "1.50", "2.00", "failure: s1", "64 clients 198.51.100.10+"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}
	lines := strings.Split(strings.TrimSpace(csvb.String()), "\n")
	if len(lines) != 1+len(sim.Steady)+len(sim.Failure) || !strings.Contains(lines[1], "1.500000,2.000000") {
		t.Fatalf("csv:\n%s", csvb.String())
	}
	var out struct {
		Runs []struct {
			Sched string
			Run   string
			Sim   struct {
				P99MS float64 `json:"p99_ms"`
			}
			Live struct {
				P99MS   float64 `json:"p99_ms"`
				Dropped uint64
			}
		}
	}
	if err := json.Unmarshal(js.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Runs) != len(lines)-1 || out.Runs[0].Sched != "rr" || out.Runs[0].Live.Dropped != 2 ||
		math.Abs(out.Runs[0].Live.P99MS-2*out.Runs[0].Sim.P99MS) > 1e-9 {
		t.Fatalf("json runs %+v", out.Runs)
	}
	files, err := lr.WritePlots(t.TempDir())
	if err != nil || len(files) != 4 {
		t.Fatalf("plots %v: %v", files, err)
	}
}

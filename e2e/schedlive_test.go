package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
)

// TestBenchSchedLive runs `gdirector bench sched --live` on a tiny
// workload (3 servers of speeds 1, 2, 4, schedulers rr, wlc and sh, about
// 120 connections each) and checks that the live replay agrees with the
// simulation qualitatively: rr gives every server the same share, wlc
// gives the fast server more than the slow one, sh keeps every client on
// one server (the one the simulation picked), nothing fails, every file
// is written and the lab is gone afterwards.
func TestBenchSchedLive(t *testing.T) {
	roottest(t)
	prefix := fmt.Sprintf("gdsl%d", os.Getpid()%100000)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "bench", "sched", "--live", "--prefix", prefix,
		"--speeds", "1,2,4", "--sched", "rr,wlc,sh", "--dist", "exp", "--fail", "0",
		"--load", "0.6", "--mean", "0.02", "--duration", "0.6", "--zipf", "0",
		"--clients", "12", "--max-conns", "400", "--out", out)
	t.Cleanup(func() {
		for _, ns := range mustList(t) {
			if strings.HasPrefix(ns, prefix+"-") {
				t.Errorf("namespace %s left behind", ns)
				_ = nsutil.Delete(ns)
			}
		}
	})
	start := time.Now()
	stdout, err := cmd.Output()
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if err != nil {
		t.Fatalf("bench sched --live: %v\n%s\n%s", err, stdout, stderr)
	}
	t.Logf("took %v\n%s", time.Since(start).Round(time.Millisecond), stdout)
	for _, f := range []string{"live-table.txt", "live.csv", "live.json", "live-p99.svg", "live-p99.png", "live-share.svg", "live-share.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "live.json"))
	if err != nil {
		t.Fatal(err)
	}
	type side struct {
		Offered uint64    `json:"offered"`
		Dropped uint64    `json:"dropped"`
		Done    uint64    `json:"done"`
		P99MS   float64   `json:"p99_ms"`
		Share   []float64 `json:"share"`
		Sticky  float64   `json:"sticky"`
		Agree   *float64  `json:"agree"`
	}
	var rep struct {
		Runs []struct {
			Sched string `json:"sched"`
			Sim   side   `json:"sim"`
			Live  side   `json:"live"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 3 {
		t.Fatalf("%d runs, want rr, wlc, sh", len(rep.Runs))
	}
	for _, r := range rep.Runs {
		l := r.Live
		if l.Offered < 80 || l.Offered != r.Sim.Offered {
			t.Errorf("%s: live offered %d, sim %d; want the same ~120", r.Sched, l.Offered, r.Sim.Offered)
		}
		if l.Dropped != 0 || l.Done == 0 || len(l.Share) != 3 || l.P99MS <= 0 {
			t.Errorf("%s: live %+v", r.Sched, l)
			continue
		}
		switch r.Sched {
		case "rr": // strictly rotating: equal shares up to one connection
			for i, s := range l.Share {
				if s < 0.30 || s > 0.37 {
					t.Errorf("rr: live share of s%d %.3f, want 1/3", i+1, s)
				}
			}
		case "wlc":
			if !(l.Share[2] > l.Share[0]) || !(r.Sim.Share[2] > r.Sim.Share[0]) {
				t.Errorf("wlc: shares sim %v live %v: the fast s3 should get more than s1", r.Sim.Share, l.Share)
			}
		case "sh":
			if l.Sticky != 1 || r.Sim.Sticky != 1 {
				t.Errorf("sh: sticky sim %v live %v, want every client on one server", r.Sim.Sticky, l.Sticky)
			}
			if l.Agree == nil || *l.Agree != 1 {
				t.Errorf("sh: agreement %v: the daemon's sh should pick the simulator's server for every client", l.Agree)
			}
		}
	}
}

func mustList(t *testing.T) []string {
	t.Helper()
	names, err := nsutil.List()
	if err != nil {
		t.Fatal(err)
	}
	return names
}

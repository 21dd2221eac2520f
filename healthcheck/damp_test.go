package healthcheck

import (
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
)

func TestDamper(t *testing.T) {
	// Each case: the state to start from, retry and rise, then the
	// attempts ('+' pass, '-' fail) and after each the expected state
	// ('U' up, 'D' down) and next delay ('i' interval, 'r' retry delay).
	for _, tc := range []struct {
		name        string
		up          bool
		retry, rise int
		attempts    string
		want        string // per attempt: state and delay
	}{
		{"up, no retry", true, 0, 1, "+-+", "Ui Di Ui"},
		{"up, 2 retries", true, 2, 1, "+---", "Ui Ur Ur Di"},
		{"a pass resets the retries", true, 2, 1, "--+---", "Ur Ur Ui Ur Ur Di"},
		{"down does not retry", false, 3, 1, "--+", "Di Di Ui"},
		{"rise 3", false, 0, 3, "++-+++", "Di Di Di Di Di Ui"},
		{"rise 0 is 1", false, 0, 0, "+", "Ui"},
		{"retries then rise", true, 1, 2, "--++-", "Ur Di Di Ui Ur"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := damper{up: tc.up}
			got := ""
			for i, a := range tc.attempts {
				_, retrying := d.step(a == '+', tc.retry, tc.rise)
				if i > 0 {
					got += " "
				}
				got += map[bool]string{true: "U", false: "D"}[d.up] + map[bool]string{true: "r", false: "i"}[retrying]
			}
			if got != tc.want {
				t.Errorf("after %q: %s, want %s", tc.attempts, got, tc.want)
			}
		})
	}
}

func TestDamperChanged(t *testing.T) {
	d := damper{up: true}
	if ch, _ := d.step(false, 0, 1); !ch {
		t.Error("up → down not reported")
	}
	if ch, _ := d.step(false, 0, 1); ch {
		t.Error("down → down reported as a change")
	}
	if ch, _ := d.step(true, 0, 1); !ch || !d.up {
		t.Error("down → up not reported")
	}
	if !d.hasRun {
		t.Error("hasRun not set")
	}
}

func TestNextDelay(t *testing.T) {
	s := resolve(config.Check{Kind: config.CheckTCP, Interval: 10 * time.Second, DelayBeforeRetry: 2 * time.Second}, loopbackDest)
	if next(false, &s) != 10*time.Second || next(true, &s) != 2*time.Second {
		t.Errorf("next: %v %v", next(false, &s), next(true, &s))
	}
}

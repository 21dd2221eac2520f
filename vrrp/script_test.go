package vrrp

import (
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/internal/roottest"
)

// TestScriptRecord: the rise/fall counting of keepalived's vrrp_script,
// run by run: a script without init_fail is decided by its first run (one
// success or one failure is enough); after that Rise successes in a row
// make a failed script good and Fall failures in a row a good one failed,
// an outcome in between resetting the count.
func TestScriptRecord(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rise, fall int
		initFail   bool
		runs       string // s: success, f: failure
		want       string // the status after each run: i, g, f
	}{
		{"first success decides", 3, 3, false, "s", "g"},
		{"first failure decides", 3, 3, false, "f", "f"},
		{"rise 1 fall 1", 1, 1, false, "sfsf", "gfgf"},
		{"fall 2", 1, 2, false, "sfsffs", "ggggfg"},
		{"rise 3 after a failure", 3, 1, false, "fssfsss", "ffffffg"},
		{"fall 3 reset by a success", 1, 3, false, "sffsfff", "ggggggf"},
		{"init_fail needs rise successes", 2, 1, true, "ss", "fg"},
		{"init_fail rise 1", 1, 1, true, "fs", "fg"},
	} {
		r := &scriptRunner{cfg: ScriptConfig{Name: "t", Command: "true", Rise: tc.rise, Fall: tc.fall, InitFail: tc.initFail}.withDefaults(),
			first: make(chan struct{})}
		if tc.initFail {
			r.status = ScriptFailed
		} else {
			r.result = tc.rise - 1
		}
		var got strings.Builder
		for _, o := range tc.runs {
			st, _ := r.record(o == 's')
			got.WriteByte(st.String()[0])
		}
		if got.String() != tc.want {
			t.Errorf("%s: statuses %s, want %s", tc.name, got.String(), tc.want)
		}
	}
}

// TestTrackedScripts: scripts move the priority like interfaces, a
// script without a result yet moves nothing, weight 0 faults while the
// script is failed (while it succeeds, reversed).
func TestTrackedScripts(t *testing.T) {
	good := tracked{what: "script ok", script: true, on: true, known: true}
	bad := tracked{what: "script ko", script: true, known: true}
	unknown := tracked{what: "script new", script: true}
	w := func(t tracked, weight int, reverse bool) tracked { t.weight, t.reverse = weight, reverse; return t }
	for _, tc := range []struct {
		name   string
		items  []tracked
		prio   uint8
		faulty []string
	}{
		{"good weight 0", []tracked{good}, 100, nil},
		{"failed weight 0", []tracked{bad}, 100, []string{"script ko failed"}},
		{"reverse weight 0 faults while good", []tracked{w(good, 0, true), w(bad, 0, true)}, 100, []string{"script ok succeeding"}},
		{"no result yet", []tracked{unknown, w(unknown, 50, false), w(unknown, -50, false)}, 100, nil},
		{"positive while good", []tracked{w(good, 20, false), w(bad, 30, false)}, 120, nil},
		{"negative while failed", []tracked{w(good, -20, false), w(bad, -30, false)}, 70, nil},
		{"reverse", []tracked{w(good, 20, true), w(bad, -30, true)}, 110, nil},
		{"owner", []tracked{w(bad, -30, false), bad}, 255, []string{"script ko failed"}},
	} {
		base := uint8(100)
		if tc.name == "owner" {
			base = 255
		}
		prio, faulty := effective(base, tc.items)
		if prio != tc.prio || !slices.Equal(faulty, tc.faulty) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, prio, faulty, tc.prio, tc.faulty)
		}
	}
}

// TestScriptRunner runs real scripts: the status follows a file the
// script tests, every change reaches the subscribers, a runner is shared
// by equal configurations and stops with its last user, and a run that
// outlasts its timeout fails and loses its whole process group.
func TestScriptRunner(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "up")
	cfg := ScriptConfig{Name: "chk", Command: "test -e " + flag, Interval: 20 * time.Millisecond, Fall: 2}
	r, err := acquireScript(cfg, "/bin/sh", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan ScriptStatus, 16)
	cancel := r.subscribe(func(st ScriptStatus) { events <- st })
	<-r.first
	if st := r.Status(); st != ScriptFailed {
		t.Fatalf("status %v without the file, want failed", st)
	}
	if r2, err := acquireScript(cfg, "/bin/sh", t.Logf); err != nil || r2 != r {
		t.Fatalf("the same script got another runner (%v)", err)
	} else {
		releaseScript(r2)
	}
	next := func(want ScriptStatus) {
		t.Helper()
		select {
		case st := <-events:
			if st != want {
				t.Fatalf("event %v, want %v", st, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event (want %v)", want)
		}
	}
	if st := <-events; st != ScriptFailed { // the first run's decision
		t.Fatalf("first event %v", st)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	next(ScriptGood)
	os.Remove(flag)
	next(ScriptFailed) // after two failures (fall 2)
	r.mu.Lock()
	runs := r.runs
	r.mu.Unlock()
	if runs < 4 {
		t.Fatalf("%d runs for good, then two failures", runs)
	}
	cancel()
	releaseScript(r)
	scripts.mu.Lock()
	left := len(scripts.running)
	scripts.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d runners after the last release", left)
	}

	// A run that hangs: failed at the timeout, its background child
	// killed with it.
	pidFile := filepath.Join(dir, "child")
	slow := ScriptConfig{Name: "slow", Command: "sleep 30 & echo $! > " + pidFile + "; wait", Interval: time.Hour, Timeout: 200 * time.Millisecond}
	start := time.Now()
	r, err = acquireScript(slow, "/bin/sh", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer releaseScript(r)
	<-r.first
	if st, took := r.Status(), time.Since(start); st != ScriptFailed || took > 3*time.Second {
		t.Fatalf("hanging script: %v after %v, want failed at its 200 ms timeout", st, took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitFor(t, 3*time.Second, "the script's child to die", func() bool {
		return pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH
	})
}

// TestScriptUser: user USER [GROUP] runs the script as that user.
func TestScriptUser(t *testing.T) {
	roottest.Require(t) // switching users needs root
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	cfg := ScriptConfig{Name: "who", Command: `test "$(id -u)" = ` + u.Uid, Interval: time.Hour, User: "nobody"}
	r, err := acquireScript(cfg, "/bin/sh", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer releaseScript(r)
	<-r.first
	if st := r.Status(); st != ScriptGood {
		t.Fatalf("status %v: the script did not run as nobody", st)
	}
	if _, err := acquireScript(ScriptConfig{Name: "x", Command: "true", User: "gdirector-no-such-user"}, "/bin/sh", t.Logf); err == nil {
		t.Fatal("an unknown user was accepted")
	}
	for _, bad := range []ScriptConfig{{Command: "true"}, {Name: "x"}, {Name: "x", Command: "true", Group: "g"}, {Name: "x", Command: "true", Rise: -1}} {
		if _, err := acquireScript(bad, "/bin/sh", t.Logf); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestFromConfigScripts: track_script lines become TrackScripts carrying
// their script's settings; a line naming no vrrp_script, or a bad
// weight, is refused with its position.
func TestFromConfigScripts(t *testing.T) {
	in := config.VRRPInstance{Name: "VI_1", File: "k.conf", Interface: "eth0", VRID: 1, Priority: 100, AdvertInt: time.Second, Version: 2,
		VIPs:         []config.VRRPAddress{{Prefix: netip.MustParsePrefix("192.0.2.1/32")}},
		TrackScripts: []config.VRRPTrackScript{{Line: 9, Script: "chk", Weight: -20, Reverse: true}}}
	scripts := []config.VRRPScript{{Name: "other", Command: "false"},
		{Name: "chk", Command: "pidof haproxy", Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3, InitFail: true, User: "nobody"}}
	c, err := FromConfig(&in, scripts)
	if err != nil {
		t.Fatal(err)
	}
	want := []TrackScript{{Weight: -20, Reverse: true, Script: ScriptConfig{Name: "chk", Command: "pidof haproxy",
		Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3, InitFail: true, User: "nobody"}}}
	if !slices.Equal(c.Scripts, want) {
		t.Fatalf("scripts %+v, want %+v", c.Scripts, want)
	}
	in.TrackScripts[0].Script = "nosuch"
	if _, err := FromConfig(&in, scripts); err == nil || !strings.Contains(err.Error(), "k.conf:9") || !strings.Contains(err.Error(), "no vrrp_script nosuch") {
		t.Fatalf("unknown script: %v", err)
	}
	in.TrackScripts[0].Script, in.TrackScripts[0].Weight = "chk", 254
	if _, err := FromConfig(&in, scripts); err == nil || !strings.Contains(err.Error(), "weight 254") {
		t.Fatalf("weight 254: %v", err)
	}
}

package e2e

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	rt "github.com/gdirector/gdirector/internal/roottest"
)

// haScriptMetrics is where each director of TestHAFailoverScript serves
// its metrics, inside its own namespace.
const haScriptMetrics = "127.0.0.1:9112"

// scriptGood reads gdirector_vrrp_script_good of d's instance VI_HA and
// script chk_lb ("" when the series is absent).
func scriptGood(t *testing.T, d *haDirector) string {
	t.Helper()
	resp, err := nsutil.HTTPClient(d.ns).Get("http://" + haScriptMetrics + "/metrics")
	if err != nil {
		t.Fatalf("%s: metrics: %v", d.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, `gdirector_vrrp_script_good{instance="VI_HA",script="chk_lb"} `); ok {
			return v
		}
	}
	return ""
}

// haScriptConf is haConf with keepalived's usual health script: the
// instance tracks chk_lb (weight 0: FAULT while it fails), a test of the
// file check, run every second.
func haScriptConf(router string, prio int, notify, check string) string {
	c := haConf(router, prio, notify)
	c = strings.Replace(c, "vrrp_instance VI_HA {", `vrrp_script chk_lb {
    script "test -e `+check+`"
    interval 1
    fall 1
    rise 1
}
vrrp_instance VI_HA {`, 1)
	return strings.Replace(c, "    notify ", "    track_script {\n        chk_lb\n    }\n    notify ", 1)
}

// TestHAFailoverScript: the master's tracked script (vrrp_script, weight
// 0) fails — the service it guards is gone — so the master goes to FAULT,
// announcing priority 0, and the backup takes over within the script's
// interval plus its skew time while short requests keep being served;
// when the script succeeds again the old master leaves FAULT and preempts.
func TestHAFailoverScript(t *testing.T) {
	rt.Require(t, "ip")
	l := buildHALab(t)
	checks := map[string]string{}
	start := func(ns, name string, prio int) *haDirector {
		check := filepath.Join(t.TempDir(), "healthy")
		if err := os.WriteFile(check, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		checks[name] = check
		return startHADirectorConf(t, l.Builder, ns, name, func(notify string) string { return haScriptConf(name, prio, notify, check) }, []string{"eth0"}, "--metrics", haScriptMetrics)
	}
	d1, d2 := startPair(t, start, l.DirectorNS, "gdha1", l.dir2, "gdha2")
	shortDone := shortRequests(t, l.ClientNS)
	time.Sleep(500 * time.Millisecond)

	failed := time.Now()
	if err := os.Remove(checks["gdha1"]); err != nil {
		t.Fatal(err)
	}
	if g := scriptGood(t, d1); g != "1" {
		t.Errorf("dir1's gdirector_vrrp_script_good %q before the failure, want 1", g)
	}
	at1 := d1.states.waitState(t, "dir1", "FAULT", 3*time.Second)
	if g := scriptGood(t, d1); g != "0" {
		t.Errorf("dir1's gdirector_vrrp_script_good %q in FAULT, want 0", g)
	}
	at2 := d2.states.waitState(t, "dir2", "MASTER", 3*time.Second)
	takeover := at2.Sub(failed)
	// The script runs every second; a FAULT master announces priority
	// 0, so the backup waits its skew time only.
	bound := time.Second + haDown(100) + 300*time.Millisecond
	t.Logf("dir1's script failing: dir1 FAULT after %v, dir2 MASTER after %v (bound %v)",
		at1.Sub(failed).Round(time.Millisecond), takeover.Round(time.Millisecond), bound)
	if takeover > bound {
		t.Errorf("takeover %v after the script started failing, more than %v", takeover, bound)
	}
	time.Sleep(500 * time.Millisecond)

	healed := time.Now()
	if err := os.WriteFile(checks["gdha1"], nil, 0o644); err != nil {
		t.Fatal(err)
	}
	back := d1.states.waitState(t, "dir1", "MASTER", 5*time.Second)
	d2.states.waitState(t, "dir2", "BACKUP", 3*time.Second)
	t.Logf("dir1's script succeeding again: dir1 MASTER after %v; dir1 %v, dir2 %v",
		back.Sub(healed).Round(time.Millisecond), d1.states.snapshot(), d2.states.snapshot())
	time.Sleep(500 * time.Millisecond)

	rs := shortDone()
	shortOutage(t, rs, failed, takeover)
	if s := strings.Join(d1.states.snapshot(), " "); !strings.HasSuffix(s, "MASTER FAULT BACKUP MASTER") {
		t.Errorf("dir1 transitions %s, want MASTER FAULT BACKUP MASTER at the end", s)
	}
}

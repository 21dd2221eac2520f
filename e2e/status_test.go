package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/lab"
	"github.com/gdirector/gdirector/status"
)

// statusAddr is where the director of TestStatusLastPackets serves its
// status page, on the loopback of its own namespace.
const statusAddr = "127.0.0.1:9187"

// TestStatusLastPackets: the live daemon's status page, once requested,
// samples the data plane's packets through the trace hub; the client's
// requests show up as the NAT service's last packets, with a new
// connection's SYN rewritten VIP→RIP and the scheduler's choice.
// With STATUS_SCREENSHOT=FILE it also writes a screenshot of the page, as
// headless Chromium shows it from the director's namespace.
func TestStatusLastPackets(t *testing.T) {
	e := newEnvArgs(t, "nat", lab.Options{}, "--status", statusAddr)
	e.natService(t)
	doc := func() status.View {
		t.Helper()
		out := run(t, e.DirectorNS, 5*time.Second, "curl", "-sS", "-m", "3", "http://"+statusAddr+status.JSONPath)
		var v status.View
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return v
	}
	if v := doc(); !v.Packets.Tracing || v.Packets.Sample != status.PacketFilter.Sample {
		t.Fatalf("page requested, yet no sampled trace: %+v", v.Packets)
	}
	vip := e.VIP.String() + ":80"
	var syn *status.Packet
	var v status.View
	for i := 0; i < 10 && syn == nil; i++ { // at most 10 requests
		e.curlFrom(t, e.CIP, "http://"+vip+"/")
		time.Sleep(150 * time.Millisecond) // a quiet spell: the next SYN is taken
		v = doc()
		for _, p := range v.Services[0].Packets {
			if p.Conn == "new" && p.Flags == "[S]" {
				syn = &p
				break
			}
		}
	}
	if syn == nil {
		t.Fatalf("no new connection among the last packets: %+v", v.Services[0].Packets)
	}
	t.Logf("sampled SYN: %+v", *syn)
	var ip bool
	for _, c := range syn.Changes {
		if c.Header == "ip" && strings.HasSuffix(c.Before, "> "+vip) && strings.HasSuffix(c.After, "> "+syn.Real) {
			ip = true
		}
	}
	if !ip || syn.Forward != "nat" || syn.Client == "" || !strings.HasPrefix(syn.Sched, "rr: ") || syn.Chosen != syn.Real {
		t.Errorf("SYN %+v: want NAT's VIP→RIP rewrite and rr's choice", *syn)
	}
	if out := os.Getenv("STATUS_SCREENSHOT"); out != "" {
		screenshot(t, e.DirectorNS, out)
	}
}

// screenshot has headless Chromium, run in namespace ns, write the page at
// statusAddr to file out.
func screenshot(t *testing.T, ns, out string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("STATUS_SCREENSHOT needs chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if o, err := nsutil.RunContext(ctx, ns, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir="+t.TempDir(),
		"--screenshot="+out, "--window-size=1200,1100", "--virtual-time-budget=3000", "http://"+statusAddr+"/"); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, o)
	}
}

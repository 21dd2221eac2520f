package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/lab"
)

// newConfigEnv builds a NAT lab with the given number of real servers,
// writes the configuration file name with text(topology), and starts the
// director with --config FILE and the extra flags. It returns the file's
// path.
func newConfigEnv(t *testing.T, reals int, name string, text func(*lab.Topology) string, extra ...string) (*env, string) {
	t.Helper()
	topo := buildLab(t, "nat", lab.Options{Reals: reals})
	if err := topo.StartReals(bin); err != nil {
		t.Fatalf("start reals: %v", err)
	}
	if _, err := nsutil.SetSysctl(topo.DirectorNS, "net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, name)
	if err := os.WriteFile(conf, []byte(text(topo)), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &env{Topology: topo, sock: filepath.Join(dir, "ctl.sock"), logFile: filepath.Join(dir, "director.log")}
	var err error
	e.dir, err = topo.StartDirectorArgs(bin, e.sock, e.logFile, append([]string{"--config", conf}, extra...)...)
	if err != nil {
		t.Fatalf("start director: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(e.logFile)
			t.Logf("director log:\n%s", log)
		}
	})
	return e, conf
}

// fetch makes one HTTP request to VIP:80 from the client, on a new
// connection, and returns the real server that answered.
func (e *env) fetch() (string, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nsutil.DialContext(ctx, e.ClientNS, network, addr)
		},
	}}
	return lab.FetchRealServer(context.Background(), c, "http://"+e.VIP.String()+"/")
}

// fetchAll makes n requests that must all succeed and returns how many
// each real server answered.
func (e *env) fetchAll(t *testing.T, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		s, err := e.fetch()
		if err != nil {
			t.Fatalf("request %d of %d failed: %v (answered so far: %v)", i+1, n, err, got)
		}
		got[s]++
	}
	return got
}

// destWeights returns the real servers of VIP:80 in the table with their
// weights, from ipvsadm -S -n ("203.0.113.11" → 1).
func (e *env) destWeights(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	prefix := "-a -t " + e.VIP.String() + ":80 -r "
	for _, l := range strings.Split(e.mustIpvsadm(t, "-S", "-n"), "\n") {
		rest, ok := strings.CutPrefix(l, prefix)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		rip, _, _ := strings.Cut(f[0], ":")
		w := -1
		for i := range f {
			if f[i] == "-w" && i+1 < len(f) {
				w, _ = strconv.Atoi(f[i+1])
			}
		}
		out[rip] = w
	}
	return out
}

func showWeights(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s:w%d", k, m[k])
	}
	return "[" + strings.TrimSpace(b.String()) + "]"
}

// waitWeights polls the table (every 25 ms, at most limit) until want
// holds, and returns how long that took.
func (e *env) waitWeights(t *testing.T, what string, limit time.Duration, want func(map[string]int) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		w := e.destWeights(t)
		if want(w) {
			return time.Since(start)
		}
		if time.Since(start) > limit || e.dir.Exited() {
			t.Fatalf("%s: not within %v; table %s", what, limit, showWeights(w))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// restartHTTP starts real server i's HTTP server again and waits until it
// accepts connections.
func (e *env) restartHTTP(t *testing.T, i int) {
	t.Helper()
	r := &e.Reals[i]
	at := netip.AddrPortFrom(r.RIP, lab.HTTPPort).String()
	p, err := e.Start(r.NS, bin, "serve", "http", "--listen", at, "--name", r.Name)
	if err != nil {
		t.Fatal(err)
	}
	r.HTTP = p
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		c, err := nsutil.DialContext(ctx, r.NS, "tcp", at)
		if err == nil {
			c.Close()
			return
		}
		if p.Exited() || ctx.Err() != nil {
			t.Fatalf("%s's HTTP server did not come back: %v %s", r.Name, err, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopHTTP stops real server i's HTTP server (its port then refuses).
func (e *env) stopHTTP(t *testing.T, i int) {
	t.Helper()
	if err := e.Reals[i].HTTP.Stop(); err != nil {
		t.Logf("stop %s: %v", e.Reals[i].Name, err)
	}
}

// keepalivedHTTP is a keepalived.conf: rr over rs1 and rs2, each checked
// by HTTP_GET every second (connect_timeout 1, retry 1,
// delay_before_retry 1), with rs3 as sorry server. inhibit adds
// inhibit_on_failure to rs1.
func keepalivedHTTP(topo *lab.Topology, inhibit bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "! gdirector e2e: keepalived.conf with HTTP_GET checks\n")
	fmt.Fprintf(&b, "global_defs {\n    router_id gdirector_e2e\n}\n\n")
	fmt.Fprintf(&b, "virtual_server %s 80 {\n", topo.VIP)
	fmt.Fprintf(&b, "    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n")
	fmt.Fprintf(&b, "    sorry_server %s 80\n\n", topo.Reals[2].RIP)
	for i, r := range topo.Reals[:2] {
		fmt.Fprintf(&b, "    real_server %s 80 {\n        weight 1\n", r.RIP)
		if inhibit && i == 0 {
			fmt.Fprintf(&b, "        inhibit_on_failure\n")
		}
		fmt.Fprintf(&b, "        HTTP_GET {\n            url {\n                path /\n                status_code 200\n            }\n")
		fmt.Fprintf(&b, "            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }\n    }\n")
	}
	fmt.Fprintf(&b, "}\n")
	return b.String()
}

// TestHealthKeepalived: a keepalived.conf with HTTP_GET checks and a sorry
// server. rs1's HTTP server stops: rs1 leaves the table within the
// checks' bound (measured and logged), and every request then reaches
// rs2; rs1 restarted comes back. Both stopped: the sorry server (rs3)
// answers every request; both back, it goes. Reloaded with
// inhibit_on_failure on rs1: its failure sets its weight to 0 instead of
// removing it, and gdirector_backend_up reports the checks' verdict.
func TestHealthKeepalived(t *testing.T) {
	const (
		interval = time.Second // delay_loop
		timeout  = time.Second // connect_timeout
		retry    = 1
		margin   = time.Second
	)
	// A refused connection fails at once, so a failure is declared
	// within one interval (the next check) plus retry pauses.
	bound := retry*interval + timeout + margin
	e, conf := newConfigEnv(t, 3, "keepalived.conf", func(topo *lab.Topology) string { return keepalivedHTTP(topo, false) }, "--metrics", metricsAddr)
	rs1, rs2, rs3 := e.Reals[0].RIP.String(), e.Reals[1].RIP.String(), e.Reals[2].RIP.String()
	both := func(w map[string]int) bool { return len(w) == 2 && w[rs1] == 1 && w[rs2] == 1 }
	e.waitWeights(t, "both real servers in the table", 5*time.Second, both)
	if log, _ := os.ReadFile(e.logFile); !strings.Contains(string(log), "loaded "+conf+": 1 services, 2 real servers, 2 health checks (keepalived format)") {
		t.Errorf("no load line in the log:\n%s", log)
	}
	if got := e.fetchAll(t, 4); got["rs1"] != 2 || got["rs2"] != 2 {
		t.Errorf("rr over both: %v", got)
	}

	// rs1 fails.
	e.stopHTTP(t, 0)
	took := e.waitWeights(t, "rs1 removed", bound+2*time.Second, func(w map[string]int) bool { _, in := w[rs1]; return !in && w[rs2] == 1 })
	t.Logf("rs1 stopped: out of the table after %v (bound retry×interval + timeout + margin = %v)", took.Round(time.Millisecond), bound)
	if took > bound {
		t.Errorf("failure detected after %v, more than %v", took, bound)
	}
	if got := e.fetchAll(t, 20); got["rs2"] != 20 {
		t.Errorf("after rs1's failure: %v, want every request on rs2", got)
	}

	// rs1 comes back (rise 1: the next passing check).
	e.restartHTTP(t, 0)
	took = e.waitWeights(t, "rs1 back", interval+timeout+margin, both)
	t.Logf("rs1 restarted: back after %v", took.Round(time.Millisecond))
	if got := e.fetchAll(t, 6); got["rs1"] == 0 || got["rs2"] == 0 {
		t.Errorf("after rs1's return: %v, want both", got)
	}

	// Both fail: the sorry server takes the service.
	e.stopHTTP(t, 0)
	e.stopHTTP(t, 1)
	took = e.waitWeights(t, "the sorry server alone", bound+2*time.Second, func(w map[string]int) bool {
		_, in1 := w[rs1]
		_, in2 := w[rs2]
		return !in1 && !in2 && w[rs3] == 1
	})
	t.Logf("rs1 and rs2 stopped: the sorry server rs3 alone after %v; table %s", took.Round(time.Millisecond), showWeights(e.destWeights(t)))
	if got := e.fetchAll(t, 10); got["rs3"] != 10 {
		t.Errorf("with both down: %v, want every request on the sorry server rs3", got)
	}
	e.restartHTTP(t, 0)
	e.restartHTTP(t, 1)
	took = e.waitWeights(t, "the real servers back, the sorry server gone", interval+timeout+margin, both)
	t.Logf("both restarted: back, sorry server gone, after %v", took.Round(time.Millisecond))
	if got := e.fetchAll(t, 6); got["rs3"] != 0 || got["rs1"] == 0 || got["rs2"] == 0 {
		t.Errorf("after the return: %v", got)
	}

	// inhibit_on_failure on rs1, by a reload.
	if err := os.WriteFile(conf, []byte(keepalivedHTTP(e.Topology, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, errOut, code := e.gdirector(t, "reload"); code != 0 || !strings.Contains(o, "reloaded "+conf+": no change") {
		t.Fatalf("reload: %d %q %q", code, o, errOut)
	}
	e.stopHTTP(t, 0)
	took = e.waitWeights(t, "rs1 at weight 0", bound+2*time.Second, func(w map[string]int) bool { r1, in := w[rs1]; return in && r1 == 0 && w[rs2] == 1 })
	t.Logf("rs1 stopped with inhibit_on_failure: weight 0 (kept in the table) after %v; table %s", took.Round(time.Millisecond), showWeights(e.destWeights(t)))
	if got := e.fetchAll(t, 10); got["rs2"] != 10 {
		t.Errorf("rs1 at weight 0: %v, want every request on rs2", got)
	}
	up := backendUp(t, e)
	if up[rs1] != "0" || up[rs2] != "1" {
		t.Errorf("gdirector_backend_up: %v, want rs1 0 and rs2 1", up)
	}
	e.restartHTTP(t, 0)
	e.waitWeights(t, "rs1 back at weight 1", interval+timeout+margin, both)
	if log, _ := os.ReadFile(e.logFile); strings.Contains(string(log), "reload failed") {
		t.Errorf("a reload failed:\n%s", log)
	}
	e.stopDirector(t)
}

// backendUp scrapes gdirector_backend_up by real server address.
func backendUp(t *testing.T, e *env) map[string]string {
	t.Helper()
	out := run(t, e.DirectorNS, 10*time.Second, "curl", "-sS", "-m", "5", "http://"+metricsAddr+"/metrics")
	up := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "gdirector_backend_up{") {
			continue
		}
		i := strings.Index(l, `remote_address="`)
		if i < 0 {
			continue
		}
		rest := l[i+len(`remote_address="`):]
		addr, _, _ := strings.Cut(rest, `"`)
		f := strings.Fields(l)
		up[addr] = f[len(f)-1]
	}
	return up
}

// TestHealthLdirectord: an ldirectord.cf with a negotiate check of
// service http and quiescent=yes: rs1's failure sets its weight to 0
// (it stays in the table, its connections would go on), new requests all
// reach rs2, and rs1 comes back with its weight. rs2 has weight 0 in the
// file while its check passes: gdirector_backend_up reports the check's
// verdict (up), not the weight.
func TestHealthLdirectord(t *testing.T) {
	const (
		interval = time.Second // checkinterval
		timeout  = time.Second // negotiatetimeout
		margin   = time.Second
	)
	bound := interval + timeout + margin // failurecount 1: no retry
	var text, rs1, rs2 string
	e, conf := newConfigEnv(t, 2, "ldirectord.cf", func(topo *lab.Topology) string {
		rs1, rs2 = topo.Reals[0].RIP.String(), topo.Reals[1].RIP.String()
		text = "# gdirector e2e: ldirectord.cf\n" +
			"checkinterval=1\nnegotiatetimeout=1\nquiescent=yes\n\n" +
			"virtual=" + topo.VIP.String() + ":80\n" +
			"\treal=" + rs1 + ":80 masq 1\n" +
			"\treal=" + rs2 + ":80 masq 2\n" +
			"\tservice=http\n\trequest=\"/\"\n\treceive=\"served by\"\n" +
			"\tscheduler=wrr\n\tprotocol=tcp\n\tchecktype=negotiate\n"
		return text
	}, "--metrics", metricsAddr)
	e.waitWeights(t, "both real servers", 5*time.Second, func(w map[string]int) bool { return w[rs1] == 1 && w[rs2] == 2 })
	if log, _ := os.ReadFile(e.logFile); !strings.Contains(string(log), "loaded "+conf+": 1 services, 2 real servers, 2 health checks (ldirectord format)") {
		t.Errorf("no load line:\n%s", log)
	}

	e.stopHTTP(t, 0)
	took := e.waitWeights(t, "rs1 quiesced", bound+2*time.Second, func(w map[string]int) bool { r1, in := w[rs1]; return in && r1 == 0 && w[rs2] == 2 })
	t.Logf("rs1 stopped (quiescent=yes): weight 0 after %v (bound %v); table %s", took.Round(time.Millisecond), bound, showWeights(e.destWeights(t)))
	if took > bound {
		t.Errorf("failure detected after %v, more than %v", took, bound)
	}
	if got := e.fetchAll(t, 10); got["rs2"] != 10 {
		t.Errorf("rs1 quiesced: %v, want every request on rs2", got)
	}
	e.restartHTTP(t, 0)
	took = e.waitWeights(t, "rs1 back", interval+timeout+margin, func(w map[string]int) bool { return w[rs1] == 1 && w[rs2] == 2 })
	t.Logf("rs1 restarted: weight 1 again after %v", took.Round(time.Millisecond))

	// rs2 at weight 0 in the file, passing its check.
	if err := os.WriteFile(conf, []byte(strings.Replace(text, rs2+":80 masq 2", rs2+":80 masq 0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(e.dir.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	e.waitWeights(t, "rs2 at weight 0 after SIGHUP", 5*time.Second, func(w map[string]int) bool { r2, in := w[rs2]; return in && r2 == 0 })
	up := backendUp(t, e)
	t.Logf("gdirector_backend_up with rs2 at weight 0 and passing its check: %v", up)
	if up[rs1] != "1" || up[rs2] != "1" {
		t.Errorf("gdirector_backend_up %v, want both 1 (the checks' verdict)", up)
	}
	if got := e.fetchAll(t, 6); got["rs1"] != 6 {
		t.Errorf("rs2 at weight 0: %v, want every request on rs1", got)
	}
	e.stopDirector(t)
}

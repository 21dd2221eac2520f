package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/lab"
)

// keepalivedWRR is a keepalived.conf: wrr over rs1 and rs2 with the given
// weights, each checked by TCP_CHECK every second, alpha (a real server
// starts down until its check passes, so a check restarted by a reload
// would take it out).
func keepalivedWRR(topo *lab.Topology, w1, w2 int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "virtual_server %s 80 {\n    delay_loop 1\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n    alpha\n", topo.VIP)
	for i, w := range []int{w1, w2} {
		fmt.Fprintf(&b, "    real_server %s 80 {\n        weight %d\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n", topo.Reals[i].RIP, w)
	}
	b.WriteString("}\n")
	return b.String()
}

// keepAlive is an HTTP client that keeps one connection to the VIP.
type keepAlive struct {
	t *testing.T
	c *http.Client
}

func newKeepAlive(t *testing.T, e *env) *keepAlive {
	k := &keepAlive{t: t, c: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nsutil.DialContext(ctx, e.ClientNS, network, addr)
		},
		MaxIdleConnsPerHost: 1,
	}}}
	t.Cleanup(k.c.CloseIdleConnections)
	return k
}

// get makes a request on the kept connection and returns the real server
// that answered and the connection's local address.
func (k *keepAlive) get(url string) (server, local string) {
	k.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() }}
	resp, err := k.c.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil {
		k.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("X-Real-Server"), local
}

// logSince returns the director's log after the first n bytes.
func (e *env) logSince(n int) string {
	log, _ := os.ReadFile(e.logFile)
	if n > len(log) {
		return ""
	}
	return string(log[n:])
}

func (e *env) logLen() int {
	log, _ := os.ReadFile(e.logFile)
	return len(log)
}

// TestConfigReloadKeepalived: a keepalived.conf with TCP checks and alpha.
// A keep-alive connection goes through real server A; the file changes
// B's weight and SIGHUP reloads it. The listing shows the new weight; the
// connection keeps its local port, is still answered by A, and A's
// counters go on; the checks were not restarted (with alpha a restarted
// check would start down and take its real server out: nothing goes down
// or fails). A keepalived.conf with a mistake changes nothing, and
// gdirector reload answers its file and line.
func TestConfigReloadKeepalived(t *testing.T) {
	e, conf := newConfigEnv(t, 2, "keepalived.conf", func(topo *lab.Topology) string { return keepalivedWRR(topo, 1, 1) })
	vip := e.VIP.String()
	rs1, rs2 := e.Reals[0].RIP.String(), e.Reals[1].RIP.String()
	// alpha: both start down and come up with their first passing check.
	took := e.waitWeights(t, "both real servers up", 5*time.Second, func(w map[string]int) bool { return w[rs1] == 1 && w[rs2] == 1 })
	t.Logf("alpha: both real servers in the table %v after start", took.Round(time.Millisecond))

	k := newKeepAlive(t, e)
	held, conn := k.get("http://" + vip + "/")
	for i := 0; i < 3; i++ {
		if s, c := k.get("http://" + vip + "/"); s != held || c != conn {
			t.Fatalf("keep-alive connection moved before any reload: %s %s then %s %s", held, conn, s, c)
		}
	}
	a := realOf(e, held)
	ripA := a.RIP.String()
	ripB := rs1
	if ripA == rs1 {
		ripB = rs2
	}
	before := destStats(t, e, ripA)
	t.Logf("keep-alive connection %s on %s (A); A's counters before the reload: %v", conn, held, before)

	// B's weight changes; SIGHUP.
	mark := e.logLen()
	w := map[string]int{ripA: 1, ripB: 4}
	if err := os.WriteFile(conf, []byte(keepalivedWRR(e.Topology, w[rs1], w[rs2])), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(e.dir.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	e.waitWeights(t, "B's new weight", 5*time.Second, func(m map[string]int) bool { return m[ripB] == 4 && m[ripA] == 1 })
	// Long enough for a restarted check to have shown (one delay_loop).
	time.Sleep(1500 * time.Millisecond)
	again, conn2 := k.get("http://" + vip + "/")
	after := destStats(t, e, ripA)
	t.Logf("after SIGHUP: the same connection %s answered by %s; A's counters %v; table %s", conn2, again, after, showWeights(e.destWeights(t)))
	if again != held || conn2 != conn {
		t.Errorf("the established connection moved: %s (%s), then %s (%s)", held, conn, again, conn2)
	}
	if after[0] < before[0] || after[1] <= before[1] || after[2] <= before[2] || after[3] <= before[3] || after[4] <= before[4] {
		t.Errorf("A's counters reset or stalled across the reload: %v then %v", before, after)
	}
	since := e.logSince(mark)
	if !strings.Contains(since, "reloaded "+conf+": services 0 added, 0 edited, 0 removed; real servers 0 added, 1 edited, 0 removed") {
		t.Errorf("no reload line in the log:\n%s", since)
	}
	if strings.Contains(since, " is down") || strings.Contains(since, " fails") || strings.Contains(since, "removed from") {
		t.Errorf("the reload disturbed the checks:\n%s", since)
	}
	// New connections follow the new weights (1:4).
	if got := e.fetchAll(t, 10); got[held] > 4 {
		t.Errorf("after the reload A took %d of 10 new connections (weight 1 of 5): %v", got[held], got)
	}

	// A mistake: nothing changes, and the file and line are named.
	good := e.mustIpvsadm(t, "-S", "-n")
	bad := strings.Replace(keepalivedWRR(e.Topology, 2, 2), "connect_timeout 1", "connect_timeout 1\n            conect_port 80", 1)
	if err := os.WriteFile(conf, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	o, errOut, code := e.gdirector(t, "reload")
	t.Logf("gdirector reload of a bad keepalived.conf: exit %d: %s", code, strings.TrimSpace(errOut))
	if code != 1 || o != "" || !strings.Contains(errOut, conf+":11: ") || !strings.Contains(errOut, "conect_port") || !strings.HasSuffix(errOut, "; nothing changed\n") {
		t.Errorf("gdirector reload of a bad file: %d %q %q", code, o, errOut)
	}
	if s := e.mustIpvsadm(t, "-S", "-n"); s != good {
		t.Errorf("a bad file changed the configuration:\n%s\nwas\n%s", s, good)
	}
	if s, c := k.get("http://" + vip + "/"); s != held || c != conn {
		t.Errorf("the connection moved after a failed reload: %s %s", s, c)
	}
	e.stopDirector(t)
}

// nativeHTTP is a native configuration: rr over rs1 and rs2 with HTTP
// checks every 500 ms, rs2 with the given weight.
func nativeHTTP(topo *lab.Topology, w2 int) string {
	return fmt.Sprintf(`# gdirector e2e: native configuration
services:
  - name: web
    vip: %s
    port: 80
    scheduler: wrr
    method: nat
    checks:
      - type: http
        interval: 500ms
        timeout: 1s
        urls:
          - path: /
            status: 200
            contains: served by
    real_servers:
      - address: %s
      - address: %s
        weight: %d
`, topo.VIP, topo.Reals[0].RIP, topo.Reals[1].RIP, w2)
}

// TestConfigAutoreloadNative: gdirector's native YAML with HTTP checks
// and --autoreload. `gdirector config check` validates the file; an edit
// is applied without any signal within the poll's bound; a broken edit is
// logged with its file and line and changes nothing; a touch is no
// reload; fixing the file applies it.
func TestConfigAutoreloadNative(t *testing.T) {
	e, conf := newConfigEnv(t, 2, "gdirector.yaml", func(topo *lab.Topology) string { return nativeHTTP(topo, 1) }, "--autoreload")
	rs1, rs2 := e.Reals[0].RIP.String(), e.Reals[1].RIP.String()
	e.waitWeights(t, "both real servers", 5*time.Second, func(w map[string]int) bool { return w[rs1] == 1 && w[rs2] == 1 })
	if o, errOut, code := e.gdirector(t, "config", "check", conf); code != 0 || errOut != "" ||
		o != conf+": valid native configuration: 1 service, 2 real servers, 2 health checks\n" {
		t.Errorf("config check: %d %q %q", code, o, errOut)
	}

	// An edit, no signal: applied within two polls and a little.
	const bound = 3 * time.Second
	if err := os.WriteFile(conf, []byte(nativeHTTP(e.Topology, 3)), 0o644); err != nil {
		t.Fatal(err)
	}
	took := e.waitWeights(t, "the edit applied by autoreload", bound, func(w map[string]int) bool { return w[rs1] == 1 && w[rs2] == 3 })
	t.Logf("autoreload applied the edit %v after the write (bound %v)", took.Round(time.Millisecond), bound)
	if got := e.fetchAll(t, 8); got["rs2"] != 6 || got["rs1"] != 2 {
		t.Errorf("wrr 1:3 over 8 new connections: %v", got)
	}

	// A broken edit: logged with file and line, nothing changes.
	mark := e.logLen()
	broken := strings.Replace(nativeHTTP(e.Topology, 5), "        weight: 5", "        weigth: 5", 1)
	if err := os.WriteFile(conf, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "reload failed, configuration unchanged: " + conf + ":19: unknown key \"weigth\" in real server (did you mean \"weight\"?)"
	deadline := time.Now().Add(bound)
	for !strings.Contains(e.logSince(mark), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the broken edit was not logged as %q:\n%s", want, e.logSince(mark))
		}
		time.Sleep(25 * time.Millisecond)
	}
	if w := e.destWeights(t); w[rs2] != 3 {
		t.Errorf("a broken file changed the table: %s", showWeights(w))
	}
	if _, errOut, code := e.gdirector(t, "config", "check", conf); code != 1 || !strings.Contains(errOut, conf+":19: unknown key \"weigth\"") {
		t.Errorf("config check of the broken file: %d %q", code, errOut)
	}
	// Touched: nothing read again, nothing logged.
	now := time.Now()
	if err := os.Chtimes(conf, now, now); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	if n := strings.Count(e.logSince(mark), "reload failed"); n != 1 {
		t.Errorf("the broken file was reported %d times:\n%s", n, e.logSince(mark))
	}
	// Fixed.
	if err := os.WriteFile(conf, []byte(nativeHTTP(e.Topology, 5)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitWeights(t, "the fixed file applied", bound, func(w map[string]int) bool { return w[rs2] == 5 })
	if log := e.logSince(mark); strings.Contains(log, " is down") || strings.Contains(log, " fails") {
		t.Errorf("reloads disturbed the checks:\n%s", log)
	}
	e.stopDirector(t)
}

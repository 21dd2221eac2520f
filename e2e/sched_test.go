package e2e

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/lab"
)

// gdirector runs a gdirector command other than ipvsadm (mark, sched, …)
// against the lab's daemon, as a user would.
func (e *env) gdirector(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "GDIRECTOR_CTL="+e.sock)
	var o, er bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &er
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("gdirector %v: %v", args, err)
	}
	return o.String(), er.String(), code
}

// serveExtra starts the built-in HTTP server on RIP:port in every real
// server and waits until each answers.
func (e *env) serveExtra(t *testing.T, port uint16) {
	t.Helper()
	for _, r := range e.Reals {
		at := netip.AddrPortFrom(r.RIP, port).String()
		if _, err := e.Start(r.NS, bin, "serve", "http", "--listen", at, "--name", r.Name); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for {
			if out, err := run2(e.DirectorNS, "curl", "-sS", "-m", "1", "http://"+at+"/"); err == nil && strings.Contains(out, r.Name) {
				break
			}
			if ctx.Err() != nil {
				cancel()
				t.Fatalf("server on %s did not come up", at)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
	}
}

// curlFrom fetches url from the client namespace with source address src
// and returns the name of the real server that answered.
func (e *env) curlFrom(t *testing.T, src netip.Addr, url string) string {
	t.Helper()
	out := run(t, e.ClientNS, 10*time.Second, "curl", "-sS", "-m", "5", "--interface", src.String(), url)
	return strings.TrimPrefix(strings.TrimSpace(out), "served by ")
}

// TestPersistenceFirewallMark: the classic LVS setup of a shop's HTTP and
// HTTPS sticking to one real server. gdirector's mark rules put VIP:80 and
// VIP:443 into firewall-mark service 10, which is persistent: every
// connection of one client, to either port, reaches the same real server;
// a second client is scheduled on its own (rr: the other server). The
// listing shows the FWM service and the kernel-style templates.
func TestPersistenceFirewallMark(t *testing.T) {
	e := newEnv(t)
	e.serveExtra(t, 443)
	vip := e.VIP.String()
	cip2 := netip.MustParseAddr("198.51.100.3")
	run(t, e.ClientNS, 5*time.Second, "ip", "addr", "add", cip2.String()+"/24", "dev", e.ClientIf)

	if _, errOut, code := e.gdirector(t, "mark", "add", "-d", vip, "-p", "tcp", "--dports", "80,443", "--set-mark", "10"); code != 0 {
		t.Fatalf("mark add: %d %s", code, errOut)
	}
	if _, errOut, code := e.gdirector(t, "mark", "add", "-d", vip, "-p", "tcp", "--dports", "80,443", "--set-mark", "10"); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("duplicate mark rule: %d %q", code, errOut)
	}
	if _, errOut, code := e.gdirector(t, "mark", "add", "-d", vip, "--dports", "80"); code != 2 || !strings.Contains(errOut, "Usage") {
		t.Errorf("bad mark line: %d %q", code, errOut)
	}
	e.mustIpvsadm(t, "-A", "-f", "10", "-s", "rr", "-p", "300")
	for _, r := range e.Reals {
		e.mustIpvsadm(t, "-a", "-f", "10", "-r", r.RIP.String(), "-m")
	}

	var first, second []string
	for i := 0; i < 3; i++ {
		first = append(first, e.curlFrom(t, e.CIP, "http://"+vip+":80/"), e.curlFrom(t, e.CIP, "http://"+vip+":443/"))
		second = append(second, e.curlFrom(t, cip2, "http://"+vip+":443/"), e.curlFrom(t, cip2, "http://"+vip+":80/"))
	}
	t.Logf("client %s (80, 443, …): %v", e.CIP, first)
	t.Logf("client %s (443, 80, …): %v", cip2, second)
	for _, s := range [][]string{first, second} {
		for _, n := range s {
			if n != s[0] {
				t.Fatalf("one client reached several real servers: %v", s)
			}
		}
	}
	if first[0] != "rs2" || second[0] != "rs1" {
		t.Errorf("first client on %s, second on %s; want rs2 then rs1 (rr from the dest added last)", first[0], second[0])
	}
	// Nothing else of the VIP is served.
	if out, err := run2(e.ClientNS, "curl", "-sS", "-m", "2", "http://"+vip+":8080/"); err == nil {
		t.Errorf("an unmarked port was served: %s", out)
	}

	list := e.mustIpvsadm(t, "-L", "-n")
	t.Logf("ipvsadm -L -n:\n%s", list)
	if !strings.Contains(list, "FWM  10 rr persistent 300") {
		t.Errorf("listing lacks the persistent FWM service")
	}
	conns := e.mustIpvsadm(t, "-L", "-n", "-c")
	t.Logf("ipvsadm -L -n -c (templates first seen as IP … NONE):\n%s", conns)
	for _, c := range []netip.Addr{e.CIP, cip2} {
		found := false
		for _, l := range strings.Split(conns, "\n") {
			f := strings.Fields(l)
			found = found || len(f) == 6 && f[0] == "IP" && f[2] == "NONE" && f[3] == c.String()+":0" && f[4] == "0.0.0.10:0"
		}
		if !found {
			t.Errorf("no template <IP, %s:0, 0.0.0.10:0> in the connection listing", c)
		}
	}
	pc := e.mustIpvsadm(t, "-L", "-n", "--persistent-conn")
	t.Logf("ipvsadm -L -n --persistent-conn:\n%s", pc)
	marks, _, _ := e.gdirector(t, "mark", "list")
	if marks != "mark add -d "+vip+" -p tcp --dports 80,443 --set-mark 10\n" {
		t.Errorf("mark list: %q", marks)
	}
	e.stopDirector(t)
}

// TestQuiesceAndWeights: wrr with weights 3:1 spreads eight new
// connections 6:2 in the kernel's order; then weight 0 quiesces a real
// server: it gets no new connection, while a keep-alive connection
// already bound to it goes on being served by it.
func TestQuiesceAndWeights(t *testing.T) {
	e := newEnv(t)
	vip := e.VIP.String()
	e.mustIpvsadm(t, "-A", "-t", vip+":80", "-s", "wrr")
	e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", e.Reals[0].RIP.String()+":80", "-m", "-w", "3")
	e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", e.Reals[1].RIP.String()+":80", "-m", "-w", "1")
	var seq []string
	count := map[string]int{}
	for i := 0; i < 8; i++ {
		n := e.curlFrom(t, e.CIP, "http://"+vip+"/")
		seq = append(seq, n)
		count[n]++
	}
	t.Logf("wrr rs1:3 rs2:1, eight connections: %v", seq)
	// As in the kernel: adding rs1 alone (weight 3, step 3) left the
	// current weight at 1, and adding rs2 (step 1, top 3) kept it there.
	// So the first pass (cw 1) takes rs2 (the head) and rs1, then the
	// passes with cw 3, 2 take rs1 only, and the cycle repeats.
	if strings.Join(seq, " ") != "rs2 rs1 rs1 rs1 rs2 rs1 rs1 rs1" || count["rs1"] != 6 || count["rs2"] != 2 {
		t.Errorf("wrr sequence %v, want rs2 rs1 rs1 rs1 twice (6:2)", seq)
	}

	// A keep-alive connection to rs1 (the next pick), then rs1 quiesced.
	keep := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nsutil.DialContext(ctx, e.ClientNS, network, addr)
		},
		MaxIdleConnsPerHost: 1,
	}}
	defer keep.CloseIdleConnections()
	get := func() (string, string) {
		t.Helper()
		var local string
		req, _ := http.NewRequest(http.MethodGet, "http://"+vip+"/", nil)
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() }}
		resp, err := keep.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Real-Server"), local
	}
	held, conn := get()
	e.mustIpvsadm(t, "-e", "-t", vip+":80", "-r", realOf(e, held).RIP.String()+":80", "-m", "-w", "0")
	var fresh []string
	for i := 0; i < 4; i++ {
		fresh = append(fresh, e.curlFrom(t, e.CIP, "http://"+vip+"/"))
	}
	again, conn2 := get()
	t.Logf("keep-alive connection %s on %s; after weight 0: the same connection %s still answered by %s; new connections: %v", conn, held, conn2, again, fresh)
	if again != held || conn2 != conn {
		t.Errorf("the established connection moved: %s (%s) then %s (%s)", held, conn, again, conn2)
	}
	for _, n := range fresh {
		if n == held {
			t.Errorf("quiesced %s got a new connection: %v", held, fresh)
		}
	}
	list := e.mustIpvsadm(t, "-L", "-n")
	t.Logf("ipvsadm -L -n:\n%s", list)
	e.stopDirector(t)
}

func realOf(e *env, name string) lab.Real {
	for _, r := range e.Reals {
		if r.Name == name {
			return r
		}
	}
	return lab.Real{}
}

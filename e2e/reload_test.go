package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/lab"
)

// natRules is the configuration file of the reload test: the lab's VIP on
// port 80, wrr over both real servers with the given weights.
func natRules(topo *lab.Topology, w1, w2 int) string {
	vip := topo.VIP.String() + ":80"
	return fmt.Sprintf("# gdirector run --config: ipvsadm -S format\n"+
		"-A -t %s -s wrr\n"+
		"-a -t %s -r %s:80 -m -w %d\n"+
		"-a -t %s -r %s:80 -m -w %d\n",
		vip, vip, topo.Reals[0].RIP, w1, vip, topo.Reals[1].RIP, w2)
}

// destStats returns a real server's line of ipvsadm -L -n --stats --exact
// as numbers: Conns, InPkts, OutPkts, InBytes, OutBytes.
func destStats(t *testing.T, e *env, rip string) []uint64 {
	t.Helper()
	for _, l := range strings.Split(e.mustIpvsadm(t, "-L", "-n", "--stats", "--exact"), "\n") {
		f := strings.Fields(l)
		if len(f) == 7 && f[0] == "->" && f[1] == rip+":80" {
			var v []uint64
			for _, s := range f[2:] {
				n, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					t.Fatalf("stats line %q: %v", l, err)
				}
				v = append(v, n)
			}
			return v
		}
	}
	t.Fatalf("no stats for %s", rip)
	return nil
}

// ipvsadmStdin runs gdirector ipvsadm with standard input, as a shell pipe
// would.
func (e *env) ipvsadmStdin(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"ipvsadm"}, args...)...)
	cmd.Env = append(os.Environ(), "GDIRECTOR_CTL="+e.sock)
	cmd.Stdin = strings.NewReader(stdin)
	var o, er bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &er
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ipvsadm %v: %v", args, err)
	}
	return o.String(), er.String(), code
}

// TestReloadKeepsConnections: the daemon starts from a configuration file
// (gdirector run --config); a bad file refuses the start and names the
// line. A keep-alive HTTP connection goes through real server A; the file
// then changes B's weight and SIGHUP reloads it: the listing shows the new
// weight, while the connection through A keeps its local port, is still
// answered by A, and A's counters go on from where they were. A bad file
// (by SIGHUP or `gdirector reload`) changes nothing. Then the kernel way:
// ipvsadm -S saved, -C, and the saved rules fed to ipvsadm -R through the
// control socket give back the same -S output; a bad -R input changes
// nothing. SIGTERM then leaves nothing behind.
func TestReloadKeepsConnections(t *testing.T) {
	topo := buildLab(t, "nat", lab.Options{})
	if err := topo.StartReals(bin); err != nil {
		t.Fatalf("start reals: %v", err)
	}
	if _, err := nsutil.SetSysctl(topo.DirectorNS, "net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "gdirector.rules")
	e := &env{Topology: topo, sock: filepath.Join(dir, "ctl.sock"), logFile: filepath.Join(dir, "director.log")}
	vip := topo.VIP.String()
	ripA, ripB := topo.Reals[0].RIP.String(), topo.Reals[1].RIP.String()

	// A bad file: the daemon refuses to start, names the line, and
	// leaves the host as it was.
	bad := natRules(topo, 1, 1) + "-a -t " + vip + ":80 -r 203.0.113.99:80 -m -w heavy\n"
	if err := os.WriteFile(conf, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	out, err := nsutil.RunContext(ctx, topo.DirectorNS, bin, "run", "--iface", topo.DirIfaces[0], "--iface", topo.DirIfaces[1],
		"--ctl", e.sock, "--config", conf)
	cancel()
	t.Logf("start with a bad file: %v: %s", err, strings.TrimSpace(out))
	if err == nil || !strings.Contains(out, "line 5: illegal weight specified") || !strings.Contains(out, conf) {
		t.Fatalf("a bad --config file did not stop the start with its line: %v %s", err, out)
	}
	if _, err := os.Stat(e.sock); !os.IsNotExist(err) {
		t.Errorf("control socket left by the refused start (%v)", err)
	}
	if v, _ := nsutil.Sysctl(topo.DirectorNS, "net.ipv4.ip_forward"); v != "1" {
		t.Errorf("the refused start changed ip_forward to %s", v)
	}

	// The good file.
	if err := os.WriteFile(conf, []byte(natRules(topo, 1, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.dir, err = topo.StartDirectorArgs(bin, e.sock, e.logFile, "--config", conf)
	if err != nil {
		t.Fatalf("start director: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(e.logFile)
			t.Logf("director log:\n%s", log)
		}
	})
	save := e.mustIpvsadm(t, "-S", "-n")
	t.Logf("loaded at start (ipvsadm -S -n):\n%s", save)
	for _, want := range []string{"-A -t " + vip + ":80 -s wrr\n", "-a -t " + vip + ":80 -r " + ripA + ":80 -m -w 1\n", "-a -t " + vip + ":80 -r " + ripB + ":80 -m -w 1\n"} {
		if !strings.Contains(save, want) {
			t.Fatalf("the configuration file was not loaded: no %q", want)
		}
	}

	// A keep-alive connection: the real server that answers it is A.
	keep := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nsutil.DialContext(ctx, topo.ClientNS, network, addr)
		},
		MaxIdleConnsPerHost: 1,
	}}
	defer keep.CloseIdleConnections()
	get := func() (server, local string) {
		t.Helper()
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
	for i := 0; i < 3; i++ {
		if s, c := get(); s != held || c != conn {
			t.Fatalf("keep-alive connection moved before any reload: %s %s then %s %s", held, conn, s, c)
		}
	}
	a := realOf(e, held)
	var b lab.Real
	for _, r := range topo.Reals {
		if r.Name != held {
			b = r
		}
	}
	ripA, ripB = a.RIP.String(), b.RIP.String()
	before := destStats(t, e, ripA)
	t.Logf("keep-alive connection %s on %s (A); A's counters before the reload: %v", conn, held, before)

	// B's weight changes in the file; SIGHUP.
	w := map[string]int{ripA: 1, ripB: 5}
	if err := os.WriteFile(conf, []byte(natRules(topo, w[topo.Reals[0].RIP.String()], w[topo.Reals[1].RIP.String()])), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(e.dir.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	wantB := "-a -t " + vip + ":80 -r " + ripB + ":80 -m -w 5\n"
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.mustIpvsadm(t, "-S", "-n"), wantB) {
		if time.Now().After(deadline) || e.dir.Exited() {
			t.Fatalf("SIGHUP did not apply the new weight; listing:\n%s", e.mustIpvsadm(t, "-L", "-n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	list := e.mustIpvsadm(t, "-L", "-n")
	t.Logf("after SIGHUP (ipvsadm -L -n):\n%s", list)
	again, conn2 := get()
	after := destStats(t, e, ripA)
	t.Logf("the same connection after the reload: %s answered by %s; A's counters %v", conn2, again, after)
	if again != held || conn2 != conn {
		t.Errorf("the established connection moved: %s (%s), then %s (%s)", held, conn, again, conn2)
	}
	if after[0] < before[0] || after[1] <= before[1] || after[2] <= before[2] || after[3] <= before[3] {
		t.Errorf("A's counters reset or stalled across the reload: %v then %v", before, after)
	}
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) == 6 && f[1] == ripA+":80" && f[4] != "1" {
			t.Errorf("A lost its active connection in the listing: %q", l)
		}
	}
	if log, _ := os.ReadFile(e.logFile); !strings.Contains(string(log), "reloaded "+conf+": services 0 added, 0 edited, 0 removed; real servers 0 added, 1 edited, 0 removed") {
		t.Errorf("no reload line in the log:\n%s", log)
	}
	// New connections follow the new weights (1:5).
	toB := 0
	for i := 0; i < 6; i++ {
		if e.curlFrom(t, topo.CIP, "http://"+vip+"/") == b.Name {
			toB++
		}
	}
	if toB < 4 {
		t.Errorf("after the reload %d of 6 new connections reached B (weight 5 of 6)", toB)
	}

	// A bad file changes nothing, whether by SIGHUP or gdirector reload.
	good := e.mustIpvsadm(t, "-S", "-n")
	badReload := natRules(topo, 2, 2) + "-A -t " + vip + ":80 -s rr\n"
	if err := os.WriteFile(conf, []byte(badReload), 0o644); err != nil {
		t.Fatal(err)
	}
	o, errOut, code := e.gdirector(t, "reload")
	t.Logf("gdirector reload of a bad file: exit %d: %s", code, strings.TrimSpace(errOut))
	if code != 1 || o != "" || !strings.Contains(errOut, conf+": line 5: Service already exists; nothing changed") {
		t.Errorf("gdirector reload of a bad file: %d %q %q", code, o, errOut)
	}
	if err := syscall.Kill(e.dir.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		log, _ := os.ReadFile(e.logFile)
		if strings.Count(string(log), "reload failed, configuration unchanged: "+conf+": line 5: Service already exists") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log of the failed SIGHUP reload:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := e.mustIpvsadm(t, "-S", "-n"); s != good {
		t.Fatalf("a bad file changed the configuration:\n%s\nwas\n%s", s, good)
	}
	if s, c := get(); s != held || c != conn {
		t.Errorf("the connection moved after a failed reload: %s %s", s, c)
	}
	// gdirector reload of a good file prints what changed.
	if err := os.WriteFile(conf, []byte(natRules(topo, 1, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, errOut, code := e.gdirector(t, "reload"); code != 0 || errOut != "" || !strings.Contains(o, "1 edited") {
		t.Errorf("gdirector reload: %d %q %q", code, o, errOut)
	}

	// The kernel way: -S, -C, -R through the control socket.
	save = e.mustIpvsadm(t, "-S", "-n")
	e.mustIpvsadm(t, "-C")
	if s := e.mustIpvsadm(t, "-S", "-n"); s != "" {
		t.Fatalf("after -C: %q", s)
	}
	if o, errOut, code := e.ipvsadmStdin(t, save, "-R"); code != 0 || o != "" || errOut != "" {
		t.Fatalf("ipvsadm -R: %d %q %q", code, o, errOut)
	}
	if s := e.mustIpvsadm(t, "-S", "-n"); s != save {
		t.Fatalf("ipvsadm -S | ipvsadm -R round trip differs:\n%s\nwant\n%s", s, save)
	}
	t.Logf("-S -n | -R after -C gives the same rules:\n%s", save)
	if s, c := get(); s != held || c != conn {
		t.Errorf("the connection moved across -C and -R: %s %s", s, c)
	}
	// Flush and restore in one step: -C as the first line of the input.
	if o, errOut, code := e.ipvsadmStdin(t, "-C\n"+save, "-R"); code != 0 || o != "" || errOut != "" {
		t.Fatalf("ipvsadm -R of -C and the rules: %d %q %q", code, o, errOut)
	}
	if s := e.mustIpvsadm(t, "-S", "-n"); s != save {
		t.Fatalf("-C and the rules in one -R:\n%s\nwant\n%s", s, save)
	}
	if s, c := get(); s != held || c != conn {
		t.Errorf("the connection moved across a flush and restore in one -R: %s %s", s, c)
	}
	// A bad line in -R input: ipvsadm's message, the line, no change.
	badR := "-A -t " + vip + ":81 -s rr\n\n-a -t " + vip + ":81 -r " + ripA + ":81 -m\n-a -t " + vip + ":81 -r " + ripA + ":81 -m\n"
	o, errOut, code = e.ipvsadmStdin(t, badR, "-R")
	if code != 255 || o != "" || errOut != "Destination already exists\nRestore failed at line 4; nothing was changed\n" {
		t.Errorf("ipvsadm -R of a bad input: %d %q %q", code, o, errOut)
	}
	if s := e.mustIpvsadm(t, "-S", "-n"); s != save {
		t.Errorf("a failed -R changed the configuration:\n%s", s)
	}
	// Input beyond what one request carries is refused by the client.
	o, errOut, code = e.ipvsadmStdin(t, strings.Repeat("-Z\n", 400000), "-R")
	if code != 2 || o != "" || !strings.Contains(errOut, "standard input too large") {
		t.Errorf("ipvsadm -R of 1.2 MB: %d %q %q", code, o, errOut)
	}

	e.stopDirector(t)
}

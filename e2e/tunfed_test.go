package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/lab"
)

// TestTunFedNAT: gdirector fed by a TUN device instead of raw sockets. The
// director's host routes VIP traffic into the TUN device, and the real
// servers' replies too (a source rule: from the real-server network, coming
// in on eth1). gdirector NATs and writes the packets back to the device for
// the host to route. Then the same with FullNAT (the host routes the local
// address into the device). DR is refused with a clear error there.
func TestTunFedNAT(t *testing.T) {
	roottest(t)
	topo, err := lab.Build(lab.Options{Prefix: labPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { topo.Close() })
	if err := topo.StartReals(bin); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	logFile := filepath.Join(t.TempDir(), "director.log")
	p, err := topo.StartLogged(topo.DirectorNS, logFile, bin, "run", "--tun", "gdtun0", "--ctl", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(logFile)
			t.Logf("director log:\n%s", log)
		}
	})
	if err := lab.WaitReady(t.Context(), sock, p); err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("%v\n%s", err, log)
	}
	vip := topo.VIP.String()
	for _, c := range [][]string{
		{"ip", "route", "add", vip + "/32", "dev", "gdtun0"},
		{"ip", "rule", "add", "from", topo.RealNet.String(), "iif", topo.DirRealIf, "lookup", "100"},
		{"ip", "route", "add", "default", "dev", "gdtun0", "table", "100"},
	} {
		run(t, topo.DirectorNS, 5*time.Second, c...)
	}
	// The client reaches the VIP through the director as a router now.
	run(t, topo.ClientNS, 5*time.Second, "ip", "route", "replace", topo.VIPNet.String(), "via", topo.DIPClient.String())

	e := &env{Topology: topo, sock: sock, logFile: logFile, dir: p}
	e.mustIpvsadm(t, "-A", "-t", vip+":80", "-s", "rr")
	for _, r := range topo.Reals {
		e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", r.RIP.String()+":80", "-m")
	}
	var got []string
	for i := 0; i < 4; i++ {
		got = append(got, strings.TrimSpace(run(t, topo.ClientNS, 10*time.Second, "curl", "-sS", "-m", "5", "http://"+vip+"/")))
	}
	if strings.Join(got, "|") != "served by rs2|served by rs1|served by rs2|served by rs1" {
		t.Fatalf("answers %q", got)
	}
	// FullNAT through the TUN device: the host routes the local address
	// into the device too, and the real servers reach it by their
	// default route (the director host).
	laddr := "192.0.2.200"
	run(t, topo.DirectorNS, 5*time.Second, "ip", "route", "add", laddr+"/32", "dev", "gdtun0")
	e.mustIpvsadm(t, "-D", "-t", vip+":80")
	e.mustIpvsadm(t, "-A", "-t", vip+":80", "-s", "rr")
	e.mustIpvsadm(t, "--add-laddr", "-z", laddr, "-t", vip+":80")
	for _, r := range topo.Reals {
		e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", r.RIP.String()+":80", "-b")
	}
	got = got[:0]
	for i := 0; i < 2; i++ {
		body := run(t, topo.ClientNS, 10*time.Second, "curl", "-sS", "-m", "5", "-D", "-", "http://"+vip+"/")
		if !strings.Contains(body, "X-Client-Addr: "+laddr+":") {
			t.Errorf("FullNAT over TUN: the real server did not see the local address:\n%s", body)
		}
		got = append(got, body[strings.LastIndex(body, "served by"):])
	}
	if len(got) != 2 || got[0] == got[1] {
		t.Errorf("FullNAT over TUN answers %q", got)
	}
	// DR needs layer 2: refused on a TUN-fed director.
	e.mustIpvsadm(t, "-A", "-t", vip+":81", "-s", "rr")
	_, stderr, code := e.ipvsadm(t, "-a", "-t", vip+":81", "-r", topo.Reals[0].RIP.String()+":81", "-g")
	if code == 0 || !strings.Contains(stderr, "TUN") {
		t.Errorf("-g on a TUN-fed director: exit %d, %q", code, stderr)
	}
	if err := p.Stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	if out, err := run2(topo.DirectorNS, "ip", "link", "show", "gdtun0"); err == nil {
		t.Errorf("TUN device left behind after SIGTERM: %s", out)
	}
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	rt "github.com/gdirector/gdirector/internal/roottest"
	"github.com/gdirector/gdirector/lab"
)

// bin is the gdirector binary built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gdirector-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "gdirector")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/gdirector/gdirector/cmd/gdirector").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building gdirector: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var labSeq atomic.Int32

// labPrefix returns a namespace prefix unique to this test process:
// gde<pid>a … gde<pid>z, then gde<pid>aa, ab, … (a whole run builds more
// than 26 labs).
func labPrefix() string {
	n := labSeq.Add(1) - 1
	seq := string(rune('a' + n%26))
	if n >= 26 {
		seq = string(rune('a'+n/26-1)) + seq
	}
	return fmt.Sprintf("gde%d%s", os.Getpid()%100000, seq)
}

// roottest requires what every end-to-end test needs.
func roottest(t *testing.T) {
	t.Helper()
	rt.Require(t, "ip", "curl", "socat", "tcpdump")
}

// run2 runs a command in ns and returns its output and error (no failing).
func run2(ns string, argv ...string) (string, error) { return nsutil.Run(ns, argv...) }

// env is one lab with a running director.
type env struct {
	*lab.Topology
	sock    string
	logFile string
	dir     *nsutil.Proc
}

// newEnv builds a NAT lab with two real servers and starts the director.
// Before starting it, the director namespace's ip_forward is set to 1, so
// the test also proves the daemon switches it off and restores it.
func newEnv(t *testing.T) *env { return newEnvMode(t, "nat") }

// newEnvMode does the same for a lab of the given mode ("nat", "dr", "tun"
// or "fullnat").
func newEnvMode(t *testing.T, mode string) *env { return newEnvOpts(t, mode, lab.Options{}) }

// newEnvOpts does the same with lab options (Prefix is filled in).
func newEnvOpts(t *testing.T, mode string, opt lab.Options) *env {
	t.Helper()
	return newEnvArgs(t, mode, opt)
}

// newEnvArgs does the same and starts the director with extra flags
// (--metrics, --workers, …).
func newEnvArgs(t *testing.T, mode string, opt lab.Options, extra ...string) *env {
	t.Helper()
	topo := buildLab(t, mode, opt)
	if mode == "tun" {
		if err := topo.StartDecapsulators(bin, t.TempDir()); err != nil {
			t.Fatalf("start decapsulators: %v", err)
		}
	}
	if err := topo.StartReals(bin); err != nil {
		t.Fatalf("start reals: %v", err)
	}
	if _, err := nsutil.SetSysctl(topo.DirectorNS, "net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	e := &env{Topology: topo, sock: filepath.Join(t.TempDir(), "ctl.sock"), logFile: filepath.Join(t.TempDir(), "director.log")}
	start := time.Now()
	var err error
	e.dir, err = topo.StartDirectorArgs(bin, e.sock, e.logFile, extra...)
	if err != nil {
		t.Fatalf("start director: %v", err)
	}
	// The CLI contract: the socket takes commands within a second of start.
	if ready := time.Since(start); ready > time.Second {
		t.Errorf("control socket ready after %v, want under 1s", ready)
	} else {
		t.Logf("control socket ready %v after start", ready.Round(time.Millisecond))
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(e.logFile)
			t.Logf("director log:\n%s", log)
		}
	})
	if v, _ := nsutil.Sysctl(topo.DirectorNS, "net.ipv4.ip_forward"); v != "0" {
		t.Fatalf("director running with ip_forward=%s", v)
	}
	return e
}

// buildLab builds a lab of the given mode ("nat", "dr", "tun" or
// "fullnat") under a fresh prefix (opt.Prefix is filled in), and removes
// it when the test ends (see cleanupLab).
func buildLab(t *testing.T, mode string, opt lab.Options) *lab.Topology {
	t.Helper()
	roottest(t)
	opt.Prefix = labPrefix()
	build := map[string]func(lab.Options) (*lab.Topology, error){"nat": lab.Build, "dr": lab.BuildDR, "tun": lab.BuildTUN, "fullnat": lab.BuildFullNAT}[mode]
	topo, err := build(opt)
	if err != nil {
		t.Fatalf("build lab: %v", err)
	}
	cleanupLab(t, topo.Builder)
	return topo
}

// cleanupLab closes b (its processes, namespaces and links) when the test
// ends, and fails the test if any of its namespaces is left behind.
func cleanupLab(t *testing.T, b *lab.Builder) {
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
		for _, ns := range b.Namespaces() {
			if nsutil.Exists(ns) {
				t.Errorf("namespace %s left behind", ns)
			}
		}
	})
}

// ipvsadm runs the real binary as a separate process, as a user would.
func (e *env) ipvsadm(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return e.gdirector(t, append([]string{"ipvsadm"}, args...)...)
}

func (e *env) mustIpvsadm(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := e.ipvsadm(t, args...)
	if code != 0 {
		t.Fatalf("ipvsadm %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// capture is a running tcpdump writing a pcap file.
type capture struct {
	p    *nsutil.Proc
	file string
}

func startCapture(t *testing.T, ns, iface, filter string) *capture {
	t.Helper()
	file := filepath.Join(t.TempDir(), ns+"-"+iface+".pcap")
	// --immediate-mode: without it libpcap hands packets over only when a
	// ring block fills or times out, and a short capture stopped by SIGTERM
	// would lose them.
	p, err := nsutil.Start(ns, "tcpdump", "-i", iface, "-nn", "-U", "--immediate-mode", "-s", "256", "-w", file, filter)
	if err != nil {
		t.Fatal(err)
	}
	c := &capture{p: p, file: file}
	t.Cleanup(func() { c.p.Stop() })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Stderr(), "listening on") {
		if time.Now().After(deadline) || p.Exited() {
			t.Fatalf("tcpdump did not start: %s", p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// stop ends the capture and returns the pcap file.
func (c *capture) stop(t *testing.T) string {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // let the last frames reach the file
	c.p.Stop()
	return c.file
}

// stopDirector sends SIGTERM and checks the daemon leaves nothing behind.
func (e *env) stopDirector(t *testing.T) {
	t.Helper()
	if err := e.dir.Stop(); err != nil {
		t.Logf("director stop: %v", err)
	}
	if _, err := os.Stat(e.sock); !os.IsNotExist(err) {
		t.Errorf("control socket %s still exists after SIGTERM (%v)", e.sock, err)
	}
	if v, _ := nsutil.Sysctl(e.DirectorNS, "net.ipv4.ip_forward"); v != "1" {
		t.Errorf("ip_forward not restored: %s", v)
	}
	for _, fam := range []string{"-4", "-6"} {
		if out, _ := run2(e.DirectorNS, "ip", fam, "route", "show", "table", "all", "proto", "250"); strings.TrimSpace(out) != "" {
			t.Errorf("the director's blackhole routes outlived it:\n%s", out)
		}
	}
	log, _ := os.ReadFile(e.logFile)
	if !strings.Contains(string(log), "stopped") {
		t.Errorf("director did not stop cleanly; log:\n%s", log)
	}
}

func run(t *testing.T, ns string, timeout time.Duration, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := nsutil.RunContext(ctx, ns, argv...)
	if err != nil {
		t.Fatalf("%s in %s: %v\n%s", strings.Join(argv, " "), ns, err, out)
	}
	return out
}

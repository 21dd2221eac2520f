package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/lab"
)

// offloadsOn turns TSO, GSO and GRO on for every veth of the lab (the
// lab builds them off): the client's and real servers' TCP stacks then
// hand the veths 64 KiB super-frames, which the director reads whole.
func offloadsOn(t *testing.T, topo *lab.Topology) {
	t.Helper()
	for _, ns := range topo.Namespaces() {
		out, err := nsutil.Run(ns, "ip", "-o", "link", "show", "type", "veth")
		if err != nil {
			t.Fatalf("list veths in %s: %v: %s", ns, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if o, err := nsutil.Run(ns, "ethtool", "-K", name, "tso", "on", "gso", "on", "gro", "on"); err != nil {
				t.Fatalf("ethtool -K %s (%s) tso gso gro on: %v: %s", name, ns, err, o)
			}
		}
	}
}

var linkStats = regexp.MustCompile(`gdirector: (\S+): \d+ frames read \((\d+) super-frames\), \d+ written \((\d+) super-frames\), (\d+) write errors, (\d+) truncated`)

// TestOffloadBulk moves 16 MiB each way through every method with
// TSO/GSO/GRO on in the whole lab: a download (GET /bytes) and an upload
// echoed back (POST /echo), compared byte for byte. The director reads
// the client's super-frames whole (and for NAT and FullNAT the real
// server's), writes them whole for NAT, DR and FullNAT (the kernel
// segments them on the way out), and cuts them itself for TUN, where no
// offload type describes an IPIP packet. Its exit log must count
// super-frames read, none truncated, none refused by the kernel.
func TestOffloadBulk(t *testing.T) {
	const n = 16 << 20
	want := make([]byte, n)
	lab.FillPattern(want, 0)
	for _, c := range []struct{ mode, flag string }{{"nat", "-m"}, {"dr", "-g"}, {"tun", "-i"}, {"fullnat", "-b"}} {
		t.Run(c.mode, func(t *testing.T) {
			e := newEnvArgs(t, c.mode, lab.Options{}, "--metrics", "127.0.0.1:9109")
			offloadsOn(t, e.Topology)
			f := family4(e)
			e.services(t, f, c.flag, workload{http: 1})
			dir := t.TempDir()
			down := filepath.Join(dir, "down")
			if out, err := run2(e.ClientNS, "curl", "-sS", "-m", "20", "-o", down, fmt.Sprintf("http://%s/bytes?n=%d", e.VIP, n)); err != nil {
				t.Errorf("download: %v: %s", err, out)
			}
			if got, _ := os.ReadFile(down); !bytes.Equal(got, want) {
				t.Errorf("download: %d bytes, not the %d pattern bytes served", len(got), n)
			}
			up, back := filepath.Join(dir, "up"), filepath.Join(dir, "back")
			if err := os.WriteFile(up, want, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := run2(e.ClientNS, "curl", "-sS", "-m", "20", "-H", "Expect:", "--data-binary", "@"+up, "-o", back, fmt.Sprintf("http://%s/echo", e.VIP)); err != nil {
				t.Errorf("upload: %v: %s", err, out)
			}
			if got, _ := os.ReadFile(back); !bytes.Equal(got, want) {
				t.Errorf("upload echoed %d bytes, not the %d sent", len(got), n)
			}
			if out, err := run2(e.DirectorNS, "curl", "-sS", "http://127.0.0.1:9109/metrics"); err == nil {
				for _, l := range strings.Split(out, "\n") {
					if strings.Contains(l, "drop") && !strings.HasPrefix(l, "#") && !strings.HasSuffix(l, " 0") {
						t.Logf("metrics: %s", l)
					}
				}
			}
			e.stopDirector(t)
			log, _ := os.ReadFile(e.logFile)
			if !strings.Contains(string(log), "super-frames are read and written whole") {
				t.Errorf("director log does not announce super-frames:\n%s", log)
			}
			var superRead, superWritten int
			for _, m := range linkStats.FindAllStringSubmatch(string(log), -1) {
				r, _ := strconv.Atoi(m[2])
				w, _ := strconv.Atoi(m[3])
				superRead += r
				superWritten += w
				t.Logf("%s: %s super-frames read, %s written, %s write errors, %s truncated", m[1], m[2], m[3], m[4], m[5])
				if m[4] != "0" || m[5] != "0" {
					t.Errorf("%s: %s write errors, %s truncated frames", m[1], m[4], m[5])
				}
			}
			if superRead == 0 {
				t.Errorf("no super-frame read: the test did not exercise offloads\n%s", log)
			}
			if c.mode != "tun" && superWritten == 0 {
				t.Errorf("no super-frame written whole by a %s director", c.mode)
			}
		})
	}
}

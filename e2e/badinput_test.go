package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestIpvsadmBadInput runs the real binary, as `gdirector ipvsadm` and as a
// symlink named ipvsadm, against a running daemon: every bad command prints
// ipvsadm's message with ipvsadm's exit code and leaves the table exactly
// as it was. ipvsadm exits 2 for argument errors and 255 for errors the
// kernel reports (main returns libipvs's -1).
func TestIpvsadmBadInput(t *testing.T) {
	e := newEnv(t)
	vip := e.VIP.String()
	e.mustIpvsadm(t, "-A", "-t", vip+":80", "-s", "rr")
	e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", e.Reals[0].RIP.String()+":80", "-m", "-w", "3")
	before := e.mustIpvsadm(t, "-L", "-n")

	cases := []struct {
		name   string
		args   []string
		stderr string
		code   int
	}{
		{"unknown scheduler", []string{"-A", "-t", vip + ":81", "-s", "nosuch"}, "Scheduler or persistence engine not found", 255},
		{"malformed virtual address", []string{"-A", "-t", "192.0.2.300:80", "-s", "rr"}, "illegal virtual server address[:port] specified", 2},
		{"malformed real address", []string{"-a", "-t", vip + ":80", "-r", "203.0.113.x", "-m"}, "illegal real server address[:port] specified", 2},
		{"duplicate service", []string{"-A", "-t", vip + ":80", "-s", "wrr"}, "Service already exists", 255},
		{"dest for missing service", []string{"-a", "-t", vip + ":8080", "-r", e.Reals[1].RIP.String(), "-m"}, "Service not defined", 255},
		{"duplicate dest", []string{"-a", "-t", vip + ":80", "-r", e.Reals[0].RIP.String() + ":80", "-m"}, "Destination already exists", 255},
		{"illegal weight", []string{"-e", "-t", vip + ":80", "-r", e.Reals[0].RIP.String() + ":80", "-m", "-w", "-5"}, "illegal weight specified", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := e.ipvsadm(t, c.args...)
			if !strings.Contains(stderr, c.stderr) || code != c.code {
				t.Errorf("ipvsadm %s: exit %d stderr %q; want exit %d with %q", strings.Join(c.args, " "), code, stderr, c.code, c.stderr)
			}
			if after := e.mustIpvsadm(t, "-L", "-n"); after != before {
				t.Errorf("table changed by a failed command:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}

	// The same binary answers to the name ipvsadm.
	link := filepath.Join(t.TempDir(), "ipvsadm")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, "-L", "-n")
	cmd.Env = append(os.Environ(), "GDIRECTOR_CTL="+e.sock)
	out, err := cmd.Output()
	if err != nil || string(out) != before {
		t.Errorf("ipvsadm symlink: %v\n%s", err, out)
	}
	// Without a daemon the client says so and fails.
	cmd = exec.Command(bin, "ipvsadm", "-L", "-n")
	cmd.Env = append(os.Environ(), "GDIRECTOR_CTL="+filepath.Join(t.TempDir(), "none.sock"))
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "not reachable") {
		t.Errorf("no daemon: %v %s", err, out)
	}
}

package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/lab"
)

// The two CPUs of the measurement: the load (client, real servers, their
// kernels' receive work) on one, the director (its process and the receive
// work of its namespace's interfaces, steered there with RPS) on the other.
const (
	cpuLoad     = 0
	cpuDirector = 1
)

const (
	httpPort  = 80
	iperfPort = 5201
	// mss is the TCP payload of one 1500-byte frame with timestamps: the
	// unit of "per packet" for the bulk tests.
	mss = 1448
	// readyWait bounds every wait for a server or a path to answer.
	readyWait = 10 * time.Second
)

// method is one forwarding method: the lab topology it needs and its
// ipvsadm flag.
type method struct {
	name  string
	build func(lab.Options) (*lab.Topology, error)
	flag  string
}

var methods = map[string]method{
	"nat":     {"nat", lab.Build, "-m"},
	"dr":      {"dr", lab.BuildDR, "-g"},
	"tun":     {"tun", lab.BuildTUN, "-i"},
	"fullnat": {"fullnat", lab.BuildFullNAT, "-b"},
}

// session is one method's lab with its real servers running.
type session struct {
	opt   Options
	m     method
	t     *lab.Topology
	dir   string // logs, control socket, configurations
	bin   string // the gdirector binary
	sinks []*sink
	logf  func(format string, args ...any)
	// inodes are the lab's network namespaces, to tell its processes'
	// CPU time from other work on the machine.
	inodes map[uint64]bool
}

// newSession builds the method's topology and starts its real servers.
// On error everything it made is removed.
func newSession(ctx context.Context, opt Options, m method, prefix, bin string, logf func(string, ...any)) (s *session, err error) {
	dir := filepath.Join(stateRoot, prefix)
	_ = lab.Cleanup(prefix) // leftovers of a crashed run with this very prefix
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	t, err := m.build(lab.Options{Prefix: prefix})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s = &session{opt: opt, m: m, t: t, dir: dir, bin: bin, logf: logf}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	if err := s.prepare(ctx); err != nil {
		return nil, fmt.Errorf("bench %s: %w", m.name, err)
	}
	return s, nil
}

// stateRoot holds one directory per session.
const stateRoot = "/run/gdirector-bench"

// prepare steers receive work to the CPUs, tunes the endpoints' TCP, and
// starts the real servers (HTTP, iperf3, UDP sinks and, for TUN, the
// decapsulators), each pinned to the load CPU.
func (s *session) prepare(ctx context.Context) error {
	t := s.t
	s.inodes = map[uint64]bool{}
	for _, ns := range t.Namespaces() {
		ino, err := nsutil.Inode(ns)
		if err != nil {
			return err
		}
		s.inodes[ino] = true
		mask := 1 << cpuLoad
		if ns == t.DirectorNS {
			mask = 1 << cpuDirector
		}
		if err := setRPS(ns, mask); err != nil {
			return err
		}
	}
	// Many short connections from one client: widen its ports and let it
	// reuse TIME-WAIT ones; the same for HAProxy's side on the director.
	for _, ns := range []string{t.ClientNS, t.DirectorNS} {
		if err := t.SetSysctl(ns, "net.ipv4.ip_local_port_range", "1024 65535"); err != nil {
			return err
		}
		if err := t.SetSysctl(ns, "net.ipv4.tcp_tw_reuse", "1"); err != nil {
			return err
		}
	}
	if t.Mode == "tun" {
		if err := t.StartDecapsulators(s.wrapper(strconv.Itoa(cpuLoad)), s.dir); err != nil {
			return err
		}
	}
	load := strconv.Itoa(cpuLoad)
	for _, r := range t.Reals {
		// 0.0.0.0: the RIP (anchors, NAT) and, on DR and TUN real
		// servers, the VIP on lo.
		if _, err := t.StartLogged(r.NS, filepath.Join(s.dir, r.Name+"-http.log"), "taskset", "-c", load,
			s.bin, "serve", "http", "--listen", "0.0.0.0:"+strconv.Itoa(httpPort), "--name", r.Name); err != nil {
			return err
		}
		if _, err := t.StartLogged(r.NS, filepath.Join(s.dir, r.Name+"-iperf3.log"), "taskset", "-c", load,
			"iperf3", "--server", "--port", strconv.Itoa(iperfPort)); err != nil {
			return err
		}
		sk, err := openSink(r.NS, cpuLoad)
		if err != nil {
			return err
		}
		s.sinks = append(s.sinks, sk)
	}
	for _, r := range t.Reals {
		for _, port := range []int{httpPort, iperfPort} {
			if err := waitListening(ctx, r.NS, port); err != nil {
				return fmt.Errorf("%s: %w", r.Name, err)
			}
		}
	}
	return nil
}

// wrapper returns (creating it once) a script that runs the gdirector
// binary pinned to cpus, for lab functions that take a binary path.
func (s *session) wrapper(cpus string) string {
	p := filepath.Join(s.dir, "gdirector-cpu"+strings.ReplaceAll(cpus, ",", "_"))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	script := "#!/bin/sh\nexec taskset -c " + cpus + " " + shellQuote(s.bin) + ` "$@"` + "\n"
	_ = os.WriteFile(p, []byte(script), 0o755)
	return p
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// setRPS steers the receive processing of every veth of ns to the CPUs of
// mask (Receive Packet Steering), so each namespace's kernel work lands on
// its side's CPU whichever CPU sent the frame.
func setRPS(ns string, mask int) error {
	names, err := veths(ns)
	if err != nil {
		return err
	}
	for _, n := range names {
		script := fmt.Sprintf(`for f in /sys/class/net/%s/queues/rx-*/rps_cpus; do echo %x > "$f" || exit 1; done`, n, mask)
		if out, err := nsutil.Run(ns, "sh", "-c", script); err != nil {
			return fmt.Errorf("RPS on %s in %s: %v: %s", n, ns, err, out)
		}
	}
	return nil
}

// veths lists the veth interfaces of ns.
func veths(ns string) ([]string, error) {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, err
	}
	defer nh.Close()
	links, err := nh.LinkList()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range links {
		if l.Type() == "veth" {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

// setOffloads turns TSO, GSO and GRO on or off on every veth of the lab.
func (s *session) setOffloads(on bool) error {
	for _, ns := range s.t.Namespaces() {
		names, err := veths(ns)
		if err != nil {
			return err
		}
		for _, n := range names {
			if !on {
				if err := nsutil.DisableOffloads(ns, n); err != nil {
					return err
				}
				continue
			}
			if out, err := nsutil.Run(ns, "ethtool", "-K", n, "tso", "on", "gso", "on", "gro", "on"); err != nil {
				return fmt.Errorf("offloads on %s in %s: %v: %s", n, ns, err, out)
			}
		}
	}
	return nil
}

// waitListening waits until something listens on TCP port in ns.
func waitListening(ctx context.Context, ns string, port int) error {
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	for {
		out, err := nsutil.RunContext(ctx, ns, "ss", "-Hltn", "sport = :"+strconv.Itoa(port))
		if err == nil && strings.TrimSpace(out) != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nothing listens on port %d in %s", port, ns)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitHTTP waits until an HTTP GET from the client to every target
// succeeds: the path through the director works.
func (s *session) waitHTTP(ctx context.Context, targets []netip.Addr) error {
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	c := nsutil.HTTPClient(s.t.ClientNS)
	c.Timeout = time.Second
	for _, a := range targets {
		url := "http://" + netip.AddrPortFrom(a, httpPort).String() + "/"
		var last error
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := c.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("status %s", resp.Status)
			}
			last = err
			select {
			case <-ctx.Done():
				return fmt.Errorf("client cannot reach %s: %v", url, last)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// Close stops everything the session started and deletes its namespaces
// and state directory.
func (s *session) Close() error {
	for _, sk := range s.sinks {
		sk.Close()
	}
	s.sinks = nil
	err := s.t.Close()
	if rerr := os.RemoveAll(s.dir); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return err
}

// delivered sums the sinks' counts.
func (s *session) delivered() uint64 {
	var n uint64
	for _, sk := range s.sinks {
		n += sk.Count()
	}
	return n
}

// workersFlag reports whether `gdirector run` has a --workers flag.
func workersFlag(bin string) bool {
	out, _ := exec.Command(bin, "run", "-h").CombinedOutput()
	return strings.Contains(string(out), "-workers")
}

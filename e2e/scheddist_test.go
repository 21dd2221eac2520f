package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/lab"
)

// heldConn is a keep-alive HTTP connection from the client namespace to
// the VIP, kept open so that it counts as an active connection of the
// real server that answered it.
type heldConn struct {
	c    net.Conn
	real string
}

// hold opens a connection to the service address svc (VIP:port) from the
// client namespace, makes one request on it and keeps it open; it returns
// the connection and the name of the real server that answered.
func (e *env) hold(t *testing.T, svc string) heldConn {
	t.Helper()
	return e.holdFrom(t, svc, 0)
}

// holdFrom is hold from the client's local port lport (0: any), bound
// with SO_REUSEADDR so that a port whose last connection is in TIME_WAIT
// can be taken again.
func (e *env) holdFrom(t *testing.T, svc string, lport int) heldConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var c net.Conn
	err := nsutil.Do(e.ClientNS, func() error {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			}); err != nil {
				return err
			}
			return serr
		}}
		if lport != 0 {
			d.LocalAddr = &net.TCPAddr{IP: e.CIP.AsSlice(), Port: lport}
		}
		var err error
		c, err = d.DialContext(ctx, "tcp", svc)
		return err
	})
	if err != nil {
		t.Fatalf("dial %s: %v", svc, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", svc); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("response on held connection: %v", err)
	}
	resp.Body.Close()
	return heldConn{c: c, real: resp.Header.Get("X-Real-Server")}
}

// modelDest is one dest of a scheduler model: its name and the counters
// the model keeps (only held connections, so inactive is always 0).
type modelDest struct {
	name   string
	weight int64
	active int64
}

// modelPick applies the definition of a load-based scheduler, written
// from the ipvsadm(8) descriptions and the kernel's comparison rules
// (cross-multiplied ratios, the first dest in list order winning ties,
// weight 0 never chosen), independently of package sched. It returns the
// index of the dest the next new connection goes to, or -1.
func modelPick(name string, ds []modelDest) int {
	best := -1
	better := func(i int) bool { return false }
	switch name {
	case "lc": // least 256*active (+inactive, 0 here)
		better = func(i int) bool { return ds[i].active < ds[best].active }
	case "wlc": // least (256*active)/weight
		better = func(i int) bool { return ds[i].active*ds[best].weight < ds[best].active*ds[i].weight }
	case "sed", "nq": // least (active+1)/weight; nq first takes an idle dest
		if name == "nq" {
			for i, d := range ds {
				if d.weight > 0 && d.active == 0 {
					return i
				}
			}
		}
		better = func(i int) bool {
			return (ds[i].active+1)*ds[best].weight < (ds[best].active+1)*ds[i].weight
		}
	case "fo": // the heaviest
		better = func(i int) bool { return ds[i].weight > ds[best].weight }
	case "ovf": // the heaviest whose active connections do not exceed its weight
		better = func(i int) bool { return ds[i].weight > ds[best].weight }
	}
	for i, d := range ds {
		if d.weight <= 0 || name == "ovf" && d.active > d.weight {
			continue
		}
		if best == -1 || better(i) {
			best = i
		}
	}
	return best
}

// TestSchedulerDistribution: real connections through a NAT director with
// three real servers, spread by each scheduler as its definition says.
// The load-based schedulers are checked connection by connection against
// a model of their definition while every connection is held open (so it
// counts as active); the others by their defining property. Each
// scheduler gets a fresh service (-C), so earlier connections do not
// count.
func TestSchedulerDistribution(t *testing.T) {
	e := newEnvOpts(t, "nat", lab.Options{Reals: 3})
	vip := e.VIP.String()
	// Six client addresses for the hashing schedulers.
	var clients []netip.Addr
	for i := 2; i <= 7; i++ {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		if a != e.CIP {
			run(t, e.ClientNS, 5*time.Second, "ip", "addr", "add", a.String()+"/24", "dev", e.ClientIf)
		}
		clients = append(clients, a)
	}
	// setup makes a fresh service on a port of its own, VIP:8001, :8002, …
	// (NAT to the real servers' port 80), so that no dest is taken back
	// from the trash with the counters of an earlier subtest (as the
	// kernel would for the same service); weights are rs1, rs2, rs3's,
	// added in that order, so the kernel's list (and ours) walks rs3, rs2,
	// rs1.
	port := 8000
	setup := func(t *testing.T, sched string, weights [3]int64, extra ...string) ([]modelDest, string) {
		t.Helper()
		port++
		svc := fmt.Sprintf("%s:%d", vip, port)
		e.mustIpvsadm(t, "-C")
		e.mustIpvsadm(t, append([]string{"-A", "-t", svc, "-s", sched}, extra...)...)
		var ds []modelDest
		for i, r := range e.Reals {
			e.mustIpvsadm(t, "-a", "-t", svc, "-r", r.RIP.String()+":80", "-m", "-w", fmt.Sprint(weights[i]))
			ds = append([]modelDest{{name: r.Name, weight: weights[i]}}, ds...)
		}
		return ds, svc
	}
	counts := func(seq []string) map[string]int {
		m := map[string]int{}
		for _, s := range seq {
			m[s]++
		}
		return m
	}

	for _, tc := range []struct {
		name    string
		weights [3]int64
		n       int
	}{
		{"lc", [3]int64{1, 1, 1}, 7},
		{"wlc", [3]int64{3, 2, 1}, 12},
		{"sed", [3]int64{3, 2, 1}, 9},
		{"nq", [3]int64{3, 2, 1}, 9},
		{"fo", [3]int64{2, 3, 1}, 4},
		{"ovf", [3]int64{2, 1, 0}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, svc := setup(t, tc.name, tc.weights)
			var got, want []string
			var held []heldConn
			for i := 0; i < tc.n; i++ {
				w := modelPick(tc.name, ds)
				if w < 0 {
					t.Fatal("model found no dest")
				}
				h := e.hold(t, svc)
				held = append(held, h)
				want = append(want, ds[w].name)
				got = append(got, h.real)
				for j := range ds {
					if ds[j].name == h.real {
						ds[j].active++
					}
				}
			}
			t.Logf("%s weights rs1:%d rs2:%d rs3:%d, %d held connections: %v (counts %v)",
				tc.name, tc.weights[0], tc.weights[1], tc.weights[2], tc.n, got, counts(got))
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s placed connections %v, its definition gives %v", tc.name, got, want)
			}
			list := e.mustIpvsadm(t, "-L", "-n")
			for _, d := range ds {
				a, _ := destCountsOf(list, realOf(e, d.name).RIP.String()+":80")
				if int64(a) != d.active {
					t.Errorf("%s: ipvsadm shows %d active connections, %d are held", d.name, a, d.active)
				}
			}
			for _, h := range held {
				h.c.Close()
			}
		})
	}

	t.Run("rr", func(t *testing.T) {
		_, svc := setup(t, "rr", [3]int64{1, 1, 1})
		var seq []string
		for i := 0; i < 6; i++ {
			seq = append(seq, e.curlFrom(t, e.CIP, "http://"+svc+"/"))
		}
		t.Logf("rr, six connections: %v", seq)
		if strings.Join(seq, " ") != "rs3 rs2 rs1 rs3 rs2 rs1" {
			t.Errorf("rr sequence %v, want rs3 rs2 rs1 twice (list order: the dest added last first)", seq)
		}
	})

	t.Run("wrr", func(t *testing.T) {
		_, svc := setup(t, "wrr", [3]int64{3, 2, 1})
		var seq []string
		for i := 0; i < 12; i++ {
			seq = append(seq, e.curlFrom(t, e.CIP, "http://"+svc+"/"))
		}
		c := counts(seq)
		t.Logf("wrr rs1:3 rs2:2 rs3:1, twelve connections: %v (counts %v)", seq, c)
		if c["rs1"] != 6 || c["rs2"] != 4 || c["rs3"] != 2 {
			t.Errorf("wrr counts %v, want 6:4:2", c)
		}
	})

	// sh and mh: every client keeps its real server, and the clients are
	// spread; dh: every client goes where the VIP hashes to.
	for _, tc := range []struct{ name, flags string }{{"sh", ""}, {"mh", ""}, {"dh", ""}, {"sh", "sh-port"}} {
		t.Run(strings.TrimSuffix(tc.name+"-"+tc.flags, "-"), func(t *testing.T) {
			var extra []string
			if tc.flags != "" {
				extra = []string{"-b", tc.flags}
			}
			_, svc := setup(t, tc.name, [3]int64{1, 1, 1}, extra...)
			per := map[netip.Addr][]string{}
			used := map[string]bool{}
			for round := 0; round < 3; round++ {
				for _, c := range clients {
					n := e.curlFrom(t, c, "http://"+svc+"/")
					per[c] = append(per[c], n)
					used[n] = true
				}
			}
			var b strings.Builder
			for _, c := range clients {
				fmt.Fprintf(&b, " %s→%v", c, per[c])
			}
			t.Logf("%s %s, 3 rounds over %d clients:%s", tc.name, tc.flags, len(clients), b.String())
			switch {
			case tc.flags == "sh-port":
				// The client's port joins the hash: one client's
				// connections spread over the servers.
				if len(used) < 2 {
					t.Errorf("sh-port sent every connection to one server: %v", used)
				}
			case tc.name == "dh":
				if len(used) != 1 {
					t.Errorf("dh used %d servers for one destination address", len(used))
				}
			default:
				for c, s := range per {
					for _, n := range s {
						if n != s[0] {
							t.Errorf("%s moved client %s: %v", tc.name, c, s)
							break
						}
					}
				}
				if len(used) < 2 {
					t.Errorf("%s put all %d clients on one server", tc.name, len(clients))
				}
			}
		})
	}

	// sh without and with sh-fallback when a client's server is quiesced.
	t.Run("sh-fallback", func(t *testing.T) {
		_, svc := setup(t, "sh", [3]int64{1, 1, 1})
		home := e.curlFrom(t, e.CIP, "http://"+svc+"/")
		e.mustIpvsadm(t, "-e", "-t", svc, "-r", realOf(e, home).RIP.String()+":80", "-m", "-w", "0")
		if out, err := run2(e.ClientNS, "curl", "-sS", "-m", "1", "http://"+svc+"/"); err == nil {
			t.Errorf("sh without fallback served a client whose server is quiesced: %s", out)
		}
		e.mustIpvsadm(t, "-E", "-t", svc, "-s", "sh", "-b", "sh-fallback")
		moved := e.curlFrom(t, e.CIP, "http://"+svc+"/")
		t.Logf("sh: client %s on %s; quiesced: no answer; with sh-fallback: %s", e.CIP, home, moved)
		if moved == home || moved == "" {
			t.Errorf("sh-fallback answered from %q (home %s)", moved, home)
		}
	})

	// lblc and lblcr: one destination address keeps its server while it
	// is not overloaded; lblc moves when active > weight and another
	// server is less than half loaded.
	for _, name := range []string{"lblc", "lblcr"} {
		t.Run(name, func(t *testing.T) {
			_, svc := setup(t, name, [3]int64{2, 2, 2})
			var seq []string
			for i := 0; i < 6; i++ {
				seq = append(seq, e.curlFrom(t, clients[i%len(clients)], "http://"+svc+"/"))
			}
			for _, n := range seq {
				if n != seq[0] {
					t.Errorf("%s moved the VIP's connections: %v", name, seq)
					break
				}
			}
			var held []string
			for i := 0; i < 4; i++ {
				held = append(held, e.hold(t, svc).real)
			}
			t.Logf("%s weights 2:2:2: six short connections %v; four held %v", name, seq, held)
			if held[0] != seq[0] || held[1] != seq[0] || held[2] != seq[0] || held[3] == seq[0] {
				t.Errorf("%s held %v: want three on %s (active 0, 1, 2 ≤ weight 2), the fourth elsewhere", name, held, seq[0])
			}
		})
	}

	t.Run("twos", func(t *testing.T) {
		_, svc := setup(t, "twos", [3]int64{1, 1, 0})
		var seq []string
		for i := 0; i < 12; i++ {
			seq = append(seq, e.hold(t, svc).real)
		}
		c := counts(seq)
		t.Logf("twos weights rs1:1 rs2:1 rs3:0, twelve held connections: %v", c)
		if c["rs3"] != 0 || c["rs1"] == 0 || c["rs2"] == 0 {
			t.Errorf("twos counts %v: want rs1 and rs2 used, rs3 (weight 0) never", c)
		}
	})

	// Thresholds: under fo, rs1 (the heaviest) with -x 2 takes two
	// connections and is overloaded from then on (active + inactive ≥ the
	// upper threshold), so the next ones go to rs2.
	t.Run("thresholds", func(t *testing.T) {
		_, svc := setup(t, "fo", [3]int64{100, 1, 0})
		e.mustIpvsadm(t, "-e", "-t", svc, "-r", e.Reals[0].RIP.String()+":80", "-m", "-w", "100", "-x", "2")
		var seq []string
		var held []heldConn
		for i := 0; i < 5; i++ {
			h := e.hold(t, svc)
			held = append(held, h)
			seq = append(seq, h.real)
		}
		list := e.mustIpvsadm(t, "-L", "-n", "--thresholds")
		t.Logf("fo rs1 (w 100, -x 2), rs2 (w 1), five held: %v\n%s", seq, list)
		if strings.Join(seq, " ") != "rs1 rs1 rs2 rs2 rs2" {
			t.Errorf("sequence %v, want rs1 twice then rs2 (rs1 overloaded at 2 connections)", seq)
		}
		found := false
		for _, l := range strings.Split(list, "\n") {
			f := strings.Fields(l)
			found = found || len(f) >= 6 && f[1] == e.Reals[0].RIP.String()+":80" && f[4] == "2" && f[5] == "0"
		}
		if !found {
			t.Errorf("--thresholds listing lacks rs1's upper threshold 2, lower 0")
		}
	})

	// One client port, one real server, two services in turn: the first
	// connection closed (its entry lingers in TIME_WAIT, its service
	// gone), the second must still be taken — its out-key (rs1:80 →
	// client:port) is the first one's. The kernel takes it; gdirector
	// used to drop its SYNs for the whole TIME_WAIT, which made this test
	// flaky whenever the client's kernel reused a port across subtests.
	t.Run("port reuse", func(t *testing.T) {
		const lport = 40123
		_, svc := setup(t, "fo", [3]int64{1, 0, 0})
		first := e.holdFrom(t, svc, lport)
		first.c.Close()
		_, svc = setup(t, "fo", [3]int64{1, 0, 0})
		if got := e.holdFrom(t, svc, lport).real; got != "rs1" {
			t.Errorf("second connection from port %d answered by %q, want rs1", lport, got)
		}
	})
	e.stopDirector(t)
}

// destCountsOf returns the ActiveConn and InActConn columns of the line
// of dest addr in an ipvsadm -L -n listing.
func destCountsOf(list, addr string) (active, inactive int) {
	for _, l := range strings.Split(list, "\n") {
		f := strings.Fields(l)
		if len(f) == 6 && f[0] == "->" && f[1] == addr {
			fmt.Sscan(f[4], &active)
			fmt.Sscan(f[5], &inactive)
		}
	}
	return active, inactive
}

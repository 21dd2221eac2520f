package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gopacket/gopacket/layers"
)

// figures are the five numbers of one line of ipvsadm --stats (Conns,
// InPkts, OutPkts, InBytes, OutBytes) or --rate (CPS, InPPS, OutPPS, InBPS,
// OutBPS).
type figures [5]uint64

func (f *figures) add(g figures) {
	for i := range f {
		f[i] += g[i]
	}
}

// parseFigures reads `ipvsadm -L -n --stats|--rate --exact`: the figures
// of each service ("TCP 192.0.2.10:80") and real server ("TCP
// 192.0.2.10:80 -> 203.0.113.11:80").
func parseFigures(t *testing.T, out string) map[string]figures {
	t.Helper()
	m := map[string]figures{}
	var svc string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 7 || f[0] == "Prot" {
			continue
		}
		var v figures
		for i := range v {
			n, err := strconv.ParseUint(f[2+i], 10, 64)
			if err != nil {
				t.Fatalf("figure %q in %q: %v", f[2+i], line, err)
			}
			v[i] = n
		}
		if f[0] == "->" {
			m[svc+" -> "+f[1]] = v
		} else {
			svc = f[0] + " " + f[1]
			m[svc] = v
		}
	}
	return m
}

// Kernel estimator arithmetic (ip_vs_est.c), written out again here so
// the test predicts --rate independently of the director's code: per 2 s
// pass avg += ((delta << 9 or 4) - avg) >> 2, read (avg + 0x1FF) >> 10 for
// conns and packets, (avg + 0xF) >> 5 for bytes.
var estShift = [5]uint{9, 9, 9, 4, 4}

func estPass(avg, delta figures) figures {
	for i := range avg {
		avg[i] += uint64((int64(delta[i]<<estShift[i]) - int64(avg[i])) >> 2)
	}
	return avg
}

func estRead(avg figures) figures {
	var r figures
	for i := range avg {
		if i < 3 {
			r[i] = (avg[i] + 0x1FF) >> 10
		} else {
			r[i] = (avg[i] + 0xF) >> 5
		}
	}
	return r
}

// tally sorts the packets of a capture into per-object, per-phase
// figures. phase(ts) numbers the phases by time.
type tally struct {
	phaseOf func(time.Time) int
	by      map[string]*[3]figures
	ports   map[string]bool // UDP flows seen (a connection each)
}

func newTally(starts ...time.Time) *tally {
	return &tally{
		phaseOf: func(ts time.Time) int {
			p := 0
			for i, s := range starts {
				if !ts.Before(s) {
					p = i + 1
				}
			}
			return p
		},
		by:    map[string]*[3]figures{},
		ports: map[string]bool{},
	}
}

func (tr *tally) obj(key string) *[3]figures {
	if tr.by[key] == nil {
		tr.by[key] = &[3]figures{}
	}
	return tr.by[key]
}

// total returns key's figures over all phases.
func (tr *tally) total(key string) figures {
	var f figures
	for _, ph := range tr.obj(key) {
		f.add(ph)
	}
	return f
}

// read sorts the packets of a pcap file: packets from client to server
// are "in", the others "out", for the object named by key(server side
// address, port, protocol). A connection is a TCP SYN or a new UDP flow.
func (tr *tally) read(t *testing.T, file string, client netip.Addr, key func(addr netip.Addr, port uint16, proto string) string) {
	t.Helper()
	for _, p := range packets(t, file) {
		ip := ipv4(p)
		if ip == nil {
			t.Fatalf("%s: not IPv4: %v", file, p)
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		var sport, dport uint16
		var proto string
		var syn bool
		switch l := p.TransportLayer().(type) {
		case *layers.TCP:
			sport, dport, proto, syn = uint16(l.SrcPort), uint16(l.DstPort), "TCP", l.SYN && !l.ACK
		case *layers.UDP:
			sport, dport, proto = uint16(l.SrcPort), uint16(l.DstPort), "UDP"
		default:
			t.Fatalf("%s: unexpected packet %v", file, p)
		}
		in := src == client
		server, port := src, sport
		if in {
			server, port = dst, dport
		}
		ph := &tr.obj(key(server, port, proto))[tr.phaseOf(p.Metadata().Timestamp)]
		n := uint64(ip.Length) // the IP packet, what IPVS counts
		if in {
			ph[1]++
			ph[3] += n
			flow := fmt.Sprintf("%s %v:%d>%v:%d", file, src, sport, dst, dport)
			if syn || (proto == "UDP" && !tr.ports[flow]) {
				ph[0]++
			}
			tr.ports[flow] = true
		} else {
			ph[2]++
			ph[4] += n
		}
	}
}

// udpQuery sends one datagram from a fresh socket in the client namespace
// (a new IPVS connection) and returns the answer.
func udpQuery(t *testing.T, ns, addr, q string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := nsutil.DialContext(ctx, ns, "udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(q)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("UDP %q to %s: %v", q, addr, err)
	}
	return string(buf[:n])
}

// TestStatsAndRates: traffic through a NAT director, counted independently
// by tcpdump in the client and in each real server, matches ipvsadm
// --stats --exact exactly (connections, packets and bytes of every service
// and real server); --rate shows what the kernel's estimator makes of that
// traffic, predicted from the captures with the kernel's formula, one and
// two passes after a burst; -c lists a live keep-alive connection; -Z
// zeroes counters and rates.
func TestStatsAndRates(t *testing.T) {
	e := newEnv(t)
	vip := e.VIP.String()
	web, dns := "TCP "+vip+":80", "UDP "+vip+":53"
	e.mustIpvsadm(t, "-A", "-t", vip+":80", "-s", "rr")
	e.mustIpvsadm(t, "-A", "-u", vip+":53", "-s", "rr")
	for _, r := range e.Reals {
		e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", r.RIP.String()+":80", "-m")
		e.mustIpvsadm(t, "-a", "-u", vip+":53", "-r", r.RIP.String()+":53", "-m")
	}
	clientCap := startCapture(t, e.ClientNS, e.ClientIf, "ip and host "+vip)
	var rsCaps []*capture
	for _, r := range e.Reals {
		rsCaps = append(rsCaps, startCapture(t, r.NS, r.If, "ip and host "+e.CIP.String()))
	}
	rates := func() (map[string]figures, time.Time) {
		out := e.mustIpvsadm(t, "-L", "-n", "--rate", "--exact")
		return parseFigures(t, out), time.Now()
	}
	if r, _ := rates(); r[dns] != (figures{}) || r[web] != (figures{}) {
		t.Fatalf("rates before any traffic: %v", r)
	}

	// Phase 0: one datagram, then watch --rate until the estimator has
	// seen it: that places the estimator's 2-second ticks. The tick came
	// after lo (the last look that still saw nothing, or the datagram)
	// and before hi.
	lo := time.Now()
	if got := udpQuery(t, e.ClientNS, vip+":53", "probe"); !strings.HasSuffix(got, ":probe") {
		t.Fatalf("probe answered %q", got)
	}
	var hi time.Time
	for deadline := time.Now().Add(5 * time.Second); ; {
		before := time.Now()
		r, after := rates()
		if r[dns][3] != 0 { // InBPS
			hi = after
			break
		}
		lo = before
		if after.After(deadline) {
			t.Fatal("the estimator never showed the probe datagram in --rate")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("estimator pass placed within %v", hi.Sub(lo).Round(time.Millisecond))

	// Phase 1: a burst well inside the next 2-second interval: 6 HTTP
	// requests, a connection each (curl), and 8 datagrams from fresh
	// sockets.
	burst := time.Now()
	codes := run(t, e.ClientNS, 10*time.Second, "sh", "-c",
		"for i in 1 2 3 4 5 6; do curl -sS -m 5 -o /dev/null -w '%{http_code}\\n' http://"+vip+"/; done")
	if strings.Count(codes, "200") != 6 {
		t.Fatalf("curl: %q", codes)
	}
	for i := 0; i < 8; i++ {
		q := fmt.Sprintf("query-%d-%s", i, strings.Repeat("x", 10*i))
		if got := udpQuery(t, e.ClientNS, vip+":53", q); !strings.HasSuffix(got, ":"+q) {
			t.Fatalf("UDP answer %q to %q", got, q)
		}
	}
	if end := time.Now(); end.After(lo.Add(1500 * time.Millisecond)) {
		t.Fatalf("the burst ended %v after the earliest possible tick; it must fit in one 2 s interval (machine too slow?)", end.Sub(lo))
	}
	// One pass after the burst, then one more (the decay).
	time.Sleep(time.Until(hi.Add(2300 * time.Millisecond)))
	rates1, at1 := rates()
	time.Sleep(time.Until(hi.Add(4300 * time.Millisecond)))
	rates2, at2 := rates()
	if at1.After(lo.Add(4*time.Second)) || at2.After(lo.Add(6*time.Second)) {
		t.Fatalf("rates read too late (+%v, +%v after the tick): cannot tell which pass they show", at1.Sub(lo), at2.Sub(lo))
	}

	// Phase 2: a keep-alive connection open while -c lists the table.
	keep := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kc, err := nsutil.DialContext(ctx, e.ClientNS, "tcp", vip+":80")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(kc, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", vip)
	_ = kc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(kc)
	var server string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("keep-alive response: %v", err)
		}
		if v, ok := strings.CutPrefix(line, "X-Real-Server: "); ok {
			server = strings.TrimSpace(v)
		}
		if line == "\r\n" {
			break
		}
	}
	body, _ := br.ReadString('\n')
	if body != "served by "+server+"\n" {
		t.Fatalf("keep-alive body %q from %q", body, server)
	}
	var rip string
	for _, r := range e.Reals {
		if r.Name == server {
			rip = r.RIP.String()
		}
	}
	local := kc.LocalAddr().String()
	conns := e.mustIpvsadm(t, "-L", "-n", "-c")
	t.Logf("ipvsadm -L -n -c:\n%s", conns)
	var live string
	tcp, udp := 0, 0
	for _, l := range strings.Split(conns, "\n") {
		f := strings.Fields(l)
		if len(f) != 6 || (f[0] != "TCP" && f[0] != "UDP") {
			continue
		}
		if f[0] == "TCP" {
			tcp++
		} else {
			udp++
		}
		if f[3] == local {
			live = l
			if f[2] != "ESTABLISHED" || f[4] != vip+":80" || f[5] != rip+":80" || !strings.HasPrefix(f[1], "1") {
				t.Errorf("the keep-alive connection is listed as %q, want ESTABLISHED %s → %s:80, about 15 minutes left", l, local, rip)
			}
		}
	}
	if live == "" {
		t.Errorf("-c does not list the live connection from %s", local)
	}
	// The 6 closed HTTP connections (TIME_WAIT) and the live one; the
	// probe and 8 datagrams, each its own UDP connection.
	if tcp != 7 || udp != 9 {
		t.Errorf("-c lists %d TCP and %d UDP connections, want 7 and 9", tcp, udp)
	}
	kc.Close()
	time.Sleep(300 * time.Millisecond) // the FIN exchange
	if after := e.mustIpvsadm(t, "-L", "-n", "-c"); strings.Contains(lineWith(after, local+" "), "ESTABLISHED") {
		t.Errorf("closed connection still ESTABLISHED:\n%s", after)
	}

	// Everything the captures saw against --stats --exact.
	tr := newTally(burst, keep)
	tr.read(t, clientCap.stop(t), e.CIP, func(a netip.Addr, port uint16, proto string) string {
		return fmt.Sprintf("%s %v:%d", proto, a, port)
	})
	for i, r := range e.Reals {
		tr.read(t, rsCaps[i].stop(t), e.CIP, func(a netip.Addr, port uint16, proto string) string {
			if a != r.RIP {
				t.Fatalf("%s captured traffic of %v", r.Name, a)
			}
			svc := web
			if proto == "UDP" {
				svc = dns
			}
			return fmt.Sprintf("%s -> %v:%d", svc, a, port)
		})
	}
	stats := parseFigures(t, e.mustIpvsadm(t, "-L", "-n", "--stats", "--exact"))
	t.Logf("ipvsadm -L -n --stats --exact:\n%s", e.mustIpvsadm(t, "-L", "-n", "--stats", "--exact"))
	keys := []string{web, dns}
	for _, r := range e.Reals {
		keys = append(keys, web+" -> "+r.RIP.String()+":80", dns+" -> "+r.RIP.String()+":53")
	}
	for _, k := range keys {
		want := tr.total(k)
		if stats[k] != want {
			t.Errorf("%s: --stats %v, captured %v (conns, in/out packets, in/out bytes)", k, stats[k], want)
		}
		if want[1] == 0 || want[2] == 0 {
			t.Errorf("%s: no traffic captured: %v", k, want)
		}
	}
	if got, want := stats[web][0], uint64(7); got != want {
		t.Errorf("HTTP connections %d, want %d", got, want)
	}
	if got, want := stats[dns][0], uint64(9); got != want {
		t.Errorf("UDP connections %d, want %d", got, want)
	}

	// --rate against the estimator run by hand over the captured phases:
	// the probe at the pass that revealed it (its answer possibly at the
	// next one, if a pass fell between the two), the burst at the next
	// pass, nothing at the one after.
	for _, k := range keys {
		ph := tr.obj(k)
		probeIn, probeOut := ph[0], figures{}
		probeIn[2], probeIn[4] = 0, 0
		probeOut[2], probeOut[4] = ph[0][2], ph[0][4]
		var want1, want2 []figures
		for _, late := range []bool{false, true} {
			first, second := ph[0], ph[1]
			if late {
				first = probeIn
				second.add(probeOut)
			}
			a1 := estPass(estPass(figures{}, first), second)
			a2 := estPass(a1, figures{})
			want1 = append(want1, estRead(a1))
			want2 = append(want2, estRead(a2))
		}
		match := -1
		for i := range want1 {
			if rates1[k] == want1[i] && rates2[k] == want2[i] {
				match = i
				break
			}
		}
		if match < 0 {
			t.Errorf("%s: --rate %v then %v, want %v then %v (or, with the probe's answer a pass late, %v then %v); captured %v",
				k, rates1[k], rates2[k], want1[0], want2[0], want1[1], want2[1], *ph)
		}
		t.Logf("%s: --rate %v then %v; burst captured %v", k, rates1[k], rates2[k], ph[1])
	}
	for _, k := range []string{web, dns} {
		if r := rates1[k]; r[1] == 0 || r[2] == 0 || r[3] == 0 || r[4] == 0 {
			t.Errorf("%s: rates after the burst %v, want every packet and byte rate non-zero", k, r)
		}
	}

	// -Z zeroes counters and rates at once.
	e.mustIpvsadm(t, "-Z")
	for name, out := range map[string]string{
		"--stats": e.mustIpvsadm(t, "-L", "-n", "--stats", "--exact"),
		"--rate":  e.mustIpvsadm(t, "-L", "-n", "--rate", "--exact"),
	} {
		for k, v := range parseFigures(t, out) {
			if v != (figures{}) {
				t.Errorf("after -Z, %s of %s: %v", name, k, v)
			}
		}
	}

	// -S, -C, then the saved rules back through -R (its standard input
	// travels over the control socket): the same table, zeroed counters.
	save := e.mustIpvsadm(t, "-S", "-n")
	list := e.mustIpvsadm(t, "-L", "-n")
	e.mustIpvsadm(t, "-C")
	if s := e.mustIpvsadm(t, "-S", "-n"); s != "" {
		t.Fatalf("-S after -C: %q", s)
	}
	if out, errOut, code := e.ipvsadmInput(t, save, "-R"); code != 0 || out != "" || errOut != "" {
		t.Fatalf("-R: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if again := e.mustIpvsadm(t, "-S", "-n"); again != save {
		t.Errorf("-S after -R:\n%s\nwant what was saved:\n%s", again, save)
	}
	if again := e.mustIpvsadm(t, "-L", "-n"); again != list {
		t.Errorf("-L -n after -R:\n%s\nwant:\n%s", again, list)
	}
	t.Logf("ipvsadm -S -n (restored):\n%s", save)
	e.stopDirector(t)
}

// ipvsadmInput runs the ipvsadm command with stdin as its standard input.
func (e *env) ipvsadmInput(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
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

// lineWith returns the first line of s containing sub.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

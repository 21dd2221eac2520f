package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	netipv4 "golang.org/x/net/ipv4"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/internal/nsutil"
	rt "github.com/gdirector/gdirector/internal/roottest"
	"github.com/gdirector/gdirector/lab"
)

// The HA tests run two directors on the DR lab's one segment:
//
//	client 198.51.100.2 ─┐
//	dir  198.51.100.1 ───┤ bridge
//	dir2 198.51.100.3 ───┤        (both directors also 203.0.113.1 / .3)
//	rs1, rs2 ────────────┘        (VIP 192.0.2.10 on lo, arp_ignore)
//
// DR rather than NAT: the real servers answer the client directly, so the
// long stream's data never crosses a director and what a failover can
// break is exactly the director's part, the client's packets (ACKs and
// window updates) reaching the right real server through whichever
// director owns the VIP; a director that loses a connection drops them
// (not_syn) and the stream stalls, which the test sees. NAT would also need
// the real servers' gateway as a second VRRP address.
//
// Both directors run `gdirector run --config keepalived.conf` with one
// vrrp_instance (VRRP version 3, 0.2 s adverts), the DR virtual_server and
// lvs_sync_daemon following the instance.

const (
	haAdvert   = 200 * time.Millisecond
	haVIP      = "192.0.2.10"
	haReqEvery = 50 * time.Millisecond
	haReqLimit = 250 * time.Millisecond // each short request's timeout
)

// haDown is Master_Down_Interval of a backup of priority prio (version 3).
func haDown(prio int) time.Duration {
	skew := time.Duration((256-prio)*int(haAdvert/(10*time.Millisecond))/256) * 10 * time.Millisecond
	return 3*haAdvert + skew
}

func haConf(router string, prio int, notify string) string {
	return fmt.Sprintf(`global_defs {
    router_id %s
    vrrp_version 3
    lvs_sync_daemon eth0 VI_HA id 42
}
vrrp_instance VI_HA {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %d
    advert_int 0.2
    virtual_ipaddress {
        %s/32
    }
    notify %s
}
virtual_server %s 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 203.0.113.11 80 {
        weight 1
    }
    real_server 203.0.113.12 80 {
        weight 1
    }
}
`, router, prio, haVIP, notify, haVIP)
}

// haLab is the DR lab with a second director namespace.
type haLab struct {
	*lab.Topology
	dir2 string
}

func buildHALab(t *testing.T) *haLab {
	t.Helper()
	return buildHALabFamily(t, false)
}

// buildHALabFamily is buildHALab, dual-stack with ipv6 (dir2 then also
// has 2001:db8:1::3/64 and 2001:db8:3::3/64).
func buildHALabFamily(t *testing.T, ipv6 bool) *haLab {
	t.Helper()
	topo := buildLab(t, "dr", lab.Options{Reals: 2, IPv6: ipv6})
	l := &haLab{Topology: topo}
	var err error
	if l.dir2, err = topo.AddNamespace("dir2"); err != nil {
		t.Fatal(err)
	}
	d2 := lab.Endpoint{NS: l.dir2, If: "eth0", Addrs: []netip.Prefix{
		netip.MustParsePrefix("198.51.100.3/24"), netip.MustParsePrefix("203.0.113.3/24")}}
	if ipv6 {
		d2.Addrs = append(d2.Addrs, netip.MustParsePrefix("2001:db8:1::3/64"), netip.MustParsePrefix("2001:db8:3::3/64"))
	}
	if err := topo.AddVeth(d2, lab.Endpoint{NS: topo.SwitchNS, If: "dir2-eth0"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := topo.AddBridgePort(topo.SwitchNS, topo.Bridge, "dir2-eth0"); err != nil {
		t.Fatal(err)
	}
	if err := topo.StartReals(bin); err != nil {
		t.Fatalf("start reals: %v", err)
	}
	return l
}

// haDirector is one running gdirector with its notify log.
type haDirector struct {
	name, ns, sock, logFile string
	conf, notify            string
	proc                    *nsutil.Proc
	states                  *stateLog
	stop                    chan struct{}
	wg                      sync.WaitGroup
}

func startHADirector(t *testing.T, l *haLab, ns, name string, prio int) *haDirector {
	t.Helper()
	return startHADirectorConf(t, l.Builder, ns, name, func(notify string) string { return haConf(name, prio, notify) }, []string{"eth0"})
}

// startHADirectorConf runs `gdirector run` in ns on ifaces with the
// configuration conf(notify script) and the options extra, and waits for
// its control socket.
func startHADirectorConf(t *testing.T, b *lab.Builder, ns, name string, conf func(notify string) string, ifaces []string, extra ...string) *haDirector {
	t.Helper()
	dir := t.TempDir()
	d := &haDirector{name: name, ns: ns, sock: filepath.Join(dir, "ctl.sock"), logFile: filepath.Join(dir, "director.log"),
		states: &stateLog{}, stop: make(chan struct{})}
	notify := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(notify, []byte(kaNotify), 0o755); err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(confFile, []byte(conf(notify)), 0o644); err != nil {
		t.Fatal(err)
	}
	d.conf, d.notify = confFile, notify
	argv := []string{bin, "run"}
	for _, ifc := range ifaces {
		argv = append(argv, "--iface", ifc)
	}
	var err error
	argv = append(argv, extra...)
	d.proc, err = b.StartLogged(ns, d.logFile, append(argv, "--ctl", d.sock, "--config", confFile)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lab.WaitReady(ctx, d.sock, d.proc); err != nil {
		log, _ := os.ReadFile(d.logFile)
		t.Fatalf("%s: %v\n%s", name, err, log)
	}
	watchStates(filepath.Join(dir, "states"), d.states, d.stop, &d.wg)
	t.Cleanup(func() {
		close(d.stop)
		d.wg.Wait()
		d.proc.Stop()
		if t.Failed() {
			log, _ := os.ReadFile(d.logFile)
			t.Logf("%s log:\n%s", name, log)
		}
	})
	return d
}

// readStates loads a notify script's "STATE UNIXNANO" lines into l.
func readStates(file string, l *stateLog) {
	data, _ := os.ReadFile(file)
	var states []string
	var times []time.Time
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			states, times = append(states, f[0]), append(times, time.Unix(0, ns))
		}
	}
	l.mu.Lock()
	l.states, l.times = states, times
	l.mu.Unlock()
}

func (d *haDirector) ipvsadm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := lab.Ipvsadm(d.sock, args...)
	if err != nil {
		t.Fatalf("%s: ipvsadm %v: %v", d.name, args, err)
	}
	return out
}

// waitDaemons waits until ipvsadm -L --daemon shows the backup sync
// daemon, and the master one if and only if master.
func (d *haDirector) waitDaemons(t *testing.T, master bool) {
	t.Helper()
	var out string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out = d.ipvsadm(t, "-L", "--daemon")
		if strings.Contains(out, "master sync daemon") == master && strings.Contains(out, "backup sync daemon") {
			return
		}
	}
	t.Fatalf("%s: sync daemons (want master %v and a backup):\n%s", d.name, master, out)
}

// kill ends the director as a crash would: SIGKILL, no priority 0.
func (d *haDirector) kill(t *testing.T) {
	t.Helper()
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", d.proc.Pid()))
	if strings.TrimSpace(string(comm)) != "gdirector" {
		t.Fatalf("pid %d is %q, not gdirector", d.proc.Pid(), comm)
	}
	if err := syscall.Kill(d.proc.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// shortLoop runs short HTTP requests to the VIP, one every haReqEvery
// with a timeout of haReqLimit each, until stop (at most 600).
type shortResult struct {
	at     time.Time
	ok     bool
	server string
}

func shortLoop(ns string, stop <-chan struct{}) (wait func() []shortResult) {
	return shortLoopTo(ns, haVIP, stop)
}

// shortLoopTo is shortLoop to the VIP vip.
func shortLoopTo(ns, vip string, stop <-chan struct{}) (wait func() []shortResult) {
	url := "http://" + net.JoinHostPort(vip, "80") + "/"
	c := nsutil.HTTPClient(ns)
	c.Timeout = haReqLimit
	var out []shortResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 600; i++ {
			select {
			case <-stop:
				return
			default:
			}
			at := time.Now()
			r := shortResult{at: at}
			resp, err := c.Get(url)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				r.ok = err == nil && resp.StatusCode == 200
				r.server = resp.Header.Get("X-Real-Server")
			}
			out = append(out, r)
			if d := haReqEvery - time.Since(at); d > 0 {
				time.Sleep(d)
			}
		}
	}()
	return func() []shortResult { <-done; return out }
}

// outage returns the longest time short requests failed: from the start
// of the first failed request of a run to the start of the next request
// that succeeded, and how many failed in all.
func outage(rs []shortResult) (longest time.Duration, failed int) {
	var first time.Time
	for _, r := range rs {
		if !r.ok {
			failed++
			if first.IsZero() {
				first = r.at
			}
			continue
		}
		if !first.IsZero() {
			longest = max(longest, r.at.Sub(first))
			first = time.Time{}
		}
	}
	if !first.IsZero() {
		longest = max(longest, rs[len(rs)-1].at.Sub(first)+haReqLimit)
	}
	return longest, failed
}

// firstOK returns the first successful request started after t.
func firstOK(rs []shortResult, t time.Time) (shortResult, bool) {
	for _, r := range rs {
		if r.ok && r.at.After(t) {
			return r, true
		}
	}
	return shortResult{}, false
}

// longStream reads /bytes?n=size from the VIP at about rate bytes/s,
// checking every byte against the pattern; it reports the local port once
// connected.
type streamResult struct {
	got  int64
	err  error
	port int
}

func longStream(ns string, size int64, rate int, portc chan<- int) <-chan streamResult {
	return longStreamTo(ns, haVIP, size, rate, portc)
}

// longStreamTo is longStream from the VIP vip.
func longStreamTo(ns, vip string, size int64, rate int, portc chan<- int) <-chan streamResult {
	res := make(chan streamResult, 1)
	go func() {
		var r streamResult
		defer func() { res <- r }()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := nsutil.DialContext(ctx, ns, "tcp", net.JoinHostPort(vip, "80"))
		if err != nil {
			r.err = err
			close(portc)
			return
		}
		defer c.Close()
		r.port = c.LocalAddr().(*net.TCPAddr).Port
		portc <- r.port
		c.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /bytes?n=%d HTTP/1.0\r\nHost: %s\r\n\r\n", size, vip); err != nil {
			r.err = err
			return
		}
		br := bufio.NewReaderSize(c, 64<<10)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				r.err = fmt.Errorf("header: %w", err)
				return
			}
			if line == "\r\n" {
				break
			}
		}
		buf := make([]byte, 32<<10)
		chunk := time.Duration(len(buf)) * time.Second / time.Duration(rate)
		for r.got < size {
			start := time.Now()
			n, err := io.ReadFull(br, buf[:min(int64(len(buf)), size-r.got)])
			for i := 0; i < n; i++ {
				if buf[i] != lab.PatternByte(r.got+int64(i)) {
					r.err = fmt.Errorf("byte %d: got %#x, want %#x", r.got+int64(i), buf[i], lab.PatternByte(r.got+int64(i)))
					return
				}
			}
			r.got += int64(n)
			if err != nil {
				r.err = err
				return
			}
			if d := chunk - time.Since(start); d > 0 {
				time.Sleep(d)
			}
		}
		// The server closes after the body: EOF, not a reset.
		if n, err := br.Read(buf[:1]); n != 0 || !errors.Is(err, io.EOF) {
			r.err = fmt.Errorf("after the body: %d bytes, %v", n, err)
		}
	}()
	return res
}

var connLine = regexp.MustCompile(`(?m)^TCP\s+\S+\s+(\S+)\s+(\S+):(\d+)\s+(\S+):(\d+)\s+(\S+):(\d+)`)

// findConn returns the state of the client port's connection in
// ipvsadm -Lnc output, and its real server.
func findConn(out string, port int) (state, rs string) {
	for _, m := range connLine.FindAllStringSubmatch(out, -1) {
		if m[3] == strconv.Itoa(port) {
			return m[1], m[6]
		}
	}
	return "", ""
}

// activeSum returns the ActiveConn total of ipvsadm -Ln and the number
// of entries of -Lnc in the states that count as active (ESTABLISHED and
// the handshake states, as current kernels count them).
//
// The two listings are two calls, and short requests come and go between
// them: it takes them again (at most 20 times, 50 ms apart) until they
// agree, and returns the last pair.
func activeSum(t *testing.T, d *haDirector) (active, established int) {
	t.Helper()
	for try := 0; try < 20; try++ {
		if active, established = activeSum1(t, d); active == established {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return active, established
}

func activeSum1(t *testing.T, d *haDirector) (active, established int) {
	t.Helper()
	for _, line := range strings.Split(d.ipvsadm(t, "-Ln"), "\n") {
		f := strings.Fields(line)
		if len(f) == 6 && f[0] == "->" && f[1] != "RemoteAddress:Port" {
			n, _ := strconv.Atoi(f[4])
			active += n
		}
	}
	for _, m := range connLine.FindAllStringSubmatch(d.ipvsadm(t, "-Lnc"), -1) {
		switch m[1] {
		case "ESTABLISHED", "SYN_SENT", "SYN_RECV", "SYNACK":
			established++
		}
	}
	return active, established
}

// resets counts the TCP resets of the client port in a pcap file.
// rstFilter matches TCP resets over IPv4 and IPv6 (pcap's tcp[] indexing
// is IPv4 only: over IPv6 without extension headers the flags are byte
// 40+13).
const rstFilter = "(ip and tcp[tcpflags] & tcp-rst != 0) or (ip6 and tcp and ip6[53] & 4 != 0)"

func resets(t *testing.T, ns, file string, port int) int {
	t.Helper()
	out, _ := run2(ns, "tcpdump", "-nn", "-r", file, fmt.Sprintf("tcp port %d and (%s)", port, rstFilter))
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " IP ") || strings.Contains(line, " IP6 ") {
			n++
		}
	}
	return n
}

// startPair starts the master (priority 150) and the backup (100) with
// start, waits for their VRRP states and their sync daemons.
func startPair(t *testing.T, start func(ns, name string, prio int) *haDirector, ns1, name1, ns2, name2 string) (d1, d2 *haDirector) {
	t.Helper()
	d1 = start(ns1, name1, 150)
	d1.states.waitState(t, "dir1", "MASTER", 3*time.Second)
	d2 = start(ns2, name2, 100)
	d2.states.waitState(t, "dir2", "BACKUP", 3*time.Second)
	d2.states.holdState(t, "dir2", "BACKUP", 3*haAdvert)
	d1.waitDaemons(t, true)
	d2.waitDaemons(t, false)
	return d1, d2
}

// shortRequests starts shortLoop from ns; the function returned stops it
// and returns its results (it is also called when the test ends).
func shortRequests(t *testing.T, ns string) (stop func() []shortResult) {
	t.Helper()
	return shortRequestsTo(t, ns, haVIP)
}

// shortRequestsTo is shortRequests to the VIP vip.
func shortRequestsTo(t *testing.T, ns, vip string) (stop func() []shortResult) {
	t.Helper()
	ch := make(chan struct{})
	wait := shortLoopTo(ns, vip, ch)
	var rs []shortResult
	var once sync.Once
	stop = func() []shortResult {
		once.Do(func() { close(ch); rs = wait() })
		return rs
	}
	t.Cleanup(func() { stop() })
	return stop
}

// syncedStream starts longStream from ns and waits until the backup d2
// has its connection ESTABLISHED from the sync daemon, on the same real
// server as the master d1. It returns the stream's client port, that
// real server and the stream's result channel.
func syncedStream(t *testing.T, ns string, size int64, rate int, d1, d2 *haDirector) (port int, rs string, streamc <-chan streamResult) {
	t.Helper()
	return syncedStreamTo(t, ns, haVIP, size, rate, d1, d2)
}

// syncedStreamTo is syncedStream from the VIP vip.
func syncedStreamTo(t *testing.T, ns, vip string, size int64, rate int, d1, d2 *haDirector) (port int, rs string, streamc <-chan streamResult) {
	t.Helper()
	portc := make(chan int, 1)
	streamc = longStreamTo(ns, vip, size, rate, portc)
	port, ok := <-portc
	if !ok {
		t.Fatalf("long stream: %v", (<-streamc).err)
	}
	var synced string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if synced, rs = findConn(d2.ipvsadm(t, "-Lnc"), port); synced == "ESTABLISHED" {
			break
		}
	}
	if synced != "ESTABLISHED" {
		t.Fatalf("dir2 has not synced the stream's connection (port %d): state %q\n%s", port, synced, d2.ipvsadm(t, "-Lnc"))
	}
	st1, rs1 := findConn(d1.ipvsadm(t, "-Lnc"), port)
	t.Logf("before the kill: stream port %d on %s, dir1 %s, dir2 %s (synced)", port, rs1, st1, synced)
	if rs1 != rs {
		t.Fatalf("dir2 has the stream on %s, dir1 on %s", rs, rs1)
	}
	return port, rs, streamc
}

// killMaster kills d1 (SIGKILL) and checks that d2 becomes MASTER within
// its Master_Down_Interval plus a margin and, a second later, still has
// the stream's connection ESTABLISHED on real server rs. It returns when
// d1 was killed and how long d2 took.
func killMaster(t *testing.T, d1, d2 *haDirector, port int, rs string) (killed time.Time, takeover time.Duration) {
	t.Helper()
	killed = time.Now()
	d1.kill(t)
	at := d2.states.waitState(t, "dir2", "MASTER", 5*time.Second)
	takeover = at.Sub(killed)
	bound := haDown(100) + 300*time.Millisecond
	t.Logf("dir1 killed; dir2 MASTER after %v (Master_Down_Interval %v, bound %v)", takeover.Round(time.Millisecond), haDown(100), bound)
	if takeover > bound {
		t.Errorf("takeover after %v, more than %v", takeover, bound)
	}
	time.Sleep(time.Second)
	if st, on := findConn(d2.ipvsadm(t, "-Lnc"), port); st != "ESTABLISHED" || on != rs {
		t.Errorf("after takeover dir2 has the stream %s on %s, want ESTABLISHED on %s", st, on, rs)
	}
	return killed, takeover
}

// streamDone waits (at most timeout) for the long stream of size bytes
// and checks it arrived whole, in order and without a reset (rst: a
// capture of resets in the client namespace ns).
func streamDone(t *testing.T, streamc <-chan streamResult, size int64, timeout time.Duration, rst *capture, ns string, port int) {
	t.Helper()
	var res streamResult
	select {
	case res = <-streamc:
	case <-time.After(timeout):
		t.Fatalf("long stream still running %v later", timeout)
	}
	if res.err != nil || res.got != size {
		t.Errorf("long stream: %d of %d bytes, %v", res.got, size, res.err)
	} else {
		t.Logf("long stream: all %d bytes in order, closed with EOF", res.got)
	}
	if n := resets(t, ns, rst.stop(t), port); n != 0 {
		t.Errorf("%d TCP resets on the long stream", n)
	}
}

// shortOutage checks the short requests rs around a kill at killed: the
// failures are the takeover gap (a request in flight at the kill can fail
// too: one timeout more).
func shortOutage(t *testing.T, rs []shortResult, killed time.Time, takeover time.Duration) {
	t.Helper()
	longest, failed := outage(rs)
	ok1, found := firstOK(rs, killed)
	t.Logf("short requests: %d, %d failed, longest failure %v; first success after the kill %v after it (by %s)",
		len(rs), failed, longest.Round(time.Millisecond), ok1.at.Sub(killed).Round(time.Millisecond), ok1.server)
	if !found {
		t.Fatal("no short request succeeded after the kill")
	}
	if limit := takeover + haReqLimit + haReqEvery + 100*time.Millisecond; longest > limit {
		t.Errorf("short requests failed for %v, more than the takeover %v + one request", longest, takeover)
	}
}

// TestHAFailover: client, two gdirector directors, two real servers (DR).
// A long download (bytes checked end to end, read slowly so that it
// lasts several seconds and its ACKs and window updates go through the
// directors) and a loop of short requests run while the master is
// killed (SIGKILL). The backup must have the long connection from the
// sync daemon before the kill, take over within Master_Down_Interval plus
// a margin, and carry the stream on without a reset or a lost byte;
// short requests may fail only for about the takeover time. Then the old
// master comes back, preempts, and the stream started before the first
// failover (still running) survives the fail-back too.
func TestHAFailover(t *testing.T) {
	rt.Require(t, "ip", "tcpdump")
	l := buildHALab(t)
	start := func(ns, name string, prio int) *haDirector { return startHADirector(t, l, ns, name, prio) }
	d1, d2 := startPair(t, start, l.DirectorNS, "gdha1", l.dir2, "gdha2")

	rst := startCapture(t, l.ClientNS, "eth0", rstFilter)
	shortDone := shortRequests(t, l.ClientNS)
	// 28 MiB at 4 MiB/s: about 7 s, across the failover and the fail-back.
	// The backup has the long connection, established, before the kill.
	const size, rate = 28 << 20, 4 << 20
	port, rsBefore, streamc := syncedStream(t, l.ClientNS, size, rate, d1, d2)
	time.Sleep(500 * time.Millisecond)

	// Kill the master.
	killed, takeover := killMaster(t, d1, d2, port, rsBefore)
	d2.waitDaemons(t, true)
	active, est := activeSum(t, d2)
	t.Logf("dir2 after takeover: ActiveConn total %d, active entries %d", active, est)
	if active != est || active < 1 {
		t.Errorf("dir2 after takeover: ActiveConn %d, active entries %d", active, est)
	}

	// The old master comes back with its higher priority and preempts.
	d1.proc.Wait()
	back := time.Now()
	d1b := startHADirector(t, l, l.DirectorNS, "gdha1", 150)
	at := d1b.states.waitState(t, "dir1", "MASTER", 5*time.Second)
	d2.states.waitState(t, "dir2", "BACKUP", 3*time.Second)
	t.Logf("dir1 restarted; MASTER again %v after its start", at.Sub(back).Round(time.Millisecond))
	failback := at
	time.Sleep(time.Second)
	if st, rs := findConn(d1b.ipvsadm(t, "-Lnc"), port); st != "ESTABLISHED" || rs != rsBefore {
		t.Errorf("after fail-back dir1 has the stream %s on %s, want ESTABLISHED on %s\n%s", st, rs, rsBefore, d1b.ipvsadm(t, "-Lnc"))
	}

	streamDone(t, streamc, size, 30*time.Second, rst, l.ClientNS, port)
	rs := shortDone()
	shortOutage(t, rs, killed, takeover)
	var afterBack int
	for _, r := range rs {
		if !r.ok && r.at.After(failback.Add(-haReqLimit)) {
			afterBack++
		}
	}
	t.Logf("short requests failed around the fail-back: %d", afterBack)
	if afterBack > 2 {
		t.Errorf("%d short requests failed at the fail-back", afterBack)
	}
	active, est = activeSum(t, d1b)
	t.Logf("dir1 after fail-back: ActiveConn total %d, active entries %d", active, est)
	if active != est {
		t.Errorf("dir1 after fail-back: ActiveConn %d, active entries %d", active, est)
	}

	// Reload: an unchanged instance keeps running (no transition); a
	// changed one (dir2's priority) is restarted, as backup, and the
	// master is not disturbed.
	d1n, d2n := len(d1b.states.snapshot()), len(d2.states.snapshot())
	for _, d := range []*haDirector{d1b, d2} {
		if r, err := ctl.CallCmd(d.sock, "reload", nil); err != nil || r.Code != 0 {
			t.Fatalf("%s: reload: %v %+v", d.name, err, r)
		}
	}
	time.Sleep(3 * haAdvert)
	if err := os.WriteFile(d2.conf, []byte(haConf("gdha2", 120, d2.notify)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := ctl.CallCmd(d2.sock, "reload", nil); err != nil || r.Code != 0 {
		t.Fatalf("dir2: reload: %v %+v", err, r)
	}
	d2.states.waitState(t, "dir2", "BACKUP", 3*time.Second)
	d1b.states.holdState(t, "dir1", "MASTER", haDown(120)+3*haAdvert)
	d1after := len(d1b.states.snapshot())
	d2after := d2.states.snapshot()[d2n:]
	t.Logf("reloads: dir1 transitions %d -> %d; dir2 after its priority changed: %v", d1n, d1after, d2after)
	if d1after != d1n {
		t.Errorf("dir1 changed state on a reload that changed nothing of its instance")
	}
	if len(d2after) != 2 || d2after[0] != "STOP" || d2after[1] != "BACKUP" {
		t.Errorf("dir2's changed instance: transitions %v, want [STOP BACKUP]", d2after)
	}
}

func haKAConf(prio int) string {
	return fmt.Sprintf(`global_defs {
    router_id gdhaka
    vrrp_version 3
}
vrrp_instance VI_HA {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %d
    advert_int 0.2
    virtual_ipaddress {
        %s/32
    }
    notify NOTIFY
}
`, prio, haVIP)
}

// arpEvent is an ARP reply or gratuitous ARP for the VIP seen by the
// client, with the MAC address it gives.
type arpEvent struct {
	at   time.Time
	mac  string
	kind string // "reply" or "garp"
}

var (
	arpReplyRE = regexp.MustCompile(`^(\d+\.\d+) (\S+) > .*Reply ` + regexp.QuoteMeta(haVIP) + ` is-at (\S+),`)
	// tcpdump prints a gratuitous ARP request as "Request who-has VIP
	// (TARGET-MAC) tell VIP" or, in some versions, "Announcement VIP".
	arpGARPRE = regexp.MustCompile(`^(\d+\.\d+) (\S+) > .*(?:Announcement ` + regexp.QuoteMeta(haVIP) + `|Request who-has ` + regexp.QuoteMeta(haVIP) + ` (?:\(\S+\) )?tell ` + regexp.QuoteMeta(haVIP) + `),`)
)

func arpEvents(t *testing.T, ns, file string) []arpEvent {
	t.Helper()
	out, _ := run2(ns, "tcpdump", "-tt", "-e", "-nn", "-r", file, "arp")
	var evs []arpEvent
	for _, line := range strings.Split(out, "\n") {
		kind, m := "reply", arpReplyRE.FindStringSubmatch(line)
		mac := ""
		if m != nil {
			mac = m[3]
		} else if m = arpGARPRE.FindStringSubmatch(line); m != nil {
			kind, mac = "garp", m[2]
		} else {
			continue
		}
		sec, _ := strconv.ParseFloat(m[1], 64)
		evs = append(evs, arpEvent{at: time.Unix(0, int64(sec*1e9)), mac: mac, kind: kind})
	}
	return evs
}

// countARP counts the events from mac within [from, to).
func countARP(evs []arpEvent, mac string, from, to time.Time) (n int) {
	for _, e := range evs {
		if e.mac == mac && !e.at.Before(from) && e.at.Before(to) {
			n++
		}
	}
	return n
}

// TestHAFailoverKeepalived is the failover with keepalived as the other
// VRRP node. There is no kernel IPVS here, so keepalived can only do VRRP:
// its node owns the VIP the keepalived way (on its kernel interface) and
// serves requests itself (a local HTTP server "ka" on the VIP), while the
// gdirector node is a full director (vrrp_instance, DR virtual_server,
// lvs_sync_daemon) of priority 100 whose data plane follows its own VRRP
// state. What it shows: while keepalived is master the gdirector backup
// answers no ARP for the VIP and sends no gratuitous ARP (every request is
// answered by "ka"); when the keepalived node dies (its link goes down and
// keepalived is killed) gdirector takes over within Master_Down_Interval,
// announces the VIP and forwards new requests to the real servers; when
// keepalived comes back with its higher priority and preempts, gdirector
// gives the VIP back and stops answering for it. What it cannot show: a
// connection surviving between the two nodes, as keepalived's node has no
// data plane and no connection table to sync (the long stream across a
// failover is TestHAFailover's, gdirector to gdirector).
func TestHAFailoverKeepalived(t *testing.T) {
	rt.Require(t, "ip", "tcpdump", "keepalived")
	l := buildHALab(t)
	kaNS := l.DirectorNS
	kaMAC, gdMAC := macOf(t, kaNS, "eth0").String(), macOf(t, l.dir2, "eth0").String()
	if _, err := l.Start(kaNS, bin, "serve", "http", "--listen", "0.0.0.0:80", "--name", "ka"); err != nil {
		t.Fatal(err)
	}
	ka := startKA(t, kaNS, haKAConf(200))
	ka.log.waitState(t, "keepalived", "MASTER", 5*time.Second)
	gd := startHADirector(t, l, l.dir2, "gdha2", 100)
	gd.states.waitState(t, "gdirector", "BACKUP", 3*time.Second)
	gd.states.holdState(t, "gdirector", "BACKUP", 3*haAdvert)

	arp := startCapture(t, l.ClientNS, "eth0", "arp")
	run2(l.ClientNS, "ip", "neigh", "flush", "to", haVIP)
	started := time.Now()
	shortDone := shortRequests(t, l.ClientNS)
	time.Sleep(time.Second)
	// The keepalived node dies: off the network, keepalived killed, and
	// (as after a reboot) the VIP gone from its interface.
	killed := time.Now()
	run(t, kaNS, 5*time.Second, "ip", "link", "set", "eth0", "down")
	ka.kill(t)
	run2(kaNS, "ip", "addr", "del", haVIP+"/32", "dev", "eth0") // keepalived may have removed it (FAULT on link down)
	at := gd.states.waitState(t, "gdirector", "MASTER", 5*time.Second)
	takeover := at.Sub(killed)
	bound := haDown(100) + 300*time.Millisecond
	t.Logf("keepalived node down; gdirector MASTER after %v (Master_Down_Interval %v, bound %v)", takeover.Round(time.Millisecond), haDown(100), bound)
	if takeover > bound {
		t.Errorf("takeover after %v, more than %v", takeover, bound)
	}
	time.Sleep(time.Second)

	// keepalived comes back and preempts.
	run(t, kaNS, 5*time.Second, "ip", "link", "set", "eth0", "up")
	back := time.Now()
	ka = startKA(t, kaNS, haKAConf(200))
	kaAt := ka.log.waitState(t, "keepalived", "MASTER", 5*time.Second)
	gdAt := gd.states.waitState(t, "gdirector", "BACKUP", 3*time.Second)
	t.Logf("keepalived restarted: MASTER %v after its start; gdirector BACKUP %v after that",
		kaAt.Sub(back).Round(time.Millisecond), gdAt.Sub(kaAt).Round(time.Millisecond))
	time.Sleep(time.Second)
	run2(l.ClientNS, "ip", "neigh", "flush", "to", haVIP) // ask again: only keepalived's node may answer
	time.Sleep(500 * time.Millisecond)
	rs := shortDone()
	evs := arpEvents(t, l.ClientNS, arp.stop(t))

	// Who answered, when.
	var before, during, after map[string]int = map[string]int{}, map[string]int{}, map[string]int{}
	for _, r := range rs {
		if !r.ok {
			continue
		}
		switch {
		case r.at.Before(killed):
			before[r.server]++
		case r.at.After(at) && r.at.Before(back):
			during[r.server]++
		case r.at.After(gdAt.Add(500 * time.Millisecond)):
			after[r.server]++
		}
	}
	t.Logf("short requests answered: before the failure %v, gdirector master %v, after the fail-back %v", before, during, after)
	if len(before) != 1 || before["ka"] == 0 {
		t.Errorf("before the failure, answers from %v, want only ka", before)
	}
	if during["ka"] != 0 || during["rs1"]+during["rs2"] == 0 {
		t.Errorf("with gdirector master, answers from %v, want rs1/rs2 only", during)
	}
	if len(after) != 1 || after["ka"] == 0 {
		t.Errorf("after the fail-back, answers from %v, want only ka", after)
	}
	longest, failed := outage(rs)
	ok1, _ := firstOK(rs, killed)
	t.Logf("short requests: %d, %d failed, longest failure %v; first success after the failure %v after it (by %s)",
		len(rs), failed, longest.Round(time.Millisecond), ok1.at.Sub(killed).Round(time.Millisecond), ok1.server)

	// ARP: gdirector silent for the VIP while backup, announcing it on
	// takeover; keepalived's node answering before and after.
	gdBefore := countARP(evs, gdMAC, started, killed)
	gdTakeover := countARP(evs, gdMAC, killed, back)
	gdAfter := countARP(evs, gdMAC, gdAt.Add(100*time.Millisecond), time.Now())
	kaBefore, kaAfter := countARP(evs, kaMAC, started, killed), countARP(evs, kaMAC, kaAt, time.Now())
	if t.Failed() {
		out, _ := run2(l.ClientNS, "tcpdump", "-tt", "-e", "-nn", "-r", arp.file, "arp")
		t.Logf("client ARP capture:\n%s", out)
	}
	t.Logf("ARP for %s seen by the client: gdirector (%s) %d while backup, %d as master, %d after the fail-back; keepalived node (%s) %d before, %d after",
		haVIP, gdMAC, gdBefore, gdTakeover, gdAfter, kaMAC, kaBefore, kaAfter)
	if gdBefore != 0 || gdAfter != 0 {
		t.Errorf("gdirector answered or announced the VIP as backup (%d before the failure, %d after the fail-back)", gdBefore, gdAfter)
	}
	if gdTakeover == 0 {
		t.Error("gdirector did not announce the VIP on takeover")
	}
	if kaBefore == 0 || kaAfter == 0 {
		t.Errorf("the keepalived node's ARP for the VIP: %d before, %d after", kaBefore, kaAfter)
	}
}

// The NAT HA lab: two directors with a leg on each of two segments, the
// real servers' default route pointing at a floating gateway that the
// VRRP master owns.
//
//	client 198.51.100.2 ── brc ─┬─ eth0 dir  198.51.100.1 │ eth1 203.0.113.1 ─┬─ brr ── rs1 203.0.113.11
//	                            └─ eth0 dir2 198.51.100.3 │ eth1 203.0.113.3 ─┘        rs2 203.0.113.12
//
// One vrrp_instance (on eth0) carries the VIP 192.0.2.10 and the gateway
// 203.0.113.254/24 dev eth1; the real servers route everything via the
// gateway, so their replies reach whichever director is master.
const haNATGateway = "203.0.113.254"

// haNATLab is the NAT HA topology; Topology only carries the real servers
// (for StartReals) and the Builder that removes everything.
type haNATLab struct {
	*lab.Topology
	client, dir1, dir2, sw string
}

func buildHANATLab(t *testing.T) *haNATLab {
	t.Helper()
	roottest(t)
	b, err := lab.NewBuilder(labPrefix())
	if err != nil {
		t.Fatal(err)
	}
	l := &haNATLab{Topology: &lab.Topology{Builder: b}}
	cleanupLab(t, b)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("build NAT HA lab: %v", err)
		}
	}
	ns := func(role string) string {
		name, err := b.AddNamespace("hanat-" + role)
		must(err)
		return name
	}
	pfx := netip.MustParsePrefix
	l.client, l.dir1, l.dir2, l.sw = ns("cl"), ns("d1"), ns("d2"), ns("sw")
	must(b.AddBridge(l.sw, "brc"))
	must(b.AddBridge(l.sw, "brr"))
	leg := func(ns, ifname, port, bridge string, addrs ...netip.Prefix) {
		t.Helper()
		must(b.AddVeth(lab.Endpoint{NS: ns, If: ifname, Addrs: addrs}, lab.Endpoint{NS: l.sw, If: port}, 0))
		must(b.AddBridgePort(l.sw, bridge, port))
	}
	leg(l.client, "eth0", "cl-eth0", "brc", pfx("198.51.100.2/24"))
	leg(l.dir1, "eth0", "d1-eth0", "brc", pfx("198.51.100.1/24"))
	leg(l.dir1, "eth1", "d1-eth1", "brr", pfx("203.0.113.1/24"))
	leg(l.dir2, "eth0", "d2-eth0", "brc", pfx("198.51.100.3/24"))
	leg(l.dir2, "eth1", "d2-eth1", "brr", pfx("203.0.113.3/24"))
	// The client reaches the VIP network on-link: it ARPs for the VIP.
	must(b.AddRoute(l.client, lab.Route{Dst: pfx("192.0.2.0/24"), Dev: "eth0"}))
	for i, rip := range []string{"203.0.113.11", "203.0.113.12"} {
		name := fmt.Sprintf("rs%d", i+1)
		r := lab.Real{Name: name, NS: ns(name), If: "eth0", SwitchPort: name + "-eth0", RIP: netip.MustParseAddr(rip)}
		leg(r.NS, r.If, r.SwitchPort, "brr", netip.PrefixFrom(r.RIP, 24))
		must(b.AddRoute(r.NS, lab.Route{Via: netip.MustParseAddr(haNATGateway), Dev: r.If}))
		l.Reals = append(l.Reals, r)
	}
	if err := l.StartReals(bin); err != nil {
		t.Fatalf("start reals: %v", err)
	}
	return l
}

func haNATConf(router string, prio int, notify string) string {
	return fmt.Sprintf(`global_defs {
    router_id %s
    vrrp_version 3
    lvs_sync_daemon eth0 VI_NAT id 43
}
vrrp_instance VI_NAT {
    state BACKUP
    interface eth0
    virtual_router_id 52
    priority %d
    advert_int 0.2
    virtual_ipaddress {
        %s/32 dev eth0
        %s/24 dev eth1
    }
    notify %s
}
virtual_server %s 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 203.0.113.11 80 {
        weight 1
    }
    real_server 203.0.113.12 80 {
        weight 1
    }
}
`, router, prio, haVIP, haNATGateway, notify, haVIP)
}

func startHANATDirector(t *testing.T, l *haNATLab, ns, name string, prio int) *haDirector {
	t.Helper()
	return startHADirectorConf(t, l.Builder, ns, name, func(notify string) string { return haNATConf(name, prio, notify) }, []string{"eth0", "eth1"})
}

// outBytes returns the OutBytes of the VIP's service in ipvsadm -Ln
// --stats --exact: the replies the director has forwarded.
func outBytes(t *testing.T, d *haDirector) uint64 {
	t.Helper()
	out := d.ipvsadm(t, "-Ln", "--stats", "--exact")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 7 && f[0] == "TCP" && f[1] == haVIP+":80" {
			n, err := strconv.ParseUint(f[6], 10, 64)
			if err != nil {
				t.Fatalf("%s: OutBytes %q: %v", d.name, f[6], err)
			}
			return n
		}
	}
	t.Fatalf("%s: no %s:80 line in\n%s", d.name, haVIP, out)
	return 0
}

// pingFrom sends one ICMP echo request from ns to addr and waits up to
// 1 s for the reply.
func pingFrom(ns, addr string) error {
	var c *icmp.PacketConn
	if err := nsutil.Do(ns, func() (err error) {
		c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	id := os.Getpid() & 0xffff
	req, _ := (&icmp.Message{Type: netipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("gdirector hanat")}}).Marshal(nil)
	dst := &net.IPAddr{IP: net.ParseIP(addr)}
	if _, err := c.WriteTo(req, dst); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("no echo reply from %s: %w", addr, err)
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != netipv4.ICMPTypeEchoReply || from.String() != addr {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == 1 {
			return nil
		}
	}
}

// gatewayMAC returns the MAC address rs has for the gateway.
func gatewayMAC(ns string) string {
	out, _ := run2(ns, "ip", "neigh", "show", haNATGateway)
	f := strings.Fields(out)
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// gatewayARP counts the ARP replies and gratuitous ARPs for the gateway
// in a capture, by the MAC address they give.
func gatewayARP(t *testing.T, ns, file string, from, to time.Time) map[string]int {
	t.Helper()
	gw := regexp.QuoteMeta(haNATGateway)
	reply := regexp.MustCompile(`^(\d+\.\d+) \S+ > .*Reply ` + gw + ` is-at (\S+),`)
	garp := regexp.MustCompile(`^(\d+\.\d+) (\S+) > .*(?:Announcement ` + gw + `|Request who-has ` + gw + ` (?:\(\S+\) )?tell ` + gw + `),`)
	out, _ := run2(ns, "tcpdump", "-tt", "-e", "-nn", "-r", file, "arp")
	n := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		m := reply.FindStringSubmatch(line)
		if m == nil {
			m = garp.FindStringSubmatch(line)
		}
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseFloat(m[1], 64)
		if at := time.Unix(0, int64(sec*1e9)); !at.Before(from) && at.Before(to) {
			n[m[2]]++
		}
	}
	return n
}

// TestHAFailoverNAT: the classic keepalived LVS-NAT pair. Two gdirector
// NAT directors, one vrrp_instance holding the VIP (client side) and the
// real servers' floating gateway (real-server side), lvs_sync_daemon, a
// NAT virtual_server. While backup, dir2 answers ARP for neither address;
// the master answers ARP and ping for the gateway. A long download (bytes
// checked, read slowly so it spans the failover; every byte of it now
// crosses the director) and short requests run while the master is
// SIGKILLed: dir2 must have the stream's connection from the sync daemon,
// take over within Master_Down_Interval plus a margin, announce the
// gateway on the real-server segment, and carry the stream on without a
// reset: the real servers' replies reach it through the gateway (its
// OutBytes grow, -Lnc shows the connection).
func TestHAFailoverNAT(t *testing.T) {
	rt.Require(t, "ip", "tcpdump")
	l := buildHANATLab(t)
	d1MAC, d2MAC := macOf(t, l.dir1, "eth1").String(), macOf(t, l.dir2, "eth1").String()
	start := func(ns, name string, prio int) *haDirector { return startHANATDirector(t, l, ns, name, prio) }
	d1, d2 := startPair(t, start, l.dir1, "gdnat1", l.dir2, "gdnat2")

	// Both hosts' kernels drop their copy of the gateway's traffic
	// (blackhole routes, as for the VIP), master or backup.
	for _, ns := range []string{l.dir1, l.dir2} {
		if out := run(t, ns, 5*time.Second, "ip", "route", "show", "proto", "250"); !strings.Contains(out, "blackhole "+haNATGateway) || !strings.Contains(out, "blackhole "+haVIP) {
			t.Errorf("%s: gdirector's routes:\n%s\nwant blackholes for %s and %s", ns, out, haVIP, haNATGateway)
		}
	}
	rs1 := l.Reals[0].NS
	arp := startCapture(t, rs1, "eth0", "arp")
	rst := startCapture(t, l.client, "eth0", "tcp[tcpflags] & tcp-rst != 0")
	// The master answers for the gateway: ARP (the real server asks
	// afresh) and ping, from the real-server side.
	started := time.Now()
	run2(rs1, "ip", "neigh", "flush", "to", haNATGateway)
	if err := pingFrom(rs1, haNATGateway); err != nil {
		t.Fatalf("rs1 pings the gateway (dir1 master): %v", err)
	}
	if mac := gatewayMAC(rs1); mac != d1MAC {
		t.Fatalf("rs1 has the gateway at %q, want dir1's %s", mac, d1MAC)
	}

	shortDone := shortRequests(t, l.client)
	// 12 MiB at 3 MiB/s: about 4 s, across the failover.
	const size, rate = 12 << 20, 3 << 20
	port, rsBefore, streamc := syncedStream(t, l.client, size, rate, d1, d2)
	time.Sleep(500 * time.Millisecond)
	out2 := outBytes(t, d2)

	killed, takeover := killMaster(t, d1, d2, port, rsBefore)
	grown := outBytes(t, d2) - out2
	t.Logf("dir2 forwarded %d reply bytes in the second after its takeover", grown)
	if grown < rate/4 {
		t.Errorf("dir2's OutBytes grew by %d after the takeover: the replies do not come through it", grown)
	}
	if mac := gatewayMAC(rs1); mac != d2MAC {
		t.Errorf("after takeover rs1 has the gateway at %q, want dir2's %s", mac, d2MAC)
	}
	if err := pingFrom(rs1, haNATGateway); err != nil {
		t.Errorf("rs1 pings the gateway (dir2 master): %v", err)
	}

	streamDone(t, streamc, size, 20*time.Second, rst, l.client, port)
	shortOutage(t, shortDone(), killed, takeover)

	// ARP for the gateway on the real-server segment: dir2 silent while
	// backup, announcing it on takeover.
	arpFile := arp.stop(t)
	if t.Failed() {
		out, _ := run2(rs1, "tcpdump", "-tt", "-e", "-nn", "-r", arpFile, "arp")
		t.Logf("rs1's ARP capture (kill at %.6f):\n%s", float64(killed.UnixNano())/1e9, out)
	}
	before, after := gatewayARP(t, rs1, arpFile, started, killed), gatewayARP(t, rs1, arpFile, killed, time.Now())
	t.Logf("ARP for %s seen by rs1: before the kill %v, after %v (dir1 %s, dir2 %s)", haNATGateway, before, after, d1MAC, d2MAC)
	if before[d2MAC] != 0 || before[d1MAC] == 0 {
		t.Errorf("before the kill: ARP for the gateway from %v, want dir1 only", before)
	}
	if after[d2MAC] == 0 || after[d1MAC] != 0 {
		t.Errorf("after the kill: ARP for the gateway from %v, want dir2 only", after)
	}
}

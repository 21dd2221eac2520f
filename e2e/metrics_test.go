package e2e

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/lab"
)

// metricsAddr is where the director serves /metrics, inside its own
// namespace (loopback there is the namespace's own).
const metricsAddr = "127.0.0.1:9102"

// newMetricsEnv builds a NAT lab and starts the director with --metrics.
func newMetricsEnv(t *testing.T) *env {
	t.Helper()
	return newEnvArgs(t, "nat", lab.Options{}, "--metrics", metricsAddr)
}

// sample is one series of an exposition: its name and labels.
type sample struct {
	name   string
	labels map[string]string
}

// parseExposition reads the text exposition format into name{labels} →
// value. It understands what the endpoint writes: one sample per line,
// label values without escaped quotes.
func parseExposition(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			t.Fatalf("exposition line %q has no value", line)
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			t.Fatalf("exposition line %q: %v", line, err)
		}
		s := sample{name: line[:sp], labels: map[string]string{}}
		if i := strings.IndexByte(line[:sp], '{'); i >= 0 {
			s.name = line[:i]
			body := strings.TrimSuffix(line[i+1:sp], "}")
			for body != "" {
				eq := strings.Index(body, `="`)
				if eq < 0 {
					t.Fatalf("exposition line %q: bad labels", line)
				}
				end := strings.IndexByte(body[eq+2:], '"')
				if end < 0 {
					t.Fatalf("exposition line %q: bad labels", line)
				}
				s.labels[body[:eq]] = body[eq+2 : eq+2+end]
				body = strings.TrimPrefix(body[eq+2+end+1:], ",")
			}
		}
		out[seriesKey(s.name, s.labels)] = v
	}
	return out
}

// seriesKey names a series with its labels in sorted order.
func seriesKey(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range keys {
		fmt.Fprintf(&b, ",%s=%s", k, labels[k])
	}
	return b.String()
}

// statsRow is one line of ipvsadm -L -n --stats --exact.
type statsRow struct {
	proto, local, remote string // remote "" for a service line
	vals                 [5]uint64
}

// parseStats reads ipvsadm -L -n --stats --exact.
func parseStats(t *testing.T, out string) []statsRow {
	t.Helper()
	var rows []statsRow
	var proto, local string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 6 && len(f) != 7 {
			continue
		}
		var r statsRow
		nums := f[len(f)-5:]
		switch {
		case f[0] == "->" && len(f) == 7:
			r.proto, r.local, r.remote = proto, local, f[1]
		case (f[0] == "TCP" || f[0] == "UDP") && len(f) == 7:
			proto, local = f[0], f[1]
			r.proto, r.local = proto, local
		default:
			continue
		}
		for i, n := range nums {
			v, err := strconv.ParseUint(n, 10, 64)
			if err != nil {
				t.Fatalf("ipvsadm --stats line %q: %v", line, err)
			}
			r.vals[i] = v
		}
		rows = append(rows, r)
	}
	return rows
}

func splitHostPort(t *testing.T, s string) (string, string) {
	t.Helper()
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		t.Fatalf("no port in %q", s)
	}
	return strings.Trim(s[:i], "[]"), s[i+1:]
}

// connLines counts the connections of ipvsadm -L -n -c.
func connLines(out string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "TCP ") || strings.HasPrefix(line, "UDP ") {
			n++
		}
	}
	return n
}

var statNames = [5]string{"connections", "incoming_packets", "outgoing_packets", "incoming_bytes", "outgoing_bytes"}

// TestMetrics: a director started with --metrics serves, at the address
// inside its namespace, the same per-service and per-real-server figures
// ipvsadm -L -n --stats --exact prints (and the same active/inactive counts
// and weights as ipvsadm -L -n), read while no traffic flows; drops are
// counted by reason; the endpoint closes with the daemon.
func TestMetrics(t *testing.T) {
	e := newMetricsEnv(t)
	vip := e.VIP.String()
	e.mustIpvsadm(t, "-A", "-t", vip+":80", "-s", "rr")
	e.mustIpvsadm(t, "-A", "-u", vip+":53", "-s", "rr")
	for i, r := range e.Reals {
		e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", r.RIP.String()+":80", "-m", "-w", strconv.Itoa(i+1))
		e.mustIpvsadm(t, "-a", "-u", vip+":53", "-r", r.RIP.String()+":53", "-m")
	}

	// Bounded traffic: 5 HTTP requests, 3 UDP queries, and one UDP
	// datagram to a port no service serves (dropped: no_service).
	for i := 0; i < 5; i++ {
		run(t, e.ClientNS, 10*time.Second, "curl", "-sS", "-m", "5", "http://"+vip+"/")
	}
	for i := 0; i < 3; i++ {
		run(t, e.ClientNS, 10*time.Second, "sh", "-c", "printf 'q"+strconv.Itoa(i)+"' | socat -t 0.5 - UDP:"+vip+":53")
	}
	run(t, e.ClientNS, 10*time.Second, "sh", "-c", "printf 'nobody' | socat -t 0.2 - UDP:"+vip+":54")

	// Read ipvsadm, the endpoint, and ipvsadm again until both ipvsadm
	// readings agree: the last ACKs and FINs have been counted and
	// nothing moved while the endpoint was read.
	var stats, list, scrape string
	var conns int
	for try := 0; ; try++ {
		before := e.mustIpvsadm(t, "-L", "-n", "--stats", "--exact")
		beforeList := e.mustIpvsadm(t, "-L", "-n")
		beforeConns := connLines(e.mustIpvsadm(t, "-L", "-n", "-c"))
		scrape = run(t, e.DirectorNS, 10*time.Second, "curl", "-sS", "-m", "5", "http://"+metricsAddr+"/metrics")
		after := e.mustIpvsadm(t, "-L", "-n", "--stats", "--exact")
		afterList := e.mustIpvsadm(t, "-L", "-n")
		afterConns := connLines(e.mustIpvsadm(t, "-L", "-n", "-c"))
		if before == after && beforeList == afterList && beforeConns == afterConns {
			stats, list, conns = after, afterList, afterConns
			break
		}
		if try == 20 {
			t.Fatalf("counters still moving after the traffic stopped:\n%s\n%s", before, after)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("ipvsadm -L -n --stats --exact:\n%s", stats)
	var shown []string
	for _, line := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(line, "gdirector_ipvs_service_") || strings.HasPrefix(line, "gdirector_ipvs_backend_connections_total") ||
			strings.HasPrefix(line, "gdirector_ipvs_backend_incoming") || strings.HasPrefix(line, "gdirector_ipvs_backend_outgoing") {
			shown = append(shown, line)
		}
	}
	t.Logf("curl http://%s/metrics (traffic families):\n%s", metricsAddr, strings.Join(shown, "\n"))
	got := parseExposition(t, scrape)

	rows := parseStats(t, stats)
	if len(rows) != 6 {
		t.Fatalf("ipvsadm --stats lists %d rows, want 2 services and 4 real servers:\n%s", len(rows), stats)
	}
	var totals [5]uint64
	seen := map[string]bool{}
	for _, r := range rows {
		addr, port := splitHostPort(t, r.local)
		labels := map[string]string{"local_address": addr, "local_port": port, "proto": r.proto, "local_mark": ""}
		family := "gdirector_ipvs_service_"
		if r.remote != "" {
			family = "gdirector_ipvs_backend_"
			labels["remote_address"], labels["remote_port"] = splitHostPort(t, r.remote)
		} else {
			for i := range totals {
				totals[i] += r.vals[i]
			}
		}
		for i, n := range statNames {
			key := seriesKey(family+n+"_total", labels)
			seen[key] = true
			v, ok := got[key]
			switch {
			case !ok:
				t.Errorf("endpoint lacks %s", key)
			case v != float64(r.vals[i]):
				t.Errorf("%s = %v, ipvsadm says %d", key, v, r.vals[i])
			}
		}
	}
	if totals[0] != 8 {
		t.Errorf("ipvsadm counts %d connections, want the 8 made", totals[0])
	}
	for i, n := range statNames {
		key := seriesKey("gdirector_ipvs_"+n+"_total", nil)
		if got[key] != float64(totals[i]) {
			t.Errorf("%s = %v, the services' sum is %d", key, got[key], totals[i])
		}
	}
	// The endpoint lists nothing ipvsadm does not.
	for key := range got {
		if (strings.HasPrefix(key, "gdirector_ipvs_service_") || strings.HasPrefix(key, "gdirector_ipvs_backend_")) &&
			strings.HasSuffix(strings.SplitN(key, ",", 2)[0], "_total") && !seen[key] {
			t.Errorf("endpoint has %s, which ipvsadm does not list", key)
		}
	}

	// Weights and connection counts against ipvsadm -L -n.
	var svcProto, svcLocal string
	backends := 0
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && (f[0] == "TCP" || f[0] == "UDP"):
			svcProto, svcLocal = f[0], f[1]
		case len(f) == 6 && f[0] == "->" && f[2] != "Forward":
			addr, port := splitHostPort(t, svcLocal)
			raddr, rport := splitHostPort(t, f[1])
			labels := map[string]string{"local_address": addr, "local_port": port, "proto": svcProto, "local_mark": "", "remote_address": raddr, "remote_port": rport}
			for name, col := range map[string]string{"weight": f[3], "connections_active": f[4], "connections_inactive": f[5]} {
				key := seriesKey("gdirector_ipvs_backend_"+name, labels)
				want, _ := strconv.ParseFloat(col, 64)
				if v, ok := got[key]; !ok || v != want {
					t.Errorf("%s = %v (present %v), ipvsadm -L -n says %s", key, v, ok, col)
				}
			}
			if v := got[seriesKey("gdirector_backend_up", labels)]; v != 1 {
				t.Errorf("gdirector_backend_up for %s = %v, want 1", f[1], v)
			}
			backends++
		}
	}
	if backends != 4 {
		t.Errorf("ipvsadm -L -n lists %d real servers, want 4:\n%s", backends, list)
	}

	if v := got[seriesKey("gdirector_drops_total", map[string]string{"reason": "no_service"})]; v < 1 {
		t.Errorf("gdirector_drops_total{reason=no_service} = %v, want at least the 1 datagram sent to no service", v)
	}
	if _, ok := got[seriesKey("gdirector_drops_total", map[string]string{"reason": "table_full"})]; !ok {
		t.Error("drop reasons that never happened are not exposed at zero")
	}
	if v := got[seriesKey("gdirector_datapath_new_connections_total", nil)]; v != 8 {
		t.Errorf("gdirector_datapath_new_connections_total = %v, want 8", v)
	}
	if v := got[seriesKey("gdirector_conntrack_entries", nil)]; v != float64(conns) || conns == 0 {
		t.Errorf("gdirector_conntrack_entries = %v, ipvsadm -L -n -c lists %d connections", v, conns)
	}
	for _, want := range []string{"go_goroutines", "process_open_fds"} {
		if _, ok := got[seriesKey(want, nil)]; !ok {
			t.Errorf("endpoint lacks %s", want)
		}
	}

	e.stopDirector(t)
	if out, err := run2(e.DirectorNS, "curl", "-sS", "-m", "2", "http://"+metricsAddr+"/metrics"); err == nil {
		t.Errorf("metrics endpoint still answers after the director stopped:\n%.200s", out)
	}
}

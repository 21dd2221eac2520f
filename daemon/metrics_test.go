package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/datapath"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/ipvsadm"
	"github.com/gdirector/gdirector/link"
	"github.com/gdirector/gdirector/link/linktest"
	"github.com/gdirector/gdirector/vs"
)

// noRoutes is a datapath.Router that knows nothing.
type noRoutes struct{}

func (noRoutes) Route(netip.Addr) (datapath.Route, error) {
	return datapath.Route{}, datapath.ErrNoRoute
}
func (noRoutes) Neighbor(int, netip.Addr) ([6]byte, bool) { return [6]byte{}, false }

// TestMetricsEndpoint wires the collector as Run does (Manager, data plane,
// connection table) and scrapes it over loopback: the Manager's services,
// the data plane's drop reasons and the table's capacity are there, and
// stop closes the listener.
func TestMetricsEndpoint(t *testing.T) {
	var table atomic.Pointer[vs.Table]
	table.Store(vs.NewTable(nil))
	conns := conntrack.NewTable(conntrack.Options{Capacity: 4096})
	dev := linktest.New("gdt0", [6]byte{2, 0, 0, 0, 0, 1})
	defer dev.Close()
	dp, err := datapath.New(datapath.Config{Devices: []link.Device{dev}, Table: &table, Conns: conns, Clock: clock.Real{}, Router: noRoutes{}})
	if err != nil {
		t.Fatal(err)
	}
	mgr := ctl.NewManager(ctl.Config{Table: &table, Timeouts: conns, Conns: conns})
	for _, argv := range [][]string{
		{"-A", "-t", "192.0.2.10:80", "-s", "rr"},
		{"-a", "-t", "192.0.2.10:80", "-r", "203.0.113.11:80", "-m", "-w", "3"},
	} {
		if _, errOut, code := ipvsadm.Run(mgr, argv); code != 0 {
			t.Fatalf("ipvsadm %v: %s", argv, errOut)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop, err := startMetrics(context.Background(), ln, metricsSource(mgr, dp, conns, nil), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/metrics"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`gdirector_ipvs_service_connections_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP"} 0`,
		`gdirector_ipvs_backend_weight{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 3`,
		`gdirector_backend_up{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 1`,
		`gdirector_drops_total{reason="no_service"} 0`,
		`gdirector_drops_total{reason="ports_exhausted"} 0`,
		"gdirector_conntrack_capacity 4096\n",
		"gdirector_conntrack_entries 0\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(string(body), `reason="pass"`) {
		t.Error("forwarded packets exposed as a drop reason")
	}

	stop()
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("metrics listener still open after stop")
	}
}

// TestRunRefusesBadListenAddress: a bad or busy --metrics or --status
// address fails before any device is opened or sysctl changed (the
// interface named here does not exist, and the error is about the
// address, not it).
func TestRunRefusesBadListenAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, flag := range []struct {
		name string
		set  func(*Options, string)
	}{
		{"--metrics", func(o *Options, a string) { o.Metrics = a }},
		{"--status", func(o *Options, a string) { o.Status = a }},
	} {
		for addr, want := range map[string]string{
			"localhost:9102":     "not an IP address",
			"127.0.0.1":          "HOST:PORT",
			busy.Addr().String(): "address already in use",
		} {
			opt := Options{Ifaces: []string{"gdt-no-such-if"}, CtlPath: filepath.Join(t.TempDir(), "s")}
			flag.set(&opt, addr)
			err := Run(context.Background(), opt)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s %s: %v, want an error saying %q", flag.name, addr, err, want)
			}
		}
	}
}

package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/ipvsadm"
	"github.com/gdirector/gdirector/status"
	"github.com/gdirector/gdirector/trace"
	"github.com/gdirector/gdirector/vs"
)

// TestStatusEndpoint wires the status page as Run does (Manager,
// connection table, health) and reads its document over loopback: the
// Manager's services and the health verdict are there, and stop closes the
// listener.
func TestStatusEndpoint(t *testing.T) {
	var table atomic.Pointer[vs.Table]
	conns := conntrack.NewTable(conntrack.Options{Capacity: 4096})
	mgr := ctl.NewManager(ctl.Config{Table: &table, Timeouts: conns, Conns: conns})
	for _, argv := range [][]string{
		{"-A", "-t", "192.0.2.10:80", "-s", "rr"},
		{"-a", "-t", "192.0.2.10:80", "-r", "203.0.113.11:80", "-m", "-w", "3"},
	} {
		if _, errOut, code := ipvsadm.Run(mgr, argv); code != 0 {
			t.Fatalf("ipvsadm %v: %s", argv, errOut)
		}
	}
	health := func(*vs.Service, *vs.Dest) (bool, bool) { return false, true }

	ln, err := listenStatus("127.0.0.1:0", t.Logf)
	if err == nil {
		ln.Close()
		t.Fatal("port 0 accepted")
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop, err := startStatus(context.Background(), ln, statusConfig(mgr, conns, health, nil, nil), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ln.Addr().String()+status.JSONPath, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var v status.View
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if len(v.Services) != 1 || v.Services[0].Name != "TCP 192.0.2.10:80" || len(v.Services[0].Dests) != 1 {
		t.Fatalf("services %+v", v.Services)
	}
	if d := v.Services[0].Dests[0]; d.Addr != "203.0.113.11:80" || d.Forward != "nat" || d.Weight != 3 || d.Up || !d.Checked {
		t.Errorf("dest %+v, want the checker's down verdict", d)
	}
	if v.Conntrack == nil || v.Conntrack.Capacity != 4096 || v.Recent.Source != "conntrack" {
		t.Errorf("conntrack %+v, recent %+v", v.Conntrack, v.Recent)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}

	stop()
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("status listener still open after stop")
	}
}

// TestStatusSharesTraceHub: the status page and gdirector trace share one
// hub. Nobody viewing the page means no tracer in the data plane; a
// request for the document installs one sampling 1 in 64 (status.
// PacketFilter); a gdirector trace stream joining makes it trace every
// packet (its own, unsampled, behaviour), or 1 in 8 with --sample 8; when
// the page is no longer requested its subscription ends, and with the last
// subscriber the tracer is removed.
func TestStatusSharesTraceHub(t *testing.T) {
	var table atomic.Pointer[vs.Table]
	conns := conntrack.NewTable(conntrack.Options{Capacity: 64})
	mgr := ctl.NewManager(ctl.Config{Table: &table, Timeouts: conns, Conns: conns})
	var installed atomic.Pointer[trace.Tracer]
	installs := atomic.Int64{}
	hub := trace.NewHub(func(tr *trace.Tracer) { installed.Store(tr); installs.Add(1) }, func() int64 { return 0 }, 16)

	cfg := statusConfig(mgr, conns, nil, hub, nil)
	cfg.TraceIdle = time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop, err := startStatus(context.Background(), ln, cfg, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	page := "http://" + ln.Addr().String()
	fetch := func(path string) {
		t.Helper()
		resp, err := http.Get(page + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	fetch(status.PagePath)
	if installed.Load() != nil || installs.Load() != 0 {
		t.Fatal("the page itself (no document yet) installed a tracer")
	}
	fetch(status.JSONPath)
	tr := installed.Load()
	if tr == nil || hub.Active() != 1 || tr.Plan().Every != status.PacketFilter.Sample {
		t.Fatalf("viewed: tracer %v, %d subscribers", tr, hub.Active())
	}

	// gdirector trace joins: every packet, then with --sample 8 one in 8.
	for _, c := range []struct {
		argv  []string
		every int
	}{{[]string{"--count", "1"}, 1}, {[]string{"--sample", "8", "--count", "1"}, 8}} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			traceHandler(hub)(ctx, c.argv, func(any) error { return nil })
		}()
		waitUntil(t, "the trace stream to subscribe", func() bool { return hub.Active() == 2 })
		if got := tr.Plan().Every; got != c.every {
			t.Errorf("page and gdirector trace %v: the tracer samples 1 in %d, want %d", c.argv, got, c.every)
		}
		fetch(status.JSONPath) // keep the page's subscription
		cancel()
		<-done
	}
	if tr.Plan().Every != status.PacketFilter.Sample || hub.Active() != 1 {
		t.Fatalf("trace streams gone: 1 in %d, %d subscribers", tr.Plan().Every, hub.Active())
	}
	// Nobody looks at the page any more.
	waitUntil(t, "the page's trace to end", func() bool { return hub.Active() == 0 && installed.Load() == nil })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

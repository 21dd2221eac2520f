package status

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/vs"
)

// small is a hand-built table: a NAT service with a checked real server,
// a service mixing FullNAT and TUN real servers, and an empty IPv6
// firewall-mark service; three connections and a persistence template.
func small(t *testing.T) *lab {
	l := newLab()
	nat := dest("203.0.113.11", 80, vs.Masq, 2)
	nat.UThreshold.Store(100)
	nat.LThreshold.Store(10)
	web := l.service(vs.TCP, "192.0.2.10", 80, "wlc", nat)
	l.down[nat] = false // checked, up
	fn := dest("203.0.113.31", 8080, vs.FullNAT, 1)
	tun := dest("203.0.113.32", 8080, vs.Tunnel, 0)
	app := l.service(vs.TCP, "192.0.2.30", 8080, "rr", fn, tun)
	app.Flags |= vs.SvcPersistent
	app.Timeout = 60
	app.LAddrs = []*vs.LocalAddr{vs.NewLocalAddr(netip.MustParseAddr("203.0.113.250"), "")}
	mark := &vs.Service{Key: vs.ServiceKey{FwMark: 7, IPv6: true}, FwMark: 7, IPv6: true, SchedName: "sh", Stats: new(vs.Stats)}
	l.svcs = append(l.svcs, mark)
	l.table = vs.NewTable(l.svcs)

	l.conn(t, web, nat, "198.51.100.7", 40000, true, "", 0)
	l.clk.Advance(time.Second)
	l.conn(t, app, fn, "198.51.100.8", 40001, false, "203.0.113.250", 5000)
	l.clk.Advance(time.Second)
	l.conn(t, app, tun, "198.51.100.9", 40002, true, "", 0)
	traffic(&nat.Stats, 10, 100, 90, 6000, 90000, 1, 5, 4, 300, 4500)
	traffic(web.Stats, 10, 100, 90, 6000, 90000, 1, 5, 4, 300, 4500)
	traffic(app.Stats, 3, 7, 2, 700, 200, 0, 1, 0, 70, 20)
	return l
}

// TestJSON: the document of a hand-built table, field by field.
func TestJSON(t *testing.T) {
	l := small(t)
	h := l.handler(t, nil)
	got, err := json.MarshalIndent(h.Snapshot(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "time": "2026-05-04T12:30:00Z",
  "totals": {"conns": 13, "in_pkts": 107, "out_pkts": 92, "in_bytes": 6700, "out_bytes": 90200,
    "rates": {"cps": 1, "in_pps": 6, "out_pps": 4, "in_bps": 370, "out_bps": 4520}},
  "conntrack": {"entries": 3, "capacity": 1024},
  "services": [
    {"name": "TCP 192.0.2.10:80", "proto": "tcp", "addr": "192.0.2.10", "port": 80, "family": "inet",
     "scheduler": "wlc", "persistent": 0,
     "stats": {"conns": 10, "in_pkts": 100, "out_pkts": 90, "in_bytes": 6000, "out_bytes": 90000,
       "rates": {"cps": 1, "in_pps": 5, "out_pps": 4, "in_bps": 300, "out_bps": 4500}},
     "dests": [
       {"addr": "203.0.113.11:80", "forward": "nat", "weight": 2, "u_threshold": 100, "l_threshold": 10,
        "overloaded": false, "active_conns": 1, "inact_conns": 0, "persist_conns": 0, "up": true, "checked": true,
        "stats": {"conns": 10, "in_pkts": 100, "out_pkts": 90, "in_bytes": 6000, "out_bytes": 90000,
          "rates": {"cps": 1, "in_pps": 5, "out_pps": 4, "in_bps": 300, "out_bps": 4500}}}],
     "recent": [
       {"proto": "tcp", "state": "ESTABLISHED", "expires": 898, "forward": "nat",
        "client": "198.51.100.7:40000", "virtual": "192.0.2.10:80", "real": "203.0.113.11:80",
        "rewrites": [
          {"dir": "in", "before": {"src": "198.51.100.7:40000", "dst": "192.0.2.10:80"},
                        "after": {"src": "198.51.100.7:40000", "dst": "203.0.113.11:80"}},
          {"dir": "out", "before": {"src": "203.0.113.11:80", "dst": "198.51.100.7:40000"},
                         "after": {"src": "192.0.2.10:80", "dst": "198.51.100.7:40000"}}]}],
     "packets": []},
    {"name": "TCP 192.0.2.30:8080", "proto": "tcp", "addr": "192.0.2.30", "port": 8080, "family": "inet",
     "scheduler": "rr", "persistent": 60, "laddrs": ["203.0.113.250"],
     "stats": {"conns": 3, "in_pkts": 7, "out_pkts": 2, "in_bytes": 700, "out_bytes": 200,
       "rates": {"cps": 0, "in_pps": 1, "out_pps": 0, "in_bps": 70, "out_bps": 20}},
     "dests": [
       {"addr": "203.0.113.31:8080", "forward": "fullnat", "weight": 1, "u_threshold": 0, "l_threshold": 0,
        "overloaded": false, "active_conns": 1, "inact_conns": 0, "persist_conns": 0, "up": true, "checked": false,
        "stats": {"conns": 1, "in_pkts": 0, "out_pkts": 0, "in_bytes": 0, "out_bytes": 0,
          "rates": {"cps": 0, "in_pps": 0, "out_pps": 0, "in_bps": 0, "out_bps": 0}}},
       {"addr": "203.0.113.32:8080", "forward": "tun", "weight": 0, "u_threshold": 0, "l_threshold": 0,
        "overloaded": false, "active_conns": 1, "inact_conns": 0, "persist_conns": 0, "up": false, "checked": false,
        "stats": {"conns": 1, "in_pkts": 0, "out_pkts": 0, "in_bytes": 0, "out_bytes": 0,
          "rates": {"cps": 0, "in_pps": 0, "out_pps": 0, "in_bps": 0, "out_bps": 0}}}],
     "recent": [
       {"proto": "tcp", "state": "ESTABLISHED", "expires": 900, "forward": "tun",
        "client": "198.51.100.9:40002", "virtual": "192.0.2.30:8080", "real": "203.0.113.32:8080",
        "rewrites": [
          {"dir": "in", "before": {"src": "198.51.100.9:40002", "dst": "192.0.2.30:8080"},
                        "after": {"src": "198.51.100.9:40002", "dst": "192.0.2.30:8080"},
                        "outer": {"src": "DIP", "dst": "203.0.113.32"}}]},
       {"proto": "tcp", "state": "SYN_RECV", "expires": 59, "forward": "fullnat",
        "client": "198.51.100.8:40001", "virtual": "192.0.2.30:8080", "real": "203.0.113.31:8080",
        "local": "203.0.113.250:5000",
        "rewrites": [
          {"dir": "in", "before": {"src": "198.51.100.8:40001", "dst": "192.0.2.30:8080"},
                        "after": {"src": "203.0.113.250:5000", "dst": "203.0.113.31:8080"}},
          {"dir": "out", "before": {"src": "203.0.113.31:8080", "dst": "203.0.113.250:5000"},
                         "after": {"src": "192.0.2.30:8080", "dst": "198.51.100.8:40001"}}]}],
     "packets": []},
    {"name": "FWM 7 IPv6", "port": 0, "fwmark": 7, "family": "inet6", "scheduler": "sh", "persistent": 0,
     "stats": {"conns": 0, "in_pkts": 0, "out_pkts": 0, "in_bytes": 0, "out_bytes": 0,
       "rates": {"cps": 0, "in_pps": 0, "out_pps": 0, "in_bps": 0, "out_bps": 0}},
     "dests": [], "recent": [], "packets": []}
  ],
  "recent": {"source": "conntrack", "scanned": 3, "truncated": false},
  "packets": {"tracing": false}
}`
	var w bytes.Buffer
	if err := json.Indent(&w, compact(t, want), "", "  "); err != nil {
		t.Fatal(err)
	}
	if string(got) != w.String() {
		t.Errorf("document:\n%s\nwant:\n%s", got, w.String())
	}
}

func compact(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestRecentNewestFirst: a connection made after the first walk comes
// first at the next one, even though others expire later; walks are no
// more frequent than ScanEvery; a walk stops at MaxScan; templates and
// connections of services no longer in the table are left out.
func TestRecentNewestFirst(t *testing.T) {
	l := realistic(t)
	web := l.svcs[0]
	wall := t0
	h, err := New(Config{
		Table: func() *vs.Table { return l.table }, Conns: l.conns, ConnClock: l.clk.Now,
		Now: func() time.Time { return wall }, ScanEvery: time.Second, RecentPerService: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	first := h.Snapshot().Services[0].Recent
	if len(first) != 3 || first[0].Client != "198.51.100.7:41004" {
		t.Fatalf("first walk: %+v", first)
	}
	// A SYN-only connection expires long before the established ones.
	l.conn(t, web, web.Dests[1], "198.51.100.200", 50000, false, "", 0)
	wall = wall.Add(500 * time.Millisecond)
	if got := h.Snapshot().Services[0].Recent[0].Client; got != "198.51.100.7:41004" {
		t.Errorf("walked again within ScanEvery: newest %s", got)
	}
	wall = wall.Add(600 * time.Millisecond)
	v := h.Snapshot()
	if got := v.Services[0].Recent[0]; got.Client != "198.51.100.200:50000" || got.State != "SYN_RECV" {
		t.Errorf("newest after the new connection: %+v", got)
	}
	if got := v.Services[0].Recent[1].Client; got != "198.51.100.7:41004" {
		t.Errorf("second newest %s, want the first walk's newest", got)
	}
	if v.Recent.Scanned != 11 || v.Recent.Truncated {
		t.Errorf("walk info %+v, want 11 scanned", v.Recent)
	}

	// A persistence template is not listed, but counts as scanned.
	if _, err := l.conns.New(l.clk.Now(), &conntrack.Params{
		Proto: vs.TCP, CAddr: netip.MustParseAddr("198.51.100.201").As16(), VAddr: web.Addr.As16(), VPort: 80,
		DAddr: web.Dests[0].Addr16, DPort: 80, Fwd: vs.Masq, Dest: web.Dests[0], Svc: web,
		Flags: conntrack.FlagTemplate, Timeout: int64(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	wall = wall.Add(2 * time.Second)
	v = h.Snapshot()
	if got := v.Services[0].Recent[0].Client; got != "198.51.100.200:50000" || v.Recent.Scanned != 12 {
		t.Errorf("with a template: newest %s, %d scanned", got, v.Recent.Scanned)
	}

	h2, err := New(Config{Table: func() *vs.Table { return l.table }, Conns: l.conns, ConnClock: l.clk.Now, ScanEvery: -1, MaxScan: 4})
	if err != nil {
		t.Fatal(err)
	}
	if v := h2.Snapshot(); v.Recent.Scanned != 4 || !v.Recent.Truncated {
		t.Errorf("MaxScan 4: %+v", v.Recent)
	}

	// Without the web service in the table its connections are not listed.
	l.table = vs.NewTable(l.svcs[1:])
	wall = wall.Add(2 * time.Second)
	v = h.Snapshot()
	if len(v.Services) != 1 || v.Services[0].Name != "TCP 192.0.2.20:443" || len(v.Services[0].Recent) != 3 {
		t.Errorf("after removing the web service: %+v", v.Services)
	}
}

// TestHandler: the page and the document for GET and HEAD, with the
// security headers; 405 for other methods, 404 elsewhere.
func TestHandler(t *testing.T) {
	l := small(t)
	srv := httptest.NewServer(l.handler(t, nil))
	defer srv.Close()
	do := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for _, tc := range []struct {
		method, path string
		code         int
		ctype        string
		body         string // a substring; "" = empty body
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "<title>gdirector status</title>"},
		{"HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/status.json", 200, "application/json", `"name":"TCP 192.0.2.10:80"`},
		{"HEAD", "/status.json", 200, "application/json", ""},
		{"GET", "/index.html", 404, "text/plain; charset=utf-8", "404"},
		{"GET", "/status.json/", 404, "text/plain; charset=utf-8", "404"},
		{"GET", "/metrics", 404, "text/plain; charset=utf-8", "404"},
		{"POST", "/", 405, "text/plain; charset=utf-8", "405"},
		{"PUT", "/status.json", 405, "text/plain; charset=utf-8", "405"},
		{"DELETE", "/status.json", 405, "text/plain; charset=utf-8", "405"},
		{"OPTIONS", "/", 405, "text/plain; charset=utf-8", "405"},
	} {
		resp, body := do(tc.method, tc.path)
		name := tc.method + " " + tc.path
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, tc.code)
		}
		if ct := resp.Header.Get("Content-Type"); ct != tc.ctype {
			t.Errorf("%s: Content-Type %q, want %q", name, ct, tc.ctype)
		}
		if tc.body == "" && body != "" || !strings.Contains(body, tc.body) {
			t.Errorf("%s: body %.80q, want one with %q", name, body, tc.body)
		}
		if tc.code == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q", name, resp.Header.Get("Allow"))
		}
		for h, want := range map[string]string{
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
			"X-Frame-Options":        "DENY",
			"Content-Security-Policy": "default-src 'none'; script-src " + pageHash(t, "script") + "; style-src " + pageHash(t, "style") +
				"; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s: %s %q, want %q", name, h, got, want)
			}
		}
	}

	// The page is self-contained: nothing is loaded from elsewhere.
	_, page := do("GET", "/")
	for _, bad := range []string{"https://", "src=", "href=", "<link", "@import", "url(", "<iframe", "<img"} {
		if strings.Contains(page, bad) {
			t.Errorf("page has %q", bad)
		}
	}
	if n, svg := strings.Count(page, "http://"), strings.Count(page, "http://www.w3.org/2000/svg"); n != svg {
		t.Errorf("page names %d http:// addresses besides the SVG namespace", n-svg)
	}
	if m := regexp.MustCompile(`\son[a-z]+\s*=`).FindString(page); m != "" {
		t.Errorf("page has an inline handler %q (the CSP would block it)", m)
	}
	// The document parses back into the same view.
	_, doc := do("GET", "/status.json")
	var v View
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Services) != 3 || v.Services[1].Dests[1].Forward != "tun" {
		t.Errorf("document round trip: %+v", v)
	}
}

// pageHash is the CSP source of page.html's script or style, computed
// independently of the handler.
func pageHash(t *testing.T, tag string) string {
	t.Helper()
	s := string(page)
	i := strings.Index(s, "<"+tag+">")
	j := strings.Index(s, "</"+tag+">")
	if i < 0 || j < i || strings.Count(s, "<"+tag) != 1 {
		t.Fatalf("page.html must have exactly one <%s> element", tag)
	}
	sum := sha256.Sum256([]byte(s[i+len(tag)+2 : j]))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// TestNewNeedsTable: a handler without a table is refused.
func TestNewNeedsTable(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without Table succeeded")
	}
	h, err := New(Config{Table: func() *vs.Table { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	v := h.Snapshot()
	if v.Services == nil || len(v.Services) != 0 || v.Conntrack != nil || v.Recent.Source != "" {
		t.Errorf("empty view %+v", v)
	}
}

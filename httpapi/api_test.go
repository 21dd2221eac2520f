package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// lab is the configuration most tests start from.
var lab = []string{
	"-A -t 192.0.2.10:80 -s rr",
	"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m",
	"-a -t 192.0.2.10:80 -r 203.0.113.12:8080 -m -w 3 -x 100 -y 50",
	"-A -u 192.0.2.10:53 -s wrr -o",
	"-A -t [2001:db8::10]:443 -s sh -b sh-port -p 300 -M 64",
	"-a -t [2001:db8::10]:443 -r [2001:db8:1::11]:443 -g",
	"-A -f 7 -6 -s rr",
	"-A -t 192.0.2.20:0 -s rr -p",
	"-P -t 192.0.2.20:0 -z 203.0.113.100",
	"-a -t 192.0.2.20:0 -r 203.0.113.13 -b",
}

var web = ctl.ServiceID{Proto: vs.TCP, Addr: netip.MustParseAddr("192.0.2.10"), Port: 80}

func destOf(t testing.TB, m *ctl.Manager, id ctl.ServiceID, addrPort string) *vs.Dest {
	t.Helper()
	s, err := m.Service(id)
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(addrPort)
	for _, d := range s.Dests {
		if d.Addr == ap.Addr() && d.Port == ap.Port() {
			return d
		}
	}
	t.Fatalf("no dest %s", addrPort)
	return nil
}

func TestAuth(t *testing.T) {
	r := newRig(t, lab...)
	before := r.dump()
	tests := []struct {
		name string
		auth []string // Authorization header values
		want int
	}{
		{"missing", nil, 401},
		{"empty", []string{""}, 401},
		{"wrong token", []string{"Bearer " + strings.Repeat("x", len(testToken))}, 401},
		{"prefix of the token", []string{"Bearer " + testToken[:len(testToken)-1]}, 401},
		{"token plus more", []string{"Bearer " + testToken + "0"}, 401},
		{"no scheme", []string{testToken}, 401},
		{"basic", []string{"Basic " + testToken}, 401},
		{"scheme only", []string{"Bearer"}, 401},
		{"two headers", []string{"Bearer " + testToken, "Bearer " + testToken}, 401},
		{"right", []string{"Bearer " + testToken}, 200},
		{"scheme in lower case", []string{"bearer " + testToken}, 200},
		{"two spaces", []string{"Bearer  " + testToken}, 200},
	}
	for _, tc := range tests {
		// A mutating request: only the right token may flush.
		hdr := http.Header{"Content-Type": {"application/json"}}
		if tc.auth != nil {
			hdr["Authorization"] = tc.auth
		}
		code, body := r.raw("POST", "/v1/ipvsadm", hdr, strings.NewReader(`{"args":["-L","-n"]}`))
		if code != tc.want {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, code, tc.want, body)
		}
		if code == 401 && string(body) != "{\n  \"error\": \"unauthorized\"\n}\n" {
			t.Errorf("%s: 401 body %q", tc.name, body)
		}
		code, _ = r.raw("POST", "/v1/ipvsadm", hdr, strings.NewReader(`{"args":["-C"]}`))
		if tc.want == 401 && (code != 401 || r.dump() != before) {
			t.Fatalf("%s: unauthenticated flush: status %d", tc.name, code)
		}
		if tc.want == 200 {
			if code != 200 || len(r.m.Table().Services) != 0 {
				t.Fatalf("%s: flush not done: %d", tc.name, code)
			}
			r = newRig(t, lab...)
		}
	}
	// Every path, known or not, asks for the token first: no probing.
	for _, p := range []string{"/", "/v1/services", "/v1/services/tcp/192.0.2.10/80", "/v1/nope", "/v2/x"} {
		req, _ := http.NewRequest("GET", r.srv.URL+p, nil)
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="gdirector"` {
			t.Errorf("GET %s without a token: %d %q", p, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestRefusesPlainHTTP serves the handler without TLS: it answers nothing
// but 403, even with the right token.
func TestRefusesPlainHTTP(t *testing.T) {
	m, mux := newMux()
	h, err := NewHandler(m, mux, testToken)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/services", ""},
		{"POST", "/v1/ipvsadm", `{"args":["-A","-t","192.0.2.10:80"]}`},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("%s %s over plain HTTP: %d", tc.method, tc.path, resp.StatusCode)
		}
	}
	if len(m.Table().Services) != 0 {
		t.Fatal("a plain HTTP request changed the table")
	}
}

func TestNewHandlerRefuses(t *testing.T) {
	m, mux := newMux()
	plain := func([]string) (string, string, int) { return "", "", 0 }
	for name, tc := range map[string]struct {
		m     *ctl.Manager
		mux   *ctl.Mux
		token string
	}{
		"nil manager":      {nil, mux, testToken},
		"nil mux":          {m, nil, testToken},
		"short token":      {m, mux, "0123456789abcde"},
		"token with space": {m, mux, "0123456789 abcdef0123"},
		"token with colon": {m, mux, "0123456789:abcdef0123"},
		"command services": {m, &ctl.Mux{Handlers: map[string]ctl.Handler{"services": plain}}, testToken},
		"command ipvsadm":  {m, &ctl.Mux{Handlers: map[string]ctl.Handler{"": plain, "ipvsadm": plain}}, testToken},
		"command path":     {m, &ctl.Mux{Handlers: map[string]ctl.Handler{"a/b": plain}}, testToken},
	} {
		if _, err := NewHandler(tc.m, tc.mux, tc.token); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, tok := range []string{testToken, "abcdefghijklmnop", "AZaz09-._~+/abcdef==", strings.Repeat("k", 200)} {
		if _, err := NewHandler(m, mux, tok); err != nil {
			t.Errorf("token %q refused: %v", tok, err)
		}
	}
}

func TestListServices(t *testing.T) {
	r := newRig(t, lab...)
	d := destOf(t, r.m, web, "203.0.113.12:8080")
	d.ActiveConns.Store(4)
	d.InactConns.Store(2)
	d.Stats.Conns.Store(10)
	d.Stats.InPkts.Store(100)
	d.Stats.OutPkts.Store(90)
	d.Stats.InBytes.Store(6000)
	d.Stats.OutBytes.Store(120000)
	d.Stats.Estimate() // one pass of the rate estimator over those counters
	s, _ := r.m.Service(web)
	s.Stats.Conns.Store(11)

	code, body := r.do("GET", "/v1/services", nil)
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	var list ServiceList
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, s := range list.Services {
		paths = append(paths, s.Path)
	}
	want := []string{"/v1/services/tcp/192.0.2.10/80", "/v1/services/udp/192.0.2.10/53", "/v1/services/tcp/2001:db8::10/443", "/v1/services/fwmark6/7", "/v1/services/tcp/192.0.2.20/0"}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("paths %q, want %q", paths, want)
	}
	port80, port443, port53, port0 := uint16(80), uint16(443), uint16(53), uint16(0)
	wantWeb := Service{
		Path: "/v1/services/tcp/192.0.2.10/80", Proto: "tcp", Addr: "192.0.2.10", Port: &port80, Family: "inet",
		Scheduler: "rr", Flags: []string{}, Stats: Stats{Conns: 11},
		Dests: []Dest{
			{Path: "/v1/services/tcp/192.0.2.10/80/dests/203.0.113.12/8080", Addr: "203.0.113.12", Port: 8080, Forward: "masq", Weight: 3,
				UThreshold: 100, LThreshold: 50, ActiveConns: 4, InactConns: 2,
				Stats: Stats{Conns: 10, InPkts: 100, OutPkts: 90, InBytes: 6000, OutBytes: 120000,
					// A quarter of the 2-second rates after one estimation.
					Rates: Rates{CPS: 1, InPPS: 12, OutPPS: 11, InBPS: 750, OutBPS: 15000}}},
			{Path: "/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/80", Addr: "203.0.113.11", Port: 80, Forward: "masq", Weight: 1},
		},
	}
	if !reflect.DeepEqual(list.Services[0], wantWeb) {
		t.Errorf("web service\n got %+v\nwant %+v", list.Services[0], wantWeb)
	}
	wantDNS := Service{Path: "/v1/services/udp/192.0.2.10/53", Proto: "udp", Addr: "192.0.2.10", Port: &port53, Family: "inet",
		Scheduler: "wrr", Flags: []string{"one-packet"}, Dests: []Dest{}}
	if !reflect.DeepEqual(list.Services[1], wantDNS) {
		t.Errorf("dns service\n got %+v\nwant %+v", list.Services[1], wantDNS)
	}
	want6 := Service{Path: "/v1/services/tcp/2001:db8::10/443", Proto: "tcp", Addr: "2001:db8::10", Port: &port443, Family: "inet6",
		Scheduler: "sh", Flags: []string{"sh-port"}, Persist: &Persistence{Timeout: 300, Prefix: 64},
		Dests: []Dest{{Path: "/v1/services/tcp/2001:db8::10/443/dests/2001:db8:1::11/443", Addr: "2001:db8:1::11", Port: 443, Forward: "route", Weight: 1}}}
	if !reflect.DeepEqual(list.Services[2], want6) {
		t.Errorf("IPv6 service\n got %+v\nwant %+v", list.Services[2], want6)
	}
	wantMark := Service{Path: "/v1/services/fwmark6/7", FwMark: 7, Family: "inet6", Scheduler: "rr", Flags: []string{}, Dests: []Dest{}}
	if !reflect.DeepEqual(list.Services[3], wantMark) {
		t.Errorf("fwmark service\n got %+v\nwant %+v", list.Services[3], wantMark)
	}
	wantFull := Service{Path: "/v1/services/tcp/192.0.2.20/0", Proto: "tcp", Addr: "192.0.2.20", Port: &port0, Family: "inet",
		Scheduler: "rr", Flags: []string{}, Persist: &Persistence{Timeout: 360, Netmask: "255.255.255.255"},
		Dests:  []Dest{{Path: "/v1/services/tcp/192.0.2.20/0/dests/203.0.113.13/0", Addr: "203.0.113.13", Port: 0, Forward: "fullnat", Weight: 1}},
		LAddrs: []LocalAddr{{Addr: "203.0.113.100"}}}
	if !reflect.DeepEqual(list.Services[4], wantFull) {
		t.Errorf("FullNAT service\n got %+v\nwant %+v", list.Services[4], wantFull)
	}
	// The wire names, as documented.
	for _, key := range []string{`"active_conns": 4`, `"inact_conns": 2`, `"persist_conns": 0`, `"u_threshold": 100`, `"in_bytes": 6000`, `"forward": "masq"`, `"in_bps": 750`, `"fwmark": 7`, `"laddrs"`, `"persistent"`} {
		if !strings.Contains(string(body), key) {
			t.Errorf("listing lacks %s", key)
		}
	}
	// An empty table lists as an empty array, not null.
	r2 := newRig(t)
	if code, body := r2.do("GET", "/v1/services", nil); code != 200 || string(body) != "{\n  \"services\": []\n}\n" {
		t.Errorf("empty listing %d %q", code, body)
	}
}

func TestGetService(t *testing.T) {
	r := newRig(t, lab...)
	for _, tc := range []struct {
		path string
		code int
		want string // the service's path, or the error
	}{
		{"/v1/services/tcp/192.0.2.10/80", 200, "/v1/services/tcp/192.0.2.10/80"},
		{"/v1/services/TCP/192.0.2.10/80", 200, "/v1/services/tcp/192.0.2.10/80"},
		{"/v1/services/tcp/2001:db8::10/443", 200, "/v1/services/tcp/2001:db8::10/443"},
		{"/v1/services/tcp/2001:0db8:0::10/443", 200, "/v1/services/tcp/2001:db8::10/443"},
		{"/v1/services/fwmark6/7", 200, "/v1/services/fwmark6/7"},
		{"/v1/services/fwmark/7", 404, "No such service"},
		{"/v1/services/udp/192.0.2.10/80", 404, "No such service"},
		{"/v1/services/tcp/192.0.2.10/81", 404, "No such service"},
		{"/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/80", 200, "/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/80"},
		{"/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/81", 404, "No such destination"},
		{"/v1/services/tcp/192.0.2.11/80/dests/203.0.113.11/80", 404, "Service not defined"},
		{"/v1/services/tcp/192.0.2.300/80", 400, `bad address "192.0.2.300"`},
		{"/v1/services/tcp/192.0.2.10/65536", 400, `bad port "65536": want 0 to 65535`},
		{"/v1/services/icmp/192.0.2.10/80", 400, `bad service kind "icmp"`},
		{"/v1/services/fwmark/0", 400, `bad firewall mark "0"`},
		{"/v1/services/tcp/192.0.2.10", 400, "a tcp service is tcp/ADDRESS/PORT"},
		{"/v1/services/tcp/192.0.2.10/80/", 404, "not found"},
		{"/v1/services/tcp/192.0.2.10/80/dests", 404, "not found"},
		{"/v1/services/", 404, "not found"},
		{"/v1/", 404, "not found"},
		{"/v2/services", 404, "not found"},
		{"/v1/servicesx", 404, "not found"},
	} {
		code, body := r.do("GET", tc.path, nil)
		if code != tc.code {
			t.Errorf("GET %s: %d, want %d: %s", tc.path, code, tc.code, body)
			continue
		}
		var got string
		if code == 200 {
			var v struct{ Path string }
			json.Unmarshal(body, &v)
			got = v.Path
		} else {
			got = errorOf(t, body)
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("GET %s: %q, want %q", tc.path, got, tc.want)
		}
	}
	if code, body := r.do("HEAD", "/v1/services/tcp/192.0.2.10/80", nil); code != 200 || len(body) != 0 {
		t.Errorf("HEAD: %d %q", code, body)
	}
}

func TestMethods(t *testing.T) {
	r := newRig(t, lab...)
	before := r.dump()
	for _, tc := range []struct{ method, path, allow string }{
		{"POST", "/v1/services", "GET, HEAD"},
		{"DELETE", "/v1/services", "GET, HEAD"},
		{"PUT", "/v1/services/tcp/192.0.2.10/80", "GET, HEAD"},
		{"DELETE", "/v1/services/tcp/192.0.2.10/80", "GET, HEAD"},
		{"POST", "/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/80", "GET, HEAD, PUT, DELETE"},
		{"PATCH", "/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/80", "GET, HEAD, PUT, DELETE"},
		{"GET", "/v1/ipvsadm", "POST"},
		{"PUT", "/v1/mark", "POST"},
	} {
		req, _ := http.NewRequest(tc.method, r.srv.URL+tc.path, strings.NewReader(`{"args":["-C"],"weight":0}`))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow)
		}
	}
	if r.dump() != before {
		t.Fatal("a refused method changed the configuration")
	}
}

func TestDestWeight(t *testing.T) {
	r := newRig(t, lab...)
	d := destOf(t, r.m, web, "203.0.113.12:8080")
	d.ActiveConns.Store(2)
	path := "/v1/services/tcp/192.0.2.10/80/dests/203.0.113.12/8080"
	before := r.dump()
	for _, tc := range []struct {
		path, ctype, body string
		code              int
		err               string
	}{
		{path, "application/json", `{"weight": -1}`, 400, "weight -1 out of range 0 to 65535"},
		{path, "application/json", `{"weight": 65536}`, 400, "weight 65536 out of range"},
		{path, "application/json", `{"weight": 1.5}`, 400, "bad JSON"},
		{path, "application/json", `{"weight": "2"}`, 400, "bad JSON"},
		{path, "application/json", `{"weight": null}`, 400, `missing "weight"`},
		{path, "application/json", `{}`, 400, `missing "weight"`},
		{path, "application/json", `{"weight": 2, "fwd": "dr"}`, 400, `bad JSON: json: unknown field "fwd"`},
		{path, "application/json", `{"weight": 2}{"weight": 3}`, 400, "data after the object"},
		{path, "application/json", `{"weight": 2`, 400, "bad JSON"},
		{path, "application/json", `[2]`, 400, "want an object"},
		{path, "application/json", `null`, 400, "want an object"},
		{path, "application/json", ``, 400, "empty body"},
		{path, "text/plain", `{"weight": 2}`, 415, "Content-Type: application/json"},
		{path, "", `{"weight": 2}`, 415, "Content-Type: application/json"},
		{path, "application/json", `{"weight": 2, "pad": "` + strings.Repeat("x", MaxBody) + `"}`, 413, "body larger than"},
		{"/v1/services/tcp/192.0.2.10/80/dests/203.0.113.13/8080", "application/json", `{"weight": 2}`, 404, "No such destination"},
		{"/v1/services/tcp/192.0.2.99/80/dests/203.0.113.12/8080", "application/json", `{"weight": 2}`, 404, "Service not defined"},
	} {
		hdr := http.Header{"Authorization": {"Bearer " + testToken}}
		if tc.ctype != "" {
			hdr.Set("Content-Type", tc.ctype)
		}
		code, body := r.raw("PUT", tc.path, hdr, strings.NewReader(tc.body))
		if code != tc.code || !strings.Contains(errorOf(t, body), tc.err) {
			t.Errorf("PUT %.60s: %d %s, want %d %q", tc.body, code, body, tc.code, tc.err)
		}
		if r.dump() != before {
			t.Fatalf("PUT %.60s changed the configuration", tc.body)
		}
	}

	// Quiesce: weight 0, everything else kept, connections untouched.
	tbl := r.m.Table()
	code, body := r.do("PUT", path, map[string]int{"weight": 0})
	if code != 200 {
		t.Fatalf("quiesce: %d %s", code, body)
	}
	var got Dest
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := Dest{Path: path, Addr: "203.0.113.12", Port: 8080, Forward: "masq", Weight: 0, UThreshold: 100, LThreshold: 50, ActiveConns: 2}
	if got != want {
		t.Fatalf("quiesced dest\n got %+v\nwant %+v", got, want)
	}
	if d.Weight.Load() != 0 || r.m.Table() == tbl {
		t.Fatal("weight not changed in the Manager, or no table published")
	}
	if out := r.dump(); !strings.Contains(out, "-a -t 192.0.2.10:80 -r 203.0.113.12:8080 -m -w 0\n") ||
		!strings.Contains(out, "  -> 203.0.113.12:8080            100        50         2          0") {
		t.Fatalf("ipvsadm -S after quiescing:\n%s", out)
	}
	// And back.
	if code, _ := r.do("PUT", path, `{"weight": 7}`); code != 200 || d.Weight.Load() != 7 {
		t.Fatalf("weight 7: %d %d", code, d.Weight.Load())
	}
}

func TestDeleteDest(t *testing.T) {
	r := newRig(t, lab...)
	path := "/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/80"
	code, body := r.do("DELETE", path, nil)
	if code != 204 || len(body) != 0 {
		t.Fatalf("DELETE: %d %q", code, body)
	}
	s, _ := r.m.Service(web)
	if len(s.Dests) != 1 || s.Dests[0].Addr != netip.MustParseAddr("203.0.113.12") {
		t.Fatalf("dests after DELETE: %v", s.Dests)
	}
	before := r.dump()
	if code, body := r.do("DELETE", path, nil); code != 404 || errorOf(t, body) != "No such destination" {
		t.Fatalf("second DELETE: %d %s", code, body)
	}
	if code, body := r.do("GET", path, nil); code != 404 || errorOf(t, body) != "No such destination" {
		t.Fatalf("GET after DELETE: %d %s", code, body)
	}
	if r.dump() != before {
		t.Fatal("failed DELETE changed the configuration")
	}
}

func TestCommands(t *testing.T) {
	r := newRig(t)
	run := func(path, body string) CommandResult {
		t.Helper()
		code, out := r.do("POST", path, body)
		if code != 200 {
			t.Fatalf("POST %s %s: %d %s", path, body, code, out)
		}
		var res CommandResult
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := run("/v1/ipvsadm", `{"args": ["-A", "-t", "192.0.2.10:80", "-s", "rr"]}`); res != (CommandResult{}) {
		t.Fatalf("-A: %+v", res)
	}
	// ipvsadm -R with its rules as input.
	rules := "-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m\n-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 2\n"
	in, _ := json.Marshal(map[string]any{"args": []string{"-R"}, "input": rules})
	if res := run("/v1/ipvsadm", string(in)); res.Code != 0 || res.Stderr != "" {
		t.Fatalf("-R: %+v", res)
	}
	// A failing command is still a 200: it ran; its status is in code.
	if res := run("/v1/ipvsadm", `{"args": ["-a", "-t", "192.0.2.10:80", "-r", "203.0.113.11:80", "-m"]}`); res.Code != 255 || res.Stderr != "Destination already exists\n" {
		t.Fatalf("duplicate -a: %+v", res)
	}
	want := "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 1\n-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 2\n"
	if res := run("/v1/ipvsadm", `{"args": ["-S", "-n"]}`); res.Stdout != want || res.Code != 0 {
		t.Fatalf("-S: %+v", res)
	}
	// No args: ipvsadm with no arguments lists the table.
	if res := run("/v1/ipvsadm", `{}`); !strings.Contains(res.Stdout, "TCP  192.0.2.10:") || !strings.Contains(res.Stdout, "Masq    2") {
		t.Fatalf("bare ipvsadm: %+v", res)
	}
	// The other commands of the control socket.
	if res := run("/v1/mark", `{"args": ["add", "-d", "192.0.2.10", "-p", "tcp", "--dports", "80,443", "--set-mark", "10"]}`); res.Code != 0 {
		t.Fatalf("mark add: %+v", res)
	}
	if res := run("/v1/mark", `{"args": ["list"]}`); !strings.Contains(res.Stdout, "10") || res.Code != 0 {
		t.Fatalf("mark list: %+v", res)
	}
	// Input to a command that reads none is refused by the Mux.
	if res := run("/v1/mark", `{"args": ["flush"], "input": "x"}`); res.Code != 2 || !strings.Contains(res.Stderr, "reads no input") {
		t.Fatalf("mark with input: %+v", res)
	}

	before := r.dump()
	for _, tc := range []struct {
		path, body string
		code       int
		err        string
	}{
		{"/v1/ipvsadm", `{"args": "-C"}`, 400, "bad JSON"},
		{"/v1/ipvsadm", `{"args": [1]}`, 400, "bad JSON"},
		{"/v1/ipvsadm", `{"argv": ["-C"]}`, 400, `unknown field "argv"`},
		{"/v1/ipvsadm", `{"args": ["-C"]} {"args": ["-C"]}`, 400, "data after the object"},
		{"/v1/ipvsadm", `{"args": ["-C"]`, 400, "bad JSON"},
		{"/v1/ipvsadm", `"-C"`, 400, "want an object"},
		{"/v1/ipvsadm", ``, 400, "empty body"},
		{"/v1/ipvsadm", `{"args": ["-C"], "input": "` + strings.Repeat("x", MaxBody) + `"}`, 413, "body larger than"},
		{"/v1/nope", `{"args": ["-C"]}`, 404, "not found"},
		{"/v1/ipvsadm/", `{"args": ["-C"]}`, 404, "not found"},
	} {
		code, body := r.do("POST", tc.path, tc.body)
		if code != tc.code || !strings.Contains(errorOf(t, body), tc.err) {
			t.Errorf("POST %s %.60s: %d %s, want %d %q", tc.path, tc.body, code, body, tc.code, tc.err)
		}
	}
	hdr := http.Header{"Authorization": {"Bearer " + testToken}, "Content-Type": {"application/x-www-form-urlencoded"}}
	if code, _ := r.raw("POST", "/v1/ipvsadm", hdr, strings.NewReader(`{"args": ["-C"]}`)); code != 415 {
		t.Errorf("form body: %d", code)
	}
	if r.dump() != before {
		t.Fatal("a refused request changed the configuration")
	}
}

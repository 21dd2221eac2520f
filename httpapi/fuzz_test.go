package httpapi

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

func TestParsePath(t *testing.T) {
	cmds := map[string]string{"ipvsadm": "", "mark": "mark"}
	a := netip.MustParseAddr
	for _, tc := range []struct {
		path string
		want route
		err  string // "" = valid; "not found" = 404
	}{
		{"/v1/services", route{kind: routeServices}, ""},
		{"/v1/services/tcp/192.0.2.10/80", route{kind: routeService, svc: ctl.ServiceID{Proto: vs.TCP, Addr: a("192.0.2.10"), Port: 80}}, ""},
		{"/v1/services/udp/2001:db8::10/53", route{kind: routeService, svc: ctl.ServiceID{Proto: vs.UDP, Addr: a("2001:db8::10"), Port: 53}}, ""},
		{"/v1/services/SCTP/192.0.2.10/0", route{kind: routeService, svc: ctl.ServiceID{Proto: vs.SCTP, Addr: a("192.0.2.10")}}, ""},
		{"/v1/services/fwmark/4294967295", route{kind: routeService, svc: ctl.ServiceID{FwMark: 4294967295}}, ""},
		{"/v1/services/fwmark6/1", route{kind: routeService, svc: ctl.ServiceID{FwMark: 1, IPv6: true}}, ""},
		{"/v1/services/fwmark/7/dests/203.0.113.11/0", route{kind: routeDest, svc: ctl.ServiceID{FwMark: 7}, dest: netip.MustParseAddrPort("203.0.113.11:0")}, ""},
		{"/v1/services/tcp/192.0.2.10/80/dests/2001:db8::11/8080", route{kind: routeDest, svc: ctl.ServiceID{Proto: vs.TCP, Addr: a("192.0.2.10"), Port: 80}, dest: netip.MustParseAddrPort("[2001:db8::11]:8080")}, ""},
		{"/v1/ipvsadm", route{kind: routeCommand, cmd: ""}, ""},
		{"/v1/mark", route{kind: routeCommand, cmd: "mark"}, ""},
		{"/v1/sched", route{}, "not found"},
		{"/v1/ipvsadm/x", route{}, "not found"},
		{"/v1/", route{}, "not found"},
		{"/v1", route{}, "not found"},
		{"/", route{}, "not found"},
		{"", route{}, "not found"},
		{"/v1//services", route{}, "not found"},
		{"/v1/services/", route{}, "not found"},
		{"/v1/services/tcp/192.0.2.10/80/", route{}, "not found"},
		{"/v1/services/tcp/192.0.2.10/80/x", route{}, "not found"},
		{"/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11", route{}, "not found"},
		{"/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/80/x", route{}, "not found"},
		{"/v1/services/tcp/192.0.2.10", route{}, "a tcp service is tcp/ADDRESS/PORT"},
		{"/v1/services/fwmark", route{}, "a firewall-mark service is fwmark/MARK"},
		{"/v1/services/tcp/192.0.2.10/+80", route{}, `bad port "+80"`},
		{"/v1/services/tcp/192.0.2.10/-1", route{}, `bad port "-1"`},
		{"/v1/services/tcp/192.0.2.10/0x50", route{}, `bad port "0x50"`},
		{"/v1/services/tcp/fe80::1%eth0/80", route{}, `bad address "fe80::1%eth0"`},
		{"/v1/services/tcp/[2001:db8::10]/80", route{}, `bad address "[2001:db8::10]"`},
		{"/v1/services/tcp/web.example/80", route{}, `bad address "web.example"`},
		{"/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/70000", route{}, `bad port "70000"`},
		{"/v1/services/tcp/192.0.2.10/80/dests/x/80", route{}, `bad address "x"`},
		{"/v1/services/fwmark/0", route{}, `bad firewall mark "0"`},
		{"/v1/services/fwmark/4294967296", route{}, `bad firewall mark "4294967296"`},
		{"/v1/services/fwmark/+7", route{}, `bad firewall mark "+7"`},
		{"/v1/services/ip/192.0.2.10/80", route{}, `bad service kind "ip"`},
	} {
		got, err := parsePath(tc.path, cmds)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("parsePath(%q) = %+v, %v; want %+v", tc.path, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || got != (route{}) {
			t.Errorf("parsePath(%q) = %+v, %v; want error %q", tc.path, got, err, tc.err)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/v1/services", "/v1/services/tcp/192.0.2.10/80", "/v1/services/fwmark6/7/dests/2001:db8::11/0",
		"/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/80", "/v1/ipvsadm", "/v1/services/udp/::ffff:192.0.2.1/1",
	} {
		f.Add(s)
	}
	cmds := map[string]string{"ipvsadm": "", "mark": "mark"}
	f.Fuzz(func(t *testing.T, path string) {
		rt, err := parsePath(path, cmds)
		if err != nil {
			if rt != (route{}) {
				t.Fatalf("route %+v with error %v", rt, err)
			}
			return
		}
		// What parses names itself: the paths the API prints for a
		// service and a dest parse back to the same route.
		if rt.kind != routeService && rt.kind != routeDest {
			return
		}
		s := &vs.Service{Addr: rt.svc.Addr, Port: rt.svc.Port, Proto: rt.svc.Proto, FwMark: rt.svc.FwMark, IPv6: rt.svc.IPv6}
		p := servicePath(s)
		if rt.kind == routeDest {
			p = destPath(p, &vs.Dest{Addr: rt.dest.Addr(), Port: rt.dest.Port()})
		}
		again, err := parsePath(p, cmds)
		if err != nil || again != rt {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", path, rt, p, again, err)
		}
	})
}

func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"args":["-A","-t","192.0.2.10:80"]}`, `{"args":["-R"],"input":"-C\n"}`, `{"weight":0}`, `{"weight":65535}`,
		`{"weight":-1}`, `{"args":null}`, `null`, `[]`, `{"x":1}`, `{} {}`, `{"weight":1e2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeCommand(body)
		if err != nil && (req.Args != nil || req.Input != "") {
			t.Fatalf("partial command %+v with error %v", req, err)
		}
		w, err := decodeWeight(body)
		if err != nil && w != 0 {
			t.Fatalf("weight %d with error %v", w, err)
		}
		if err == nil && (w < 0 || w > maxWeight) {
			t.Fatalf("weight %d accepted", w)
		}
	})
}

// FuzzHandler sends arbitrary requests through the whole handler: it never
// fails with 5xx, and a request it refuses (4xx) changes nothing.
func FuzzHandler(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		{"GET", "/v1/services", ""},
		{"PUT", "/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/80", `{"weight":0}`},
		{"PUT", "/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/80", `{"weight":0,"x":1}`},
		{"DELETE", "/v1/services/tcp/192.0.2.10/80/dests/203.0.113.11/80", ""},
		{"POST", "/v1/ipvsadm", `{"args":["-C"]}`},
		{"POST", "/v1/ipvsadm", `{"args":["-C"]`},
		{"POST", "/v1/mark", `{"args":["flush"]}`},
		{"POST", "/v1/services", `{"args":["-C"]}`},
	} {
		f.Add(s.method, s.path, []byte(s.body))
	}
	m, mux := newMux()
	h, err := NewHandler(m, mux, testToken)
	if err != nil {
		f.Fatal(err)
	}
	setup := []string{"-C", "-A -t 192.0.2.10:80 -s rr", "-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m"}
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		for _, line := range setup {
			mux.Do(ctl.Request{Argv: strings.Fields(line)})
		}
		if !strings.HasPrefix(path, "/") {
			return // the server never hands the handler such a path
		}
		req := httptest.NewRequest("GET", "https://127.0.0.1/", bytes.NewReader(body))
		req.Method, req.URL.Path = method, path // any decoded path
		req.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		before := m.Table()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q %q: %d %s", method, path, body, w.Code, w.Body)
		}
		if w.Code >= 400 && m.Table() != before {
			t.Fatalf("%s %q %q: refused with %d but the table changed", method, path, body, w.Code)
		}
		if w.Code != http.StatusNoContent && method != "HEAD" && w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s %q: Content-Type %q", method, path, w.Header().Get("Content-Type"))
		}
	})
}

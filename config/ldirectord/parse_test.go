package ldirectord

import (
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

const sec = time.Second

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// port is a check target that overrides only the port.
func port(p uint16) netip.AddrPort { return netip.AddrPortFrom(netip.Addr{}, p) }

// base is the smallest section: an HTTP service (port 80) with one real
// server, every other setting ldirectord's default.
const base = "virtual=192.0.2.10:80\n\treal=203.0.113.11:80 gate\n"

// baseService is what base reads as.
func baseService() config.Service {
	return config.Service{
		Line: 1, Name: "192.0.2.10:80", Quorum: 1, Alpha: true,
		ServiceConfig: ctl.ServiceConfig{
			ServiceID: ctl.ServiceID{Proto: vs.TCP, Addr: addr("192.0.2.10"), Port: 80},
			Scheduler: "wrr", Netmask: 0xffffffff,
		},
		Dests: []config.Dest{{
			Line:       2,
			DestConfig: ctl.DestConfig{Addr: addr("203.0.113.11"), Port: 80, Fwd: vs.DirectRoute, Weight: 1},
			Checks: []config.Check{{
				Line: 1, Kind: config.CheckHTTP, Interval: 10 * sec, Timeout: 30 * sec,
				DelayBeforeRetry: 10 * sec, Rise: 1, URLs: []config.URLCheck{{Path: "/"}},
			}},
		}},
	}
}

// check returns the first check of the first real server.
func check(s *config.Service) *config.Check { return &s.Dests[0].Checks[0] }

func parseOne(t *testing.T, src string) *config.Config {
	t.Helper()
	c, err := Parse("test.cf", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%s\nerror: %v", src, err)
	}
	return c
}

// diff reports the first differing field of two values, by path.
func diff(path string, got, want reflect.Value) string {
	if got.Type() != want.Type() {
		return path + ": types differ"
	}
	switch got.Kind() {
	case reflect.Struct:
		if got.Type() == reflect.TypeFor[netip.Addr]() || got.Type() == reflect.TypeFor[netip.AddrPort]() {
			break
		}
		for i := 0; i < got.NumField(); i++ {
			if d := diff(path+"."+got.Type().Field(i).Name, got.Field(i), want.Field(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if got.Len() != want.Len() {
			return fmt.Sprintf("%s: %d elements, want %d: %+v", path, got.Len(), want.Len(), got.Interface())
		}
		for i := 0; i < got.Len(); i++ {
			if d := diff(fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				return fmt.Sprintf("%s: got %v, want %v", path, got.Interface(), want.Interface())
			}
			return ""
		}
		return diff(path, got.Elem(), want.Elem())
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		return fmt.Sprintf("%s: got %#v, want %#v", path, got.Interface(), want.Interface())
	}
	return ""
}

func assertEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := diff(what, reflect.ValueOf(got), reflect.ValueOf(want)); d != "" {
		t.Errorf("%s", d)
	} else if !reflect.DeepEqual(got, want) {
		t.Errorf("%s differs:\n got %+v\nwant %+v", what, got, want)
	}
}

// assertWarnings checks that each warning matches one of want (regular
// expressions, in order).
func assertWarnings(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("warnings %q, want %d matching %q", got, len(want), want)
		return
	}
	for i, w := range want {
		if !regexp.MustCompile(w).MatchString(got[i]) {
			t.Errorf("warning %d = %q, want a match for %q", i, got[i], w)
		}
	}
}

// TestDirectives reads one small file per directive (or per rule of one)
// and compares the whole Service with the base service changed as the
// directive says.
func TestDirectives(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want func(s *config.Service)
		warn []string // regular expressions, in order
	}{
		{name: "defaults", src: base, want: func(s *config.Service) {}},
		{
			name: "global checktimeout stands in for negotiatetimeout",
			src:  "checktimeout=3\n" + base,
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 2, 3
				check(s).Line, check(s).Timeout = 2, 3*sec
			},
		},
		{
			name: "negotiatetimeout",
			src:  base + "negotiatetimeout=7\n",
			want: func(s *config.Service) { check(s).Timeout = 7 * sec },
		},
		{
			name: "section checktimeout before global negotiatetimeout",
			src:  "negotiatetimeout=9\n" + "virtual=192.0.2.10:80\n\treal=203.0.113.11:80 gate\n\tchecktimeout=2\n",
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 2, 3
				check(s).Line, check(s).Timeout = 2, 2*sec
			},
		},
		{
			name: "connect check: checktimeout default 5",
			src:  base + "\tchecktype=connect\n",
			want: func(s *config.Service) {
				*check(s) = config.Check{Line: 3, Kind: config.CheckTCP, Interval: 10 * sec, Timeout: 5 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
		},
		{
			name: "connect check: global negotiatetimeout stands in for checktimeout",
			src:  base + "\tchecktype=connect\nnegotiatetimeout=8\n",
			want: func(s *config.Service) {
				*check(s) = config.Check{Line: 3, Kind: config.CheckTCP, Interval: 10 * sec, Timeout: 8 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
		},
		{
			name: "connect check: checktimeout and negotiatetimeout each for their check",
			src:  "checktimeout=3\nnegotiatetimeout=7\n" + base + "\tchecktype=connect\n",
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 3, 4
				*check(s) = config.Check{Line: 5, Kind: config.CheckTCP, Interval: 10 * sec, Timeout: 3 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
		},
		{
			name: "connecttimeout is read as checktimeout",
			src:  base + "\tchecktype=connect\n\tconnecttimeout=4\n",
			want: func(s *config.Service) {
				*check(s) = config.Check{Line: 3, Kind: config.CheckTCP, Interval: 10 * sec, Timeout: 4 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
			warn: []string{`^test\.cf:4: connecttimeout is deprecated`},
		},
		{
			name: "checkinterval",
			src:  base + "checkinterval=4\n",
			want: func(s *config.Service) { check(s).Interval, check(s).DelayBeforeRetry = 4*sec, 4*sec },
		},
		{
			name: "section checkinterval without fork is ignored",
			src:  base + "\tcheckinterval=4\n",
			want: func(s *config.Service) {},
			warn: []string{`^test\.cf:3: checkinterval in a virtual section is ignored without fork=yes .*10s is used`},
		},
		{
			name: "section checkinterval with fork=yes (set after the section)",
			src:  "checkinterval=2\n" + base + "\tcheckinterval=4\nfork=yes\n",
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 2, 3
				check(s).Line, check(s).Interval, check(s).DelayBeforeRetry = 2, 4*sec, 4*sec
			},
		},
		{
			name: "failurecount is Retry + 1",
			src:  "failurecount=3\n" + base,
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 2, 3
				check(s).Line, check(s).Retry = 2, 2
			},
		},
		{
			name: "section failurecount overrides the global one",
			src:  "failurecount=3\n" + base + "\tfailurecount=5\n",
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 2, 3
				check(s).Line, check(s).Retry = 2, 4
			},
		},
		{
			name: "quiescent=yes inhibits every real server",
			src:  "quiescent=yes\n" + base + "\treal=203.0.113.12:80 gate\n",
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 2, 3
				check(s).Line = 2
				s.Dests[0].Inhibit = true
				d := s.Dests[0]
				d.Line, d.Addr = 4, addr("203.0.113.12")
				s.Dests = append(s.Dests, d)
			},
		},
		{
			name: "section quiescent=no overrides the global yes",
			src:  "quiescent=yes\n" + base + "\tquiescent=no\n",
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 2, 3
				check(s).Line = 2
			},
		},
		{
			name: "global fallback takes the service's port",
			src:  "fallback=127.0.0.1\n" + base,
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 2, 3
				check(s).Line = 2
				s.Sorry = &config.Dest{Line: 1, DestConfig: ctl.DestConfig{Addr: addr("127.0.0.1"), Port: 80, Fwd: vs.DirectRoute, Weight: 1}}
			},
		},
		{
			name: "section fallback with port and masq overrides the global one",
			src:  base + "\tfallback=198.51.100.9:8080 masq\nfallback=127.0.0.1:80\n",
			want: func(s *config.Service) {
				s.Sorry = &config.Dest{Line: 3, DestConfig: ctl.DestConfig{Addr: addr("198.51.100.9"), Port: 8080, Fwd: vs.Masq, Weight: 1}}
			},
		},
		{
			name: "a gate fallback gets the service's port as ipvsadm gives it",
			src:  base + "\tfallback=127.0.0.1:8080 gate\n",
			want: func(s *config.Service) {
				s.Sorry = &config.Dest{Line: 3, DestConfig: ctl.DestConfig{Addr: addr("127.0.0.1"), Port: 80, Fwd: vs.DirectRoute, Weight: 1}}
			},
		},
		{
			name: "fallback6 is for IPv6 services only",
			src:  "fallback6=[::1]:80\n" + base,
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 2, 3
				check(s).Line = 2
			},
		},
		{
			name: "checktype=off drops the fallback server",
			src:  "fallback=127.0.0.1:80\n" + base + "\tchecktype=off\n",
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 2, 3
				*check(s) = config.Check{Line: 4, Kind: config.CheckOff, Interval: 10 * sec, Timeout: 5 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
		},
		{
			name: "fallbackcommand runs start and stop with VIP:PORT and protocol",
			src:  "fallbackcommand=\"/usr/local/sbin/sorry.sh -v\"\n" + base,
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 2, 3
				check(s).Line = 2
				s.QuorumDown = "/usr/local/sbin/sorry.sh -v start 192.0.2.10:80 tcp"
				s.QuorumUp = "/usr/local/sbin/sorry.sh -v stop 192.0.2.10:80 tcp"
			},
		},
		{
			name: "real: weight, thresholds, masq keeps its port",
			src:  "virtual=192.0.2.10:80\n\treal=203.0.113.11:8080 masq 3 l:10 u:100\n",
			want: func(s *config.Service) {
				s.Dests[0].DestConfig = ctl.DestConfig{Addr: addr("203.0.113.11"), Port: 8080, Fwd: vs.Masq, Weight: 3, LThreshold: 10, UThreshold: 100}
			},
		},
		{
			name: "real: gate and ipip get the service's port, the written port is checked",
			src:  "virtual=192.0.2.10:80\n\treal=203.0.113.11:8080 gate 0\n\treal=203.0.113.12 ipip\n",
			want: func(s *config.Service) {
				s.Dests[0].Weight = 0
				check(s).Target = port(8080)
				d := s.Dests[0]
				d.Line, d.Addr, d.Fwd, d.Weight = 3, addr("203.0.113.12"), vs.Tunnel, 1
				d.Checks = []config.Check{*check(s)}
				d.Checks[0].Target = netip.AddrPort{}
				s.Dests = append(s.Dests, d)
			},
		},
		{
			name: "real: masq without a port keeps port 0 and checks the service's port",
			src:  "virtual=192.0.2.10:80\n\treal=203.0.113.11 masq\n",
			want: func(s *config.Service) {
				s.Dests[0].Port, s.Dests[0].Fwd = 0, vs.Masq
				check(s).Target = port(80)
			},
		},
		{
			name: "real: address range",
			src:  "virtual=192.0.2.10:80\n\treal=203.0.113.11->203.0.113.13:80 gate 2\n",
			want: func(s *config.Service) {
				s.Dests[0].Weight = 2
				for _, a := range []string{"203.0.113.12", "203.0.113.13"} {
					d := s.Dests[0]
					d.Addr = addr(a)
					s.Dests = append(s.Dests, d)
				}
			},
		},
		{
			name: "real: request and receive of its own",
			src:  base + "\treal=203.0.113.12:80 gate 1 \"health\", \"^OK$\"\n\treceive=\"Test Page\"\n",
			want: func(s *config.Service) {
				check(s).URLs[0].Regexp = "Test Page"
				d := s.Dests[0]
				d.Line, d.Addr = 3, addr("203.0.113.12")
				d.Checks = []config.Check{*check(s)}
				d.Checks[0].URLs = []config.URLCheck{{Path: "/health", Regexp: "^OK$"}}
				s.Dests = append(s.Dests, d)
			},
		},
		{
			name: "real: an absolute request URL sets the target, the Host stays the real server",
			src:  "virtual=192.0.2.10:80\n\treal=203.0.113.11:80 gate 1 \"http://198.51.100.7:8000/status?x=1\", \"up\"\n",
			want: func(s *config.Service) {
				check(s).Target = netip.MustParseAddrPort("198.51.100.7:8000")
				check(s).VirtualHost = "203.0.113.11"
				check(s).URLs = []config.URLCheck{{Path: "/status?x=1", Regexp: "up"}}
			},
		},
		{
			name: "request, receive, virtualhost, checkport",
			src:  base + "\trequest=\"index.html\"\n\treceive=\"Test Page\"\n\tvirtualhost=\"www.example.org\"\n\tcheckport=8080\n",
			want: func(s *config.Service) {
				check(s).URLs = []config.URLCheck{{Path: "/index.html", Regexp: "Test Page"}}
				check(s).VirtualHost = "www.example.org"
				check(s).Target = port(8080)
			},
		},
		{
			name: "https",
			src:  "virtual=192.0.2.10:443\n\treal=203.0.113.11:443 gate\n\trequest=\"/healthz\"\n\tvirtualhost=api.example.org\n",
			want: func(s *config.Service) {
				s.Name, s.Port, s.Dests[0].Port = "192.0.2.10:443", 443, 443
				check(s).Kind = config.CheckHTTPS
				check(s).URLs = []config.URLCheck{{Path: "/healthz"}}
				check(s).VirtualHost = "api.example.org"
			},
		},
		{
			name: "httpmethod=HEAD is checked with GET",
			src:  base + "\thttpmethod=head\n",
			want: func(s *config.Service) {},
			warn: []string{`^test\.cf:3: httpmethod=HEAD`},
		},
		{
			name: "smtp and its negotiate timeout",
			src:  "virtual=192.0.2.10:25\n\treal=203.0.113.11:25 gate\n\tnegotiatetimeout=12\n",
			want: func(s *config.Service) {
				s.Name, s.Port, s.Dests[0].Port = "192.0.2.10:25", 25, 25
				*check(s) = config.Check{Line: 1, Kind: config.CheckSMTP, Interval: 10 * sec, Timeout: 12 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
		},
		{
			name: "submission is an SMTP check",
			src:  "virtual=192.0.2.10:587\n\treal=203.0.113.11 gate\n\tservice=submission\n",
			want: func(s *config.Service) {
				s.Name, s.Port, s.Dests[0].Port = "192.0.2.10:587", 587, 587
				*check(s) = config.Check{Line: 1, Kind: config.CheckSMTP, Interval: 10 * sec, Timeout: 30 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
		},
		{
			name: "dns: port 53 is UDP, request is the name, receive the answer",
			src:  "virtual=192.0.2.10:53\n\treal=203.0.113.11:53 masq\n\trequest=\"www.example.org\"\n\treceive=\"192\\.0\\.2\\.\"\n",
			want: func(s *config.Service) {
				s.Name, s.Proto, s.Port = "192.0.2.10:53", vs.UDP, 53
				s.Dests[0].Port, s.Dests[0].Fwd = 53, vs.Masq
				*check(s) = config.Check{Line: 1, Kind: config.CheckDNS, Interval: 10 * sec, Timeout: 30 * sec, DelayBeforeRetry: 10 * sec, Rise: 1,
					DNSType: "A", DNSName: "www.example.org", DNSAnswer: `192\.0\.2\.`}
			},
		},
		{
			name: "dns: an address is a PTR query",
			src:  "virtual=192.0.2.10:domain\n\treal=203.0.113.11 gate\n\trequest=\"198.51.100.7\"\n\treceive=\"ns1\"\n",
			want: func(s *config.Service) {
				s.Name, s.Proto, s.Port, s.Dests[0].Port = "192.0.2.10:domain", vs.UDP, 53, 53
				*check(s) = config.Check{Line: 1, Kind: config.CheckDNS, Interval: 10 * sec, Timeout: 30 * sec, DelayBeforeRetry: 10 * sec, Rise: 1,
					DNSType: "PTR", DNSName: "7.100.51.198.in-addr.arpa", DNSAnswer: "ns1"}
			},
		},
		{
			name: "dns over TCP is queried over UDP",
			src:  "virtual=192.0.2.10:53\n\treal=203.0.113.11 gate\n\tprotocol=tcp\n\trequest=\"a.example\"\n\treceive=\".\"\n",
			want: func(s *config.Service) {
				s.Name, s.Port, s.Dests[0].Port = "192.0.2.10:53", 53, 53
				*check(s) = config.Check{Line: 1, Kind: config.CheckDNS, Interval: 10 * sec, Timeout: 30 * sec, DelayBeforeRetry: 10 * sec, Rise: 1,
					DNSType: "A", DNSName: "a.example", DNSAnswer: "."}
			},
			warn: []string{`^test\.cf:1: service=dns on a TCP service`},
		},
		{
			name: "a port without a default service is not checked",
			src:  "virtual=192.0.2.10:8080\n\treal=203.0.113.11 gate\n",
			want: func(s *config.Service) {
				s.Name, s.Port, s.Dests[0].Port = "192.0.2.10:8080", 8080, 8080
				*check(s) = config.Check{Line: 1, Kind: config.CheckOn, Interval: 10 * sec, Timeout: 5 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
			warn: []string{`^test\.cf:1: the real servers of 192\.0\.2\.10:8080 are not checked: service none`},
		},
		{
			name: "service=none is not checked, without a warning",
			src:  base + "\tservice=none\n",
			want: func(s *config.Service) {
				*check(s) = config.Check{Line: 1, Kind: config.CheckOn, Interval: 10 * sec, Timeout: 5 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
		},
		{
			name: "checktype=on",
			src:  base + "\tchecktype=on\n",
			want: func(s *config.Service) {
				*check(s) = config.Check{Line: 3, Kind: config.CheckOn, Interval: 10 * sec, Timeout: 5 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
		},
		{
			name: "checktype=ping with failurecount",
			src:  base + "\tchecktype=ping\n\tfailurecount=3\n\tchecktimeout=2\n",
			want: func(s *config.Service) {
				*check(s) = config.Check{Line: 3, Kind: config.CheckPing, Interval: 10 * sec, Timeout: 2 * sec, Retry: 2, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
		},
		{
			name: "ping: checkcount attempts follow each other",
			src:  base + "\tchecktype=ping\n\tcheckcount=3\n",
			want: func(s *config.Service) {
				*check(s) = config.Check{Line: 3, Kind: config.CheckPing, Interval: 10 * sec, Timeout: 5 * sec, Retry: 2, Rise: 1}
			},
			warn: []string{`^test\.cf:4: checkcount is deprecated`},
		},
		{
			name: "connect on a UDP service pings",
			src:  "virtual=192.0.2.10:514\n\treal=203.0.113.11 gate\n\tprotocol=udp\n\tchecktype=connect\n",
			want: func(s *config.Service) {
				s.Name, s.Proto, s.Port, s.Dests[0].Port = "192.0.2.10:514", vs.UDP, 514, 514
				*check(s) = config.Check{Line: 4, Kind: config.CheckPing, Interval: 10 * sec, Timeout: 5 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
		},
		{
			name: "external with ldirectord's four arguments",
			src:  "virtual=192.0.2.10:80\n\treal=203.0.113.11:8080 gate\n\tchecktype=external\n\tcheckcommand=\"/etc/ha.d/check web.sh\"\n\tchecktimeout=9\n",
			want: func(s *config.Service) {
				*check(s) = config.Check{Line: 3, Kind: config.CheckMisc, Interval: 10 * sec, Timeout: 9 * sec, DelayBeforeRetry: 10 * sec, Rise: 1,
					Command: "'/etc/ha.d/check web.sh' 192.0.2.10 80 203.0.113.11 8080"}
			},
		},
		{
			name: "external without checkcommand runs /bin/true",
			src:  "virtual=192.0.2.10:80\n\treal=203.0.113.11 gate\n\tchecktype=external\n",
			want: func(s *config.Service) {
				*check(s) = config.Check{Line: 3, Kind: config.CheckMisc, Interval: 10 * sec, Timeout: 5 * sec, DelayBeforeRetry: 10 * sec, Rise: 1,
					Command: "/bin/true 192.0.2.10 80 203.0.113.11 0"}
			},
		},
		{
			name: "external-perl runs under perl",
			src:  base + "\tchecktype=external-perl\n\tcheckcommand=/etc/ha.d/check.pl\n",
			want: func(s *config.Service) {
				*check(s) = config.Check{Line: 3, Kind: config.CheckMisc, Interval: 10 * sec, Timeout: 5 * sec, DelayBeforeRetry: 10 * sec, Rise: 1,
					Command: "perl /etc/ha.d/check.pl 192.0.2.10 80 203.0.113.11 80"}
			},
			warn: []string{`^test\.cf:3: checktype=external-perl`},
		},
		{
			name: "checktype=N: connect every interval, negotiate every N+1",
			src:  base + "\tchecktype=5\n\tchecktimeout=2\n\tnegotiatetimeout=20\ncheckinterval=3\n",
			want: func(s *config.Service) {
				s.Dests[0].Checks = []config.Check{
					{Line: 3, Kind: config.CheckTCP, Interval: 3 * sec, Timeout: 2 * sec, DelayBeforeRetry: 3 * sec, Rise: 1},
					{Line: 3, Kind: config.CheckHTTP, Interval: 18 * sec, Timeout: 20 * sec, DelayBeforeRetry: 3 * sec, Rise: 1, URLs: []config.URLCheck{{Path: "/"}}},
				}
			},
		},
		{
			name: "checktype=0 is negotiate",
			src:  base + "\tchecktype=0\n",
			want: func(s *config.Service) { check(s).Line = 3 },
		},
		{
			name: "checktype=N on UDP keeps only the negotiate check",
			src:  "virtual=192.0.2.10:53\n\treal=203.0.113.11 gate\n\tchecktype=2\n\trequest=\"a.example\"\n\treceive=\".\"\n",
			want: func(s *config.Service) {
				s.Name, s.Proto, s.Port, s.Dests[0].Port = "192.0.2.10:53", vs.UDP, 53, 53
				*check(s) = config.Check{Line: 3, Kind: config.CheckDNS, Interval: 30 * sec, Timeout: 30 * sec, DelayBeforeRetry: 10 * sec, Rise: 1,
					DNSType: "A", DNSName: "a.example", DNSAnswer: "."}
			},
		},
		{
			name: "scheduler, persistent and netmask",
			src:  base + "\tscheduler=sh\n\tpersistent=600\n\tnetmask=255.255.255.0\n\tschedflags=sh-fallback,sh-port\n",
			want: func(s *config.Service) {
				s.Scheduler, s.Timeout, s.Netmask = "sh", 600, 0xffffff00
				s.Flags = vs.SvcPersistent | vs.SvcSchedFlag1 | vs.SvcSchedFlag2
			},
		},
		{
			name: "netmask without persistent",
			src:  base + "\tnetmask=255.255.0.0\n",
			want: func(s *config.Service) {},
			warn: []string{`^test\.cf:3: netmask has no effect without persistent`},
		},
		{
			name: "ops on a UDP service",
			src:  "virtual=192.0.2.10:514\n\treal=203.0.113.11 gate\n\tprotocol=udp\n\tops=yes\n\tchecktype=on\n",
			want: func(s *config.Service) {
				s.Name, s.Proto, s.Port, s.Flags, s.Dests[0].Port = "192.0.2.10:514", vs.UDP, 514, vs.SvcOnePacket, 514
				*check(s) = config.Check{Line: 5, Kind: config.CheckOn, Interval: 10 * sec, Timeout: 5 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
			},
		},
		{
			name: "ops on a TCP service is ignored",
			src:  base + "\tops=yes\n",
			want: func(s *config.Service) {},
			warn: []string{`^test\.cf:3: ops=yes is for UDP services only`},
		},
		{
			name: "port by name",
			src:  "virtual=192.0.2.10:http\n\treal=203.0.113.11:www gate\n",
			want: func(s *config.Service) { s.Name = "192.0.2.10:http" },
		},
		{
			name: "firewall mark: service none, real ports as written",
			src:  "virtual=7\n\treal=203.0.113.11 gate\n\treal=203.0.113.12:8080 masq\n\tprotocol=fwm\n\tscheduler=rr\n\tpersistent=300\n",
			want: func(s *config.Service) {
				s.Name = "7"
				s.ServiceID = ctl.ServiceID{FwMark: 7}
				s.Scheduler, s.Flags, s.Timeout = "rr", vs.SvcPersistent, 300
				s.Dests[0].Port = 0
				*check(s) = config.Check{Line: 1, Kind: config.CheckOn, Interval: 10 * sec, Timeout: 5 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
				d := s.Dests[0]
				d.Line, d.Addr, d.Port, d.Fwd = 3, addr("203.0.113.12"), 8080, vs.Masq
				s.Dests = append(s.Dests, d)
			},
			warn: []string{`^test\.cf:1: the real servers of 7 are not checked: service none, as no service= is given and a firewall-mark service`},
		},
		{
			name: "firewall mark with an HTTP check on the service's well-known port",
			src:  "virtual=7\n\treal=203.0.113.11 gate\n\tservice=http\n",
			want: func(s *config.Service) {
				s.Name, s.ServiceID = "7", ctl.ServiceID{FwMark: 7}
				s.Dests[0].Port = 0
				check(s).Target = port(80)
			},
		},
		{
			name: "IPv6",
			src:  "virtual6=[2001:db8::10]:80\n\treal6=[2001:db8:1::11]:80 masq\n\tfallback6=[::1]\n\tpersistent=60\n\tnetmask=64\n\tchecktype=external\n",
			want: func(s *config.Service) {
				s.Name, s.Addr = "[2001:db8::10]:80", addr("2001:db8::10")
				s.Flags, s.Timeout, s.Netmask = vs.SvcPersistent, 60, 64
				s.Dests[0].Addr, s.Dests[0].Fwd = addr("2001:db8:1::11"), vs.Masq
				*check(s) = config.Check{Line: 6, Kind: config.CheckMisc, Interval: 10 * sec, Timeout: 5 * sec, DelayBeforeRetry: 10 * sec, Rise: 1,
					Command: "/bin/true '[2001:db8::10]' 80 '[2001:db8:1::11]' 80"}
				s.Sorry = &config.Dest{Line: 3, DestConfig: ctl.DestConfig{Addr: addr("::1"), Port: 80, Fwd: vs.DirectRoute, Weight: 1}}
			},
		},
		{
			name: "IPv6 firewall mark",
			src:  "virtual6=9\n\treal6=[2001:db8:1::11] gate\n\tchecktype=on\n\tfallbackcommand=/bin/sorry\n",
			want: func(s *config.Service) {
				s.Name, s.ServiceID, s.Netmask = "9", ctl.ServiceID{FwMark: 9, IPv6: true}, 128
				s.Dests[0].Addr, s.Dests[0].Port = addr("2001:db8:1::11"), 0
				*check(s) = config.Check{Line: 3, Kind: config.CheckOn, Interval: 10 * sec, Timeout: 5 * sec, DelayBeforeRetry: 10 * sec, Rise: 1}
				s.QuorumDown, s.QuorumUp = "/bin/sorry start :0 fwm", "/bin/sorry stop :0 fwm"
			},
		},
		{
			name: "comments, tabs, CRLF, blanks around '=', blank lines in the section",
			src: "# global\r\ncheckinterval = 2 # seconds\r\n\r\nvirtual = 192.0.2.10:80   # web\r\n" +
				"  \t real = 203.0.113.11:80 gate # first\r\n\r\n    # a comment inside\r\n\t\treceive=\"a#b\"\r\n",
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 4, 5
				check(s).Line, check(s).Interval, check(s).DelayBeforeRetry = 4, 2*sec, 2*sec
				check(s).URLs[0].Regexp = "a#b"
			},
		},
		{
			name: "ignored settings warn",
			src: "logfile=\"local0\"\nemailalert=\"admin@example.org\"\ncallback=\"/bin/true\"\ncleanstop=no\nsupervised\n" +
				"readdquiescent=yes\n" + base + "\tmonitorfile=\"/var/log/ld.mon\"\n\tservicename=Web Site\n\tcomment=some words\n" +
				"\tlogin=\"u\"\n\tpasswd=\"p\"\n\tsmtp=mail.example.org\n",
			want: func(s *config.Service) {
				s.Line, s.Dests[0].Line = 7, 8
				check(s).Line = 7
			},
			warn: []string{
				`^test\.cf:1: logfile is ignored`, `^test\.cf:2: emailalert is ignored`,
				`^test\.cf:3: callback is ignored`, `^test\.cf:4: cleanstop=no cannot be honoured`,
				`^test\.cf:9: monitorfile is ignored`, `^test\.cf:14: smtp is ignored`,
			},
		},
		{
			name: "the last value of a repeated directive wins",
			src:  base + "\tscheduler=wlc\n\tscheduler=rr\n",
			want: func(s *config.Service) { s.Scheduler = "rr" },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := parseOne(t, tc.src)
			if len(c.Services) != 1 {
				t.Fatalf("%d services, want 1", len(c.Services))
			}
			want := baseService()
			tc.want(&want)
			assertEqual(t, "Service", c.Services[0], want)
			assertWarnings(t, c.Warnings, tc.warn...)
			if err := config.Validate(c, nil); err != nil {
				t.Errorf("config.Validate: %v", err)
			}
		})
	}
}

// TestConfigLevel checks what goes into the Config beside its services.
func TestConfigLevel(t *testing.T) {
	c := parseOne(t, "autoreload=yes\n")
	want := &config.Config{Path: "test.cf", Format: config.FormatLdirectord, AutoReload: true}
	assertEqual(t, "Config", c, want)

	c = parseOne(t, "autoreload=no\n"+base+"virtual=192.0.2.10:81\n\treal=203.0.113.11 gate\n\tservice=http\n"+
		"virtual=192.0.2.10:80\n\tprotocol=udp\n\tchecktype=on\n")
	if c.AutoReload || len(c.Services) != 3 {
		t.Fatalf("AutoReload %v, %d services; want false, 3", c.AutoReload, len(c.Services))
	}
	// The same address and port over UDP is another service.
	if s := c.Services[2]; s.Proto != vs.UDP || s.Line != 7 || len(s.Dests) != 0 {
		t.Errorf("third service %+v", s)
	}
	if c.Services[1].Dests[0].Port != 81 || c.Services[1].Dests[0].Checks[0].Target != port(80) {
		t.Errorf("second service: real %+v", c.Services[1].Dests[0])
	}
}

// TestErrors: every error names the file and the line at fault, and
// says what is wrong.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		line int
		want string // regular expression for the message after "test.cf:LINE: "
	}{
		{"unknown global", "checkintervall=3\n", 1, `unknown directive "checkintervall"`},
		{"unknown in a section", base + "\tcolour=blue\n", 3, `unknown directive "colour"`},
		{"upper case", "Virtual=192.0.2.10:80\n", 1, `directive names are lower case: virtual`},
		{"not a directive", "checktimeout 5\n", 1, `expected a directive name=value`},
		{"bare word", "autoreload\n", 1, `autoreload: expected autoreload=value`},
		{"bare word in a section", base + "\tgate\n", 3, `gate: expected gate=value`},
		{"indented by 2", base + "  receive=\"x\"\n", 3, `indented by 2 column\(s\)`},
		{"indented without a section", "\treal=203.0.113.11:80 gate\n", 1, `no virtual= line before it`},
		{"indented global without a section", "    checktimeout=3\n", 1, `indented line outside a virtual section`},
		{"member at top level", base + "real=203.0.113.12:80 gate\n", 3, `real= belongs to a virtual section`},
		{"global in a section", base + "\tautoreload=yes\n", 3, `autoreload is a global directive`},
		{"virtual indented", base + "\tvirtual=192.0.2.11:80\n", 3, `virtual= must not be indented`},
		{"virtual without address", "virtual=\n", 1, `virtual: no address given`},
		{"virtual host name", "virtual=www.example.org:80\n", 1, `host name "www.example.org" is not resolved`},
		{"virtual IPv6", "virtual=[2001:db8::1]:80\n", 1, `cannot take an IPv6 address; use virtual6`},
		{"virtual6 IPv4", "virtual6=192.0.2.10:80\n", 1, `192.0.2.10 is an IPv4 address; use virtual`},
		{"virtual6 without brackets", "virtual6=2001:db8::1:80\n", 1, `IPv6 addresses go in brackets \(\[2001:db8::1\]\)`},
		{"virtual without port", "virtual=192.0.2.10\n", 1, `expected ADDRESS:PORT or a firewall mark`},
		{"firewall mark 0", "virtual=0\n", 1, `a firewall mark is a number from 1`},
		{"port out of range", "virtual=192.0.2.10:65536\n", 1, `port 65536 out of range`},
		{"unknown port name", "virtual=192.0.2.10:gopher-plus\n", 1, `unknown port name "gopher-plus"`},
		{"port 0 not persistent", "virtual=192.0.2.10:0\n\tchecktype=on\n", 1, `port 0 is for persistent services only`},
		{"duplicate virtual", base + "virtual=192.0.2.10:80\n", 3, `duplicate virtual service 192.0.2.10:80 \(also at line 1\)`},
		{"real without method", "virtual=192.0.2.10:80\n\treal=203.0.113.11:80\n", 2, `no forwarding method`},
		{"real bad method", "virtual=192.0.2.10:80\n\treal=203.0.113.11:80 route\n", 2, `forwarding method must be gate, masq or ipip, not "route"`},
		{"real host name", "virtual=192.0.2.10:3306\n\treal=sql01->sql03:3306 gate 10\n", 2, `host name "sql01" is not resolved`},
		{"real unbracketed IPv6", "virtual6=[2001:db8::1]:80\n\treal6=2001:db8::2 gate\n", 2, `IPv6 addresses go in brackets`},
		{"real IPv6 range", "virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2]->[2001:db8::3]:80 gate\n", 2, `address ranges are IPv4 only`},
		{"real range reversed", "virtual=192.0.2.10:80\n\treal=203.0.113.12->203.0.113.11:80 gate\n", 2, `the first address must not be above the last`},
		{"real range too large", "virtual=192.0.2.10:80\n\treal=10.0.0.0->10.0.255.255:80 gate\n", 2, `has 65536 addresses, more than 4096`},
		{"too many real servers", manyReals(), 34, `more than 65536 real servers in the file`},
		{"too many real servers in a section", "virtual=192.0.2.10:80\n\tchecktype=on\n\treal=10.0.0.0->10.0.15.255:80 masq\n\treal=10.1.0.1 masq\n", 4, `more than 4096 real servers in 192.0.2.10:80`},
		{"real weight", "virtual=192.0.2.10:80\n\treal=203.0.113.11:80 gate 65536\n", 2, `weight 65536 out of range 0..65535`},
		{"real threshold", "virtual=192.0.2.10:80\n\treal=203.0.113.11:80 gate 1 u:4294967296\n", 2, `threshold u:4294967296 out of range`},
		{"real not unicast", "virtual=192.0.2.10:80\n\treal=224.0.0.1:80 gate\n", 2, `real: 224.0.0.1 is not an address a real server can have`},
		{"real range into multicast", "virtual=192.0.2.10:80\n\treal=223.255.255.254->224.0.0.1:80 gate\n", 2, `real: 224.0.0.0 is not an address`},
		{"real IPv6 link-local", "virtual6=[2001:db8::1]:80\n\treal6=[fe80::1]:80 gate\n", 2, `real: fe80::1 is not an address`},
		{"fallback not unicast", "fallback=0.0.0.0:80\n", 1, `fallback: 0.0.0.0 is not an address a real server can have`},
		{"real lower threshold without upper", "virtual=192.0.2.10:80\n\treal=203.0.113.11:80 gate 1 l:5\n", 2, `l:5 needs u: at least as high`},
		{"real junk", "virtual=192.0.2.10:80\n\treal=203.0.113.11:80 gate 1 fast\n", 2, `invalid real server line, around "fast"`},
		{"real request without receive", "virtual=192.0.2.10:80\n\treal=203.0.113.11:80 gate 1 \"/x\"\n", 2, `expected a quoted pair`},
		{"real receive regexp", "virtual=192.0.2.10:80\n\treal=203.0.113.11:80 gate 1 \"/x\", \"(?<=a)b\"\n", 2, `not a regular expression gdirector can use`},
		{"real6 in an IPv4 section", base + "\treal6=[2001:db8::2]:80 gate\n", 3, `cannot use real6= in a virtual section: use real=`},
		{"real in an IPv6 section", "virtual6=[2001:db8::1]:80\n\treal=203.0.113.11:80 gate\n", 2, `cannot use real= in a virtual6 section: use real6=`},
		{"fallback6 in an IPv4 section", base + "\tfallback6=[::1]:80\n", 3, `cannot use fallback6= in a virtual section`},
		{"fallback IPv6", "fallback=[::1]:80\n", 1, `fallback: cannot take an IPv6 address; use fallback6`},
		{"fallback bad method", "fallback=127.0.0.1:80 nat\n", 1, `forwarding method must be gate, masq or ipip, not "nat"`},
		{"fallback three words", "fallback=127.0.0.1:80 gate 1\n", 1, `expected ADDRESS\[:PORT\] \[gate\|masq\|ipip\]`},
		{"duplicate real", base + "\treal=203.0.113.11:8080 gate\n", 3, `duplicate real server 203.0.113.11:80 in 192.0.2.10:80 \(also at line 2\)`},
		{"request unquoted", base + "\trequest=/index.html\n", 3, `request needs a value in double quotes`},
		{"request empty", base + "\trequest=\"\"\n", 3, `no request string given`},
		{"receive curly quotes", base + "\treceive=“Test Ldirectord\"\n", 3, `receive needs a value in double quotes`},
		{"receive regexp", base + "\treceive=\"a(\"\n", 3, `receive: "a\(" is not a regular expression`},
		{"checktype", base + "\tchecktype=tcp\n", 3, `checktype must be connect, negotiate, on, off, ping, external, external-perl or a number, not "tcp"`},
		{"checktype number too large", "checkinterval=86400\n" + base + "\tchecktype=400\n", 4, `negotiate checks would be more than a year apart`},
		{"checktimeout 0", "checktimeout=0\n", 1, `checktimeout must be a number of seconds from 1`},
		{"checktimeout with unit", base + "\tchecktimeout=3s\n", 3, `checktimeout must be a number of seconds`},
		{"failurecount", "failurecount=-1\n", 1, `failurecount must be a number from 1`},
		{"checkport", base + "\tcheckport=0\n", 3, `checkport must be a port from 1 to 65535`},
		{"scheduler unknown", base + "\tscheduler=fastest\n", 3, `unknown scheduler "fastest"`},
		{"scheduler case", base + "\tscheduler=RR\n", 3, `invalid scheduler "RR": lower-case letters only`},
		{"persistent 0", base + "\tpersistent=0\n", 3, `persistent must be a timeout from 1`},
		{"netmask IPv4", base + "\tnetmask=24\n", 3, `dotted quad notation is required`},
		{"netmask IPv6", "virtual6=[2001:db8::1]:80\n\tnetmask=129\n", 2, `prefix length between 1 and 128`},
		{"schedflags unknown", base + "\tschedflags=sticky\n", 3, `schedflags: invalid scheduler flag "sticky"`},
		{"schedflags scheduler", base + "\tschedflags=sh-port\n", 3, `sh-port needs scheduler sh, not wrr`},
		{"protocol fwm for an address", base + "\tprotocol=fwm\n", 3, `protocol must be tcp or udp`},
		{"protocol tcp for a mark", "virtual=5\n\tprotocol=tcp\n", 2, `protocol must be fwm`},
		{"protocol sctp", base + "\tprotocol=sctp\n", 3, `protocol must be tcp or udp`},
		{"ops", base + "\tops=1\n", 3, `ops must be 'yes' or 'no'`},
		{"quiescent", "quiescent=true\n", 1, `quiescent must be 'yes' or 'no', not "true"`},
		{"autoreload", "autoreload=on\n", 1, `autoreload must be 'yes' or 'no'`},
		{"unknown service", base + "\tservice=ssh\n", 3, `unknown service "ssh": ldirectord knows dns, ftp`},
		{"unsupported service", base + "\tservice=ldap\n", 3, `unsupported: service=ldap: gdirector has no ldap check; use checktype=connect`},
		{"unsupported service from the port", "virtual=192.0.2.10:389\n\treal=203.0.113.11 gate\n", 1, `unsupported: service=ldap \(ldirectord's default for port 389`},
		{"unsupported service, combined", "virtual=192.0.2.10:21\n\tchecktype=3\n", 1, `unsupported: service=ftp`},
		{"httpmethod", base + "\thttpmethod=POST\n", 3, `httpmethod must be GET or HEAD`},
		{"dns without request", "virtual=192.0.2.10:53\n\treal=203.0.113.11 gate\n\tservice=dns\n\treceive=\"x\"\n", 3, `service=dns needs request=`},
		{"dns without receive", "virtual=192.0.2.10:53\n\treal=203.0.113.11 gate\n\trequest=\"a.example\"\n", 1, `service=dns needs receive=`},
		{"dns, real without receive", "virtual=192.0.2.10:53\n\treal=203.0.113.11 gate 1 \"a.example\", \"\"\n", 2, `service=dns needs receive=`},
		{"dns bad name", "virtual=192.0.2.10:53\n\treal=203.0.113.11 gate\n\trequest=\"a..b\"\n\treceive=\"x\"\n", 3, `request "a..b" is not a DNS name`},
		{"connect without a port", "virtual=5\n\treal=203.0.113.11 gate\n\tchecktype=connect\n", 2, `no port to check`},
		{"absolute URL with a host name", "virtual=192.0.2.10:80\n\treal=203.0.113.11 gate 1 \"http://www.example.org/\", \"x\"\n", 2, `the URL's host must be an address`},
		{"execute", "execute=other.cf\n", 1, `unsupported: execute=other.cf`},
		{"maintenancedir", "maintenancedir=/etc/ha.d/maint\n", 1, `unsupported: maintenancedir`},
		{"timeout", "timeout=5\n", 1, `timeout is obsolete`},
		{"emailalertstatus", "emailalertstatus=sometimes\n", 1, `emailalertstatus: unknown status "sometimes"`},
		{"checkcommand empty", base + "\tcheckcommand=\"\"\n", 3, `checkcommand: no command given`},
		{"virtualhost with blanks", base + "\tvirtualhost=a b\n", 3, `a host name has no blanks`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("test.cf", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error for\n%s(got %d services)", tc.src, len(c.Services))
			}
			if c != nil {
				t.Errorf("a Config with the error")
			}
			prefix := fmt.Sprintf("test.cf:%d: ", tc.line)
			msg, ok := strings.CutPrefix(err.Error(), prefix)
			if !ok {
				t.Fatalf("error %q does not start with %q", err, prefix)
			}
			if !regexp.MustCompile(tc.want).MatchString(msg) {
				t.Errorf("error %q, want a match for %q", err, tc.want)
			}
		})
	}
}

// TestErrorWithoutPath: errors still name the line when the file has no
// name.
func TestErrorWithoutPath(t *testing.T) {
	_, err := Parse("", []byte("checktimeout=3\nbogus=1\n"))
	if err == nil || err.Error() != `line 2: unknown directive "bogus"` {
		t.Errorf("error %v", err)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/bin/true": "/bin/true", "": "''", "a b": "'a b'", "it's": `'it'\''s'`,
		"[2001:db8::1]": "'[2001:db8::1]'", "$(reboot)": "'$(reboot)'", "x=1,y@z%+": "x=1,y@z%+",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReverseName(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7": "7.100.51.198.in-addr.arpa",
		"2001:db8::1":  "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
	} {
		if got := reverseName(addr(in)); got != want {
			t.Errorf("reverseName(%s) = %s, want %s", in, got, want)
		}
	}
}

// manyReals is 16 sections of 4096 real servers each (65536), and one
// more real server on line 34.
func manyReals() string {
	var b strings.Builder
	for i := 0; i < 16; i++ {
		fmt.Fprintf(&b, "virtual=192.0.2.10:%d\n\treal=10.0.%d.0->10.0.%d.255:80 masq\n", 1000+i, i*16, i*16+15)
	}
	b.WriteString("virtual=192.0.2.10:999\n\treal=10.1.0.1 masq\n")
	return b.String()
}

package ldirectord

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// The files under testdata/public are public ldirectord.cf files (see
// testdata/README.md), each with a header naming where it comes from.

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// lineAt returns the line number of the first line at or after line from
// that is exactly text.
func lineAt(t *testing.T, lines []string, from int, text string) int {
	t.Helper()
	for i := from - 1; i < len(lines); i++ {
		if lines[i] == text {
			return i + 1
		}
	}
	t.Fatalf("no line %q at or after line %d", text, from)
	return 0
}

// real is an expected real server with one check.
func realDest(line int, a string, p uint16, fwd vs.FwdMethod, c config.Check) config.Dest {
	return config.Dest{Line: line, DestConfig: ctl.DestConfig{Addr: addr(a), Port: p, Fwd: fwd, Weight: 1},
		Checks: []config.Check{c}}
}

func sorry(line int, a string, p uint16) *config.Dest {
	return &config.Dest{Line: line, DestConfig: ctl.DestConfig{Addr: addr(a), Port: p, Fwd: vs.DirectRoute, Weight: 1}}
}

func tcpID(a string, p uint16) ctl.ServiceID {
	return ctl.ServiceID{Proto: vs.TCP, Addr: addr(a), Port: p}
}

// TestResourceAgentsSample reads the sample ldirectord.cf of
// resource-agents as shipped: one HTTP virtual service, everything else
// commented out.
func TestResourceAgentsSample(t *testing.T) {
	const name = "public/resource-agents-ldirectord.cf"
	data := readFile(t, name)
	lines := strings.Split(string(data), "\n")
	c, err := Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	v := lineAt(t, lines, 1, "virtual=192.168.6.240:80")
	chk := config.Check{
		Line: lineAt(t, lines, v, "\tchecktype=negotiate"), Kind: config.CheckHTTP,
		Interval: sec, Timeout: 3 * sec, DelayBeforeRetry: sec, Rise: 1,
		URLs:        []config.URLCheck{{Path: "/index.html", Regexp: "Test Page"}},
		VirtualHost: "www.x.y.z",
	}
	want := &config.Config{
		Path: name, Format: config.FormatLdirectord, AutoReload: true,
		Services: []config.Service{{
			Line: v, Name: "192.168.6.240:80", Quorum: 1, Alpha: true,
			ServiceConfig: ctl.ServiceConfig{ServiceID: tcpID("192.168.6.240", 80), Scheduler: "rr", Netmask: 0xffffffff},
			Dests: []config.Dest{
				realDest(v+3, "192.168.6.2", 80, vs.DirectRoute, chk),
				realDest(v+4, "192.168.6.3", 80, vs.DirectRoute, chk),
				realDest(v+5, "192.168.6.6", 80, vs.DirectRoute, chk),
			},
			Sorry: sorry(lineAt(t, lines, v, "\tfallback=127.0.0.1:80 gate"), "127.0.0.1", 80),
		}},
	}
	assertEqual(t, "Config", c, want)
	if err := config.Validate(c, nil); err != nil {
		t.Errorf("config.Validate: %v", err)
	}
}

// TestResourceAgentsSampleExamples reads each commented-out example of the
// resource-agents sample on its own: the file with the active section
// commented out and that example's lines uncommented, so that every line
// keeps its number. Examples gdirector cannot check (ftp, pop, imap, ldap,
// nntp, radius), the ones that name real servers by host name (mysql,
// pgsql, oracle) and the SIP one, whose real= lines have a typo
// ("192.168.6.2::5060"), must fail naming their line; the others must
// read as ldirectord would run them.
func TestResourceAgentsSampleExamples(t *testing.T) {
	const name = "public/resource-agents-ldirectord.cf"
	orig := strings.Split(string(readFile(t, name)), "\n")

	// The commented examples: a "#virtual" line and the "#\t" lines after it.
	var starts []int
	for i, l := range orig {
		if regexp.MustCompile(`^#virtual6?\s*=`).MatchString(l) {
			starts = append(starts, i+1)
		}
	}
	if len(starts) != 19 {
		t.Fatalf("%d commented examples, want 19", len(starts))
	}
	variant := func(start int) []string {
		lines := append([]string(nil), orig...)
		active := lineAt(t, lines, 1, "virtual=192.168.6.240:80")
		lines[active-1] = "#" + lines[active-1]
		for i := active; i < len(lines) && strings.HasPrefix(lines[i], "\t"); i++ {
			lines[i] = "#" + lines[i]
		}
		lines[start-1] = lines[start-1][1:]
		for i := start; i < len(lines) && strings.HasPrefix(lines[i], "#\t"); i++ {
			lines[i] = lines[i][1:]
		}
		return lines
	}

	type result struct {
		service *config.Service // expected service, or
		errLine int             // the line of the expected error
		err     string          // and a regular expression for its message
	}
	examples := map[string]func(l []string, v int) result{
		"#virtual=1": func(l []string, v int) result {
			chk := config.Check{Line: lineAt(t, l, v, "\tchecktype=negotiate"), Kind: config.CheckHTTP,
				Target: port(80), Interval: sec, Timeout: 3 * sec, DelayBeforeRetry: sec, Rise: 1,
				URLs: []config.URLCheck{{Path: "/index.html", Regexp: "Test Page"}}, VirtualHost: "x.y.z"}
			return result{service: &config.Service{
				Line: v, Name: "1", Quorum: 1, Alpha: true,
				ServiceConfig: ctl.ServiceConfig{ServiceID: ctl.ServiceID{FwMark: 1}, Scheduler: "rr", Netmask: 0xffffffff},
				Dests: []config.Dest{
					realDest(v+1, "192.168.6.2", 0, vs.DirectRoute, chk),
					realDest(v+2, "192.168.6.3", 0, vs.DirectRoute, chk),
					realDest(v+3, "192.168.6.6", 0, vs.DirectRoute, chk),
				},
				Sorry: sorry(v+4, "127.0.0.1", 80),
			}}
		},
		"#virtual=192.168.6.240:80": func(l []string, v int) result {
			chk := config.Check{Line: lineAt(t, l, v, "\tchecktype=negotiate"), Kind: config.CheckHTTP,
				Interval: sec, Timeout: 3 * sec, DelayBeforeRetry: sec, Rise: 1,
				URLs: []config.URLCheck{{Path: "/index.html", Regexp: "Test Page"}}, VirtualHost: "x.y.z"}
			s := &config.Service{
				Line: v, Name: "192.168.6.240:80", Quorum: 1, Alpha: true,
				ServiceConfig: ctl.ServiceConfig{ServiceID: tcpID("192.168.6.240", 80), Scheduler: "rr", Netmask: 0xffffffff},
				Sorry:         sorry(v+3, "127.0.0.1", 80),
			}
			for i := 2; i <= 7; i++ {
				s.Dests = append(s.Dests, realDest(v+1, fmt.Sprintf("192.168.6.%d", i), 80, vs.DirectRoute, chk))
			}
			s.Dests = append(s.Dests, realDest(v+2, "192.168.6.32", 80, vs.DirectRoute, chk))
			return result{service: s}
		},
		"#virtual=192.168.6.240:443": func(l []string, v int) result {
			chk := config.Check{Line: lineAt(t, l, v, "\tchecktype=negotiate"), Kind: config.CheckHTTPS,
				Interval: sec, Timeout: 3 * sec, DelayBeforeRetry: sec, Rise: 1,
				URLs: []config.URLCheck{{Path: "/index.html", Regexp: "Test Page"}}, VirtualHost: "x.y.z"}
			return result{service: &config.Service{
				Line: v, Name: "192.168.6.240:443", Quorum: 1, Alpha: true,
				ServiceConfig: ctl.ServiceConfig{ServiceID: tcpID("192.168.6.240", 443), Scheduler: "rr", Netmask: 0xffffffff},
				Dests: []config.Dest{
					realDest(v+1, "192.168.16.3", 443, vs.Masq, chk),
					realDest(v+2, "192.168.16.5", 443, vs.Masq, chk),
				},
				Sorry: sorry(v+3, "127.0.0.1", 443),
			}}
		},
		"#virtual=192.168.6.240:21": func(l []string, v int) result {
			return result{errLine: lineAt(t, l, v, "\tservice=ftp"), err: `^unsupported: service=ftp: gdirector has no ftp check`}
		},
		"#virtual=192.168.6.240:25": func(l []string, v int) result {
			return result{service: smtpExample(t, l, v, 25)}
		},
		"#virtual=192.168.6.240:587": func(l []string, v int) result {
			return result{service: smtpExample(t, l, v, 587)}
		},
		"#virtual=192.168.6.240:110": func(l []string, v int) result {
			return result{errLine: lineAt(t, l, v, "\tservice=pop"), err: `^unsupported: service=pop:`}
		},
		"#virtual=192.168.6.240:143": func(l []string, v int) result {
			return result{errLine: lineAt(t, l, v, "\tservice=imap"), err: `^unsupported: service=imap:`}
		},
		"#virtual=192.168.84.5:389": func(l []string, v int) result {
			return result{errLine: lineAt(t, l, v, "\tservice=ldap"), err: `^unsupported: service=ldap:`}
		},
		"#virtual=192.168.84.5:119": func(l []string, v int) result {
			return result{errLine: lineAt(t, l, v, "\tservice=nntp"), err: `^unsupported: service=nntp:`}
		},
		"#virtual=192.168.84.5:53": func(l []string, v int) result {
			chk := config.Check{Line: lineAt(t, l, v, "\tchecktype=negotiate"), Kind: config.CheckDNS,
				Interval: sec, Timeout: 3 * sec, DelayBeforeRetry: sec, Rise: 1,
				DNSType: "A", DNSName: "x.y.z", DNSAnswer: "127.0.0.1"}
			return result{service: &config.Service{
				Line: v, Name: "192.168.84.5:53", Quorum: 1, Alpha: true,
				ServiceConfig: ctl.ServiceConfig{ServiceID: ctl.ServiceID{Proto: vs.UDP, Addr: addr("192.168.84.5"), Port: 53},
					Scheduler: "wlc", Netmask: 0xffffffff},
				Dests: []config.Dest{
					realDest(v+1, "10.0.1.4", 53, vs.Masq, chk),
					realDest(v+2, "10.0.1.6", 53, vs.Masq, chk),
				},
				Sorry: sorry(v+3, "127.0.0.1", 53),
			}}
		},
		"#virtual = 192.168.10.74:3306": func(l []string, v int) result {
			return result{errLine: v + 1, err: `^real: host name "sql01" is not resolved`}
		},
		"#virtual = 192.168.10.74:5432": func(l []string, v int) result {
			return result{errLine: v + 1, err: `^real: host name "sql01" is not resolved`}
		},
		"#virtual = 192.168.10.74:1521": func(l []string, v int) result {
			return result{errLine: v + 1, err: `^real: host name "sql01" is not resolved`}
		},
		"#virtual=192.168.6.240:23": func(l []string, v int) result {
			chk := config.Check{Line: lineAt(t, l, v, "\tchecktype=on"), Kind: config.CheckOn,
				Interval: sec, Timeout: 3 * sec, DelayBeforeRetry: sec, Rise: 1}
			return result{service: &config.Service{
				Line: v, Name: "192.168.6.240:23", Quorum: 1, Alpha: true,
				ServiceConfig: ctl.ServiceConfig{ServiceID: tcpID("192.168.6.240", 23), Scheduler: "wlc",
					Flags: vs.SvcPersistent, Timeout: 600, Netmask: 0xffffffff},
				Dests: []config.Dest{
					realDest(v+1, "192.168.16.3", 23, vs.Masq, chk),
					realDest(v+2, "192.168.16.5", 23, vs.Masq, chk),
				},
				Sorry: sorry(v+3, "127.0.0.1", 23),
			}}
		},
		"#virtual=192.168.6.240:53": func(l []string, v int) result {
			chk := config.Check{Line: lineAt(t, l, v, "\tchecktype=ping"), Kind: config.CheckPing,
				Interval: sec, Timeout: 3 * sec, Retry: 2, DelayBeforeRetry: sec, Rise: 1}
			return result{service: &config.Service{
				Line: v, Name: "192.168.6.240:53", Quorum: 1, Alpha: true,
				ServiceConfig: ctl.ServiceConfig{ServiceID: ctl.ServiceID{Proto: vs.UDP, Addr: addr("192.168.6.240"), Port: 53},
					Scheduler: "rr", Netmask: 0xffffffff},
				Dests: []config.Dest{
					realDest(v+1, "192.168.6.2", 53, vs.DirectRoute, chk),
					realDest(v+2, "192.168.6.3", 53, vs.DirectRoute, chk),
					realDest(v+3, "192.168.6.6", 53, vs.DirectRoute, chk),
				},
				Sorry: sorry(v+4, "127.0.0.1", 53),
			}}
		},
		"#virtual=192.168.6.240:1812": func(l []string, v int) result {
			return result{errLine: lineAt(t, l, v, "\tservice=radius"), err: `^unsupported: service=radius:`}
		},
		"#virtual=192.168.6.240:5060": func(l []string, v int) result {
			return result{errLine: v + 1, err: `^real: invalid address "192\.168\.6\.2::5060"`}
		},
		"#virtual6=[2001:db8::5]:119": func(l []string, v int) result {
			return result{errLine: lineAt(t, l, v, "\tservice=nntp"), err: `^unsupported: service=nntp:`}
		},
	}
	for _, start := range starts {
		key := orig[start-1]
		t.Run(key, func(t *testing.T) {
			mk, ok := examples[key]
			if !ok {
				t.Fatalf("no expectation for the example at line %d", start)
			}
			lines := variant(start)
			want := mk(lines, start)
			c, err := Parse(name, []byte(strings.Join(lines, "\n")))
			if want.service == nil {
				prefix := fmt.Sprintf("%s:%d: ", name, want.errLine)
				msg, ok := "", false
				if err != nil {
					msg, ok = strings.CutPrefix(err.Error(), prefix)
				}
				if !ok || !regexp.MustCompile(want.err).MatchString(msg) {
					t.Fatalf("error %v, want %s%s", err, prefix, want.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertEqual(t, "Config", c, &config.Config{Path: name, Format: config.FormatLdirectord,
				AutoReload: true, Services: []config.Service{*want.service}})
			if err := config.Validate(c, nil); err != nil {
				t.Errorf("config.Validate: %v", err)
			}
		})
	}
}

// smtpExample is the sample's smtp (port 25) or submission (587) example.
func smtpExample(t *testing.T, l []string, v int, p uint16) *config.Service {
	chk := config.Check{Line: lineAt(t, l, v, "\tchecktype=negotiate"), Kind: config.CheckSMTP,
		Interval: sec, Timeout: 3 * sec, DelayBeforeRetry: sec, Rise: 1}
	return &config.Service{
		Line: v, Name: fmt.Sprintf("192.168.6.240:%d", p), Quorum: 1, Alpha: true,
		ServiceConfig: ctl.ServiceConfig{ServiceID: tcpID("192.168.6.240", p), Scheduler: "wlc",
			Flags: vs.SvcPersistent, Timeout: 600, Netmask: 0xffffffff},
		Dests: []config.Dest{
			realDest(v+1, "192.168.16.3", p, vs.Masq, chk),
			realDest(v+2, "192.168.16.5", p, vs.Masq, chk),
		},
		Sorry: sorry(v+3, "127.0.0.1", p),
	}
}

// TestKubernetesTheHarderWay reads the load balancer of the Kubernetes
// API in "Kubernetes the harder way": HTTPS GET /healthz expecting "ok",
// quiescent real servers, indented with spaces.
func TestKubernetesTheHarderWay(t *testing.T) {
	const name = "public/kubernetes-the-harder-way.cf"
	data := readFile(t, name)
	lines := strings.Split(string(data), "\n")
	c, err := Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	v := lineAt(t, lines, 1, "virtual=192.168.1.21:6443")
	chk := config.Check{
		Line: v + 6, Kind: config.CheckHTTPS, Interval: sec, Timeout: 5 * sec, DelayBeforeRetry: sec, Rise: 1,
		URLs: []config.URLCheck{{Path: "/healthz", Regexp: "ok"}},
	}
	s := config.Service{
		Line: v, Name: "192.168.1.21:6443", Quorum: 1, Alpha: true,
		ServiceConfig: ctl.ServiceConfig{ServiceID: tcpID("192.168.1.21", 6443), Scheduler: "wrr", Netmask: 0xffffffff},
	}
	for i := 1; i <= 3; i++ {
		d := realDest(v+1+i, fmt.Sprintf("192.168.1.1%d", i), 6443, vs.DirectRoute, chk)
		d.Inhibit = true
		s.Dests = append(s.Dests, d)
	}
	assertEqual(t, "Config", c, &config.Config{Path: name, Format: config.FormatLdirectord,
		AutoReload: true, Services: []config.Service{s}})
	if err := config.Validate(c, nil); err != nil {
		t.Errorf("config.Validate: %v", err)
	}
}

// TestSeed reads the example of gdirector's issue 6: an ldirectord
// negotiate/http service with quiescent real servers and a fallback.
func TestSeed(t *testing.T) {
	const name = "seed.cf"
	data := readFile(t, name)
	lines := strings.Split(string(data), "\n")
	c, err := Parse(name, data)
	if err != nil {
		t.Fatal(err)
	}
	v := lineAt(t, lines, 1, "virtual=192.0.2.10:80")
	chk := config.Check{
		Line: v + 9, Kind: config.CheckHTTP, Interval: sec, Timeout: 3 * sec, DelayBeforeRetry: sec, Rise: 1,
		URLs: []config.URLCheck{{Path: "/index.html", Regexp: "Test Page"}},
	}
	d1 := realDest(v+1, "203.0.113.11", 80, vs.DirectRoute, chk)
	d2 := realDest(v+2, "203.0.113.12", 80, vs.DirectRoute, chk)
	d1.Inhibit, d2.Inhibit = true, true
	want := &config.Config{Path: name, Format: config.FormatLdirectord, AutoReload: true,
		Services: []config.Service{{
			Line: v, Name: "192.0.2.10:80", Quorum: 1, Alpha: true,
			ServiceConfig: ctl.ServiceConfig{ServiceID: tcpID("192.0.2.10", 80), Scheduler: "rr", Netmask: 0xffffffff},
			Dests:         []config.Dest{d1, d2},
			Sorry:         sorry(v+3, "127.0.0.1", 80),
		}}}
	assertEqual(t, "Config", c, want)
	if err := config.Validate(c, nil); err != nil {
		t.Errorf("config.Validate: %v", err)
	}
	if f := config.Detect(name, data); f != config.FormatLdirectord {
		t.Errorf("config.Detect says %v", f)
	}
}

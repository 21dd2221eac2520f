package keepalived

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

var (
	ip   = netip.MustParseAddr
	port = func(p uint16) netip.AddrPort { return netip.AddrPortFrom(netip.Addr{}, p) }
)

// parseFile parses a file under testdata, requiring success and a
// configuration that config.Validate accepts.
func parseFile(t *testing.T, name string) *config.Config {
	t.Helper()
	path := filepath.Join("testdata", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(path, data, nil)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	if err := config.Validate(c, nil); err != nil {
		t.Fatalf("Validate(%s): %v", name, err)
	}
	return c
}

// same compares a parsed configuration with the expected one, showing
// both on a mismatch.
func same(t *testing.T, got, want *config.Config) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, _ := json.MarshalIndent(got, "", "  ")
	w, _ := json.MarshalIndent(want, "", "  ")
	gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var a, b string
		if i < len(gl) {
			a = gl[i]
		}
		if i < len(wl) {
			b = wl[i]
		}
		if a != b {
			lo := max(i-8, 0)
			t.Fatalf("configuration differs at JSON line %d:\n got: %s\nwant: %s\ncontext (got):\n%s",
				i+1, a, b, strings.Join(gl[lo:min(i+3, len(gl))], "\n"))
		}
	}
	t.Fatalf("configurations differ (not in JSON):\n got %+v\nwant %+v", got, want)
}

// svc is a service config.
func svc(proto vs.Proto, addr string, p uint16, sched string, flags, timeout uint32) ctl.ServiceConfig {
	a := ip(addr)
	mask := uint32(0xffffffff)
	if a.Is6() {
		mask = 128
	}
	return ctl.ServiceConfig{ServiceID: ctl.ServiceID{Proto: proto, Addr: a, Port: p},
		Scheduler: sched, Flags: flags, Timeout: timeout, Netmask: mask}
}

// dst is a real server config.
func dst(addr string, p uint16, fwd vs.FwdMethod, w int32) ctl.DestConfig {
	return ctl.DestConfig{Addr: ip(addr), Port: p, Fwd: fwd, Weight: w}
}

// kaConf is the Config of a testdata file.
func kaConf(name string, warnings []string, svcs ...config.Service) *config.Config {
	return &config.Config{Path: filepath.Join("testdata", name), Format: config.FormatKeepalived,
		Services: svcs, Warnings: warnings}
}

// warn is a warning as Parse writes it.
func warn(name string, line int, msg string) string {
	return fmt.Sprintf("%s:%d: %s", filepath.Join("testdata", name), line, msg)
}

func TestSeedDRWRR(t *testing.T) {
	tcp := func(line int) config.Check {
		return config.Check{Line: line, Kind: config.CheckTCP, Interval: 6 * time.Second, Timeout: 3 * time.Second,
			Retry: 1, DelayBeforeRetry: time.Second, Rise: 1, Warmup: 6 * time.Second}
	}
	want := kaConf("seed_dr_wrr.conf", nil, config.Service{
		Line: 4, Name: "192.0.2.10:80", Quorum: 1,
		ServiceConfig: svc(vs.TCP, "192.0.2.10", 80, "wrr", vs.SvcPersistent, 50),
		Dests: []config.Dest{
			{Line: 11, DestConfig: dst("203.0.113.11", 80, vs.DirectRoute, 3), Checks: []config.Check{tcp(13)}},
			{Line: 17, DestConfig: dst("203.0.113.12", 80, vs.DirectRoute, 1), Checks: []config.Check{tcp(19)}},
		},
	})
	same(t, parseFile(t, "seed_dr_wrr.conf"), want)
}

func TestSampleHTTPAndSorry(t *testing.T) {
	const name = "public/keepalived.conf.sample"
	want := kaConf(name, nil,
		config.Service{
			Line: 28, Name: "10.10.10.2:1358", Quorum: 1,
			ServiceConfig: svc(vs.TCP, "10.10.10.2", 1358, "rr", vs.SvcPersistent, 50),
			Sorry:         &config.Dest{Line: 35, DestConfig: dst("192.168.200.200", 1358, vs.Masq, 1)},
			Dests: []config.Dest{{
				Line: 37, DestConfig: dst("192.168.200.2", 1358, vs.Masq, 1),
				Checks: []config.Check{{
					Line: 39, Kind: config.CheckHTTP, Interval: 6 * time.Second, Timeout: 3 * time.Second,
					Retry: 3, DelayBeforeRetry: 3 * time.Second, Rise: 1, Warmup: 6 * time.Second,
					URLs: []config.URLCheck{{Path: "/testurl3/test.jsp", Digest: "640205b7b0fc66c1ea91c463fac6334d"}},
				}},
			}},
		})
	want.VRRP = []config.VRRPInstance{{
		Line: 15, Name: "VI_1", Interface: "eth0", VRID: 50, Priority: 100, AdvertInt: time.Second,
		Version: 2, Accept: true,
		VIPs: []config.VRRPAddress{
			{Line: 22, Prefix: netip.MustParsePrefix("192.168.200.11/32")},
			{Line: 23, Prefix: netip.MustParsePrefix("192.168.200.12/32")},
			{Line: 24, Prefix: netip.MustParsePrefix("192.168.200.13/32")},
		},
	}}
	same(t, parseFile(t, name), want)
}

func TestSampleQuorum(t *testing.T) {
	const name = "public/keepalived.conf.quorum"
	s := config.Service{
		Line: 25, Name: "10.0.1.1:80",
		ServiceConfig: svc(vs.TCP, "10.0.1.1", 80, "wrr", vs.SvcPersistent, 900),
		Quorum:        7, Hysteresis: 2, Alpha: true, Omega: true,
		QuorumUp: "/usr/local/sbin/quorum-up.sh", QuorumDown: "/usr/local/sbin/quorum-down.sh",
	}
	for i := 0; i < 10; i++ {
		line := 38 + 7*i
		s.Dests = append(s.Dests, config.Dest{
			Line: line, DestConfig: dst(fmt.Sprintf("10.0.0.%d", i+1), 8080, vs.Masq, 1), Alpha: true,
			Checks: []config.Check{{Line: line + 2, Kind: config.CheckTCP, Target: port(80),
				Interval: 6 * time.Second, Timeout: 3 * time.Second, Retry: 1, DelayBeforeRetry: time.Second,
				Rise: 1, Warmup: 6 * time.Second}},
		})
	}
	same(t, parseFile(t, name), kaConf(name, nil, s))
}

func TestSampleSMTPHosts(t *testing.T) {
	const name = "public/keepalived.conf.SMTP_CHECK"
	smtp := func(line int, target netip.AddrPort, bind string, timeout time.Duration) config.Check {
		c := config.Check{Line: line, Kind: config.CheckSMTP, Target: target, Interval: 60 * time.Second,
			Timeout: timeout, Retry: 2, DelayBeforeRetry: 5 * time.Second, Rise: 1, Warmup: 60 * time.Second,
			HELO: "foo.bar.com"}
		if bind != "" {
			c.BindTo = ip(bind)
		}
		return c
	}
	// SMTP_CHECK has a connect_timeout of its own, so it is checked as
	// well as each host; a host's connect_timeout defaults to the real
	// server's, not to SMTP_CHECK's.
	ap := netip.MustParseAddrPort
	want := kaConf(name, nil, config.Service{
		Line: 27, Name: "192.168.200.100:25", Quorum: 1,
		ServiceConfig: svc(vs.TCP, "192.168.200.100", 25, "rr", 0, 0),
		Dests: []config.Dest{
			{Line: 39, DestConfig: dst("172.16.1.10", 25, vs.Masq, 1), Checks: []config.Check{smtp(41, netip.AddrPort{}, "", 30*time.Second)}},
			{Line: 58, DestConfig: dst("172.16.1.11", 25, vs.Masq, 1), Checks: []config.Check{
				smtp(60, netip.AddrPort{}, "", 10*time.Second),
				smtp(66, ap("172.16.1.11:25"), "", 5*time.Second),
				smtp(70, ap("192.168.155.10:25"), "", 5*time.Second),
				smtp(74, ap("64.233.167.99:25"), "", 5*time.Second),
			}},
			{Line: 89, DestConfig: dst("172.16.1.12", 25, vs.Masq, 1), Checks: []config.Check{
				smtp(91, netip.AddrPort{}, "", 10*time.Second),
				smtp(97, ap("172.16.1.12:25"), "172.16.1.2", 5*time.Second),
				smtp(103, ap("192.168.155.11:25"), "192.168.155.2", 5*time.Second),
				smtp(109, ap("64.233.167.100:587"), "", 5*time.Second),
			}},
		},
	})
	same(t, parseFile(t, name), want)
}

func TestSampleVirtualServerGroup(t *testing.T) {
	const name = "public/keepalived.conf.virtual_server_group"
	http := func(line int) config.Check {
		return config.Check{Line: line, Kind: config.CheckHTTP, Interval: 6 * time.Second, Timeout: 3 * time.Second,
			Retry: 3, DelayBeforeRetry: 3 * time.Second, Rise: 1, Warmup: 6 * time.Second,
			URLs: []config.URLCheck{{Path: "/testurl3/test.jsp", Digest: "640205b7b0fc66c1ea91c463fac6334d"}}}
	}
	dests := []config.Dest{
		{Line: 31, DestConfig: dst("192.168.200.1", 1358, vs.Masq, 1), Checks: []config.Check{http(33)}},
		{Line: 44, DestConfig: dst("192.168.200.2", 1358, vs.Masq, 1), Checks: []config.Check{http(46)}},
	}
	var svcs []config.Service
	add := func(sc ctl.ServiceConfig) {
		svcs = append(svcs, config.Service{Line: 24, Name: "VSG_1", Quorum: 1, ServiceConfig: sc, Dests: dests})
	}
	add(svc(vs.TCP, "10.0.0.1", 8080, "rr", vs.SvcPersistent, 50))
	add(svc(vs.TCP, "10.0.0.2", 80, "rr", vs.SvcPersistent, 50))
	add(svc(vs.TCP, "192.168.200.1", 1358, "rr", vs.SvcPersistent, 50))
	for i := 3; i <= 10; i++ {
		add(svc(vs.TCP, fmt.Sprintf("192.168.200.%d", i), 80, "rr", vs.SvcPersistent, 50))
	}
	for _, m := range []uint32{1, 2} {
		add(ctl.ServiceConfig{ServiceID: ctl.ServiceID{FwMark: m}, Scheduler: "rr", Flags: vs.SvcPersistent, Timeout: 50, Netmask: 0xffffffff})
	}
	same(t, parseFile(t, name), kaConf(name, nil, svcs...))
}

func TestSampleFwmark(t *testing.T) {
	const name = "public/keepalived.conf.fwmark"
	tcp := func(line int) config.Check {
		return config.Check{Line: line, Kind: config.CheckTCP, Target: port(80), Interval: 6 * time.Second,
			Timeout: 3 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Rise: 1, Warmup: 6 * time.Second}
	}
	want := kaConf(name, []string{warn(name, 14, "protocol is ignored for a firewall-mark virtual server")},
		config.Service{
			Line: 9, Name: "fwmark 1", Quorum: 1,
			ServiceConfig: ctl.ServiceConfig{ServiceID: ctl.ServiceID{FwMark: 1}, Scheduler: "rr",
				Flags: vs.SvcPersistent, Timeout: 900, Netmask: 0xffffffff},
			Dests: []config.Dest{
				// NAT real servers of a fwmark service keep port 0: the
				// kernel forwards to the packet's port.
				{Line: 16, DestConfig: dst("192.168.201.100", 0, vs.Masq, 1), Checks: []config.Check{tcp(18)}},
				{Line: 24, DestConfig: dst("192.168.201.101", 0, vs.Masq, 1), Checks: []config.Check{tcp(26)}},
			},
		})
	same(t, parseFile(t, name), want)
}

func TestSampleIPv6(t *testing.T) {
	const name = "public/keepalived.conf.IPv6"
	want := kaConf(name, nil, config.Service{
		Line: 15, Name: "[ae00::1]:80", Quorum: 1,
		ServiceConfig: svc(vs.TCP, "ae00::1", 80, "rr", vs.SvcPersistent, 50),
		Dests: []config.Dest{{
			Line: 23, DestConfig: dst("ae00::10", 25, vs.Masq, 1),
			Checks: []config.Check{{Line: 26, Kind: config.CheckSMTP, Interval: 6 * time.Second, Timeout: 3 * time.Second,
				Retry: 3, DelayBeforeRetry: time.Second, Rise: 1, Warmup: 6 * time.Second, HELO: "foo.bar.com"}},
		}},
	})
	same(t, parseFile(t, name), want)
}

func TestSampleMiscCheckArg(t *testing.T) {
	const name = "public/keepalived.conf.misc_check_arg"
	want := kaConf(name, nil, config.Service{
		Line: 15, Name: "10.10.10.2:1358", Quorum: 1,
		ServiceConfig: svc(vs.TCP, "10.10.10.2", 1358, "rr", vs.SvcPersistent, 50),
		Dests: []config.Dest{{
			Line: 22, DestConfig: dst("192.168.200.6", 1358, vs.Masq, 1),
			// MISC_CHECK: retry 0, and the virtual server's delay_loop as
			// the script's timeout.
			Checks: []config.Check{{Line: 24, Kind: config.CheckMisc, Interval: 6 * time.Second, Timeout: 6 * time.Second,
				Retry: 0, DelayBeforeRetry: time.Second, Rise: 1, Warmup: 6 * time.Second,
				Command: "/usr/local/bin/script.sh arg1 arg2"}},
		}},
	})
	same(t, parseFile(t, name), want)
}

// TestManParameterSubstitution reads the man page's nested multi-line
// definition example: two virtual servers of three real servers each.
func TestManParameterSubstitution(t *testing.T) {
	const name = "public/man_parameter_substitution_fixed.conf"
	dir, err := filepath.Abs(filepath.Join("testdata", "public"))
	if err != nil {
		t.Fatal(err)
	}
	var svcs []config.Service
	for n := 0; n < 2; n++ {
		vip := fmt.Sprintf("10.0.%d.4", n)
		s := config.Service{
			Line: 35 + 4*n, Name: vip + ":80", Quorum: 2,
			ServiceConfig: svc(vs.UDP, vip, 80, "wlc", 0, 0),
			QuorumUp:      fmt.Sprintf("%s/scripts/notify.sh 'VS_notify.${INST}' UP %s:80", dir, vip),
			QuorumDown:    fmt.Sprintf("%s/scripts/notify.sh 'VS_notify.${INST}' DOWN %s:80", dir, vip),
		}
		for r := 1; r <= 3; r++ {
			rip := fmt.Sprintf("192.168.%d.%d", n, r)
			misc := func(k int) config.Check {
				return config.Check{Line: 35 + 4*n, Kind: config.CheckMisc, Interval: 60 * time.Second,
					Timeout: 60 * time.Second, DelayBeforeRetry: time.Second, Rise: 1, Warmup: 60 * time.Second,
					Command: fmt.Sprintf("%s/scripts/vs.sh 'RS_misc.${INST}.%d.%d.%d' '%s:80->%s:80'", dir, n, r, k, vip, rip)}
			}
			s.Dests = append(s.Dests, config.Dest{
				Line: 35 + 4*n, DestConfig: dst(rip, 80, vs.Masq, 1), Inhibit: true,
				NotifyUp:   fmt.Sprintf("%s/scripts/notify.sh 'RS_notify.${INST}.%d.%d' UP '%s:80->%s:80'", dir, n, r, vip, rip),
				NotifyDown: fmt.Sprintf("%s/scripts/notify.sh 'RS_notify.${INST}.%d.%d' DOWN '%s:80->%s:80'", dir, n, r, vip, rip),
				Checks:     []config.Check{misc(0), misc(1)},
			})
		}
		svcs = append(svcs, s)
	}
	// Parser warnings (once per line) come first.
	warnings := []string{
		warn(name, 35, "smtp_alert ignored: gdirector sends no mail"),
		warn(name, 39, "smtp_alert ignored: gdirector sends no mail"),
	}
	for _, line := range []int{35, 39} {
		warnings = append(warnings,
			warn(name, line, "virtual_server has no protocol: UDP, as keepalived defaults (the kernel's default)"),
			warn(name, line, "virtual_server has no lvs_method: NAT, as keepalived defaults"))
	}
	got := parseFile(t, name)
	same(t, got, kaConf(name, warnings, svcs...))
}

func TestFullNATDPVS(t *testing.T) {
	const name = "fnat_dpvs.conf"
	laddrs := []config.LocalAddr{{Addr: ip("198.51.100.200"), Iface: "eth1"},
		{Addr: ip("198.51.100.201"), Iface: "eth1"}, {Addr: ip("198.51.100.202"), Iface: "eth1"}}
	var svcs []config.Service
	for _, vip := range []string{"192.0.2.20", "192.0.2.21"} {
		svcs = append(svcs, config.Service{
			Line: 15, Name: "web-v4", Quorum: 1, LAddrs: laddrs,
			ServiceConfig: svc(vs.TCP, vip, 80, "rr", 0, 0),
			Dests: []config.Dest{{Line: 22, DestConfig: dst("203.0.113.30", 8080, vs.FullNAT, 100), Inhibit: true,
				Checks: []config.Check{{Line: 25, Kind: config.CheckTCP, Interval: 3 * time.Second, Timeout: time.Second,
					Retry: 1, DelayBeforeRetry: time.Second, Rise: 1, Warmup: 3 * time.Second}}}},
		})
	}
	same(t, parseFile(t, name), kaConf(name, nil, svcs...))
}

func TestIncludes(t *testing.T) {
	const name = "include/keepalived.conf"
	// Lines of included services are lines of their own files, which
	// File names.
	web := filepath.Join("testdata", "include", "conf.d", "10-web.conf")
	dns := filepath.Join("testdata", "include", "services", "dns.conf")
	smtp := filepath.Join("testdata", "include", "services", "smtp.conf")
	want := kaConf(name, nil,
		config.Service{
			Line: 1, File: web, Name: "192.0.2.30:80", Quorum: 1,
			ServiceConfig: svc(vs.TCP, "192.0.2.30", 80, "sh", vs.SvcSchedFlag1|vs.SvcSchedFlag2, 0),
			Dests: []config.Dest{{Line: 7, File: web, DestConfig: dst("203.0.113.41", 80, vs.DirectRoute, 1),
				Checks: []config.Check{{Line: 8, File: web, Kind: config.CheckHTTP, Interval: 60 * time.Second, Timeout: 5 * time.Second,
					Retry: 1, DelayBeforeRetry: 3 * time.Second, Rise: 1, Warmup: 60 * time.Second,
					URLs: []config.URLCheck{{Path: "/healthz", Status: []int{200, 204}}}}}}},
		},
		config.Service{
			Line: 1, File: dns, Name: "192.0.2.30:53", Quorum: 1,
			ServiceConfig: svc(vs.UDP, "192.0.2.30", 53, "rr", vs.SvcOnePacket, 0),
			Dests: []config.Dest{{Line: 6, File: dns, DestConfig: dst("203.0.113.53", 53, vs.Masq, 1),
				Checks: []config.Check{{Line: 7, File: dns, Kind: config.CheckDNS, Interval: 60 * time.Second, Timeout: 5 * time.Second,
					Retry: 3, DelayBeforeRetry: 60 * time.Second, Rise: 1, Warmup: 60 * time.Second,
					DNSType: "A", DNSName: "example.com"}}}},
		},
		config.Service{
			Line: 1, File: smtp, Name: "192.0.2.30:25", Quorum: 1,
			ServiceConfig: svc(vs.TCP, "192.0.2.30", 25, "wlc", 0, 0),
			Dests: []config.Dest{{Line: 4, File: smtp, DestConfig: dst("203.0.113.25", 25, vs.Masq, 1),
				Checks: []config.Check{{Line: 5, File: smtp, Kind: config.CheckSMTP, Interval: 60 * time.Second, Timeout: 5 * time.Second,
					Retry: 1, DelayBeforeRetry: time.Second, Rise: 1, Warmup: 60 * time.Second, HELO: "mx.example.com"}}}},
		},
	)
	want.Timeouts = &config.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}
	got := parseFile(t, name)
	same(t, got, want)

	// Errors found after parsing name the included file.
	bad := *got
	bad.Services = slices.Clone(got.Services)
	bad.Services[1].Dests = slices.Clone(got.Services[1].Dests)
	bad.Services[1].Dests[0].Weight = -1
	if err := config.Validate(&bad, nil); err == nil || !strings.HasPrefix(err.Error(), dns+":6: real server 203.0.113.53:53: ") {
		t.Errorf("Validate: %v, want an error at %s:6", err, dns)
	}
	bad.Services = slices.Clone(got.Services)
	bad.Services[2] = got.Services[0]
	if err := config.Validate(&bad, nil); err == nil || !strings.HasPrefix(err.Error(), web+":1: service 192.0.2.30:80: Service already exists") {
		t.Errorf("Validate: %v, want an error at %s:1", err, web)
	}
}

// TestPublicSamples parses every file of testdata/public: all must parse
// (except those that keepalived itself cannot read as intended) into a
// configuration config.Validate accepts.
func TestPublicSamples(t *testing.T) {
	failing := map[string]string{
		"keepalived.conf.conditional_conf": "keepalived.conf.conditional_conf:5: conditional configuration (@ID at the start of a line) is not supported",
		"keepalived.conf.SSL_GET":          "keepalived.conf.SSL_GET:22: auth_type AH (IPsec authentication header) is not supported",
		// An empty line ends a multi-line definition: the example's
		// $RS stops after its first MISC_CHECK, as in keepalived.
		"man_parameter_substitution.conf": "man_parameter_substitution.conf:13: MISC_CHECK belongs in a real_server block, not in the top level",
		// Its vrrp_sync_group lists the instances without a group
		// block: keepalived reports the unknown keywords and drops the
		// group, so the instances are not synchronised as intended.
		"keepalived.conf.vrrp.lvs_syncd": `keepalived.conf.vrrp.lvs_syncd:6: unknown keyword "VI_2" in vrrp_sync_group (the instances go in a group { } block)`,
	}
	services := map[string]int{
		"keepalived.conf.HTTP_GET.port": 1, "keepalived.conf.IPv6": 1, "keepalived.conf.PING_CHECK": 1,
		"keepalived.conf.SMTP_CHECK": 1, "keepalived.conf.SSL_GET": 2, "keepalived.conf.UDP_CHECK": 1,
		"keepalived.conf.fwmark": 1, "keepalived.conf.inhibit": 1, "keepalived.conf.installed": 3,
		"keepalived.conf.misc_check": 1, "keepalived.conf.misc_check_arg": 1, "keepalived.conf.quorum": 1,
		"keepalived.conf.sample": 1, "keepalived.conf.status_code": 1, "keepalived.conf.virtual_server_group": 13,
		"keepalived.conf.virtualhost": 1, "keepalived.conf.vrrp": 0, "keepalived.conf.vrrp.lvs_syncd": 1,
		"man_parameter_substitution_fixed.conf": 2,
	}
	files, err := os.ReadDir(filepath.Join("testdata", "public"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(f.Name(), func(t *testing.T) {
			path := filepath.Join("testdata", "public", f.Name())
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data), "# source: https://") {
				t.Errorf("%s does not start with its source", f.Name())
			}
			c, err := Parse(path, data, nil)
			if want, ok := failing[f.Name()]; ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want one containing %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := config.Validate(c, nil); err != nil {
				t.Fatal(err)
			}
			n, ok := services[f.Name()]
			if !ok {
				t.Fatalf("no expectation for %s", f.Name())
			}
			if len(c.Services) != n {
				t.Fatalf("%d services, want %d", len(c.Services), n)
			}
		})
	}
}

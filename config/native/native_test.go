package native

import (
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

const examplePath = "../../docs/examples/gdirector.yaml"

// TestExample parses the documented example and checks it item by item,
// then validates it on a scratch Manager.
func TestExample(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(examplePath, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := config.Validate(c, nil); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	if got, want := c.Summarize(), (config.Summary{Services: 7, RealServers: 12, Checks: 14, SorryServers: 1, LocalAddrs: 2, Marks: 1}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	if c.Format != config.FormatNative || c.Path != examplePath {
		t.Errorf("format %v path %q", c.Format, c.Path)
	}
	if want := (config.Timeouts{TCP: 15 * time.Minute, TCPFin: 2 * time.Minute, UDP: 5 * time.Minute}); c.Timeouts == nil || *c.Timeouts != want {
		t.Errorf("timeouts %+v", c.Timeouts)
	}
	wantMark := vs.MarkRule{Dst: netip.MustParseAddr("192.0.2.20"), Proto: vs.TCP, Ports: []vs.PortRange{{Lo: 80, Hi: 80}, {Lo: 443, Hi: 443}}, Mark: 1}
	if len(c.Marks) != 1 || !c.Marks[0].Equal(&wantMark) {
		t.Errorf("marks %v", c.Marks)
	}
	byName := map[string]*config.Service{}
	for i := range c.Services {
		byName[c.Services[i].Name] = &c.Services[i]
	}
	web := byName["web"]
	if web == nil || web.Scheduler != "wrr" || web.Line != 39 || len(web.Dests) != 2 || !web.Alpha || web.Omega ||
		web.QuorumUp != `logger -t gdirector "web is up"` || web.Quorum != 1 {
		t.Fatalf("web: %+v", web)
	}
	rs1, rs2 := web.Dests[0], web.Dests[1]
	if rs1.Weight != 3 || rs1.Fwd != vs.Masq || !rs1.Inhibit || rs1.Port != 80 || len(rs1.Checks) != 1 || rs1.NotifyDown == "" {
		t.Errorf("web rs1: %+v", rs1)
	}
	// The merged check of the anchor.
	want := config.Check{Line: 27, Kind: config.CheckHTTP, Interval: 2 * time.Second, Timeout: time.Second, Retry: 2,
		DelayBeforeRetry: 500 * time.Millisecond, Rise: 1, URLs: []config.URLCheck{{Path: "/health", Status: []int{200, 204}}}}
	if !reflect.DeepEqual(rs1.Checks[0], want) {
		t.Errorf("web rs1 check:\n%+v\nwant\n%+v", rs1.Checks[0], want)
	}
	if rs2.UThreshold != 1000 || rs2.LThreshold != 800 || len(rs2.Checks) != 2 || rs2.Checks[1].Target.Port() != 8080 ||
		rs2.Checks[1].VirtualHost != "www.example.test" || len(rs2.Checks[1].URLs) != 2 ||
		!reflect.DeepEqual(rs2.Checks[1].URLs[1], config.URLCheck{Path: "/version", Substring: "release", Regexp: `v[0-9]+\.[0-9]+`, Digest: "9e107d9d372bb6826bd81d3542a419d6"}) {
		t.Errorf("web rs2: %+v", rs2)
	}
	if web.Sorry == nil || web.Sorry.DestConfig != (ctl.DestConfig{Addr: netip.MustParseAddr("203.0.113.99"), Port: 80, Fwd: vs.Masq, Weight: 1}) {
		t.Errorf("web sorry server %+v", web.Sorry)
	}
	shop := byName["shop"]
	if shop.Flags != vs.SvcPersistent|vs.SvcSchedFlag1|vs.SvcSchedFlag2 || shop.Timeout != 600 || shop.Netmask != 0xffffff00 ||
		shop.Dests[0].Port != 443 || shop.Dests[0].Fwd != vs.DirectRoute || shop.Dests[0].Checks[0].SNI != "shop.example.test" {
		t.Errorf("shop: %+v", shop)
	}
	dns := byName["dns"]
	if dns.Proto != vs.UDP || dns.Flags != vs.SvcOnePacket || dns.Dests[1].Checks[0].DNSType != "A" || dns.Dests[0].Checks[0].DNSAnswer != `^203\.0\.113\.` {
		t.Errorf("dns: %+v", dns)
	}
	if p := byName["syslog"].Dests[0].Checks[0].Payload; string(p) != "<14>gdirector health check" {
		t.Errorf("udp payload %q", p)
	}
	misc := byName["mail"].Dests[0].Checks[1]
	if misc.Kind != config.CheckMisc || !misc.Dynamic || misc.User != "nobody" || misc.Rise != 2 || misc.Warmup != 2*time.Second {
		t.Errorf("misc check %+v", misc)
	}
	marked := byName["marked"]
	if marked.FwMark != 1 || marked.IPv6 || marked.Addr.IsValid() || marked.Flags != vs.SvcSchedFlag2 ||
		!reflect.DeepEqual(marked.LAddrs, []config.LocalAddr{{Addr: netip.MustParseAddr("203.0.113.250")}, {Addr: netip.MustParseAddr("203.0.113.251"), Iface: "eth1"}}) ||
		marked.Dests[1].Checks == nil || len(marked.Dests[1].Checks) != 0 {
		t.Errorf("marked: %+v", marked)
	}
	v6 := byName["v6"]
	if v6.Netmask != 64 || v6.Timeout != ctl.DefaultPersistTimeout || !v6.Omega || v6.Dests[0].Checks[0].Kind != config.CheckOn ||
		v6.Dests[1].Checks[0].Kind != config.CheckOff || v6.Dests[1].Weight != 0 {
		t.Errorf("v6: %+v", v6)
	}
}

// base is a minimal service; key tests add lines to it.
const base = `services:
  - vip: 192.0.2.10
    port: 80
    method: nat
    real_servers:
      - address: 203.0.113.11
`

// withService adds service-level lines to base.
func withService(lines string) string {
	return strings.Replace(base, "    method: nat\n", "    method: nat\n"+indent(lines, 4), 1)
}

// withDest adds lines to base's real server.
func withDest(lines string) string { return base + indent(lines, 8) }

// withCheck gives base's real server one check made of lines.
func withCheck(lines string) string {
	return base + "        checks:\n          - " + strings.TrimLeft(indent(lines, 12), " ")
}

func indent(s string, n int) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(strings.Repeat(" ", n) + l)
		}
	}
	return b.String()
}

func svc0(c *config.Config) *config.Service { return &c.Services[0] }
func dest0(c *config.Config) *config.Dest   { return &c.Services[0].Dests[0] }
func check0(c *config.Config) *config.Check { return &c.Services[0].Dests[0].Checks[0] }

func addrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func addr(s string) netip.Addr         { return netip.MustParseAddr(s) }

// TestKeys covers every key: each case's text parses, and get reads
// what the key set.
func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		get  func(*config.Config) any
		want any
	}{
		// Top level.
		{"timeouts", "timeouts:\n  tcp: 900\n  tcp_fin: 2m\n  udp: 30s\n" + base,
			func(c *config.Config) any { return *c.Timeouts }, config.Timeouts{TCP: 900 * time.Second, TCPFin: 2 * time.Minute, UDP: 30 * time.Second}},
		{"timeouts partial", "timeouts:\n  udp: 1h\n" + base,
			func(c *config.Config) any { return *c.Timeouts }, config.Timeouts{UDP: time.Hour}},
		{"no timeouts", base, func(c *config.Config) any { return c.Timeouts == nil }, true},
		{"empty services", "services: []\n", func(c *config.Config) any { return len(c.Services) }, 0},
		{"null services", "services:\n", func(c *config.Config) any { return len(c.Services) }, 0},
		{"x- keys ignored", "x-anything: {a: 1}\n" + base, func(c *config.Config) any { return len(c.Services) }, 1},
		{"mark all", "marks:\n  - dst: 192.0.2.20\n    src: 198.51.100.0/24\n    proto: udp\n    ports: \"53,5000:5010\"\n    mark: 0x10\n" + base,
			func(c *config.Config) any { return c.Marks[0].String() }, "-d 192.0.2.20 -s 198.51.100.0/24 -p udp --dports 53,5000:5010 --set-mark 16"},
		{"mark src address", "marks:\n  - {dst: 192.0.2.20, src: 198.51.100.7, mark: 2, ports: [\"80-81\"]}\n" + base,
			func(c *config.Config) any { return c.Marks[0].String() }, "-d 192.0.2.20 -s 198.51.100.7/32 --dports 80:81 --set-mark 2"},
		{"mark ipv6", "marks:\n  - {dst: \"2001:db8::20\", src: \"2001:db8:5::/48\", mark: 3}\n" + base,
			func(c *config.Config) any { return c.Marks[0].String() }, "-d 2001:db8::20 -s 2001:db8:5::/48 --set-mark 3"},

		// Service identity.
		{"service defaults", base, func(c *config.Config) any { return svc0(c).ServiceConfig },
			ctl.ServiceConfig{ServiceID: ctl.ServiceID{Proto: vs.TCP, Addr: addr("192.0.2.10"), Port: 80}, Scheduler: "wlc", Netmask: 0xffffffff}},
		{"service name default", base, func(c *config.Config) any { return svc0(c).Name }, "tcp/192.0.2.10:80"},
		{"name", withService("name: web\n"), func(c *config.Config) any { return svc0(c).Name }, "web"},
		{"proto udp", withService("proto: udp\n"), func(c *config.Config) any { return svc0(c).Proto }, vs.UDP},
		{"proto sctp", withService("proto: SCTP\n"), func(c *config.Config) any { return svc0(c).Proto }, vs.SCTP},
		{"ipv6 vip", strings.Replace(strings.Replace(base, "192.0.2.10", "\"2001:db8::10\"", 1), "203.0.113.11", "2001:db8:1::11", 1),
			func(c *config.Config) any { return []any{svc0(c).Addr, svc0(c).Netmask, svc0(c).Name} }, []any{addr("2001:db8::10"), uint32(128), "tcp/[2001:db8::10]:80"}},
		{"port 0", strings.Replace(withService("persistent: true\n"), "port: 80", "port: 0", 1), func(c *config.Config) any { return []any{svc0(c).Port, dest0(c).Port} }, []any{uint16(0), uint16(0)}},
		{"fwmark", "services:\n  - fwmark: 7\n    method: dr\n    real_servers:\n      - address: 203.0.113.11\n",
			func(c *config.Config) any {
				return []any{svc0(c).ServiceID, svc0(c).Name, dest0(c).Port, svc0(c).Netmask}
			},
			[]any{ctl.ServiceID{FwMark: 7}, "fwmark 7", uint16(0), uint32(0xffffffff)}},
		{"fwmark ipv6", "services:\n  - {fwmark: 0x7, family: ipv6, method: dr, real_servers: [{address: \"2001:db8:1::11\", port: 80}]}\n",
			func(c *config.Config) any { return []any{svc0(c).ServiceID, svc0(c).Netmask, dest0(c).Port} },
			[]any{ctl.ServiceID{FwMark: 7, IPv6: true}, uint32(128), uint16(80)}},
		{"family ipv4", "services:\n  - {fwmark: 1, family: ipv4, method: dr}\n",
			func(c *config.Config) any { return svc0(c).IPv6 }, false},

		// Scheduling and persistence.
		{"scheduler", withService("scheduler: rr\n"), func(c *config.Config) any { return svc0(c).Scheduler }, "rr"},
		{"scheduler_flags list", withService("scheduler: sh\nscheduler_flags: [sh-fallback, sh-port]\n"),
			func(c *config.Config) any { return svc0(c).Flags }, vs.SvcSchedFlag1 | vs.SvcSchedFlag2},
		{"scheduler_flags string", withService("scheduler: mh\nscheduler_flags: \"mh-port, flag-3\"\n"),
			func(c *config.Config) any { return svc0(c).Flags }, vs.SvcSchedFlag2 | vs.SvcSchedFlag3},
		{"scheduler_flags generic", withService("scheduler_flags: flag-1\n"), func(c *config.Config) any { return svc0(c).Flags }, vs.SvcSchedFlag1},
		{"persistent true", withService("persistent: yes\n"), func(c *config.Config) any { return []uint32{svc0(c).Flags, svc0(c).Timeout} }, []uint32{vs.SvcPersistent, 360}},
		{"persistent false", withService("persistent: false\n"), func(c *config.Config) any { return []uint32{svc0(c).Flags, svc0(c).Timeout} }, []uint32{0, 0}},
		{"persistent duration", withService("persistent: 1h\n"), func(c *config.Config) any { return []uint32{svc0(c).Flags, svc0(c).Timeout} }, []uint32{vs.SvcPersistent, 3600}},
		{"persistent seconds", withService("persistent: 45\n"), func(c *config.Config) any { return svc0(c).Timeout }, uint32(45)},
		{"netmask dotted", withService("netmask: 255.255.0.0\n"), func(c *config.Config) any { return svc0(c).Netmask }, uint32(0xffff0000)},
		{"netmask prefix", withService("netmask: 24\n"), func(c *config.Config) any { return svc0(c).Netmask }, uint32(0xffffff00)},
		{"netmask /0", withService("netmask: /0\n"), func(c *config.Config) any { return svc0(c).Netmask }, uint32(0)},
		{"pe", withService("pe: sip\n"), func(c *config.Config) any { return svc0(c).PE }, "sip"},
		{"one_packet", withService("proto: udp\none_packet: on\n"), func(c *config.Config) any { return svc0(c).Flags }, vs.SvcOnePacket},
		{"laddrs", withService("laddrs: [203.0.113.250, {address: 203.0.113.251, iface: eth1}]\n"),
			func(c *config.Config) any { return svc0(c).LAddrs },
			[]config.LocalAddr{{Addr: addr("203.0.113.250")}, {Addr: addr("203.0.113.251"), Iface: "eth1"}}},

		// Real servers and their defaults.
		{"dest defaults", base, func(c *config.Config) any { return *dest0(c) },
			config.Dest{Line: 6, DestConfig: ctl.DestConfig{Addr: addr("203.0.113.11"), Port: 80, Fwd: vs.Masq, Weight: 1}}},
		{"dest port", withDest("port: 8080\n"), func(c *config.Config) any { return dest0(c).Port }, uint16(8080)},
		{"dest method dr", withDest("method: dr\n"), func(c *config.Config) any { return dest0(c).Fwd }, vs.DirectRoute},
		{"dest method gate", withDest("method: gate\n"), func(c *config.Config) any { return dest0(c).Fwd }, vs.DirectRoute},
		{"dest method route", withDest("method: route\n"), func(c *config.Config) any { return dest0(c).Fwd }, vs.DirectRoute},
		{"dest method tun", withDest("method: tun\n"), func(c *config.Config) any { return dest0(c).Fwd }, vs.Tunnel},
		{"dest method ipip", withDest("method: ipip\n"), func(c *config.Config) any { return dest0(c).Fwd }, vs.Tunnel},
		{"dest method fullnat", withDest("method: FullNAT\n"), func(c *config.Config) any { return dest0(c).Fwd }, vs.FullNAT},
		{"dest method masq", withDest("method: masq\n"), func(c *config.Config) any { return dest0(c).Fwd }, vs.Masq},
		{"service method", strings.Replace(base, "method: nat", "method: tun", 1), func(c *config.Config) any { return dest0(c).Fwd }, vs.Tunnel},
		{"weight", withDest("weight: 65535\n"), func(c *config.Config) any { return dest0(c).Weight }, int32(65535)},
		{"weight 0", withDest("weight: 0\n"), func(c *config.Config) any { return dest0(c).Weight }, int32(0)},
		{"thresholds", withDest("upper_threshold: 100\nlower_threshold: 50\n"),
			func(c *config.Config) any { return []uint32{dest0(c).UThreshold, dest0(c).LThreshold} }, []uint32{100, 50}},
		{"inhibit", withDest("inhibit: true\n"), func(c *config.Config) any { return dest0(c).Inhibit }, true},
		{"service inhibit", withService("inhibit: true\n"), func(c *config.Config) any { return dest0(c).Inhibit }, true},
		{"dest overrides inhibit", withService("inhibit: true\n") + indent("inhibit: false\n", 8), func(c *config.Config) any { return dest0(c).Inhibit }, false},
		{"notify", withDest("notify_up: /bin/up 1\nnotify_down: /bin/down 1\n"),
			func(c *config.Config) any { return []string{dest0(c).NotifyUp, dest0(c).NotifyDown} }, []string{"/bin/up 1", "/bin/down 1"}},
		{"no checks", base, func(c *config.Config) any { return dest0(c).Checks == nil }, true},
		{"empty checks", withDest("checks: []\n"), func(c *config.Config) any { return []any{dest0(c).Checks != nil, len(dest0(c).Checks)} }, []any{true, 0}},
		{"service checks", withService("checks: [{type: tcp}]\n"), func(c *config.Config) any { return check0(c).Kind }, config.CheckTCP},
		{"dest checks override", withService("checks: [{type: tcp}]\n") + indent("checks: [{type: ping}]\n", 8),
			func(c *config.Config) any { return check0(c).Kind }, config.CheckPing},

		// Reactions.
		{"sorry mapping", withService("sorry_server: {address: 203.0.113.99, port: 8080, method: dr, weight: 2}\n"),
			func(c *config.Config) any { return svc0(c).Sorry.DestConfig }, ctl.DestConfig{Addr: addr("203.0.113.99"), Port: 8080, Fwd: vs.DirectRoute, Weight: 2}},
		{"sorry address", withService("sorry_server: 203.0.113.99\n"),
			func(c *config.Config) any { return svc0(c).Sorry.DestConfig }, ctl.DestConfig{Addr: addr("203.0.113.99"), Port: 80, Fwd: vs.Masq, Weight: 1}},
		{"sorry address:port", withService("sorry_server: 203.0.113.99:81\n"),
			func(c *config.Config) any { return svc0(c).Sorry.Port }, uint16(81)},
		{"sorry ipv6", strings.Replace(strings.Replace(base, "192.0.2.10", "\"2001:db8::10\"", 1), "203.0.113.11", "2001:db8:1::11", 1) + "    sorry_server: \"[2001:db8:1::99]:81\"\n",
			func(c *config.Config) any { return svc0(c).Sorry.DestConfig.Addr }, addr("2001:db8:1::99")},
		{"sorry_inhibit", withService("sorry_inhibit: true\n"), func(c *config.Config) any { return svc0(c).SorryInhibit }, true},
		{"quorum default", base, func(c *config.Config) any { return []int{svc0(c).Quorum, svc0(c).Hysteresis} }, []int{1, 0}},
		{"quorum", withService("quorum: 3\nhysteresis: 1\n"), func(c *config.Config) any { return []int{svc0(c).Quorum, svc0(c).Hysteresis} }, []int{3, 1}},
		{"quorum commands", withService("quorum_up: up.sh\nquorum_down: down.sh\n"),
			func(c *config.Config) any { return []string{svc0(c).QuorumUp, svc0(c).QuorumDown} }, []string{"up.sh", "down.sh"}},
		{"alpha omega", withService("alpha: true\nomega: true\n"), func(c *config.Config) any { return []bool{svc0(c).Alpha, svc0(c).Omega} }, []bool{true, true}},

		// Checks.
		{"check defaults", withCheck("type: tcp\n"), func(c *config.Config) any { return *check0(c) },
			config.Check{Line: 8, Kind: config.CheckTCP, Interval: 5 * time.Second, Timeout: 3 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, Rise: 1}},
		{"check timing", withCheck("type: tcp\ninterval: 1\ntimeout: 250ms\nretry: 0\ndelay_before_retry: 0\nrise: 3\nwarmup: 1m\n"),
			func(c *config.Config) any {
				k := check0(c)
				return []any{k.Interval, k.Timeout, k.Retry, k.DelayBeforeRetry, k.Rise, k.Warmup}
			}, []any{time.Second, 250 * time.Millisecond, 0, time.Duration(0), 3, time.Minute}},
		{"check target", withCheck("type: tcp\naddress: 203.0.113.50\nport: 8080\nbind_to: 203.0.113.1\n"),
			func(c *config.Config) any { return []any{check0(c).Target, check0(c).BindTo} }, []any{addrPort("203.0.113.50:8080"), addr("203.0.113.1")}},
		{"check port only", withCheck("type: tcp\nport: 8080\n"),
			func(c *config.Config) any { return []any{check0(c).Target.Addr().IsValid(), check0(c).Target.Port()} }, []any{false, uint16(8080)}},
		{"check address only", withCheck("type: tcp\naddress: 203.0.113.50\n"),
			func(c *config.Config) any { return check0(c).Target }, netip.AddrPortFrom(addr("203.0.113.50"), 0)},
		{"http default url", withCheck("type: http\n"), func(c *config.Config) any { return check0(c).URLs }, []config.URLCheck{{Path: "/"}}},
		{"http urls", withCheck("type: http\nvirtual_host: www.example.test\nurls:\n  - /a\n  - path: /b\n    status: [200, \"301-302\", \"404,410\"]\n    digest: 9E107D9D372BB6826BD81D3542A419D6\n    contains: ok\n    regexp: \"^ok$\"\n"),
			func(c *config.Config) any { return []any{check0(c).VirtualHost, check0(c).URLs} },
			[]any{"www.example.test", []config.URLCheck{{Path: "/a"}, {Path: "/b", Status: []int{200, 301, 302, 404, 410}, Digest: "9e107d9d372bb6826bd81d3542a419d6", Substring: "ok", Regexp: "^ok$"}}}},
		{"http status one", withCheck("type: http\nurls: [{path: /, status: 204}]\n"), func(c *config.Config) any { return check0(c).URLs[0].Status }, []int{204}},
		{"https", withCheck("type: https\nsni: www.example.test\nverify_tls: true\n"),
			func(c *config.Config) any { return []any{check0(c).Kind, check0(c).SNI, check0(c).VerifyTLS} }, []any{config.CheckHTTPS, "www.example.test", true}},
		{"udp payload", withCheck("type: udp\npayload: ping\nrequire_reply: true\n"),
			func(c *config.Config) any { return []any{string(check0(c).Payload), check0(c).RequireReply} }, []any{"ping", true}},
		{"udp payload_hex", withCheck("type: udp\npayload_hex: \"00 ff 10\"\n"), func(c *config.Config) any { return check0(c).Payload }, []byte{0, 0xff, 0x10}},
		{"udp no payload", withCheck("type: udp\n"), func(c *config.Config) any { return check0(c).Payload == nil }, true},
		{"ping", withCheck("type: ping\naddress: 203.0.113.50\n"),
			func(c *config.Config) any { return []any{check0(c).Kind, check0(c).Target.Addr()} }, []any{config.CheckPing, addr("203.0.113.50")}},
		{"dns defaults", withCheck("type: dns\n"),
			func(c *config.Config) any { return []string{check0(c).DNSType, check0(c).DNSName, check0(c).DNSAnswer} }, []string{"SOA", ".", ""}},
		{"dns", withCheck("type: dns\ndns_type: aaaa\ndns_name: www.example.test\ndns_answer: \"^2001:db8:\"\n"),
			func(c *config.Config) any { return []string{check0(c).DNSType, check0(c).DNSName, check0(c).DNSAnswer} }, []string{"AAAA", "www.example.test", "^2001:db8:"}},
		{"smtp", withCheck("type: smtp\nhelo: director.example.test\n"), func(c *config.Config) any { return check0(c).HELO }, "director.example.test"},
		{"smtp default helo", withCheck("type: smtp\n"), func(c *config.Config) any { return check0(c).HELO }, ""},
		{"misc", withCheck("type: misc\ncommand: /bin/check 1\ndynamic: true\nuser: nobody\n"),
			func(c *config.Config) any { return []any{check0(c).Command, check0(c).Dynamic, check0(c).User} }, []any{"/bin/check 1", true, "nobody"}},
		{"on", withCheck("type: \"on\"\n"), func(c *config.Config) any { return *check0(c) }, config.Check{Line: 8, Kind: config.CheckOn}},
		{"off", withCheck("type: off\n"), func(c *config.Config) any { return check0(c).Kind }, config.CheckOff},

		// YAML features.
		{"anchor and alias", "x-c: &c [{type: tcp, interval: 2s}]\n" + withDest("checks: *c\n"),
			func(c *config.Config) any { return check0(c).Interval }, 2 * time.Second},
		{"merge keys", "x-d: &d {weight: 7, inhibit: true}\n" + withDest("<<: *d\nweight: 8\n"),
			func(c *config.Config) any { return []any{dest0(c).Weight, dest0(c).Inhibit} }, []any{int32(8), true}},
		{"merge list", "x-a: &a {weight: 7}\nx-b: &b {weight: 9, inhibit: true}\n" + withDest("<<: [*a, *b]\n"),
			func(c *config.Config) any { return []any{dest0(c).Weight, dest0(c).Inhibit} }, []any{int32(7), true}},
		{"flow style", `{"services": [{"vip": "192.0.2.10", "port": 80, "method": "nat", "real_servers": [{"address": "203.0.113.11"}]}]}`,
			func(c *config.Config) any { return dest0(c).Addr }, addr("203.0.113.11")},
		{"document marker", "---\n" + base, func(c *config.Config) any { return len(c.Services) }, 1},
		{"quoted numbers", withDest("weight: \"5\"\nport: '81'\n"), func(c *config.Config) any { return []any{dest0(c).Weight, dest0(c).Port} }, []any{int32(5), uint16(81)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.text))
			if err != nil {
				t.Fatalf("%v\n%s", err, tc.text)
			}
			if got := tc.get(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v\n%s", got, tc.want, tc.text)
			}
		})
	}
}

// TestErrors: every kind of mistake is refused with the file, the line and
// a message saying what is wrong.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		line int // 0: the message has no line
		want string
	}{
		// Documents.
		{"empty", "", 0, "empty configuration"},
		{"comments only", "# nothing\n", 0, "empty configuration"},
		{"null document", "~\n", 1, "empty configuration"},
		{"syntax", "services:\n  - vip: [\n", 2, "YAML syntax"},
		{"tab", "services:\n\t- vip: 1\n", 2, "YAML syntax"},
		{"two documents", base + "---\nservices: []\n", 7, "a second YAML document"},
		{"not a mapping", "- a\n- b\n", 1, "the configuration must be a mapping"},
		{"no services", "timeouts: {tcp: 1}\n", 1, "no services: key"},
		{"unknown top key", "servics: []\n", 1, `unknown key "servics" in the configuration (did you mean "services"?)`},
		{"repeated top key", "services: []\nservices: []\n", 2, `key "services" repeated in the configuration (first at line 1)`},
		{"services not a list", "services: {vip: 1}\n", 1, "services: want a list"},
		{"bad alias", "services: *nowhere\n", 0, "YAML syntax: unknown anchor"},
		{"non-scalar key", "services: []\n[a]: 1\n", 2, "a key must be a plain word"},
		{"bad merge", "x-a: &a 5\nservices:\n  - <<: *a\n", 3, "a merge key (<<) takes a mapping"},

		// Timeouts and marks.
		{"timeouts not a mapping", "timeouts: 5\n" + base, 1, "timeouts must be a mapping"},
		{"timeouts unknown", "timeouts: {tpc: 1}\n" + base, 1, `unknown key "tpc" in timeouts (did you mean "tcp"?)`},
		{"timeout fraction", "timeouts:\n  tcp: 1.5s\n" + base, 2, "tcp: want whole seconds"},
		{"timeout too big", "timeouts:\n  udp: 9999999\n" + base, 2, "udp: want whole seconds 0..8589934"},
		{"timeout negative", "timeouts:\n  udp: -5s\n" + base, 2, "udp: want whole seconds"},
		{"mark no dst", "marks:\n  - mark: 1\n" + base, 2, "a mark rule needs dst:"},
		{"mark 0", "marks:\n  - {dst: 192.0.2.1, mark: 0}\n" + base, 2, "mark: want a whole number 1..4294967295"},
		{"mark bad src", "marks:\n  - {dst: 192.0.2.1, src: 2001:db8::/32, mark: 1}\n" + base, 2, "src: want an address or network"},
		{"mark bad proto", "marks:\n  - {dst: 192.0.2.1, proto: icmp, mark: 1}\n" + base, 2, "proto: want one of tcp, udp, sctp"},
		{"mark bad port", "marks:\n  - {dst: 192.0.2.1, ports: [0], mark: 1}\n" + base, 2, "ports: want a port 1..65535"},
		{"mark bad range", "marks:\n  - {dst: 192.0.2.1, ports: \"90:80\", mark: 1}\n" + base, 2, "ports: want a port 1..65535 or a range"},
		{"mark ports mapping", "marks:\n  - dst: 192.0.2.1\n    mark: 1\n    ports: [{a: 1}]\n" + base, 4, "ports: want ports and ranges"},

		// Services.
		{"service not a mapping", "services:\n  - 192.0.2.1\n", 2, "service must be a mapping"},
		{"service no vip", "services:\n  - {port: 80, method: nat}\n", 2, "a service needs vip: and port:"},
		{"service no port", "services:\n  - {vip: 192.0.2.1, method: nat}\n", 2, "a service needs port: too"},
		{"service both", "services:\n  - {vip: 192.0.2.1, port: 80, fwmark: 1}\n", 2, "either fwmark: or proto:/vip:/port:"},
		{"family with vip", withService("family: ipv6\n"), 5, "family: only a fwmark service"},
		{"bad family", "services:\n  - {fwmark: 1, family: ipx}\n", 2, "family: want one of ipv4, ipv6"},
		{"bad vip", strings.Replace(base, "192.0.2.10", "192.0.2.300", 1), 2, `vip: want an IPv4 or IPv6 address, got "192.0.2.300"`},
		{"vip zone", strings.Replace(base, "192.0.2.10", "\"fe80::1%eth0\"", 1), 2, "vip: want an IPv4 or IPv6 address"},
		{"bad port", strings.Replace(base, "port: 80", "port: 65536", 1), 3, "port: want a whole number 0..65535"},
		{"port text", strings.Replace(base, "port: 80", "port: http", 1), 3, `port: want a whole number 0..65535, got "http"`},
		{"port 0 not persistent", strings.Replace(base, "port: 80", "port: 0", 1), 3, "port: 0 (every port) is for persistent services only"},
		{"port list", strings.Replace(base, "port: 80", "port: [80]", 1), 3, "port: want a value, got a list"},
		{"port null", strings.Replace(base, "port: 80", "port:", 1), 3, "port: want a value, got nothing"},
		{"bad proto", withService("proto: icmp\n"), 5, `proto: want one of tcp, udp, sctp, got "icmp"`},
		{"unknown service key", withService("schedular: rr\n"), 5, `unknown key "schedular" in service (did you mean "scheduler"?)`},
		{"unknown far key", withService("frobnicate: 1\n"), 5, `unknown key "frobnicate" in service (known keys: name, proto, vip`},
		{"repeated service key", withService("port: 81\n"), 5, `key "port" repeated in service (first at line 3)`},
		{"repeated service", base + "  - {vip: 192.0.2.10, port: 80, method: dr}\n", 7, "service tcp/192.0.2.10:80 repeated (first at line 2)"},
		{"bad scheduler", withService("scheduler: fastest\n"), 5, `scheduler: unknown scheduler "fastest"`},
		{"bad sched flag", withService("scheduler_flags: [sh-nope]\n"), 5, `scheduler_flags: unknown flag "sh-nope"`},
		{"sched flag needs sh", withService("scheduler_flags: sh-port\n"), 5, "scheduler_flags: sh-port needs scheduler sh, not wlc"},
		{"sched flag mapping", withService("scheduler_flags: [{a: b}]\n"), 5, "scheduler_flags: want flag names"},
		{"persistent 0", withService("persistent: 0\n"), 5, "persistent: want true, false or a timeout"},
		{"persistent huge", withService("persistent: 745h\n"), 5, "persistent: want true, false or a timeout"},
		{"persistent text", withService("persistent: sometimes\n"), 5, "persistent: want true, false or a timeout"},
		{"netmask holes", withService("netmask: 255.0.255.0\n"), 5, "netmask: want a mask (255.255.255.0) or a prefix length 0..32"},
		{"netmask 33", withService("netmask: 33\n"), 5, "netmask: want a mask"},
		{"netmask v6 mask", strings.Replace(strings.Replace(base, "192.0.2.10", "\"2001:db8::10\"", 1), "203.0.113.11", "2001:db8:1::11", 1) + "    netmask: 255.255.255.0\n", 7, "netmask: want a prefix length 1..128 for an IPv6 service"},
		{"one_packet text", withService("one_packet: maybe\n"), 5, `one_packet: want true or false, got "maybe"`},
		{"laddr bad", withService("laddrs: [nowhere]\n"), 5, "laddrs: want an address"},
		{"laddr no address", withService("laddrs: [{iface: eth0}]\n"), 5, "a local address needs address:"},
		{"laddr unknown key", withService("laddrs: [{address: 203.0.113.1, dev: eth0}]\n"), 5, `unknown key "dev" in local address`},
		{"service bad method", strings.Replace(base, "method: nat", "method: magic", 1), 4, `method: want one of nat, masq, dr, route, gate, tun, ipip, fullnat, got "magic"`},
		{"no method", strings.Replace(base, "    method: nat\n", "", 1), 5, "real server 203.0.113.11 has no forwarding method"},
		{"quorum negative", withService("quorum: -1\n"), 5, "quorum: want a whole number 0..2147483647"},
		{"hysteresis text", withService("hysteresis: lots\n"), 5, "hysteresis: want a whole number"},
		{"alpha text", withService("alpha: 2\n"), 5, "alpha: want true or false"},
		{"quorum_up list", withService("quorum_up: [a]\n"), 5, "quorum_up: want a value, got a list"},

		// Real servers.
		{"dests repeated key", withService("real_servers: 203.0.113.1\n"), 6, "key \"real_servers\" repeated"},
		{"dests not a list", "services:\n  - {vip: 192.0.2.10, port: 80, method: nat, real_servers: 203.0.113.1}\n", 2, "real_servers: want a list"},
		{"dest not a mapping", "services:\n  - vip: 192.0.2.10\n    port: 80\n    method: nat\n    real_servers: [203.0.113.1]\n", 5, "real server must be a mapping"},
		{"dest no address", "services:\n  - vip: 192.0.2.10\n    port: 80\n    method: nat\n    real_servers:\n      - weight: 1\n", 6, "a real server needs address:"},
		{"dest bad address", strings.Replace(base, "203.0.113.11", "rs1.example", 1), 6, `address: want an IPv4 or IPv6 address, got "rs1.example"`},
		{"dest repeated", base + "      - address: 203.0.113.11\n        port: 80\n", 7, "real server 203.0.113.11:80 repeated (first at line 6)"},
		{"weight too big", withDest("weight: 65536\n"), 7, "weight: want a whole number 0..65535"},
		{"weight negative", withDest("weight: -1\n"), 7, "weight: want a whole number 0..65535"},
		{"threshold too big", withDest("upper_threshold: 2147483648\n"), 7, "upper_threshold: want a whole number 0..2147483647"},
		{"dest bad method", withDest("method: nat64\n"), 7, "method: want one of"},
		{"dest unknown key", withDest("adress: 203.0.113.12\n"), 7, `unknown key "adress" in real server (did you mean "address"?)`},
		{"dest inhibit text", withDest("inhibit: sure\n"), 7, "inhibit: want true or false"},
		{"sorry bad", withService("sorry_server: nowhere:80\n"), 5, "sorry_server: want ADDRESS, ADDRESS:PORT"},
		{"sorry no method", "services:\n  - {vip: 192.0.2.10, port: 80, sorry_server: 203.0.113.99}\n", 2, "sorry_server: no forwarding method"},
		{"sorry unknown key", withService("sorry_server: {address: 203.0.113.99, checks: []}\n"), 5, `unknown key "checks" in sorry server`},
		{"sorry no address", withService("sorry_server: {port: 80}\n"), 5, "a sorry server needs address:"},

		// Checks.
		{"checks not a list", withDest("checks: {type: tcp}\n"), 7, "checks: want a list"},
		{"check not a mapping", withDest("checks: [tcp]\n"), 7, "check must be a mapping"},
		{"check no type", withCheck("interval: 1s\n"), 8, "a check needs type:"},
		{"check bad type", withCheck("type: icmp\n"), 8, `type: want one of tcp, http, https, udp, ping, dns, smtp, misc, on, off, got "icmp"`},
		{"check unknown key", withCheck("type: tcp\nintervall: 1s\n"), 9, `unknown key "intervall" in check (did you mean "interval"?)`},
		{"check foreign key", withCheck("type: tcp\nurls: [/]\n"), 9, `key "urls" does not apply to a tcp check`},
		{"ping port", withCheck("type: ping\nport: 80\n"), 9, `key "port" does not apply to a ping check`},
		{"on interval", withCheck("type: on\ninterval: 1s\n"), 9, `key "interval" does not apply to a on check`},
		{"misc address", withCheck("type: misc\ncommand: x\naddress: 203.0.113.1\n"), 10, `key "address" does not apply to a misc check`},
		{"interval text", withCheck("type: tcp\ninterval: soon\n"), 9, `interval: want a duration 10ms..24h0m0s ("5s", "1m30s", or whole seconds), got "soon"`},
		{"interval 0", withCheck("type: tcp\ninterval: 0\n"), 9, "interval: want a duration 10ms.."},
		{"interval negative", withCheck("type: tcp\ninterval: -1s\n"), 9, "interval: want a duration"},
		{"timeout too long", withCheck("type: tcp\ntimeout: 2h\n"), 9, "timeout: want a duration 10ms..1h0m0s"},
		{"retry too many", withCheck("type: tcp\nretry: 101\n"), 9, "retry: want a whole number 0..100"},
		{"rise 0", withCheck("type: tcp\nrise: 0\n"), 9, "rise: want a whole number 1..100"},
		{"check port 0", withCheck("type: tcp\nport: 0\n"), 9, "port: want a whole number 1..65535"},
		{"check bad bind", withCheck("type: tcp\nbind_to: here\n"), 9, "bind_to: want an IPv4 or IPv6 address"},
		{"urls empty", withCheck("type: http\nurls: []\n"), 9, "urls: empty"},
		{"url no slash", withCheck("type: http\nurls: [health]\n"), 9, `urls: a path starts with /, got "health"`},
		{"url no path", withCheck("type: http\nurls: [{status: 200}]\n"), 9, "a URL needs path:"},
		{"url path spaces", withCheck("type: http\nurls: [{path: \"/a b\"}]\n"), 9, "path: want a path starting with / and without spaces"},
		{"url unknown key", withCheck("type: http\nurls: [{path: /, code: 200}]\n"), 9, `unknown key "code" in URL`},
		{"status 600", withCheck("type: http\nurls: [{path: /, status: 600}]\n"), 9, "status: want HTTP status codes 100..599"},
		{"status backwards", withCheck("type: http\nurls: [{path: /, status: \"299-200\"}]\n"), 9, "status: want HTTP status codes"},
		{"status text", withCheck("type: http\nurls: [{path: /, status: ok}]\n"), 9, "status: want HTTP status codes"},
		{"status empty", withCheck("type: http\nurls: [{path: /, status: []}]\n"), 9, "status: empty"},
		{"digest short", withCheck("type: http\nurls: [{path: /, digest: abc}]\n"), 9, "digest: want the 32 hex digits of an MD5 sum"},
		{"regexp bad", withCheck("type: http\nurls: [{path: /, regexp: \"(\"}]\n"), 9, "regexp: error parsing regexp"},
		{"verify_tls http", withCheck("type: http\nverify_tls: true\n"), 9, `key "verify_tls" does not apply to a http check`},
		{"payload both", withCheck("type: udp\npayload: a\npayload_hex: \"61\"\n"), 10, "a check takes payload: or payload_hex:, not both"},
		{"payload_hex bad", withCheck("type: udp\npayload_hex: xyz\n"), 9, "payload_hex: want hexadecimal bytes"},
		{"payload too long", withCheck("type: udp\npayload: " + strings.Repeat("a", 65508) + "\n"), 9, "payload: 65508 bytes, more than one UDP datagram carries (65507)"},
		{"dns type", withCheck("type: dns\ndns_type: ANY\n"), 9, `dns_type: want one of A, AAAA`},
		{"dns name long", withCheck("type: dns\ndns_name: " + strings.Repeat("a", 254) + "\n"), 9, "dns_name: want a domain name"},
		{"dns answer bad", withCheck("type: dns\ndns_answer: \"[\"\n"), 9, "dns_answer: error parsing regexp"},
		{"misc no command", withCheck("type: misc\n"), 8, "a misc check needs command:"},
		{"misc blank command", withCheck("type: misc\ncommand: \"  \"\n"), 9, "command: empty"},
		{"dynamic text", withCheck("type: misc\ncommand: x\ndynamic: 3\n"), 10, "dynamic: want true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.text))
			if err == nil {
				t.Fatalf("accepted: %+v\n%s", c, tc.text)
			}
			if c != nil {
				t.Errorf("a Config came back with the error")
			}
			prefix := "t.yaml: "
			if tc.line > 0 {
				prefix = "t.yaml:" + itoa(tc.line) + ": "
			}
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q\nwant prefix %q and %q\n%s", msg, prefix, tc.want, tc.text)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestNoPath: without a path errors still name the line.
func TestNoPath(t *testing.T) {
	_, err := Parse("", []byte(withDest("weight: x\n")))
	if err == nil || err.Error() != `line 7: weight: want a whole number 0..65535, got "x"` {
		t.Fatalf("%v", err)
	}
}

// TestAliasBomb: aliases that expand beyond the node budget are refused
// quickly instead of being walked.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-0: &a0 {weight: 1}\n")
	for i := 1; i <= 12; i++ {
		b.WriteString("x-" + itoa(i) + ": &a" + itoa(i) + " {<<: [")
		for j := 0; j < 8; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + itoa(i-1))
		}
		b.WriteString("]}\n")
	}
	// A real server merging 8^12 copies of {weight: 1}.
	text := b.String() + withDest("<<: *a12\n")
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(text))
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("got %v", err)
	}
	t.Logf("%v after %v", err, time.Since(start))
	// The same with a few levels is fine.
	b.Reset()
	b.WriteString("x-0: &a0 {weight: 1}\nx-1: &a1 {<<: [*a0, *a0]}\nx-2: &a2 {<<: [*a1, *a1]}\n")
	c, err := Parse("ok.yaml", []byte(b.String()+withDest("<<: *a2\n")))
	if err != nil || c.Services[0].Dests[0].Weight != 1 {
		t.Fatalf("%v", err)
	}
}

// TestChecksNotShared: real servers that take their service's checks get
// copies, so changing one does not change another.
func TestChecksNotShared(t *testing.T) {
	c, err := Parse("", []byte(withService("checks: [{type: http, urls: [/a]}]\n")+"      - address: 203.0.113.12\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := &c.Services[0].Dests[0], &c.Services[0].Dests[1]
	a.Checks[0].URLs[0].Path = "/changed"
	a.Checks[0].Interval = time.Hour
	if b.Checks[0].URLs[0].Path != "/a" || b.Checks[0].Interval != DefaultInterval {
		t.Fatalf("checks shared between real servers: %+v", b.Checks[0])
	}
}

// TestValidateNamesLines: what only a Manager refuses comes back with the
// line of the item from config.Validate.
func TestValidateNamesLines(t *testing.T) {
	for _, tc := range []struct {
		text string
		want string
	}{

		{withService("pe: sip\n"), "t.yaml:2: service tcp/192.0.2.10:80: Scheduler or persistence engine not found"},
		{strings.Replace(base, "203.0.113.11", "224.0.0.1", 1), "t.yaml:6: real server 224.0.0.1:80: Invalid operation"},
		{withDest("upper_threshold: 5\nlower_threshold: 10\n"), "t.yaml:6: real server 203.0.113.11:80: Numerical result out of range"},
		{withService("laddrs: [\"2001:db8::1\"]\n"), "t.yaml:2: service tcp/192.0.2.10:80: local address 2001:db8::1: Operation not supported with specified address family"},
		{withService("sorry_server: 224.0.0.2\n"), "t.yaml:5: sorry server 224.0.0.2:80: Invalid operation"},
	} {
		c, err := Parse("t.yaml", []byte(tc.text))
		if err != nil {
			t.Fatalf("%v\n%s", err, tc.text)
		}
		if err := config.Validate(c, nil); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want %q\n%s", err, tc.want, tc.text)
		}
	}
}

// TestDocumentedKeys: every key the parser takes has a row in
// docs/config.md.
func TestDocumentedKeys(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, l := range [][]string{topKeys, timeoutKeys, markKeys, serviceKeys, destKeys, allCheckKeys, urlKeys} {
		all = append(all, l...)
	}
	for _, k := range all {
		if k == extensionKeys {
			k = "x-…"
		}
		if !strings.Contains(string(doc), "\n| `"+k+"` |") {
			t.Errorf("key %q has no row in docs/config.md", k)
		}
	}
	for _, k := range append(append([]string{}, sorryKeys...), laddrKeys...) {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("key %q is not in docs/config.md", k)
		}
	}
	for _, name := range checkKindNames {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("check type %q is not in docs/config.md", name)
		}
	}
}

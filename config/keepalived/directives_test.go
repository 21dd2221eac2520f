package keepalived

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/vs"
)

// frame is a virtual server with one real server: VS and RS are replaced
// by the lines under test.
const frame = `virtual_server 192.0.2.10 80 {
    protocol TCP
    lb_kind NAT
VS
    real_server 203.0.113.11 80 {
RS
    }
}
`

func framed(vsLines, rsLines string) string {
	return strings.Replace(strings.Replace(frame, "VS", vsLines, 1), "RS", rsLines, 1)
}

// mustParse parses text, requiring success and a valid configuration.
func mustParse(t *testing.T, text string) *config.Config {
	t.Helper()
	c, err := Parse("t.conf", []byte(text), nil)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	if err := config.Validate(c, nil); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return c
}

func service0(c *config.Config) *config.Service { return &c.Services[0] }
func dest0(c *config.Config) *config.Dest       { return &c.Services[0].Dests[0] }
func check0(c *config.Config) *config.Check     { return &c.Services[0].Dests[0].Checks[0] }

type directiveCase struct {
	name   string
	vs, rs string // lines for frame; text, if set, replaces the frame
	text   string
	get    func(*config.Config) any
	want   any
}

func runDirectives(t *testing.T, cases []directiveCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.text
			if text == "" {
				text = framed(tc.vs, tc.rs)
			}
			got := tc.get(mustParse(t, text))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v\n%s", got, tc.want, text)
			}
		})
	}
}

func TestVirtualServerDirectives(t *testing.T) {
	sched := func(c *config.Config) any { return service0(c).Scheduler }
	flags := func(c *config.Config) any { return service0(c).Flags }
	persist := func(c *config.Config) any {
		s := service0(c)
		return [3]uint32{s.Flags & vs.SvcPersistent, s.Timeout, s.Netmask}
	}
	proto := func(c *config.Config) any { return service0(c).Proto }
	weight := func(c *config.Config) any { return dest0(c).Weight }
	fwdPort := func(c *config.Config) any { return [2]any{dest0(c).Fwd, dest0(c).Port} }
	warnings := func(c *config.Config) any { return c.Warnings }
	interval := func(c *config.Config) any { return check0(c).Interval }
	tcp := "        TCP_CHECK {\n        }"
	runDirectives(t, []directiveCase{
		{name: "default scheduler", get: sched, want: "wlc"},
		{name: "lb_algo", vs: "lb_algo rr", get: sched, want: "rr"},
		{name: "lvs_sched", vs: "lvs_sched twos", get: sched, want: "twos"},
		{name: "sh flags", vs: "sh-fallback\nlvs_sched sh\nsh-port", get: flags, want: vs.SvcSchedFlag1 | vs.SvcSchedFlag2},
		{name: "mh-port", vs: "lvs_sched mh\nmh-port", get: flags, want: vs.SvcSchedFlag2},
		{name: "flag-1..3", vs: "lb_algo wrr\nflag-1\nflag-2\nflag-3", get: flags, want: vs.SvcSchedFlag1 | vs.SvcSchedFlag2 | vs.SvcSchedFlag3},
		{name: "hashed has no effect", vs: "hashed", get: flags, want: uint32(0)},
		{name: "ops on UDP", vs: "protocol UDP\nops", get: flags, want: vs.SvcOnePacket},
		{name: "ops on TCP is cleared", vs: "ops", get: func(c *config.Config) any { return [2]any{service0(c).Flags, c.Warnings} },
			want: [2]any{uint32(0), []string{"t.conf:1: ops (one-packet scheduling) needs UDP: cleared, as keepalived does"}}},
		{name: "persistence_timeout without value", vs: "persistence_timeout", get: persist, want: [3]uint32{vs.SvcPersistent, 360, 0xffffffff}},
		{name: "persistence_timeout", vs: "persistence_timeout 50", get: persist, want: [3]uint32{vs.SvcPersistent, 50, 0xffffffff}},
		{name: "persistence_granularity makes persistent", vs: "persistence_granularity 255.255.255.0", get: persist, want: [3]uint32{vs.SvcPersistent, 360, 0xffffff00}},
		{name: "persistence_granularity IPv6", text: `virtual_server 2001:db8::10 443 {
    protocol TCP
    lb_kind DR
    persistence_timeout 600
    persistence_granularity 64
    real_server 2001:db8:1::11 443 {
    }
}`, get: persist, want: [3]uint32{vs.SvcPersistent, 600, 64}},
		{name: "protocol lower case", vs: "protocol udp", get: proto, want: vs.UDP},
		{name: "protocol SCTP", vs: "protocol SCTP", get: proto, want: vs.SCTP},
		{name: "no protocol is UDP", text: "virtual_server 192.0.2.10 53 {\nlb_kind NAT\nreal_server 203.0.113.11 53 {\n}\n}",
			get:  func(c *config.Config) any { return [2]any{service0(c).Proto, c.Warnings} },
			want: [2]any{vs.UDP, []string{"t.conf:1: virtual_server has no protocol: UDP, as keepalived defaults (the kernel's default)"}}},
		{name: "no port makes persistent", text: "virtual_server 192.0.2.10 {\nprotocol TCP\nlb_kind DR\nreal_server 203.0.113.11 {\n}\n}",
			get:  func(c *config.Config) any { return [3]any{service0(c).Timeout, dest0(c).Port, c.Warnings} },
			want: [3]any{uint32(360), uint16(0), []string{"t.conf:1: a service without a port must be persistent: persistence_timeout 360, as keepalived sets"}}},
		{name: "vs weight is the default", vs: "weight 7", get: weight, want: int32(7)},
		{name: "rs weight wins", vs: "weight 7", rs: "weight 0", get: weight, want: int32(0)},
		{name: "default weight", get: weight, want: int32(1)},
		{name: "lb_kind DR takes the service port", text: "virtual_server 192.0.2.10 80 {\nprotocol TCP\nlb_kind DR\nreal_server 203.0.113.11 8080 {\n}\n}",
			get:  func(c *config.Config) any { return [2]any{fwdPort(c), c.Warnings} },
			want: [2]any{[2]any{vs.DirectRoute, uint16(80)}, []string{"t.conf:4: port 8080 of DR/TUN real server 203.0.113.11 differs from the virtual server's 80: 80 is used, as keepalived does"}}},
		{name: "lvs_method TUN ipip nocsum", vs: "lvs_method TUN type ipip nocsum", get: fwdPort, want: [2]any{vs.Tunnel, uint16(80)}},
		{name: "lb_kind FNAT", vs: "lb_kind FNAT", get: fwdPort, want: [2]any{vs.FullNAT, uint16(80)}},
		{name: "rs lvs_method wins", vs: "lb_kind DR", rs: "lvs_method NAT", get: fwdPort, want: [2]any{vs.Masq, uint16(80)}},
		{name: "NAT real server without port", text: "virtual_server 192.0.2.10 80 {\nprotocol TCP\nlb_kind NAT\nreal_server 203.0.113.11 {\n}\n}",
			get: fwdPort, want: [2]any{vs.Masq, uint16(80)}},
		{name: "no lvs_method is NAT", text: "virtual_server 192.0.2.10 80 {\nprotocol TCP\nreal_server 203.0.113.11 80 {\n}\n}",
			get:  func(c *config.Config) any { return [2]any{dest0(c).Fwd, c.Warnings} },
			want: [2]any{vs.Masq, []string{"t.conf:1: virtual_server has no lvs_method: NAT, as keepalived defaults"}}},
		{name: "quorum and hysteresis", vs: "quorum 2\nhysteresis 1", rs: "weight 3",
			get: func(c *config.Config) any { return [2]int{service0(c).Quorum, service0(c).Hysteresis} }, want: [2]int{2, 1}},
		{name: "quorum above total weight", vs: "quorum 5", rs: "weight 2",
			get:  func(c *config.Config) any { return [2]any{service0(c).Quorum, c.Warnings} },
			want: [2]any{2, []string{"t.conf:1: quorum 5 is above the total weight 2 of the real servers: lowered to 2, as keepalived does"}}},
		{name: "hysteresis not below quorum", vs: "quorum 2\nhysteresis 2", rs: "weight 2",
			get:  func(c *config.Config) any { return [2]any{service0(c).Hysteresis, c.Warnings} },
			want: [2]any{1, []string{"t.conf:5: hysteresis 2 is not below quorum 2: lowered to 1, as keepalived does"}}},
		{name: "quorum scripts", vs: "quorum_up \"/usr/local/bin/up.sh 'a b' c\"\nquorum_down /bin/down",
			get:  func(c *config.Config) any { return [2]string{service0(c).QuorumUp, service0(c).QuorumDown} },
			want: [2]string{"/usr/local/bin/up.sh 'a b' c", "/bin/down"}},
		{name: "script escapes", vs: `quorum_up "/bin/x \x41\t\\ 'it''s' $HOME|y"`,
			get: func(c *config.Config) any { return service0(c).QuorumUp }, want: `/bin/x 'A	\' its '$HOME|y'`},
		{name: "alpha omega", vs: "alpha\nomega", rs: tcp,
			get: func(c *config.Config) any { return [3]bool{service0(c).Alpha, service0(c).Omega, dest0(c).Alpha} }, want: [3]bool{true, true, true}},
		{name: "alpha without checks", vs: "alpha",
			get: func(c *config.Config) any { return [2]bool{service0(c).Alpha, dest0(c).Alpha} }, want: [2]bool{true, false}},
		{name: "rs alpha off", vs: "alpha", rs: "alpha off\n" + tcp, get: func(c *config.Config) any { return dest0(c).Alpha }, want: false},
		{name: "checker alpha", rs: "TCP_CHECK {\nalpha\n}\nPING_CHECK {\n}", get: func(c *config.Config) any { return dest0(c).Alpha }, want: true},
		{name: "inhibit_on_failure", vs: "inhibit_on_failure", get: func(c *config.Config) any { return dest0(c).Inhibit }, want: true},
		{name: "rs inhibit_on_failure false", vs: "inhibit_on_failure", rs: "inhibit_on_failure false", get: func(c *config.Config) any { return dest0(c).Inhibit }, want: false},
		{name: "vs delay_loop", vs: "delay_loop 10", rs: tcp, get: func(c *config.Config) any { return [2]time.Duration{check0(c).Interval, check0(c).Warmup} },
			want: [2]time.Duration{10 * time.Second, 10 * time.Second}},
		{name: "fractional delay_loop", vs: "delay_loop 0.25", rs: tcp, get: interval, want: 250 * time.Millisecond},
		{name: "rs delay_loop wins", vs: "delay_loop 10", rs: "delay_loop 3\n" + tcp, get: interval, want: 3 * time.Second},
		{name: "checker delay_loop wins", vs: "delay_loop 10", rs: "delay_loop 3\nTCP_CHECK {\ndelay_loop 1.5\n}", get: interval, want: 1500 * time.Millisecond},
		{name: "inherited timings", vs: "connect_timeout 2.5\nretry 4\ndelay_before_retry 0.5\nwarmup 0", rs: tcp,
			get: func(c *config.Config) any {
				ck := check0(c)
				return []any{ck.Timeout, ck.Retry, ck.DelayBeforeRetry, ck.Warmup}
			},
			want: []any{2500 * time.Millisecond, 4, 500 * time.Millisecond, time.Duration(0)}},
		{name: "sorry_server", vs: "sorry_server 203.0.113.99",
			get:  func(c *config.Config) any { s := service0(c); return [2]any{*s.Sorry, s.SorryInhibit} },
			want: [2]any{config.Dest{Line: 4, DestConfig: dst("203.0.113.99", 80, vs.Masq, 1)}, false}},
		{name: "sorry_server inhibit and method", vs: "lb_kind DR\nsorry_server 203.0.113.99 8080\nsorry_server_inhibit\nsorry_server_lvs_method NAT", rs: "weight 5",
			get:  func(c *config.Config) any { s := service0(c); return [2]any{*s.Sorry, s.SorryInhibit} },
			want: [2]any{config.Dest{Line: 5, DestConfig: dst("203.0.113.99", 8080, vs.Masq, 1), Inhibit: true}, true}},
		{name: "fwmark with ip_family", text: "virtual_server fwmark 7 {\nip_family inet6\nlb_kind TUN\nreal_server 203.0.113.11 {\n}\n}",
			get: func(c *config.Config) any {
				s := service0(c)
				return [4]any{s.FwMark, s.IPv6, s.Netmask, dest0(c).Port}
			},
			want: [4]any{uint32(7), true, uint32(128), uint16(0)}},
		{name: "fwmark family from real servers", text: "virtual_server fwmark 7 {\nlb_kind DR\nreal_server 2001:db8::11 80 {\n}\n}",
			get:  func(c *config.Config) any { return [3]any{service0(c).IPv6, dest0(c).Port, c.Warnings} },
			want: [3]any{true, uint16(0), []string{"t.conf:3: the port of 2001:db8::11 is not used: a DR or TUN real server of a firewall-mark service takes the packet's port"}}},
		{name: "ignored with warnings", vs: "ha_suspend\nsmtp_alert\nsnmp_name web", get: warnings, want: []string{
			"t.conf:4: ha_suspend ignored: without VRRP the virtual address is always taken as present, so checks are never suspended",
			"t.conf:5: smtp_alert ignored: gdirector sends no mail"}},
		{name: "smtp_alert off is silent", vs: "smtp_alert off", get: warnings, want: []string(nil)},
		{name: "virtual server without real servers", text: "virtual_server 192.0.2.10 80 {\nprotocol TCP\n}\nvirtual_server 192.0.2.11 80 {\nprotocol TCP\nlb_kind DR\nreal_server 203.0.113.1 80 {\n}\n}",
			get:  func(c *config.Config) any { return [2]any{len(c.Services), c.Warnings} },
			want: [2]any{1, []string{"t.conf:1: virtual_server has no real_server: ignored, as keepalived does"}}},
		{name: "local addresses by family", text: `local_address_group g {
    198.51.100.7 eth1
    2001:db8:7::7
}
virtual_server 2001:db8::10 80 {
    protocol TCP
    lvs_method FNAT
    laddr_group_name g
    real_server 2001:db8:1::1 8080 {
    }
}`, get: func(c *config.Config) any { return service0(c).LAddrs }, want: []config.LocalAddr{{Addr: ip("2001:db8:7::7")}}},
	})
}

func TestRealServerDirectives(t *testing.T) {
	runDirectives(t, []directiveCase{
		{name: "thresholds", rs: "uthreshold 100\nlthreshold 10",
			get: func(c *config.Config) any { return [2]uint32{dest0(c).UThreshold, dest0(c).LThreshold} }, want: [2]uint32{100, 10}},
		{name: "notify scripts", rs: "notify_up /etc/keepalived/up.sh\nnotify_down \"/etc/keepalived/down.sh 203.0.113.11\"",
			get:  func(c *config.Config) any { return [2]string{dest0(c).NotifyUp, dest0(c).NotifyDown} },
			want: [2]string{"/etc/keepalived/up.sh", "/etc/keepalived/down.sh 203.0.113.11"}},
		{name: "rs retry", vs: "retry 3", rs: "retry 2\nTCP_CHECK {\n}", get: func(c *config.Config) any { return check0(c).Retry }, want: 2},
		{name: "checker retry 0", rs: "retry 2\nTCP_CHECK {\nretry 0\n}", get: func(c *config.Config) any { return check0(c).Retry }, want: 0},
		{name: "rs virtualhost", vs: "virtualhost vs.example", rs: "virtualhost rs.example\nHTTP_GET {\nurl {\npath /\n}\n}",
			get: func(c *config.Config) any { return check0(c).VirtualHost }, want: "rs.example"},
		{name: "several checkers", rs: "TCP_CHECK {\n}\nPING_CHECK {\n}\nMISC_CHECK {\nmisc_path /bin/true\n}",
			get: func(c *config.Config) any {
				var k []config.CheckKind
				for _, ck := range dest0(c).Checks {
					k = append(k, ck.Kind)
				}
				return k
			}, want: []config.CheckKind{config.CheckTCP, config.CheckPing, config.CheckMisc}},
		{name: "snmp_name and smtp_alert off", rs: "snmp_name rs1\nsmtp_alert no", get: func(c *config.Config) any { return c.Warnings }, want: []string(nil)},
	})
}

func TestCheckerDirectives(t *testing.T) {
	check := func(body string) string { return body }
	ck := func(f func(*config.Check) any) func(*config.Config) any {
		return func(c *config.Config) any { return f(check0(c)) }
	}
	timing := func(k *config.Check) any {
		return []any{k.Interval, k.Timeout, k.Retry, k.DelayBeforeRetry, k.Warmup, k.Rise}
	}
	runDirectives(t, []directiveCase{
		{name: "TCP_CHECK defaults", rs: check("TCP_CHECK {\n}"), get: ck(timing),
			want: []any{60 * time.Second, 5 * time.Second, 1, time.Second, 60 * time.Second, 1}},
		{name: "HTTP_GET defaults", rs: "HTTP_GET {\nurl {\npath /\n}\n}", get: ck(timing),
			want: []any{60 * time.Second, 5 * time.Second, 1, 3 * time.Second, 60 * time.Second, 1}},
		{name: "DNS_CHECK defaults", rs: "DNS_CHECK {\ndelay_loop 7\n}", get: ck(func(k *config.Check) any { return []any{k.Retry, k.DelayBeforeRetry, k.DNSType, k.DNSName} }),
			want: []any{3, 7 * time.Second, "SOA", "."}},
		{name: "MISC_CHECK defaults", vs: "delay_loop 9", rs: "MISC_CHECK {\nmisc_path /bin/true\ndelay_loop 2\n}", get: ck(timing),
			want: []any{2 * time.Second, 9 * time.Second, 0, time.Second, 2 * time.Second, 1}},
		{name: "connect_ip and connect_port", rs: "TCP_CHECK {\nconnect_ip 203.0.113.99\nconnect_port 8081\nbindto 203.0.113.1\n}",
			get:  ck(func(k *config.Check) any { return [2]any{k.Target, k.BindTo} }),
			want: [2]any{netip.MustParseAddrPort("203.0.113.99:8081"), ip("203.0.113.1")}},
		{name: "connect_port alone", rs: "TCP_CHECK {\nconnect_port 8081\n}", get: ck(func(k *config.Check) any { return k.Target }), want: port(8081)},
		{name: "connect_port of the real server", rs: "TCP_CHECK {\nconnect_port 80\n}", get: ck(func(k *config.Check) any { return k.Target }), want: netip.AddrPort{}},
		{name: "connect_timeout", rs: "TCP_CHECK {\nconnect_timeout 0.000001\n}", get: ck(func(k *config.Check) any { return k.Timeout }), want: time.Microsecond},
		{name: "warmup and delay_before_retry", rs: "UDP_CHECK {\nwarmup 2\ndelay_before_retry 0\n}",
			get: ck(func(k *config.Check) any { return [2]time.Duration{k.Warmup, k.DelayBeforeRetry} }), want: [2]time.Duration{2 * time.Second, 0}},
		{name: "HTTP urls", rs: `HTTP_GET {
    nb_get_retry 5
    virtualhost www.example.com
    http_protocol 1.1
    fast_recovery
    log_all_failures on
    url {
        path /a
        status_code 200-202 204 404
        digest 9B3A0C85A887A256D6939DA88AABD8CD
    }
    url {
        path /b
        virtualhost other.example.com
        regex "^OK [0-9]+$"
        regex_options caseless multiline
    }
}`, get: ck(func(k *config.Check) any { return []any{k.Retry, k.VirtualHost, k.URLs} }),
			want: []any{5, "www.example.com", []config.URLCheck{
				{Path: "/a", Status: []int{200, 201, 202, 204, 404}, Digest: "9b3a0c85a887a256d6939da88aabd8cd"},
				{Path: "/b", Regexp: "(?im)^OK [0-9]+$", VirtualHost: "other.example.com"},
			}}},
		{name: "HTTP virtualhost from the virtual server", vs: "virtualhost vs.example", rs: "HTTP_GET {\nurl {\npath /\n}\n}",
			get: ck(func(k *config.Check) any { return k.VirtualHost }), want: "vs.example"},
		{name: "SSL_GET SNI from virtualhost", rs: "SSL_GET {\nenable_sni\nvirtualhost www.example.com\ntls_compliant\nurl {\npath /\ntls_compliant off\n}\n}",
			get: ck(func(k *config.Check) any { return [3]any{k.Kind, k.SNI, k.VerifyTLS} }), want: [3]any{config.CheckHTTPS, "www.example.com", false}},
		{name: "SSL_GET sni_name", rs: "SSL_GET {\nsni_name tls.example.com\nvirtualhost www.example.com\nurl {\npath /\n}\n}",
			get: ck(func(k *config.Check) any { return k.SNI }), want: "tls.example.com"},
		{name: "SSL_GET without SNI", rs: "SSL_GET {\nvirtualhost www.example.com\nurl {\npath /\n}\n}",
			get: ck(func(k *config.Check) any { return k.SNI }), want: ""},
		{name: "UDP payload and reply", rs: "UDP_CHECK {\npayload Ab12f 3\nrequire_reply 01 xA 5\nmin_reply_length 2\nmax_reply_length 512\n}",
			get: ck(func(k *config.Check) any {
				return []any{k.Payload, k.RequireReply, k.Reply, k.ReplyMask, k.MinReplyLen, k.MaxReplyLen}
			}),
			want: []any{[]byte{0xab, 0x12, 0x0f, 0x03}, true, []byte{0x01, 0x0a, 0x05}, []byte{0xff, 0x0f, 0xff}, 2, 512}},
		{name: "UDP require_reply alone", rs: "UDP_CHECK {\nrequire_reply\n}",
			get: ck(func(k *config.Check) any {
				return []any{k.RequireReply, k.Reply, k.ReplyMask, k.MinReplyLen, k.MaxReplyLen}
			}),
			want: []any{true, []byte(nil), []byte(nil), 0, 255}},
		{name: "PING_CHECK ignores the port", rs: "PING_CHECK {\nconnect_port 99\nretry 4\n}", get: ck(func(k *config.Check) any { return [2]any{k.Target, k.Retry} }),
			want: [2]any{netip.AddrPort{}, 4}},
		{name: "PING_CHECK connect_ip", rs: "PING_CHECK {\nconnect_ip 203.0.113.5\n}", get: ck(func(k *config.Check) any { return k.Target }),
			want: netip.AddrPortFrom(ip("203.0.113.5"), 0)},
		{name: "DNS_CHECK type and name", rs: "DNS_CHECK {\ntype aaaa\nname www.example.com\n}",
			get: ck(func(k *config.Check) any { return [2]string{k.DNSType, k.DNSName} }), want: [2]string{"AAAA", "www.example.com"}},
		{name: "SMTP_CHECK default HELO", rs: "SMTP_CHECK {\n}", get: ck(func(k *config.Check) any { return k.HELO }), want: "smtpchecker.keepalived.org"},
		{name: "MISC_CHECK", rs: "MISC_CHECK {\nmisc_path \"/usr/lib/check 'a b'\"\nmisc_timeout 7\nmisc_dynamic\nuser nobody\nwarmup 1\n}",
			get:  ck(func(k *config.Check) any { return []any{k.Command, k.Timeout, k.Dynamic, k.User, k.Warmup, k.Target} }),
			want: []any{"/usr/lib/check 'a b'", 7 * time.Second, true, "nobody", time.Second, netip.AddrPort{}}},
		{name: "misc_timeout 0", vs: "delay_loop 4", rs: "MISC_CHECK {\nmisc_path /bin/true\nmisc_timeout 0\n}",
			get: ck(func(k *config.Check) any { return k.Timeout }), want: 4 * time.Second},
	})
}

func TestGroupDirectives(t *testing.T) {
	ids := func(c *config.Config) any {
		var out []string
		for _, s := range c.Services {
			if s.FwMark != 0 {
				out = append(out, "fwm"+map[bool]string{false: "4", true: "6"}[s.IPv6])
				continue
			}
			out = append(out, netip.AddrPortFrom(s.Addr, s.Port).String())
		}
		return out
	}
	group := func(entries string) string {
		return "virtual_server_group g {\n" + entries + "\n}\nvirtual_server group g {\nprotocol TCP\nlb_kind DR\npersistence_timeout 60\nreal_server 203.0.113.1 {\n}\n}\n"
	}
	runDirectives(t, []directiveCase{
		{name: "last byte range", text: group("192.0.2.1-3 80"), get: ids, want: []string{"192.0.2.1:80", "192.0.2.2:80", "192.0.2.3:80"}},
		{name: "address range", text: group("192.0.2.254-192.0.3.1 443"), get: ids, want: []string{"192.0.2.254:443", "192.0.2.255:443", "192.0.3.0:443", "192.0.3.1:443"}},
		{name: "prefix", text: group("192.0.2.8/30 80"), get: ids, want: []string{"192.0.2.8:80", "192.0.2.9:80", "192.0.2.10:80", "192.0.2.11:80"}},
		{name: "IPv6 range in hex", text: strings.Replace(group("2001:db8::9-b 80\nfwmark 3 inet6"), "203.0.113.1", "2001:db8:1::1", 1), get: ids,
			want: []string{"[2001:db8::9]:80", "[2001:db8::a]:80", "[2001:db8::b]:80", "fwm6"}},
		{name: "no port", text: group("192.0.2.1"), get: ids, want: []string{"192.0.2.1:0"}},
		{name: "fwmark takes the real servers' family", text: group("fwmark 1"), get: ids, want: []string{"fwm4"}},
	})
}

func TestGlobalDefs(t *testing.T) {
	text := `global_defs {
    notification_email {
        ops@example.com
    }
    router_id LVS_1
    vrrp_strict
    lvs_timeouts tcp 7200 udp 60
    lvs_sync_daemon eth1 VI_1
    script_user keepalived_script
}
` + framed("", "")
	c := mustParse(t, text)
	if want := (config.Timeouts{TCP: 2 * time.Hour, UDP: time.Minute}); c.Timeouts == nil || *c.Timeouts != want {
		t.Fatalf("timeouts %+v, want %+v", c.Timeouts, want)
	}
	if want := (config.SyncDaemon{Line: 8, Interface: "eth1", Instance: "VI_1"}); c.SyncDaemon == nil || *c.SyncDaemon != want {
		t.Fatalf("sync daemon %+v, want %+v", c.SyncDaemon, want)
	}
	want := []string{
		"t.conf:9: script_user ignored: notify and MISC_CHECK scripts run as gdirector's user",
	}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Fatalf("warnings %q, want %q", c.Warnings, want)
	}
}

func TestSkippedBlocks(t *testing.T) {
	text := `vrrp_script chk { script "/bin/true" }
vrrp_instance VI_1 {
    interface eth0
    virtual_ipaddress {
        192.0.2.10/24 dev eth0
    }
    track_script {
        chk
    }
    virtual_router_id 1
}
vrrp_garp_interval 5
static_routes { 192.0.2.0/24 via 198.51.100.1 }
net_namespace blue
bfd_instance b1 {
}
` + framed("", "")
	c := mustParse(t, text)
	want := []string{
		"t.conf:12: vrrp_garp_interval ignored: only vrrp_instance, vrrp_sync_group and vrrp_script blocks of VRRP are read",
		"t.conf:13: static_routes ignored: gdirector does not manage static routes",
		"t.conf:14: net_namespace ignored: keepalived's process settings do not apply to gdirector",
		"t.conf:15: bfd_instance ignored: BFD is not supported",
	}
	if !reflect.DeepEqual(c.Warnings, want) || len(c.Services) != 1 {
		t.Fatalf("warnings %q (%d services), want %q", c.Warnings, len(c.Services), want)
	}
	// vrrp_script and track_script are read (vrrpscript_test.go).
	if len(c.VRRPScripts) != 1 || c.VRRPScripts[0].Command != "/bin/true" || len(c.VRRP[0].TrackScripts) != 1 {
		t.Fatalf("scripts %+v, tracked %+v", c.VRRPScripts, c.VRRP[0].TrackScripts)
	}
}

// TestFwmarkFamily covers the order in which keepalived infers the family
// of a firewall-mark service.
func TestFwmarkFamily(t *testing.T) {
	fam := func(c *config.Config) any { return [2]any{service0(c).IPv6, service0(c).Netmask} }
	runDirectives(t, []directiveCase{
		{name: "tunnelled IPv6 real servers", text: "virtual_server fwmark 1 {\nlb_kind TUN\nreal_server 2001:db8::1 {\n}\nreal_server 2001:db8::2 {\n}\n}",
			get: fam, want: [2]any{true, uint32(128)}},
		{name: "tunnelled mixed real servers are IPv4", text: "virtual_server fwmark 1 {\nlb_kind TUN\nreal_server 2001:db8::1 {\n}\nreal_server 203.0.113.1 {\n}\n}",
			get: fam, want: [2]any{false, uint32(0xffffffff)}},
		{name: "sorry server", text: "virtual_server fwmark 1 {\nlb_kind TUN\nsorry_server 2001:db8::9\nsorry_server_lvs_method DR\nreal_server 203.0.113.1 {\n}\n}",
			get: fam, want: [2]any{true, uint32(128)}},
		{name: "persistence_granularity", text: "virtual_server fwmark 1 {\nlb_kind TUN\npersistence_granularity 48\nreal_server 203.0.113.1 {\n}\n}",
			get: fam, want: [2]any{true, uint32(48)}},
	})
}

func TestPWDWithoutPath(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("", []byte(framed("quorum_up ${_PWD}/up.sh", "")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := service0(c).QuorumUp; got != shellJoin([]string{wd + "/up.sh"}) {
		t.Fatalf("quorum_up %q, want %s/up.sh", got, wd)
	}
}

// TestQuotedKeywordLine reads a script line that keepalived's plain
// tokenizer cannot split (an odd number of double quotes) but its script
// tokenizer can.
func TestQuotedKeywordLine(t *testing.T) {
	c := mustParse(t, framed("", `notify_up '/bin/say \"hi'`))
	if got := dest0(c).NotifyUp; got != `/bin/say '"hi'` {
		t.Fatalf("notify_up %q", got)
	}
	if _, err := Parse("t.conf", []byte(framed("", `weight \"3`)), nil); err == nil || !strings.Contains(err.Error(), "t.conf:6: unmatched quote") {
		t.Fatalf("error %v", err)
	}
}

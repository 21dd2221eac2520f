package keepalived

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrors checks that bad input is refused with the line and a clear
// message, and that nothing is returned with the error.
func TestErrors(t *testing.T) {
	vs := func(vsLines, rsLines string) string { return framed(vsLines, rsLines) }
	group := func(entries string) string {
		return "virtual_server_group g {\n" + entries + "\n}\nvirtual_server group g {\nprotocol TCP\nlb_kind NAT\nreal_server 203.0.113.1 80 {\n}\n}\n"
	}
	tests := []struct {
		name, text, want string
	}{
		// Keywords and structure.
		{"unknown keyword", vs("", "wieght 3"), `t.conf:6: unknown keyword "wieght" in real_server`},
		{"unknown top-level keyword", "virtual_servr 192.0.2.1 80 {\n}", `t.conf:1: unknown keyword "virtual_servr" in the top level`},
		{"unknown in checker", vs("", "TCP_CHECK {\npath /\n}"), `t.conf:7: unknown keyword "path" in TCP_CHECK`},
		{"checker in virtual_server", vs("TCP_CHECK {\n}", ""), `t.conf:4: TCP_CHECK belongs in a real_server block, not in virtual_server`},
		{"one line of directives", vs("", "weight 3  TCP_CHECK { connect_timeout 3 }"), `t.conf:6: weight: unexpected "TCP_CHECK" (write one directive per line)`},
		{"missing value", vs("lb_algo", ""), `t.conf:4: lb_algo: missing value`},
		{"value where none is taken", vs("omega yes", ""), `t.conf:4: omega takes no value (got "yes")`},
		{"missing brace", "virtual_server 192.0.2.1 80 {\nprotocol TCP\nreal_server 203.0.113.1 80 {\n}\n", `t.conf:1: virtual_server: the block opened here is not closed (missing '}')`},
		{"extra brace", vs("", "") + "}\n", `t.conf:9: unexpected '}': no block is open`},
		{"no opening brace", "virtual_server 192.0.2.1 80\nprotocol TCP\n", `t.conf:1: virtual_server: expected '{' to open its block`},
		{"brace inside a block", vs("{", ""), `t.conf:4: unexpected '{' in virtual_server`},
		{"unterminated quote", vs("virtualhost \"a b", ""), `t.conf:4: unterminated quote`},
		{"NUL byte", "global_defs {\x00\n}", `t.conf:1: the line contains a NUL byte`},
		{"conditional line", "@main virtual_server 192.0.2.1 80 {\n}", `t.conf:1: conditional configuration (@ID at the start of a line) is not supported`},
		{"sequence", "~SEQ(N, 1, 3) real_server 203.0.113.${N} 80", `t.conf:1: ~SEQ blocks are not supported`},
		{"environment", vs("virtualhost ${_ENV HOST}", ""), `t.conf:4: ${_ENV} is not supported`},
		{"random", vs("weight $_RANDOM", ""), `t.conf:4: ${_RANDOM} is not supported`},
		{"runaway substitution", "$A=${A}x\n$A", `t.conf:2: parameter substitution does not end`},
		{"include from substitution", "$INC=include other.conf\n$INC", `t.conf:2: include must stand on a line of its own`},

		// Values.
		{"port out of range", "virtual_server 192.0.2.1 70000 {\n}", `t.conf:1: virtual_server: port "70000" is out of range [1, 65535]`},
		{"negative weight", vs("", "weight -1"), `t.conf:6: weight: "-1" is negative`},
		{"weight with garbage", vs("", "weight 3x"), `t.conf:6: weight: "3x" is not a number`},
		{"bad address", "virtual_server 192.0.2.300 80 {\n}", `t.conf:1: virtual_server: "192.0.2.300" is not an IP address`},
		{"host name", vs("", "TCP_CHECK {\nconnect_ip www.example.com\n}"), `t.conf:7: connect_ip: "www.example.com" is not an IP address`},
		{"unknown scheduler", vs("lb_algo wlcx", ""), `t.conf:4: lb_algo: unknown scheduler "wlcx"`},
		{"unknown method", vs("lb_kind NATT", ""), `t.conf:4: lb_kind: unknown forwarding method "NATT" (NAT, DR, TUN or FNAT)`},
		{"unknown protocol", vs("protocol ICMP", ""), `t.conf:4: protocol: unknown protocol "ICMP" (TCP, UDP or SCTP)`},
		{"fwmark 0", "virtual_server fwmark 0 {\n}", `t.conf:1: virtual_server fwmark: "0" is out of range`},
		{"quorum 0", vs("quorum 0", ""), `t.conf:4: quorum: "0" is out of range [1, 2147483647]`},
		{"rs retry 0", vs("", "retry 0"), `t.conf:6: retry: "0" is out of range [1, 2147483647]`},
		{"delay_loop 0", vs("delay_loop 0", ""), `t.conf:4: delay_loop: "0" is below the minimum of 1µs`},
		{"seven decimals", vs("delay_loop 1.0000001", ""), `t.conf:4: delay_loop: "1.0000001" has more than 6 decimals`},
		{"timer not a number", vs("", "warmup soon"), `t.conf:6: warmup: "soon" is not a number of seconds`},
		{"connect_timeout too long", vs("connect_timeout 5000", ""), `t.conf:4: connect_timeout: "5000" is above the maximum of 1h11m34.967295s`},
		{"persistence_timeout too long", vs("persistence_timeout 2678401", ""), `t.conf:4: persistence_timeout: "2678401" is out of range [1, 2678400]`},
		{"bad bool", vs("", "inhibit_on_failure maybe"), `t.conf:6: inhibit_on_failure: "maybe" is not on|off|true|false|yes|no`},
		{"ip_family conflict", vs("ip_family inet6", ""), `t.conf:4: ip_family inet6 conflicts with the address 192.0.2.10 of the virtual server`},
		{"IPv4 granularity as a length", vs("persistence_granularity 24", ""), `t.conf:4: persistence_granularity "24": an IPv4 service needs a netmask such as 255.255.255.0`},
		{"thresholds", vs("", "uthreshold 5\nlthreshold 10"), `t.conf:7: lthreshold 10 is above uthreshold 5 (the kernel refuses it)`},
		{"status code", vs("", "HTTP_GET {\nurl {\npath /\nstatus_code 200-99\n}\n}"), `t.conf:9: status_code: "200-99" is not a status code or range in 100-599`},
		{"digest", vs("", "HTTP_GET {\nurl {\npath /\ndigest abc\n}\n}"), `t.conf:9: digest "abc" is not an MD5 sum (32 hex digits)`},
		{"regex", vs("", "HTTP_GET {\nurl {\npath /\nregex \"a(?=b)\"\n}\n}"), `t.conf:9: regex "a(?=b)": error parsing regexp`},
		{"hex payload", vs("", "UDP_CHECK {\npayload 12 zz\n}"), `t.conf:7: payload: "z" is not a hex digit`},
		{"DNS type", vs("", "DNS_CHECK {\ntype AXFR\n}"), `t.conf:7: type: unknown DNS query type "AXFR"`},
		{"DNS name", vs("", "DNS_CHECK {\nname a..b\n}"), `t.conf:7: name "a..b" has an empty label`},
		{"lvs_timeouts", "global_defs {\nlvs_timeouts tcp 10 fin 3\n}", `t.conf:2: lvs_timeouts: unknown option "fin" (tcp, tcpfin or udp)`},
		{"vsg range backwards", group("192.0.2.10-5 80"), `t.conf:2: virtual_server_group: "192.0.2.10-5": the range end must be a last byte above 10 and at most 255`},
		{"vsg range end", group("192.0.2.10-256 80"), `t.conf:2: virtual_server_group: "192.0.2.10-256": the range end must be a last byte above 10 and at most 255`},
		{"vsg prefix host bits", group("192.0.2.9/29 80"), `t.conf:2: virtual_server_group: "192.0.2.9/29" has host bits set (the prefix is 192.0.2.8/29)`},
		{"vsg mixed range", group("192.0.2.1-2001:db8::1 80"), `t.conf:2: virtual_server_group: "192.0.2.1-2001:db8::1": the range end must be a last byte above 1 and at most 255`},
		{"vsg fwmark family", group("fwmark 1 inet5"), `t.conf:2: fwmark 1: unknown address family "inet5" (inet or inet6)`},
		{"vsg too big", group("10.0.0.0/8 80"), `t.conf:2: virtual_server_group g expands to more than 65536 services`},

		// Consistency.
		{"undefined group", "virtual_server group web {\nreal_server 203.0.113.1 80 {\n}\n}", `t.conf:1: virtual_server group web: there is no virtual_server_group web`},
		{"group defined twice", "virtual_server_group g {\n192.0.2.1 80\n}\nvirtual_server_group g {\n}", `t.conf:4: virtual_server_group g is already defined at line 1`},
		{"duplicate service", vs("", "") + vs("", ""), `t.conf:9: virtual service TCP 192.0.2.10:80 is already defined at t.conf:1`},
		{"duplicate fwmark service", "virtual_server fwmark 5 {\nlb_kind DR\nreal_server 2001:db8::1 {\n}\n}\nvirtual_server_group g {\nfwmark 5 inet6\n}\nvirtual_server group g {\nlb_kind DR\nreal_server 2001:db8::1 {\n}\n}",
			`t.conf:7: virtual service FWM 5 IPv6 is already defined at t.conf:1`},
		{"unknown ip_family", vs("ip_family ipx", ""), `t.conf:4: ip_family: unknown address family "ipx" (inet or inet6)`},
		{"bad sorry address", vs("sorry_server 203.0.113.x", ""), `t.conf:4: sorry_server: "203.0.113.x" is not an IP address`},
		{"DNS name twice", vs("", "DNS_CHECK {\nname a.example\nname b.example\n}"), `t.conf:8: name is already set at line 7`},
		{"tunnel option", vs("lvs_method TUN type", ""), `t.conf:4: lvs_method: missing tunnel type`},
		{"NAT option", vs("lvs_method NAT fast", ""), `t.conf:4: lvs_method: unexpected "fast"`},
		{"laddr entry", "local_address_group g {\n198.51.100.1/30 eth0\n}", `t.conf:2: local_address_group: "198.51.100.1/30" is not an address or a range`},
		{"vsg entry words", group("192.0.2.1 80 tcp"), `t.conf:2: virtual_server_group: unexpected "tcp"`},
		{"vsg port", group("192.0.2.1 http"), `t.conf:2: virtual_server_group 192.0.2.1: port "http" is not a number`},
		{"empty misc command", vs("", "MISC_CHECK {\nmisc_path \"\"\n}"), `t.conf:7: misc_path: empty command`},
		{"payload missing", vs("", "UDP_CHECK {\npayload\n}"), `t.conf:7: payload: missing hex string`},
		{"duplicate real server", vs("", "}\nreal_server 203.0.113.11 80 {"), `t.conf:7: real server 203.0.113.11:80 of TCP 192.0.2.10:80 is already defined at line 5`},
		{"duplicate after DR ports", "virtual_server 192.0.2.1 80 {\nprotocol TCP\nlb_kind DR\nreal_server 203.0.113.1 80 {\n}\nreal_server 203.0.113.1 81 {\n}\n}",
			`t.conf:6: real server 203.0.113.1:80 of TCP 192.0.2.1:80 is already defined at line 4`},
		{"real server family", vs("", "}\nreal_server 2001:db8::1 80 {"), `t.conf:7: 2001:db8::1 is IPv6 but TCP 192.0.2.10:80 is IPv4 (only TUN servers may differ)`},
		{"sorry server family", vs("sorry_server 2001:db8::99 80", ""), `t.conf:4: 2001:db8::99 is IPv6 but TCP 192.0.2.10:80 is IPv4`},
		{"sorry_server_inhibit alone", vs("sorry_server_inhibit", ""), `t.conf:4: sorry_server_inhibit without sorry_server`},
		{"sh flag without sh", vs("sh-port", ""), `t.conf:4: sh-port needs lvs_sched sh (the scheduler is wlc)`},
		{"mh flag with sh", vs("lvs_sched sh\nmh-fallback", ""), `t.conf:5: mh-fallback needs lvs_sched mh (the scheduler is sh)`},
		{"no port to check", "virtual_server fwmark 3 {\nlb_kind DR\nreal_server 203.0.113.1 {\nTCP_CHECK {\n}\n}\n}",
			`t.conf:4: TCP_CHECK: no port to check: real_server 203.0.113.1 has none and there is no connect_port`},
		{"bindto family", vs("", "TCP_CHECK {\nbindto 2001:db8::1\n}"), `t.conf:7: bindto 2001:db8::1: the checked address 203.0.113.11 is of the other family`},
		{"connect_ip and bindto families", vs("", "TCP_CHECK {\nbindto 2001:db8::1\nconnect_ip 203.0.113.1\n}"), `t.conf:8: connect_ip 203.0.113.1: the address family differs from line 7's`},
		{"laddr group missing", vs("lb_kind FNAT\nladdr_group_name g", ""), `t.conf:5: laddr_group_name g: there is no local_address_group g`},
		{"laddr group family", "local_address_group g {\n2001:db8::7\n}\n" + vs("lb_kind FNAT\nladdr_group_name g", ""), `t.conf:8: local_address_group g has no IPv4 address for TCP 192.0.2.10:80`},
		{"HTTP_GET without url", vs("", "HTTP_GET {\n}"), `t.conf:6: HTTP_GET needs at least one url block`},
		{"url without path", vs("", "HTTP_GET {\nurl {\nstatus_code 200\n}\n}"), `t.conf:7: url: missing path`},
		{"MISC_CHECK without path", vs("", "MISC_CHECK {\nmisc_dynamic\n}"), `t.conf:6: MISC_CHECK needs misc_path`},
		{"misc_path not quoted", vs("", "MISC_CHECK {\nmisc_path /bin/check arg1\n}"), `t.conf:7: misc_path: unexpected "arg1" after the command (quote the whole command line: misc_path "/bin/check arg1")`},
		{"connect_timeout in MISC_CHECK", vs("", "MISC_CHECK {\nconnect_timeout 3\n}"), `t.conf:7: connect_timeout is not valid in MISC_CHECK: use misc_timeout`},
		{"UDP lengths", vs("", "UDP_CHECK {\nmin_reply_length 10\nmax_reply_length 5\n}"), `t.conf:6: UDP_CHECK: min_reply_length 10 is above max_reply_length 5`},
		{"SNI of urls", vs("", "SSL_GET {\nenable_sni\nurl {\npath /\nvirtualhost a.example\n}\nurl {\npath /\nvirtualhost b.example\n}\n}"),
			`t.conf:6: enable_sni: the urls have different virtualhosts ("a.example", "b.example")`},
		{"notify twice", vs("", "notify_up /bin/a\nnotify_up /bin/b"), `t.conf:7: notify_up is already set at line 6`},
		{"host keyword", vs("", "SMTP_CHECK {\nhost {\nretry 3\n}\n}"), `t.conf:8: retry is not valid in a host block: set it in SMTP_CHECK`},

		// Not supported.
		{"persistence_engine", vs("persistence_engine sip", ""), `t.conf:4: persistence_engine is not supported`},
		{"GUE tunnel", vs("lvs_method TUN type gue port 6080", ""), `t.conf:4: lvs_method: tunnel type gue is not supported: gdirector encapsulates in IPIP only`},
		{"tunnel checksum", vs("lvs_method TUN csum", ""), `t.conf:4: lvs_method: csum needs a GUE or GRE tunnel, which is not supported`},
		{"DPVS SNAT", vs("lb_kind SNAT", ""), `t.conf:4: lb_kind SNAT (DPVS's source NAT) is not supported`},
		{"FILE_CHECK", vs("", "FILE_CHECK {\ntrack_file f\n}"), `t.conf:6: FILE_CHECK is not supported`},
		{"bind_if", vs("", "TCP_CHECK {\nbind_if eth0\n}"), `t.conf:7: bind_if is not supported in a checker`},
		{"link-local", vs("", "}\nreal_server 2001:db8::1 80 {\nlvs_method TUN\nTCP_CHECK {\nconnect_ip fe80::1\n}"), `t.conf:10: connect_ip fe80::1: a link-local address needs bind_if, which is not supported`},
		{"regex_no_match", vs("", "HTTP_GET {\nurl {\npath /\nregex_no_match\n}\n}"), `t.conf:9: regex_no_match is not supported`},
		{"regex option", vs("", "HTTP_GET {\nurl {\npath /\nregex x\nregex_options extended\n}\n}"), `t.conf:10: regex_options: "extended" is not supported`},
		{"notify user", vs("", "notify_up /bin/up root"), `t.conf:6: notify_up: running the script as user "root" is not supported`},
		{"misc group", vs("", "MISC_CHECK {\nmisc_path /bin/true\nuser nobody nogroup\n}"), `t.conf:8: user: a group for the script is not supported ("nogroup")`},
		{"SSL certificate", "SSL {\ncertificate /etc/ssl/c.pem\n}", `t.conf:2: SSL certificate: client certificates and private CAs for SSL_GET are not supported`},
		{"tls_compliant on HTTP_GET", vs("", "HTTP_GET {\ntls_compliant\n}"), `t.conf:7: unknown keyword "tls_compliant" in HTTP_GET`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.conf", []byte(tc.text), nil)
			if err == nil {
				t.Fatalf("no error, want %q\n%s", tc.want, tc.text)
			}
			if c != nil {
				t.Fatalf("a configuration came back with the error %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error\n  %v\nwant it to contain\n  %s\n%s", err, tc.want, tc.text)
			}
		})
	}
}

// TestErrorWithoutPath names lines alone when the text has no file.
func TestErrorWithoutPath(t *testing.T) {
	_, err := Parse("", []byte("\n\nbogus\n"), nil)
	if err == nil || err.Error() != `line 3: unknown keyword "bogus" in the top level` {
		t.Fatalf("error %v", err)
	}
}

// memFS is an in-memory readFile.
func memFS(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
}

func TestIncludeErrors(t *testing.T) {
	files := map[string]string{
		"/etc/keepalived/services/web.conf": "virtual_server 192.0.2.1 80 {\nprotocol TCP\nlb_kind NAT\nreal_server 203.0.113.1 80 {\nweight x\n}\n}\n",
		"/etc/keepalived/self.conf":         "include self.conf\n",
		"/etc/keepalived/part.conf":         "real_server 203.0.113.2 80 {\n}\n",
	}
	read := memFS(files)
	tests := []struct{ name, text, want string }{
		{"error in an included file", "include services/web.conf", `/etc/keepalived/services/web.conf:5: weight: "x" is not a number`},
		{"missing file", "! comment\ninclude services/none.conf", `/etc/keepalived/keepalived.conf:2: include /etc/keepalived/services/none.conf: no such file`},
		{"self include", "include self.conf", `/etc/keepalived/self.conf:1: include /etc/keepalived/self.conf: includes nest more than 32 deep`},
		{"includew without match", "includew /nonexistent-dir-for-test/*.conf", `/etc/keepalived/keepalived.conf:1: include /nonexistent-dir-for-test/*.conf: no file matches`},
		{"include without name", "include ", `/etc/keepalived/keepalived.conf:1: include: missing file name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("/etc/keepalived/keepalived.conf", []byte(tc.text), read)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	// A block may be spread over files: the include stands where the
	// file's lines go.
	c, err := Parse("/etc/keepalived/keepalived.conf", []byte("virtual_server 192.0.2.1 80 {\nprotocol TCP\nlb_kind DR\ninclude part.conf\n}\n"), read)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Services[0].Dests; len(d) != 1 || d[0].Addr != ip("203.0.113.2") || d[0].Line != 1 {
		t.Fatalf("dests %+v", d)
	}
}

func TestIncludeGlob(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vsText := func(port string) string {
		return "virtual_server 192.0.2.1 " + port + " {\nprotocol TCP\nlb_kind DR\nreal_server 203.0.113.1 " + port + " {\n}\n}\n"
	}
	write("conf.d/b.conf", vsText("443"))
	write("conf.d/a.conf", vsText("80"))
	write("conf.d/.c.conf", "bogus\n")
	write("conf.d/sub.conf/x", "bogus\n") // a directory matching the pattern
	main := filepath.Join(dir, "keepalived.conf")
	for _, tc := range []struct {
		text  string
		ports []uint16
		err   string
	}{
		{text: "include conf.d/*.conf", ports: []uint16{80, 443}},
		{text: "include conf.d/{b,a}.conf", ports: []uint16{443, 80}},
		{text: "include conf.d/*.none", ports: nil},
		{text: "includer conf.d/*.none", ports: nil},
		{text: "includea conf.d/*.none", err: "no file matches"},
		{text: "includeb conf.d/{a,z*}.conf", err: "no file matches"},
		{text: "include conf.d/z.conf", err: "no such file"},
	} {
		c, err := Parse(main, []byte(tc.text), nil)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), main+":1: ") {
				t.Errorf("%s: error %v, want %q at %s:1", tc.text, err, tc.err, main)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.text, err)
			continue
		}
		var ports []uint16
		for _, s := range c.Services {
			ports = append(ports, s.Port)
		}
		if len(ports) != len(tc.ports) || (len(ports) > 0 && !equalPorts(ports, tc.ports)) {
			t.Errorf("%s: ports %v, want %v", tc.text, ports, tc.ports)
		}
	}
	// A file that cannot be read is an error even through a wildcard.
	_, err := Parse(main, []byte("include conf.d/*.conf"), func(name string) ([]byte, error) {
		return nil, errors.New("permission denied")
	})
	if err == nil || !strings.Contains(err.Error(), "a.conf: permission denied") {
		t.Fatalf("error %v", err)
	}
}

func equalPorts(a, b []uint16) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

package config

import (
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name, path, text string
		want             Format
	}{
		{"keepalived", "/etc/x.conf", "! Configuration File for keepalived\nglobal_defs {\n  router_id LVS\n}\n", FormatKeepalived},
		{"keepalived virtual_server", "a", "# c\nvirtual_server 192.0.2.1 80 {\n  delay_loop 6\n}\n", FormatKeepalived},
		{"keepalived group", "a", "virtual_server_group G {\n}\n", FormatKeepalived},
		{"keepalived brace attached", "a", "global_defs{\n}\n", FormatKeepalived},
		{"keepalived vrrp only", "a", "vrrp_instance VI_1 {\n}\n", FormatKeepalived},
		{"ldirectord", "a", "checktimeout=3\nvirtual=192.0.2.1:80\n\treal=203.0.113.1:80 gate\n", FormatLdirectord},
		{"ldirectord spaces", "a", "# x\nvirtual = 192.0.2.1:80\n", FormatLdirectord},
		{"ldirectord fwmark", "a", "virtual=1\n\treal=203.0.113.1 gate\n", FormatLdirectord},
		{"ipvsadm", "a", "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 203.0.113.1:80 -m\n", FormatIPVSRules},
		{"ipvsadm comment first", "a", "# saved\n\n-C\n", FormatIPVSRules},
		{"ipvsadm --set", "a", "--set 900 120 300\n", FormatIPVSRules},
		{"ipvsadm long option", "a", "--add-service --tcp-service 192.0.2.1:80\n", FormatIPVSRules},
		{"empty is no rules", "a.yaml", "", FormatIPVSRules},
		{"comments only", "a", "# nothing yet\n\n", FormatIPVSRules},
		{"native", "a", "# gdirector\nservices:\n  - vip: 192.0.2.1\n", FormatNative},
		{"native after timeouts", "a.conf", "timeouts:\n  tcp: 1m\nservices: []\n", FormatNative},
		{"native services no space", "a", "services:[]\n", FormatUnknown},
		{"native doc marker", "a", "---\nservices: []\n", FormatNative},
		{"native flow", "a", "{services: []}\n", FormatNative},
		{"indented services is not top level", "a", "x:\n  services: []\n", FormatUnknown},
		{"yaml by name", "/etc/gdirector.yml", "x: 1\n", FormatNative},
		{"keepalived by name", "/etc/keepalived/lvs.conf", "include other.conf\n", FormatKeepalived},
		{"ldirectord by name", "/etc/ha.d/web.cf", "checktimeout=3\n", FormatLdirectord},
		{"unknown", "/etc/x", "hello world\n", FormatUnknown},
		{"yaml list is not ipvsadm", "a", "- a\n", FormatUnknown},
		{"content beats name", "/etc/ldirectord.cf", "services: []\n", FormatNative},
		{"keepalived beats later virtual=", "a", "virtual_server 192.0.2.1 80 {\n}\n# virtual=1\n", FormatKeepalived},
		{"long line", "a", strings.Repeat("x", 2<<20), FormatUnknown},
	} {
		if got := Detect(tc.path, []byte(tc.text)); got != tc.want {
			t.Errorf("%s: Detect = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{
		"": FormatUnknown, "auto": FormatUnknown, "ipvsadm": FormatIPVSRules, "keepalived": FormatKeepalived,
		"LDIRECTORD": FormatLdirectord, "native": FormatNative, "yaml": FormatNative,
	} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), `unknown format "xml"`) {
		t.Errorf("xml: %v", err)
	}
	for _, f := range []Format{FormatIPVSRules, FormatKeepalived, FormatLdirectord, FormatNative} {
		if got, err := ParseFormat(f.String()); err != nil || got != f {
			t.Errorf("round trip of %v: %v %v", f, got, err)
		}
	}
}

func FuzzDetect(f *testing.F) {
	for _, s := range []string{"global_defs {\n}\n", "virtual=1\n", "-A -t 1.2.3.4:80\n", "services: []\n", "", "{services: 1}"} {
		f.Add("x", []byte(s))
	}
	f.Fuzz(func(t *testing.T, path string, data []byte) {
		if g := Detect(path, data); g < FormatUnknown || g > FormatNative {
			t.Fatalf("Detect = %d", g)
		}
	})
}

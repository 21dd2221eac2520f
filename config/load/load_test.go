package load

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/healthcheck"
	"github.com/gdirector/gdirector/ipvsadm"
	"github.com/gdirector/gdirector/vs"
)

// save returns ipvsadm -S -n of m.
func save(t *testing.T, m *ctl.Manager) string {
	t.Helper()
	out, errOut, code := ipvsadm.Run(m, []string{"-S", "-n"})
	if code != 0 {
		t.Fatalf("ipvsadm -S: %d %s", code, errOut)
	}
	return out
}

// TestIPVSRulesRoundTrip: a file of rules read into a Config and applied
// by the health engine builds exactly the table ipvsadm -R builds from
// the same file (same services, real servers in the same order, same
// settings, local addresses and timeouts).
func TestIPVSRulesRoundTrip(t *testing.T) {
	for _, rules := range []string{
		"",
		"# comments only\n\n",
		"-A -t 192.0.2.10:80 -s wrr\n-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 3\n-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 1\n-a -t 192.0.2.10:80 -r 203.0.113.13:80 -m -w 2 -x 100 -y 50\n",
		// Edits and deletions: the Config is the end result.
		"-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m\n-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m\n-d -t 192.0.2.10:80 -r 203.0.113.11:80\n-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 5\n-e -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 2\n-E -t 192.0.2.10:80 -s lc\n-A -u 192.0.2.10:53 -s rr\n-D -u 192.0.2.10:53\n",
		// Persistence, scheduler flags, one-packet, fwmark, IPv6, FullNAT.
		"-A -t 192.0.2.10:0 -s sh -b sh-fallback,sh-port -p 600 -M 255.255.255.0\n-a -t 192.0.2.10:0 -r 203.0.113.11 -g\n" +
			"-A -u 192.0.2.10:53 -s rr -o\n-a -u 192.0.2.10:53 -r 203.0.113.11:53 -i\n" +
			"-A -f 7 -s mh -b mh-port\n-a -f 7 -r 203.0.113.12:80 -m\n" +
			"-A -f 8 -6 -s wlc\n-a -f 8 -6 -r [2001:db8::12]:80 -m\n" +
			"-A -t [2001:db8::10]:443 -s wlc -p -M 64\n-a -t [2001:db8::10]:443 -r [2001:db8::11]:443 -m\n" +
			"-A -t 192.0.2.11:80 -s rr\n-a -t 192.0.2.11:80 -r 203.0.113.14:80 -b\n-P -t 192.0.2.11:80 -z 203.0.113.250\n-P -t 192.0.2.11:80 -z 203.0.113.251 -F eth1\n",
		"--set 900 0 30\n-A -t 192.0.2.10:80\n",
		"-A -t 192.0.2.10:80\n-C\n-A -t 192.0.2.12:80\n",
	} {
		cfg, err := IPVSRules("r", []byte(rules), nil)
		if err != nil {
			t.Fatalf("%v\n%s", err, rules)
		}
		if cfg.Format != config.FormatIPVSRules || cfg.Path != "r" {
			t.Errorf("format %v path %q", cfg.Format, cfg.Path)
		}
		if err := config.Validate(cfg, nil); err != nil {
			t.Errorf("the Config does not validate: %v\n%s", err, rules)
		}
		direct := ctl.NewManager(ctl.Config{})
		if _, err := ipvsadm.Replace(direct, strings.NewReader(rules)); err != nil {
			t.Fatal(err)
		}
		viaEngine := ctl.NewManager(ctl.Config{})
		if _, err := healthcheck.New(viaEngine, healthcheck.Options{}).Apply(cfg); err != nil {
			t.Fatalf("engine: %v\n%s", err, rules)
		}
		if a, b := save(t, direct), save(t, viaEngine); a != b {
			t.Errorf("rules:\n%s\nipvsadm -R gives:\n%s\nthe Config gives:\n%s", rules, a, b)
		}
		tcp1, fin1, udp1 := direct.Timeouts()
		tcp2, fin2, udp2 := viaEngine.Timeouts()
		if tcp1 != tcp2 || fin1 != fin2 || udp1 != udp2 {
			t.Errorf("timeouts %d %d %d, want %d %d %d", tcp2, fin2, udp2, tcp1, fin1, udp1)
		}
	}
}

func TestIPVSRulesConfig(t *testing.T) {
	cfg, err := IPVSRules("r", []byte("--set 900 0 30\n-A -f 7 -6 -s rr\n-a -f 7 -6 -r [2001:db8::1]:80 -m\n-A -t 192.0.2.10:80 -s sh -b sh-port\n-P -t 192.0.2.10:80 -z 203.0.113.250 -F eth1\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Timeouts == nil || *cfg.Timeouts != (config.Timeouts{TCP: 900 * time.Second, UDP: 30 * time.Second}) {
		t.Errorf("timeouts %+v", cfg.Timeouts)
	}
	if len(cfg.Services) != 2 {
		t.Fatalf("%+v", cfg.Services)
	}
	fw, web := cfg.Services[0], cfg.Services[1]
	if fw.ServiceID != (ctl.ServiceID{FwMark: 7, IPv6: true}) || fw.Name != "FWM 7 IPv6" || fw.Scheduler != "rr" || fw.Netmask != 128 ||
		fw.Quorum != 1 || len(fw.Dests) != 1 || fw.Dests[0].Addr != netip.MustParseAddr("2001:db8::1") || fw.Dests[0].Checks != nil {
		t.Errorf("fwmark service %+v", fw)
	}
	if web.Name != "TCP 192.0.2.10:80" || web.Flags != vs.SvcSchedFlag2 || len(web.LAddrs) != 1 || web.LAddrs[0].Iface != "eth1" || web.Netmask != 0xffffffff {
		t.Errorf("web %+v", web)
	}
	if cfg, err := IPVSRules("r", []byte("-A -t 192.0.2.10:80\n"), nil); err != nil || cfg.Timeouts != nil {
		t.Errorf("no --set: %+v %v", cfg.Timeouts, err)
	}
	// Errors: ipvsadm's, with the file and line.
	_, err = IPVSRules("/etc/r", []byte("-A -t 192.0.2.10:80\n-a -t 192.0.2.10:80 -r 203.0.113.1 -w x\n"), nil)
	if err == nil || err.Error() != "/etc/r: line 2: illegal weight specified" {
		t.Errorf("%v", err)
	}
	noDR := errors.New("no DR")
	_, err = IPVSRules("r", []byte("-A -t 192.0.2.10:80\n-a -t 192.0.2.10:80 -r 203.0.113.1 -g\n"), func(d ctl.DestConfig) error {
		if d.Fwd == vs.DirectRoute {
			return noDR
		}
		return nil
	})
	if err == nil || err.Error() != "r: line 2: no DR" {
		t.Errorf("%v", err)
	}
}

// TestParseDispatch: each format reaches its parser, by detection or by
// Options.Format, and the result is validated.
func TestParseDispatch(t *testing.T) {
	native := "services:\n  - {vip: 192.0.2.10, port: 80, method: nat, real_servers: [{address: 203.0.113.11}]}\n"
	keepalived := "virtual_server 192.0.2.10 80 {\n  lb_kind NAT\n  protocol TCP\n  real_server 203.0.113.11 80 {\n    weight 1\n  }\n}\n"
	ldirectord := "virtual=192.0.2.10:80\n\treal=203.0.113.11:80 masq\n\tprotocol=tcp\n\tchecktype=on\n"
	rules := "-A -t 192.0.2.10:80\n-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m\n"
	for _, tc := range []struct {
		text   string
		format config.Format
		want   config.Format
	}{
		{native, 0, config.FormatNative},
		{keepalived, 0, config.FormatKeepalived},
		{ldirectord, 0, config.FormatLdirectord},
		{rules, 0, config.FormatIPVSRules},
		{native, config.FormatNative, config.FormatNative},
		{keepalived, config.FormatKeepalived, config.FormatKeepalived},
	} {
		cfg, err := Parse("f", []byte(tc.text), Options{Format: tc.format})
		if err != nil {
			t.Errorf("%v: %v\n%s", tc.want, err, tc.text)
			continue
		}
		if cfg.Format != tc.want || len(cfg.Services) != 1 || len(cfg.Services[0].Dests) != 1 ||
			cfg.Services[0].Dests[0].Addr != netip.MustParseAddr("203.0.113.11") || cfg.Services[0].Dests[0].Fwd != vs.Masq {
			t.Errorf("%v: %+v", tc.want, cfg)
		}
	}
	// A format that does not fit: its parser's error.
	if _, err := Parse("f", []byte(native), Options{Format: config.FormatIPVSRules}); err == nil || !strings.HasPrefix(err.Error(), "f: line 1: ") {
		t.Errorf("native as ipvsadm: %v", err)
	}
	if _, err := Parse("f", []byte("hello\n"), Options{}); err == nil || !strings.Contains(err.Error(), "f: cannot tell the format") {
		t.Errorf("unknown: %v", err)
	}
	// Validation after parsing: what only a Manager refuses, with a line.
	bad := strings.Replace(native, "203.0.113.11", "224.0.0.1", 1)
	if _, err := Parse("f", []byte(bad), Options{}); err == nil || !strings.HasPrefix(err.Error(), "f:2: real server 224.0.0.1:80: Invalid operation") {
		t.Errorf("invalid dest: %v", err)
	}
	noNAT := func(d ctl.DestConfig) error {
		if d.Fwd == vs.Masq {
			return errors.New("no NAT here")
		}
		return nil
	}
	if _, err := Parse("f", []byte(native), Options{CheckDest: noNAT}); err == nil || !strings.HasSuffix(err.Error(), "no NAT here") {
		t.Errorf("CheckDest: %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gdirector.yaml")
	if err := os.WriteFile(path, []byte("services: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, config.FormatUnknown)
	if err != nil || cfg.Format != config.FormatNative || cfg.Path != path {
		t.Fatalf("%+v %v", cfg, err)
	}
	if _, err := Load(filepath.Join(dir, "none"), 0); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	big := filepath.Join(dir, "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Load(big, 0); err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Errorf("big: %v", err)
	}
	// keepalived's include reads through Options.ReadFile.
	inc := filepath.Join(dir, "rs.conf")
	if err := os.WriteFile(inc, []byte("virtual_server 192.0.2.10 80 {\n  lb_kind NAT\n  real_server 203.0.113.11 80 {\n  }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(main, []byte("global_defs {\n}\ninclude "+inc+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var read []string
	cfg, err = LoadOptions(main, Options{ReadFile: func(p string) ([]byte, error) {
		read = append(read, p)
		return os.ReadFile(p)
	}})
	if err != nil || len(cfg.Services) != 1 || len(read) == 0 {
		t.Errorf("include: %+v %v (read %v)", cfg, err, read)
	}
}

// FuzzParse: whatever the bytes and whichever parser Detect picks, Parse
// returns a validated Config or an error, never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"-A -t 192.0.2.10:80\n-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m\n",
		"services:\n  - {vip: 192.0.2.10, port: 80, method: nat, real_servers: [{address: 203.0.113.11}]}\n",
		"virtual_server 192.0.2.10 80 {\n  real_server 203.0.113.11 80 {\n    TCP_CHECK {\n    }\n  }\n}\n",
		"virtual=192.0.2.10:80\n\treal=203.0.113.11:80 masq\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f", data, Options{ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist }})
		if err == nil {
			if cfg == nil {
				t.Fatal("nil Config without an error")
			}
			if verr := config.Validate(cfg, nil); verr != nil {
				t.Fatalf("Parse returned a Config that does not validate: %v", verr)
			}
		}
	})
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	native := write("gdirector.yaml", "timeouts: {tcp: 1m}\nservices:\n  - vip: 192.0.2.10\n    port: 80\n    method: nat\n"+
		"    sorry_server: 203.0.113.99\n    real_servers:\n      - {address: 203.0.113.11, checks: [{type: tcp}, {type: http}]}\n      - {address: 203.0.113.12}\n")
	bad := write("bad.yaml", "services:\n  - vip: 192.0.2.10\n    port: 80\n    method: nat\n    real_servers:\n      - {address: 203.0.113.11, weight: 70000}\n")
	dr := write("dr.rules", "-A -t 192.0.2.10:80\n-a -t 192.0.2.10:80 -r 203.0.113.11:80 -g\n")
	ldirectord := write("ldirectord.cf", "autoreload=yes\nvirtual=192.0.2.10:80\n\treal=203.0.113.11:80 masq\n\tchecktype=on\n\tnetmask=255.255.255.0\n")
	example := "../../docs/examples/gdirector.yaml"
	for _, tc := range []struct {
		args         []string
		code         int
		stdout, errs string
	}{
		{[]string{"check", native}, 0, native + ": valid native configuration: 1 service, 2 real servers, 2 health checks, 1 sorry server, timeouts\n", ""},
		{[]string{"check", "--format", "native", native}, 0, "valid native configuration", ""},
		{[]string{"check", native, "--format=yaml"}, 0, "valid native configuration", ""},
		{[]string{"check", example}, 0, "valid native configuration: 7 services, 12 real servers, 14 health checks, 1 sorry server, 2 local addresses, 1 mark rule, timeouts\n", ""},
		{[]string{"check", ldirectord}, 0, ldirectord + ": valid ldirectord configuration: 1 service, 1 real server, 1 health check\n",
			"gdirector config check: warning: " + ldirectord + ":5: netmask has no effect without persistent"},
		{[]string{"check", dr}, 0, dr + ": valid ipvsadm configuration: 1 service, 1 real server, 0 health checks\n", ""},
		{[]string{"check", dr, "--tun"}, 1, "", dr + ": line 2: Direct routing (-g) needs a director on a raw interface"},
		{[]string{"check", bad}, 1, "", "gdirector config check: " + bad + ":6: weight: want a whole number 0..65535, got \"70000\"\n"},
		{[]string{"check", "--format", "ipvsadm", native}, 1, "", native + ": line 1: "},
		{[]string{"check", filepath.Join(dir, "none")}, 1, "", "no such file or directory"},
		{[]string{"check", "--format", "xml", native}, 2, "", "--format: unknown format \"xml\""},
		{[]string{"check"}, 2, "", "usage: gdirector config check FILE"},
		{[]string{"check", native, native}, 2, "", "usage:"},
		{[]string{"check", "--bogus", native}, 2, "", "usage:"},
		{[]string{"verify", native}, 2, "", "usage:"},
		{nil, 2, "", "usage:"},
	} {
		var o, e bytes.Buffer
		code := configMain(tc.args, &o, &e)
		if code != tc.code || !strings.Contains(o.String(), tc.stdout) || !strings.Contains(e.String(), tc.errs) ||
			(tc.stdout == "" && o.Len() != 0) || (tc.errs == "" && e.Len() != 0) {
			t.Errorf("config %v: exit %d\nstdout %q\nstderr %q\nwant exit %d, %q, %q", tc.args, code, o.String(), e.String(), tc.code, tc.stdout, tc.errs)
		}
	}
}

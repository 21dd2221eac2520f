package native

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/config"
)

// FuzzParse: any input gives a Config or an error naming the file, never
// a panic; a Config has the line of every item, and parsing is
// deterministic. Validate never panics on what Parse accepts.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(examplePath); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		base,
		withService("scheduler: sh\nscheduler_flags: [sh-port]\npersistent: 10m\nnetmask: 24\nsorry_server: 203.0.113.99:80\n"),
		withCheck("type: http\nurls: [/a, {path: /b, status: \"200-204\", digest: 9e107d9d372bb6826bd81d3542a419d6}]\n"),
		withCheck("type: udp\npayload_hex: \"0a0b\"\n"),
		withCheck("type: misc\ncommand: /bin/true\n"),
		"timeouts: {tcp: 1m}\nmarks: [{dst: 192.0.2.1, ports: [80, \"90:99\"], mark: 1}]\nservices: [{fwmark: 1, method: dr}]\n",
		"x-a: &a {weight: 2}\n" + withDest("<<: *a\n"),
		"services: *x\n",
		"services:\n  - vip: [\n",
		"{services: []}",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatal("a Config with an error")
			}
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error without the file: %v", err)
			}
			return
		}
		if c.Format != config.FormatNative || c.Path != "f.yaml" {
			t.Fatalf("format %v path %q", c.Format, c.Path)
		}
		for _, s := range c.Services {
			if s.Line <= 0 {
				t.Fatalf("service without a line: %+v", s)
			}
			for _, d := range s.Dests {
				if d.Line <= 0 {
					t.Fatalf("real server without a line: %+v", d)
				}
				for _, k := range d.Checks {
					if k.Line <= 0 || k.Kind < config.CheckTCP || k.Kind > config.CheckOff {
						t.Fatalf("check %+v", k)
					}
				}
			}
		}
		again, err := Parse("f.yaml", data)
		if err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("a second parse differs: %v", err)
		}
		_ = config.Validate(c, nil)
	})
}

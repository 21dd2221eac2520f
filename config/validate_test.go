package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

func validConfig() *Config {
	a := netip.MustParseAddr
	return &Config{
		Path:     "v.conf",
		Timeouts: &Timeouts{TCP: time.Minute},
		Marks:    []vs.MarkRule{{Dst: a("192.0.2.20"), Mark: 1}},
		Services: []Service{{
			Line: 3, Name: "web",
			ServiceConfig: ctl.ServiceConfig{ServiceID: ctl.ServiceID{Proto: vs.TCP, Addr: a("192.0.2.10"), Port: 80}, Scheduler: "rr", Netmask: 0xffffffff},
			Dests: []Dest{
				{Line: 5, DestConfig: ctl.DestConfig{Addr: a("203.0.113.11"), Port: 80, Fwd: vs.Masq, Weight: 1},
					Checks: []Check{{Line: 6, Kind: CheckTCP, Interval: time.Second}}},
				{Line: 8, DestConfig: ctl.DestConfig{Addr: a("203.0.113.12"), Port: 80, Fwd: vs.DirectRoute, Weight: 1}},
			},
			Sorry: &Dest{Line: 10, DestConfig: ctl.DestConfig{Addr: a("203.0.113.11"), Port: 80, Fwd: vs.Masq, Weight: 1}},
		}, {
			Line:          12,
			ServiceConfig: ctl.ServiceConfig{ServiceID: ctl.ServiceID{FwMark: 1}, Scheduler: "wlc", Netmask: 0xffffffff},
			LAddrs:        []LocalAddr{{Addr: a("203.0.113.250")}},
			Dests:         []Dest{{Line: 13, DestConfig: ctl.DestConfig{Addr: a("203.0.113.13"), Fwd: vs.FullNAT, Weight: 1}}},
		}},
	}
}

func TestValidate(t *testing.T) {
	if err := Validate(validConfig(), nil); err != nil {
		t.Fatal(err)
	}
	if got := validConfig().Summarize(); got != (Summary{Services: 2, RealServers: 3, Checks: 1, SorryServers: 1, LocalAddrs: 1, Marks: 1}) {
		t.Errorf("summary %+v", got)
	}
	errDR := errors.New("no DR here")
	noDR := func(d ctl.DestConfig) error {
		if d.Fwd == vs.DirectRoute {
			return errDR
		}
		return nil
	}
	for _, tc := range []struct {
		name  string
		edit  func(c *Config)
		check func(ctl.DestConfig) error
		want  string
	}{
		{"nil", nil, nil, "no configuration"},
		{"checkDest", func(*Config) {}, noDR, "v.conf:8: real server 203.0.113.12:80: no DR here"},
		{"sorry checkDest", func(c *Config) { c.Services[0].Sorry.Fwd = vs.DirectRoute; c.Services[0].Dests[1].Fwd = vs.Masq }, noDR,
			"v.conf:10: sorry server 203.0.113.11:80: no DR here"},
		{"timeouts fraction", func(c *Config) { c.Timeouts.UDP = 1500 * time.Millisecond }, nil, "v.conf: timeouts: 1.5s is not a whole number of seconds"},
		{"timeouts range", func(c *Config) { c.Timeouts.UDP = time.Duration(ctl.MaxTimeout+1) * time.Second }, nil, "v.conf: timeouts ("},
		{"mark", func(c *Config) { c.Marks[0].Mark = 0 }, nil, "v.conf: mark rule -d 192.0.2.20 --set-mark 0: "},
		{"service repeated", func(c *Config) { c.Services[1].ServiceConfig = c.Services[0].ServiceConfig }, nil, "v.conf:12: service tcp/192.0.2.10:80: Service already exists"},
		{"scheduler", func(c *Config) { c.Services[0].Scheduler = "nope" }, nil, "v.conf:3: service web: Scheduler or persistence engine not found"},
		{"laddr family", func(c *Config) { c.Services[1].LAddrs[0].Addr = netip.MustParseAddr("2001:db8::1") }, nil,
			"v.conf:12: service fwmark 1: local address 2001:db8::1: Operation not supported"},
		{"dest repeated", func(c *Config) { c.Services[0].Dests[1].DestConfig = c.Services[0].Dests[0].DestConfig }, nil,
			"v.conf:8: real server 203.0.113.11:80: Destination already exists"},
		{"dest line falls back to service", func(c *Config) { c.Services[0].Dests[1].Line = 0; c.Services[0].Dests[1].Weight = -1 }, nil,
			"v.conf:3: real server 203.0.113.12:80: Numerical result out of range"},
		{"check kind", func(c *Config) { c.Services[0].Dests[0].Checks[0].Kind = 0 }, nil, "v.conf:6: real server 203.0.113.11:80: unknown check kind 0"},
		{"check negative", func(c *Config) { c.Services[0].Dests[0].Checks[0].Retry = -1 }, nil, "v.conf:6: real server 203.0.113.11:80: TCP_CHECK: negative timing or count"},
		{"misc command", func(c *Config) { c.Services[0].Dests[0].Checks[0].Kind = CheckMisc }, nil, "v.conf:6: real server 203.0.113.11:80: MISC_CHECK without a command"},
		{"quorum", func(c *Config) { c.Services[0].Quorum = -1 }, nil, "v.conf:3: service web: negative quorum or hysteresis"},
		{"ipv6 label", func(c *Config) {
			c.Services[0].Dests[1].Addr = netip.MustParseAddr("2001:db8::12")
		}, nil, "v.conf:8: real server [2001:db8::12]:80: "},
	} {
		var c *Config
		if tc.edit != nil {
			c = validConfig()
			tc.edit(c)
		}
		err := Validate(c, tc.check)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// Validate stages services in chunks; a service repeated in another chunk
// is refused as one repeated in the same chunk is.
func TestValidateAcrossChunks(t *testing.T) {
	n := 3*validateChunk + 10
	c := largeConfig(n, 2)
	if err := Validate(c, nil); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{1, validateChunk - 1, validateChunk, 2*validateChunk + 7, n - 1} {
		c := largeConfig(n, 2)
		c.Services[at].ServiceConfig = c.Services[0].ServiceConfig
		want := fmt.Sprintf("large.conf:%d: service tcp/192.0.2.1:1000: Service already exists", at+1)
		if err := Validate(c, nil); err == nil || err.Error() != want {
			t.Errorf("service %d repeats service 0: %v, want %q", at, err, want)
		}
	}
	// The first failure is reported, whatever its chunk.
	c = largeConfig(n, 2)
	c.Services[2*validateChunk].Dests[1].Weight = -1
	c.Services[n-1].Scheduler = "nope"
	want := fmt.Sprintf("large.conf:%d: real server 203.0.113.2:80: Numerical result out of range", 2*validateChunk+1)
	if err := Validate(c, nil); err == nil || err.Error() != want {
		t.Errorf("%v, want %q", err, want)
	}
}

// Errors name the file an item was read from (an included file), else
// the configuration's.
func TestValidateNamesFiles(t *testing.T) {
	const inc = "/etc/keepalived/conf.d/web.conf"
	included := func() *Config {
		c := validConfig()
		s := &c.Services[0]
		s.File = inc
		s.Dests[0].File, s.Dests[0].Checks[0].File = inc, inc
		s.Sorry.File = inc
		return c
	}
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"service", func(c *Config) { c.Services[0].Scheduler = "nope" }, inc + ":3: service web: Scheduler or persistence engine not found"},
		{"real server", func(c *Config) { c.Services[0].Dests[0].Weight = -1 }, inc + ":5: real server 203.0.113.11:80: "},
		{"real server of the main file", func(c *Config) { c.Services[0].Dests[1].Weight = -1 }, "v.conf:8: real server 203.0.113.12:80: "},
		{"real server without a line", func(c *Config) { c.Services[0].Dests[1].Line = 0; c.Services[0].Dests[1].Weight = -1 }, inc + ":3: real server 203.0.113.12:80: "},
		{"check", func(c *Config) { c.Services[0].Dests[0].Checks[0].Retry = -1 }, inc + ":6: real server 203.0.113.11:80: TCP_CHECK"},
		{"sorry server", func(c *Config) { c.Services[0].Sorry.Weight = -1 }, inc + ":10: sorry server 203.0.113.11:80: "},
		{"quorum", func(c *Config) { c.Services[0].Quorum = -1 }, inc + ":3: service web: negative quorum"},
		{"other service", func(c *Config) { c.Services[1].Scheduler = "nope" }, "v.conf:12: service fwmark 1: "},
	} {
		c := included()
		tc.edit(c)
		if err := Validate(c, nil); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestLocate(t *testing.T) {
	for _, tc := range []struct {
		places []Pos
		want   Pos
	}{
		{nil, Pos{File: "main.conf"}},
		{[]Pos{{}, {Line: 0, File: "x.conf"}}, Pos{File: "main.conf"}},
		{[]Pos{{Line: 4}}, Pos{File: "main.conf", Line: 4}},
		{[]Pos{{Line: 0}, {Line: 7, File: "inc.conf"}, {Line: 2}}, Pos{File: "inc.conf", Line: 7}},
		{[]Pos{{Line: 3, File: "a.conf"}, {Line: 7, File: "inc.conf"}}, Pos{File: "a.conf", Line: 3}},
	} {
		if got := Locate("main.conf", tc.places...); got != tc.want {
			t.Errorf("Locate(%v) = %v, want %v", tc.places, got, tc.want)
		}
	}
	if got := Locate("", Pos{Line: 5}).Errorf("bad %s", "thing").Error(); got != "line 5: bad thing" {
		t.Errorf("Errorf without a path: %q", got)
	}
	if got := Locate("m.conf", Pos{Line: 5, File: "i.conf"}).Errorf("bad").Error(); got != "i.conf:5: bad" {
		t.Errorf("Errorf: %q", got)
	}
}

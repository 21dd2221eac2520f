package realserver

import (
	"errors"
	"flag"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseVIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.10":            "192.0.2.10",
		" 192.0.2.10/32":        "192.0.2.10",
		"2001:db8:f::10":        "2001:db8:f::10",
		"2001:db8:f::10/128":    "2001:db8:f::10",
		"::ffff:192.0.2.10":     "192.0.2.10",
		"192.0.2.10/24":         "",
		"0.0.0.0":               "",
		"127.0.0.1":             "",
		"::1":                   "",
		"224.0.0.1":             "",
		"fe80::1":               "",
		"2001:db8::1%eth0":      "",
		"255.255.255.255":       "",
		"vip.example":           "",
		"":                      "",
		"2001:db8:f::10/64":     "",
		"192.0.2.10/33":         "",
		"192.0.2.10,192.0.2.11": "",
	} {
		got, err := ParseVIP(in)
		if want == "" {
			if err == nil {
				t.Errorf("%q accepted as %v", in, got)
			}
			continue
		}
		if err != nil || got != netip.MustParseAddr(want) {
			t.Errorf("%q: %v, %v; want %s", in, got, err, want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	v := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, x := range s {
			out = append(out, netip.MustParseAddr(x))
		}
		return out
	}
	cases := []struct {
		args []string
		want *Command
		err  string
	}{
		{[]string{"dr", "--vip", "192.0.2.10", "--vip", "192.0.2.11,2001:db8:f::10", "--vip", "192.0.2.10"},
			&Command{Mode: ModeDR, DR: DROptions{VIPs: v("192.0.2.10", "192.0.2.11", "2001:db8:f::10"), Dev: "lo"}}, ""},
		{[]string{"dr", "--vip=192.0.2.10", "--dev", "dummy0", "--iface", "eth0,eth1", "--state-dir", "/tmp/x"},
			&Command{Mode: ModeDR, StateDir: "/tmp/x", DR: DROptions{VIPs: v("192.0.2.10"), Dev: "dummy0", Ifaces: []string{"eth0", "eth1"}, StateDir: "/tmp/x"}}, ""},
		{[]string{"dr", "--undo"}, &Command{Mode: ModeDR, Undo: true, DR: DROptions{Dev: "lo"}}, ""},
		{[]string{"tun", "--vip", "192.0.2.10", "--iface", "eth0", "--tun", "rs0", "--director", "203.0.113.1,203.0.113.0/24", "--batch", "8"},
			&Command{Mode: ModeTun, Tun: TunOptions{VIPs: v("192.0.2.10"), Iface: "eth0", TunName: "rs0", BatchSize: 8,
				Directors: []netip.Prefix{netip.MustParsePrefix("203.0.113.1/32"), netip.MustParsePrefix("203.0.113.0/24")}}}, ""},
		{[]string{"tun", "--vip", "2001:db8:f::10"},
			&Command{Mode: ModeTun, Tun: TunOptions{VIPs: v("2001:db8:f::10"), TunName: DefaultTunName, BatchSize: defaultBatch}}, ""},
		{[]string{"tun", "--undo", "--state-dir", "/tmp/y"},
			&Command{Mode: ModeTun, Undo: true, StateDir: "/tmp/y", Tun: TunOptions{TunName: DefaultTunName, BatchSize: defaultBatch, StateDir: "/tmp/y"}}, ""},
		{nil, nil, "missing mode"},
		{[]string{"nat"}, nil, "unknown mode"},
		{[]string{"dr"}, nil, "at least one --vip"},
		{[]string{"dr", "--vip", "192.0.2.10", "--undo"}, nil, "--undo takes no --vip"},
		{[]string{"dr", "--vip", "10.0.0.0/8"}, nil, "single address"},
		{[]string{"dr", "--vip", "192.0.2.10", "extra"}, nil, "unexpected argument"},
		{[]string{"dr", "--vip", "192.0.2.10", "--dev", "a/b"}, nil, "invalid interface"},
		{[]string{"dr", "--vip", "192.0.2.10", "--dev", "averyveryverylongname"}, nil, "invalid interface"},
		{[]string{"dr", "--vip", "192.0.2.10", "--tun", "x"}, nil, "not defined"},
		{[]string{"tun", "--vip", "192.0.2.10", "--batch", "0"}, nil, "--batch"},
		{[]string{"tun", "--vip", "192.0.2.10", "--director", "nope"}, nil, "--director"},
		{[]string{"tun", "--vip", "192.0.2.10", "--tun", ""}, nil, "invalid interface"},
		{[]string{"tun", "--vip", "192.0.2.10", "--dev", "lo"}, nil, "not defined"},
	}
	for _, c := range cases {
		got, err := ParseArgs(c.args)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.args, got, c.want)
		}
	}
	for _, a := range [][]string{{"-h"}, {"help"}, {"dr", "-h"}, {"tun", "--help"}} {
		if _, err := ParseArgs(a); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q: %v, want flag.ErrHelp", a, err)
		}
	}
}

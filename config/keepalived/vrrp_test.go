package keepalived

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
)

// vrrpText is a vrrp_instance with the lines under test in it.
func vrrpText(lines string) string {
	return "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n" + lines + "\n    virtual_ipaddress {\n        192.0.2.100\n    }\n}\n"
}

func TestVRRPInstance(t *testing.T) {
	text := `global_defs {
    vrrp_version 3
}
vrrp_instance web {
    state MASTER
    interface eth1
    virtual_router_id 7
    priority 150
    advert_int 0.5
    nopreempt
    preempt_delay 3
    unicast_src_ip 192.0.2.1
    unicast_peer {
        192.0.2.2
        192.0.2.3
    }
    virtual_ipaddress {
        192.0.2.100/24 dev eth1 label eth1:vip
        192.0.2.101
    }
    track_interface {
        eth0
        eth2 weight 10
    }
    notify_master "/usr/local/bin/vip up"
    notify "/usr/local/bin/all"
    v3_checksum_as_v2
}
vrrp_instance v2 {
    version 2
    interface eth0
    virtual_router_id 8
    authentication {
        auth_type PASS
        auth_pass sesame
    }
    virtual_ipaddress {
        192.0.2.110
    }
}
vrrp_instance six {
    interface eth0
    virtual_router_id 8
    virtual_ipaddress {
        2001:db8::10/64
    }
}
`
	c := mustParse(t, text)
	want := []config.VRRPInstance{{
		Line: 4, Name: "web", StartMaster: true, Interface: "eth1", VRID: 7, Priority: 150,
		AdvertInt: 500 * time.Millisecond, Version: 3, PreemptDelay: 3 * time.Second,
		UnicastSrc:   netip.MustParseAddr("192.0.2.1"),
		UnicastPeers: []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")},
		VIPs: []config.VRRPAddress{
			{Line: 18, Prefix: netip.MustParsePrefix("192.0.2.100/24"), Dev: "eth1", Label: "eth1:vip"},
			{Line: 19, Prefix: netip.MustParsePrefix("192.0.2.101/32")},
		},
		Track:        []config.VRRPTrack{{Line: 22, Interface: "eth0"}, {Line: 23, Interface: "eth2", Weight: 10}},
		NotifyMaster: "/usr/local/bin/vip up", Notify: "/usr/local/bin/all",
		Accept: true, V3ChecksumAsV2: true,
	}, {
		Line: 29, Name: "v2", Interface: "eth0", VRID: 8, Priority: 100, AdvertInt: time.Second,
		Version: 2, Preempt: true, AuthPass: "sesame", Accept: true,
		VIPs: []config.VRRPAddress{{Line: 38, Prefix: netip.MustParsePrefix("192.0.2.110/32")}},
	}, {
		Line: 41, Name: "six", Interface: "eth0", VRID: 8, Priority: 100, AdvertInt: time.Second,
		Version: 3, Preempt: true, Accept: true,
		VIPs: []config.VRRPAddress{{Line: 45, Prefix: netip.MustParsePrefix("2001:db8::10/64")}},
	}}
	if !reflect.DeepEqual(c.VRRP, want) {
		t.Fatalf("got  %+v\nwant %+v", c.VRRP, want)
	}
}

func TestVRRPDefaultsAndWarnings(t *testing.T) {
	c := mustParse(t, "global_defs {\n vrrp_strict\n}\n"+vrrpText("    smtp_alert\n    authentication {\n        auth_type PASS\n        auth_pass 123456789\n    }"))
	v := c.VRRP[0]
	if v.Priority != 100 || v.AdvertInt != time.Second || v.Version != 2 || !v.Preempt || !v.Strict || v.AuthPass != "" {
		t.Fatalf("%+v", v)
	}
	want := []string{
		"t.conf:7: smtp_alert ignored: gdirector sends no mail",
		"t.conf:10: auth_pass: only the first 8 characters are used, as keepalived does",
		"t.conf:9: authentication ignored: vrrp_strict forbids it (keepalived drops it too)",
	}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Fatalf("warnings %q, want %q", c.Warnings, want)
	}
}

func TestVRRPErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"no name", "vrrp_instance {\n}\n", "t.conf:1: vrrp_instance: missing name"},
		{"duplicate name", vrrpText("") + vrrpText(""), "t.conf:9: vrrp_instance VI_1 is already defined at line 1"},
		{"no interface", "vrrp_instance x {\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n", "t.conf:1: vrrp_instance x: no interface"},
		{"no vrid", "vrrp_instance x {\n interface eth0\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n", "t.conf:1: vrrp_instance x: no virtual_router_id"},
		{"no vip", "vrrp_instance x {\n interface eth0\n virtual_router_id 1\n}\n", "t.conf:1: vrrp_instance x: no virtual_ipaddress"},
		{"vrid 0", vrrpText("    virtual_router_id 0"), "t.conf:4:"},
		{"vrid 256", vrrpText("    virtual_router_id 256"), "t.conf:4:"},
		{"priority 0", vrrpText("    priority 0"), "t.conf:4:"},
		{"priority 256", vrrpText("    priority 256"), "t.conf:4:"},
		{"bad state", vrrpText("    state FAULT"), "t.conf:4: state: unknown state \"FAULT\""},
		{"v2 fraction", vrrpText("    advert_int 1.5"), "t.conf:4: advert_int 1.5s: VRRP version 2 advertises whole seconds"},
		{"v3 below a centisecond", vrrpText("    version 3\n    advert_int 0.015"), "t.conf:5: advert_int 15ms: VRRP version 3 counts whole centiseconds"},
		{"version 4", vrrpText("    version 4"), "t.conf:4:"},
		{"AH", vrrpText("    authentication {\n auth_type AH\n }"), "t.conf:5: auth_type AH (IPsec authentication header) is not supported"},
		{"pass without type", vrrpText("    authentication {\n auth_pass x\n }"), "t.conf:5: vrrp_instance VI_1: auth_pass without auth_type PASS"},
		{"type without pass", vrrpText("    authentication {\n auth_type PASS\n }"), "t.conf:5: vrrp_instance VI_1: auth_type PASS without auth_pass"},
		{"unknown keyword", vrrpText("    priorty 5"), "t.conf:4: unknown keyword \"priorty\" in vrrp_instance"},
		{"bad vip", "vrrp_instance x {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.300\n }\n}\n", "t.conf:5: virtual_ipaddress: \"192.0.2.300\" is not an address or ADDR/LEN"},
		{"bad vip option", "vrrp_instance x {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.3 via x\n }\n}\n", "t.conf:5: virtual_ipaddress 192.0.2.3: unsupported option \"via\""},
		{"mixed families", "vrrp_instance x {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.3\n 2001:db8::1\n }\n}\n", "t.conf:6: vrrp_instance x: virtual_ipaddress 2001:db8::1/128 is not of the family"},
		{"v2 over IPv6", "vrrp_instance x {\n version 2\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 2001:db8::1\n }\n}\n", "t.conf:2: vrrp_instance x: VRRP version 2 is IPv4 only"},
		{"peer family", vrrpText("    unicast_peer {\n 2001:db8::2\n }"), "t.conf:1: vrrp_instance VI_1: unicast_peer 2001:db8::2 is not of the virtual addresses' family"},
		{"bad peer", vrrpText("    unicast_peer {\n 192.0.2\n }"), "t.conf:5: unicast_peer:"},
		{"strict unicast", "global_defs {\n vrrp_strict\n}\n" + vrrpText("    unicast_peer {\n 192.0.2.2\n }"), "t.conf:4: vrrp_instance VI_1: vrrp_strict forbids unicast peers"},
		{"same vrid twice", vrrpText("") + strings.Replace(vrrpText(""), "VI_1", "VI_2", 1), "t.conf:9: vrrp_instance VI_2: virtual_router_id 51 on eth0 is already used by vrrp_instance VI_1"},
		{"routes", vrrpText("    virtual_routes {\n }"), "t.conf:4: virtual_routes is not supported"},
		{"notify twice", vrrpText("    notify_master /bin/a\n    notify_master /bin/b"), "t.conf:5: notify_master is set twice"},
		{"global version 5", "global_defs {\n vrrp_version 5\n}\n", "t.conf:2:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.conf", []byte(tc.text), nil)
			if err == nil || c != nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want one starting with %q", err, tc.want)
			}
		})
	}
}

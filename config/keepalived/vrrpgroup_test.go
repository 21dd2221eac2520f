package keepalived

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/config"
)

// natPair is keepalived's LVS-NAT pair: the VIP and the real servers'
// gateway in two instances of one sync group.
const natPair = `vrrp_sync_group VG_NAT {
    group {
        VI_VIP
        VI_GW
    }
    track_interface {
        eth2
    }
    notify_master "/bin/gw master"
    notify_fault /bin/gw-fault
    notify "/bin/all"
}
vrrp_instance VI_VIP {
    interface eth0
    virtual_router_id 51
    priority 150
    track_interface {
        eth1
    }
    virtual_ipaddress {
        192.0.2.10
    }
}
vrrp_instance VI_GW {
    interface eth1
    virtual_router_id 52
    priority 150
    dont_track_primary
    track_interface {
        eth2 weight 5
    }
    virtual_ipaddress {
        203.0.113.254/24
    }
}
`

func TestVRRPSyncGroup(t *testing.T) {
	c := mustParse(t, natPair)
	want := []config.VRRPSyncGroup{{
		Line: 1, Name: "VG_NAT", Instances: []string{"VI_VIP", "VI_GW"},
		NotifyMaster: "/bin/gw master", NotifyFault: "/bin/gw-fault", Notify: "/bin/all",
	}}
	if !reflect.DeepEqual(c.VRRPSyncGroups, want) {
		t.Fatalf("groups %+v\nwant %+v", c.VRRPSyncGroups, want)
	}
	// The group's eth2 joins both; VI_GW also tracks eth2, with a
	// weight, so the group's unweighted line replaces it (keepalived's
	// add_vrrp_to_interface keeps the instance's line only when it is
	// unweighted).
	if got, want := c.VRRP[0].Track, []config.VRRPTrack{{Line: 18, Interface: "eth1"}, {Line: 7, Interface: "eth2"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("VI_VIP tracks %+v, want %+v", got, want)
	}
	if got, want := c.VRRP[1].Track, []config.VRRPTrack{{Line: 7, Interface: "eth2"}}; !reflect.DeepEqual(got, want) || !c.VRRP[1].DontTrackPrimary {
		t.Errorf("VI_GW tracks %+v, want %+v; dont_track_primary %v", got, want, c.VRRP[1].DontTrackPrimary)
	}
	wantWarn := []string{`t.conf:30: track_interface eth2 of vrrp_instance VI_GW is also tracked by vrrp_sync_group VG_NAT (line 7): the group's weight 0 is used, the instance's weight 5 is ignored (keepalived: remove one of them)`}
	if !reflect.DeepEqual(c.Warnings, wantWarn) {
		t.Errorf("warnings %q\nwant %q", c.Warnings, wantWarn)
	}

	// sync_group_tracking_weight changes nothing here: the group's line
	// still wins over the instance's weighted one.
	c = mustParse(t, strings.Replace(natPair, "notify \"/bin/all\"", "sync_group_tracking_weight", 1))
	if got, want := c.VRRP[1].Track, []config.VRRPTrack{{Line: 7, Interface: "eth2"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("with sync_group_tracking_weight: VI_GW tracks %+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(c.Warnings, wantWarn) {
		t.Errorf("with sync_group_tracking_weight: warnings %q\nwant %q", c.Warnings, wantWarn)
	}
}

// syncTracks is two instances and a sync group, each with a
// track_interface block of one line (ATRACK line 6, BTRACK line 17,
// GTRACK line 29); PRIO is A's priority, MEMBERS the group's instances,
// GOPT one more line of the group.
const syncTracks = `vrrp_instance A {
 interface eth0
 virtual_router_id 1
 priority PRIO
 track_interface {
  ATRACK
 }
 virtual_ipaddress {
  192.0.2.1
 }
}
vrrp_instance B {
 interface eth0
 virtual_router_id 2
 priority 100
 track_interface {
  BTRACK
 }
 virtual_ipaddress {
  192.0.2.2
 }
}
vrrp_sync_group G {
 group {
  MEMBERS
 }
 GOPT
 track_interface {
  GTRACK
 }
}
`

// TestSyncGroupTrackInterface checks keepalived 2.x's tracked interface
// rules for sync groups and address owners (vrrp_complete_instance and
// sync_group_tracking_init in keepalived/vrrp/vrrp.c).
func TestSyncGroupTrackInterface(t *testing.T) {
	const (
		noWeight = "notify /bin/n"
		weighted = "sync_group_tracking_weight"
		mixed    = "t.conf:23: vrrp_sync_group G: some instances have priority 255 (address owner) and some not; they cannot be master together at startup"
	)
	type tr = config.VRRPTrack
	for _, tc := range []struct {
		name                         string
		prio, a, b, members, gopt, g string
		wantA, wantB                 []tr
		wantWarn                     []string
	}{{
		name: "member's weighted interface set to 0, reverse kept",
		prio: "100", a: "eth1 weight 5 reverse", b: "eth2", members: "A B", gopt: noWeight, g: "eth3",
		wantA:    []tr{{Line: 6, Interface: "eth1", Reverse: true}, {Line: 29, Interface: "eth3"}},
		wantB:    []tr{{Line: 17, Interface: "eth2"}, {Line: 29, Interface: "eth3"}},
		wantWarn: []string{"t.conf:6: track_interface eth1 weight 5 of vrrp_instance A set to 0: the members of vrrp_sync_group G change state together; it puts the instance in FAULT while eth1 is up (keepalived does the same unless sync_group_tracking_weight)"},
	}, {
		name: "sync_group_tracking_weight keeps the member's weight",
		prio: "100", a: "eth1 weight 5 reverse", b: "eth2", members: "A B", gopt: weighted, g: "eth3",
		wantA: []tr{{Line: 6, Interface: "eth1", Weight: 5, Reverse: true}, {Line: 29, Interface: "eth3"}},
		wantB: []tr{{Line: 17, Interface: "eth2"}, {Line: 29, Interface: "eth3"}},
	}, {
		name: "group's weight moves every member",
		prio: "100", a: "eth1", b: "eth2", members: "A B", gopt: noWeight, g: "eth3 weight -20 reverse",
		wantA: []tr{{Line: 6, Interface: "eth1"}, {Line: 29, Interface: "eth3", Weight: -20, Reverse: true}},
		wantB: []tr{{Line: 17, Interface: "eth2"}, {Line: 29, Interface: "eth3", Weight: -20, Reverse: true}},
	}, {
		name: "group's weight set to 0 with an address owner member",
		prio: "255", a: "eth1", b: "eth2", members: "A B", gopt: weighted, g: "eth3 weight -20 reverse",
		wantA: []tr{{Line: 6, Interface: "eth1"}, {Line: 29, Interface: "eth3", Reverse: true}},
		wantB: []tr{{Line: 17, Interface: "eth2"}, {Line: 29, Interface: "eth3", Reverse: true}},
		wantWarn: []string{
			"t.conf:29: track_interface eth3 weight -20 of vrrp_sync_group G set to 0: member vrrp_instance A is the address owner (priority 255), whose priority does not move; it puts every member in FAULT while eth3 is up (keepalived clears it too)",
			mixed,
		},
	}, {
		name: "address owner outside a group drops its weighted interface",
		prio: "255", a: "eth1 weight 5", b: "eth2", members: "B", gopt: noWeight, g: "eth3",
		wantA: nil,
		wantB: []tr{{Line: 17, Interface: "eth2"}, {Line: 29, Interface: "eth3"}},
		wantWarn: []string{
			"t.conf:6: track_interface eth1 weight 5 of vrrp_instance A ignored: the address owner's priority (255) does not move (keepalived ignores it too)",
			"t.conf:23: vrrp_sync_group G has only one instance: it synchronises nothing",
		},
	}, {
		name: "address owner in a sync_group_tracking_weight group drops it",
		prio: "255", a: "eth1 weight 5", b: "eth2", members: "A B", gopt: weighted, g: "eth3",
		wantA: []tr{{Line: 29, Interface: "eth3"}},
		wantB: []tr{{Line: 17, Interface: "eth2"}, {Line: 29, Interface: "eth3"}},
		wantWarn: []string{
			"t.conf:6: track_interface eth1 weight 5 of vrrp_instance A ignored: the address owner's priority (255) does not move (keepalived ignores it too)",
			mixed,
		},
	}, {
		name: "address owner in a plain group sets it to 0",
		prio: "255", a: "eth1 weight 5", b: "eth2", members: "A B", gopt: noWeight, g: "eth3",
		wantA: []tr{{Line: 6, Interface: "eth1"}, {Line: 29, Interface: "eth3"}},
		wantB: []tr{{Line: 17, Interface: "eth2"}, {Line: 29, Interface: "eth3"}},
		wantWarn: []string{
			"t.conf:6: track_interface eth1 weight 5 of vrrp_instance A set to 0: the members of vrrp_sync_group G change state together; it puts the instance in FAULT while eth1 is down (keepalived does the same unless sync_group_tracking_weight)",
			mixed,
		},
	}, {
		name: "group's line replaces a weighted member line, not an unweighted one",
		prio: "100", a: "eth3 weight 5", b: "eth3 weight 0 reverse", members: "A B", gopt: noWeight, g: "eth3 weight -7",
		wantA: []tr{{Line: 29, Interface: "eth3", Weight: -7}},
		wantB: []tr{{Line: 17, Interface: "eth3", Reverse: true}},
		wantWarn: []string{
			"t.conf:6: track_interface eth3 of vrrp_instance A is also tracked by vrrp_sync_group G (line 29): the group's weight -7 is used, the instance's weight 5 is ignored (keepalived: remove one of them)",
			"t.conf:17: track_interface eth3 of vrrp_instance B is also tracked by vrrp_sync_group G (line 29): the instance's unweighted line is used, the group's (weight -7) is ignored (keepalived: remove one of them)",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.NewReplacer("PRIO", tc.prio, "ATRACK", tc.a, "BTRACK", tc.b, "MEMBERS", tc.members, "GOPT", tc.gopt, "GTRACK", tc.g).Replace(syncTracks)
			c := mustParse(t, text)
			if got := c.VRRP[0].Track; !reflect.DeepEqual(got, tc.wantA) {
				t.Errorf("A tracks %+v\nwant     %+v", got, tc.wantA)
			}
			if got := c.VRRP[1].Track; !reflect.DeepEqual(got, tc.wantB) {
				t.Errorf("B tracks %+v\nwant     %+v", got, tc.wantB)
			}
			if !reflect.DeepEqual(c.Warnings, tc.wantWarn) {
				t.Errorf("warnings %q\nwant     %q", c.Warnings, tc.wantWarn)
			}
		})
	}
}

func TestTrackInterface(t *testing.T) {
	c := mustParse(t, vrrpText("    track_interface {\n        eth1\n        eth2 weight -20\n        eth3 weight 7 reverse\n        eth4 weight 254\n        eth5 weight 0 reverse\n    }"))
	want := []config.VRRPTrack{
		{Line: 5, Interface: "eth1"}, {Line: 6, Interface: "eth2", Weight: -20},
		{Line: 7, Interface: "eth3", Weight: 7, Reverse: true}, {Line: 8, Interface: "eth4", Weight: 253},
		{Line: 9, Interface: "eth5", Reverse: true},
	}
	if !reflect.DeepEqual(c.VRRP[0].Track, want) {
		t.Fatalf("tracks %+v\nwant %+v", c.VRRP[0].Track, want)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "t.conf:8: track_interface eth4: weight 254 taken as 253") {
		t.Fatalf("warnings %q", c.Warnings)
	}
}

func TestVRRPSyncGroupErrors(t *testing.T) {
	inst := func(name string, vrid int) string {
		return "vrrp_instance " + name + " {\n interface eth0\n virtual_router_id " + string(rune('0'+vrid)) + "\n virtual_ipaddress {\n 192.0.2." + string(rune('0'+vrid)) + "\n }\n}\n"
	}
	two := inst("A", 1) + inst("B", 2) // 14 lines
	for _, tc := range []struct{ name, text, want string }{
		{"no name", "vrrp_sync_group {\n}\n", "t.conf:1: vrrp_sync_group: needs one name"},
		{"two names", "vrrp_sync_group a b {\n}\n", "t.conf:1: vrrp_sync_group: needs one name"},
		{"defined twice", two + "vrrp_sync_group G {\n group {\n A\n }\n}\nvrrp_sync_group G {\n group {\n B\n }\n}\n", "t.conf:20: vrrp_sync_group G is already defined at line 15"},
		{"unknown instance", two + "vrrp_sync_group G {\n group {\n A\n C\n }\n}\n", "t.conf:18: vrrp_sync_group G: no vrrp_instance C"},
		{"in two groups", two + "vrrp_sync_group G {\n group {\n A B\n }\n}\nvrrp_sync_group H {\n group {\n B\n }\n}\n", "t.conf:22: vrrp_sync_group H: vrrp_instance B is already in vrrp_sync_group G (line 15); an instance can be in one group only"},
		{"listed twice", two + "vrrp_sync_group G {\n group {\n A\n A\n }\n}\n", "t.conf:18: vrrp_sync_group G: vrrp_instance A is listed twice"},
		{"no group block", two + "vrrp_sync_group G {\n notify /bin/x\n}\n", "t.conf:15: vrrp_sync_group G: no instances"},
		{"bare names", two + "vrrp_sync_group G {\n A\n B\n}\n", "t.conf:16: unknown keyword \"A\" in vrrp_sync_group (the instances go in a group { } block)"},
		{"group twice", two + "vrrp_sync_group G {\n group {\n A\n }\n group {\n B\n }\n}\n", "t.conf:19: vrrp_sync_group G: group is already given at line 16"},
		{"unknown keyword", two + "vrrp_sync_group G {\n group {\n A\n }\n priority 5\n}\n", "t.conf:19: unknown keyword \"priority\" in vrrp_sync_group"},
		{"notify twice", two + "vrrp_sync_group G {\n group {\n A\n }\n notify /a\n notify /b\n}\n", "t.conf:20: notify is set twice"},
		{"notify as user", two + "vrrp_sync_group G {\n group {\n A\n }\n notify_master /a root\n}\n", "t.conf:19: notify_master: running the script as user"},
		{"track option", vrrpText("    track_interface {\n eth1 prio 5\n }"), "t.conf:5: track_interface eth1: unknown option \"prio\""},
		{"track weight missing", vrrpText("    track_interface {\n eth1 weight\n }"), "t.conf:5: track_interface eth1: weight needs a value"},
		{"track weight range", vrrpText("    track_interface {\n eth1 weight 255\n }"), "t.conf:5: track_interface eth1: weight \"255\" is not an integer in -253..253"},
		{"track weight word", vrrpText("    track_interface {\n eth1 weight x\n }"), "t.conf:5: track_interface eth1: weight \"x\""},
		{"track after weight", vrrpText("    track_interface {\n eth1 weight 5 backwards\n }"), "t.conf:5: track_interface eth1: unexpected \"backwards\""},
		{"track twice", vrrpText("    track_interface {\n eth1\n eth1 weight 2\n }"), "t.conf:6: track_interface eth1 is already listed at line 5"},
		{"track long name", vrrpText("    track_interface {\n eth1234567890123\n }"), "t.conf:5: track_interface eth1234567890123: interface name longer than 15 bytes"},
		{"dont_track_primary value", vrrpText("    dont_track_primary yes"), "t.conf:4:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.conf", []byte(tc.text), nil)
			if err == nil || c != nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want one starting with %q", err, tc.want)
			}
		})
	}
}

func TestVRRPSyncGroupWarnings(t *testing.T) {
	inst := "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 255\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n" +
		"vrrp_instance B {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n 192.0.2.2\n }\n}\n"
	c := mustParse(t, inst+"vrrp_sync_group G {\n group {\n A B\n }\n smtp_alert\n track_file {\n chk\n }\n}\n")
	want := []string{
		"t.conf:20: smtp_alert ignored: gdirector sends no mail",
		"t.conf:21: track_file ignored: track_file is not supported",
		"t.conf:16: vrrp_sync_group G: some instances have priority 255 (address owner) and some not; they cannot be master together at startup",
	}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Errorf("warnings %q\nwant %q", c.Warnings, want)
	}
	c = mustParse(t, inst+"vrrp_sync_group G {\n group {\n B\n }\n}\n")
	if want := []string{"t.conf:16: vrrp_sync_group G has only one instance: it synchronises nothing"}; !reflect.DeepEqual(c.Warnings, want) {
		t.Errorf("warnings %q\nwant %q", c.Warnings, want)
	}
	if _, err := Parse("t.conf", []byte(inst+"vrrp_sync_group H {\n group {\n }\n}\n"), nil); err == nil || !strings.HasPrefix(err.Error(), "t.conf:16: vrrp_sync_group H: no instances") {
		t.Errorf("empty group: %v", err)
	}
}

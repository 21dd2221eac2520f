package keepalived

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
)

// scriptText is a three-line vrrp_script running /bin/true.
func scriptText(name string) string {
	return "vrrp_script " + name + " {\n script /bin/true\n}\n"
}

// TestVRRPScript reads every vrrp_script setting, the defaults, and the
// track_script lines of an instance that comes before its scripts.
func TestVRRPScript(t *testing.T) {
	text := `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.100
    }
    track_script {
        chk_full
        chk_min weight 7
        chk_rev weight -3
        chk_rev2 weight 4 noreverse
        chk_min0 weight 0 reverse
    }
}
vrrp_script chk_full {
    script "/usr/local/bin/check web"
    interval 2.5
    timeout 10
    weight -20 reverse
    rise 3
    fall 2
    user nobody nogroup
    init_fail
}
vrrp_script chk_min {
    script /bin/true
}
vrrp_script chk_rev {
    script '/bin/x "a b"'
    weight 5 reverse
}
vrrp_script chk_rev2 {
    script /bin/y
    weight 5 reverse
    interval 3
    user www
}
vrrp_script chk_min0 { script /bin/z }
`
	c := mustParse(t, text)
	wantScripts := []config.VRRPScript{
		{Line: 15, Name: "chk_full", Command: "/usr/local/bin/check web", Interval: 2500 * time.Millisecond, Timeout: 10 * time.Second,
			Weight: -20, Reverse: true, Rise: 3, Fall: 2, InitFail: true, User: "nobody", Group: "nogroup"},
		{Line: 25, Name: "chk_min", Command: "/bin/true", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1},
		{Line: 28, Name: "chk_rev", Command: `/bin/x 'a b'`, Interval: time.Second, Timeout: time.Second, Weight: 5, Reverse: true, Rise: 1, Fall: 1},
		{Line: 32, Name: "chk_rev2", Command: "/bin/y", Interval: 3 * time.Second, Timeout: 3 * time.Second, Weight: 5, Reverse: true, Rise: 1, Fall: 1, User: "www"},
		{Line: 38, Name: "chk_min0", Command: "/bin/z", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1},
	}
	if !reflect.DeepEqual(c.VRRPScripts, wantScripts) {
		t.Errorf("scripts %+v\nwant    %+v", c.VRRPScripts, wantScripts)
	}
	wantTrack := []config.VRRPTrackScript{
		{Line: 8, Script: "chk_full", Weight: -20, Reverse: true}, // the script's weight and reverse
		{Line: 9, Script: "chk_min", Weight: 7},                   // the line's weight
		{Line: 10, Script: "chk_rev", Weight: -3, Reverse: true},  // a weight alone keeps the script's reverse
		{Line: 11, Script: "chk_rev2", Weight: 4},                 // noreverse clears it
		{Line: 12, Script: "chk_min0", Weight: 0, Reverse: true},  // reverse sets it
	}
	if got := c.VRRP[0].TrackScripts; !reflect.DeepEqual(got, wantTrack) {
		t.Errorf("tracks %+v\nwant   %+v", got, wantTrack)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings %q", c.Warnings)
	}
}

// TestVRRPScriptInclude: a script read from an included file names it.
func TestVRRPScriptInclude(t *testing.T) {
	read := memFS(map[string]string{"/etc/keepalived/chk.conf": "\nvrrp_script chk {\n script /bin/true\n}\n"})
	c, err := Parse("/etc/keepalived/keepalived.conf", []byte(vrrpText("    track_script {\n        chk\n    }")+"include chk.conf\n"), read)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.VRRPScripts) != 1 || c.VRRPScripts[0].File != "/etc/keepalived/chk.conf" || c.VRRPScripts[0].Line != 2 {
		t.Fatalf("scripts %+v", c.VRRPScripts)
	}
	if p := c.VRRPScripts[0].Pos(); p.File != "/etc/keepalived/chk.conf" || p.Line != 2 {
		t.Fatalf("Pos %+v", p)
	}
}

// groupScripts is a sync group of two instances tracking scripts; GROUPOPT
// is one line of the group (a filler, or sync_group_tracking_weight).
const groupScripts = `vrrp_script chk_a {
    script /bin/a
    weight 10
}
vrrp_script chk_b {
    script /bin/b
}
vrrp_script chk_g {
    script /bin/g
    weight -5
}
vrrp_sync_group G {
    GROUPOPT
    group {
        A
        B
    }
    track_script {
        chk_b
        chk_g
    }
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    track_script {
        chk_a
        chk_b weight 0
    }
    virtual_ipaddress {
        192.0.2.1
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 2
    track_script {
        chk_g weight 3
    }
    virtual_ipaddress {
        192.0.2.2
    }
}
`

func TestTrackScriptSyncGroup(t *testing.T) {
	// Without sync_group_tracking_weight the members' own weighted
	// scripts are dropped (keepalived frees them, it does not set them
	// to weight 0); the group's scripts join every member with the
	// group's weights, except where the member's own line is unweighted
	// (A's chk_b).
	const dupB = "t.conf:28: track_script chk_b of vrrp_instance A is also tracked by vrrp_sync_group G (line 19): the instance's unweighted line is used, the group's (weight 0) is ignored (keepalived: remove one of them)"
	c := mustParse(t, strings.Replace(groupScripts, "GROUPOPT", "notify /bin/n", 1))
	wantA := []config.VRRPTrackScript{{Line: 28, Script: "chk_b"}, {Line: 20, Script: "chk_g", Weight: -5}}
	wantB := []config.VRRPTrackScript{{Line: 19, Script: "chk_b"}, {Line: 20, Script: "chk_g", Weight: -5}}
	if got := c.VRRP[0].TrackScripts; !reflect.DeepEqual(got, wantA) {
		t.Errorf("A tracks %+v\nwant     %+v", got, wantA)
	}
	if got := c.VRRP[1].TrackScripts; !reflect.DeepEqual(got, wantB) {
		t.Errorf("B tracks %+v\nwant     %+v", got, wantB)
	}
	wantWarn := []string{
		"t.conf:27: track_script chk_a weight 10 of vrrp_instance A ignored: the members of vrrp_sync_group G change state together (keepalived drops weighted scripts of members unless sync_group_tracking_weight)",
		dupB,
		"t.conf:38: track_script chk_g weight 3 of vrrp_instance B ignored: the members of vrrp_sync_group G change state together (keepalived drops weighted scripts of members unless sync_group_tracking_weight)",
		"t.conf:1: vrrp_script chk_a is not tracked by any vrrp_instance: it is not run",
	}
	if !reflect.DeepEqual(c.Warnings, wantWarn) {
		t.Errorf("warnings %q\nwant %q", c.Warnings, wantWarn)
	}
	if len(c.VRRPScripts) != 2 || c.VRRPScripts[0].Name != "chk_b" || c.VRRPScripts[1].Name != "chk_g" {
		t.Errorf("scripts %+v: want chk_b and chk_g (chk_a is not run)", c.VRRPScripts)
	}

	// sync_group_tracking_weight keeps the members' weights, but the
	// group's line replaces a weighted member line of the same script
	// (B's chk_g), as keepalived's add_vrrp_to_track_script does.
	c = mustParse(t, strings.Replace(groupScripts, "GROUPOPT", "sync_group_tracking_weight", 1))
	wantA = []config.VRRPTrackScript{{Line: 27, Script: "chk_a", Weight: 10}, {Line: 28, Script: "chk_b"}, {Line: 20, Script: "chk_g", Weight: -5}}
	wantB = []config.VRRPTrackScript{{Line: 20, Script: "chk_g", Weight: -5}, {Line: 19, Script: "chk_b"}}
	if got := c.VRRP[0].TrackScripts; !reflect.DeepEqual(got, wantA) {
		t.Errorf("with sync_group_tracking_weight: A tracks %+v\nwant %+v", got, wantA)
	}
	if got := c.VRRP[1].TrackScripts; !reflect.DeepEqual(got, wantB) {
		t.Errorf("with sync_group_tracking_weight: B tracks %+v\nwant %+v", got, wantB)
	}
	wantWarn = []string{dupB, "t.conf:38: track_script chk_g of vrrp_instance B is also tracked by vrrp_sync_group G (line 20): the group's weight -5 is used, the instance's weight 3 is ignored (keepalived: remove one of them)"}
	if !reflect.DeepEqual(c.Warnings, wantWarn) || len(c.VRRPScripts) != 3 {
		t.Errorf("warnings %q\nwant %q; %d scripts", c.Warnings, wantWarn, len(c.VRRPScripts))
	}
}

// TestTrackScriptOwner: the address owner's priority does not move, so
// keepalived drops its weighted scripts and clears the weights (not
// reverse) of its group's scripts.
func TestTrackScriptOwner(t *testing.T) {
	text := scriptText("chk") + scriptText("chk2") + // lines 1-6
		"vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 255\n track_script {\n chk weight -10\n chk2\n }\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n" + // 7-18
		"vrrp_instance B {\n interface eth0\n virtual_router_id 2\n priority 255\n virtual_ipaddress {\n 192.0.2.2\n }\n}\n" + // 19-26
		"vrrp_sync_group G {\n group {\n B\n }\n track_script {\n chk weight 20 reverse\n }\n}\n" // 27-34
	c := mustParse(t, text)
	if want := []config.VRRPTrackScript{{Line: 13, Script: "chk2"}}; !reflect.DeepEqual(c.VRRP[0].TrackScripts, want) {
		t.Errorf("A tracks %+v, want %+v", c.VRRP[0].TrackScripts, want)
	}
	if want := []config.VRRPTrackScript{{Line: 32, Script: "chk", Reverse: true}}; !reflect.DeepEqual(c.VRRP[1].TrackScripts, want) {
		t.Errorf("B tracks %+v, want %+v", c.VRRP[1].TrackScripts, want)
	}
	want := []string{
		"t.conf:12: track_script chk weight -10 of vrrp_instance A ignored: the address owner's priority (255) does not move (keepalived ignores it too)",
		"t.conf:32: track_script chk weight 20 of vrrp_sync_group G set to 0: member vrrp_instance B is the address owner (priority 255), whose priority does not move; it puts every member in FAULT while the script succeeds (keepalived clears it too)",
		"t.conf:27: vrrp_sync_group G has only one instance: it synchronises nothing",
	}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Errorf("warnings %q\nwant %q", c.Warnings, want)
	}
}

func TestVRRPScriptWarnings(t *testing.T) {
	text := "vrrp_script chk {\n script /bin/true\n interval 0\n timeout 0\n}\n" + scriptText("unused") + // lines 1-8
		vrrpText("    track_script {\n        chk weight 254\n    }") // track line 13
	c := mustParse(t, text)
	want := []string{
		"t.conf:3: interval 0 taken as 1 second, as keepalived does",
		"t.conf:4: timeout 0 taken as 1 second, as keepalived does",
		"t.conf:13: track_script chk: weight 254 taken as 253, as keepalived does",
		"t.conf:6: vrrp_script unused is not tracked by any vrrp_instance: it is not run",
	}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Fatalf("warnings %q\nwant %q", c.Warnings, want)
	}
	if s := c.VRRPScripts; len(s) != 1 || s[0].Interval != time.Second || s[0].Timeout != time.Second {
		t.Fatalf("scripts %+v", s)
	}
	if tr := c.VRRP[0].TrackScripts; len(tr) != 1 || tr[0].Weight != 253 {
		t.Fatalf("tracks %+v", tr)
	}
}

func TestVRRPScriptErrors(t *testing.T) {
	block := func(lines string) string { return "vrrp_script chk {\n script /bin/true\n" + lines + "\n}\n" } // lines from 3
	track := func(lines string) string {                                                                     // track lines from 5
		return vrrpText("    track_script {\n"+lines+"\n    }") + scriptText("chk") + scriptText("chk2")
	}
	two := "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n" +
		"vrrp_instance B {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n 192.0.2.2\n }\n}\n" // 14 lines
	for _, tc := range []struct{ name, text, want string }{
		{"no name", "vrrp_script {\n script /bin/true\n}\n", "t.conf:1: vrrp_script: needs one name"},
		{"two names", "vrrp_script a b {\n script /bin/true\n}\n", "t.conf:1: vrrp_script: needs one name"},
		{"no block", "vrrp_script chk\n", "t.conf:1: vrrp_script: expected '{' to open its block"},
		{"missing script", "vrrp_script chk {\n interval 2\n}\n", "t.conf:1: vrrp_script chk: no script"},
		{"duplicate name", scriptText("chk") + scriptText("chk"), "t.conf:4: vrrp_script chk is already defined at line 1"},
		{"unknown keyword", block(" intervall 2"), "t.conf:3: unknown keyword \"intervall\" in vrrp_script"},
		{"checker keyword", block(" MISC_CHECK {\n }"), "t.conf:3: MISC_CHECK belongs in a real_server block, not in vrrp_script"},
		{"script twice", block(" script /bin/false"), "t.conf:3: script is already set at line 2"},
		{"script without command", "vrrp_script chk {\n script\n}\n", "t.conf:2: script: missing command"},
		{"script unquoted arguments", "vrrp_script chk {\n script /bin/chk -q\n}\n", "t.conf:2: script: unexpected \"-q\" after the command (quote the whole command line: script \"/bin/chk -q\")"},
		{"script unmatched quote", "vrrp_script chk {\n script '/bin/chk\n}\n", "t.conf:2: script:"},
		{"weight range", block(" weight 254"), "t.conf:3: weight: \"254\" is not an integer in -253..253"},
		{"weight negative range", block(" weight -300"), "t.conf:3: weight: \"-300\" is not an integer in -253..253"},
		{"weight word", block(" weight heavy"), "t.conf:3: weight: \"heavy\" is not an integer"},
		{"weight missing", block(" weight"), "t.conf:3: weight: missing value"},
		{"weight option", block(" weight 5 backwards"), "t.conf:3: weight: unexpected \"backwards\" after the weight (reverse)"},
		{"weight noreverse", block(" weight 5 noreverse"), "t.conf:3: weight: unexpected \"noreverse\" after the weight (reverse)"},
		{"rise 0", block(" rise 0"), "t.conf:3: rise: \"0\" is out of range [1, 2147483647]"},
		{"fall 0", block(" fall 0"), "t.conf:3: fall: \"0\" is out of range [1, 2147483647]"},
		{"fall word", block(" fall x"), "t.conf:3: fall: \"x\" is not a number"},
		{"interval fraction below 1s", block(" interval 0.5"), "t.conf:3: interval: \"0.5\" is below the minimum of 1s"},
		{"interval too long", block(" interval 5000"), "t.conf:3: interval: \"5000\" is above the maximum of 1h11m34s"},
		{"timeout word", block(" timeout soon"), "t.conf:3: timeout: \"soon\" is not a number of seconds"},
		{"user missing", block(" user"), "t.conf:3: user: missing value"},
		{"user three words", block(" user a b c"), "t.conf:3: user: unexpected \"c\""},
		{"init_fail value", block(" init_fail yes"), "t.conf:3: init_fail takes no value"},
		{"unknown track name", track("        chk_x"), "t.conf:5: track_script chk_x: no vrrp_script chk_x"},
		{"unknown group track name", two + scriptText("chk") + "vrrp_sync_group G {\n group {\n A B\n }\n track_script {\n chk\n chk_y weight 2\n }\n}\n",
			"t.conf:24: track_script chk_y: no vrrp_script chk_y"},
		{"track option", track("        chk prio 5"), "t.conf:5: track_script chk: unknown option \"prio\" (weight W [reverse|noreverse])"},
		{"track weight missing", track("        chk weight"), "t.conf:5: track_script chk: weight needs a value"},
		{"track weight range", track("        chk weight 255"), "t.conf:5: track_script chk: weight \"255\" is not an integer in -253..253"},
		{"track weight word", track("        chk weight x"), "t.conf:5: track_script chk: weight \"x\" is not an integer in -253..253"},
		{"track after weight", track("        chk weight 5 no_reverse"), "t.conf:5: track_script chk: unexpected \"no_reverse\" after the weight (reverse or noreverse)"},
		{"track too many words", track("        chk weight 5 reverse now"), "t.conf:5: track_script chk: unexpected \"now\" after the weight (reverse or noreverse)"},
		{"track twice", track("        chk\n        chk2\n        chk weight 2"), "t.conf:7: track_script chk is already listed at line 5"},
		{"track twice in two blocks", vrrpText("    track_script {\n chk\n }\n    track_script {\n chk\n }") + scriptText("chk"), "t.conf:8: track_script chk is already listed at line 5"},
		{"group track twice", two + scriptText("chk") + "vrrp_sync_group G {\n group {\n A B\n }\n track_script {\n chk\n chk weight 1\n }\n}\n",
			"t.conf:24: track_script chk is already listed at line 23"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.conf", []byte(tc.text), nil)
			if err == nil || c != nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want one starting with %q", err, tc.want)
			}
		})
	}
}

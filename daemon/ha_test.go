package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/datapath"
	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/internal/roottest"
	"github.com/gdirector/gdirector/ipvssync"
	"github.com/gdirector/gdirector/vrrp"
)

// fakeStandby records what the data plane is given: the owned and
// standby sets, and the announcements.
type fakeStandby struct {
	mu        sync.Mutex
	got       []netip.Addr
	owned     []datapath.OwnedAddr
	announced []string // "ADDR,... skip IFACE"
}

func (f *fakeStandby) SetOwned(extra []datapath.OwnedAddr, a []netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.owned = slices.Clone(extra)
	f.got = slices.Clone(a)
}

func (f *fakeStandby) Announce(addrs []netip.Addr, skip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	for _, a := range addrs {
		s = append(s, a.String())
	}
	f.announced = append(f.announced, strings.Join(s, ",")+" skip "+skip)
}

func (f *fakeStandby) held() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, a := range f.got {
		out = append(out, a.String())
	}
	return out
}

func haInstance(name, vip string) config.VRRPInstance {
	return config.VRRPInstance{Line: 1, Name: name, Interface: "lo", VRID: 7, Priority: 100,
		AdvertInt: time.Second, Version: 2, Preempt: true,
		VIPs: []config.VRRPAddress{{Prefix: netip.MustParsePrefix(vip + "/32")}}}
}

// TestHAStandby: prepare holds back the addresses of the instances a
// configuration adds, abort gives them back, and a node's Acquire and
// Release move its addresses out of and into the standby set; an address
// two instances share is owned as soon as either is master.
func TestHAStandby(t *testing.T) {
	dp := &fakeStandby{}
	h := newHA(dp, nil, t.Logf)
	defer h.close()
	cfg := &config.Config{VRRP: []config.VRRPInstance{haInstance("VI_1", "192.0.2.10"), haInstance("VI_2", "192.0.2.20")}}
	if err := h.prepare(cfg); err != nil {
		t.Fatal(err)
	}
	if got := dp.held(); !slices.Equal(got, []string{"192.0.2.10", "192.0.2.20"}) {
		t.Fatalf("after prepare: held %v", got)
	}
	h.abort()
	if got := dp.held(); len(got) != 0 {
		t.Fatalf("after abort: held %v", got)
	}

	// Two nodes (not started: the Owner calls are what the test drives).
	want, err := haConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n1, n2 := &haNode{cfg: want["VI_1"]}, &haNode{cfg: want["VI_2"]}
	n2.cfg.VIPs = append(n2.cfg.VIPs, netip.MustParsePrefix("192.0.2.10/32")) // shared
	h.nodes["VI_1"], h.nodes["VI_2"] = n1, n2
	h.storeSet()
	h.publish()
	if got := dp.held(); !slices.Equal(got, []string{"192.0.2.10", "192.0.2.20"}) {
		t.Fatalf("two backups: held %v", got)
	}
	o1, o2 := haOwner{h, n1}, haOwner{h, n2}
	o1.Acquire(n1.cfg.VIPs)
	if got := dp.held(); !slices.Equal(got, []string{"192.0.2.20"}) {
		t.Fatalf("VI_1 master: held %v", got)
	}
	o2.Acquire(n2.cfg.VIPs)
	if got := dp.held(); len(got) != 0 {
		t.Fatalf("both masters: held %v", got)
	}
	o1.Release(n1.cfg.VIPs)
	if got := dp.held(); !slices.Equal(got, []string{}) && len(got) != 0 {
		t.Fatalf("VI_2 master (shares 192.0.2.10): held %v", got)
	}
	o2.Release(n2.cfg.VIPs)
	if got := dp.held(); !slices.Equal(got, []string{"192.0.2.10", "192.0.2.20"}) {
		t.Fatalf("both backups again: held %v", got)
	}
	n1.state.Store(int32(vrrp.StateMaster))
	if s := h.States(); s["VI_1"] != vrrp.StateMaster || len(s) != 2 {
		t.Fatalf("States() = %v", s)
	}
	h.nodes = map[string]*haNode{} // not started: close has nothing to stop
	h.storeSet()
}

// TestHAConfigErrors: a bad instance or a sync daemon that follows no
// instance is refused with its line.
func TestHAConfigErrors(t *testing.T) {
	bad := haInstance("VI_1", "192.0.2.10")
	bad.VRID = 0
	for _, tc := range []struct {
		cfg  *config.Config
		want string
	}{
		{&config.Config{VRRP: []config.VRRPInstance{bad}}, "virtual router id 0"},
		{&config.Config{VRRP: []config.VRRPInstance{haInstance("VI_1", "192.0.2.10")},
			SyncDaemon: &config.SyncDaemon{Line: 3, Interface: "eth0", Instance: "VI_9"}}, `line 3: lvs_sync_daemon: no vrrp_instance "VI_9"`},
		{&config.Config{VRRP: []config.VRRPInstance{haInstance("VI_1", "192.0.2.10"), haInstance("VI_1", "192.0.2.11")}}, "defined twice"},
	} {
		_, err := haConfigs(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("haConfigs: %v, want %q", err, tc.want)
		}
		h := newHA(&fakeStandby{}, nil, t.Logf)
		if err := h.prepare(tc.cfg); err == nil {
			t.Errorf("prepare accepted %q", tc.want)
		}
		h.close()
	}
	if _, err := haConfigs(nil); err != nil {
		t.Fatal(err)
	}
}

// TestHACollector: the VRRP state and the sync daemons' state are
// exported.
func TestHACollector(t *testing.T) {
	h := newHA(&fakeStandby{}, &ipvssync.Daemons{}, t.Logf)
	defer h.close()
	cfg := &config.Config{VRRP: []config.VRRPInstance{haInstance("VI_1", "192.0.2.10")}}
	want, err := haConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	node, err := vrrp.NewNode(want["VI_1"], vrrp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := &haNode{cfg: want["VI_1"], node: node}
	n.state.Store(int32(vrrp.StateMaster))
	h.nodes["VI_1"] = n
	h.storeSet()
	reg := prometheus.NewRegistry()
	if err := reg.Register(newHACollector(h)); err != nil {
		t.Fatal(err)
	}
	exp := `# HELP gdirector_vrrp_state VRRP state of the instance: 0 init, 1 backup, 2 master, 3 fault (keepalived's numbering).
# TYPE gdirector_vrrp_state gauge
gdirector_vrrp_state{instance="VI_1"} 2
# HELP gdirector_sync_daemon_running 1 while the master or backup connection sync daemon runs.
# TYPE gdirector_sync_daemon_running gauge
gdirector_sync_daemon_running{state="backup"} 0
gdirector_sync_daemon_running{state="master"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "gdirector_vrrp_state", "gdirector_sync_daemon_running"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n < 20 {
		t.Fatalf("%d series, %v", n, err)
	}
	h.nodes = map[string]*haNode{}
	h.storeSet()
}

// TestHAOwnedAddrs: every address of an instance is handed to the data
// plane as owned, placed where the placer says, and held back until the
// instance is master; the host is told when that set changes (not on a
// transition); Acquire has the data plane announce the addresses away
// from the instance's interface, repeated while still master.
func TestHAOwnedAddrs(t *testing.T) {
	dp := &fakeStandby{}
	h := newHA(dp, nil, t.Logf)
	defer h.close()
	var placedAsked []string
	h.place = func(a netip.Addr, dev string) string {
		placedAsked = append(placedAsked, a.String()+"@"+dev)
		if a.String() == "203.0.113.254" {
			return "eth1"
		}
		return ""
	}
	hostSyncs := 0
	h.onOwned = func() { hostSyncs++ }
	in := haInstance("VI_NAT", "192.0.2.10")
	in.Interface = "eth0"
	in.VIPs = append(in.VIPs, config.VRRPAddress{Prefix: netip.MustParsePrefix("203.0.113.254/24"), Dev: "eth1"})
	cfg := &config.Config{VRRP: []config.VRRPInstance{in}}
	if err := h.prepare(cfg); err != nil {
		t.Fatal(err)
	}
	wantOwned := []datapath.OwnedAddr{{Addr: netip.MustParseAddr("192.0.2.10")}, {Addr: netip.MustParseAddr("203.0.113.254"), Dev: "eth1"}}
	if !slices.Equal(dp.owned, wantOwned) || !slices.Equal(dp.held(), []string{"192.0.2.10", "203.0.113.254"}) {
		t.Fatalf("after prepare: owned %v, held %v", dp.owned, dp.held())
	}
	if !slices.Equal(placedAsked, []string{"192.0.2.10@", "203.0.113.254@eth1"}) {
		t.Fatalf("placer asked %v", placedAsked)
	}
	if hostSyncs != 1 {
		t.Fatalf("host synced %d times after prepare, want 1", hostSyncs)
	}

	want, _ := haConfigs(cfg)
	n := &haNode{cfg: want["VI_NAT"]}
	h.nodes["VI_NAT"] = n
	h.storeSet()
	h.pending.Store(nil)
	h.publish()
	if !slices.Equal(dp.owned, wantOwned) || len(dp.held()) != 2 || hostSyncs != 1 {
		t.Fatalf("running backup: owned %v, held %v, host syncs %d", dp.owned, dp.held(), hostSyncs)
	}
	o := haOwner{h, n}
	o.Acquire(n.cfg.VIPs)
	if len(dp.held()) != 0 || hostSyncs != 1 {
		t.Fatalf("master: held %v, host syncs %d", dp.held(), hostSyncs)
	}
	h.announcing.Wait()
	dp.mu.Lock()
	ann := slices.Clone(dp.announced)
	dp.mu.Unlock()
	if len(ann) != haAnnounce || ann[0] != "192.0.2.10,203.0.113.254 skip eth0" {
		t.Fatalf("announcements %q, want %d of the instance's addresses skipping eth0", ann, haAnnounce)
	}
	o.Release(n.cfg.VIPs)
	if len(dp.held()) != 2 {
		t.Fatalf("backup again: held %v", dp.held())
	}

	// The instance goes: nothing is owned any more, and the host follows.
	h.nodes = map[string]*haNode{}
	h.storeSet()
	h.publish()
	if len(dp.owned) != 0 || len(dp.held()) != 0 || hostSyncs != 2 {
		t.Fatalf("no instance: owned %v, held %v, host syncs %d", dp.owned, dp.held(), hostSyncs)
	}
}

// TestIfacePlacer: a VRRP address goes to its dev when that is served,
// else to the served interface whose subnet holds it, else everywhere.
func TestIfacePlacer(t *testing.T) {
	place := ifacePlacer([]string{"gdnat-nosuch0", "lo"})
	for _, tc := range []struct{ addr, dev, want string }{
		{"127.0.0.77", "", "lo"},            // lo's 127.0.0.1/8 holds it
		{"192.0.2.10", "", ""},              // no subnet: every interface
		{"192.0.2.10", "lo", "lo"},          // its dev, served
		{"192.0.2.10", "gdnat-other", ""},   // a dev not served
		{"127.0.0.77", "gdnat-other", "lo"}, // then the subnet
	} {
		if got := place(netip.MustParseAddr(tc.addr), tc.dev); got != tc.want {
			t.Errorf("place(%s, %q) = %q, want %q", tc.addr, tc.dev, got, tc.want)
		}
	}
	for _, tc := range []struct {
		subnets []string
		addr    string
		want    bool
	}{
		{[]string{"203.0.113.1/24"}, "203.0.113.254", true},
		{[]string{"203.0.113.1/32"}, "203.0.113.254", false},
		{[]string{"198.51.100.1/24", "2001:db8:3::1/64"}, "2001:db8:3::fe", true},
		{[]string{"2001:db8:3::1/64"}, "203.0.113.254", false},
		{nil, "203.0.113.254", false},
	} {
		var ps []netip.Prefix
		for _, s := range tc.subnets {
			ps = append(ps, netip.MustParsePrefix(s))
		}
		if got := subnetHolds(ps, netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("subnetHolds(%v, %s) = %v", tc.subnets, tc.addr, got)
		}
	}
}

// TestWithOwned: the VRRP addresses join the table's once each.
func TestWithOwned(t *testing.T) {
	vip, gw := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("203.0.113.254")
	got := withOwned([]netip.Addr{vip}, []datapath.OwnedAddr{{Addr: vip}, {Addr: gw, Dev: "eth1"}})
	if !slices.Equal(got, []netip.Addr{vip, gw}) {
		t.Fatalf("withOwned = %v", got)
	}
	if got := withOwned(nil, nil); len(got) != 0 {
		t.Fatalf("withOwned(nil, nil) = %v", got)
	}
}

// TestHASyncGroup runs keepalived's LVS-NAT pair as two instances of a
// vrrp_sync_group in a namespace, with the fake data plane: alone, both
// become master and the data plane owns both addresses; the real-server
// side losing its carrier takes both instances to FAULT and both
// addresses are held back; with the carrier back both are master again. A
// reload with the same configuration keeps the group running; one
// without the group restarts the instances alone.
func TestHASyncGroup(t *testing.T) {
	ns := roottest.TwoPairNetns(t, fmt.Sprintf("gdvrrp-ha-%d", os.Getpid()))
	dp := &fakeStandby{}
	h := newHA(dp, nil, t.Logf)
	defer h.close()
	inst := func(name, ifname string, vrid uint8, vip string) config.VRRPInstance {
		return config.VRRPInstance{Line: 1, Name: name, Interface: ifname, VRID: vrid, Priority: 100,
			AdvertInt: 100 * time.Millisecond, Version: 3, Preempt: true,
			VIPs: []config.VRRPAddress{{Prefix: netip.MustParsePrefix(vip), Dev: ifname}}}
	}
	cfg := &config.Config{
		VRRP:           []config.VRRPInstance{inst("VI_VIP", "gdvrrp-c0", 51, "192.0.2.10/32"), inst("VI_GW", "gdvrrp-r0", 52, "203.0.113.254/24")},
		VRRPSyncGroups: []config.VRRPSyncGroup{{Line: 9, Name: "VG", Instances: []string{"VI_VIP", "VI_GW"}}},
	}
	load := func(cfg *config.Config) {
		t.Helper()
		if err := nsutil.Do(ns, func() error {
			if err := h.prepare(cfg); err != nil {
				return err
			}
			return h.apply(cfg)
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitStates := func(what string, want vrrp.State, held int) {
		t.Helper()
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			s := h.States()
			if s["VI_VIP"] == want && s["VI_GW"] == want && len(dp.held()) == held {
				return
			}
		}
		t.Fatalf("%s: states %v, held %v", what, h.States(), dp.held())
	}
	load(cfg)
	waitStates("alone", vrrp.StateMaster, 0)
	h.mu.Lock()
	if g := h.groups["VG"]; g == nil || h.nodes["VI_GW"].group != "VG" {
		t.Fatalf("group not running: %v", h.groups)
	}
	first := h.nodes["VI_VIP"]
	h.mu.Unlock()
	waitGroup := func(what string, want vrrp.State) {
		t.Helper()
		var err error
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			r := h.HAReport()
			if err = groupStateMetric(t, h, "VG", want); err == nil && r != nil && len(r.Instances) == 2 &&
				r.Instances[0].Group == "VG" && r.Instances[0].GroupState == want.String() && r.Instances[0].State == want.String() {
				return
			}
		}
		t.Fatalf("%s: group metric: %v; report %+v", what, err, h.HAReport())
	}
	waitGroup("alone", vrrp.StateMaster)

	roottest.IP(t, ns, "link", "set", "gdvrrp-r1", "down")
	waitStates("real-server side down", vrrp.StateFault, 2)
	waitGroup("real-server side down", vrrp.StateFault)
	roottest.IP(t, ns, "link", "set", "gdvrrp-r1", "up")
	waitStates("real-server side up", vrrp.StateMaster, 0)

	load(cfg) // unchanged: keeps running
	h.mu.Lock()
	kept := h.nodes["VI_VIP"] == first
	h.mu.Unlock()
	if !kept {
		t.Fatal("an unchanged group was restarted")
	}
	waitStates("reloaded", vrrp.StateMaster, 0)

	alone := *cfg
	alone.VRRPSyncGroups = nil
	load(&alone)
	h.mu.Lock()
	restarted := h.nodes["VI_VIP"] != first && h.nodes["VI_VIP"].group == "" && len(h.groups) == 0
	h.mu.Unlock()
	if !restarted {
		t.Fatal("leaving the group did not restart the instances alone")
	}
	waitStates("alone again", vrrp.StateMaster, 0)
	// Alone, the real-server side's fault is its instance's only.
	roottest.IP(t, ns, "link", "set", "gdvrrp-r1", "down")
	for end := time.Now().Add(3 * time.Second); h.States()["VI_GW"] != vrrp.StateFault; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("VI_GW: %v", h.States())
		}
	}
	time.Sleep(300 * time.Millisecond)
	if s := h.States(); s["VI_VIP"] != vrrp.StateMaster || !slices.Equal(dp.held(), []string{"203.0.113.254"}) {
		t.Fatalf("alone: states %v, held %v", s, dp.held())
	}
}

// TestHAGroupConfigErrors: a sync group naming no instance, or an
// instance already in another group, is refused with its line.
func TestHAGroupConfigErrors(t *testing.T) {
	base := []config.VRRPInstance{haInstance("VI_1", "192.0.2.10"), haInstance("VI_2", "192.0.2.20")}
	base[1].VRID = 8
	for _, tc := range []struct {
		groups []config.VRRPSyncGroup
		want   string
	}{
		{[]config.VRRPSyncGroup{{Line: 4, Name: "G", Instances: []string{"VI_1", "VI_9"}}}, "line 4: vrrp_sync_group G: no vrrp_instance VI_9"},
		{[]config.VRRPSyncGroup{{Line: 4, Name: "G", Instances: []string{"VI_1"}}, {Line: 7, Name: "H", Instances: []string{"VI_2", "VI_1"}}}, "line 7: vrrp_sync_group H: vrrp_instance VI_1 is already in vrrp_sync_group G"},
		{[]config.VRRPSyncGroup{{Line: 4, Name: "G"}}, "line 4: vrrp_sync_group G: no instances"},
		{[]config.VRRPSyncGroup{{Line: 4, Name: "G", Instances: []string{"VI_1"}}, {Line: 6, Name: "G", Instances: []string{"VI_2"}}}, "line 6: vrrp_sync_group G: defined twice"},
	} {
		cfg := &config.Config{VRRP: base, VRRPSyncGroups: tc.groups}
		if _, err := haConfigs(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("haConfigs: %v, want %q", err, tc.want)
		}
		h := newHA(&fakeStandby{}, nil, t.Logf)
		if err := h.prepare(cfg); err == nil {
			t.Errorf("prepare accepted %q", tc.want)
		}
		h.close()
	}
	g, err := haGroupConfigs(&config.Config{VRRP: base, VRRPSyncGroups: []config.VRRPSyncGroup{{Name: "G", Instances: []string{"VI_2", "VI_1"}, Notify: "/bin/n"}}})
	if err != nil || !slices.Equal(g["G"].members, []string{"VI_2", "VI_1"}) || g["G"].cfg.Notify.Any != "/bin/n" {
		t.Fatalf("haGroupConfigs = %+v, %v", g, err)
	}
}

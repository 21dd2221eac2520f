package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ipvssync"
	"github.com/gdirector/gdirector/vrrp"
)

// fakeStandby records the data plane's standby set.
type fakeStandby struct {
	mu  sync.Mutex
	got []netip.Addr
}

func (f *fakeStandby) SetStandby(a []netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = slices.Clone(a)
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
	exp := `# HELP gdirector_vrrp_state VRRP state of the instance: 0 init, 1 backup, 2 master (keepalived's numbering).
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

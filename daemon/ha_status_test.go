package daemon

import (
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/ipvssync"
	"github.com/gdirector/gdirector/status"
	"github.com/gdirector/gdirector/vrrp"
	"github.com/gdirector/gdirector/vs"
)

// TestHAReport: nothing while no instance runs; then every instance by
// name with its state, priority, since and sync group, and the running
// sync daemons with their counters (a datagram of syncid 0 is a backup
// reject); it reaches /status.json through statusConfig.
func TestHAReport(t *testing.T) {
	var table atomic.Pointer[vs.Table]
	table.Store(&vs.Table{})
	conns := conntrack.NewTable(conntrack.Options{Capacity: 64})
	syncd := &ipvssync.Daemons{Table: &table, Conns: conns, Clock: clock.Real{}, Logf: t.Logf}
	defer syncd.Close()
	h := newHA(&fakeStandby{}, syncd, t.Logf)
	defer h.close()
	if r := h.HAReport(); r != nil {
		t.Fatalf("no instance: report %+v", r)
	}

	cfg := &config.Config{VRRP: []config.VRRPInstance{haInstance("VI_2", "192.0.2.20"), haInstance("VI_1", "192.0.2.10")}}
	want, err := haConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*vrrp.Node
	mk := func(name string) *haNode {
		node, err := vrrp.NewNode(want[name], vrrp.Options{})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, node)
		return &haNode{cfg: want[name], node: node}
	}
	n1, n2 := mk("VI_1"), mk("VI_2")
	ng, err := vrrp.NewNodeGroup(vrrp.GroupConfig{Name: "VG"}, nodes[1:], vrrp.GroupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n2.group, n2.ng = "VG", ng
	at := time.Date(2026, 12, 2, 14, 0, 5, 0, time.UTC)
	n1.state.Store(int32(vrrp.StateMaster))
	n1.since.Store(at.UnixNano())
	n2.state.Store(int32(vrrp.StateFault))
	n2.since.Store(at.Add(time.Second).UnixNano())
	h.nodes["VI_1"], h.nodes["VI_2"] = n1, n2
	h.storeSet()
	defer func() { h.nodes = map[string]*haNode{}; h.storeSet() }()

	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.LocalAddr().(*net.UDPAddr).Port)
	l.Close()
	peer := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	for _, st := range []string{ipvssync.Backup, ipvssync.Master} {
		if err := syncd.StartDaemon(ipvssync.DaemonConfig{State: st, SyncID: 9, Port: port, Peers: peer}); err != nil {
			t.Fatal(err)
		}
	}
	junk, err := net.Dial("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	if _, err := junk.Write([]byte{0xff, 0x00, 0x01}); err != nil { // syncid 0
		t.Fatal(err)
	}
	var r *status.HA
	for end := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r = h.HAReport()
		if len(r.Sync) == 2 && r.Sync[1].Rejects["bad_syncid"] == 1 || time.Now().After(end) {
			break
		}
	}
	got, _ := json.Marshal(r)
	exp := `{"instances":[` +
		`{"name":"VI_1","interface":"lo","vrid":7,"state":"MASTER","priority":100,"since":"2026-12-02T14:00:05Z"},` +
		`{"name":"VI_2","interface":"lo","vrid":7,"state":"FAULT","priority":100,"since":"2026-12-02T14:00:06Z","group":"VG","group_state":"INIT"}],` +
		`"sync":[` +
		`{"state":"master","syncid":9,"interface":"","messages":0,"conns":0,"rejects":{"queue_drops":0,"send_errors":0}},` +
		`{"state":"backup","syncid":9,"interface":"","messages":0,"conns":0,"rejects":{"bad_auth":0,"bad_record":0,"bad_source":0,"bad_syncid":1,"install_failed":0,"malformed":0,"stale":0,"unknown_dest":0,"unknown_service":0}}]}`
	if string(got) != exp {
		t.Fatalf("report\n%s\nwant\n%s", got, exp)
	}

	// Through the status page's configuration, as Run wires it.
	mgr := ctl.NewManager(ctl.Config{Table: &table, Timeouts: conns, Conns: conns})
	if sc := statusConfig(mgr, conns, nil, nil, nil); sc.HA != nil {
		t.Fatal("statusConfig without HA has a reporter")
	}
	sh, err := status.New(statusConfig(mgr, conns, nil, nil, h))
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if v := sh.Snapshot(); v.HA == nil || len(v.HA.Instances) != 2 || v.HA.Instances[1].GroupState != "INIT" {
		t.Fatalf("document's ha section: %+v", v.HA)
	}
}

// TestHASyncGroupMetric: gdirector_vrrp_sync_group_state has one series
// per running sync group, numbered as gdirector_vrrp_state.
func TestHASyncGroupMetric(t *testing.T) {
	h := newHA(&fakeStandby{}, nil, t.Logf)
	defer h.close()
	cfg := &config.Config{VRRP: []config.VRRPInstance{haInstance("VI_1", "192.0.2.10"), haInstance("VI_2", "192.0.2.20"), haInstance("VI_3", "192.0.2.30")}}
	want, err := haConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var members []*vrrp.Node
	for _, name := range []string{"VI_1", "VI_2", "VI_3"} {
		node, err := vrrp.NewNode(want[name], vrrp.Options{})
		if err != nil {
			t.Fatal(err)
		}
		n := &haNode{cfg: want[name], node: node}
		if name != "VI_3" {
			members = append(members, node)
			n.group = "VG"
		}
		h.nodes[name] = n
	}
	ng, err := vrrp.NewNodeGroup(vrrp.GroupConfig{Name: "VG"}, members, vrrp.GroupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.nodes["VI_1"].ng, h.nodes["VI_2"].ng = ng, ng
	h.storeSet()
	defer func() { h.nodes = map[string]*haNode{}; h.storeSet() }()
	reg := prometheus.NewRegistry()
	if err := reg.Register(newHACollector(h)); err != nil {
		t.Fatal(err)
	}
	// Not started: INIT (0), once; VI_3 is in no group.
	exp := `# HELP gdirector_vrrp_sync_group_state State of the VRRP sync group: 0 init, 1 backup, 2 master, 3 fault (as gdirector_vrrp_state).
# TYPE gdirector_vrrp_sync_group_state gauge
gdirector_vrrp_sync_group_state{group="VG"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "gdirector_vrrp_sync_group_state"); err != nil {
		t.Fatal(err)
	}
}

// groupStateMetric is gdirector_vrrp_sync_group_state as h's collector
// exports it for group.
func groupStateMetric(t *testing.T, h *ha, group string, state vrrp.State) error {
	t.Helper()
	exp := "# HELP gdirector_vrrp_sync_group_state State of the VRRP sync group: 0 init, 1 backup, 2 master, 3 fault (as gdirector_vrrp_state).\n" +
		"# TYPE gdirector_vrrp_sync_group_state gauge\n" +
		"gdirector_vrrp_sync_group_state{group=\"" + group + "\"} " + strconv.Itoa(int(state)) + "\n"
	return testutil.CollectAndCompare(newHACollector(h), strings.NewReader(exp), "gdirector_vrrp_sync_group_state")
}

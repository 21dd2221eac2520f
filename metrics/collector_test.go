package metrics

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gdirector/gdirector/vs"
)

func setStats(s *vs.Stats, conns, inPkts, outPkts, inBytes, outBytes uint64) {
	s.Conns.Store(conns)
	s.InPkts.Store(inPkts)
	s.OutPkts.Store(outPkts)
	s.InBytes.Store(inBytes)
	s.OutBytes.Store(outBytes)
}

func service(addr string, port uint16, proto vs.Proto, mark uint32, dests ...*vs.Dest) *vs.Service {
	s := &vs.Service{Port: port, Proto: proto, FwMark: mark, Stats: &vs.Stats{}, Dests: dests, SchedName: "rr"}
	if addr != "" {
		s.Addr = netip.MustParseAddr(addr)
		s.IPv6 = s.Addr.Is6()
	}
	if mark != 0 {
		s.Proto, s.Port = 0, 0
	}
	s.Key = vs.ServiceKey{FwMark: mark, IPv6: s.IPv6, Proto: s.Proto, Port: s.Port, Addr: s.Addr.As16()}
	return s
}

func dest(addr string, port uint16, fwd vs.FwdMethod, weight int32) *vs.Dest {
	return vs.NewDest(netip.MustParseAddr(addr), port, fwd, weight)
}

// testTable builds a table with a TCP service of two real servers (one
// quiesced), a firewall-mark service whose real server is overloaded and
// holds a persistence template, and an IPv6 FullNAT UDP service with a
// local address.
func testTable() (*vs.Table, map[*vs.Dest]bool) {
	d1 := dest("203.0.113.11", 80, vs.Masq, 1)
	d1.ActiveConns.Store(2)
	d1.InactConns.Store(1)
	setStats(&d1.Stats, 4, 40, 35, 4000, 50000)
	d2 := dest("203.0.113.12", 8080, vs.Masq, 0)
	d2.InactConns.Store(3)
	setStats(&d2.Stats, 3, 30, 25, 3000, 40000)
	web := service("192.0.2.10", 80, vs.TCP, 0, d2, d1)
	setStats(web.Stats, 7, 70, 60, 7000, 90000)

	d3 := dest("203.0.113.13", 0, vs.DirectRoute, 3)
	d3.Flags.Or(vs.DestOverload)
	d3.PersistConns.Store(1)
	setStats(&d3.Stats, 2, 5, 0, 500, 0)
	fwm := service("", 0, 0, 10, d3)
	setStats(fwm.Stats, 2, 5, 0, 500, 0)

	d4 := dest("2001:db8:3::11", 53, vs.FullNAT, 2)
	setStats(&d4.Stats, 1, 2, 1, 150, 80)
	dns := service("2001:db8:2::10", 53, vs.UDP, 0, d4)
	setStats(dns.Stats, 1, 2, 1, 150, 80)
	la := vs.NewLocalAddr(netip.MustParseAddr("2001:db8:3::100"), "")
	la.Conns.Store(4)
	la.Conflicts.Store(9)
	la2 := vs.NewLocalAddr(netip.MustParseAddr("2001:db8:3::101"), "eth1")
	dns.LAddrs = []*vs.LocalAddr{la, la2}

	// A checker's verdicts: the quiesced d2 is healthy, d4 is not; d1 and
	// d3 are watched by no checker.
	verdicts := map[*vs.Dest]bool{d2: true, d4: false}
	return vs.NewTable([]*vs.Service{web, fwm, dns}), verdicts
}

func testSource() Source {
	t, verdicts := testTable()
	return Source{
		Table: func() *vs.Table { return t },
		Dataplane: func() Dataplane {
			return Dataplane{
				RxFrames: 100, TxFrames: 90, In: 50, Out: 40, NewConns: 10,
				Ignored: 5, ICMPSent: 1, Parked: 2,
				Drops: map[string]uint64{"no_service": 3, "table_full": 0},
			}
		},
		Conntrack: func() (int, int) { return 12, 1 << 20 },
		Health: func(_ *vs.Service, d *vs.Dest) (bool, bool) {
			up, ok := verdicts[d]
			return up, ok
		},
	}
}

const wantExposition = `
# HELP gdirector_backend_up 1 if the real server is up: its health checker's verdict, else whether it may receive new connections (in its service, weight above 0, not overloaded).
# TYPE gdirector_backend_up gauge
gdirector_backend_up{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="203.0.113.13",remote_port="0"} 0
gdirector_backend_up{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 1
gdirector_backend_up{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.12",remote_port="8080"} 1
gdirector_backend_up{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8:3::11",remote_port="53"} 0
# HELP gdirector_conntrack_capacity Capacity of the connection table.
# TYPE gdirector_conntrack_capacity gauge
gdirector_conntrack_capacity 1048576
# HELP gdirector_conntrack_entries Connections and persistence templates in the connection table.
# TYPE gdirector_conntrack_entries gauge
gdirector_conntrack_entries 12
# HELP gdirector_conntrack_templates Persistence templates bound to the real servers of the current table.
# TYPE gdirector_conntrack_templates gauge
gdirector_conntrack_templates 1
# HELP gdirector_datapath_forwarded_packets_total Packets forwarded, towards the real servers (in) and back (out).
# TYPE gdirector_datapath_forwarded_packets_total counter
gdirector_datapath_forwarded_packets_total{direction="in"} 50
gdirector_datapath_forwarded_packets_total{direction="out"} 40
# HELP gdirector_datapath_frames_received_total Frames read from the director's devices.
# TYPE gdirector_datapath_frames_received_total counter
gdirector_datapath_frames_received_total 100
# HELP gdirector_datapath_frames_sent_total Frames written to the director's devices.
# TYPE gdirector_datapath_frames_sent_total counter
gdirector_datapath_frames_sent_total 90
# HELP gdirector_datapath_icmp_errors_sent_total ICMP errors the director originated (fragmentation needed, time exceeded).
# TYPE gdirector_datapath_icmp_errors_sent_total counter
gdirector_datapath_icmp_errors_sent_total 1
# HELP gdirector_datapath_ignored_frames_total Frames that were not the director's business.
# TYPE gdirector_datapath_ignored_frames_total counter
gdirector_datapath_ignored_frames_total 5
# HELP gdirector_datapath_new_connections_total Connections the data plane created.
# TYPE gdirector_datapath_new_connections_total counter
gdirector_datapath_new_connections_total 10
# HELP gdirector_datapath_parked_frames_total Frames that waited for the resolution of their next hop.
# TYPE gdirector_datapath_parked_frames_total counter
gdirector_datapath_parked_frames_total 2
# HELP gdirector_drops_total Packets dropped by the director, by reason.
# TYPE gdirector_drops_total counter
gdirector_drops_total{reason="no_service"} 3
gdirector_drops_total{reason="table_full"} 0
# HELP gdirector_fullnat_laddr_connections Connections bound to a FullNAT local address.
# TYPE gdirector_fullnat_laddr_connections gauge
gdirector_fullnat_laddr_connections{iface="",laddr="2001:db8:3::100",local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP"} 4
gdirector_fullnat_laddr_connections{iface="eth1",laddr="2001:db8:3::101",local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP"} 0
# HELP gdirector_fullnat_laddr_port_conflicts_total Local ports found in use while allocating one for a FullNAT connection.
# TYPE gdirector_fullnat_laddr_port_conflicts_total counter
gdirector_fullnat_laddr_port_conflicts_total{iface="",laddr="2001:db8:3::100",local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP"} 9
gdirector_fullnat_laddr_port_conflicts_total{iface="eth1",laddr="2001:db8:3::101",local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP"} 0
# HELP gdirector_ipvs_backend_connections_active The current active connections by local and remote address.
# TYPE gdirector_ipvs_backend_connections_active gauge
gdirector_ipvs_backend_connections_active{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="203.0.113.13",remote_port="0"} 0
gdirector_ipvs_backend_connections_active{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 2
gdirector_ipvs_backend_connections_active{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.12",remote_port="8080"} 0
gdirector_ipvs_backend_connections_active{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8:3::11",remote_port="53"} 0
# HELP gdirector_ipvs_backend_connections_inactive The current inactive connections by local and remote address.
# TYPE gdirector_ipvs_backend_connections_inactive gauge
gdirector_ipvs_backend_connections_inactive{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="203.0.113.13",remote_port="0"} 0
gdirector_ipvs_backend_connections_inactive{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 1
gdirector_ipvs_backend_connections_inactive{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.12",remote_port="8080"} 3
gdirector_ipvs_backend_connections_inactive{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8:3::11",remote_port="53"} 0
# HELP gdirector_ipvs_backend_connections_persistent The current persistence templates by local and remote address.
# TYPE gdirector_ipvs_backend_connections_persistent gauge
gdirector_ipvs_backend_connections_persistent{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="203.0.113.13",remote_port="0"} 1
gdirector_ipvs_backend_connections_persistent{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 0
gdirector_ipvs_backend_connections_persistent{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.12",remote_port="8080"} 0
gdirector_ipvs_backend_connections_persistent{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8:3::11",remote_port="53"} 0
# HELP gdirector_ipvs_backend_connections_total Connections scheduled by the real server.
# TYPE gdirector_ipvs_backend_connections_total counter
gdirector_ipvs_backend_connections_total{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="203.0.113.13",remote_port="0"} 2
gdirector_ipvs_backend_connections_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 4
gdirector_ipvs_backend_connections_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.12",remote_port="8080"} 3
gdirector_ipvs_backend_connections_total{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8:3::11",remote_port="53"} 1
# HELP gdirector_ipvs_backend_incoming_bytes_total Bytes received from clients by the real server.
# TYPE gdirector_ipvs_backend_incoming_bytes_total counter
gdirector_ipvs_backend_incoming_bytes_total{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="203.0.113.13",remote_port="0"} 500
gdirector_ipvs_backend_incoming_bytes_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 4000
gdirector_ipvs_backend_incoming_bytes_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.12",remote_port="8080"} 3000
gdirector_ipvs_backend_incoming_bytes_total{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8:3::11",remote_port="53"} 150
# HELP gdirector_ipvs_backend_incoming_packets_total Packets received from clients by the real server.
# TYPE gdirector_ipvs_backend_incoming_packets_total counter
gdirector_ipvs_backend_incoming_packets_total{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="203.0.113.13",remote_port="0"} 5
gdirector_ipvs_backend_incoming_packets_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 40
gdirector_ipvs_backend_incoming_packets_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.12",remote_port="8080"} 30
gdirector_ipvs_backend_incoming_packets_total{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8:3::11",remote_port="53"} 2
# HELP gdirector_ipvs_backend_outgoing_bytes_total Reply bytes received from real servers by the real server.
# TYPE gdirector_ipvs_backend_outgoing_bytes_total counter
gdirector_ipvs_backend_outgoing_bytes_total{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="203.0.113.13",remote_port="0"} 0
gdirector_ipvs_backend_outgoing_bytes_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 50000
gdirector_ipvs_backend_outgoing_bytes_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.12",remote_port="8080"} 40000
gdirector_ipvs_backend_outgoing_bytes_total{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8:3::11",remote_port="53"} 80
# HELP gdirector_ipvs_backend_outgoing_packets_total Reply packets received from real servers by the real server.
# TYPE gdirector_ipvs_backend_outgoing_packets_total counter
gdirector_ipvs_backend_outgoing_packets_total{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="203.0.113.13",remote_port="0"} 0
gdirector_ipvs_backend_outgoing_packets_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 35
gdirector_ipvs_backend_outgoing_packets_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.12",remote_port="8080"} 25
gdirector_ipvs_backend_outgoing_packets_total{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8:3::11",remote_port="53"} 1
# HELP gdirector_ipvs_backend_overloaded 1 while the real server is overloaded (its upper connection threshold reached).
# TYPE gdirector_ipvs_backend_overloaded gauge
gdirector_ipvs_backend_overloaded{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="203.0.113.13",remote_port="0"} 1
gdirector_ipvs_backend_overloaded{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 0
gdirector_ipvs_backend_overloaded{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.12",remote_port="8080"} 0
gdirector_ipvs_backend_overloaded{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8:3::11",remote_port="53"} 0
# HELP gdirector_ipvs_backend_weight The current backend weight by local and remote address.
# TYPE gdirector_ipvs_backend_weight gauge
gdirector_ipvs_backend_weight{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="203.0.113.13",remote_port="0"} 3
gdirector_ipvs_backend_weight{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 1
gdirector_ipvs_backend_weight{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.12",remote_port="8080"} 0
gdirector_ipvs_backend_weight{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8:3::11",remote_port="53"} 2
# HELP gdirector_ipvs_connections_total Connections scheduled by all services.
# TYPE gdirector_ipvs_connections_total counter
gdirector_ipvs_connections_total 10
# HELP gdirector_ipvs_incoming_bytes_total Bytes received from clients by all services.
# TYPE gdirector_ipvs_incoming_bytes_total counter
gdirector_ipvs_incoming_bytes_total 7650
# HELP gdirector_ipvs_incoming_packets_total Packets received from clients by all services.
# TYPE gdirector_ipvs_incoming_packets_total counter
gdirector_ipvs_incoming_packets_total 77
# HELP gdirector_ipvs_outgoing_bytes_total Reply bytes received from real servers by all services.
# TYPE gdirector_ipvs_outgoing_bytes_total counter
gdirector_ipvs_outgoing_bytes_total 90080
# HELP gdirector_ipvs_outgoing_packets_total Reply packets received from real servers by all services.
# TYPE gdirector_ipvs_outgoing_packets_total counter
gdirector_ipvs_outgoing_packets_total 61
# HELP gdirector_ipvs_service_connections_total Connections scheduled by the service.
# TYPE gdirector_ipvs_service_connections_total counter
gdirector_ipvs_service_connections_total{local_address="",local_mark="0000000A",local_port="0",proto="FWM"} 2
gdirector_ipvs_service_connections_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP"} 7
gdirector_ipvs_service_connections_total{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP"} 1
# HELP gdirector_ipvs_service_incoming_bytes_total Bytes received from clients by the service.
# TYPE gdirector_ipvs_service_incoming_bytes_total counter
gdirector_ipvs_service_incoming_bytes_total{local_address="",local_mark="0000000A",local_port="0",proto="FWM"} 500
gdirector_ipvs_service_incoming_bytes_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP"} 7000
gdirector_ipvs_service_incoming_bytes_total{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP"} 150
# HELP gdirector_ipvs_service_incoming_packets_total Packets received from clients by the service.
# TYPE gdirector_ipvs_service_incoming_packets_total counter
gdirector_ipvs_service_incoming_packets_total{local_address="",local_mark="0000000A",local_port="0",proto="FWM"} 5
gdirector_ipvs_service_incoming_packets_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP"} 70
gdirector_ipvs_service_incoming_packets_total{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP"} 2
# HELP gdirector_ipvs_service_outgoing_bytes_total Reply bytes received from real servers by the service.
# TYPE gdirector_ipvs_service_outgoing_bytes_total counter
gdirector_ipvs_service_outgoing_bytes_total{local_address="",local_mark="0000000A",local_port="0",proto="FWM"} 0
gdirector_ipvs_service_outgoing_bytes_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP"} 90000
gdirector_ipvs_service_outgoing_bytes_total{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP"} 80
# HELP gdirector_ipvs_service_outgoing_packets_total Reply packets received from real servers by the service.
# TYPE gdirector_ipvs_service_outgoing_packets_total counter
gdirector_ipvs_service_outgoing_packets_total{local_address="",local_mark="0000000A",local_port="0",proto="FWM"} 0
gdirector_ipvs_service_outgoing_packets_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP"} 60
gdirector_ipvs_service_outgoing_packets_total{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP"} 1
`

func TestCollectExposition(t *testing.T) {
	c, err := NewCollector(testSource())
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantExposition)); err != nil {
		t.Error(err)
	}
}

func TestCollectLint(t *testing.T) {
	c, err := NewCollector(testSource())
	if err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestCollectReadsLiveCounters proves the collector reads the atomics at
// scrape time, not a copy taken when it was built, and follows a newly
// published table.
func TestCollectReadsLiveCounters(t *testing.T) {
	tab, _ := testTable()
	var cur = tab
	c, err := NewCollector(Source{Table: func() *vs.Table { return cur }})
	if err != nil {
		t.Fatal(err)
	}
	web := tab.Services[0]
	web.Stats.Conns.Add(5)
	web.Dests[1].ActiveConns.Add(1)
	want := `
# HELP gdirector_ipvs_connections_total Connections scheduled by all services.
# TYPE gdirector_ipvs_connections_total counter
gdirector_ipvs_connections_total 15
# HELP gdirector_ipvs_service_connections_total Connections scheduled by the service.
# TYPE gdirector_ipvs_service_connections_total counter
gdirector_ipvs_service_connections_total{local_address="",local_mark="0000000A",local_port="0",proto="FWM"} 2
gdirector_ipvs_service_connections_total{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP"} 12
gdirector_ipvs_service_connections_total{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "gdirector_ipvs_connections_total", "gdirector_ipvs_service_connections_total"); err != nil {
		t.Error(err)
	}
	wantActive := `
# HELP gdirector_ipvs_backend_connections_active The current active connections by local and remote address.
# TYPE gdirector_ipvs_backend_connections_active gauge
gdirector_ipvs_backend_connections_active{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="203.0.113.13",remote_port="0"} 0
gdirector_ipvs_backend_connections_active{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 3
gdirector_ipvs_backend_connections_active{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.12",remote_port="8080"} 0
gdirector_ipvs_backend_connections_active{local_address="2001:db8:2::10",local_mark="",local_port="53",proto="UDP",remote_address="2001:db8:3::11",remote_port="53"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantActive), "gdirector_ipvs_backend_connections_active"); err != nil {
		t.Error(err)
	}

	// ipvsadm -D: the next table lacks the service; its series go.
	cur = vs.NewTable(tab.Services[1:])
	if n := testutil.CollectAndCount(c, "gdirector_ipvs_service_connections_total"); n != 2 {
		t.Errorf("%d service series after deleting one of 3, want 2", n)
	}
	// No table at all: the totals are there, at zero; nothing else.
	cur = nil
	if n := testutil.CollectAndCount(c); n != 5 {
		t.Errorf("%d series with no table and no other source, want the 5 totals", n)
	}
}

// TestCollectSumsCoincidingLabels: an IPv4 and an IPv6 firewall-mark
// service with the same mark print the same header in /proc/net/ip_vs;
// sharing a tunnel real server, their backends coincide too. The series
// are summed, as the node exporter sums them, instead of failing the
// scrape with duplicates; the backend is up only if every part is.
func TestCollectSumsCoincidingLabels(t *testing.T) {
	a := dest("203.0.113.21", 0, vs.Tunnel, 1)
	a.ActiveConns.Store(2)
	setStats(&a.Stats, 5, 50, 0, 5000, 0)
	b := dest("203.0.113.21", 0, vs.Tunnel, 0)
	b.ActiveConns.Store(1)
	setStats(&b.Stats, 3, 30, 0, 3000, 0)
	v4 := service("", 0, 0, 7, a)
	v4.Stats.Conns.Store(5)
	v6 := service("", 0, 0, 7, b)
	v6.IPv6 = true
	v6.Key.IPv6 = true
	v6.Stats.Conns.Store(3)
	tab := vs.NewTable([]*vs.Service{v4, v6})
	if len(tab.Services) != 2 || tab.Get(v4.Key) == tab.Get(v6.Key) {
		t.Fatal("test table does not hold two services")
	}
	c, err := NewCollector(Source{Table: func() *vs.Table { return tab }})
	if err != nil {
		t.Fatal(err)
	}
	want := `
# HELP gdirector_backend_up 1 if the real server is up: its health checker's verdict, else whether it may receive new connections (in its service, weight above 0, not overloaded).
# TYPE gdirector_backend_up gauge
gdirector_backend_up{local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="203.0.113.21",remote_port="0"} 0
# HELP gdirector_ipvs_backend_connections_active The current active connections by local and remote address.
# TYPE gdirector_ipvs_backend_connections_active gauge
gdirector_ipvs_backend_connections_active{local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="203.0.113.21",remote_port="0"} 3
# HELP gdirector_ipvs_backend_connections_total Connections scheduled by the real server.
# TYPE gdirector_ipvs_backend_connections_total counter
gdirector_ipvs_backend_connections_total{local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="203.0.113.21",remote_port="0"} 8
# HELP gdirector_ipvs_backend_weight The current backend weight by local and remote address.
# TYPE gdirector_ipvs_backend_weight gauge
gdirector_ipvs_backend_weight{local_address="",local_mark="00000007",local_port="0",proto="FWM",remote_address="203.0.113.21",remote_port="0"} 1
# HELP gdirector_ipvs_service_connections_total Connections scheduled by the service.
# TYPE gdirector_ipvs_service_connections_total counter
gdirector_ipvs_service_connections_total{local_address="",local_mark="00000007",local_port="0",proto="FWM"} 8
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"gdirector_backend_up", "gdirector_ipvs_backend_connections_active", "gdirector_ipvs_backend_connections_total",
		"gdirector_ipvs_backend_weight", "gdirector_ipvs_service_connections_total"); err != nil {
		t.Error(err)
	}
}

// TestBackendUpWithoutChecker: with no checker the state follows what
// the scheduler may do with the dest.
func TestBackendUpWithoutChecker(t *testing.T) {
	d := dest("203.0.113.11", 80, vs.Masq, 1)
	s := service("192.0.2.10", 80, vs.TCP, 0, d)
	c, err := NewCollector(Source{Table: func() *vs.Table { return vs.NewTable([]*vs.Service{s}) }})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		setup func()
		want  bool
	}{
		{"available", func() {}, true},
		{"quiesced", func() { d.Weight.Store(0) }, false},
		{"weight back", func() { d.Weight.Store(4) }, true},
		{"overloaded", func() { d.Flags.Or(vs.DestOverload) }, false},
		{"overload cleared", func() { d.Flags.And(^vs.DestOverload) }, true},
		{"removed from service", func() { d.Flags.And(^vs.DestAvailable) }, false},
	}
	for _, tc := range cases {
		tc.setup()
		if got := c.up(s, d); got != tc.want {
			t.Errorf("%s: up = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A checker that does not know the dest leaves the derived state.
	c.src.Health = func(*vs.Service, *vs.Dest) (bool, bool) { return false, false }
	d.Flags.Or(vs.DestAvailable)
	if !c.up(s, d) {
		t.Error("a checker without a verdict turned an available dest down")
	}
}

func TestNewCollectorNeedsTable(t *testing.T) {
	if _, err := NewCollector(Source{}); err == nil {
		t.Error("NewCollector accepted a source without Table")
	}
	if _, err := NewRegistry(Source{}); err == nil {
		t.Error("NewRegistry accepted a source without Table")
	}
}

// TestRegistryPedantic registers the collector where every collected
// series is checked against the descriptions and for duplicates.
func TestRegistryPedantic(t *testing.T) {
	c, err := NewCollector(testSource())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 34 {
		t.Errorf("%d families, want 34", len(mfs))
	}
}

func TestMarkLabel(t *testing.T) {
	for mark, want := range map[uint32]string{1: "00000001", 10: "0000000A", 0xdeadbeef: "DEADBEEF"} {
		if got := MarkLabel(mark); got != want {
			t.Errorf("MarkLabel(%d) = %q, want %q", mark, got, want)
		}
	}
}

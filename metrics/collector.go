package metrics

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gdirector/gdirector/vs"
)

// Namespace prefixes every metric of the collector.
const Namespace = "gdirector"

// Dataplane is a snapshot of the data plane's counters, summed over its
// workers (the daemon fills it from datapath.Director.Counters).
type Dataplane struct {
	RxFrames, TxFrames uint64
	In, Out            uint64 // packets forwarded towards the real servers and back
	NewConns           uint64
	Ignored            uint64
	ICMPSent           uint64
	Parked             uint64
	// Drops counts dropped packets by reason name; every reason the data
	// plane knows should be present, zero or not, so that each series
	// exists from the first scrape.
	Drops map[string]uint64
}

// HealthFunc reports what a health checker last concluded about d, a real
// server of svc. known is false when no checker watches d; the collector
// then derives gdirector_backend_up from the dest's configuration. It is
// called at scrape time and must be safe for concurrent use.
type HealthFunc func(svc *vs.Service, d *vs.Dest) (up, known bool)

// Source is where the collector reads. Only Table is required; the
// families of a nil source are left out.
type Source struct {
	// Table returns the current configuration snapshot (ctl.Manager.Table).
	Table func() *vs.Table
	// Dataplane returns the data plane's counters.
	Dataplane func() Dataplane
	// Conntrack returns the number of entries of the connection table
	// (connections and persistence templates) and its capacity.
	Conntrack func() (entries, capacity int)
	// Health is the health checkers' verdict on each real server.
	Health HealthFunc
}

// Label names, as the node exporter's IPVS collector spells them.
const (
	labelLocalAddress  = "local_address"
	labelLocalPort     = "local_port"
	labelRemoteAddress = "remote_address"
	labelRemotePort    = "remote_port"
	labelProto         = "proto"
	labelLocalMark     = "local_mark"
)

var (
	serviceLabels = []string{labelLocalAddress, labelLocalPort, labelProto, labelLocalMark}
	backendLabels = []string{labelLocalAddress, labelLocalPort, labelRemoteAddress, labelRemotePort, labelProto, labelLocalMark}
	laddrLabels   = append(append([]string{}, serviceLabels...), "laddr", "iface")
)

// Value positions of a service row and a backend row.
const (
	stConns = iota
	stInPkts
	stOutPkts
	stInBytes
	stOutBytes
	numStats
)

const (
	beActive = numStats + iota
	beInact
	bePersist
	beWeight
	beOverloaded // number of summed dests that are overloaded
	beDown       // number of summed dests that are down
	numBackend
)

const (
	laConns = iota
	laConflicts
	numLAddr
)

// statDesc describes the five traffic counters of one level (totals,
// services or backends).
type statDesc [numStats]*prometheus.Desc

func newStatDesc(subsystem, what string, labels []string) statDesc {
	mk := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, subsystem, name), help, labels, nil)
	}
	return statDesc{
		stConns:    mk("connections_total", "Connections scheduled "+what+"."),
		stInPkts:   mk("incoming_packets_total", "Packets received from clients "+what+"."),
		stOutPkts:  mk("outgoing_packets_total", "Reply packets received from real servers "+what+"."),
		stInBytes:  mk("incoming_bytes_total", "Bytes received from clients "+what+"."),
		stOutBytes: mk("outgoing_bytes_total", "Reply bytes received from real servers "+what+"."),
	}
}

// Collector is a prometheus.Collector over a Source. Its descriptions are
// fixed, so it can be registered with a pedantic registry.
type Collector struct {
	src Source

	total, service, backend statDesc

	backendActive, backendInact, backendPersist, backendWeight *prometheus.Desc
	backendOverloaded, backendUp                               *prometheus.Desc

	drops                               *prometheus.Desc
	rxFrames, txFrames, forwarded       *prometheus.Desc
	newConns, ignored, icmpSent, parked *prometheus.Desc
	ctEntries, ctTemplates, ctCapacity  *prometheus.Desc
	laddrConns, laddrConflicts          *prometheus.Desc
}

// NewCollector returns a collector reading src.
func NewCollector(src Source) (*Collector, error) {
	if src.Table == nil {
		return nil, errors.New("metrics: Source.Table is required")
	}
	fq := func(sub, name string) string { return prometheus.BuildFQName(Namespace, sub, name) }
	desc := func(sub, name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(fq(sub, name), help, labels, nil)
	}
	return &Collector{
		src:     src,
		total:   newStatDesc("ipvs", "by all services", nil),
		service: newStatDesc("ipvs_service", "by the service", serviceLabels),
		backend: newStatDesc("ipvs_backend", "by the real server", backendLabels),

		backendActive:     desc("ipvs", "backend_connections_active", "The current active connections by local and remote address.", backendLabels),
		backendInact:      desc("ipvs", "backend_connections_inactive", "The current inactive connections by local and remote address.", backendLabels),
		backendPersist:    desc("ipvs", "backend_connections_persistent", "The current persistence templates by local and remote address.", backendLabels),
		backendWeight:     desc("ipvs", "backend_weight", "The current backend weight by local and remote address.", backendLabels),
		backendOverloaded: desc("ipvs", "backend_overloaded", "1 while the real server is overloaded (its upper connection threshold reached).", backendLabels),
		backendUp:         desc("", "backend_up", "1 if the real server is up: its health checker's verdict, else whether it may receive new connections (in its service, weight above 0, not overloaded).", backendLabels),

		drops:     desc("", "drops_total", "Packets dropped by the director, by reason.", []string{"reason"}),
		rxFrames:  desc("datapath", "frames_received_total", "Frames read from the director's devices.", nil),
		txFrames:  desc("datapath", "frames_sent_total", "Frames written to the director's devices.", nil),
		forwarded: desc("datapath", "forwarded_packets_total", "Packets forwarded, towards the real servers (in) and back (out).", []string{"direction"}),
		newConns:  desc("datapath", "new_connections_total", "Connections the data plane created.", nil),
		ignored:   desc("datapath", "ignored_frames_total", "Frames that were not the director's business.", nil),
		icmpSent:  desc("datapath", "icmp_errors_sent_total", "ICMP errors the director originated (fragmentation needed, time exceeded).", nil),
		parked:    desc("datapath", "parked_frames_total", "Frames that waited for the resolution of their next hop.", nil),

		ctEntries:   desc("conntrack", "entries", "Connections and persistence templates in the connection table.", nil),
		ctTemplates: desc("conntrack", "templates", "Persistence templates bound to the real servers of the current table.", nil),
		ctCapacity:  desc("conntrack", "capacity", "Capacity of the connection table.", nil),

		laddrConns:     desc("fullnat", "laddr_connections", "Connections bound to a FullNAT local address.", laddrLabels),
		laddrConflicts: desc("fullnat", "laddr_port_conflicts_total", "Local ports found in use while allocating one for a FullNAT connection.", laddrLabels),
	}, nil
}

// Describe sends every description the collector uses.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, sd := range []*statDesc{&c.total, &c.service, &c.backend} {
		for _, d := range sd {
			ch <- d
		}
	}
	for _, d := range []*prometheus.Desc{
		c.backendActive, c.backendInact, c.backendPersist, c.backendWeight, c.backendOverloaded, c.backendUp,
		c.drops, c.rxFrames, c.txFrames, c.forwarded, c.newConns, c.ignored, c.icmpSent, c.parked,
		c.ctEntries, c.ctTemplates, c.ctCapacity, c.laddrConns, c.laddrConflicts,
	} {
		ch <- d
	}
}

// Collect reads the current table and counters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	t := c.src.Table()
	var services, backends, laddrs rows
	var totals [numStats]float64
	var templates float64
	if t != nil {
		for _, s := range t.Services {
			sl := serviceLabelValues(s)
			var st [numStats]float64
			if s.Stats != nil {
				st = readStats(s.Stats)
			}
			services.add(sl, st[:])
			for i := range totals {
				totals[i] += st[i]
			}
			for _, d := range s.Dests {
				v := make([]float64, numBackend)
				ds := readStats(&d.Stats)
				copy(v, ds[:])
				v[beActive] = float64(d.ActiveConns.Load())
				v[beInact] = float64(d.InactConns.Load())
				v[bePersist] = float64(d.PersistConns.Load())
				v[beWeight] = float64(d.Weight.Load())
				if d.Overloaded() {
					v[beOverloaded] = 1
				}
				if !c.up(s, d) {
					v[beDown] = 1
				}
				templates += v[bePersist]
				backends.add(backendLabelValues(sl, d), v)
			}
			for _, la := range s.LAddrs {
				l := append(append(make([]string, 0, len(laddrLabels)), sl...), la.Addr.String(), la.Iface)
				laddrs.add(l, []float64{laConns: float64(la.Conns.Load()), laConflicts: float64(la.Conflicts.Load())})
			}
		}
	}

	for i, d := range c.total {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, totals[i])
	}
	for _, r := range services.list {
		for i, d := range c.service {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, r.v[i], r.labels...)
		}
	}
	for _, r := range backends.list {
		for i, d := range c.backend {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, r.v[i], r.labels...)
		}
		ch <- prometheus.MustNewConstMetric(c.backendActive, prometheus.GaugeValue, r.v[beActive], r.labels...)
		ch <- prometheus.MustNewConstMetric(c.backendInact, prometheus.GaugeValue, r.v[beInact], r.labels...)
		ch <- prometheus.MustNewConstMetric(c.backendPersist, prometheus.GaugeValue, r.v[bePersist], r.labels...)
		ch <- prometheus.MustNewConstMetric(c.backendWeight, prometheus.GaugeValue, r.v[beWeight], r.labels...)
		ch <- prometheus.MustNewConstMetric(c.backendOverloaded, prometheus.GaugeValue, bool01(r.v[beOverloaded] > 0), r.labels...)
		ch <- prometheus.MustNewConstMetric(c.backendUp, prometheus.GaugeValue, bool01(r.v[beDown] == 0), r.labels...)
	}
	for _, r := range laddrs.list {
		ch <- prometheus.MustNewConstMetric(c.laddrConns, prometheus.GaugeValue, r.v[laConns], r.labels...)
		ch <- prometheus.MustNewConstMetric(c.laddrConflicts, prometheus.CounterValue, r.v[laConflicts], r.labels...)
	}

	if c.src.Conntrack != nil {
		entries, capacity := c.src.Conntrack()
		ch <- prometheus.MustNewConstMetric(c.ctEntries, prometheus.GaugeValue, float64(entries))
		ch <- prometheus.MustNewConstMetric(c.ctTemplates, prometheus.GaugeValue, templates)
		ch <- prometheus.MustNewConstMetric(c.ctCapacity, prometheus.GaugeValue, float64(capacity))
	}

	if c.src.Dataplane != nil {
		dp := c.src.Dataplane()
		for reason, n := range dp.Drops {
			ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(n), reason)
		}
		counter := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
		}
		counter(c.rxFrames, dp.RxFrames)
		counter(c.txFrames, dp.TxFrames)
		counter(c.forwarded, dp.In, "in")
		counter(c.forwarded, dp.Out, "out")
		counter(c.newConns, dp.NewConns)
		counter(c.ignored, dp.Ignored)
		counter(c.icmpSent, dp.ICMPSent)
		counter(c.parked, dp.Parked)
	}
}

// up is the health state of d: the checker's verdict if it has one,
// else whether the scheduler may pick d.
func (c *Collector) up(s *vs.Service, d *vs.Dest) bool {
	if c.src.Health != nil {
		if up, known := c.src.Health(s, d); known {
			return up
		}
	}
	return d.Available() && d.Weight.Load() > 0 && !d.Overloaded()
}

func readStats(s *vs.Stats) [numStats]float64 {
	return [numStats]float64{
		stConns:    float64(s.Conns.Load()),
		stInPkts:   float64(s.InPkts.Load()),
		stOutPkts:  float64(s.OutPkts.Load()),
		stInBytes:  float64(s.InBytes.Load()),
		stOutBytes: float64(s.OutBytes.Load()),
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// serviceLabelValues returns local_address, local_port, proto and
// local_mark of s, as the node exporter derives them from /proc/net/ip_vs.
func serviceLabelValues(s *vs.Service) []string {
	if s.FwMark != 0 {
		return []string{"", "0", "FWM", MarkLabel(s.FwMark)}
	}
	return []string{s.Addr.Unmap().String(), strconv.Itoa(int(s.Port)), s.Proto.String(), ""}
}

// backendLabelValues inserts d's address and port into the service labels
// sl at the node exporter's positions.
func backendLabelValues(sl []string, d *vs.Dest) []string {
	return []string{sl[0], sl[1], d.Addr.Unmap().String(), strconv.Itoa(int(d.Port)), sl[2], sl[3]}
}

// MarkLabel formats a firewall mark as the local_mark label: eight
// upper-case hex digits, as /proc/net/ip_vs prints it and the node exporter
// passes it on.
func MarkLabel(mark uint32) string { return fmt.Sprintf("%08X", mark) }

// rows sums values by label set, keeping the order labels were first seen.
type rows struct {
	index map[string]int
	list  []row
}

type row struct {
	labels []string
	v      []float64
}

func (r *rows) add(labels []string, v []float64) {
	key := strings.Join(labels, "\x00")
	if i, ok := r.index[key]; ok {
		for j := range v {
			r.list[i].v[j] += v[j]
		}
		return
	}
	if r.index == nil {
		r.index = map[string]int{}
	}
	r.index[key] = len(r.list)
	r.list = append(r.list, row{labels: labels, v: append([]float64(nil), v...)})
}

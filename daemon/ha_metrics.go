package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gdirector/gdirector/ipvssync"
	"github.com/gdirector/gdirector/vrrp"
)

// haCollector exposes the VRRP instances and the sync daemons to
// Prometheus. The sync counters are those of the running daemons: they
// start again from zero when a daemon is restarted (a counter reset, which
// rate() handles).
type haCollector struct {
	h *ha

	vrrpState, vrrpSent, vrrpRecv, vrrpDropped, vrrpErrors, vrrpTrans        *prometheus.Desc
	vrrpGroupState, vrrpScriptGood                                           *prometheus.Desc
	syncRunning, syncMsgsSent, syncConnsSent, syncSendErrors, syncQueueDrops *prometheus.Desc
	syncMsgsRecv, syncApplied, syncRefused                                   *prometheus.Desc
}

func newHACollector(h *ha) *haCollector {
	inst := []string{"instance"}
	return &haCollector{
		h:              h,
		vrrpState:      prometheus.NewDesc("gdirector_vrrp_state", "VRRP state of the instance: 0 init, 1 backup, 2 master, 3 fault (keepalived's numbering).", inst, nil),
		vrrpSent:       prometheus.NewDesc("gdirector_vrrp_adverts_sent_total", "VRRP adverts sent by the instance.", inst, nil),
		vrrpRecv:       prometheus.NewDesc("gdirector_vrrp_adverts_received_total", "Valid VRRP adverts received by the instance.", inst, nil),
		vrrpDropped:    prometheus.NewDesc("gdirector_vrrp_adverts_dropped_total", "VRRP datagrams the instance refused (decoding or receiver checks).", inst, nil),
		vrrpErrors:     prometheus.NewDesc("gdirector_vrrp_errors_total", "Failed sends and address changes of the instance.", inst, nil),
		vrrpTrans:      prometheus.NewDesc("gdirector_vrrp_transitions_total", "State transitions of the instance.", inst, nil),
		vrrpGroupState: prometheus.NewDesc("gdirector_vrrp_sync_group_state", "State of the VRRP sync group: 0 init, 1 backup, 2 master, 3 fault (as gdirector_vrrp_state).", []string{"group"}, nil),
		vrrpScriptGood: prometheus.NewDesc("gdirector_vrrp_script_good", "1 while the instance's tracked script (vrrp_script) is good, 0 while it is failed; no series before its first run ends.", []string{"instance", "script"}, nil),
		syncRunning:    prometheus.NewDesc("gdirector_sync_daemon_running", "1 while the master or backup connection sync daemon runs.", []string{"state"}, nil),
		syncMsgsSent:   prometheus.NewDesc("gdirector_sync_messages_sent_total", "Sync datagrams sent by the master daemon.", nil, nil),
		syncConnsSent:  prometheus.NewDesc("gdirector_sync_conns_sent_total", "Connection records sent by the master daemon.", nil, nil),
		syncSendErrors: prometheus.NewDesc("gdirector_sync_send_errors_total", "Sync datagrams the socket refused.", nil, nil),
		syncQueueDrops: prometheus.NewDesc("gdirector_sync_queue_drops_total", "Connections not synced because the sync queue was full.", nil, nil),
		syncMsgsRecv:   prometheus.NewDesc("gdirector_sync_messages_received_total", "Sync datagrams accepted by the backup daemon.", nil, nil),
		syncApplied:    prometheus.NewDesc("gdirector_sync_conns_applied_total", "Connection records applied by the backup daemon, by result.", []string{"result"}, nil),
		syncRefused:    prometheus.NewDesc("gdirector_sync_refused_total", "Sync datagrams or records the backup daemon refused, by reason.", []string{"reason"}, nil),
	}
}

func (c *haCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.vrrpState, c.vrrpSent, c.vrrpRecv, c.vrrpDropped, c.vrrpErrors, c.vrrpTrans, c.vrrpGroupState, c.vrrpScriptGood,
		c.syncRunning, c.syncMsgsSent, c.syncConnsSent, c.syncSendErrors, c.syncQueueDrops,
		c.syncMsgsRecv, c.syncApplied, c.syncRefused} {
		ch <- d
	}
}

func (c *haCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if s := c.h.set.Load(); s != nil {
		groups := map[string]bool{}
		for _, n := range *s {
			if n.ng != nil && !groups[n.group] {
				groups[n.group] = true
				ch <- prometheus.MustNewConstMetric(c.vrrpGroupState, prometheus.GaugeValue, float64(n.ng.State()), n.group)
			}
			name := n.cfg.Name
			ch <- prometheus.MustNewConstMetric(c.vrrpState, prometheus.GaugeValue, float64(n.state.Load()), name)
			st := n.node.Stats()
			counter(c.vrrpSent, st.AdvertsSent, name)
			counter(c.vrrpRecv, st.AdvertsReceived, name)
			counter(c.vrrpDropped, st.Dropped, name)
			counter(c.vrrpErrors, st.Errors, name)
			counter(c.vrrpTrans, st.Transitions, name)
			for _, sc := range n.node.Scripts() {
				good := 0.0
				if sc.Status == vrrp.ScriptGood {
					good = 1
				}
				if sc.Status != vrrp.ScriptInit {
					ch <- prometheus.MustNewConstMetric(c.vrrpScriptGood, prometheus.GaugeValue, good, name, sc.Name)
				}
			}
		}
	}
	if c.h.syncd == nil {
		return
	}
	running := map[string]float64{ipvssync.Master: 0, ipvssync.Backup: 0}
	for _, d := range c.h.syncd.Daemons() {
		running[d.State] = 1
	}
	for _, s := range []string{ipvssync.Master, ipvssync.Backup} {
		ch <- prometheus.MustNewConstMetric(c.syncRunning, prometheus.GaugeValue, running[s], s)
	}
	snd, rcv := c.h.syncd.Stats()
	counter(c.syncMsgsSent, snd.Messages)
	counter(c.syncConnsSent, snd.Conns)
	counter(c.syncSendErrors, snd.SendErrors)
	counter(c.syncQueueDrops, snd.QueueDrops)
	counter(c.syncMsgsRecv, rcv.Messages)
	counter(c.syncApplied, rcv.Installed, "installed")
	counter(c.syncApplied, rcv.Updated, "updated")
	counter(c.syncApplied, rcv.Replaced, "replaced")
	for _, r := range []struct {
		reason string
		v      uint64
	}{
		{"bad_source", rcv.BadSource}, {"bad_syncid", rcv.BadSyncID}, {"malformed", rcv.Malformed},
		{"bad_auth", rcv.BadAuth}, {"bad_record", rcv.BadRecord}, {"unknown_service", rcv.UnknownSvc},
		{"unknown_dest", rcv.UnknownDest}, {"stale", rcv.Stale}, {"install_failed", rcv.InstallFailed},
	} {
		counter(c.syncRefused, r.v, r.reason)
	}
}

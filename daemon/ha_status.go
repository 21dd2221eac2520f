package daemon

import (
	"slices"
	"strings"
	"time"

	"github.com/gdirector/gdirector/ipvssync"
	"github.com/gdirector/gdirector/status"
	"github.com/gdirector/gdirector/vrrp"
)

// HAReport is the status page's high-availability section
// (status.HAReporter): the running VRRP instances, by name, with their
// sync groups, and the running sync daemons; nil while no instance runs.
// It reads what the nodes published (never h.mu, which a reload holds
// while it stops nodes).
func (h *ha) HAReport() *status.HA {
	s := h.set.Load()
	if s == nil || len(*s) == 0 {
		return nil
	}
	out := &status.HA{Instances: make([]status.HAInstance, 0, len(*s)), Sync: []status.SyncDaemon{}}
	for _, n := range *s {
		in := status.HAInstance{
			Name: n.cfg.Name, Interface: n.cfg.Interface, VRID: n.cfg.VRID,
			State:    vrrp.State(n.state.Load()).String(),
			Priority: n.node.Priority(),
			Since:    time.Unix(0, n.since.Load()).UTC().Format(time.RFC3339Nano),
			Group:    n.group,
		}
		if n.ng != nil {
			in.GroupState = n.ng.State().String()
		}
		for _, sc := range n.node.Scripts() {
			in.Scripts = append(in.Scripts, status.HAScript{Name: sc.Name, Status: sc.Status.String(), Weight: sc.Weight})
		}
		out.Instances = append(out.Instances, in)
	}
	slices.SortFunc(out.Instances, func(a, b status.HAInstance) int { return strings.Compare(a.Name, b.Name) })
	if h.syncd != nil {
		snd, rcv := h.syncd.Stats()
		for _, d := range h.syncd.Daemons() {
			sd := status.SyncDaemon{State: d.State, SyncID: d.SyncID, Interface: d.Interface}
			if d.State == ipvssync.Master {
				sd.Messages, sd.Conns = snd.Messages, snd.Conns
				sd.Rejects = map[string]uint64{"send_errors": snd.SendErrors, "queue_drops": snd.QueueDrops}
			} else {
				sd.Messages, sd.Conns = rcv.Messages, rcv.Installed+rcv.Updated+rcv.Replaced
				sd.Rejects = syncRejects(rcv)
			}
			out.Sync = append(out.Sync, sd)
		}
	}
	return out
}

// syncRejects are a backup's refused datagrams and records by reason, as
// gdirector_sync_refused_total names them.
func syncRejects(r ipvssync.RecvStats) map[string]uint64 {
	return map[string]uint64{
		"bad_source": r.BadSource, "bad_syncid": r.BadSyncID, "malformed": r.Malformed,
		"bad_auth": r.BadAuth, "bad_record": r.BadRecord, "unknown_service": r.UnknownSvc,
		"unknown_dest": r.UnknownDest, "stale": r.Stale, "install_failed": r.InstallFailed,
	}
}

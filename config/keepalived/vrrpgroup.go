package keepalived

import (
	"strconv"

	"github.com/gdirector/gdirector/config"
)

// vrrpSyncGroup is a vrrp_sync_group block as written.
type vrrpSyncGroup struct {
	config.VRRPSyncGroup
	at        pos
	groupAt   opt[bool] // where the group block is
	members   []groupMember
	track     []config.VRRPTrack
	useWeight bool // sync_group_tracking_weight
}

// groupMember is an instance name in a group block, with its line.
type groupMember struct {
	name string
	at   pos
}

// vrrpGroupIgnored are vrrp_sync_group keywords accepted and ignored with
// a warning.
var vrrpGroupIgnored = map[string]string{
	"smtp_alert": "gdirector sends no mail", "track_script": "vrrp_script is not supported",
	"track_file": "track_file is not supported", "track_process": "track_process is not supported",
	"track_bfd": "BFD is not supported", "notify_priority_changes": "there is no notify FIFO",
	"notify_deleted": "instances are stopped on reload, with STOP", "global_tracking": "deprecated in keepalived: put track_interface in the vrrp_sync_group",
}

// vrrpSyncGroup reads a vrrp_sync_group block.
func (p *parser) vrrpSyncGroup(s stmt) error {
	if len(s.args) != 1 {
		return s.errf("vrrp_sync_group: needs one name")
	}
	name := s.args[0]
	for _, o := range p.out.vrrpGroups {
		if o.Name == name {
			return s.errf("vrrp_sync_group %s is already defined at line %d", name, o.at.line)
		}
	}
	g := &vrrpSyncGroup{at: s.pos}
	g.Name, g.Line = name, s.line
	err := p.body(s, func(st stmt) error {
		switch st.kw {
		case "group":
			if g.groupAt.set {
				return st.errf("vrrp_sync_group %s: group is already given at line %d", name, g.groupAt.at.line)
			}
			g.groupAt.put(true, st.pos)
			return p.body(st, func(m stmt) error {
				for _, w := range append([]string{m.kw}, m.args...) {
					g.members = append(g.members, groupMember{name: w, at: m.pos})
				}
				return nil
			})
		case "track_interface":
			return p.trackInterfaces(st, &g.track)
		case "sync_group_tracking_weight":
			if err := st.nargs(0, 0); err != nil {
				return err
			}
			g.useWeight = true
			return nil
		case "notify_master":
			return vrrpScript(st, &g.NotifyMaster)
		case "notify_backup":
			return vrrpScript(st, &g.NotifyBackup)
		case "notify_fault":
			return vrrpScript(st, &g.NotifyFault)
		case "notify_stop":
			return vrrpScript(st, &g.NotifyStop)
		case "notify":
			return vrrpScript(st, &g.Notify)
		}
		why, ok := vrrpGroupIgnored[st.kw]
		if !ok {
			if len(g.members) == 0 && !g.groupAt.set && len(st.args) == 0 {
				return st.errf("unknown keyword %q in vrrp_sync_group (the instances go in a group { } block)", st.kw)
			}
			return st.unknown("vrrp_sync_group")
		}
		p.warnf(st.pos, "%s ignored: %s", st.kw, why)
		return p.skip(st)
	})
	if err != nil {
		return err
	}
	p.out.vrrpGroups = append(p.out.vrrpGroups, g)
	return nil
}

// trackInterfaces reads a track_interface block: lines IFACE [weight W
// [reverse]], W in -253..253 (keepalived's ±254 become ±253 with a
// warning, as there).
func (p *parser) trackInterfaces(s stmt, dst *[]config.VRRPTrack) error {
	return p.body(s, func(st stmt) error {
		t := config.VRRPTrack{Line: st.line, Interface: st.kw}
		if len(t.Interface) > 15 {
			return st.errf("track_interface %s: interface name longer than 15 bytes", t.Interface)
		}
		switch a := st.args; {
		case len(a) == 0:
		case a[0] != "weight":
			return st.errf("track_interface %s: unknown option %q (weight W [reverse])", t.Interface, a[0])
		case len(a) == 1:
			return st.errf("track_interface %s: weight needs a value", t.Interface)
		case len(a) > 3 || (len(a) == 3 && a[2] != "reverse"):
			return st.errf("track_interface %s: unexpected %q after the weight (reverse)", t.Interface, a[len(a)-1])
		default:
			w, err := strconv.Atoi(a[1])
			if err != nil || w < -254 || w > 254 {
				return st.errf("track_interface %s: weight %q is not an integer in -253..253", t.Interface, a[1])
			}
			if w == 254 || w == -254 {
				p.warnf(st.pos, "track_interface %s: weight %d taken as %d, as keepalived does", t.Interface, w, w/254*253)
				w = w / 254 * 253
			}
			t.Weight, t.Reverse = w, len(a) == 3
		}
		for _, o := range *dst {
			if o.Interface == t.Interface {
				return st.errf("track_interface %s is already listed at line %d", t.Interface, o.Line)
			}
		}
		*dst = append(*dst, t)
		return nil
	})
}

// buildVRRPGroups resolves the sync groups against the built instances
// (b.out.VRRP): every member must exist and be in one group only; the
// group's tracked interfaces join its members'; weighted tracking of a
// member is dropped with a warning unless sync_group_tracking_weight (as
// keepalived: members must change state together, which differing
// priorities would defeat).
func (b *builder) buildVRRPGroups() error {
	index := map[string]int{}
	for i := range b.out.VRRP {
		index[b.out.VRRP[i].Name] = i
	}
	in := map[string]*vrrpSyncGroup{} // instance -> its group
	for _, g := range b.in.vrrpGroups {
		out := g.VRRPSyncGroup
		out.File = b.fileOf(g.at)
		where := "vrrp_sync_group " + g.Name
		if len(g.members) == 0 {
			return g.at.errf("%s: no instances (a group { } block naming vrrp_instances)", where)
		}
		owners := 0
		for _, m := range g.members {
			i, ok := index[m.name]
			if !ok {
				return m.at.errf("%s: no vrrp_instance %s", where, m.name)
			}
			if o := in[m.name]; o != nil {
				if o == g {
					return m.at.errf("%s: vrrp_instance %s is listed twice", where, m.name)
				}
				return m.at.errf("%s: vrrp_instance %s is already in vrrp_sync_group %s (line %d); an instance can be in one group only", where, m.name, o.Name, o.at.line)
			}
			in[m.name] = g
			out.Instances = append(out.Instances, m.name)
			inst := &b.out.VRRP[i]
			if inst.Priority == 255 {
				owners++
			}
			for _, t := range g.track {
				if !trackHas(inst.Track, t.Interface) {
					inst.Track = append(inst.Track, t)
				}
			}
			if !g.useWeight {
				kept := inst.Track[:0:0]
				for _, t := range inst.Track {
					if t.Weight != 0 {
						b.warnf(g.at, "track_interface %s weight %d (line %d) of vrrp_instance %s ignored: the members of %s change state together (keepalived ignores weighted tracking in a sync group unless sync_group_tracking_weight)", t.Interface, t.Weight, t.Line, inst.Name, where)
						continue
					}
					kept = append(kept, t)
				}
				inst.Track = kept
			}
		}
		if len(out.Instances) == 1 {
			b.warnf(g.at, "%s has only one instance: it synchronises nothing", where)
		}
		if owners > 0 && owners < len(out.Instances) {
			b.warnf(g.at, "%s: some instances have priority 255 (address owner) and some not; they cannot be master together at startup", where)
		}
		b.out.VRRPSyncGroups = append(b.out.VRRPSyncGroups, out)
	}
	return nil
}

func trackHas(ts []config.VRRPTrack, name string) bool {
	for _, t := range ts {
		if t.Interface == name {
			return true
		}
	}
	return false
}

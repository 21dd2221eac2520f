package keepalived

import (
	"slices"
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
	scripts   []trackScript // track_script
	useWeight bool          // sync_group_tracking_weight
}

// groupMember is an instance name in a group block, with its line.
type groupMember struct {
	name string
	at   pos
}

// vrrpGroupIgnored are vrrp_sync_group keywords accepted and ignored with
// a warning.
var vrrpGroupIgnored = map[string]string{
	"smtp_alert": "gdirector sends no mail", "track_file": "track_file is not supported",
	"track_process": "track_process is not supported", "track_bfd": "BFD is not supported", "notify_priority_changes": "there is no notify FIFO",
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
		case "track_script":
			return p.trackScripts(st, &g.scripts)
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

// syncNoWeight names the instances of the sync groups without
// sync_group_tracking_weight.
func (b *builder) syncNoWeight() map[string]bool {
	in := map[string]bool{}
	for _, g := range b.in.vrrpGroups {
		if !g.useWeight {
			for _, m := range g.members {
				in[m.name] = true
			}
		}
	}
	return in
}

// buildVRRPGroups resolves the sync groups against the built instances
// (b.out.VRRP): every member must exist and be in one group only. The
// tracking follows keepalived 2.x (vrrp_complete_instance, then
// sync_group_tracking_init):
//   - unless sync_group_tracking_weight, a member's own weighted
//     interfaces get weight 0 (reverse kept: they put it in FAULT) and
//     its own weighted scripts are dropped, as members must change state
//     together and differing priorities would defeat that;
//   - the group's interfaces and scripts keep their weights (they move
//     every member alike), but get weight 0 (reverse kept) when a member
//     is the address owner (priority 255);
//   - the group's entries join every member; where a member lists the
//     same interface or script, the group's entry replaces it unless the
//     member's (as written) is unweighted.
func (b *builder) buildVRRPGroups(scripts map[string]*config.VRRPScript) error {
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
		owner := ""
		for _, m := range g.members {
			if i, ok := index[m.name]; ok && owner == "" && b.out.VRRP[i].Priority == 255 {
				owner = m.name
			}
		}
		gtrack := slices.Clone(g.track)
		for i, t := range gtrack {
			if t.Weight != 0 && owner != "" {
				b.warnf(pos{file: g.at.file, line: t.Line}, "track_interface %s weight %d of %s set to 0: member vrrp_instance %s is the address owner (priority 255), whose priority does not move; %s (keepalived clears it too)", t.Interface, t.Weight, where, owner, "it puts every member in FAULT while "+t.Interface+" is "+either(t.Reverse, "up", "down"))
				gtrack[i].Weight = 0
			}
		}
		var gscripts []config.VRRPTrackScript
		for _, t := range g.scripts {
			r, err := resolveTrackScript(t, scripts)
			if err != nil {
				return err
			}
			if r.Weight != 0 && owner != "" {
				b.warnf(t.at, "track_script %s weight %d of %s set to 0: member vrrp_instance %s is the address owner (priority 255), whose priority does not move; %s (keepalived clears it too)", r.Script, r.Weight, where, owner, "it puts every member in FAULT while the script "+either(r.Reverse, "succeeds", "fails"))
				r.Weight = 0
			}
			gscripts = append(gscripts, r)
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
			if b.out.VRRP[i].Priority == 255 {
				owners++
			}
			file := b.in.vrrp[i].at.file
			b.groupTracks(&b.out.VRRP[i], file, g, gtrack)
			b.groupScripts(&b.out.VRRP[i], file, g, gscripts)
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

// groupTracks merges the group's tracked interfaces gtrack into member
// inst (file is where inst is written) and, unless
// sync_group_tracking_weight, sets the weights of inst's own to 0.
func (b *builder) groupTracks(inst *config.VRRPInstance, file string, g *vrrpSyncGroup, gtrack []config.VRRPTrack) {
	where := "vrrp_sync_group " + g.Name
	var track []config.VRRPTrack
	for _, t := range inst.Track {
		at := pos{file: file, line: t.Line}
		if j := slices.IndexFunc(gtrack, func(gt config.VRRPTrack) bool { return gt.Interface == t.Interface }); j >= 0 {
			if t.Weight != 0 {
				b.warnf(at, "track_interface %s of vrrp_instance %s is also tracked by %s (line %d): the group's weight %d is used, the instance's weight %d is ignored (keepalived: remove one of them)", t.Interface, inst.Name, where, gtrack[j].Line, gtrack[j].Weight, t.Weight)
				t = gtrack[j]
			} else {
				b.warnf(at, "track_interface %s of vrrp_instance %s is also tracked by %s (line %d): the instance's unweighted line is used, the group's (weight %d) is ignored (keepalived: remove one of them)", t.Interface, inst.Name, where, gtrack[j].Line, gtrack[j].Weight)
			}
		} else if t.Weight != 0 && !g.useWeight {
			b.warnf(at, "track_interface %s weight %d of vrrp_instance %s set to 0: the members of %s change state together; %s (keepalived does the same unless sync_group_tracking_weight)", t.Interface, t.Weight, inst.Name, where, "it puts the instance in FAULT while "+t.Interface+" is "+either(t.Reverse, "up", "down"))
			t.Weight = 0
		}
		track = append(track, t)
	}
	for _, gt := range gtrack {
		if !trackHas(inst.Track, gt.Interface) {
			track = append(track, gt)
		}
	}
	inst.Track = track
}

// groupScripts drops, unless sync_group_tracking_weight, the weighted
// scripts of member inst (file is where inst is written), then merges
// the group's scripts gscripts into it.
func (b *builder) groupScripts(inst *config.VRRPInstance, file string, g *vrrpSyncGroup, gscripts []config.VRRPTrackScript) {
	where := "vrrp_sync_group " + g.Name
	var track []config.VRRPTrackScript
	for _, t := range inst.TrackScripts {
		if t.Weight != 0 && !g.useWeight {
			b.warnf(pos{file: file, line: t.Line}, "track_script %s weight %d of vrrp_instance %s ignored: the members of %s change state together (keepalived drops weighted scripts of members unless sync_group_tracking_weight)", t.Script, t.Weight, inst.Name, where)
			continue
		}
		track = append(track, t)
	}
	for _, gt := range gscripts {
		j := slices.IndexFunc(track, func(t config.VRRPTrackScript) bool { return t.Script == gt.Script })
		switch {
		case j < 0:
			track = append(track, gt)
		case track[j].Weight != 0:
			b.warnf(pos{file: file, line: track[j].Line}, "track_script %s of vrrp_instance %s is also tracked by %s (line %d): the group's weight %d is used, the instance's weight %d is ignored (keepalived: remove one of them)", gt.Script, inst.Name, where, gt.Line, gt.Weight, track[j].Weight)
			track[j] = gt
		default:
			b.warnf(pos{file: file, line: track[j].Line}, "track_script %s of vrrp_instance %s is also tracked by %s (line %d): the instance's unweighted line is used, the group's (weight %d) is ignored (keepalived: remove one of them)", gt.Script, inst.Name, where, gt.Line, gt.Weight)
		}
	}
	inst.TrackScripts = track
}

// either is a if c, else b.
func either(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}

func trackHas(ts []config.VRRPTrack, name string) bool {
	for _, t := range ts {
		if t.Interface == name {
			return true
		}
	}
	return false
}

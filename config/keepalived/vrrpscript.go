package keepalived

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gdirector/gdirector/config"
)

// vrrpScriptDef is a vrrp_script block as written.
type vrrpScriptDef struct {
	config.VRRPScript
	at       pos
	command  opt[string]
	interval opt[time.Duration]
	timeout  opt[time.Duration]
}

// trackScript is a track_script line as written: its weight and
// reverse, when absent, are the script's.
type trackScript struct {
	config.VRRPTrackScript
	at      pos
	weight  opt[int]
	reverse opt[bool]
}

// maxScriptTimer is keepalived's largest interval and timeout (whole
// seconds that fit its unsigned microsecond timers).
const maxScriptTimer = math.MaxUint32 / 1000000 * time.Second

// vrrpScriptDef reads a vrrp_script block.
func (p *parser) vrrpScriptDef(s stmt) error {
	if len(s.args) != 1 {
		return s.errf("vrrp_script: needs one name")
	}
	name := s.args[0]
	for _, o := range p.out.vrrpScripts {
		if o.Name == name {
			return s.errf("vrrp_script %s is already defined at line %d", name, o.at.line)
		}
	}
	v := &vrrpScriptDef{at: s.pos}
	v.Name, v.Line, v.Rise, v.Fall = name, s.line, 1, 1
	err := p.body(s, func(st stmt) error {
		var err error
		switch st.kw {
		case "script":
			if v.command.set {
				return st.errf("script is already set at line %d", v.command.at.line)
			}
			var cmd string
			var extra []string
			if cmd, extra, err = st.script(); err != nil {
				return err
			}
			if len(extra) > 0 {
				return st.errf("script: unexpected %q after the command (quote the whole command line: script \"%s %s\")", extra[0], cmd, strings.Join(extra, " "))
			}
			v.command.put(cmd, st.pos)
		case "interval":
			var d time.Duration
			if d, err = p.scriptTimer(st); err == nil {
				v.interval.put(d, st.pos)
			}
		case "timeout":
			var d time.Duration
			if d, err = p.scriptTimer(st); err == nil {
				v.timeout.put(d, st.pos)
			}
		case "weight":
			if err = st.nargs(1, 2); err != nil {
				return err
			}
			w, aerr := strconv.Atoi(st.args[0])
			if aerr != nil || w < -253 || w > 253 {
				return st.errf("weight: %q is not an integer in -253..253", st.args[0])
			}
			if len(st.args) == 2 && st.args[1] != "reverse" {
				return st.errf("weight: unexpected %q after the weight (reverse)", st.args[1])
			}
			v.Weight, v.Reverse = w, len(st.args) == 2
		case "rise":
			var n uint64
			if n, err = st.uint(1, math.MaxInt32); err == nil {
				v.Rise = int(n)
			}
		case "fall":
			var n uint64
			if n, err = st.uint(1, math.MaxInt32); err == nil {
				v.Fall = int(n)
			}
		case "user":
			if err = st.nargs(1, 2); err == nil {
				v.User, v.Group = st.args[0], ""
				if len(st.args) == 2 {
					v.Group = st.args[1]
				}
			}
		case "init_fail":
			if err = st.nargs(0, 0); err == nil {
				v.InitFail = true
			}
		default:
			return st.unknown("vrrp_script")
		}
		return err
	})
	if err != nil {
		return err
	}
	if !v.command.set {
		return s.errf("vrrp_script %s: no script", name)
	}
	v.Command = v.command.v
	p.out.vrrpScripts = append(p.out.vrrpScripts, v)
	return nil
}

// scriptTimer reads interval and timeout: seconds (fractions allowed),
// 1 s to keepalived's maximum; 0 becomes 1 s with a warning, as
// keepalived corrects it.
func (p *parser) scriptTimer(s stmt) (time.Duration, error) {
	d, err := s.timer(0, maxScriptTimer)
	switch {
	case err != nil:
		return 0, err
	case d == 0:
		p.warnf(s.pos, "%s 0 taken as 1 second, as keepalived does", s.kw)
		return time.Second, nil
	case d < time.Second:
		return 0, s.errf("%s: %q is below the minimum of 1s", s.kw, s.args[0])
	}
	return d, nil
}

// trackScripts reads a track_script block: lines NAME [weight W
// [reverse|noreverse]], W in -253..253 (keepalived's ±254 become ±253
// with a warning, as there). The names are resolved by the build
// (vrrp_script blocks may come later in the file).
func (p *parser) trackScripts(s stmt, dst *[]trackScript) error {
	return p.body(s, func(st stmt) error {
		t := trackScript{at: st.pos}
		t.Line, t.Script = st.line, st.kw
		switch a := st.args; {
		case len(a) == 0:
		case a[0] != "weight":
			return st.errf("track_script %s: unknown option %q (weight W [reverse|noreverse])", t.Script, a[0])
		case len(a) == 1:
			return st.errf("track_script %s: weight needs a value", t.Script)
		case len(a) > 3 || (len(a) == 3 && a[2] != "reverse" && a[2] != "noreverse"):
			return st.errf("track_script %s: unexpected %q after the weight (reverse or noreverse)", t.Script, a[len(a)-1])
		default:
			w, err := strconv.Atoi(a[1])
			if err != nil || w < -254 || w > 254 {
				return st.errf("track_script %s: weight %q is not an integer in -253..253", t.Script, a[1])
			}
			if w == 254 || w == -254 {
				p.warnf(st.pos, "track_script %s: weight %d taken as %d, as keepalived does", t.Script, w, w/254*253)
				w = w / 254 * 253
			}
			t.weight.put(w, st.pos)
			if len(a) == 3 {
				t.reverse.put(a[2] == "reverse", st.pos)
			}
		}
		for _, o := range *dst {
			if o.Script == t.Script {
				return st.errf("track_script %s is already listed at line %d", t.Script, o.Line)
			}
		}
		*dst = append(*dst, t)
		return nil
	})
}

// buildVRRPScripts fills in the defaults of the vrrp_script blocks,
// indexed by name.
func (b *builder) buildVRRPScripts() map[string]*config.VRRPScript {
	out := make(map[string]*config.VRRPScript, len(b.in.vrrpScripts))
	for _, v := range b.in.vrrpScripts {
		sc := v.VRRPScript
		sc.File = b.fileOf(v.at)
		sc.Interval = v.interval.or(time.Second)
		sc.Timeout = v.timeout.or(sc.Interval)
		out[sc.Name] = &sc
	}
	return out
}

// resolveTrackScript gives a track_script line its script's weight and
// reverse where it has none of its own (keepalived: a weight without
// reverse or noreverse keeps the script's reverse).
func resolveTrackScript(t trackScript, scripts map[string]*config.VRRPScript) (config.VRRPTrackScript, error) {
	sc, ok := scripts[t.Script]
	if !ok {
		return config.VRRPTrackScript{}, t.at.errf("track_script %s: no vrrp_script %s", t.Script, t.Script)
	}
	r := t.VRRPTrackScript
	r.Weight, r.Reverse = t.weight.or(sc.Weight), t.reverse.or(sc.Reverse)
	return r, nil
}

// publishVRRPScripts puts the tracked scripts in Config.VRRPScripts, in
// file order; a script no instance tracks is left out with a warning,
// as keepalived does not run it.
func (b *builder) publishVRRPScripts(scripts map[string]*config.VRRPScript) {
	used := map[string]bool{}
	for i := range b.out.VRRP {
		for _, t := range b.out.VRRP[i].TrackScripts {
			used[t.Script] = true
		}
	}
	for _, v := range b.in.vrrpScripts {
		if !used[v.Name] {
			b.warnf(v.at, "vrrp_script %s is not tracked by any vrrp_instance: it is not run", v.Name)
			continue
		}
		b.out.VRRPScripts = append(b.out.VRRPScripts, *scripts[v.Name])
	}
}

func trackScriptHas(ts []config.VRRPTrackScript, name string) bool {
	for _, t := range ts {
		if t.Script == name {
			return true
		}
	}
	return false
}

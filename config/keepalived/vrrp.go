package keepalived

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/gdirector/gdirector/config"
)

// vrrpGlobals are the VRRP settings of global_defs.
type vrrpGlobals struct {
	version opt[int]
	strict  bool
}

// vrrpInstance is a vrrp_instance block as written.
type vrrpInstance struct {
	config.VRRPInstance
	at        pos
	version   opt[int]
	prio      opt[uint8]
	advert    opt[time.Duration]
	noPreempt bool
	authType  opt[string]
	authPass  opt[string]
	strict    bool
	scripts   []trackScript // track_script, resolved by buildVRRP
}

// vrrpIgnored are vrrp_instance keywords accepted and ignored with a
// warning: they tune what gdirector does not do (VMAC, gratuitous ARP
// timing, mail, tracking files, processes and BFD, keepalived's own
// logging).
var vrrpIgnored = map[string]string{
	"smtp_alert": "gdirector sends no mail", "use_vmac": "no VMAC: the interface's own MAC address is used",
	"vmac_xmit_base": "no VMAC", "garp_master_delay": "gratuitous ARPs are sent at takeover only",
	"garp_master_repeat": "gratuitous ARPs are sent at takeover only", "garp_master_refresh": "gratuitous ARPs are sent at takeover only",
	"garp_master_refresh_repeat": "gratuitous ARPs are sent at takeover only", "garp_lower_prio_delay": "gratuitous ARPs are sent at takeover only",
	"garp_lower_prio_repeat": "gratuitous ARPs are sent at takeover only", "lvs_sync_daemon_interface": "this old instance-level form is not read; use global_defs lvs_sync_daemon IFACE INSTANCE",
	"track_file": "track_file is not supported", "track_process": "track_process is not supported",
	"track_bfd": "BFD is not supported", "debug": "keepalived's debug levels do not apply",
	"notify_master_rx_lower_pri": "not supported", "higher_prio_send_advert": "not supported", "kernel_rx_buf_size": "not supported",
	"promote_secondaries": "addresses are owned by gdirector, not the kernel", "linkbeat_use_polling": "not supported",
	"native_ipv6": "IPv6 instances run version 3 anyway", "skip_check_adv_addr": "the address count is always checked",
}

// vrrpInstance reads a vrrp_instance block.
func (p *parser) vrrpInstance(s stmt) error {
	name, err := s.value()
	if err != nil {
		return s.errf("vrrp_instance: missing name")
	}
	for _, o := range p.out.vrrp {
		if o.Name == name {
			return s.errf("vrrp_instance %s is already defined at line %d", name, o.at.line)
		}
	}
	v := &vrrpInstance{at: s.pos}
	v.Name, v.Line, v.Preempt, v.Accept = name, s.line, true, true
	err = p.body(s, func(st stmt) error { return p.vrrpStmt(v, st) })
	if err != nil {
		return err
	}
	p.out.vrrp = append(p.out.vrrp, v)
	return nil
}

// vrrpStmt reads a statement of a vrrp_instance block.
func (p *parser) vrrpStmt(v *vrrpInstance, s stmt) error {
	var err error
	switch s.kw {
	case "state":
		var st string
		if st, err = s.value(); err != nil {
			return err
		}
		switch st {
		case "MASTER":
			v.StartMaster = true
		case "BACKUP":
			v.StartMaster = false
		default:
			return s.errf("state: unknown state %q (MASTER or BACKUP)", st)
		}
	case "interface":
		v.Interface, err = s.value()
	case "virtual_router_id":
		var n uint64
		if n, err = s.uint(1, 255); err == nil {
			v.VRID = uint8(n)
		}
	case "priority":
		var n uint64
		if n, err = s.uint(1, 255); err == nil {
			v.prio.put(uint8(n), s.pos)
		}
	case "advert_int":
		var d time.Duration
		if d, err = s.timer(10*time.Millisecond, 255*time.Second); err == nil {
			v.advert.put(d, s.pos)
		}
	case "version":
		var n uint64
		if n, err = s.uint(2, 3); err == nil {
			v.version.put(int(n), s.pos)
		}
	case "nopreempt":
		if err = s.nargs(0, 0); err == nil {
			v.noPreempt = true
		}
	case "preempt":
		err = s.nargs(0, 0)
	case "preempt_delay":
		v.PreemptDelay, err = s.timer(0, time.Hour)
	case "accept":
		if err = s.nargs(0, 0); err == nil {
			v.Accept = true
		}
	case "no_accept":
		if err = s.nargs(0, 0); err == nil {
			v.Accept = false
		}
	case "strict_mode":
		v.strict, err = s.flag()
	case "v3_checksum_as_v2":
		v.V3ChecksumAsV2, err = s.flag()
	case "unicast_src_ip", "mcast_src_ip":
		if _, err = s.value(); err == nil {
			v.UnicastSrc, err = s.addr(0)
		}
	case "authentication":
		err = p.body(s, func(st stmt) error {
			switch st.kw {
			case "auth_type":
				t, err := st.value()
				if err != nil {
					return err
				}
				switch t {
				case "PASS":
				case "AH":
					return st.errf("auth_type AH (IPsec authentication header) is not supported")
				default:
					return st.errf("auth_type: unknown type %q (PASS)", t)
				}
				v.authType.put(t, st.pos)
			case "auth_pass":
				pw, err := st.value()
				if err != nil {
					return err
				}
				if len(pw) > 8 {
					p.warnf(st.pos, "auth_pass: only the first 8 characters are used, as keepalived does")
					pw = pw[:8]
				}
				v.authPass.put(pw, st.pos)
			default:
				return st.unknown("authentication")
			}
			return nil
		})
	case "virtual_ipaddress":
		err = p.body(s, func(st stmt) error { return p.vrrpVIP(v, st) })
	case "unicast_peer":
		err = p.body(s, func(st stmt) error {
			a, err := parseAddr(st.kw)
			if err != nil {
				return st.errf("unicast_peer: %v", err)
			}
			if len(st.args) > 0 {
				return st.errf("unicast_peer %s: options (min_ttl, max_ttl) are not supported", st.kw)
			}
			v.UnicastPeers = append(v.UnicastPeers, a)
			return nil
		})
	case "track_interface":
		err = p.trackInterfaces(s, &v.Track)
	case "track_script":
		err = p.trackScripts(s, &v.scripts)
	case "dont_track_primary":
		if err = s.nargs(0, 0); err == nil {
			v.DontTrackPrimary = true
		}
	case "notify_master":
		err = vrrpScript(s, &v.NotifyMaster)
	case "notify_backup":
		err = vrrpScript(s, &v.NotifyBackup)
	case "notify_fault":
		err = vrrpScript(s, &v.NotifyFault)
	case "notify_stop":
		err = vrrpScript(s, &v.NotifyStop)
	case "notify":
		err = vrrpScript(s, &v.Notify)
	case "virtual_ipaddress_excluded", "virtual_routes", "virtual_rules":
		return s.errf("%s is not supported: gdirector does not manage the host's addresses, routes or rules", s.kw)
	default:
		why, ok := vrrpIgnored[s.kw]
		if !ok {
			return s.unknown("vrrp_instance")
		}
		p.warnf(s.pos, "%s ignored: %s", s.kw, why)
		return p.skip(s)
	}
	return err
}

// vrrpScript reads a notify script of a vrrp_instance.
func vrrpScript(s stmt, dst *string) error {
	var o opt[string]
	if err := s.notifyScript(&o); err != nil {
		return err
	}
	if *dst != "" {
		return s.errf("%s is set twice", s.kw)
	}
	*dst = o.v
	return nil
}

// vrrpVIP reads one line of virtual_ipaddress: ADDR[/LEN] [dev IFACE]
// [label LABEL] [brd ADDR] [scope SCOPE].
func (p *parser) vrrpVIP(v *vrrpInstance, s stmt) error {
	words := append([]string{s.kw}, s.args...)
	pfx, err := netip.ParsePrefix(words[0])
	if err != nil {
		a, aerr := parseAddr(words[0])
		if aerr != nil {
			return s.errf("virtual_ipaddress: %q is not an address or ADDR/LEN", words[0])
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if pfx.Addr().Zone() != "" {
		return s.errf("virtual_ipaddress: %q: zones are not supported", words[0])
	}
	va := config.VRRPAddress{Line: s.line, Prefix: pfx}
	for i := 1; i < len(words); i += 2 {
		if i+1 == len(words) {
			return s.errf("virtual_ipaddress %s: %s needs a value", words[0], words[i])
		}
		val := words[i+1]
		switch words[i] {
		case "dev":
			va.Dev = val
		case "label":
			if pfx.Addr().Is6() {
				return s.errf("virtual_ipaddress %s: label is IPv4 only", words[0])
			}
			va.Label = val
		case "brd", "broadcast", "scope":
			// Kernel address attributes: the Owner places the address.
		default:
			return s.errf("virtual_ipaddress %s: unsupported option %q (dev, label, brd or scope)", words[0], words[i])
		}
	}
	for _, o := range v.VIPs {
		if o.Prefix.Addr() == pfx.Addr() {
			p.warnf(s.pos, "virtual_ipaddress %s ignored: already listed at line %d", pfx.Addr(), o.Line)
			return nil
		}
	}
	v.VIPs = append(v.VIPs, va)
	return nil
}

// buildVRRP resolves the instances: defaults, the global version, the
// tracked scripts, and the checks that need the whole block; then the
// sync groups and the scripts.
func (b *builder) buildVRRP() error {
	scripts := b.buildVRRPScripts()
	noWeight := b.syncNoWeight()
	for _, v := range b.in.vrrp {
		in := v.VRRPInstance
		in.File = b.fileOf(v.at)
		in.Priority = v.prio.or(100)
		in.AdvertInt = v.advert.or(time.Second)
		in.Version = v.version.or(b.in.vrrpGlobal.version.or(2))
		in.Preempt = !v.noPreempt
		in.Strict = v.strict || b.in.vrrpGlobal.strict
		where := fmt.Sprintf("vrrp_instance %s", in.Name)
		if in.Interface == "" {
			return v.at.errf("%s: no interface", where)
		}
		if in.VRID == 0 {
			return v.at.errf("%s: no virtual_router_id", where)
		}
		if len(in.VIPs) == 0 {
			return v.at.errf("%s: no virtual_ipaddress", where)
		}
		six := in.VIPs[0].Prefix.Addr().Is6()
		for _, a := range in.VIPs {
			if a.Prefix.Addr().Is6() != six {
				return pos{file: v.at.file, line: a.Line}.errf("%s: virtual_ipaddress %s is not of the family of %s (one family per instance)", where, a.Prefix, in.VIPs[0].Prefix)
			}
		}
		if six && in.Version == 2 {
			if v.version.set {
				return v.version.at.errf("%s: VRRP version 2 is IPv4 only", where)
			}
			in.Version = 3 // keepalived does the same for IPv6 instances
		}
		if in.Version == 2 && in.AdvertInt%time.Second != 0 {
			return v.advert.at.errf("advert_int %v: VRRP version 2 advertises whole seconds", in.AdvertInt)
		}
		if in.Version == 3 && in.AdvertInt > 4095*10*time.Millisecond {
			return v.advert.at.errf("advert_int %v: above VRRP version 3's maximum of 40.95 seconds", in.AdvertInt)
		}
		if in.Version == 3 && in.AdvertInt%(10*time.Millisecond) != 0 {
			return v.advert.at.errf("advert_int %v: VRRP version 3 counts whole centiseconds", in.AdvertInt)
		}
		if v.authType.set || v.authPass.set {
			switch {
			case !v.authType.set:
				return v.authPass.at.errf("%s: auth_pass without auth_type PASS", where)
			case !v.authPass.set || v.authPass.v == "":
				return v.authType.at.errf("%s: auth_type PASS without auth_pass", where)
			case in.Version == 3:
				b.warnf(v.authType.at, "authentication ignored: VRRP version 3 has none (keepalived ignores it too)")
			default:
				in.AuthPass = v.authPass.v
			}
		}
		if in.Strict && in.AuthPass != "" {
			b.warnf(v.authType.at, "authentication ignored: vrrp_strict forbids it (keepalived drops it too)")
			in.AuthPass = ""
		}
		if in.Strict && len(in.UnicastPeers) > 0 {
			return v.at.errf("%s: vrrp_strict forbids unicast peers", where)
		}
		if in.UnicastSrc.IsValid() && in.UnicastSrc.Is6() != six {
			return v.at.errf("%s: unicast_src_ip %v is not of the virtual addresses' family", where, in.UnicastSrc)
		}
		for _, pa := range in.UnicastPeers {
			if pa.Is6() != six {
				return v.at.errf("%s: unicast_peer %v is not of the virtual addresses' family", where, pa)
			}
		}
		for _, t := range v.scripts {
			r, err := resolveTrackScript(t, scripts)
			if err != nil {
				return err
			}
			if r.Weight != 0 && in.Priority == 255 {
				b.warnf(t.at, "track_script %s weight %d of %s ignored: the address owner's priority (255) does not move (keepalived ignores it too)", r.Script, r.Weight, where)
				continue
			}
			in.TrackScripts = append(in.TrackScripts, r)
		}
		// keepalived drops the address owner's weighted interfaces, except
		// in a sync group without sync_group_tracking_weight, whose
		// members keep them with weight 0 (buildVRRPGroups).
		var track []config.VRRPTrack
		for _, t := range in.Track {
			if t.Weight != 0 && in.Priority == 255 && !noWeight[in.Name] {
				b.warnf(pos{file: v.at.file, line: t.Line}, "track_interface %s weight %d of %s ignored: the address owner's priority (255) does not move (keepalived ignores it too)", t.Interface, t.Weight, where)
				continue
			}
			track = append(track, t)
		}
		in.Track = track
		for _, o := range b.out.VRRP {
			if o.Interface == in.Interface && o.VRID == in.VRID && (o.VIPs[0].Prefix.Addr().Is6() == six) {
				return v.at.errf("%s: virtual_router_id %d on %s is already used by vrrp_instance %s", where, in.VRID, in.Interface, o.Name)
			}
		}
		in.VIPs = slices.Clone(in.VIPs)
		b.out.VRRP = append(b.out.VRRP, in)
	}
	if err := b.buildVRRPGroups(scripts); err != nil {
		return err
	}
	b.publishVRRPScripts(scripts)
	return nil
}

// vrrpGlobalDef reads the VRRP settings of global_defs; false if s is
// not one.
func (p *parser) vrrpGlobalDef(s stmt) (bool, error) {
	switch s.kw {
	case "vrrp_version":
		n, err := s.uint(2, 3)
		if err == nil {
			p.out.vrrpGlobal.version.put(int(n), s.pos)
		}
		return true, err
	case "vrrp_strict":
		on, err := s.flag()
		p.out.vrrpGlobal.strict = on
		return true, err
	}
	return false, nil
}

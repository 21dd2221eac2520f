package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/gdirector/gdirector/config"
)

// Config is one virtual router as a Node runs it.
type Config struct {
	// Name is the instance name (keepalived's vrrp_instance NAME), passed
	// to notify scripts.
	Name string
	// Interface is the interface adverts go out of and come in on.
	Interface string
	VRID      uint8
	// Priority is 1..255; 255 is the address owner.
	Priority uint8
	// AdvertInt is the advert interval (version 2: whole seconds).
	AdvertInt time.Duration
	// Version is 2 (IPv4 only) or 3.
	Version      int
	Preempt      bool
	PreemptDelay time.Duration
	// AuthPass is version 2's simple password ("" = none), at most 8
	// bytes.
	AuthPass string
	// VIPs are the virtual addresses, all of one family.
	VIPs []netip.Prefix
	// Source is the source address of adverts and this router's primary
	// address; invalid = the interface's first IPv4 address, or its
	// link-local IPv6 address.
	Source netip.Addr
	// Peers, when set, are the unicast peers: adverts go to each of them
	// instead of the multicast group, and only theirs are accepted.
	Peers []netip.Addr
	// Notify are keepalived's notify scripts.
	Notify Notify
	// V3ChecksumAsV2 sends version 3 IPv4 adverts without the IPv4
	// pseudo-header in the checksum (keepalived v3_checksum_as_v2). Both
	// forms are accepted on receipt either way.
	V3ChecksumAsV2 bool
	// Track are the tracked interfaces (keepalived track_interface).
	// Interface is tracked too (weight 0: down means FAULT) unless
	// DontTrackPrimary.
	Track            []Track
	DontTrackPrimary bool
	// Scripts are the tracked scripts (keepalived track_script).
	Scripts []TrackScript
}

// Notify are the scripts run on transitions, as POSIX shell command lines
// (run with sh -c). Master, Backup, Fault and Stop run on entering that
// state (Stop: when the node stops) with no arguments; Any runs on every
// transition, after the state's own, with keepalived's arguments appended:
// INSTANCE NAME STATE PRIORITY.
type Notify struct {
	Master, Backup, Fault, Stop, Any string
}

// Family is 4 or 6, the family of the virtual addresses.
func (c *Config) Family() int {
	if len(c.VIPs) > 0 && c.VIPs[0].Addr().Is6() {
		return 6
	}
	return 4
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Interface == "" {
		bad("no interface")
	}
	if c.VRID == 0 {
		bad("virtual router id 0 (1..255)")
	}
	if c.Priority == 0 {
		bad("priority 0 (1..255)")
	}
	if c.Version != 2 && c.Version != 3 {
		bad("version %d (2 or 3)", c.Version)
	} else if _, err := WireInterval(c.Version, c.AdvertInt); err != nil {
		errs = append(errs, err)
	}
	if len(c.VIPs) == 0 {
		bad("no virtual address")
	}
	if len(c.VIPs) > MaxAddrs {
		bad("%d virtual addresses (at most %d)", len(c.VIPs), MaxAddrs)
	}
	fam := c.Family()
	for _, p := range c.VIPs {
		if !p.IsValid() || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			bad("invalid virtual address %v", p)
		} else if (fam == 6) != p.Addr().Is6() {
			bad("virtual address %v: all addresses of an instance must be of one family", p)
		}
	}
	if fam == 6 && c.Version == 2 {
		bad("VRRP version 2 is IPv4 only")
	}
	if c.Version == 3 && c.AuthPass != "" {
		bad("VRRP version 3 has no authentication")
	}
	if len(c.AuthPass) > authDataLen {
		bad("password longer than %d bytes", authDataLen)
	}
	if c.Source.IsValid() && (c.Source.Is6() != (fam == 6)) {
		bad("source %v is not of the virtual addresses' family", c.Source)
	}
	for _, p := range c.Peers {
		if !p.IsValid() || p.Is6() != (fam == 6) || p.IsMulticast() {
			bad("unicast peer %v", p)
		}
	}
	if c.PreemptDelay < 0 {
		bad("negative preempt delay")
	}
	for i, t := range c.Track {
		if t.Interface == "" {
			bad("tracked interface without a name")
		}
		if t.Weight < -253 || t.Weight > 253 {
			bad("track_interface %s: weight %d (-253..253)", t.Interface, t.Weight)
		}
		for _, o := range c.Track[:i] {
			if o.Interface == t.Interface {
				bad("track_interface %s listed twice", t.Interface)
			}
		}
	}
	for i, t := range c.Scripts {
		if err := t.Script.validate(); err != nil {
			errs = append(errs, err)
		}
		if t.Weight < -253 || t.Weight > 253 {
			bad("track_script %s: weight %d (-253..253)", t.Script.Name, t.Weight)
		}
		for _, o := range c.Scripts[:i] {
			if o.Script.Name == t.Script.Name {
				bad("track_script %s listed twice", t.Script.Name)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vrrp instance %s: %w", c.Name, err)
	}
	return nil
}

// FromConfig makes a node's Config of a parsed vrrp_instance, whose
// track_script lines name scripts of the configuration's vrrp_scripts.
// Addresses whose dev names another interface are placed by the Owner:
// the node only hands over the prefixes.
func FromConfig(in *config.VRRPInstance, scripts []config.VRRPScript) (Config, error) {
	c := Config{
		Name: in.Name, Interface: in.Interface, VRID: in.VRID, Priority: in.Priority,
		AdvertInt: in.AdvertInt, Version: in.Version, Preempt: in.Preempt, PreemptDelay: in.PreemptDelay,
		AuthPass: in.AuthPass, Source: in.UnicastSrc, Peers: append([]netip.Addr(nil), in.UnicastPeers...),
		Notify: Notify{
			Master: in.NotifyMaster, Backup: in.NotifyBackup, Fault: in.NotifyFault,
			Stop: in.NotifyStop, Any: in.Notify,
		},
		V3ChecksumAsV2: in.V3ChecksumAsV2, DontTrackPrimary: in.DontTrackPrimary,
	}
	for _, t := range in.Track {
		c.Track = append(c.Track, Track{Interface: t.Interface, Weight: t.Weight, Reverse: t.Reverse})
	}
	for _, v := range in.VIPs {
		c.VIPs = append(c.VIPs, v.Prefix)
	}
	for _, t := range in.TrackScripts {
		i := slices.IndexFunc(scripts, func(s config.VRRPScript) bool { return s.Name == t.Script })
		if i < 0 {
			return Config{}, config.Pos{File: in.File, Line: t.Line}.Errorf("vrrp_instance %s: track_script %s: no vrrp_script %s", in.Name, t.Script, t.Script)
		}
		s := &scripts[i]
		c.Scripts = append(c.Scripts, TrackScript{Weight: t.Weight, Reverse: t.Reverse, Script: ScriptConfig{
			Name: s.Name, Command: s.Command, Interval: s.Interval, Timeout: s.Timeout,
			Rise: s.Rise, Fall: s.Fall, InitFail: s.InitFail, User: s.User, Group: s.Group,
		}})
	}
	if err := c.Validate(); err != nil {
		return Config{}, in.Pos().Errorf("%v", err)
	}
	return c, nil
}

// GroupFromConfig makes a NodeGroup's GroupConfig of a parsed
// vrrp_sync_group.
func GroupFromConfig(g *config.VRRPSyncGroup) GroupConfig {
	return GroupConfig{Name: g.Name, Notify: Notify{
		Master: g.NotifyMaster, Backup: g.NotifyBackup, Fault: g.NotifyFault, Stop: g.NotifyStop, Any: g.Notify,
	}}
}

package config

import (
	"net/netip"
	"time"
)

// VRRPInstance is a VRRP virtual router (keepalived's vrrp_instance):
// plain data, run by package vrrp.
type VRRPInstance struct {
	Line int
	File string // "" = Config.Path (see Service.File)
	// Name is the instance's name (notify scripts get it).
	Name string
	// StartMaster records "state MASTER". As in RFC 5798, only the
	// address owner (Priority 255) starts as master; any other instance
	// starts as backup and is elected.
	StartMaster bool
	// Interface is the interface adverts are sent and received on.
	Interface string
	// VRID is the virtual router id, 1..255.
	VRID uint8
	// Priority is 1..255 (default 100; 255 = the address owner).
	Priority uint8
	// AdvertInt is the advert interval (default 1 s; version 2 whole
	// seconds, version 3 centiseconds).
	AdvertInt time.Duration
	// Version is 2 or 3 (instance "version", else global_defs
	// vrrp_version, else 2; IPv6 instances are always 3).
	Version int
	// Preempt is false with nopreempt; PreemptDelay is preempt_delay.
	Preempt      bool
	PreemptDelay time.Duration
	// AuthPass is the version 2 password of auth_type PASS (at most 8
	// bytes); "" = no authentication.
	AuthPass string
	// VIPs are the virtual addresses (virtual_ipaddress), all of one
	// family.
	VIPs []VRRPAddress
	// UnicastSrc is the source of adverts (unicast_src_ip or
	// mcast_src_ip); invalid = the interface's first address (IPv6: its
	// link-local address).
	UnicastSrc netip.Addr
	// UnicastPeers, when set, receive the adverts instead of the
	// multicast group, and only their adverts are accepted.
	UnicastPeers []netip.Addr
	// Notify scripts, as POSIX shell command lines: run on entering
	// MASTER, BACKUP, FAULT and on stopping; Notify on every transition
	// with the arguments INSTANCE NAME STATE PRIORITY appended.
	NotifyMaster, NotifyBackup, NotifyFault, NotifyStop, Notify string
	// Track are the tracked interfaces (track_interface, and those of
	// the instance's vrrp_sync_group): with weight 0 the instance goes
	// to FAULT while one is down; with a weight its priority moves
	// instead. The instance's own Interface is tracked as well unless
	// DontTrackPrimary (dont_track_primary).
	Track            []VRRPTrack
	DontTrackPrimary bool
	// TrackScripts are the tracked scripts (track_script, and those of
	// the instance's vrrp_sync_group), each naming one of
	// Config.VRRPScripts.
	TrackScripts []VRRPTrackScript
	// Accept is keepalived's accept (no_accept clears it); Strict is
	// global_defs vrrp_strict or the instance's strict_mode.
	Accept, Strict bool
	// V3ChecksumAsV2 leaves the IPv4 pseudo-header out of version 3
	// checksums (keepalived v3_checksum_as_v2).
	V3ChecksumAsV2 bool
}

// VRRPAddress is one virtual address, with the keepalived options that
// place it.
type VRRPAddress struct {
	Line int
	// Prefix is the address with its prefix length (/32 or /128 when
	// none was written).
	Prefix netip.Prefix
	// Dev is the interface it goes on ("" = the instance's); Label its
	// label (IPv4 only).
	Dev, Label string
}

// Pos returns where the instance is defined.
func (v *VRRPInstance) Pos() Pos { return Pos{File: v.File, Line: v.Line} }

// VRRPTrack is a tracked interface (keepalived's track_interface line
// IFACE [weight W [reverse]]).
type VRRPTrack struct {
	Line      int
	Interface string
	// Weight is -253..253; 0: the instance goes to FAULT while the
	// interface is down. A positive weight is added to the priority
	// while the interface is up, a negative one while it is down;
	// Reverse swaps up and down.
	Weight  int
	Reverse bool
}

// VRRPScript is a script VRRP instances track (keepalived's vrrp_script):
// run every Interval, its exit status (0: success) moves the priority of
// the instances that track it, or puts them in FAULT.
type VRRPScript struct {
	Line int
	File string // "" = Config.Path
	Name string
	// Command is the script, a POSIX shell command line (run with sh -c).
	Command string
	// Interval is the time between runs (default 1 s); Timeout the time
	// after which a run is killed and counts as a failure (default:
	// Interval).
	Interval, Timeout time.Duration
	// Weight (-253..253, default 0) and Reverse are the defaults of the
	// track_script lines that name the script without a weight.
	Weight  int
	Reverse bool
	// Rise and Fall are the consecutive successes that make a failed
	// script good, and the failures that make a good one failed (default
	// 1 each).
	Rise, Fall int
	// InitFail: the script counts as failed until it succeeds
	// (init_fail); otherwise its first run decides.
	InitFail bool
	// User and Group run the script (user USER [GROUP]; the group
	// defaults to the user's); "" = the daemon's own.
	User, Group string
}

// Pos returns where the script is defined.
func (s *VRRPScript) Pos() Pos { return Pos{File: s.File, Line: s.Line} }

// VRRPTrackScript is a track_script line: NAME [weight W [reverse |
// noreverse]].
type VRRPTrackScript struct {
	Line int
	// Script is the Name of a VRRPScript.
	Script string
	// Weight is -253..253 (the script's Weight when the line gives
	// none). 0: the instance is in FAULT while the script is failed (while
	// it is good, with Reverse). A positive weight is added to the
	// priority while the script is good, a negative one while it is
	// failed; Reverse negates the adjustment.
	Weight  int
	Reverse bool
}

// VRRPSyncGroup is a sync group (keepalived's vrrp_sync_group): VRRP
// instances that change state together.
type VRRPSyncGroup struct {
	Line int
	File string // "" = Config.Path
	Name string
	// Instances are the members' names, each a VRRPInstance of the
	// configuration, in no other group.
	Instances []string
	// Notify scripts of the group, as POSIX shell command lines: run on
	// the group entering MASTER, BACKUP, FAULT and on stopping; Notify
	// on every change with the arguments GROUP NAME STATE 0 appended.
	NotifyMaster, NotifyBackup, NotifyFault, NotifyStop, Notify string
}

// Pos returns where the group is defined.
func (g *VRRPSyncGroup) Pos() Pos { return Pos{File: g.File, Line: g.Line} }

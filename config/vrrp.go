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

// Package vrrp is the Virtual Router Redundancy Protocol for gdirector's
// high availability: VRRP version 2 (RFC 3768, IPv4) and version 3 (RFC
// 5798, IPv4 and IPv6), compatible on the wire with keepalived's
// vrrp_instance, with keepalived's FAULT state, interface and script
// tracking (track_interface, vrrp_script) and sync groups.
//
// It has three layers, each usable alone:
//
//   - The wire codec (Advert, Decode, DecodeIPv4, Advert.Append,
//     AppendIPv4) and the receiver's checks against the local instance
//     (Expect.Check).
//   - Machine, the RFC state machine (Initialize, Backup, Master) and
//     keepalived's Fault as a pure type: no sockets, no goroutines, no
//     clock of its own. It is fed events with the time they happened
//     (Startup, Advert, Tick, Shutdown, SetPriority, SetFault) and reports
//     what to do through hooks (send an advert, a state transition).
//     Deadline says when it next needs a Tick. SyncGroup, pure too, keeps
//     the Machines of a keepalived vrrp_sync_group in one state; Tracked
//     turns the state of tracked interfaces into a priority and a fault
//     (a weight is added while the interface is up if positive, down if
//     negative; reverse negates it, as keepalived's weight multiplier).
//   - Node, one virtual router on one interface: raw IP sockets (protocol
//     112) bound to the device, multicast 224.0.0.18 / ff02::12 or unicast
//     peers, adverts every interval, the virtual addresses taken and given
//     back through an Owner the daemon supplies, gratuitous ARP or
//     unsolicited neighbour advertisements on takeover, keepalived's
//     notify scripts, the tracked interfaces' state (an rtnetlink
//     subscription) and the tracked scripts' (TrackScript: run every
//     interval with sh -c in a process group of their own, killed at
//     their timeout, rise/fall counted as keepalived counts them; one
//     runner per distinct script, shared by every node that tracks it; a
//     node starts once each script has ended its first run, as
//     keepalived's instance leaves INIT only then). NodeGroup runs the
//     nodes of a sync group in one event loop, so that its SyncGroup sees
//     every member's events in order.
//
// # Wire format and checksums
//
// Version 2 carries an 8-bit advertisement interval in seconds, an
// authentication type and 8 bytes of authentication data after the
// addresses; type 1 (simple text password, keepalived's auth_type PASS)
// is checked, type 2 (IP AH) is refused. Its checksum covers the VRRP
// message only.
//
// Version 3 carries a 12-bit interval in centiseconds and no
// authentication. RFC 5798 §5.2.8 puts a pseudo-header in its checksum
// (RFC 2460's for IPv6; for IPv4 the RFC 768 layout: source, destination,
// zero, protocol 112, length). keepalived computes it with the IPv4
// pseudo-header too, over the destination actually written in the IP
// header, so a unicast advert's checksum depends on the peer it is sent to
// (its unicast_chksum_compat knob, the old behaviour of always using
// 224.0.0.18, is not needed against keepalived 2.2.7 and is not offered).
// Cisco, FRR and RFC 9568 leave the IPv4 pseudo-header out, as keepalived
// does with v3_checksum_as_v2. The encoder takes the choice as
// Advert.NoPseudoHeader (false by default: keepalived's and RFC 5798's
// way); the decoder accepts either for IPv4 version 3 and records which one
// matched, so that Append(Decode(x)) gives x back byte for byte.
//
// keepalived's vrrp_strict (global) forbids authentication and unicast
// peers and, unless an instance has accept, drops traffic to the virtual
// addresses in a backup and a master that is not the address owner. Here
// the Owner decides what a node answers: a node in Backup never owns the
// addresses, and a master always accepts (as keepalived without
// vrrp_strict, or with accept); Config.Strict only applies the
// configuration restrictions.
//
// # Receiving
//
// Expect.Check applies the receiver's rules of RFC 3768 §7.1 and RFC 5798
// §7.1 as keepalived applies them: the IPv4 TTL or IPv6 hop limit must be
// 255 (for unicast peers keepalived, and so this package, does not check
// it, as a routed unicast advert has a lower one), the version and VRID
// must be the instance's, the count of addresses must equal the number of
// virtual addresses configured, a version 2 authentication type and
// password must match, and a version 2 advert interval must equal the
// local one (a mismatch is dropped, as two masters would otherwise share
// a VRID). A version 3 interval is learnt from the master (Master_Adver_Interval).
//
// # Sockets
//
// IPv4 adverts go out of a raw socket with IP_HDRINCL: the package writes
// the IPv4 header (TTL 255, TOS 0xc0) and reads the TTL back from the
// header of what it receives. IPv6 adverts go out of a raw socket of
// protocol 112 bound to the device and to the source address (the
// interface's link-local address unless a unicast source is configured,
// which must not be tentative: add it with nodad or wait for DAD), with
// IPV6_MULTICAST_HOPS and IPV6_UNICAST_HOPS 255; a multicast node joins
// ff02::12 on the device. The hop limit and the destination of what it
// receives come from IPV6_RECVHOPLIMIT and IPV6_RECVPKTINFO. keepalived
// lets the kernel compute and verify the IPv6 checksum (IPV6_CHECKSUM,
// offset 6); this package computes it itself over the RFC 2460
// pseudo-header (the socket is bound to the source, so the kernel sends
// from the address the checksum covers) and verifies it in Decode, so a
// bad checksum is counted as a drop rather than discarded unseen. Both
// interoperate on the wire (e2e TestGdvrrpKeepalived). keepalived sends
// IPv6 unicast adverts with the default hop limit (64), which is why
// unicast peers skip the hop-limit check.
//
// On becoming master a node announces every virtual address: a
// gratuitous ARP request (sender and target address the VIP, from the
// interface's MAC, to the broadcast address) through a packet socket, or
// an unsolicited neighbour advertisement to ff02::1 with hop limit 255,
// the override and router flags (RFC 5798 §6.4.1) and a target
// link-layer address option through an ICMPv6 socket, Options.Announce
// times.
//
// # Timers
//
// Skew_Time is (256-Priority)/256 seconds in version 2 and
// ((256-Priority)*Master_Adver_Interval)/256 centiseconds in version 3;
// Master_Down_Interval is 3*interval + Skew_Time. A master that shuts down
// sends an advert of priority 0, on which a backup takes over after
// Skew_Time only. Priority 255 is the address owner, which starts as
// master. On equal priorities the higher primary address (the advert's IP
// source) wins.
//
// # FAULT and sync groups
//
// keepalived adds a FAULT state to the RFC's: an instance whose own
// interface, or an interface it tracks with weight 0, is down (not
// IFF_UP and IFF_RUNNING) goes to Fault from any state; a master first
// sends priority 0 and gives its addresses back. In Fault nothing is sent,
// adverts are ignored and no timer runs. When the fault clears the
// instance goes to Backup with Master_Down_Interval on its own interval,
// and the election goes on from there (even an address owner). A tracked
// interface with a weight moves the priority instead (Tracked): a
// backup's master-down timer moves with its Skew_Time, as keepalived's.
//
// A sync group (keepalived's vrrp_sync_group, its vrrp_sync.c) holds its
// members together: a member in Fault takes all to Fault, and they stay
// there until no member has a fault of its own; a backup whose timer
// expires becomes master only once every other member's timer has
// expired too (else it waits another Master_Down_Interval, ready), and
// then all do at once; a master that steps down takes the others to
// Backup without priority 0. The group's own state, and its notify
// scripts (GROUP NAME STATE 0), follow.
package vrrp

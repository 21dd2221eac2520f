// Package forward holds what the forwarding methods share: the reasons a
// packet can be dropped (every drop in the data plane is counted under one
// of them) and the direction of a packet relative to its connection.
//
// Each method lives in its own sub-package (forward/nat today; dr, tun and
// fullnat follow) and edits a decoded frame in place at layer 3 and 4. The
// layer-2 rewrite (next-hop MAC, egress interface) is common to all methods
// and is done by the data plane after a route lookup on the packet's new
// next hop, as the kernel's output path would.
package forward

// Reason is why a packet was not forwarded; Pass (zero) means it was.
type Reason uint8

// Drop reasons.
const (
	Pass          Reason = iota
	DropDecode           // malformed frame (header.Decode refused it)
	DropNoService        // addressed to a VIP but no service matches
	DropNoDest           // the scheduler found no usable dest
	DropNotSyn           // TCP packet without connection that is not a SYN
	DropTableFull        // connection table at capacity
	DropTTL              // TTL/hop limit expired on the forwarding path
	DropMTU              // larger than the egress MTU
	DropFragment         // IP fragment (reassembly not supported yet)
	DropNoRoute          // no route to the next hop
	DropNeighbour        // next hop unresolved and its queue full, or resolution failed
	DropTx               // the device refused the frame
	DropMethod           // forwarding method not available on this input
	DropChecksum         // transport checksum wrong where it must be checked
	DropICMP             // ICMP error to a VIP that concerns no tracked connection

	// FullNAT (forward/fullnat).
	DropNoLAddr        // the service has no usable local address
	DropPortsExhausted // no free local port: every probed tuple in use

	// DropNodestConn: a client packet of a connection whose real server
	// has been removed (ipvsadm -d): IPVS drops it silently, or with the
	// expire_nodest_conn sysctl expires the connection and schedules the
	// packet afresh.
	DropNodestConn
	// DropStandby: a packet that would open a connection to a virtual
	// address this director holds as a VRRP backup (datapath
	// SetStandby): the master schedules it.
	DropStandby
	NumReasons
)

var reasonNames = [...]string{
	Pass: "pass", DropDecode: "decode", DropNoService: "no_service", DropNoDest: "no_dest",
	DropNotSyn: "not_syn", DropTableFull: "table_full", DropTTL: "ttl", DropMTU: "mtu",
	DropFragment: "fragment", DropNoRoute: "no_route", DropNeighbour: "neighbour",
	DropTx: "tx", DropMethod: "method", DropChecksum: "checksum", DropICMP: "icmp_unrelated",
	DropNoLAddr: "no_laddr", DropPortsExhausted: "ports_exhausted", DropNodestConn: "nodest_conn",
	DropStandby: "standby",
}

// String returns the counter name of the reason.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Dir is the direction of a packet relative to its connection.
type Dir uint8

// Directions.
const (
	In  Dir = iota // client to real server (through the VIP)
	Out            // real server back to the client
)

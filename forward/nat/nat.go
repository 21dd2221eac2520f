// Package nat implements IPVS masquerading (ipvsadm -m): the destination of
// a client's packet is rewritten from VIP:port to the real server's
// RIP:rport, and the source of the real server's reply is rewritten back
// from RIP:rport to VIP:port, so the client only ever sees the VIP.
//
// As in the kernel, the request direction is delivered to the director
// "locally" (IPVS runs at LOCAL_IN) and leaves without a TTL decrement,
// while replies cross the director's forwarding path and have their TTL
// decremented, being dropped when it would reach zero. Checksums are
// updated incrementally; nothing is allocated.
package nat

import (
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
)

// In rewrites a client→VIP packet in b (decoded in p) to reach daddr:dport.
func In(b []byte, p *header.Parsed, daddr [16]byte, dport uint16) forward.Reason {
	if p.Frag == header.FragLater {
		return forward.DropFragment
	}
	header.RewriteAddrPort(b, p, false, daddr, dport)
	return forward.Pass
}

// Out rewrites a real server's reply in b so that it comes from vaddr:vport.
func Out(b []byte, p *header.Parsed, vaddr [16]byte, vport uint16) forward.Reason {
	if p.Frag == header.FragLater {
		return forward.DropFragment
	}
	if p.TTL <= 1 {
		return forward.DropTTL
	}
	if p.IPv6 {
		b[p.L3+7]--
	} else {
		header.IPv4(b[p.L3:]).DecTTL()
	}
	p.TTL--
	header.RewriteAddrPort(b, p, true, vaddr, vport)
	return forward.Pass
}

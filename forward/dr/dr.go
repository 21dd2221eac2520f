// Package dr implements IPVS direct routing (ipvsadm -g, the default
// method): the packet is delivered to the real server unchanged at layer 3
// and 4 — still addressed to the VIP — only its Ethernet destination
// becomes the real server's MAC. The real server owns the VIP on a
// non-ARPing interface (see gdirector realserver dr) and replies straight
// to the client, so the director sees one direction only and tracks the
// connection with IPVS's input-only TCP transitions.
//
// The real server must be on a segment the director reaches directly: as
// in the kernel, the real server itself is the next hop. The request
// crosses the director at LOCAL_IN in the kernel, so the TTL is not
// decremented.
package dr

import (
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
)

// In checks a client→VIP packet for direct routing. Nothing at layer 3 or
// 4 changes; fragments after the first cannot be matched to a connection
// and are refused, as for the other methods.
func In(p *header.Parsed) forward.Reason {
	if p.Frag == header.FragLater {
		return forward.DropFragment
	}
	return forward.Pass
}

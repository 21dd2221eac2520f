package fullnat

import (
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
)

// In rewrites a client→VIP packet in b (decoded in p) to go from the local
// address laddr:lport to the real server daddr:dport: both ends change,
// checksums are updated incrementally and p follows. As for NAT, the TTL
// is left alone (IPVS handles this direction at LOCAL_IN). Later fragments
// are dropped (they carry no ports); an address of the other family than
// the packet's is refused before anything is written.
func In(b []byte, p *header.Parsed, laddr [16]byte, lport uint16, daddr [16]byte, dport uint16) forward.Reason {
	if p.Frag == header.FragLater {
		return forward.DropFragment
	}
	if header.Is4(&laddr) == p.IPv6 {
		return forward.DropNoLAddr
	}
	if header.Is4(&daddr) == p.IPv6 {
		return forward.DropMethod
	}
	header.RewriteAddrPort(b, p, true, laddr, lport)
	header.RewriteAddrPort(b, p, false, daddr, dport)
	return forward.Pass
}

// Out rewrites a real server's reply in b (RIP:rport → LADDR:LPORT) to go
// from the virtual service vaddr:vport back to the client caddr:cport. The
// reply crosses the director's forwarding path: its TTL or hop limit is
// decremented, and it is dropped (unmodified) when that would reach zero.
func Out(b []byte, p *header.Parsed, vaddr [16]byte, vport uint16, caddr [16]byte, cport uint16) forward.Reason {
	if p.Frag == header.FragLater {
		return forward.DropFragment
	}
	if header.Is4(&vaddr) == p.IPv6 || header.Is4(&caddr) == p.IPv6 {
		return forward.DropMethod
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
	header.RewriteAddrPort(b, p, false, caddr, cport)
	return forward.Pass
}

package ipvssync

import (
	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/vs"
)

// ftpPort: persistence templates of an FTP service carry port 0 (see
// datapath's templateKey); a backup looks the service up on port 21.
const ftpPort = 21

// FromConn fills w with what a master sends of c: its key, real server,
// forwarding method, NoOutput/Inactive/Template flags, TCP state, the
// timeout its expiry is reckoned from (rounded up to whole seconds), the
// firewall mark of its service, and for FullNAT the local address and
// port (gdirector's optional parameter).
func FromConn(c *conntrack.Conn, w *Conn) {
	*w = Conn{
		IPv6: c.IPv6, Protocol: uint8(c.Proto),
		CPort: c.CPort, VPort: c.VPort, DPort: c.DPort,
		CAddr: c.CAddr, VAddr: c.VAddr, DAddr: c.DAddr,
	}
	switch c.Fwd {
	case vs.Masq:
		w.Flags = FlagMasq
	case vs.Local:
		w.Flags = FlagLocal
	case vs.Tunnel:
		w.Flags = FlagTunnel
	case vs.DirectRoute:
		w.Flags = FlagDRoute
	case vs.FullNAT:
		w.Flags = FlagFullNAT
		w.HasLocal, w.LAddr, w.LPort = true, c.LAddr, c.LPort
	}
	f := c.Flags()
	if f&conntrack.FlagTemplate != 0 {
		w.Flags |= FlagTemplate
	} else {
		w.State = uint16(c.State())
		if f&conntrack.FlagInactive != 0 {
			w.Flags |= FlagInactive
		}
		if f&conntrack.FlagNoOutput != 0 {
			w.Flags |= FlagNoOutput
		}
	}
	if c.Svc != nil {
		w.FwMark = c.Svc.FwMark
	}
	w.Timeout = uint32((c.Timeout() + 1e9 - 1) / 1e9)
}

// fwdOf maps a record's forwarding code to a method (ok false: unknown).
func fwdOf(flags uint32) (vs.FwdMethod, bool) {
	switch flags & FlagFwdMask {
	case FlagMasq:
		return vs.Masq, true
	case FlagLocal:
		return vs.Local, true
	case FlagTunnel:
		return vs.Tunnel, true
	case FlagDRoute:
		return vs.DirectRoute, true
	case FlagFullNAT:
		return vs.FullNAT, true
	}
	return 0, false
}

// findDest is the kernel's ip_vs_find_dest: the service of the record (by
// firewall mark, else protocol, VIP and port, else the port-zero service,
// and port 21 for an FTP template's port 0), then its real server with the
// record's address and port, else the only one with that address whatever
// its port (firewall-mark and port-zero services keep the client's port).
func findDest(t *vs.Table, w *Conn) (*vs.Service, *vs.Dest) {
	proto := vs.Proto(w.Protocol)
	svc := t.Lookup(w.FwMark, w.IPv6, proto, w.VAddr, w.VPort)
	if svc == nil && w.Flags&FlagTemplate != 0 && w.VPort == 0 {
		svc = t.Lookup(0, w.IPv6, proto, w.VAddr, ftpPort)
	}
	if svc == nil {
		return nil, nil
	}
	var byAddr *vs.Dest
	for _, d := range svc.Dests {
		if d.Addr16 != w.DAddr {
			continue
		}
		if d.Port == w.DPort {
			return svc, d
		}
		if byAddr == nil {
			byAddr = d
		}
	}
	return svc, byAddr
}

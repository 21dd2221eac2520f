package datapath

import (
	"encoding/binary"
	"errors"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/vs"
)

// ftpPort is the one service port IPVS persistence treats apart: its
// templates leave the port out, so that FTP's data connections (on other
// ports) follow the control connection.
const ftpPort = 21

// persistNet masks a client address to the service's persistence
// granularity (-M): an IPv4 netmask (host order) or an IPv6 prefix length.
// Addresses are in key form (IPv4-mapped for IPv4).
func persistNet(a [16]byte, ipv6 bool, mask uint32) [16]byte {
	if !ipv6 {
		v := binary.BigEndian.Uint32(a[12:]) & mask
		binary.BigEndian.PutUint32(a[12:], v)
		return a
	}
	bits := int(mask)
	if bits >= 128 {
		return a
	}
	for i := range a {
		switch {
		case bits >= 8:
			bits -= 8
		case bits > 0:
			a[i] &= byte(0xff << (8 - bits))
			bits = 0
		default:
			a[i] = 0
		}
	}
	return a
}

// markAddr is a firewall mark in the address slot of a template key, as
// the kernel puts it there (the mark, big-endian, in the first four bytes
// of the address; for IPv4 in key form, the address 0.0.0.mark).
func markAddr(mark uint32, ipv6 bool) [16]byte {
	var a [16]byte
	if ipv6 {
		binary.BigEndian.PutUint32(a[:4], mark)
		return a
	}
	a[10], a[11] = 0xff, 0xff
	binary.BigEndian.PutUint32(a[12:], mark)
	return a
}

// templateKey returns the key of the persistence template a packet of
// flow fl to svc belongs to (ip_vs_sched_persist):
//
//   - a packet to the service's own port: <proto, client net, 0, VIP, port>,
//     or with port 0 when the service is FTP (port 21);
//   - a packet to a firewall-mark service: <IP (0), client net, 0, mark, 0>;
//   - a packet to a port-zero (all ports) service: <proto, client net, 0,
//     VIP, 0>.
func templateKey(svc *vs.Service, fl *vs.Flow) conntrack.Key {
	k := conntrack.Key{Proto: fl.Proto, IPv6: fl.IPv6, Template: true, Src: persistNet(fl.Src, fl.IPv6, svc.Netmask), Dst: fl.Dst}
	switch {
	case fl.DPort == svc.Port:
		if svc.Port != ftpPort {
			k.DPort = fl.DPort
		}
	case svc.FwMark != 0:
		k.Proto = 0
		k.Dst = markAddr(svc.FwMark, fl.IPv6)
	}
	return k
}

// templateValid is ip_vs_check_template: a template whose dest has left
// the service is no longer used. A quiesced dest (weight 0) keeps its
// templates, as with the kernel's default expire_quiescent_template=0.
func templateValid(ct *conntrack.Conn) bool {
	return ct.Dest != nil && ct.Dest.Available()
}

// schedPersist picks the dest of a new connection to a persistent service:
// the dest of the client's live template if there is one (restarting the
// template's timeout), else the scheduler's choice, recorded in a new
// template that lives the service's persistence timeout (-p) after its
// last use and as long as connections it controls live.
func (w *Worker) schedPersist(svc *vs.Service, fl *vs.Flow) (*vs.Dest, *conntrack.Conn, forward.Reason) {
	k := templateKey(svc, fl)
	conns := w.d.conns
	if ct := conns.LookupTemplate(&k); ct != nil {
		if templateValid(ct) {
			ct.Touch(w.now)
			if w.t.tr != nil {
				w.traceTemplate(ct, false)
			}
			return ct.Dest, ct, forward.Pass
		}
		conns.Delete(ct) // its dest is gone: schedule afresh
	}
	dest := w.schedule(svc, fl)
	if dest == nil {
		return nil, nil, forward.DropNoDest
	}
	dport := uint16(0)
	if fl.DPort == svc.Port && svc.Port != ftpPort {
		dport = dest.Port
	}
	ct, err := conns.New(w.now, &conntrack.Params{
		Proto: k.Proto, IPv6: k.IPv6,
		CAddr: k.Src, VAddr: k.Dst, VPort: k.DPort,
		DAddr: dest.Addr16, DPort: dport,
		Fwd: dest.FwdMethod(), Dest: dest, Svc: svc,
		Flags: conntrack.FlagTemplate, Timeout: int64(svc.Timeout) * 1e9,
	})
	switch {
	case err == nil:
		if w.t.tr != nil {
			w.traceTemplate(ct, true)
		}
		return dest, ct, forward.Pass
	case errors.Is(err, conntrack.ErrTableFull):
		return nil, nil, forward.DropTableFull
	}
	// Another worker created the template first: follow it.
	if ct = conns.LookupTemplate(&k); ct != nil && templateValid(ct) {
		if w.t.tr != nil {
			w.traceTemplate(ct, false)
		}
		return ct.Dest, ct, forward.Pass
	}
	return nil, nil, forward.DropTableFull
}

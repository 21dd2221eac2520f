package ipvssync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/vs"
)

// ReceiverConfig configures a backup.
type ReceiverConfig struct {
	// SyncID filters messages: only those with this syncid are applied;
	// 0 accepts every syncid, as the kernel does.
	SyncID uint8
	// Peers are the sources a message is accepted from (required; see
	// the package doc). An address outside every prefix is refused and
	// counted as bad source.
	Peers []netip.Prefix
	// Key, if set, requires the authenticated trailer (see auth.go).
	Key []byte

	Table *atomic.Pointer[vs.Table] // the current configuration
	Conns *conntrack.Table
	Clock clock.Clock
	// Now is the wall clock for the authentication window; nil: time.Now.
	Now  func() time.Time
	Logf func(format string, args ...any)
}

// RecvStats are a receiver's counters.
type RecvStats struct {
	Messages  uint64 // datagrams accepted and decoded
	Installed uint64 // connections and templates created
	Updated   uint64 // existing entries whose state/expiry was refreshed
	Replaced  uint64 // entries recreated for another real server

	BadSource     uint64 // datagrams from a source not in Peers
	BadSyncID     uint64 // datagrams of another syncid
	Malformed     uint64 // datagrams that do not decode
	BadAuth       uint64 // missing or wrong HMAC trailer, or stale timestamp
	BadRecord     uint64 // records skipped: unknown mandatory parameter, protocol or state
	UnknownSvc    uint64 // records whose service is not configured here
	UnknownDest   uint64 // records whose real server is not in the service
	Stale         uint64 // inactive records for a connection already moved (ignored)
	InstallFailed uint64 // table full or lost a race
}

// Receiver applies sync messages to a connection table.
type Receiver struct {
	cfg  ReceiverConfig
	auth *signer
	msg  Message // decoding scratch (one goroutine)

	messages, installed, updated, replaced              atomic.Uint64
	badSource, badSyncID, malformed, badAuth, badRecord atomic.Uint64
	unknownSvc, unknownDest, stale, installFailed       atomic.Uint64
}

// ErrNoPeers is returned when a receiver has no allow-list.
var ErrNoPeers = errors.New("ipvssync: a backup needs the addresses it accepts sync messages from")

// NewReceiver checks cfg and returns a Receiver.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if len(cfg.Peers) == 0 {
		return nil, ErrNoPeers
	}
	if cfg.Table == nil || cfg.Conns == nil || cfg.Clock == nil {
		return nil, errors.New("ipvssync: receiver needs a table, a connection table and a clock")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Receiver{cfg: cfg, auth: newSigner(cfg.Key)}, nil
}

// Stats returns the receiver's counters.
func (r *Receiver) Stats() RecvStats {
	return RecvStats{
		Messages: r.messages.Load(), Installed: r.installed.Load(), Updated: r.updated.Load(),
		Replaced: r.replaced.Load(), BadSource: r.badSource.Load(), BadSyncID: r.badSyncID.Load(),
		Malformed: r.malformed.Load(), BadAuth: r.badAuth.Load(), BadRecord: r.badRecord.Load(),
		UnknownSvc: r.unknownSvc.Load(), UnknownDest: r.unknownDest.Load(), Stale: r.stale.Load(),
		InstallFailed: r.installFailed.Load(),
	}
}

// allowed reports whether src is a configured peer.
func (r *Receiver) allowed(src netip.Addr) bool {
	src = src.Unmap()
	for _, p := range r.cfg.Peers {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// Handle applies one datagram received from src. It returns the reason a
// datagram was refused (nil when applied; records skipped inside an
// applied datagram are only counted). Only one goroutine may call it.
func (r *Receiver) Handle(src netip.Addr, d []byte) error {
	if !r.allowed(src) {
		r.badSource.Add(1)
		return fmt.Errorf("ipvssync: sync message from %v, not a peer", src)
	}
	if r.auth != nil {
		m, err := r.auth.verify(d, r.cfg.Now())
		if err != nil {
			r.badAuth.Add(1)
			return err
		}
		d = m
	}
	if len(d) >= 2 && r.cfg.SyncID != 0 && d[1] != r.cfg.SyncID {
		r.badSyncID.Add(1)
		return fmt.Errorf("ipvssync: syncid %d, want %d", d[1], r.cfg.SyncID)
	}
	m := &r.msg
	if err := Decode(d, m); err != nil {
		r.malformed.Add(1)
		return err
	}
	r.messages.Add(1)
	t := r.cfg.Table.Load()
	now := r.cfg.Clock.Now()
	for i := range m.Conns {
		r.apply(t, now, &m.Conns[i])
	}
	return nil
}

// apply installs or updates one record, as ip_vs_proc_sync_conn and
// ip_vs_proc_conn do, counting what happened.
func (r *Receiver) apply(t *vs.Table, now int64, w *Conn) {
	tpl := w.Flags&FlagTemplate != 0
	if w.BadParam != 0 {
		r.badRecord.Add(1)
		return
	}
	proto := vs.Proto(w.Protocol)
	if !tpl {
		switch proto {
		case vs.TCP:
			if w.State >= uint16(conntrack.StateSynAck)+1 {
				r.badRecord.Add(1)
				return
			}
		case vs.UDP:
			if w.State != 0 {
				r.badRecord.Add(1)
				return
			}
		case vs.SCTP:
		default:
			r.badRecord.Add(1)
			return
		}
	}
	if _, ok := fwdOf(w.Flags); !ok {
		r.badRecord.Add(1)
		return
	}
	svc, dest := findDest(t, w)
	switch {
	case svc == nil:
		r.unknownSvc.Add(1)
		return
	case dest == nil:
		r.unknownDest.Add(1)
		return
	}
	// Like ip_vs_bind_dest for a synced connection, the method (and so
	// NoOutput) is the local real server's.
	fwd := dest.FwdMethod()
	var la *vs.LocalAddr
	if fwd == vs.FullNAT {
		if !w.HasLocal {
			r.badRecord.Add(1)
			return
		}
		for _, l := range svc.LAddrs {
			if l.Addr16 == w.LAddr {
				la = l
			}
		}
		if la == nil {
			r.unknownDest.Add(1)
			return
		}
	}
	timeout := int64(w.Timeout) * 1e9
	inactive := w.Flags&FlagInactive != 0
	noOutput := fwd != vs.Masq && fwd != vs.FullNAT
	st := conntrack.State(w.State)
	if proto != vs.TCP {
		st = conntrack.StateNone
	}

	key := conntrack.Key{Proto: proto, IPv6: w.IPv6, Src: w.CAddr, Dst: w.VAddr, SPort: w.CPort, DPort: w.VPort}
	var old *conntrack.Conn
	if tpl {
		old = r.cfg.Conns.LookupTemplate(&key)
	} else {
		old = r.cfg.Conns.LookupIn(&key)
	}
	if old != nil {
		if old.DAddr == w.DAddr && old.DPort == w.DPort {
			old.SetSynced(now, st, inactive, noOutput, timeout)
			r.updated.Add(1)
			return
		}
		if !tpl && inactive {
			// The expiry notice of a connection already replaced.
			r.stale.Add(1)
			return
		}
		r.cfg.Conns.Delete(old)
		r.replaced.Add(1)
	}
	p := conntrack.Params{
		Proto: proto, IPv6: w.IPv6,
		CAddr: w.CAddr, CPort: w.CPort, VAddr: w.VAddr, VPort: w.VPort,
		DAddr: w.DAddr, DPort: w.DPort, LAddr: w.LAddr, LPort: w.LPort,
		Fwd: fwd, Dest: dest, Svc: svc, Flags: conntrack.FlagSynced,
	}
	if tpl {
		p.Flags |= conntrack.FlagTemplate
		p.Timeout = timeout
		if p.Timeout <= 0 {
			p.Timeout = 180e9 // version 0: the kernel's 3 minutes
		}
	}
	c, err := r.cfg.Conns.New(now, &p)
	if err != nil {
		r.installFailed.Add(1)
		return
	}
	if !tpl {
		c.SetSynced(now, st, inactive, noOutput, timeout)
	}
	if la != nil {
		la.Conns.Add(1) // datapath.ConnRemoved takes it back
	}
	r.installed.Add(1)
}

// Listen opens the backup's socket: with a multicast group, bound to the
// group and port, joined on the interface ifname; otherwise bound to the
// unicast address listen.
func Listen(group netip.AddrPort, ifname string, listen netip.AddrPort) (*net.UDPConn, error) {
	if group.IsValid() {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return nil, fmt.Errorf("ipvssync: %w", err)
		}
		return net.ListenMulticastUDP("udp4", ifi, net.UDPAddrFromAddrPort(group))
	}
	return net.ListenUDP("udp", net.UDPAddrFromAddrPort(listen))
}

// InterfacePeers returns the subnets of an interface's IPv4 addresses: the
// default allow-list of a multicast backup.
func InterfacePeers(ifname string) ([]netip.Prefix, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if p, err := netip.ParsePrefix(n.String()); err == nil && p.Addr().Is4() {
				out = append(out, p.Masked())
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ipvssync: %s has no IPv4 address to accept peers from", ifname)
	}
	return out, nil
}

// Run reads datagrams from conn and applies them until ctx ends (it then
// closes conn). Refused datagrams are logged at most once a second.
func (r *Receiver) Run(ctx context.Context, conn *net.UDPConn) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, 1<<16)
	var logged time.Time
	for {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if herr := r.Handle(src.Addr(), buf[:n]); herr != nil && time.Since(logged) > time.Second {
			logged = time.Now()
			r.cfg.Logf("ipvssync: backup: %v", herr)
		}
	}
}

func interfaceMTU(ifname string) (int, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("ipvssync: %w", err)
	}
	return ifi.MTU, nil
}

package ipvssync

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/vs"
)

// Daemon states, as ipvsadm names them.
const (
	Master = "master"
	Backup = "backup"
)

// DaemonConfig is one sync daemon, as ipvsadm --start-daemon and
// keepalived's lvs_sync_daemon describe it, plus gdirector's unicast and
// security settings.
type DaemonConfig struct {
	State     string // Master or Backup
	Interface string // --mcast-interface
	SyncID    uint8  // --syncid (0: a backup accepts every syncid)
	MaxLen    int    // --sync-maxlen; 0: the interface's MTU less 28
	Group     netip.Addr
	Port      uint16 // 0: DefaultPort
	TTL       uint8  // 0: 1

	// Peers switches to unicast: a master sends to each peer at Port, a
	// backup listens on Port and accepts only the peers (unless Allow
	// says otherwise).
	Peers []netip.Addr
	// Allow is a backup's allow-list of sources; empty: the peers in
	// unicast mode, the subnets of Interface in multicast mode.
	Allow []netip.Prefix
	// Key enables the authenticated mode (gdirector peers only).
	Key []byte
}

// WithDefaults returns c with the kernel's defaults filled in (group,
// port, TTL, and MaxLen from the MTU given), as ipvsadm -L --daemon shows.
func (c DaemonConfig) WithDefaults(mtu int) DaemonConfig {
	if !c.Group.IsValid() {
		c.Group = netip.MustParseAddr(DefaultGroup)
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.TTL == 0 {
		c.TTL = 1
	}
	if c.MaxLen == 0 {
		if mtu < 1500 && c.State == Backup || mtu <= 0 {
			mtu = 1500
		}
		c.MaxLen = min(mtu, 65535) - 28
	}
	return c
}

// Errors of StartDaemon and StopDaemon, worded as libipvs words the
// kernel's answers.
var (
	ErrRunning    = errors.New("Daemon has already run")
	ErrNotRunning = errors.New("No daemon is running")
)

// Daemons runs at most one master and one backup over a connection table,
// started and stopped at run time (ipvsadm --start-daemon/--stop-daemon).
// It is what the ipvsadm package's Env.Sync expects.
type Daemons struct {
	Table *atomic.Pointer[vs.Table]
	Conns *conntrack.Table
	Clock clock.Clock
	Logf  func(format string, args ...any)
	// MTU returns an interface's MTU (nil: net.InterfaceByName).
	MTU func(ifname string) (int, error)

	mu      sync.Mutex
	running map[string]*daemon
}

type daemon struct {
	cfg    DaemonConfig
	cancel context.CancelFunc
	done   chan struct{}
	snd    *Sender
	rcv    *Receiver
	closer func() error
}

// StartDaemon starts a master or a backup.
func (d *Daemons) StartDaemon(c DaemonConfig) error {
	if c.State != Master && c.State != Backup {
		return fmt.Errorf("ipvssync: unknown daemon state %q", c.State)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running == nil {
		d.running = map[string]*daemon{}
	}
	if d.running[c.State] != nil {
		return ErrRunning
	}
	logf := d.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	mtu := 1500
	if c.Interface != "" {
		m, err := d.mtu(c.Interface)
		if err != nil {
			return err
		}
		mtu = m
	}
	c = c.WithDefaults(mtu)
	ctx, cancel := context.WithCancel(context.Background())
	dm := &daemon{cfg: c, cancel: cancel, done: make(chan struct{})}
	var run func()
	switch c.State {
	case Master:
		var tr *Transport
		var err error
		if len(c.Peers) > 0 {
			var dsts []netip.AddrPort
			for _, p := range c.Peers {
				dsts = append(dsts, netip.AddrPortFrom(p, c.Port))
			}
			tr, err = DialUnicast(netip.AddrPort{}, dsts)
		} else {
			tr, err = DialMulticast(c.Interface, netip.AddrPortFrom(c.Group, c.Port), int(c.TTL))
		}
		if err != nil {
			cancel()
			return err
		}
		q := NewQueue(0, 0)
		s, err := NewSender(SenderConfig{SyncID: c.SyncID, MaxLen: c.MaxLen, Key: c.Key, Queue: q,
			Conns: d.Conns, Send: tr.Send, Logf: logf})
		if err != nil {
			tr.Close()
			cancel()
			return err
		}
		dm.snd, dm.closer = s, tr.Close
		d.Conns.SetSyncer(q)
		run = func() { _ = s.Run(ctx) }
	case Backup:
		allow := c.Allow
		if len(allow) == 0 {
			for _, p := range c.Peers {
				allow = append(allow, netip.PrefixFrom(p.Unmap(), p.Unmap().BitLen()))
			}
		}
		if len(allow) == 0 {
			var err error
			if allow, err = InterfacePeers(c.Interface); err != nil {
				cancel()
				return err
			}
		}
		r, err := NewReceiver(ReceiverConfig{SyncID: c.SyncID, Peers: allow, Key: c.Key,
			Table: d.Table, Conns: d.Conns, Clock: d.Clock, Logf: logf})
		if err != nil {
			cancel()
			return err
		}
		var group, listen netip.AddrPort
		if len(c.Peers) > 0 {
			listen = netip.AddrPortFrom(netip.IPv6Unspecified(), c.Port)
		} else {
			group = netip.AddrPortFrom(c.Group, c.Port)
		}
		conn, err := Listen(group, c.Interface, listen)
		if err != nil {
			cancel()
			return err
		}
		dm.rcv, dm.closer = r, conn.Close
		run = func() {
			if err := r.Run(ctx, conn); err != nil {
				logf("ipvssync: backup stopped: %v", err)
			}
		}
	}
	d.running[c.State] = dm
	go func() {
		defer close(dm.done)
		run()
	}()
	logf("ipvssync: %s sync daemon started (mcast=%s, syncid=%d)", c.State, c.Interface, c.SyncID)
	return nil
}

func (d *Daemons) mtu(ifname string) (int, error) {
	if d.MTU != nil {
		return d.MTU(ifname)
	}
	return interfaceMTU(ifname)
}

// StopDaemon stops the master or the backup; a master sends what it has
// pending first.
func (d *Daemons) StopDaemon(state string) error {
	d.mu.Lock()
	dm := d.running[state]
	delete(d.running, state)
	d.mu.Unlock()
	if dm == nil {
		return ErrNotRunning
	}
	if dm.snd != nil {
		d.Conns.SetSyncer(nil)
	}
	dm.cancel()
	<-dm.done
	if dm.closer != nil {
		_ = dm.closer()
	}
	return nil
}

// Close stops every daemon.
func (d *Daemons) Close() {
	for _, s := range []string{Master, Backup} {
		_ = d.StopDaemon(s)
	}
}

// Daemons returns the running daemons, master first, with their defaults
// filled in.
func (d *Daemons) Daemons() []DaemonConfig {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []DaemonConfig
	for _, s := range []string{Master, Backup} {
		if dm := d.running[s]; dm != nil {
			out = append(out, dm.cfg)
		}
	}
	return out
}

// Stats returns the master's and the backup's counters (zero for one not
// running).
func (d *Daemons) Stats() (SendStats, RecvStats) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var s SendStats
	var r RecvStats
	if dm := d.running[Master]; dm != nil {
		s = dm.snd.Stats()
	}
	if dm := d.running[Backup]; dm != nil {
		r = dm.rcv.Stats()
	}
	return s, r
}

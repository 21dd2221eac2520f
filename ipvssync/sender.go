package ipvssync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/gdirector/gdirector/conntrack"
)

// Sender defaults.
const (
	// DefaultMaxLen is the message size of a master on a 1500-byte link:
	// the MTU less the IPv4 and UDP headers, as the kernel computes it.
	DefaultMaxLen = 1500 - 20 - 8
	// DefaultFlushDelay bounds how long a record waits in a message that
	// is not full (the kernel waits up to 2 s; see the package doc).
	DefaultFlushDelay = time.Second
	// DefaultPoll is how often the queue is drained.
	DefaultPoll = 20 * time.Millisecond
	// DefaultRefresh is the period of the refresh walk over the table.
	DefaultRefresh = 60 * time.Second
	minMaxLen      = headerLen + recLenV6 + 64 // room for one IPv6 record with options
)

// SenderConfig configures a master.
type SenderConfig struct {
	SyncID uint8
	// MaxLen is the largest datagram sent (the kernel's sync_maxlen);
	// 0 is DefaultMaxLen. With Key the trailer is part of it.
	MaxLen int
	// Key, if set, appends the authenticated trailer (see auth.go).
	Key []byte
	// FlushDelay, Poll and Refresh default to the Default* values;
	// Refresh < 0 disables the refresh walk.
	FlushDelay, Poll, Refresh time.Duration

	// Queue is where the data plane's hook puts connections (install it
	// with conntrack.Table.SetSyncer).
	Queue *Queue
	// Conns is walked by the refresh (nil: no refresh).
	Conns *conntrack.Table
	// Send transmits one datagram (see Transport).
	Send func([]byte) error
	Now  func() time.Time // wall clock for the trailer; nil: time.Now
	Logf func(format string, args ...any)
}

// SendStats are a sender's counters.
type SendStats struct {
	Messages   uint64 // datagrams sent
	Conns      uint64 // records sent
	SendErrors uint64 // datagrams the socket refused
	QueueDrops uint64 // connections lost on a full queue
	TooLarge   uint64 // records no message can hold (never with gdirector's records)
}

// Sender builds sync messages from the queue and sends them.
type Sender struct {
	cfg   SenderConfig
	auth  *signer
	mu    sync.Mutex // serialises Flush/Run
	buf   []byte
	b     Builder
	first time.Time // when the pending message got its first record
	rec   Conn
	tpl   *conntrack.Conn // last template added to the pending message

	messages, conns, sendErrors, tooLarge atomic.Uint64
}

// NewSender checks cfg and returns a Sender.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Queue == nil || cfg.Send == nil {
		return nil, errors.New("ipvssync: sender needs a queue and a transport")
	}
	if cfg.MaxLen == 0 {
		cfg.MaxLen = DefaultMaxLen
	}
	room := cfg.MaxLen
	if len(cfg.Key) > 0 {
		room -= trailerLen
	}
	if room < minMaxLen || cfg.MaxLen > 65535-28 {
		return nil, fmt.Errorf("ipvssync: sync-maxlen %d out of range", cfg.MaxLen)
	}
	if cfg.FlushDelay <= 0 {
		cfg.FlushDelay = DefaultFlushDelay
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	s := &Sender{cfg: cfg, auth: newSigner(cfg.Key), buf: make([]byte, cfg.MaxLen)}
	s.b.Reset(s.buf[:room], cfg.SyncID)
	return s, nil
}

// Stats returns the sender's counters.
func (s *Sender) Stats() SendStats {
	return SendStats{Messages: s.messages.Load(), Conns: s.conns.Load(), SendErrors: s.sendErrors.Load(),
		QueueDrops: s.cfg.Queue.Dropped(), TooLarge: s.tooLarge.Load()}
}

// add puts c (and the template that controls it) in the pending message,
// sending the message first when it is full.
func (s *Sender) add(c *conntrack.Conn) {
	if !Worth(c) {
		return
	}
	FromConn(c, &s.rec)
	switch err := s.b.Add(&s.rec); err {
	case nil:
	case ErrNoRoom:
		s.send()
		if s.b.Add(&s.rec) != nil {
			s.tooLarge.Add(1)
			return
		}
	default:
		s.tooLarge.Add(1)
		return
	}
	if s.b.Count() == 1 {
		s.first = time.Now()
	}
	// The kernel syncs a connection's controlling template with it, so
	// that the backup keeps the client's persistence.
	if t := c.Control(); t != nil && t != s.tpl {
		s.tpl = t
		s.add(t)
	}
}

// send transmits the pending message, if any, and starts another.
func (s *Sender) send() {
	n := s.b.Len()
	count := s.b.Count()
	if count == 0 {
		return
	}
	d := s.buf[:n]
	if s.auth != nil {
		d = s.auth.sign(s.buf, n, s.cfg.Now())
	}
	if err := s.cfg.Send(d); err != nil {
		s.sendErrors.Add(1)
	} else {
		s.messages.Add(1)
		s.conns.Add(uint64(count))
	}
	room := len(s.buf)
	if s.auth != nil {
		room -= trailerLen
	}
	s.b.Reset(s.buf[:room], s.cfg.SyncID)
	s.tpl = nil
}

// Flush drains the queue and sends everything pending now.
func (s *Sender) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Queue.Drain(s.add)
	s.send()
}

// Refresh queues every connection worth syncing again, so that backups
// keep established connections that change no state past their timeout
// (the part the kernel's sync_period/sync_refresh_period play).
func (s *Sender) Refresh() {
	if s.cfg.Conns == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Conns.Range(func(c *conntrack.Conn) bool {
		s.add(c)
		return true
	})
	s.send()
}

// Run drains the queue every Poll, sends full messages at once and a
// partial one once its first record is FlushDelay old, and refreshes every
// Refresh, until ctx ends; it then sends what is pending.
func (s *Sender) Run(ctx context.Context) error {
	poll := time.NewTicker(s.cfg.Poll)
	defer poll.Stop()
	var refresh <-chan time.Time
	if s.cfg.Refresh > 0 && s.cfg.Conns != nil {
		t := time.NewTicker(s.cfg.Refresh)
		defer t.Stop()
		refresh = t.C
	}
	for {
		select {
		case <-ctx.Done():
			s.Flush()
			return nil
		case <-refresh:
			s.Refresh()
		case <-poll.C:
			s.mu.Lock()
			s.cfg.Queue.Drain(s.add)
			if s.b.Count() > 0 && time.Since(s.first) >= s.cfg.FlushDelay {
				s.send()
			}
			s.mu.Unlock()
		}
	}
}

// Transport sends datagrams from one UDP socket to a multicast group or
// to a list of unicast peers.
type Transport struct {
	conn *net.UDPConn
	dsts []*net.UDPAddr
}

// DialMulticast opens a master's socket as the kernel does: bound to the
// first IPv4 address of the interface, multicast leaving by it with the
// given TTL (1 when 0) and no loopback.
func DialMulticast(ifname string, group netip.AddrPort, ttl int) (*Transport, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("ipvssync: %w", err)
	}
	var local netip.Addr
	if addrs, err := ifi.Addrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() {
					local = ip.Unmap()
					break
				}
			}
		}
	}
	if !local.IsValid() {
		return nil, fmt.Errorf("ipvssync: %s has no IPv4 address to send from", ifname)
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return nil, err
	}
	if ttl <= 0 {
		ttl = 1
	}
	pc := ipv4.NewPacketConn(c)
	for _, f := range []func() error{
		func() error { return pc.SetMulticastInterface(ifi) },
		func() error { return pc.SetMulticastTTL(ttl) },
		func() error { return pc.SetMulticastLoopback(false) },
	} {
		if err := f(); err != nil {
			c.Close()
			return nil, fmt.Errorf("ipvssync: multicast socket on %s: %w", ifname, err)
		}
	}
	return &Transport{conn: c, dsts: []*net.UDPAddr{net.UDPAddrFromAddrPort(group)}}, nil
}

// DialUnicast opens a socket bound to local (port 0 when unset) that
// sends every datagram to each peer.
func DialUnicast(local netip.AddrPort, peers []netip.AddrPort) (*Transport, error) {
	if len(peers) == 0 {
		return nil, errors.New("ipvssync: no unicast peers")
	}
	var la *net.UDPAddr
	if local.Addr().IsValid() {
		la = net.UDPAddrFromAddrPort(local)
	}
	c, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, err
	}
	t := &Transport{conn: c}
	for _, p := range peers {
		t.dsts = append(t.dsts, net.UDPAddrFromAddrPort(p))
	}
	return t, nil
}

// Send writes d to every destination; the first error is returned.
func (t *Transport) Send(d []byte) error {
	var first error
	for _, a := range t.dsts {
		if _, err := t.conn.WriteToUDP(d, a); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close closes the socket.
func (t *Transport) Close() error { return t.conn.Close() }

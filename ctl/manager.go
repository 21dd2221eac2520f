package ctl

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/vs"
)

// DefaultScheduler is the scheduler of a service added without one, as in
// ipvsadm.
const DefaultScheduler = "wlc"

// DefaultPersistTimeout is the persistence timeout ipvsadm gives -p
// without a value, in seconds.
const DefaultPersistTimeout = 360

// Kernel defaults of the timeouts --set changes, in seconds.
const (
	DefaultTCPTimeout    = 15 * 60
	DefaultTCPFinTimeout = 2 * 60
	DefaultUDPTimeout    = 5 * 60
)

// MaxTimeout is the largest timeout SetTimeouts accepts, in seconds: the
// kernel refuses values above INT_MAX/HZ (HZ = 250 here).
const MaxTimeout = math.MaxInt32 / 250

// trashGrace is how long a removed dest without connections stays
// available for re-adding (the kernel's IP_VS_DEST_TRASH_PERIOD).
const trashGrace = 60 * time.Second

// svcFlagMask is the service flags an operator sets.
const svcFlagMask = vs.SvcPersistent | vs.SvcOnePacket | vs.SvcSchedFlag1 | vs.SvcSchedFlag2 | vs.SvcSchedFlag3

// TimeoutStore holds the connection timeouts of ipvsadm --set (the
// connection table). SetTimeouts leaves a value <= 0 unchanged.
type TimeoutStore interface {
	SetTimeouts(tcp, tcpfin, udp int)
	Timeouts() (tcp, tcpfin, udp int)
}

// ConnLister walks the connection table (ipvsadm -L -c).
type ConnLister interface {
	Range(fn func(*conntrack.Conn) bool)
}

// Config configures a Manager.
type Config struct {
	// Table receives every published snapshot; nil = a private pointer.
	// An empty table is stored at construction if it holds none.
	Table *atomic.Pointer[vs.Table]
	// OnChange, if set, is called after each publication with the new
	// table. It runs with the Manager's lock held, so successive calls
	// come in order; it must not call back into the Manager.
	OnChange func(*vs.Table)
	// Timeouts, if set, holds the --set timeouts; otherwise the Manager
	// keeps them itself.
	Timeouts TimeoutStore
	// Conns, if set, is the connection table listed by ipvsadm -c.
	Conns ConnLister
	// Now returns the time scale of the connections' expiry
	// (conntrack.Conn.Expires); nil = clock.Real.
	Now func() int64
	// CheckDest, if set, may refuse a dest the data plane cannot serve
	// (DR on a TUN-fed director); its error is ipvsadm's message.
	CheckDest func(DestConfig) error
}

// ServiceID identifies a virtual service: protocol, address and port, or a
// firewall mark and an address family.
type ServiceID struct {
	Proto  vs.Proto   // TCP, UDP or SCTP; ignored for fwmark services
	Addr   netip.Addr // the VIP; unused for fwmark services
	Port   uint16     // 0 = every port (persistent services)
	FwMark uint32     // non-zero: a firewall-mark service
	IPv6   bool       // family of a fwmark service; otherwise Addr's
}

// Key returns the key of the service in a vs.Table.
func (id ServiceID) Key() vs.ServiceKey {
	if id.FwMark != 0 {
		return vs.ServiceKey{FwMark: id.FwMark, IPv6: id.IPv6}
	}
	return vs.ServiceKey{IPv6: id.Addr.Is6(), Proto: id.Proto, Port: id.Port, Addr: id.Addr.As16()}
}

// isIPv6 reports the address family of the service.
func (id ServiceID) isIPv6() bool {
	if id.FwMark != 0 {
		return id.IPv6
	}
	return id.Addr.Is6()
}

// ServiceConfig is a virtual service's settings (ipvsadm -A/-E).
type ServiceConfig struct {
	ServiceID
	Scheduler string // "" = DefaultScheduler
	Flags     uint32 // vs.SvcPersistent, vs.SvcOnePacket, vs.SvcSchedFlag1..3
	Timeout   uint32 // persistence timeout in seconds
	// Netmask is the persistence granularity: for IPv4 the mask as a
	// number (0xffffffff = per client address, ipvsadm's default; 0 = all
	// clients share), for IPv6 a prefix length 1..128 (ipvsadm's default
	// 128).
	Netmask uint32
	PE      string // persistence engine; none are available yet
}

// DestConfig is a real server's settings (ipvsadm -a/-e).
type DestConfig struct {
	Addr       netip.Addr
	Port       uint16
	Fwd        vs.FwdMethod
	Weight     int32
	UThreshold uint32 // 0 = no upper connection threshold
	LThreshold uint32
}

// service is the long-lived state of one virtual service.
type service struct {
	id     ServiceID
	key    vs.ServiceKey
	conf   ServiceConfig
	sched  vs.Scheduler
	stats  *vs.Stats
	dests  []*vs.Dest
	laddrs []*vs.LocalAddr // FullNAT local addresses, in the order added
	cur    *vs.Service     // its value in the current snapshot
}

type trashed struct {
	key   vs.ServiceKey
	owner *service
	dest  *vs.Dest
	idle  time.Time // when it was first seen without connections; zero = busy
}

// Manager owns the configuration and publishes it as vs.Table snapshots.
// It is safe for concurrent use.
type Manager struct {
	mu       sync.Mutex
	table    *atomic.Pointer[vs.Table]
	onChange func(*vs.Table)
	store    TimeoutStore
	conns    ConnLister
	clock    func() int64
	now      func() time.Time // trash ageing
	check    func(DestConfig) error

	services []*service // in the order they were added
	// byKey indexes services by key for find; nil when it must be
	// rebuilt (every change of services sets it so, see reindex).
	byKey    map[vs.ServiceKey]int
	marks    []vs.MarkRule
	trash    []*trashed
	timeouts [3]int // when there is no store

	// stage marks a Batch/Replace stage (batch.go), which builds its
	// table only when read; stale says an operation changed it since.
	stage, stale bool
}

// NewManager returns a Manager with an empty configuration.
func NewManager(cfg Config) *Manager {
	m := &Manager{
		table:    cfg.Table,
		onChange: cfg.OnChange,
		store:    cfg.Timeouts,
		conns:    cfg.Conns,
		clock:    cfg.Now,
		now:      time.Now,
		check:    cfg.CheckDest,
		timeouts: [3]int{DefaultTCPTimeout, DefaultTCPFinTimeout, DefaultUDPTimeout},
	}
	if m.table == nil {
		m.table = new(atomic.Pointer[vs.Table])
	}
	if m.clock == nil {
		m.clock = clock.Real{}.Now
	}
	m.table.CompareAndSwap(nil, vs.NewTable(nil))
	return m
}

// Table returns the current snapshot.
func (m *Manager) Table() *vs.Table {
	if m.stage {
		return m.stageTable()
	}
	return m.table.Load()
}

// Service returns the current value of a service, or ErrNoSuchService.
func (m *Manager) Service(id ServiceID) (*vs.Service, error) {
	if s := m.Table().Get(id.Key()); s != nil {
		return s, nil
	}
	return nil, ErrNoSuchService
}

// Conns returns the connection table, or nil.
func (m *Manager) Conns() ConnLister { return m.conns }

// Now returns the current time on the connection table's clock.
func (m *Manager) Now() int64 { return m.clock() }

func (m *Manager) find(key vs.ServiceKey) (int, *service) {
	if len(m.services) <= findScan {
		for i, s := range m.services {
			if s.key == key {
				return i, s
			}
		}
		return -1, nil
	}
	if m.byKey == nil {
		m.byKey = make(map[vs.ServiceKey]int, len(m.services))
		for i, s := range m.services {
			m.byKey[s.key] = i
		}
	}
	if i, ok := m.byKey[key]; ok {
		return i, m.services[i]
	}
	return -1, nil
}

// findScan is the number of services up to which find scans the list; a
// larger table (a keepalived virtual_server_group expands into thousands)
// is indexed by key.
const findScan = 16

// reindex records that m.services changed: the key index is rebuilt at
// the next find.
func (m *Manager) reindex() { m.byKey = nil }

// checkService validates what ip_vs_add_service and ip_vs_edit_service
// check, in their order, and returns a new scheduler instance when the
// service needs one (have is the instance it has, or nil).
func checkService(c *ServiceConfig, have vs.Scheduler) (vs.Scheduler, error) {
	if c.Scheduler == "" {
		c.Scheduler = DefaultScheduler
	}
	var sc vs.Scheduler
	if have == nil || have.Name() != c.Scheduler {
		var err error
		if sc, err = sched.New(c.Scheduler); err != nil {
			return nil, &opError{ErrSchedulerNotFound, err}
		}
	}
	if c.PE != "" {
		return nil, ErrSchedulerNotFound
	}
	if c.isIPv6() && (c.Netmask < 1 || c.Netmask > 128) {
		return nil, ErrInvalid
	}
	return sc, nil
}

// checkID validates the identifying fields of a service.
func checkID(id ServiceID) error {
	if id.FwMark != 0 {
		return nil
	}
	if !id.Addr.IsValid() {
		return ErrInvalid
	}
	switch id.Proto {
	case vs.TCP, vs.UDP, vs.SCTP:
		return nil
	}
	return ErrInvalid
}

// AddService adds a virtual service.
func (m *Manager) AddService(c ServiceConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := checkID(c.ServiceID); err != nil {
		return err
	}
	key := c.Key()
	if _, s := m.find(key); s != nil {
		return ErrServiceExists
	}
	sc, err := checkService(&c, nil)
	if err != nil {
		return err
	}
	c.Flags &= svcFlagMask
	c.Addr = c.Addr.WithZone("")
	if c.FwMark != 0 {
		c.Proto, c.Addr, c.Port = 0, netip.Addr{}, 0
	} else {
		c.IPv6 = c.Addr.Is6()
	}
	s := &service{id: c.ServiceID, key: key, conf: c, sched: sc, stats: &vs.Stats{}}
	m.services = append(m.services, s)
	if m.byKey != nil {
		m.byKey[key] = len(m.services) - 1
	}
	m.publish(s, true)
	return nil
}

// EditService changes a service's scheduler, flags, persistence timeout,
// netmask and persistence engine. Like ipvsadm -E, every setting is
// replaced; a scheduler of the same name keeps its instance and state.
func (m *Manager) EditService(c ServiceConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, s := m.find(c.Key())
	if s == nil {
		return ErrNoSuchService
	}
	sc, err := checkService(&c, s.sched)
	if err != nil {
		return err
	}
	s.conf.Scheduler = c.Scheduler
	s.conf.Flags = c.Flags & svcFlagMask
	s.conf.Timeout = c.Timeout
	s.conf.Netmask = c.Netmask
	s.conf.PE = c.PE
	if sc != nil {
		s.sched = sc
	}
	m.publish(s, sc != nil)
	return nil
}

// DelService deletes a service and its real servers.
func (m *Manager) DelService(id ServiceID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, s := m.find(id.Key())
	if s == nil {
		return ErrNoSuchService
	}
	m.services = append(m.services[:i:i], m.services[i+1:]...)
	m.reindex()
	for _, d := range s.dests {
		m.unlink(s, d)
	}
	m.publish(nil, false)
	return nil
}

// Flush deletes every service (ipvsadm -C).
func (m *Manager) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.services {
		for _, d := range s.dests {
			m.unlink(s, d)
		}
	}
	m.services = nil
	m.reindex()
	m.publish(nil, false)
	return nil
}

// checkDest validates a dest for ip_vs_add_dest/ip_vs_edit_dest.
// checkDest validates a dest as the kernel does, then asks the daemon's
// CheckDest hook (what this director can forward).
func (m *Manager) checkDest(s *service, d *DestConfig) error {
	if err := checkDest(s, d); err != nil {
		return err
	}
	if m.check != nil {
		return m.check(*d)
	}
	return nil
}

func checkDest(s *service, d *DestConfig) error {
	if !d.Addr.IsValid() {
		return ErrInvalid
	}
	switch d.Fwd {
	case vs.Masq, vs.Local, vs.Tunnel, vs.DirectRoute, vs.FullNAT:
	default:
		return ErrInvalid
	}
	if d.Addr.Is6() != s.conf.isIPv6() && d.Fwd != vs.Tunnel {
		return ErrInvalid
	}
	if d.Weight < 0 || d.LThreshold > d.UThreshold {
		return ErrRange
	}
	return nil
}

// unicast reports whether the kernel would accept addr for a new real
// server: for IPv4 not 0.0.0.0/8, multicast or the limited broadcast; for
// IPv6 a unicast address that is not link-local or IPv4-mapped.
func unicast(a netip.Addr) bool {
	if a.Is4() {
		b := a.As4()
		return b[0] != 0 && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	return !a.IsUnspecified() && !a.IsMulticast() && !a.IsLinkLocalUnicast() && !a.Is4In6()
}

func lookupDest(s *service, addr netip.Addr, port uint16) (int, *vs.Dest) {
	for i, d := range s.dests {
		if d.Addr == addr && d.Port == port {
			return i, d
		}
	}
	return -1, nil
}

// apply stores a dest's settings as __ip_vs_update_dest does.
func apply(d *vs.Dest, c DestConfig) {
	d.Weight.Store(c.Weight)
	d.Fwd.Store(uint32(c.Fwd))
	if c.UThreshold == 0 || c.UThreshold > d.UThreshold.Load() {
		for {
			f := d.Flags.Load()
			if d.Flags.CompareAndSwap(f, f&^vs.DestOverload) {
				break
			}
		}
	}
	d.UThreshold.Store(c.UThreshold)
	d.LThreshold.Store(c.LThreshold)
	for {
		f := d.Flags.Load()
		if d.Flags.CompareAndSwap(f, f|vs.DestAvailable) {
			break
		}
	}
}

// AddDest adds a real server to a service.
func (m *Manager) AddDest(id ServiceID, c DestConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, s := m.find(id.Key())
	if s == nil {
		return ErrServiceNotDefined
	}
	c.Addr = c.Addr.WithZone("")
	if err := m.checkDest(s, &c); err != nil {
		return err
	}
	if _, d := lookupDest(s, c.Addr, c.Port); d != nil {
		return ErrDestExists
	}
	m.purgeTrash()
	d := m.fromTrash(s, c.Addr, c.Port)
	if d == nil {
		if !unicast(c.Addr) {
			return ErrInvalid
		}
		d = vs.NewDest(c.Addr, c.Port, c.Fwd, c.Weight)
	}
	apply(d, c)
	// Like the kernel (list_add_rcu in __ip_vs_update_dest), a new dest
	// goes to the head of the list: schedulers that walk the list (rr,
	// wrr, …) meet the most recently added dest first.
	s.dests = append([]*vs.Dest{d}, s.dests...)
	m.publish(s, true)
	return nil
}

// EditDest changes a real server's method, weight and thresholds.
func (m *Manager) EditDest(id ServiceID, c DestConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, s := m.find(id.Key())
	if s == nil {
		return ErrServiceNotDefined
	}
	c.Addr = c.Addr.WithZone("")
	if err := m.checkDest(s, &c); err != nil {
		return err
	}
	_, d := lookupDest(s, c.Addr, c.Port)
	if d == nil {
		return ErrNoSuchDest
	}
	apply(d, c)
	m.publish(s, true)
	return nil
}

// DelDest removes a real server from a service. Connections keep their
// *vs.Dest, which is no longer vs.DestAvailable.
func (m *Manager) DelDest(id ServiceID, addr netip.Addr, port uint16) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, s := m.find(id.Key())
	if s == nil {
		return ErrServiceNotDefined
	}
	i, d := lookupDest(s, addr.WithZone(""), port)
	if d == nil {
		return ErrNoSuchDest
	}
	s.dests = append(s.dests[:i:i], s.dests[i+1:]...)
	m.unlink(s, d)
	m.publish(s, true)
	return nil
}

// unlink marks a removed dest unavailable and keeps it in the trash.
func (m *Manager) unlink(s *service, d *vs.Dest) {
	for {
		f := d.Flags.Load()
		if d.Flags.CompareAndSwap(f, f&^vs.DestAvailable) {
			break
		}
	}
	m.trash = append(m.trash, &trashed{key: s.key, owner: s, dest: d})
}

func busy(d *vs.Dest) bool {
	return d.ActiveConns.Load() != 0 || d.InactConns.Load() != 0 || d.PersistConns.Load() != 0
}

// purgeTrash forgets removed dests that have had no connections for
// trashGrace.
func (m *Manager) purgeTrash() {
	now := m.now()
	kept := m.trash[:0]
	for _, t := range m.trash {
		switch {
		case busy(t.dest):
			t.idle = time.Time{}
		case t.idle.IsZero():
			t.idle = now
		case now.Sub(t.idle) >= trashGrace:
			continue
		}
		kept = append(kept, t)
	}
	clear(m.trash[len(kept):])
	m.trash = kept
}

// fromTrash takes back a removed dest of the same service, zeroing its
// traffic counters if the service was re-created since.
func (m *Manager) fromTrash(s *service, addr netip.Addr, port uint16) *vs.Dest {
	for i, t := range m.trash {
		if t.key == s.key && t.dest.Addr == addr && t.dest.Port == port {
			m.trash = append(m.trash[:i], m.trash[i+1:]...)
			if t.owner != s {
				t.dest.Stats.Zero()
			}
			return t.dest
		}
	}
	return nil
}

// Zero zeroes the traffic counters of a service and its real servers.
func (m *Manager) Zero(id ServiceID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, s := m.find(id.Key())
	if s == nil {
		return ErrNoSuchService
	}
	zero(s)
	return nil
}

// ZeroAll zeroes the counters of every service (ipvsadm -Z).
func (m *Manager) ZeroAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.services {
		zero(s)
	}
}

func zero(s *service) {
	s.stats.Zero()
	for _, d := range s.dests {
		d.Stats.Zero()
	}
}

// SetTimeouts sets the TCP established, TCP FIN_WAIT and UDP timeouts in
// seconds (ipvsadm --set); 0 leaves a timeout unchanged.
func (m *Manager) SetTimeouts(tcp, tcpfin, udp int) error {
	for _, v := range []int{tcp, tcpfin, udp} {
		if v < 0 || v > MaxTimeout {
			return ErrInvalid
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.store != nil {
		m.store.SetTimeouts(tcp, tcpfin, udp)
		return nil
	}
	for i, v := range []int{tcp, tcpfin, udp} {
		if v > 0 {
			m.timeouts[i] = v
		}
	}
	return nil
}

// Timeouts returns the TCP, TCP FIN_WAIT and UDP timeouts in seconds.
func (m *Manager) Timeouts() (tcp, tcpfin, udp int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.store != nil {
		return m.store.Timeouts()
	}
	return m.timeouts[0], m.timeouts[1], m.timeouts[2]
}

// value builds the Service value of s for the next snapshot.
func (s *service) value() *vs.Service {
	c := &s.conf
	v := &vs.Service{
		Key:       s.key,
		Addr:      c.Addr,
		Port:      c.Port,
		Proto:     c.Proto,
		FwMark:    c.FwMark,
		IPv6:      c.isIPv6(),
		SchedName: c.Scheduler,
		Sched:     s.sched,
		Flags:     c.Flags,
		Timeout:   c.Timeout,
		Netmask:   c.Netmask,
		PEName:    c.PE,
		Dests:     s.dests,
		Stats:     s.stats,
		LAddrs:    s.laddrs,
	}
	return v
}

// publish builds and publishes a new snapshot in which changed (if not nil)
// gets a new Service value; update says whether its scheduler must see it
// (dest list or weights changed, or a new scheduler instance).
func (m *Manager) publish(changed *service, update bool) {
	if changed != nil {
		changed.cur = changed.value()
		if update {
			changed.sched.Update(changed.cur)
		}
	}
	if m.stage {
		m.purgeTrash()
		m.stale = true
		return
	}
	svcs := make([]*vs.Service, len(m.services))
	for i, s := range m.services {
		if s.cur == nil {
			s.cur = s.value()
		}
		svcs[i] = s.cur
	}
	m.purgeTrash()
	t := vs.NewTableMarks(svcs, m.marks)
	m.table.Store(t)
	if m.onChange != nil {
		m.onChange(t)
	}
}

package fullnat

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"math/rand/v2"
	"sync/atomic"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/vs"
)

// Defaults of PoolConfig.
const (
	DefaultMinPort = 1024
	DefaultMaxPort = 65535
	DefaultProbes  = 64
)

// poolBuckets is the number of sequence counters (a power of two).
const poolBuckets = 256

// PoolConfig configures a Pool. Zero fields take the defaults.
type PoolConfig struct {
	// MinPort and MaxPort bound the local ports, inclusive
	// (DefaultMinPort–DefaultMaxPort).
	MinPort, MaxPort uint16
	// Probes bounds the candidate tuples one Alloc checks
	// (DefaultProbes).
	Probes int
	// Seed keys the hash that spreads real servers over the port range;
	// 0 = random.
	Seed uint64
}

// Pool allocates FullNAT local ports. It keeps no per-port state: the
// connection table is the record of which tuples are in use, so nothing
// has to be released when a connection ends, and connections created by
// other means (synchronised from a peer director) are respected as well.
// A Pool is safe for concurrent use; Alloc takes one atomic add on a
// per-destination counter (one more after a conflict) and allocates
// nothing.
type Pool struct {
	min, size, probes uint32
	seed              uint64
	ctr               [poolBuckets]struct {
		n atomic.Uint32
		_ [60]byte // one counter per cache line: workers do not share lines
	}
}

// NewPool returns a pool, or an error for a range that is empty or
// includes port 0, or a negative Probes.
func NewPool(c PoolConfig) (*Pool, error) {
	if c.MinPort == 0 {
		c.MinPort = DefaultMinPort
	}
	if c.MaxPort == 0 {
		c.MaxPort = DefaultMaxPort
	}
	if c.Probes == 0 {
		c.Probes = DefaultProbes
	}
	if c.MinPort > c.MaxPort {
		return nil, errors.New("fullnat: empty local port range")
	}
	if c.Probes < 0 {
		return nil, errors.New("fullnat: negative probe count")
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64() | 1
	}
	return &Pool{
		min:    uint32(c.MinPort),
		size:   uint32(c.MaxPort) - uint32(c.MinPort) + 1,
		probes: uint32(min(c.Probes, 1<<30)),
		seed:   c.Seed,
	}, nil
}

// Range returns the pool's port range.
func (p *Pool) Range() (lo, hi uint16) { return uint16(p.min), uint16(p.min + p.size - 1) }

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hash keys a destination: the bucket of its counter (low bits) and the
// offset of its ports in the range (high bits).
func (p *Pool) hash(proto vs.Proto, daddr *[16]byte, dport uint16) uint64 {
	a := binary.LittleEndian.Uint64(daddr[:8]) ^ p.seed
	b := binary.LittleEndian.Uint64(daddr[8:]) ^ uint64(dport)<<8 ^ uint64(proto) ^ 0x9e3779b97f4a7c15
	return mix(mix(a, b|1), p.seed^0xbf58476d1ce4e5b9)
}

// Alloc chooses a local address and port for a new FullNAT connection to
// the real server daddr:dport over proto, such that the connection's
// out-key (daddr:dport → laddr:lport, what conntrack.Conn.OutKey will be)
// is not in use according to inUse, which the caller builds once, for
// instance
//
//	inUse := func(k conntrack.Key) bool { return tbl.LookupOut(&k) != nil }
//
// (the key is passed by value so that nothing escapes to the heap).
//
// The candidates follow RFC 6056's double-hash algorithm: every
// destination has a sequence counter (one of 256, chosen by a keyed hash
// of the destination) and a hashed offset into the range; sequence number
// s stands for local address laddrs[s mod n] and port
// min + (offset + s/n) mod size. Consecutive connections to one real
// server thus take the local addresses round-robin and, on each, the ports
// in order, so a port comes back for that server only after n × size
// connections, and different servers start at unrelated ports. Alloc tries
// at most Probes consecutive sequence numbers from the counter's value,
// skips addresses of the other family, counts every candidate found in use
// in that LocalAddr's Conflicts, and moves the counter past the one it
// returns. When Probes ≥ n × size every tuple is tried, so ok=false then
// means the tuple space of this destination is exhausted; with fewer
// probes it means that many consecutive candidates were taken (at an
// occupancy ρ, probability ρ^Probes). It returns ok=false at once when
// laddrs is empty (forward.DropNoLAddr) and after the probes otherwise
// (forward.DropPortsExhausted).
//
// A tuple free when probed may be taken by a concurrent Alloc of another
// worker before either connection is inserted: conntrack.Table.New
// refuses the second one (ErrExists), so a live tuple is never reused; the
// caller may call Alloc again, which continues past the lost candidate.
func (p *Pool) Alloc(laddrs []*vs.LocalAddr, proto vs.Proto, daddr [16]byte, dport uint16, inUse func(conntrack.Key) bool) (la *vs.LocalAddr, lport uint16, ok bool) {
	n := uint32(len(laddrs))
	if n == 0 {
		return nil, 0, false
	}
	h := p.hash(proto, &daddr, dport)
	ctr := &p.ctr[h%poolBuckets].n
	start := ctr.Add(1) - 1
	off := uint32(h>>32) % p.size
	k := conntrack.Key{Proto: proto, IPv6: !header.Is4(&daddr), Src: daddr, SPort: dport}
	for i := uint32(0); i < p.probes; i++ {
		s := start + i
		l := laddrs[s%n]
		if l == nil || header.Is4(&l.Addr16) == k.IPv6 {
			continue
		}
		port := uint16(p.min + (off+s/n)%p.size)
		k.Dst, k.DPort = l.Addr16, port
		if !inUse(k) {
			if i > 0 {
				ctr.Add(i)
			}
			return l, port, true
		}
		l.Conflicts.Add(1)
	}
	return nil, 0, false
}

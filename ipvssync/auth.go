package ipvssync

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"time"
)

// The authenticated mode (gdirector to gdirector only): each datagram is
// the kernel's message followed by a trailer
//
//	"GDS1" | timestamp (Unix ns, 8 bytes, big-endian) | HMAC-SHA256 (32 bytes)
//
// where the HMAC, keyed with the shared secret, covers the message, the
// magic and the timestamp. A receiver with a key accepts only datagrams
// whose HMAC is right and whose timestamp is within AuthWindow of its own
// clock (a replayed message older than that is refused). A kernel backup
// refuses these datagrams (their length differs from the message's size
// field), and a gdirector backup with a key refuses a kernel master's.
const (
	trailerMagic = "GDS1"
	trailerLen   = 4 + 8 + sha256.Size
	// AuthWindow bounds the age (and the future) of an authenticated
	// message's timestamp.
	AuthWindow = 30 * time.Second
)

// Authentication errors.
var (
	ErrAuth   = errors.New("ipvssync: message authentication failed")
	ErrReplay = errors.New("ipvssync: authenticated message outside the time window")
)

// signer appends and checks trailers with one key; not safe for concurrent
// use (one per sender or receiver goroutine).
type signer struct {
	mac hash.Hash
	sum [sha256.Size]byte
}

func newSigner(key []byte) *signer {
	if len(key) == 0 {
		return nil
	}
	return &signer{mac: hmac.New(sha256.New, key)}
}

// sign writes the trailer after msg in buf (buf[:len(msg)] is msg; buf
// must have trailerLen bytes of room) and returns the datagram.
func (s *signer) sign(buf []byte, n int, now time.Time) []byte {
	t := buf[n : n+trailerLen]
	copy(t, trailerMagic)
	binary.BigEndian.PutUint64(t[4:], uint64(now.UnixNano()))
	s.mac.Reset()
	s.mac.Write(buf[:n+12])
	s.mac.Sum(t[12:12])
	return buf[:n+trailerLen]
}

// verify checks a datagram's trailer and returns the message before it.
func (s *signer) verify(d []byte, now time.Time) ([]byte, error) {
	if len(d) < trailerLen+headerLenV0 {
		return nil, ErrAuth
	}
	n := len(d) - trailerLen
	t := d[n:]
	if string(t[:4]) != trailerMagic {
		return nil, ErrAuth
	}
	s.mac.Reset()
	s.mac.Write(d[:n+12])
	if !hmac.Equal(s.mac.Sum(s.sum[:0]), t[12:]) {
		return nil, ErrAuth
	}
	ts := time.Unix(0, int64(binary.BigEndian.Uint64(t[4:])))
	if d := now.Sub(ts); d > AuthWindow || d < -AuthWindow {
		return nil, ErrReplay
	}
	return d[:n], nil
}

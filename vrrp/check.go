package vrrp

import (
	"crypto/subtle"
	"errors"
	"fmt"
)

// Receiver errors: an advert that decodes but is not for this instance or
// breaks the receiver's rules.
var (
	ErrTTL        = errors.New("vrrp: TTL or hop limit is not 255")
	ErrOtherVRID  = errors.New("vrrp: advert for another virtual router")
	ErrAddrCount  = errors.New("vrrp: count of addresses differs from the configuration")
	ErrAuth       = errors.New("vrrp: authentication failed")
	ErrIntervalV2 = errors.New("vrrp: version 2 advert interval differs from the configuration")
)

// Expect is what the receiver of an instance requires of an advert.
type Expect struct {
	Version int
	VRID    uint8
	// NumAddrs is the number of virtual addresses configured; adverts
	// must carry as many (keepalived's default; its skip_check_adv_addr
	// is not offered).
	NumAddrs int
	// Interval is the local interval in wire units; version 2 adverts
	// must match it.
	Interval uint16
	// AuthType and Password are version 2's authentication.
	AuthType AuthType
	Password [authDataLen]byte
	// Unicast skips the TTL check: adverts from unicast peers may be
	// routed (keepalived does not check their TTL either).
	Unicast bool
}

// Check applies the receiver's rules (RFC 3768 §7.1, RFC 5798 §7.1) to a
// decoded advert that arrived with the given TTL or hop limit. The error
// wraps one of the Err values.
func (e *Expect) Check(a *Advert, ttl int) error {
	if !e.Unicast && ttl != TTL {
		return fmt.Errorf("%w: %d", ErrTTL, ttl)
	}
	if a.Version != e.Version {
		return fmt.Errorf("%w: version %d, this instance runs %d", ErrVersion, a.Version, e.Version)
	}
	if a.VRID != e.VRID {
		return fmt.Errorf("%w: VRID %d, this instance is %d", ErrOtherVRID, a.VRID, e.VRID)
	}
	if a.Version == 2 {
		if a.AuthType != e.AuthType {
			return fmt.Errorf("%w: authentication type %d, expected %d", ErrAuth, a.AuthType, e.AuthType)
		}
		if e.AuthType == AuthPass && subtle.ConstantTimeCompare(a.AuthData[:], e.Password[:]) != 1 {
			return fmt.Errorf("%w: wrong password", ErrAuth)
		}
		if a.Interval != e.Interval {
			return fmt.Errorf("%w: %d s, configured %d s", ErrIntervalV2, a.Interval, e.Interval)
		}
	}
	if len(a.Addrs) != e.NumAddrs {
		return fmt.Errorf("%w: %d, configured %d", ErrAddrCount, len(a.Addrs), e.NumAddrs)
	}
	return nil
}

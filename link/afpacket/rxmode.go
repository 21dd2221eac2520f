package afpacket

import "fmt"

// RXMode selects the receive path.
type RXMode int

const (
	RXAuto     RXMode = iota // TPACKET_V3 ring if possible, else recvmmsg
	RXRing                   // TPACKET_V3 ring, or Open fails
	RXRecvmmsg               // recvmmsg(2) into the caller's buffers
)

var rxNames = [...]string{RXAuto: "auto", RXRing: "ring", RXRecvmmsg: "recvmmsg"}

// String returns the mode's name as ParseRXMode reads it.
func (m RXMode) String() string {
	if m >= 0 && int(m) < len(rxNames) {
		return rxNames[m]
	}
	return fmt.Sprintf("RXMode(%d)", int(m))
}

// ParseRXMode reads a receive mode by name: "auto" (or ""), "ring" or
// "recvmmsg".
func ParseRXMode(s string) (RXMode, error) {
	if s == "" {
		return RXAuto, nil
	}
	for m, name := range rxNames {
		if s == name {
			return RXMode(m), nil
		}
	}
	return RXAuto, fmt.Errorf("unknown receive mode %q: want auto, ring or recvmmsg", s)
}

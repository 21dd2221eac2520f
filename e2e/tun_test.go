package e2e

import "testing"

// TestTUN: with IPIP tunnelling the real servers sit on another routed
// subnet. On the router's link to the director, every packet the director
// sends is an outer IPv4 header DIP → RIP, protocol 4, carrying exactly the
// packet the client sent (checksum completed); no reply crosses that link,
// they go from the real servers to the client directly (checkTUN). TCP and
// UDP.
func TestTUN(t *testing.T) {
	e := newEnvMode(t, "tun")
	e.checkTUN(t, family4(e), workload{http: 4, udp: 2})
	e.stopDirector(t)
}

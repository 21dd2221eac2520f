package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/lab"
)

// The IPv6 end-to-end tests run every forwarding method on a dual-stack lab
// (lab.Options.IPv6, addresses from 2001:db8::/32) with IPv6 services only:
// a TCP service on [VIP6]:80 and a UDP one on [VIP6]:53, two real servers,
// rr. Each proves the method's rewrite from captures with the same check
// as the IPv4 test (methods_test.go), given family6.

// newEnv6 builds a dual-stack lab of the given mode and starts the
// director, as newEnvMode does.
func newEnv6(t *testing.T, mode string) *env {
	t.Helper()
	return newEnvOpts(t, mode, lab.Options{IPv6: true})
}

// workload6 is what every IPv6 test sends: four HTTP requests and two UDP
// queries.
var workload6 = workload{http: 4, udp: 2}

// TestNATIPv6: NAT over IPv6, TCP and UDP. Every packet the client receives
// comes from VIP6; every packet a real server receives is addressed to its
// RIP6 and comes from the client's own address (NAT keeps the source); the
// director's kernel drops its copy of VIP6 traffic silently, by a
// blackhole route, not "no route" (which would answer ICMPv6).
func TestNATIPv6(t *testing.T) {
	e := newEnv6(t, "nat")
	f := family6(e)
	e.services(t, f, "-m", workload6)
	// It joined VIP6's solicited-node group (33:33:ff:00:00:10) on the
	// client side, for NICs that filter multicast.
	if out := run(t, e.DirectorNS, 5*time.Second, "ip", "maddr", "show", "dev", e.DirClientIf); !strings.Contains(out, "33:33:ff:00:00:10") {
		t.Errorf("the director did not join VIP6's solicited-node group:\n%s", out)
	}
	c := e.startNATCaptures(t, f)
	e.exchange(t, f, workload6)
	e.verifyNAT(t, f, c)
	e.stopDirector(t)
}

// TestDRIPv6: direct routing over IPv6. Each real server receives exactly
// the IPv6 packet the client sent (only the Ethernet header differs), and
// the replies reach the client from the real servers' MACs.
func TestDRIPv6(t *testing.T) {
	e := newEnv6(t, "dr")
	e.checkDR(t, family6(e), workload6)
	e.stopDirector(t)
}

// TestTUNIPv6: ip6ip6. On the router's link to the director, every packet
// the director sends is an outer IPv6 header DIP6 → RIP6 with next header
// 41 carrying exactly the packet the client sent; no reply crosses that
// link.
func TestTUNIPv6(t *testing.T) {
	e := newEnv6(t, "tun")
	e.checkTUN(t, family6(e), workload6)
	e.stopDirector(t)
}

// TestFullNATIPv6: FullNAT over IPv6 with real servers that have no IPv6
// route to the client: rs1 sees only the IPv6 local address, the client
// only VIP6.
func TestFullNATIPv6(t *testing.T) {
	e := newEnv6(t, "fullnat")
	e.checkFullNAT(t, family6(e), workload6)
	e.stopDirector(t)
}

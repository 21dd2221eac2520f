package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// The steps every Build function (NAT, DR, TUN) shares: checking the
// options, undoing a failed build, naming the real servers and creating
// the namespaces.

// newBuilder checks opt (Reals 0 becomes 2; at most maxReals, what names
// the limit in the error) and returns a Builder for opt.Prefix with IPv6
// as opt says.
func newBuilder(opt *Options, maxReals int, what string) (*Builder, error) {
	if opt.Reals == 0 {
		opt.Reals = 2
	}
	if opt.Reals < 1 || opt.Reals > maxReals {
		return nil, fmt.Errorf("lab: %d real servers: want 1..%d%s", opt.Reals, maxReals, what)
	}
	if opt.MTU != 0 && (opt.MTU < 68 || opt.MTU > 65535) {
		return nil, fmt.Errorf("lab: MTU %d out of range 68..65535", opt.MTU)
	}
	b, err := NewBuilder(opt.Prefix)
	if err != nil {
		return nil, err
	}
	b.SetIPv6(opt.IPv6)
	return b, nil
}

// undoFailedBuild is deferred by a Build function with its named results:
// when the build failed it removes all b created (joining any cleanup
// error to *err) and returns no topology.
func undoFailedBuild(b *Builder, t **Topology, err *error) {
	if *err == nil {
		return
	}
	if cerr := b.Close(); cerr != nil {
		*err = errors.Join(*err, fmt.Errorf("lab: cleanup after failed build: %w", cerr))
	}
	*t = nil
}

// addReals appends n real servers rs1, rs2, … to t: interface eth0,
// switch or router port name+portSuffix, RIP the host number first, first+1,
// … in net4 and, in a dual-stack lab, the same host numbers in net6.
func (t *Topology) addReals(n int, net4, net6 netip.Prefix, first int, portSuffix string) {
	base := net4.Addr().As4()
	for i := 0; i < n; i++ {
		name := "rs" + strconv.Itoa(i+1)
		a := base
		a[3] = byte(first + i)
		r := Real{Name: name, NS: t.NS(name), If: "eth0", SwitchPort: name + portSuffix, RIP: netip.AddrFrom4(a)}
		if t.DualStack() {
			r.RIP6 = hostIn6(net6, first+i)
		}
		t.Reals = append(t.Reals, r)
	}
}

// addNamespaces creates the namespaces of roles and then of every real
// server, calling step (when not nil) with "ns <role>" before each.
func (t *Topology) addNamespaces(step func(string) error, roles ...string) error {
	for _, r := range t.Reals {
		roles = append(roles, r.Name)
	}
	for _, role := range roles {
		if step != nil {
			if err := step("ns " + role); err != nil {
				return err
			}
		}
		if _, err := t.AddNamespace(role); err != nil {
			return err
		}
	}
	return nil
}

// addClientVIPRoutes puts the VIP networks on-link on the client's
// interface: the client then ARPs (or solicits) for a VIP itself.
func (t *Topology) addClientVIPRoutes() error {
	if err := t.AddRoute(t.ClientNS, Route{Dst: t.VIPNet, Dev: t.ClientIf}); err != nil {
		return err
	}
	if t.DualStack() {
		return t.AddRoute(t.ClientNS, Route{Dst: t.VIPNet6, Dev: t.ClientIf})
	}
	return nil
}

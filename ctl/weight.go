package ctl

import "net/netip"

// SetDestWeight changes only the weight of a real server, leaving its
// forwarding method and thresholds as they are; weight 0 quiesces it (no
// new connections, established ones continue), as ipvsadm -e -w 0 does.
// Unlike reading the dest and calling EditDest, it cannot undo a concurrent
// change of the other settings. Errors: ErrServiceNotDefined,
// ErrNoSuchDest, ErrRange for a negative weight.
func (m *Manager) SetDestWeight(id ServiceID, addr netip.Addr, port uint16, weight int32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, s := m.find(id.Key())
	if s == nil {
		return ErrServiceNotDefined
	}
	_, d := lookupDest(s, addr.WithZone(""), port)
	if d == nil {
		return ErrNoSuchDest
	}
	if weight < 0 {
		return ErrRange
	}
	d.Weight.Store(weight)
	m.publish(s, true)
	return nil
}

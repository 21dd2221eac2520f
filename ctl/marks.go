package ctl

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/gdirector/gdirector/vs"
)

// Errors of the firewall-mark rules (gdirector mark).
var (
	// ErrMarkExists: adding a rule that is already in the list.
	ErrMarkExists = errors.New("mark rule already exists")
	// ErrNoSuchMark: deleting a rule that is not in the list.
	ErrNoSuchMark = errors.New("no such mark rule")
)

// checkMark validates a rule before it enters the list.
func checkMark(r *vs.MarkRule) error {
	switch {
	case !r.Dst.IsValid() || !unicast(r.Dst.Unmap()):
		return fmt.Errorf("mark rule: destination %v is not a unicast address", r.Dst)
	case r.Mark == 0:
		return errors.New("mark rule: mark 0 is no mark (1..4294967295)")
	case r.Src.IsValid() && r.Src.Addr().Unmap().Is4() != r.Dst.Unmap().Is4():
		return fmt.Errorf("mark rule: source %v and destination %v are of different families", r.Src, r.Dst)
	}
	switch r.Proto {
	case 0, vs.TCP, vs.UDP, vs.SCTP:
	default:
		return fmt.Errorf("mark rule: protocol %d is not tcp, udp or sctp", r.Proto)
	}
	if len(r.Ports) > 0 && r.Proto == 0 {
		return errors.New("mark rule: ports need a protocol (-p tcp, udp or sctp)")
	}
	for _, p := range r.Ports {
		if p.Lo == 0 || p.Lo > p.Hi {
			return fmt.Errorf("mark rule: bad port range %d:%d", p.Lo, p.Hi)
		}
	}
	return nil
}

// normMark returns r with its addresses in canonical form.
func normMark(r vs.MarkRule) vs.MarkRule {
	r.Dst = r.Dst.Unmap().WithZone("")
	if r.Src.IsValid() {
		r.Src = r.Src.Masked()
		if a := r.Src.Addr(); a.Is4In6() && r.Src.Bits() >= 96 {
			r.Src = netip.PrefixFrom(a.Unmap(), r.Src.Bits()-96)
		}
	}
	r.Ports = slices.Clone(r.Ports)
	return r
}

// AddMark appends a firewall-mark rule: new connections whose packet it
// matches get its mark (the last matching rule wins), and a firewall-mark
// service with that mark receives them.
func (m *Manager) AddMark(r vs.MarkRule) error {
	r = normMark(r)
	if err := checkMark(&r); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.marks {
		if m.marks[i].Equal(&r) {
			return ErrMarkExists
		}
	}
	m.marks = append(m.marks, r)
	m.publish(nil, false)
	return nil
}

// DelMark removes the rule equal to r.
func (m *Manager) DelMark(r vs.MarkRule) error {
	r = normMark(r)
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.marks {
		if m.marks[i].Equal(&r) {
			m.marks = slices.Delete(m.marks, i, i+1)
			m.publish(nil, false)
			return nil
		}
	}
	return ErrNoSuchMark
}

// FlushMarks removes every firewall-mark rule.
func (m *Manager) FlushMarks() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.marks = nil
	m.publish(nil, false)
}

// Marks returns a copy of the rules in order.
func (m *Manager) Marks() []vs.MarkRule {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]vs.MarkRule, len(m.marks))
	for i, r := range m.marks {
		out[i] = r
		out[i].Ports = slices.Clone(r.Ports)
	}
	return out
}

package vrrp

import "fmt"

// Track is a tracked interface (keepalived's track_interface). With
// Weight 0 the instance is in fault while the interface is down (while it
// is up, with Reverse). Otherwise the weight moves the priority instead:
// a positive one is added while the interface is up, a negative one while
// it is down (Reverse swaps up and down); the sum is kept within 1..254,
// and an address owner (priority 255) keeps its priority.
type Track struct {
	Interface string
	Weight    int // -253..253
	Reverse   bool
}

// String writes the track as keepalived's configuration does.
func (t Track) String() string {
	s := t.Interface
	if t.Weight != 0 || t.Reverse {
		s += fmt.Sprintf(" weight %d", t.Weight)
	}
	if t.Reverse {
		s += " reverse"
	}
	return s
}

// Tracked applies tracks to the base priority, given which interfaces are
// up: the effective priority, and the interfaces that put the instance in
// fault (none: no fault).
func Tracked(base uint8, tracks []Track, up func(ifname string) bool) (prio uint8, faulty []string) {
	total := int(base)
	for _, t := range tracks {
		on := up(t.Interface) != t.Reverse
		switch {
		case t.Weight == 0:
			if !on {
				faulty = append(faulty, t.Interface)
			}
		case t.Weight > 0 && on, t.Weight < 0 && !on:
			total += t.Weight
		}
	}
	switch {
	case base == PriorityOwner:
		return base, faulty
	case total < 1:
		return 1, faulty
	case total >= PriorityOwner:
		return PriorityOwner - 1, faulty
	}
	return uint8(total), faulty
}

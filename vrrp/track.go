package vrrp

import "fmt"

// Track is a tracked interface (keepalived's track_interface). With
// Weight 0 the instance is in fault while the interface is down (while it
// is up, with Reverse). Otherwise the weight moves the priority instead:
// a positive one is added while the interface is up, a negative one while
// it is down, and Reverse negates what is added (keepalived's weight
// multiplier of -1: "the direction of the adjustment is reversed"); the
// sum is kept within 1..254, and an address owner (priority 255) keeps its
// priority.
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

// tracked is one thing an instance tracks, as the priority sees it: an
// interface (on: up) or a script (on: good; known: it has a result, or
// init_fail said failed).
type tracked struct {
	what    string // "interface eth1", "script chk_lb"
	script  bool
	weight  int
	reverse bool
	on      bool
	known   bool
}

// effective applies trackers to the base priority: the effective priority
// and the reasons for a fault (none: no fault). A tracker without a result
// yet (a script that has not run) moves nothing, as in keepalived, where
// it keeps the instance out of the election instead (see Node).
func effective(base uint8, items []tracked) (prio uint8, faulty []string) {
	total := int(base)
	for _, t := range items {
		if !t.known {
			continue
		}
		switch {
		case t.weight == 0:
			if t.on == t.reverse {
				state := map[bool]string{true: "up", false: "down"}[t.on]
				if t.script {
					state = map[bool]string{true: "succeeding", false: "failed"}[t.on]
				}
				faulty = append(faulty, t.what+" "+state)
			}
		case t.weight > 0 && t.on, t.weight < 0 && !t.on:
			if t.reverse {
				total -= t.weight
			} else {
				total += t.weight
			}
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

// Tracked applies interface tracks to the base priority, given which
// interfaces are up: the effective priority, and the reasons
// ("interface eth2 down") the instance is in fault (none: no fault).
func Tracked(base uint8, tracks []Track, up func(ifname string) bool) (prio uint8, faulty []string) {
	items := make([]tracked, len(tracks))
	for i, t := range tracks {
		items[i] = tracked{what: "interface " + t.Interface, weight: t.Weight, reverse: t.Reverse, on: up(t.Interface), known: true}
	}
	return effective(base, items)
}

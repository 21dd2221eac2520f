package vrrp

import (
	"slices"
	"testing"
)

func TestTracked(t *testing.T) {
	up := map[string]bool{"eth0": true, "eth1": true, "eth2": false, "eth3": false}
	isUp := func(n string) bool { return up[n] }
	for _, tc := range []struct {
		name   string
		base   uint8
		tracks []Track
		prio   uint8
		faulty []string
	}{
		{"nothing tracked", 100, nil, 100, nil},
		{"weight 0 up", 100, []Track{{Interface: "eth0"}}, 100, nil},
		{"weight 0 down: fault", 100, []Track{{Interface: "eth0"}, {Interface: "eth2"}, {Interface: "eth3"}}, 100, []string{"interface eth2 down", "interface eth3 down"}},
		{"unknown interface is down", 100, []Track{{Interface: "nosuch"}}, 100, []string{"interface nosuch down"}},
		{"weight 0 reverse: fault while up", 100, []Track{{Interface: "eth0", Reverse: true}, {Interface: "eth2", Reverse: true}}, 100, []string{"interface eth0 up"}},
		{"positive weight added while up", 100, []Track{{Interface: "eth0", Weight: 10}, {Interface: "eth2", Weight: 20}}, 110, nil},
		{"negative weight added while down", 100, []Track{{Interface: "eth0", Weight: -10}, {Interface: "eth2", Weight: -20}}, 80, nil},
		// keepalived's reverse negates the adjustment (weight ×
		// -1) and keeps when it applies: initialise_interface_tracking
		// adds weight*multiplier for a positive weight while up, a
		// negative one while down.
		{"reverse positive: subtracted while up", 100, []Track{{Interface: "eth0", Weight: 10, Reverse: true}, {Interface: "eth2", Weight: 20, Reverse: true}}, 90, nil},
		{"reverse negative: added while down", 100, []Track{{Interface: "eth0", Weight: -10, Reverse: true}, {Interface: "eth2", Weight: -20, Reverse: true}}, 120, nil},
		{"clamped to 254", 200, []Track{{Interface: "eth0", Weight: 100}}, 254, nil},
		{"clamped to 1", 50, []Track{{Interface: "eth2", Weight: -100}}, 1, nil},
		{"owner keeps 255", 255, []Track{{Interface: "eth2", Weight: -100}, {Interface: "eth3"}}, 255, []string{"interface eth3 down"}},
		{"weights and faults together", 100, []Track{{Interface: "eth0", Weight: 5}, {Interface: "eth2"}, {Interface: "eth3", Weight: -7}}, 98, []string{"interface eth2 down"}},
	} {
		prio, faulty := Tracked(tc.base, tc.tracks, isUp)
		if prio != tc.prio || !slices.Equal(faulty, tc.faulty) {
			t.Errorf("%s: Tracked = %d %q, want %d %q", tc.name, prio, faulty, tc.prio, tc.faulty)
		}
	}
	if s := (Track{Interface: "eth1", Weight: -5, Reverse: true}).String(); s != "eth1 weight -5 reverse" {
		t.Errorf("String() = %q", s)
	}
}

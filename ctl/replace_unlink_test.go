package ctl

import (
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

// A real server that a Replace drops from a service that stays is
// removed as DelDest removes it: no longer available (so connections and
// persistence templates stop using it), kept in the trash (so adding it
// back returns the same *vs.Dest) and counted.
func TestReplaceUnlinksDroppedDest(t *testing.T) {
	m := NewManager(Config{})
	id := ServiceID{Proto: vs.TCP, Addr: netip.MustParseAddr("192.0.2.1"), Port: 80}
	a := DestConfig{Addr: netip.MustParseAddr("203.0.113.1"), Port: 80, Weight: 1}
	b := DestConfig{Addr: netip.MustParseAddr("203.0.113.2"), Port: 80, Weight: 1}
	if err := m.AddService(ServiceConfig{ServiceID: id}); err != nil {
		t.Fatal(err)
	}
	m.AddDest(id, a)
	m.AddDest(id, b)
	var db *vs.Dest
	for _, d := range m.Table().Get(id.Key()).Dests {
		if d.Addr == b.Addr {
			db = d
		}
	}
	stage := func(dests ...DestConfig) func(*Manager) error {
		return func(st *Manager) error {
			if err := st.AddService(ServiceConfig{ServiceID: id}); err != nil {
				return err
			}
			for _, d := range dests {
				if err := st.AddDest(id, d); err != nil {
					return err
				}
			}
			return nil
		}
	}
	ch, err := m.Replace(stage(a))
	if err != nil {
		t.Fatal(err)
	}
	if ch.DestsRemoved != 1 || !ch.Published {
		t.Errorf("changes %+v, want one real server removed", ch)
	}
	if db.Available() {
		t.Error("the dropped real server is still available")
	}
	if _, err := m.Replace(stage(a, b)); err != nil {
		t.Fatal(err)
	}
	var back *vs.Dest
	for _, d := range m.Table().Get(id.Key()).Dests {
		if d.Addr == b.Addr {
			back = d
		}
	}
	if back != db || !back.Available() {
		t.Errorf("re-added real server: same=%v available=%v, want the trashed one back", back == db, back != nil && back.Available())
	}
}

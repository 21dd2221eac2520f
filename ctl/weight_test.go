package ctl

import (
	"errors"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

func TestSetDestWeight(t *testing.T) {
	r := newRig(t)
	if err := r.m.AddService(rrService(web())); err != nil {
		t.Fatal(err)
	}
	c := masq(rip1)
	c.UThreshold, c.LThreshold = 100, 50
	if err := r.m.AddDest(web(), c); err != nil {
		t.Fatal(err)
	}
	before := r.tbl.Load()
	changes := r.changes
	for _, tc := range []struct {
		id     ServiceID
		port   uint16
		weight int32
		err    error
	}{
		{ServiceID{Proto: vs.UDP, Addr: vip, Port: 80}, 80, 1, ErrServiceNotDefined},
		{web(), 81, 1, ErrNoSuchDest},
		{web(), 80, -1, ErrRange},
	} {
		if err := r.m.SetDestWeight(tc.id, rip1, tc.port, tc.weight); !errors.Is(err, tc.err) {
			t.Errorf("SetDestWeight(%v, %d, %d) = %v, want %v", tc.id, tc.port, tc.weight, err, tc.err)
		}
	}
	if r.tbl.Load() != before || r.changes != changes {
		t.Fatal("a failed SetDestWeight published a table")
	}
	if err := r.m.SetDestWeight(web(), rip1, 80, 0); err != nil {
		t.Fatal(err)
	}
	if r.changes != changes+1 {
		t.Fatal("no table published")
	}
	s, _ := r.m.Service(web())
	d := s.Dests[0]
	if d.Weight.Load() != 0 || d.FwdMethod() != vs.Masq || d.UThreshold.Load() != 100 || d.LThreshold.Load() != 50 || !d.Available() {
		t.Fatalf("dest after quiescing: weight %d fwd %v thresholds %d/%d", d.Weight.Load(), d.FwdMethod(), d.UThreshold.Load(), d.LThreshold.Load())
	}
	// The scheduler saw the change: rr skips a quiesced server.
	if got := s.Sched.Schedule(s, &vs.Flow{}); got != nil {
		t.Fatalf("rr scheduled quiesced dest %v", got.Addr)
	}
	if err := r.m.SetDestWeight(web(), rip1, 80, 5); err != nil {
		t.Fatal(err)
	}
	s, _ = r.m.Service(web())
	if got := s.Sched.Schedule(s, &vs.Flow{}); got == nil || s.Dests[0].Weight.Load() != 5 {
		t.Fatal("dest not back in service")
	}
}

package ctl

import (
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

// TestFindIndexed: past findScan services, find goes through the key
// index, which must follow every addition, deletion, flush and batch.
func TestFindIndexed(t *testing.T) {
	r := newRig(t)
	id := func(i int) ServiceID {
		return ServiceID{Proto: vs.TCP, Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Port: 80}
	}
	const n = 3 * findScan
	for i := 1; i <= n; i++ {
		must(t, r.m.AddService(rrService(id(i))))
	}
	check := func(present func(i int) bool) {
		t.Helper()
		for i := 1; i <= n; i++ {
			_, s := r.m.find(id(i).Key())
			if (s != nil) != present(i) || s != nil && s.id != id(i) {
				t.Fatalf("service %d: found %v, want present=%v", i, s != nil, present(i))
			}
		}
	}
	check(func(int) bool { return true })
	for i := 2; i <= n; i += 2 {
		must(t, r.m.DelService(id(i)))
	}
	check(func(i int) bool { return i%2 == 1 })
	must(t, r.m.AddService(rrService(id(2))))
	check(func(i int) bool { return i%2 == 1 || i == 2 })
	if _, err := r.m.Batch(func(st *Manager) error {
		return st.DelService(id(3))
	}); err != nil {
		t.Fatal(err)
	}
	check(func(i int) bool { return (i%2 == 1 || i == 2) && i != 3 })
	must(t, r.m.Flush())
	check(func(int) bool { return false })
}

package conntrack

import (
	"testing"

	"github.com/gdirector/gdirector/vs"
)

// TestIDReuse: a removed connection's registry id goes to the next
// connection of its shard at once (here the same tuple again), and a *Conn
// kept after its removal stays harmless: Update and Delete on it affect
// neither the connection that took its id nor the counters, and lookups
// find only the new one.
func TestIDReuse(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	old, err := tab.New(0, natParams(1000, d))
	if err != nil {
		t.Fatal(err)
	}
	old.Update(0, In, fSYN)
	id := old.id
	if !tab.Delete(old) {
		t.Fatal("delete")
	}
	p := natParams(1000, d)
	c, err := tab.New(0, p)
	if err != nil {
		t.Fatal(err)
	}
	if c.id != id {
		t.Fatalf("id %d not reused (got %d)", id, c.id)
	}
	wantCounts(t, "new", d, 0, 1)
	old.Update(1, In, fSYN) // stale: must not touch c or the counters
	if tab.Delete(old) {
		t.Fatal("stale Delete reported a removal")
	}
	wantCounts(t, "after stale use", d, 0, 1)
	if c.State() != StateNone || !c.Alive() || tab.Len() != 1 {
		t.Fatalf("new connection %s alive %v, len %d", c.StateName(), c.Alive(), tab.Len())
	}
	ik, ok := inKey(p), natOutKey(p)
	if tab.LookupIn(&ik) != c || tab.LookupOut(&ok) != c {
		t.Fatal("lookups after reuse")
	}
	n := 0
	tab.Range(func(x *Conn) bool {
		if x != c {
			t.Errorf("Range saw %p, want only %p", x, c)
		}
		n++
		return true
	})
	if n != 1 {
		t.Fatal("Range saw", n)
	}
}

// TestTemplateDeletedWhileControlling: a template deleted while it controls
// a connection (its dest left the service) is not confused with the
// connection that takes its id; the controlled connection keeps pointing at
// the dead template and releases it when it goes.
func TestTemplateDeletedWhileControlling(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	tp, err := tab.New(0, tmplParams(d, 300*sec))
	if err != nil {
		t.Fatal(err)
	}
	p := natParams(40000, d)
	p.Control = tp
	c, err := tab.New(0, p)
	if err != nil {
		t.Fatal(err)
	}
	tab.Delete(tp)
	// The template's id goes to another template.
	tp2params := tmplParams(d, 300*sec)
	tp2params.CAddr = vs.Addr16(v4(198, 51, 100, 8))
	tp2, err := tab.New(0, tp2params)
	if err != nil {
		t.Fatal(err)
	}
	if c.Control() != tp || tp.Alive() || tp2.Controlled() != 0 || tp.Controlled() != 1 {
		t.Fatalf("control %p (template %p) alive %v, controlled %d/%d", c.Control(), tp, tp.Alive(), tp.Controlled(), tp2.Controlled())
	}
	tab.Delete(c)
	if tp.Controlled() != 0 || tp2.Controlled() != 0 {
		t.Fatal("controlled after delete", tp.Controlled(), tp2.Controlled())
	}
	if d.PersistConns.Load() != 1 || tab.Len() != 1 {
		t.Fatal("persist", d.PersistConns.Load(), "len", tab.Len())
	}
}

// TestKeyInBothDirections: one key can be the in-key of a connection and
// the out-key of another; both live in the same index under the same hash,
// told apart by direction.
func TestKeyInBothDirections(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 8080, vs.Masq, 1)
	a, err := tab.New(0, natParams(40000, d)) // out-key: 203.0.113.10:8080 → 198.51.100.7:40000
	if err != nil {
		t.Fatal(err)
	}
	// b: client 203.0.113.10:8080 → "VIP" 198.51.100.7:40000, so its
	// in-key is a's out-key.
	d2 := vs.NewDest(v4(203, 0, 113, 20), 80, vs.Masq, 1)
	pb := &Params{Proto: vs.TCP, CAddr: d.Addr16, CPort: 8080, VAddr: cip, VPort: 40000,
		DAddr: d2.Addr16, DPort: 80, Fwd: vs.Masq, Dest: d2}
	b, err := tab.New(0, pb)
	if err != nil {
		t.Fatal(err)
	}
	k := a.OutKey()
	if k != b.InKey() {
		t.Fatal("keys differ")
	}
	if tab.LookupOut(&k) != a || tab.LookupIn(&k) != b {
		t.Fatal("directions mixed up")
	}
	tab.Delete(a)
	if tab.LookupOut(&k) != nil || tab.LookupIn(&k) != b {
		t.Fatal("after deleting a")
	}
	tab.Delete(b)
	if tab.LookupIn(&k) != nil || tab.Len() != 0 {
		t.Fatal("after deleting b")
	}
}

// TestExpireOverFreeIDs: after a mass removal the registry is mostly free
// ids; Expire still stays within its budget (16 free ids count as one) and
// finds the few connections left.
func TestExpireOverFreeIDs(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	var keep []*Conn
	for i := range 20000 {
		p := natParams(uint16(i%60000+1), d)
		c, err := tab.New(0, p)
		if err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			keep = append(keep, c)
		} else {
			tab.Delete(c)
		}
	}
	calls, total := 0, 0
	for tab.Len() > 0 {
		n := tab.Expire(10e9, 64)
		if n > 64 {
			t.Fatal("over budget", n)
		}
		total += n
		if calls++; calls > 20000/16/64*2+10 {
			t.Fatalf("%d calls, %d left", calls, tab.Len())
		}
	}
	if total != len(keep) {
		t.Fatal(total, len(keep))
	}
	wantCounts(t, "expired", d, 0, 0)
}

// TestLookupZeroAllocsLoaded: lookups of every kind allocate nothing on a
// table that has grown, shrunk and reused ids.
func TestLookupZeroAllocsLoaded(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	var conns []*Conn
	for i := range 30000 {
		p := natParams(uint16(i%60000+1), d)
		p.CAddr[14] = byte(i / 60000)
		c, err := tab.New(0, p)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns[:20000] {
		tab.Delete(c)
	}
	tp, err := tab.New(0, tmplParams(d, 300*sec))
	if err != nil {
		t.Fatal(err)
	}
	c := conns[25000]
	ik, ok, tk := c.InKey(), c.OutKey(), tp.InKey()
	miss := ik
	miss.DPort++
	if a := testing.AllocsPerRun(1000, func() {
		if tab.LookupIn(&ik) != c || tab.LookupOut(&ok) != c || tab.LookupTemplate(&tk) != tp || tab.LookupIn(&miss) != nil {
			panic("lookup")
		}
	}); a != 0 {
		t.Fatalf("%v allocs per lookup round", a)
	}
}

package conntrack

import (
	"testing"

	"github.com/gdirector/gdirector/vs"
)

// tmplParams is a persistence template <TCP, 198.51.100.7, 0, VIP, 80> → d.
func tmplParams(d *vs.Dest, timeout int64) *Params {
	return &Params{Proto: vs.TCP, CAddr: cip, VAddr: vip, VPort: 80, DAddr: d.Addr16, DPort: d.Port,
		Fwd: d.FwdMethod(), Dest: d, Flags: FlagTemplate, Timeout: timeout}
}

// TestTemplateLifecycle: a template is found only by LookupTemplate, counts
// in PersistConns, stays while it controls a connection (its timer starts
// again), is restarted by Touch, and expires timeout after its last use
// once nothing depends on it.
func TestTemplateLifecycle(t *testing.T) {
	const sec = int64(1e9)
	now := int64(1000) * sec
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	tp, err := tab.New(now, tmplParams(d, 300*sec))
	if err != nil {
		t.Fatal(err)
	}
	if d.PersistConns.Load() != 1 || d.InactConns.Load() != 0 || d.Stats.Conns.Load() != 0 {
		t.Fatalf("template counted as persist %d inact %d conns %d", d.PersistConns.Load(), d.InactConns.Load(), d.Stats.Conns.Load())
	}
	if tp.StateName() != "NONE" || tp.Flags()&FlagTemplate == 0 || tp.Expires() != now+300*sec {
		t.Fatalf("template %s %v expires %d", tp.StateName(), tp.Flags(), tp.Expires()-now)
	}
	// A packet whose source port is 0 must not be taken for the template.
	k := Key{Proto: vs.TCP, Src: cip, Dst: vip, DPort: 80}
	if tab.LookupIn(&k) != nil {
		t.Fatal("LookupIn found a template")
	}
	if tab.LookupTemplate(&k) != tp {
		t.Fatal("LookupTemplate")
	}
	if _, err := tab.New(now, tmplParams(d, 300*sec)); err != ErrExists {
		t.Fatalf("second template with the same key: %v", err)
	}
	// A connection with the same client port 0 key coexists.
	p0 := natParams(0, d)
	c0, err := tab.New(now, p0)
	if err != nil || tab.LookupIn(&k) != c0 || tab.LookupTemplate(&k) != tp {
		t.Fatalf("port-0 connection beside the template: %v", err)
	}
	tab.Delete(c0)

	// A controlled connection.
	p := natParams(40000, d)
	p.Control = tp
	c, err := tab.New(now, p)
	if err != nil {
		t.Fatal(err)
	}
	c.Update(now, In, fSYN)
	if tp.Controlled() != 1 || c.Control() != tp {
		t.Fatalf("controlled %d", tp.Controlled())
	}
	// The template's time passes while the connection lives: it stays,
	// with a new timeout from then.
	at := now + 301*sec
	c.Update(at-sec, In, fACK) // keep the connection alive
	tab.Expire(at, 1<<20)
	if !tp.Alive() || tp.Expires() != at+300*sec {
		t.Fatalf("template alive %v expires in %d s", tp.Alive(), (tp.Expires()-at)/sec)
	}
	// Touch restarts it from now.
	tp.Touch(at + 10*sec)
	if tp.Expires() != at+310*sec {
		t.Fatalf("touch: expires in %d s", (tp.Expires()-at)/sec)
	}
	// The connection goes; the template follows 300 s after its last use.
	tab.Delete(c)
	if tp.Controlled() != 0 {
		t.Fatalf("controlled %d after delete", tp.Controlled())
	}
	tab.Expire(at+309*sec, 1<<20)
	if !tp.Alive() {
		t.Fatal("template expired early")
	}
	tab.Expire(at+310*sec, 1<<20)
	if tp.Alive() || d.PersistConns.Load() != 0 || tab.Len() != 0 {
		t.Fatalf("template alive %v persist %d len %d", tp.Alive(), d.PersistConns.Load(), tab.Len())
	}
	// Range lists templates like connections (ipvsadm -Lc).
	tp2, _ := tab.New(now, tmplParams(d, sec))
	n := 0
	tab.Range(func(x *Conn) bool { n++; return x == tp2 })
	if n != 1 {
		t.Fatalf("Range saw %d", n)
	}
	// Update leaves a template alone.
	exp := tp2.Expires()
	tp2.Update(now+5, In, fSYN)
	if tp2.Expires() != exp || tp2.State() != StateNone {
		t.Fatal("Update changed a template")
	}
}

package vrrp

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/internal/roottest"
)

// recOwner records Acquire and Release.
type recOwner struct {
	mu  sync.Mutex
	log []string
}

func (o *recOwner) Acquire(v []netip.Prefix) error { o.add("acquire", v); return nil }
func (o *recOwner) Release(v []netip.Prefix) error { o.add("release", v); return nil }
func (o *recOwner) add(what string, v []netip.Prefix) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.log = append(o.log, fmt.Sprintf("%s %v", what, v[0].Addr()))
}
func (o *recOwner) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.log
	o.log = nil
	return l
}

// waitFor polls cond every 10 ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestNodeGroupFault runs keepalived's LVS-NAT sync group in a
// namespace: the VIP's instance on the client side, the gateway's on the
// real-server side. Alone on their links both become master together;
// when the real-server side loses its carrier its instance goes to FAULT
// and takes the VIP's with it (both give their addresses back, the fault
// and group scripts run); when the carrier returns both go to BACKUP and
// then master again together.
func TestNodeGroupFault(t *testing.T) {
	ns := roottest.TwoPairNetns(t, fmt.Sprintf("gdvrrp-grp-%d", os.Getpid()))
	dir := t.TempDir()
	out := filepath.Join(dir, "notify")
	owner := &recOwner{}
	mk := func(name, ifname string, vrid uint8, vip string) *Node {
		n, err := NewNode(Config{Name: name, Interface: ifname, VRID: vrid, Priority: 100, AdvertInt: 100 * time.Millisecond,
			Version: 3, Preempt: true, VIPs: []netip.Prefix{netip.MustParsePrefix(vip)},
			Notify: Notify{Fault: "echo " + name + " fault >> " + out, Any: "echo >> " + out}},
			Options{Owner: owner, Announce: 1})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	vip := mk("VI_VIP", "gdvrrp-c0", 51, "192.0.2.10/32")
	gw := mk("VI_GW", "gdvrrp-r0", 52, "203.0.113.254/24")
	g, err := NewNodeGroup(GroupConfig{Name: "VG", Notify: Notify{Fault: "echo group fault >> " + out, Any: "echo >> " + out}},
		[]*Node{vip, gw}, GroupOptions{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := nsutil.Do(ns, g.Start); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	// The group's state follows its members' (after their transitions).
	both := func(s State) func() bool {
		return func() bool { return vip.State() == s && gw.State() == s && g.State() == s }
	}
	waitFor(t, 3*time.Second, "both masters", both(StateMaster))
	if got := owner.take(); !slices.Equal(sorted(got), []string{"acquire 192.0.2.10", "acquire 203.0.113.254"}) {
		t.Fatalf("owner calls %q", got)
	}

	// The real servers' side loses its carrier.
	roottest.IP(t, ns, "link", "set", "gdvrrp-r1", "down")
	waitFor(t, 2*time.Second, "both in fault", both(StateFault))
	if got := owner.take(); !slices.Equal(sorted(got), []string{"release 192.0.2.10", "release 203.0.113.254"}) {
		t.Fatalf("owner calls %q", got)
	}
	waitFor(t, 2*time.Second, "the fault scripts", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), "GROUP VG FAULT 0") && strings.Contains(string(b), "VI_GW fault") &&
			strings.Contains(string(b), "VI_VIP fault") && strings.Contains(string(b), "group fault") &&
			strings.Contains(string(b), "INSTANCE VI_VIP FAULT 100")
	})
	sent := vip.Stats().AdvertsSent
	time.Sleep(300 * time.Millisecond)
	if s := vip.Stats().AdvertsSent; s != sent {
		t.Fatalf("a member in FAULT sent %d adverts", s-sent)
	}

	// Back: both go to backup, then master again, together.
	roottest.IP(t, ns, "link", "set", "gdvrrp-r1", "up")
	waitFor(t, 2*time.Second, "both masters again", both(StateMaster))
	if got := owner.take(); !slices.Equal(sorted(got), []string{"acquire 192.0.2.10", "acquire 203.0.113.254"}) {
		t.Fatalf("owner calls %q", got)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), "GROUP VG BACKUP 0\n") || !strings.Contains(string(b), "GROUP VG MASTER 0\n") {
		t.Fatalf("group notifications:\n%s", b)
	}
}

// TestNodeTrackWeight: a weighted tracked interface moves a lone node's
// priority instead of putting it in FAULT; a node whose own interface
// goes down goes to FAULT.
func TestNodeTrackWeight(t *testing.T) {
	ns := roottest.TwoPairNetns(t, fmt.Sprintf("gdvrrp-grp-%d", os.Getpid()))
	n, err := NewNode(Config{Name: "VI_W", Interface: "gdvrrp-c0", VRID: 60, Priority: 100, AdvertInt: 100 * time.Millisecond,
		Version: 3, Preempt: true, VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.20/32")},
		Track: []Track{{Interface: "gdvrrp-r0", Weight: -30}, {Interface: "gdvrrp-nosuch", Weight: -5, Reverse: true}}},
		Options{Announce: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := nsutil.Do(ns, n.Start); err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	prio := func() uint8 {
		var p uint8
		n.lp.do(func(time.Time) error { p = n.m.Priority(); return nil })
		return p
	}
	if p := prio(); p != 105 { // gdvrrp-nosuch is down: -5 reversed
		t.Fatalf("priority %d, want 105", p)
	}
	roottest.IP(t, ns, "link", "set", "gdvrrp-r1", "down")
	waitFor(t, 2*time.Second, "priority 75", func() bool { return prio() == 75 })
	if n.State() == StateFault {
		t.Fatal("a weighted track put the node in FAULT")
	}
	roottest.IP(t, ns, "link", "set", "gdvrrp-c0", "down")
	waitFor(t, 2*time.Second, "FAULT", func() bool { return n.State() == StateFault })
	roottest.IP(t, ns, "link", "set", "gdvrrp-c0", "up")
	waitFor(t, 2*time.Second, "out of FAULT", func() bool { return n.State() != StateFault })
	if err := n.SetPriority(200); err != nil {
		t.Fatal(err)
	}
	if p := prio(); p != 175 {
		t.Fatalf("priority %d after SetPriority(200), want 175", p)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// TestNodeTrackScript: tracked scripts (keepalived's vrrp_script) on a
// lone node. A weight-0 script that fails its first run makes the node
// start in FAULT (it never elects, as keepalived's instance stays in INIT
// until its scripts report); when it succeeds the node leaves FAULT and
// becomes master; a weighted script moves the priority; failing again
// puts the node back in FAULT, giving its address back.
func TestNodeTrackScript(t *testing.T) {
	ns := roottest.TwoPairNetns(t, fmt.Sprintf("gdvrrp-grp-%d", os.Getpid()))
	dir := t.TempDir()
	okFile, wFile := filepath.Join(dir, "ok"), filepath.Join(dir, "w")
	if err := os.WriteFile(wFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	own := &recOwner{}
	n, err := NewNode(Config{Name: "VI_S", Interface: "gdvrrp-c0", VRID: 61, Priority: 100, AdvertInt: 100 * time.Millisecond,
		Version: 3, Preempt: true, VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.21/32")},
		Scripts: []TrackScript{
			{Script: ScriptConfig{Name: "chk_ok", Command: "test -e " + okFile, Interval: 50 * time.Millisecond}},
			{Script: ScriptConfig{Name: "chk_w", Command: "test -e " + wFile, Interval: 50 * time.Millisecond}, Weight: -30},
		}},
		Options{Owner: own, Announce: 1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := nsutil.Do(ns, n.Start); err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	if st := n.State(); st != StateFault {
		t.Fatalf("state %v after Start with chk_ok failing, want FAULT", st)
	}
	if err := os.WriteFile(okFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "MASTER", func() bool { return n.State() == StateMaster })
	if p := n.Priority(); p != 100 {
		t.Fatalf("priority %d with both scripts good, want 100", p)
	}
	os.Remove(wFile)
	waitFor(t, 3*time.Second, "priority 70", func() bool { return n.Priority() == 70 })
	if got := n.Scripts(); !slices.Equal(got, []ScriptState{{Name: "chk_ok", Status: ScriptGood}, {Name: "chk_w", Status: ScriptFailed, Weight: -30}}) {
		t.Fatalf("Scripts() = %+v", got)
	}
	if n.State() != StateMaster {
		t.Fatalf("a weighted script changed the state to %v", n.State())
	}
	os.Remove(okFile)
	waitFor(t, 3*time.Second, "FAULT", func() bool { return n.State() == StateFault })
	if got := own.take(); !slices.Equal(got, []string{"acquire 192.0.2.21", "release 192.0.2.21"}) {
		t.Fatalf("owner calls %q", got)
	}
}

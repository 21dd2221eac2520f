package datapath

import (
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
	"github.com/gdirector/gdirector/vs"
)

// synTo sends a SYN from src:sport to VIP:dport through the rig and returns
// the real server it went to (nil if not forwarded) and the reason.
func synTo(t *testing.T, r *rig, src netip.Addr, sport, dport uint16) (netip.Addr, uint16, forward.Reason) {
	t.Helper()
	syn := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: src, Dst: vip, Proto: header.ProtoTCP, SPort: sport, DPort: dport, TCPFlags: header.TCPSyn})
	_, out, why := step(t, r.w, r.clk.Now(), syn)
	if why != forward.Pass {
		return netip.Addr{}, 0, why
	}
	var p header.Parsed
	if st := header.Decode(out, &p); st != header.OK {
		t.Fatal(st)
	}
	return header.AddrFrom16(p.Dst), p.DPort, why
}

func persistent(r *rig, timeout uint32, mask uint32) {
	r.svc.Flags |= vs.SvcPersistent
	r.svc.Timeout = timeout
	r.svc.Netmask = mask
}

// TestPersistence: -p keeps a client on the dest its first connection got,
// across new connections, for the persistence timeout after the last one;
// -M groups clients by network; a quiesced dest keeps its clients; a
// removed dest loses them.
func TestPersistence(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	persistent(r, 300, 0xffffffff)
	other := netip.MustParseAddr("198.51.100.3")
	far := netip.MustParseAddr("198.51.100.200")

	var got []netip.Addr
	for i := uint16(0); i < 4; i++ {
		d, _, why := synTo(t, r, cip, 40000+i, 80)
		if why != forward.Pass {
			t.Fatalf("SYN %d: %v", i, why)
		}
		got = append(got, d)
	}
	if got[0] != rip1 || got[1] != rip1 || got[2] != rip1 || got[3] != rip1 {
		t.Fatalf("one client's connections went to %v, want all to rs1", got)
	}
	if d, _, _ := synTo(t, r, other, 1000, 80); d != rip2 {
		t.Fatalf("a second client went to %v, want rs2 (rr moved on once)", d)
	}
	if r.dests[0].PersistConns.Load() != 1 || r.dests[1].PersistConns.Load() != 1 {
		t.Fatalf("PersistConns %d %d, want one template each", r.dests[0].PersistConns.Load(), r.dests[1].PersistConns.Load())
	}
	var tmpl *conntrack.Conn
	r.d.conns.Range(func(c *conntrack.Conn) bool {
		if c.Flags()&conntrack.FlagTemplate != 0 && c.Dest == r.dests[0] {
			tmpl = c
		}
		return true
	})
	if tmpl == nil || tmpl.Controlled() != 4 || tmpl.CPort != 0 || tmpl.VPort != 80 || tmpl.DPort != 80 {
		t.Fatalf("rs1's template: %+v", tmpl)
	}

	// Quiescing rs1 (weight 0) keeps its client there; a new client goes
	// to rs2.
	r.dests[0].Weight.Store(0)
	r.svc.Sched.Update(r.svc)
	if d, _, _ := synTo(t, r, cip, 41000, 80); d != rip1 {
		t.Fatalf("quiesced: the client went to %v, want still rs1", d)
	}
	if d, _, _ := synTo(t, r, far, 1000, 80); d != rip2 {
		t.Fatalf("quiesced: a new client went to %v, want rs2", d)
	}
	r.dests[0].Weight.Store(1)
	r.svc.Sched.Update(r.svc)

	// The template outlives its connections by the timeout.
	r.d.conns.Range(func(c *conntrack.Conn) bool {
		if c.Flags()&conntrack.FlagTemplate == 0 {
			r.d.conns.Delete(c)
		}
		return true
	})
	r.clk.Advance(299e9)
	r.d.conns.Expire(r.clk.Now(), 1<<20)
	if !tmpl.Alive() {
		t.Fatal("template expired before its timeout")
	}
	r.clk.Advance(2e9)
	r.d.conns.Expire(r.clk.Now(), 1<<20)
	if tmpl.Alive() || r.dests[0].PersistConns.Load() != 0 {
		t.Fatal("template did not expire after its timeout")
	}

	// A dest that leaves the service loses its clients' templates.
	d, _, _ := synTo(t, r, cip, 42000, 80)
	idx := 0
	if d == rip2 {
		idx = 1
	}
	r.dests[idx].Flags.And(^vs.DestAvailable)
	r.svc.Dests = []*vs.Dest{r.dests[1-idx]}
	r.svc.Sched.Update(r.svc)
	if d2, _, _ := synTo(t, r, cip, 42001, 80); d2 == d || !d2.IsValid() {
		t.Fatalf("after %v left, the client went to %v", d, d2)
	}
}

// TestPersistenceNetmask: -M 255.255.255.0 keeps a whole /24 together.
func TestPersistenceNetmask(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	persistent(r, 300, 0xffffff00)
	a, _, _ := synTo(t, r, cip, 1000, 80)
	b, _, _ := synTo(t, r, netip.MustParseAddr("198.51.100.77"), 1000, 80)
	if a != b {
		t.Fatalf("two clients of one /24 went to %v and %v", a, b)
	}
	var tmplSrc netip.Addr
	r.d.conns.Range(func(c *conntrack.Conn) bool {
		if c.Flags()&conntrack.FlagTemplate != 0 {
			tmplSrc = header.AddrFrom16(c.CAddr)
		}
		return true
	})
	if tmplSrc != netip.MustParseAddr("198.51.100.0") {
		t.Fatalf("template client %v, want the network 198.51.100.0", tmplSrc)
	}
}

// TestPersistencePortZero: a persistent port-zero service (VIP:0) sends a
// client's connections to any port to one dest, each to its own port;
// without persistence a port-zero service schedules nothing (as IPVS).
func TestPersistencePortZero(t *testing.T) {
	r := newRig(t, vs.TCP, 0)
	for _, d := range r.dests {
		d.Port = 0
	}
	if _, _, why := synTo(t, r, cip, 1000, 443); why != forward.DropNoService {
		t.Fatalf("non-persistent port zero: %v", why)
	}
	persistent(r, 300, 0xffffffff)
	d1, p1, _ := synTo(t, r, cip, 1001, 80)
	d2, p2, _ := synTo(t, r, cip, 1002, 443)
	if d1 != d2 || !d1.IsValid() || p1 != 80 || p2 != 443 {
		t.Fatalf("80 → %v:%d, 443 → %v:%d; want one dest, ports kept", d1, p1, d2, p2)
	}
	n := 0
	r.d.conns.Range(func(c *conntrack.Conn) bool {
		if c.Flags()&conntrack.FlagTemplate != 0 {
			n++
			if c.VPort != 0 {
				t.Errorf("port-zero template with vport %d", c.VPort)
			}
		}
		return true
	})
	if n != 1 {
		t.Fatalf("%d templates, want 1", n)
	}
}

func TestPersistNet(t *testing.T) {
	a6 := netip.MustParseAddr("2001:db8:1:2:3:4:5:6").As16()
	if got := netip.AddrFrom16(persistNet(a6, true, 64)); got != netip.MustParseAddr("2001:db8:1:2::") {
		t.Errorf("/64: %v", got)
	}
	if got := netip.AddrFrom16(persistNet(a6, true, 60)); got != netip.MustParseAddr("2001:db8:1::") {
		t.Errorf("/60: %v", got)
	}
	if got := persistNet(a6, true, 128); got != a6 {
		t.Errorf("/128 changed the address")
	}
	a4 := netip.MustParseAddr("198.51.100.77").As16()
	if got := netip.AddrFrom16(persistNet(a4, false, 0xffff0000)).Unmap(); got != netip.MustParseAddr("198.51.0.0") {
		t.Errorf("/16: %v", got)
	}
	if got := netip.AddrFrom16(markAddr(10, false)).Unmap(); got != netip.MustParseAddr("0.0.0.10") {
		t.Errorf("mark as IPv4: %v", got)
	}
}

// TestFirewallMarkPersistence: the LVS classic — mark rules put VIP:80 and
// VIP:443 in firewall-mark service 10, persistent, so one client's HTTP and
// HTTPS connections go to the same real server, each to its own port.
// Another port of the VIP has no service.
func TestFirewallMarkPersistence(t *testing.T) {
	r := newRig(t, vs.TCP, 80)
	for _, d := range r.dests {
		d.Port = 0
	}
	r.svc.Key = vs.ServiceKey{FwMark: 10}
	r.svc.Addr, r.svc.Port, r.svc.Proto, r.svc.FwMark = netip.Addr{}, 0, 0, 10
	persistent(r, 300, 0xffffffff)
	tbl := vs.NewTableMarks([]*vs.Service{r.svc}, []vs.MarkRule{{Dst: vip, Proto: vs.TCP, Ports: []vs.PortRange{{Lo: 80, Hi: 80}, {Lo: 443, Hi: 443}}, Mark: 10}})
	r.tbl.Store(tbl)
	r.d.TableChanged(tbl)
	r.w.tbl, r.wr.tbl = tbl, tbl

	d80, p80, why := synTo(t, r, cip, 1000, 80)
	d443, p443, why2 := synTo(t, r, cip, 1001, 443)
	if why != forward.Pass || why2 != forward.Pass || d80 != d443 || p80 != 80 || p443 != 443 {
		t.Fatalf("80 → %v:%d (%v), 443 → %v:%d (%v); want one real server, ports kept", d80, p80, why, d443, p443, why2)
	}
	other := netip.MustParseAddr("198.51.100.3")
	if d, _, _ := synTo(t, r, other, 1000, 443); d == d80 {
		t.Fatalf("a second client went to the same server %v (rr should move on)", d)
	}
	if _, _, why := synTo(t, r, cip, 1002, 8080); why != forward.DropNoService {
		t.Fatalf("unmarked port: %v", why)
	}
	var tmpl *conntrack.Conn
	r.d.conns.Range(func(c *conntrack.Conn) bool {
		if c.Flags()&conntrack.FlagTemplate != 0 && c.CAddr == cip.As16() {
			tmpl = c
		}
		return true
	})
	// The kernel's fwmark template: <IP, client, 0, mark, 0>.
	if tmpl == nil || tmpl.Proto != 0 || tmpl.VPort != 0 || header.AddrFrom16(tmpl.VAddr) != netip.MustParseAddr("0.0.0.10") || tmpl.Controlled() != 2 {
		t.Fatalf("template %+v", tmpl)
	}
}

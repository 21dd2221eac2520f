package daemon

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

func TestAddresses(t *testing.T) {
	a := netip.MustParseAddr
	web := &vs.Service{Addr: a("192.0.2.10"), Dests: []*vs.Dest{vs.NewDest(a("203.0.113.11"), 80, vs.Masq, 1), vs.NewDest(a("203.0.113.12"), 80, vs.Masq, 1)}}
	dns := &vs.Service{Addr: a("192.0.2.10"), Dests: []*vs.Dest{vs.NewDest(a("203.0.113.11"), 53, vs.Masq, 1)}}
	fwm := &vs.Service{FwMark: 3, Dests: []*vs.Dest{vs.NewDest(a("203.0.113.13"), 0, vs.DirectRoute, 1)}}
	vips, rips := Addresses(vs.NewTable([]*vs.Service{web, dns, fwm}))
	if len(vips) != 1 || vips[0] != a("192.0.2.10") {
		t.Errorf("vips %v", vips)
	}
	if len(rips) != 3 {
		t.Errorf("rips %v", rips)
	}
	if v, r := Addresses(nil); v != nil || r != nil {
		t.Error("nil table")
	}
}

func TestRunRefusesBadOptions(t *testing.T) {
	ctx := context.Background()
	if err := Run(ctx, Options{CtlPath: filepath.Join(t.TempDir(), "s")}); err == nil || !strings.Contains(err.Error(), "--iface") {
		t.Errorf("no interfaces: %v", err)
	}
	if err := Run(ctx, Options{Ifaces: []string{"lo"}}); err == nil {
		t.Error("no socket path accepted")
	}
	// An interface that does not exist fails before anything is changed.
	err := Run(ctx, Options{Ifaces: []string{"gdt-no-such-if"}, CtlPath: filepath.Join(t.TempDir(), "s")})
	if err == nil || !strings.Contains(err.Error(), "gdt-no-such-if") {
		t.Errorf("missing interface: %v", err)
	}
}

func TestSolicitedNodeGroups(t *testing.T) {
	a := netip.MustParseAddr
	got := SolicitedNodeGroups([]netip.Addr{a("192.0.2.10"), a("2001:db8:2::10"), a("2001:db8:9::10"), a("2001:db8:3::1:2345"), a("::ffff:192.0.2.11")})
	want := [][6]byte{{0x33, 0x33, 0xff, 0, 0, 0x10}, {0x33, 0x33, 0xff, 0x01, 0x23, 0x45}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("groups %x, want %x (IPv4 skipped, the shared group once)", got, want)
	}
}

func TestDropSummary(t *testing.T) {
	for _, c := range []struct {
		in   map[string]uint64
		want string
	}{
		{nil, ""},
		{map[string]uint64{"no_service": 0}, ""},
		{map[string]uint64{"table_full": 2, "no_dest": 0, "bad_checksum": 7}, "bad_checksum=7 table_full=2"},
	} {
		if got := dropSummary(c.in); got != c.want {
			t.Errorf("dropSummary(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

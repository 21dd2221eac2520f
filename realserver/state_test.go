package realserver

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fakeSysctls points sysctlRoot at a temporary tree holding vals.
func fakeSysctls(t *testing.T, vals map[string]string) {
	t.Helper()
	root := t.TempDir()
	for k, v := range vals {
		p := filepath.Join(root, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := sysctlRoot
	sysctlRoot = root
	t.Cleanup(func() { sysctlRoot = old })
}

func mustGet(t *testing.T, key string) string {
	t.Helper()
	v, err := getSysctl(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadState(dir, ModeDR); !errors.Is(err, ErrNoState) {
		t.Fatalf("no file: %v", err)
	}
	s := &State{
		Mode: ModeDR, Dev: "lo",
		VIPs:    []netip.Addr{vip, vip6},
		Added:   []AddedAddr{{Dev: "lo", Prefix: netip.MustParsePrefix("192.0.2.10/32")}, {Dev: "lo", Prefix: netip.MustParsePrefix("2001:db8:f::10/128")}},
		Sysctls: []SysctlChange{{Key: "net/ipv4/conf/all/arp_ignore", Old: "0", New: "1"}},
		Log:     []string{"not stored"},
		path:    StatePath(dir, ModeDR),
	}
	if err := s.save(); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(dir, ModeDR)
	if err != nil {
		t.Fatal(err)
	}
	s.Log = nil
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, s)
	}
	if fi, err := os.Stat(s.path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("state file mode: %v %v", fi, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if _, err := LoadState(dir, ModeTun); !errors.Is(err, ErrNoState) {
		t.Fatalf("other mode: %v", err)
	}
	// A file of the wrong mode, or garbage, is refused.
	if err := os.WriteFile(StatePath(dir, ModeTun), []byte(`{"mode":"dr"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(dir, ModeTun); err == nil || errors.Is(err, ErrNoState) {
		t.Fatalf("mode mismatch accepted: %v", err)
	}
	if err := os.WriteFile(StatePath(dir, ModeTun), []byte(`{`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(dir, ModeTun); err == nil {
		t.Fatal("garbage accepted")
	}
	// Nothing left to undo: saving removes the file.
	got.Added, got.Sysctls = nil, nil
	if err := got.save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.path); !os.IsNotExist(err) {
		t.Fatalf("empty state kept: %v", err)
	}
	if StatePath("", ModeDR) != "/run/gdirector-realserver/dr.json" {
		t.Fatal(StatePath("", ModeDR))
	}
}

func TestEnsureSysctlMerges(t *testing.T) {
	fakeSysctls(t, map[string]string{
		"net/ipv4/conf/all/arp_ignore":       "0",
		"net/ipv4/conf/eth0.100/arp_ignore":  "1",
		"net/ipv4/conf/all/arp_announce":     "0",
		"net/ipv4/conf/gone/arp_ignore":      "0",
		"net/ipv4/conf/default/arp_announce": "0",
	})
	s := &State{Mode: ModeDR}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.ensureSysctl("net/ipv4/conf/all/arp_ignore", "1", false))
	must(s.ensureSysctl("net/ipv4/conf/eth0.100/arp_ignore", "1", false)) // already 1: not recorded
	must(s.ensureSysctl("net/ipv4/conf/all/arp_announce", "2", false))
	must(s.ensureSysctl("net/ipv4/conf/gone/arp_ignore", "1", false))
	must(s.ensureSysctl("net/ipv4/conf/nosuch/arp_ignore", "1", true))
	if err := s.ensureSysctl("net/ipv4/conf/nosuch/arp_ignore", "1", false); err == nil {
		t.Fatal("missing mandatory key accepted")
	}
	if err := s.ensureSysctl("net/../../etc/passwd", "1", false); err == nil {
		t.Fatal("path escape accepted")
	}
	if len(s.Sysctls) != 3 || len(s.Log) != 3 {
		t.Fatalf("recorded %+v, log %q", s.Sysctls, s.Log)
	}
	// Somebody resets one; running again puts it back but keeps the
	// original old value.
	must(setSysctl("net/ipv4/conf/all/arp_ignore", "0"))
	s.Log = nil
	must(s.ensureSysctl("net/ipv4/conf/all/arp_ignore", "1", false))
	must(s.ensureSysctl("net/ipv4/conf/all/arp_announce", "2", false))
	if len(s.Sysctls) != 3 || len(s.Log) != 1 || mustGet(t, "net/ipv4/conf/all/arp_ignore") != "1" {
		t.Fatalf("second run: %+v, log %q", s.Sysctls, s.Log)
	}
	// The interface disappears; restoring skips it.
	must(os.RemoveAll(filepath.Join(sysctlRoot, "net/ipv4/conf/gone")))
	must(s.restoreSysctls(0))
	if len(s.Sysctls) != 0 {
		t.Fatalf("left recorded: %+v", s.Sysctls)
	}
	for k, v := range map[string]string{
		"net/ipv4/conf/all/arp_ignore":      "0",
		"net/ipv4/conf/all/arp_announce":    "0",
		"net/ipv4/conf/eth0.100/arp_ignore": "1",
	} {
		if got := mustGet(t, k); got != v {
			t.Errorf("%s = %s after restore, want %s", k, got, v)
		}
	}
	if _, err := os.Stat(filepath.Join(sysctlRoot, "net/ipv4/conf/gone/arp_ignore")); !os.IsNotExist(err) {
		t.Fatal("restore created a file for a vanished key")
	}
}

func TestRelaxRPFilter(t *testing.T) {
	vals := map[string]string{
		"net/ipv4/conf/all/rp_filter":     "1",
		"net/ipv4/conf/default/rp_filter": "1",
		"net/ipv4/conf/lo/rp_filter":      "0",
		"net/ipv4/conf/eth0/rp_filter":    "0",
		"net/ipv4/conf/eth1/rp_filter":    "2",
		"net/ipv4/conf/eth2/rp_filter":    "1",
		"net/ipv4/conf/gdrs0/rp_filter":   "0",
	}
	fakeSysctls(t, vals)
	s := &State{Mode: ModeTun}
	if err := s.relaxRPFilter("gdrs0"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"all": "0", "default": "1", "lo": "1", "eth0": "1", "eth1": "2", "eth2": "1", "gdrs0": "0"}
	for d, v := range want {
		if got := mustGet(t, "net/ipv4/conf/"+d+"/rp_filter"); got != v {
			t.Errorf("%s: rp_filter %s, want %s", d, got, v)
		}
	}
	// conf/all is changed last, after the interfaces were raised.
	if n := len(s.Sysctls); n != 3 || s.Sysctls[n-1].Key != "net/ipv4/conf/all/rp_filter" {
		t.Fatalf("recorded %+v", s.Sysctls)
	}
	// Idempotent.
	s.Log = nil
	if err := s.relaxRPFilter("gdrs0"); err != nil || len(s.Log) != 0 || len(s.Sysctls) != 3 {
		t.Fatalf("second run: %v %q %+v", err, s.Log, s.Sysctls)
	}
	if err := s.restoreSysctls(0); err != nil {
		t.Fatal(err)
	}
	for k, v := range vals {
		if got := mustGet(t, k); got != v {
			t.Errorf("%s = %s after restore, want %s", k, got, v)
		}
	}
	// Loose or off: nothing to do.
	for _, v := range []string{"0", "2"} {
		if err := setSysctl("net/ipv4/conf/all/rp_filter", v); err != nil {
			t.Fatal(err)
		}
		s := &State{Mode: ModeTun}
		if err := s.relaxRPFilter("gdrs0"); err != nil || len(s.Sysctls) != 0 {
			t.Fatalf("all=%s: %v %+v", v, err, s.Sysctls)
		}
	}
}

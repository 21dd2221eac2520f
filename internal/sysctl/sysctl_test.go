package sysctl

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSavedRestore(t *testing.T) {
	Root = t.TempDir()
	t.Cleanup(func() { Root = "/proc/sys" })
	p := filepath.Join(Root, "net/ipv4")
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(p, "ip_forward"), []byte("1\n"), 0o644)
	os.WriteFile(filepath.Join(p, "other"), []byte("0\n"), 0o644)
	var s Saved
	if err := s.Set("net.ipv4.ip_forward", "0", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("net.ipv4.other", "0", false); err != nil { // unchanged: not recorded
		t.Fatal(err)
	}
	if err := s.Set("net.ipv6.conf.all.forwarding", "0", true); err != nil {
		t.Fatalf("optional missing key: %v", err)
	}
	if err := s.Set("net.ipv6.conf.all.forwarding", "0", false); err == nil {
		t.Fatal("missing mandatory key accepted")
	}
	if v, _ := Get("net.ipv4.ip_forward"); v != "0" {
		t.Fatalf("got %q", v)
	}
	if err := s.Restore(); err != nil {
		t.Fatal(err)
	}
	if v, _ := Get("net.ipv4.ip_forward"); v != "1" {
		t.Fatalf("restored %q", v)
	}
}

package main

import "testing"

// TestRunStatusFlagErrors: a malformed --status address is a usage error
// (exit 2) found before the daemon starts.
func TestRunStatusFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--iface", "gdt-no-such-if", "--status", "localhost:9180"},
		{"--iface", "gdt-no-such-if", "--status", "127.0.0.1"},
		{"--iface", "gdt-no-such-if", "--status", "127.0.0.1:0"},
		{"--iface", "gdt-no-such-if", "--status", "[::1]:http"},
	} {
		if code := cmdRun(args); code != 2 {
			t.Errorf("gdirector run %q: exit %d, want 2", args, code)
		}
	}
}

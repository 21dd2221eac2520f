package main

import "testing"

// TestRunFlagErrors: bad --workers and --rx values are usage errors (exit
// 2) found before the daemon starts.
func TestRunFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--iface", "gdt-no-such-if", "--workers", "-1"},
		{"--iface", "gdt-no-such-if", "--workers", "257"},
		{"--iface", "gdt-no-such-if", "--workers", "two"},
		{"--iface", "gdt-no-such-if", "--rx", "mmap"},
		{"--iface", "gdt-no-such-if", "--rx", "Ring"},
	} {
		if code := cmdRun(args); code != 2 {
			t.Errorf("gdirector run %q: exit %d, want 2", args, code)
		}
	}
}

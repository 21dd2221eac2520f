package afpacket

import (
	"strings"
	"testing"
)

func TestParseRXMode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want RXMode
		ok   bool
	}{
		{"", RXAuto, true}, {"auto", RXAuto, true}, {"ring", RXRing, true}, {"recvmmsg", RXRecvmmsg, true},
		{"Ring", 0, false}, {"mmap", 0, false}, {" ring", 0, false}, {"recvmmsg,ring", 0, false}, {"RXMode(1)", 0, false},
	} {
		got, err := ParseRXMode(c.in)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("ParseRXMode(%q) = %v, %v", c.in, got, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "auto, ring or recvmmsg")) {
			t.Errorf("ParseRXMode(%q): error %v does not list the modes", c.in, err)
		}
		if c.ok && c.in != "" && got.String() != c.in {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	if s := RXMode(9).String(); s != "RXMode(9)" {
		t.Errorf("String of an unknown mode: %q", s)
	}
}

func FuzzParseRXMode(f *testing.F) {
	for _, s := range []string{"", "auto", "ring", "recvmmsg", "bogus", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseRXMode(s)
		if err != nil {
			if m != RXAuto {
				t.Fatalf("error with mode %v", m)
			}
			return
		}
		if s != "" && m.String() != s {
			t.Fatalf("%q parsed as %v", s, m)
		}
	})
}

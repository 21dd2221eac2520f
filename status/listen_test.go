package status

import (
	"net"
	"strings"
	"testing"
)

func TestParseListenAddr(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		loopback bool
		err      string // substring of the error; "" = accepted
	}{
		{in: "127.0.0.1:9180", want: "127.0.0.1:9180", loopback: true},
		{in: "[::1]:9180", want: "[::1]:9180", loopback: true},
		{in: "[::ffff:127.0.0.1]:80", want: "127.0.0.1:80", loopback: true},
		{in: ":9180", want: ":9180"},
		{in: "192.0.2.1:08080", want: "192.0.2.1:8080"},
		{in: "[2001:db8::1]:65535", want: "[2001:db8::1]:65535"},
		{in: "[fe80::1%eth0]:9180", want: "[fe80::1%eth0]:9180"},
		{in: "localhost:9180", err: "not an IP address"},
		{in: "127.0.0.1", err: "HOST:PORT"},
		{in: "", err: "HOST:PORT"},
		{in: "::1:80", err: "HOST:PORT"},
		{in: "127.0.0.1:0", err: "1..65535"},
		{in: "127.0.0.1:65536", err: "1..65535"},
		{in: "127.0.0.1:+80", err: "1..65535"},
		{in: "127.0.0.1:http", err: "1..65535"},
		{in: "127.0.0.1:-1", err: "1..65535"},
	} {
		got, lo, err := ParseListenAddr(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "status address") {
				t.Errorf("%q: %q, %v; want an error saying %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || lo != tc.loopback {
			t.Errorf("%q: %q loopback=%v %v; want %q loopback=%v", tc.in, got, lo, err, tc.want, tc.loopback)
		}
	}
}

func TestListen(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err == nil {
		ln.Close()
		t.Fatal("port 0 accepted")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := Listen(busy.Addr().String()); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("busy address: %v", err)
	}
}

// FuzzParseListenAddr: no panic; an accepted address is canonical (it
// parses to itself) and has an IP or empty host and a port 1..65535.
func FuzzParseListenAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9180", "[::1]:1", ":80", "[fe80::1%eth0]:9", "a:b", "", "[::ffff:1.2.3.4]:5", "1.2.3.4:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, lo, err := ParseListenAddr(s)
		if err != nil {
			return
		}
		b, lo2, err := ParseListenAddr(a)
		if err != nil || a != b || lo != lo2 {
			t.Fatalf("%q → %q, which parses to %q, %v", s, a, b, err)
		}
	})
}

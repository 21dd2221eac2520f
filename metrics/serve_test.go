package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseListenAddr(t *testing.T) {
	cases := []struct {
		in, want string
		err      string // substring of the error; "" = valid
	}{
		{in: "127.0.0.1:9102", want: "127.0.0.1:9102"},
		{in: "[::1]:9102", want: "[::1]:9102"},
		{in: ":9102", want: ":9102"},
		{in: "0.0.0.0:80", want: "0.0.0.0:80"},
		{in: "[2001:DB8::1]:9102", want: "[2001:db8::1]:9102"},
		{in: "[::ffff:192.0.2.1]:9102", want: "192.0.2.1:9102"},
		{in: "[fe80::1%eth0]:9102", want: "[fe80::1%eth0]:9102"},
		{in: "127.0.0.1:09102", want: "127.0.0.1:9102"},
		{in: "127.0.0.1:65535", want: "127.0.0.1:65535"},
		{in: "", err: "want HOST:PORT"},
		{in: "9102", err: "want HOST:PORT"},
		{in: "127.0.0.1", err: "want HOST:PORT"},
		{in: "::1:9102", err: "want HOST:PORT"},
		{in: "[::1]", err: "want HOST:PORT"},
		{in: "127.0.0.1:", err: "want a number 1..65535"},
		{in: "127.0.0.1:0", err: "want a number 1..65535"},
		{in: "127.0.0.1:65536", err: "want a number 1..65535"},
		{in: "127.0.0.1:-1", err: "want a number 1..65535"},
		{in: "127.0.0.1:+80", err: "want a number 1..65535"},
		{in: "127.0.0.1:http", err: "want a number 1..65535"},
		{in: "127.0.0.1:0x50", err: "want a number 1..65535"},
		{in: "localhost:9102", err: "not an IP address"},
		{in: "256.0.0.1:9102", err: "not an IP address"},
		{in: "[192.0.2.1]:9102", err: ""},
	}
	cases[len(cases)-1].want = "192.0.2.1:9102" // brackets around IPv4 are accepted by SplitHostPort
	for _, tc := range cases {
		got, err := ParseListenAddr(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseListenAddr(%q): %v", tc.in, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("ParseListenAddr(%q) = %q, want %q", tc.in, got, tc.want)
		case tc.err != "" && err == nil:
			t.Errorf("ParseListenAddr(%q) = %q, want an error", tc.in, got)
		case tc.err != "" && !strings.Contains(err.Error(), tc.err):
			t.Errorf("ParseListenAddr(%q): %v, want it to say %q", tc.in, err, tc.err)
		case tc.err != "" && got != "":
			t.Errorf("ParseListenAddr(%q) returned %q with its error", tc.in, got)
		}
	}
}

func FuzzParseListenAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9102", "[::1]:9102", ":9102", "[fe80::1%eth0]:1", "localhost:80", "1.2.3.4:0", "[::ffff:1.2.3.4]:65535", "", "::", "[]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseListenAddr(s)
		if err != nil {
			if got != "" {
				t.Fatalf("%q: %q returned with error %v", s, got, err)
			}
			return
		}
		// The canonical form is accepted and canonical.
		again, err := ParseListenAddr(got)
		if err != nil || again != got {
			t.Fatalf("%q → %q → %q, %v", s, got, again, err)
		}
	})
}

func TestListenRefusesBadAddress(t *testing.T) {
	if ln, err := Listen("localhost:9102"); err == nil {
		ln.Close()
		t.Fatal("Listen accepted a host name")
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestServe serves a registry on loopback, scrapes it, and checks that the
// end of the context closes the listener.
func TestServe(t *testing.T) {
	reg, err := NewRegistry(testSource())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(reg)) }()
	base := "http://" + ln.Addr().String()

	code, body := get(t, base+Path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", Path, code, body)
	}
	for _, want := range []string{
		`gdirector_ipvs_connections_total 10`,
		`gdirector_ipvs_backend_connections_active{local_address="192.0.2.10",local_mark="",local_port="80",proto="TCP",remote_address="203.0.113.11",remote_port="80"} 2`,
		`gdirector_drops_total{reason="no_service"} 3`,
		"\ngo_goroutines ",
		"\nprocess_open_fds ",
		"\npromhttp_metric_handler_errors_total{cause=\"gathering\"} 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	if code, _ := get(t, base+"/other"); code != http.StatusNotFound {
		t.Errorf("GET /other: %d, want 404", code)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts after Serve returned")
	}
}

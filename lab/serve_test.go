package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startHTTP serves HTTPHandler(name) on 127.0.0.1 for the test's duration.
func startHTTP(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeHTTPOn(ctx, ln, name) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeHTTPOn: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("ServeHTTPOn did not stop")
		}
	})
	return ln.Addr().String()
}

var testClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

func get(t *testing.T, method, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func TestHTTPServer(t *testing.T) {
	addr := startHTTP(t, "rs7")
	base := "http://" + addr

	for _, path := range []string{"/", "/anything?x=1"} {
		resp, body := get(t, http.MethodGet, base+path, nil)
		if resp.StatusCode != 200 || string(body) != "served by rs7\n" {
			t.Fatalf("GET %s: %d %q", path, resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Real-Server"); got != "rs7" {
			t.Fatalf("X-Real-Server = %q", got)
		}
		host, _, err := net.SplitHostPort(resp.Header.Get("X-Client-Addr"))
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("X-Client-Addr = %q", resp.Header.Get("X-Client-Addr"))
		}
	}

	payload := make([]byte, 3<<20+17)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{http.MethodPost, http.MethodGet} {
		resp, body := get(t, m, base+"/echo", payload)
		if resp.StatusCode != 200 || !bytes.Equal(body, payload) {
			t.Fatalf("%s /echo: status %d, %d bytes back, equal %v", m, resp.StatusCode, len(body), bytes.Equal(body, payload))
		}
		if resp.Header.Get("X-Real-Server") != "rs7" {
			t.Fatalf("/echo lacks X-Real-Server")
		}
	}
	if resp, body := get(t, http.MethodGet, base+"/echo", nil); resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("empty /echo: %d %q", resp.StatusCode, body)
	}

	for _, n := range []int{0, 1, 1000, 5<<20 + 3} {
		resp, body := get(t, http.MethodGet, fmt.Sprintf("%s/bytes?n=%d", base, n), nil)
		want := make([]byte, n)
		FillPattern(want, 0)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) || resp.ContentLength != int64(n) {
			t.Fatalf("/bytes?n=%d: status %d, %d bytes, length %d", n, resp.StatusCode, len(body), resp.ContentLength)
		}
	}
	for _, q := range []string{"", "?n=-1", "?n=x", fmt.Sprintf("?n=%d", MaxBytes+1)} {
		if resp, _ := get(t, http.MethodGet, base+"/bytes"+q, nil); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("/bytes%s: status %d, want 400", q, resp.StatusCode)
		}
	}
}

func TestPattern(t *testing.T) {
	a := make([]byte, 4096)
	FillPattern(a, 0)
	b := make([]byte, 1000)
	FillPattern(b, 1448)
	if !bytes.Equal(a[1448:2448], b) {
		t.Fatal("FillPattern is not position-based")
	}
	// Shifting by a typical segment size must change the bytes.
	if bytes.Equal(a[:1448], a[1448:2896]) {
		t.Fatal("pattern repeats with a period of one MSS")
	}
	counts := [256]int{}
	big := make([]byte, 1<<16)
	FillPattern(big, 12345)
	for _, c := range big {
		counts[c]++
	}
	for v, c := range counts {
		if c == 0 {
			t.Fatalf("byte value %d never produced", v)
		}
	}
}

func TestServeHTTPAddress(t *testing.T) {
	// Find a free port, then let ServeHTTP listen on it by address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var serveErr error
	go func() {
		serveErr = ServeHTTP(ctx, addr, "rsA")
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("ServeHTTP did not stop")
		}
	})
	var body []byte
	deadline := time.Now().Add(5 * time.Second)
	for attempt := 0; attempt < 200 && time.Now().Before(deadline); attempt++ {
		resp, err := testClient.Get("http://" + addr + "/")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if string(body) != "served by rsA\n" {
		t.Fatalf("ServeHTTP answered %q", body)
	}
	cancel()
	select {
	case <-done:
		if serveErr != nil {
			t.Fatalf("ServeHTTP returned %v after cancel", serveErr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeHTTP ignored cancellation")
	}
	if err := ServeHTTP(context.Background(), "127.0.0.1:notaport", "x"); err == nil {
		t.Fatal("ServeHTTP on a bad address succeeded")
	}
}

func TestUDPServer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeUDPOn(ctx, pc, "rs2") }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeUDPOn: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("ServeUDPOn did not stop")
		}
	}()

	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := bytes.Repeat([]byte("z"), 60000)
	for _, msg := range [][]byte{[]byte("hello"), {}, {0, 1, 2, 255}, big} {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 70000)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if want := append([]byte("rs2:"), msg...); !bytes.Equal(buf[:n], want) {
			t.Fatalf("reply to %d bytes: %d bytes %q…", len(msg), n, buf[:min(n, 20)])
		}
	}
	// A payload that cannot grow by the prefix is truncated, not dropped.
	maxMsg := bytes.Repeat([]byte("m"), 65507)
	if _, err := c.Write(maxMsg); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 70000)
	n, err := c.Read(buf)
	if err != nil || n != 65507 || !bytes.HasPrefix(buf[:n], []byte("rs2:mmm")) {
		t.Fatalf("max-size reply: %d bytes, %v", n, err)
	}
}

func TestServeUDPAddress(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Already cancelled: binds, then returns at once.
	if err := ServeUDP(ctx, "127.0.0.1:0", "x"); err != nil {
		t.Fatalf("ServeUDP with a cancelled context: %v", err)
	}
	if err := ServeUDP(context.Background(), "256.0.0.1:53", "x"); err == nil {
		t.Fatal("ServeUDP on a bad address succeeded")
	}
}

func TestRunServeGrammar(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{
		nil, {"tcp"}, {"http"}, {"udp", "--name", "x"}, {"http", "--listen"},
		{"http", "--listen", "127.0.0.1:0", "extra"}, {"udp", "--bogus"},
	} {
		var usage strings.Builder
		if err := RunServe(ctx, args, &usage); err == nil {
			t.Errorf("RunServe(%q) accepted", args)
		}
	}
	for _, args := range [][]string{
		{"http", "--listen", "127.0.0.1:0", "--name", "rs1"},
		{"udp", "--listen=127.0.0.1:0"},
		{"udp", "-listen", "127.0.0.1:0", "-name", "n"},
	} {
		if err := RunServe(ctx, args, nil); err != nil {
			t.Errorf("RunServe(%q) = %v", args, err)
		}
	}
}

func TestValidPrefix(t *testing.T) {
	for p, want := range map[string]bool{
		"gdl123": true, "a": true, "lab_1.x": true, "": false, "1abc": false, "a-b": false,
		"a/b": false, strings.Repeat("a", 40): true, strings.Repeat("a", 41): false,
	} {
		if ValidPrefix(p) != want {
			t.Errorf("ValidPrefix(%q) = %v", p, !want)
		}
	}
	if a, b := DefaultPrefix(), DefaultPrefix(); a == b || !ValidPrefix(a) || !ValidPrefix(b) {
		t.Fatalf("DefaultPrefix gave %q then %q", a, b)
	}
	if err := Cleanup("bad-prefix"); err == nil {
		t.Fatal("Cleanup accepted an invalid prefix")
	}
}

func TestBuildRejectsOptions(t *testing.T) {
	for _, o := range []Options{
		{Prefix: "ok", Reals: -1}, {Prefix: "ok", Reals: MaxReals + 1},
		{Prefix: "ok", MTU: 20}, {Prefix: "bad-prefix"},
	} {
		if topo, err := Build(o); err == nil {
			topo.Close()
			t.Errorf("Build(%+v) accepted", o)
		}
	}
}

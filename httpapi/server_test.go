package httpapi

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConfigCheck(t *testing.T) {
	full := Config{Addr: "127.0.0.1:0", CertFile: "c", KeyFile: "k", TokenFile: "t"}
	if err := full.Check(); err != nil || !full.Enabled() {
		t.Fatalf("full config: %v", err)
	}
	if (Config{}).Enabled() {
		t.Fatal("empty config enabled")
	}
	for _, tc := range []struct {
		c    Config
		miss string
	}{
		{Config{Addr: "127.0.0.1:0"}, "missing --api-cert FILE, --api-key FILE, --api-token-file FILE"},
		{Config{Addr: "127.0.0.1:0", CertFile: "c", KeyFile: "k"}, "missing --api-token-file FILE"},
		{Config{CertFile: "c", KeyFile: "k", TokenFile: "t"}, "missing --api ADDR"},
	} {
		err := tc.c.Check()
		if !tc.c.Enabled() || err == nil || !strings.Contains(err.Error(), tc.miss) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.miss)
		}
		if _, err := Listen(tc.c); err == nil {
			t.Errorf("Listen(%+v) accepted", tc.c)
		}
	}
}

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, data string
		mode       os.FileMode
		want, err  string
	}{
		{"ok", testToken + "\n", 0o600, testToken, ""},
		{"crlf", "  " + testToken + "\r\n", 0o600, testToken, ""},
		{"read-only", testToken, 0o400, testToken, ""},
		{"world-readable", testToken, 0o644, "", "permissions 0644 for token file"},
		{"other-readable", testToken, 0o604, "", "permissions 0604"},
		{"group-readable", testToken, 0o640, "", "must not be accessible by group or others"},
		{"group-writable", testToken, 0o620, "", "permissions 0620"},
		{"empty", "", 0o600, "", "the token has 0 characters"},
		{"short", "0123456789abcde\n", 0o600, "", "the token has 15 characters; use at least 16"},
		{"two words", "0123456789abcdef 0123456789abcdef", 0o600, "", "one word"},
		{"two lines", testToken + "\n" + testToken + "\n", 0o600, "", "one word"},
		{"big", strings.Repeat("a", maxTokenFile+1), 0o600, "", "larger than 4096 bytes"},
	} {
		got, err := LoadToken(write(tc.name, tc.data, tc.mode))
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || got != ""):
			t.Errorf("%s: %q %v, want error %q", tc.name, got, err, tc.err)
		}
	}
	if _, err := LoadToken(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	if _, err := LoadToken(filepath.Join(dir, "missing")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestListenAndServe runs the API as the daemon does: from files, on a
// real socket.
func TestListenAndServe(t *testing.T) {
	cert := newCert(t)
	certFile, keyFile, tokenFile := writeFiles(t, cert, testToken+"\n", 0o600)
	var logMu sync.Mutex
	var logs []string
	cfg := Config{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, TokenFile: tokenFile, Logf: func(f string, a ...any) {
		logMu.Lock()
		logs = append(logs, fmt.Sprintf(f, a...))
		logMu.Unlock()
	}}
	srv, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	m, mux := newMux()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, m, mux) }()
	defer func() {
		cancel()
		<-done
	}()
	url := "https://" + addr + "/v1/ipvsadm"

	post := func(c *http.Client, auth, body string) (*http.Response, error) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return c.Do(req)
	}
	// TLS 1.2 and 1.3 with the token work.
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		resp, err := post(cert.client(v, v), "Bearer "+testToken, `{"args":["-A","-t","192.0.2.10:80","-s","rr"]}`)
		if err != nil {
			t.Fatalf("TLS %x: %v", v, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.TLS.Version != v {
			t.Fatalf("TLS %x: %d %s", v, resp.StatusCode, b)
		}
	}
	if len(m.Table().Services) != 1 {
		t.Fatalf("services %d", len(m.Table().Services))
	}
	// TLS 1.1 and older are refused at the handshake.
	if _, err := post(cert.client(tls.VersionTLS10, tls.VersionTLS11), "Bearer "+testToken, `{"args":["-C"]}`); err == nil {
		t.Fatal("TLS 1.1 accepted")
	}
	// A client that does not trust the certificate fails.
	if _, err := post(&http.Client{Timeout: 5 * time.Second}, "Bearer "+testToken, `{"args":["-C"]}`); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	// Plain HTTP on the port is answered with an error, never served.
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	body := `{"args":["-C"]}`
	fmt.Fprintf(c, "POST /v1/ipvsadm HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", testToken, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("plain HTTP: %d", resp.StatusCode)
	}
	// Wrong token over TLS.
	resp, err = post(cert.client(0, 0), "Bearer nope-nope-nope-nope", `{"args":["-C"]}`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	if len(m.Table().Services) != 1 {
		t.Fatal("a refused request changed the table")
	}

	// A second server cannot take the port.
	cfg.Addr = addr
	if s2, err := Listen(cfg); err == nil {
		s2.Close()
		t.Fatal("second Listen on the same address succeeded")
	}

	// Cancelling stops the server and frees the port.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	done <- nil // for the deferred wait
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("port still open after Serve returned")
	}
	logMu.Lock()
	defer logMu.Unlock()
	if len(logs) == 0 || !strings.Contains(strings.Join(logs, "\n"), "remote API") {
		t.Errorf("handshake failures not logged: %q", logs)
	}
}

func TestListenRefuses(t *testing.T) {
	cert := newCert(t)
	certFile, keyFile, tokenFile := writeFiles(t, cert, testToken, 0o600)
	_, _, openToken := writeFiles(t, cert, testToken, 0o644)
	for name, tc := range map[string]struct {
		cfg Config
		err string
	}{
		"open token file": {Config{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, TokenFile: openToken}, "too open"},
		"key as cert":     {Config{Addr: "127.0.0.1:0", CertFile: keyFile, KeyFile: keyFile, TokenFile: tokenFile}, "certificate"},
		"cert as key":     {Config{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: certFile, TokenFile: tokenFile}, "certificate"},
		"missing cert":    {Config{Addr: "127.0.0.1:0", CertFile: certFile + ".no", KeyFile: keyFile, TokenFile: tokenFile}, "no such file"},
		"bad address":     {Config{Addr: "127.0.0.1:99999", CertFile: certFile, KeyFile: keyFile, TokenFile: tokenFile}, "invalid port"},
	} {
		s, err := Listen(tc.cfg)
		if err == nil {
			s.Close()
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", name, err, tc.err)
		}
	}
}

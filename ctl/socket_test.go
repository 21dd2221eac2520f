package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func echo(argv []string) (string, string, int) {
	if len(argv) > 0 && argv[0] == "panic" {
		panic("boom")
	}
	return strings.Join(argv, " ") + "\n", "err\n", len(argv)
}

// startServe runs Serve in the background and waits until it is ready.
func startServe(t *testing.T, path string, h Handler) (cancel func() error) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, path, h, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		stop()
		t.Fatalf("Serve: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve not ready")
	}
	return func() error {
		stop()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return")
			return nil
		}
	}
}

func TestServeAndCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	cancel := startServe(t, path, echo)

	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v", fi.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("leftover files next to the socket: %v", entries)
	}

	resp, err := Call(path, []string{"-L", "-n"})
	if err != nil {
		t.Fatal(err)
	}
	if resp != (Response{Stdout: "-L -n\n", Stderr: "err\n", Code: 2}) {
		t.Fatalf("response %+v", resp)
	}
	if resp, err := Call(path, nil); err != nil || resp.Code != 0 {
		t.Fatalf("empty argv: %+v %v", resp, err)
	}
	if resp, err := Call(path, []string{"panic"}); err != nil || resp.Code != 255 || !strings.Contains(resp.Stderr, "boom") {
		t.Fatalf("panic: %+v %v", resp, err)
	}

	// Several requests on one connection; the wire format.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for _, argv := range []string{`["-a"]`, `["-b","c"]`} {
		if _, err := c.Write([]byte(`{"argv":` + argv + "}\n")); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if _, ok := m["stdout"]; !ok || m["code"] == nil || m["stderr"] == nil {
			t.Fatalf("wire format %s", line)
		}
	}
	// A malformed request gets an error answer and the connection closes.
	c.Write([]byte("{nope\n"))
	line, _ := r.ReadString('\n')
	var bad Response
	if json.Unmarshal([]byte(line), &bad); bad.Code != 2 || bad.Stderr == "" {
		t.Fatalf("bad request answer %q", line)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("connection not closed after a bad request")
	}
	c.Close()

	// An open idle connection does not keep Serve from stopping.
	idle, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := cancel(); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("socket not removed")
	}
	if _, err := Call(path, []string{"-v"}); err == nil {
		t.Fatal("Call succeeded without a server")
	}
}

func TestServeRefusesRunningDaemon(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	cancel := startServe(t, path, echo)
	defer cancel()
	err := Serve(context.Background(), path, echo)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Serve: %v", err)
	}
	if resp, err := Call(path, []string{"x"}); err != nil || resp.Stdout != "x\n" {
		t.Fatalf("first daemon disturbed: %+v %v", resp, err)
	}
}

func TestServeReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, nobody answers
	if _, err := os.Lstat(path); err != nil {
		t.Fatal(err)
	}
	cancel := startServe(t, path, echo)
	if resp, err := Call(path, []string{"y"}); err != nil || resp.Stdout != "y\n" {
		t.Fatalf("%+v %v", resp, err)
	}
	if err := cancel(); err != nil {
		t.Fatal(err)
	}
}

func TestServeKeepsOtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Serve(context.Background(), path, echo); err == nil {
		t.Fatal("Serve replaced a regular file")
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Fatal("file changed")
	}
}

func TestServeLongPath(t *testing.T) {
	dir := t.TempDir()
	for len(dir) < 85 {
		dir = filepath.Join(dir, "dddddddddd")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.sock")
	if len(path) > maxSockPath {
		t.Skip("temp dir too long")
	}
	cancel := startServe(t, path, echo)
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi, err)
	}
	if resp, err := Call(path, []string{"z"}); err != nil || resp.Stdout != "z\n" {
		t.Fatalf("%+v %v", resp, err)
	}
	if err := cancel(); err != nil {
		t.Fatal(err)
	}
}

package ctl

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckSize: a request fits when its JSON line is at most MaxRequest
// bytes; the daemon receives such a request whole.
func TestCheckSize(t *testing.T) {
	// {"argv":["-R"],"input":"…"} plus the newline: 28 bytes around the input.
	overhead := len(`{"argv":["-R"],"input":""}`) + 1
	fits := Request{Argv: []string{"-R"}, Input: strings.Repeat("a", MaxRequest-overhead)}
	if err := CheckSize(fits); err != nil {
		t.Fatalf("a request of exactly MaxRequest bytes: %v", err)
	}
	over := fits
	over.Input += "a"
	if err := CheckSize(over); !errors.Is(err, ErrRequestTooLarge) || !strings.Contains(err.Error(), "at most 1048576") {
		t.Fatalf("one byte more: %v", err)
	}
	// Escapes count: a newline is two bytes in JSON.
	esc := Request{Argv: []string{"-R"}, Input: strings.Repeat("\n", (MaxRequest-overhead)/2+1)}
	if err := CheckSize(esc); !errors.Is(err, ErrRequestTooLarge) {
		t.Fatalf("escaped input: %v", err)
	}

	path := filepath.Join(t.TempDir(), "ctl.sock")
	got := make(chan string, 1)
	mux := &Mux{InputHandlers: map[string]InputHandler{"": func(argv []string, in io.Reader) (string, string, int) {
		b, _ := io.ReadAll(in)
		got <- string(b)
		return "", "", 0
	}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- mux.Serve(ctx, path, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	if resp, err := Send(path, fits); err != nil || resp.Code != 0 {
		t.Fatalf("Send of the largest request: %+v %v", resp, err)
	}
	if in := <-got; in != fits.Input {
		t.Fatalf("the daemon received %d bytes of %d", len(in), len(fits.Input))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

package ctl

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testMux has a plain command, an input command and a command in both maps.
func testMux(calls *[]string) *Mux {
	return &Mux{
		Handlers: map[string]Handler{
			"": func(argv []string) (string, string, int) {
				*calls = append(*calls, "plain "+strings.Join(argv, " "))
				return "plain\n", "", 0
			},
			"both": func([]string) (string, string, int) {
				*calls = append(*calls, "both-plain")
				return "", "", 0
			},
		},
		InputHandlers: map[string]InputHandler{
			"restore": func(argv []string, in io.Reader) (string, string, int) {
				b, _ := io.ReadAll(in)
				if string(b) == "panic" {
					panic("input boom")
				}
				*calls = append(*calls, "restore "+strings.Join(argv, " ")+" <"+string(b))
				return string(b), "", len(b)
			},
			"both": func(_ []string, in io.Reader) (string, string, int) {
				*calls = append(*calls, "both-input")
				return "", "", 0
			},
		},
	}
}

func TestMuxDo(t *testing.T) {
	tests := []struct {
		req   Request
		want  Response
		calls []string
	}{
		{Request{Argv: []string{"-L"}}, Response{Stdout: "plain\n"}, []string{"plain -L"}},
		{Request{Cmd: "restore", Argv: []string{"-R"}, Input: "-C\n"}, Response{Stdout: "-C\n", Code: 3}, []string{"restore -R <-C\n"}},
		{Request{Cmd: "restore"}, Response{}, []string{"restore  <"}},
		{Request{Cmd: "both"}, Response{}, []string{"both-input"}},
		// Input for a command that reads none: refused, nothing runs.
		{Request{Argv: []string{"-C"}, Input: "x"}, Response{Stderr: "gdirector: command \"\" reads no input\n", Code: 2}, nil},
		{Request{Cmd: "nope"}, Response{Stderr: "gdirector: this daemon has no command \"nope\"\n", Code: 2}, nil},
		{Request{Cmd: "restore", Input: "panic"}, Response{Stderr: "gdirector: internal error: input boom\n", Code: 255}, nil},
	}
	for _, tc := range tests {
		var calls []string
		got := testMux(&calls).Do(tc.req)
		if got != tc.want {
			t.Errorf("Do(%+v) = %+v, want %+v", tc.req, got, tc.want)
		}
		if !reflect.DeepEqual(calls, tc.calls) {
			t.Errorf("Do(%+v) ran %q, want %q", tc.req, calls, tc.calls)
		}
	}
	var calls []string
	if got := testMux(&calls).Commands(); !reflect.DeepEqual(got, []string{"", "both", "restore"}) {
		t.Errorf("Commands() = %q", got)
	}
}

func TestMuxServeRefusesNil(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	for _, m := range []*Mux{
		{Handlers: map[string]Handler{"": nil}},
		{InputHandlers: map[string]InputHandler{"": nil}},
	} {
		if err := m.Serve(context.Background(), path); err == nil {
			t.Errorf("Serve accepted %+v", m)
		}
	}
}

// TestSendInput sends standard input over the socket.
func TestSendInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	var calls []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() { done <- testMux(&calls).Serve(ctx, path, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	input := "line one\nline \"two\"\n\x00\u00e9"
	resp, err := Send(path, Request{Cmd: "restore", Argv: []string{"-R"}, Input: input})
	if err != nil || resp.Stdout != input || resp.Code != len(input) {
		t.Fatalf("Send: %+v %v", resp, err)
	}
	// Input is refused by a command that reads none, over the socket too.
	resp, err = Send(path, Request{Argv: []string{"-C"}, Input: "x"})
	if err != nil || resp.Code != 2 || !strings.Contains(resp.Stderr, "reads no input") {
		t.Fatalf("input to ipvsadm: %+v %v", resp, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if want := []string{"restore -R <" + input}; !reflect.DeepEqual(calls, want) {
		t.Fatalf("calls %q, want %q", calls, want)
	}
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		line string
		want Request
		err  string // substring of the error; "" = valid
	}{
		{`{"argv":["-L","-n"]}`, Request{Argv: []string{"-L", "-n"}}, ""},
		{`{"cmd":"mark","argv":["list"]}`, Request{Cmd: "mark", Argv: []string{"list"}}, ""},
		{`{"argv":["-R"],"input":"-C\n-A -t 192.0.2.10:80\n"}`, Request{Argv: []string{"-R"}, Input: "-C\n-A -t 192.0.2.10:80\n"}, ""},
		{`  {"argv":[]}  `, Request{Argv: []string{}}, ""},
		{`{}`, Request{}, ""},
		{`{"argv":["-L"],"stdin":"x"}`, Request{}, "unknown field"},
		{`{"argv":"-L"}`, Request{}, "cannot unmarshal"},
		{`{"argv":[1]}`, Request{}, "cannot unmarshal"},
		{`{"argv":[]}{"argv":[]}`, Request{}, "data after"},
		{`{"argv":[]} x`, Request{}, "data after"},
		{`{"argv":[]`, Request{}, "EOF"},
		{``, Request{}, "EOF"},
		{`null`, Request{}, ""},
		{`[]`, Request{}, "cannot unmarshal"},
	}
	for _, tc := range tests {
		got, err := DecodeRequest([]byte(tc.line))
		if tc.err == "" {
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DecodeRequest(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("DecodeRequest(%q) error %v, want %q", tc.line, err, tc.err)
		}
		if !reflect.DeepEqual(got, Request{}) {
			t.Errorf("DecodeRequest(%q) returned %+v with an error", tc.line, got)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"argv":["-L","-n"]}`, `{"cmd":"mark","argv":["list"]}`,
		`{"argv":["-R"],"input":"-C\n"}`, `{"argv":[]}{}`, `{"x":1}`, `null`, `{"argv":["\u00e9"]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := DecodeRequest(line)
		if err != nil {
			if !reflect.DeepEqual(req, Request{}) {
				t.Fatalf("partial request %+v with error %v", req, err)
			}
			return
		}
		// What decodes re-encodes to a line that decodes the same.
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeRequest(b)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		if again.Cmd != req.Cmd || again.Input != req.Input || !slicesEqual(again.Argv, req.Argv) {
			t.Fatalf("round trip %+v -> %s -> %+v", req, b, again)
		}
	})
}

// slicesEqual treats nil and empty alike (argv is always sent, maybe empty).
func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

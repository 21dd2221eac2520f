package traceclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/trace"
)

// fakeDaemon is a control socket that answers one connection with a
// scripted stream: it reads the request line, then writes lines one by
// one. It records the request and whether the client closed its side.
type fakeDaemon struct {
	path   string
	req    chan ctl.Request
	closed chan struct{} // the client closed (or sent a byte)
}

// serve starts a fake daemon writing lines (each followed by a newline);
// hold, when not nil, is waited on before the connection is closed
// (nothing more is written), so that the client ends the stream.
func serve(t *testing.T, lines []string, hold <-chan struct{}) *fakeDaemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "gdtc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &fakeDaemon{path: filepath.Join(dir, "ctl.sock"), req: make(chan ctl.Request, 1), closed: make(chan struct{})}
	ln, err := net.Listen("unix", d.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var req ctl.Request
		if json.Unmarshal(line, &req) == nil {
			d.req <- req
		}
		go func() {
			r.ReadByte()
			close(d.closed)
		}()
		for _, l := range lines {
			if _, err := io.WriteString(c, l+"\n"); err != nil {
				return
			}
		}
		if hold != nil {
			select {
			case <-hold:
			case <-d.closed:
			case <-time.After(10 * time.Second):
			}
		}
	}()
	return d
}

// data is a stream line carrying v.
func data(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"data":%s}`, raw)
}

func event(seq uint64) trace.Line {
	return trace.Line{Event: &trace.Record{Seq: seq, Direction: "in", Verdict: "forwarded",
		Conn: &trace.ConnRecord{Decision: "new", Client: "198.51.100.2:40000", VIP: "192.0.2.10:80"}}}
}

// follow runs Follow against d, logging every callback in order.
func follow(ctx context.Context, d *fakeDaemon, opt trace.Options, withReady bool) (log []string, resp ctl.Response, err error) {
	var opts []Option
	if withReady {
		opts = append(opts, OnReady(func() { log = append(log, "ready") }))
	}
	resp, err = Follow(ctx, d.path, opt, func(r *trace.Record) error {
		log = append(log, fmt.Sprintf("event %d %s", r.Seq, r.Conn.Client))
		return nil
	}, func(n uint64) { log = append(log, fmt.Sprintf("lost %d", n)) }, opts...)
	return log, resp, err
}

// TestFollow: the acknowledgement, events and lost counts reach their
// callbacks in the daemon's order, lines Follow does not know are
// skipped, and the end line is returned; the request carries the
// options' server arguments.
func TestFollow(t *testing.T) {
	d := serve(t, []string{
		data(t, trace.Line{Subscribed: true}),
		data(t, event(1)),
		data(t, trace.Line{Dropped: 3}),
		data(t, map[string]any{"future": "a newer daemon's line"}),
		data(t, trace.Line{Subscribed: true}), // a second ack: ready runs once
		data(t, event(2)),
		`{"end":{"stdout":"","stderr":"gdirector trace: 2 events shown, 3 lost\n","code":0}}`,
	}, nil)
	opt := trace.Options{
		Filter: trace.Filter{Client: netip.MustParsePrefix("198.51.100.0/24"), Port: 80},
		Count:  5, JSON: true, Pcap: "/nonexistent/x.pcap",
	}
	log, resp, err := follow(context.Background(), d, opt, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ready", "event 1 198.51.100.2:40000", "lost 3", "event 2 198.51.100.2:40000"}
	if !slices.Equal(log, want) {
		t.Errorf("callbacks %q, want %q", log, want)
	}
	if resp.Code != 0 || !strings.Contains(resp.Stderr, "3 lost") {
		t.Errorf("end %+v", resp)
	}
	req := <-d.req
	if req.Cmd != "trace" || !slices.Equal(req.Argv, opt.ServerArgs()) {
		t.Errorf("request %+v, want trace %q", req, opt.ServerArgs())
	}
	if slices.Contains(req.Argv, "--json") || slices.Contains(req.Argv, "--pcap") {
		t.Errorf("output options sent to the daemon: %q", req.Argv)
	}
}

// TestFollowOldDaemon: a daemon that sends no acknowledgement streams as
// before; ready is never called, and without OnReady an acknowledgement
// is skipped.
func TestFollowOldDaemon(t *testing.T) {
	d := serve(t, []string{data(t, event(7)), `{"end":{"code":0}}`}, nil)
	log, _, err := follow(context.Background(), d, trace.Options{}, true)
	if err != nil || !slices.Equal(log, []string{"event 7 198.51.100.2:40000"}) {
		t.Fatalf("old daemon: %q, %v", log, err)
	}
	d = serve(t, []string{data(t, trace.Line{Subscribed: true}), data(t, event(8)), `{"end":{"code":0}}`}, nil)
	log, _, err = follow(context.Background(), d, trace.Options{}, false)
	if err != nil || !slices.Equal(log, []string{"event 8 198.51.100.2:40000"}) {
		t.Fatalf("without OnReady: %q, %v", log, err)
	}
}

// TestFollowServerErrors: a usage error ends the stream with its code; a
// daemon refusing the command answers with a plain response; a stream
// cut before its end line, or a malformed line, is an error.
func TestFollowServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lines    []string
		code     int
		stderr   string
		err      error
		errText  string
		wantLogs []string
	}{
		{name: "usage", lines: []string{`{"end":{"stderr":"gdirector trace: bad trace arguments: --port 0\n","code":2}}`},
			code: 2, stderr: "--port 0"},
		{name: "no trace command", lines: []string{`{"stdout":"","stderr":"gdirector: this daemon has no command \"trace\"\n","code":2}`},
			code: 2, stderr: "no command"},
		{name: "cut", lines: []string{data(t, trace.Line{Subscribed: true}), data(t, event(1))},
			err: ctl.ErrStreamEnded, wantLogs: []string{"ready", "event 1 198.51.100.2:40000"}},
		{name: "bad line", lines: []string{`{"data":{"event":"not a record"}}`}, errText: "traceclient: bad trace line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := serve(t, tc.lines, nil)
			log, resp, err := follow(context.Background(), d, trace.Options{}, true)
			switch {
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
			case tc.errText != "":
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err %v, want %q", err, tc.errText)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if resp.Code != tc.code || !strings.Contains(resp.Stderr, tc.stderr) {
					t.Fatalf("end %+v, want code %d and %q", resp, tc.code, tc.stderr)
				}
			}
			if !slices.Equal(log, tc.wantLogs) {
				t.Errorf("callbacks %q, want %q", log, tc.wantLogs)
			}
		})
	}
	// Nobody listening.
	dir, err := os.MkdirTemp("", "gdtc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if _, err := Follow(context.Background(), filepath.Join(dir, "none.sock"), trace.Options{}, func(*trace.Record) error { return nil }, nil); err == nil {
		t.Fatal("Follow without a daemon succeeded")
	}
}

// TestFollowStop: an error from each, or ctx ending, stops Follow with
// that error and closes the stream (which ends the daemon's command).
func TestFollowStop(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	d := serve(t, []string{data(t, trace.Line{Subscribed: true}), data(t, event(1)), data(t, event(2))}, hold)
	stop := errors.New("enough")
	var seen []uint64
	_, err := Follow(context.Background(), d.path, trace.Options{}, func(r *trace.Record) error {
		seen = append(seen, r.Seq)
		return stop
	}, nil)
	if !errors.Is(err, stop) || !slices.Equal(seen, []uint64{1}) {
		t.Fatalf("each's error: %v after %v", err, seen)
	}
	select {
	case <-d.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream stayed open after each failed")
	}

	d = serve(t, []string{data(t, trace.Line{Subscribed: true})}, hold)
	ctx, cancel := context.WithCancel(context.Background())
	_, err = Follow(ctx, d.path, trace.Options{}, func(*trace.Record) error { return nil }, nil, OnReady(cancel))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled at the ack: %v", err)
	}
	select {
	case <-d.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream stayed open after ctx ended")
	}
}

package daemon

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/trace"
	"github.com/gdirector/gdirector/trace/traceclient"
	"github.com/gdirector/gdirector/vs"
)

// traceLab is a hub whose "data plane" is the test: install records the
// tracer (atomically: the client side of a test reads it after the
// acknowledgement, which the race detector cannot see through a socket).
type traceLab struct {
	hub       *trace.Hub
	installed atomic.Pointer[trace.Tracer]
	installs  atomic.Int32
}

func newTraceLab() *traceLab {
	l := &traceLab{}
	l.hub = trace.NewHub(func(tr *trace.Tracer) {
		l.installed.Store(tr)
		l.installs.Add(1)
	}, func() int64 { return 0 }, 16)
	return l
}

// emit has the installed tracer see a TCP SYN from client to
// 192.0.2.10:80, as a worker would: only if the tracer wants it. It
// reports whether a tracer was installed and wanted it.
func (l *traceLab) emit(client string) bool {
	tr := l.installed.Load()
	if tr == nil {
		return false
	}
	c := netip.MustParseAddr(client)
	b := make([]byte, 54)
	copy(b[0:6], []byte{2, 0, 0, 0, 0, 0x10})
	copy(b[6:12], []byte{2, 0, 0, 0, 0, 1})
	b[12] = 0x08
	ip := b[14:]
	ip[0], ip[3], ip[8], ip[9] = 0x45, 40, 64, 6
	c4 := c.As4()
	copy(ip[12:16], c4[:])
	copy(ip[16:20], []byte{192, 0, 2, 10})
	tcp := ip[20:]
	tcp[0], tcp[1], tcp[3], tcp[12], tcp[13] = 0x9c, 0x40, 80, 5<<4, 0x02
	var ev trace.Event
	ev.Start(0, 0, 0, b)
	ev.Tuple = trace.Tuple{Proto: vs.TCP, Known: true, Client: c.As16(), VIP: netip.MustParseAddr("192.0.2.10").As16(), Port: 80}
	if !tr.Wants(&ev.Tuple) {
		return false
	}
	tr.Emit(&ev)
	return true
}

// fromClient reports whether r is the packet emit sent from
// 198.51.100.2:40000.
func fromClient(r *trace.Record) bool {
	b := r.Before
	return b != nil && b.Src == netip.MustParseAddr("198.51.100.2") && b.SPort == 40000 && b.DPort == 80
}

// TestTraceHandlerAck: the stream's first line acknowledges the
// subscription, sent once the tracer is installed with the stream's
// filter, so that a packet the data plane sees right after is in the
// stream; the stream then ends at --count and the tracer is removed.
func TestTraceHandlerAck(t *testing.T) {
	l := newTraceLab()
	h := traceHandler(l.hub)
	var lines []trace.Line
	send := func(v any) error {
		line, ok := v.(trace.Line)
		if !ok {
			t.Fatalf("sent a %T", v)
		}
		if len(lines) == 0 {
			if !line.Subscribed || line.Event != nil || line.Dropped != 0 {
				t.Fatalf("first line %+v, want the acknowledgement alone", line)
			}
			// The data plane traces from now on, with this filter.
			if l.emit("198.51.100.3") {
				t.Error("the tracer wants a client outside the filter")
			}
			if !l.emit("198.51.100.2") {
				t.Fatal("acknowledged before the tracer was installed with the filter")
			}
		}
		lines = append(lines, line)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stderr, code := h(ctx, []string{"--client", "198.51.100.2", "--port", "80", "--count", "1"}, send)
	if code != 0 || stderr != "" {
		t.Fatalf("end: code %d, %q", code, stderr)
	}
	if len(lines) != 2 || lines[1].Event == nil || !fromClient(lines[1].Event) {
		t.Fatalf("lines %+v", lines)
	}
	if l.installed.Load() != nil || l.hub.Active() != 0 {
		t.Fatal("the tracer outlived the stream")
	}
	// The acknowledgement as it goes on the wire.
	raw, err := json.Marshal(trace.Line{Subscribed: true})
	if err != nil || string(raw) != `{"subscribed":true}` {
		t.Fatalf("acknowledgement %s, %v", raw, err)
	}
}

// TestTraceHandlerUsage: bad arguments are answered with exit code 2 and
// the usage, before any line: nothing is acknowledged or traced.
func TestTraceHandlerUsage(t *testing.T) {
	l := newTraceLab()
	sent := 0
	stderr, code := traceHandler(l.hub)(context.Background(), []string{"--port", "0"}, func(any) error { sent++; return nil })
	if code != 2 || !strings.Contains(stderr, trace.Usage) || sent != 0 || l.installs.Load() != 0 {
		t.Fatalf("code %d, %d lines, %d installs, stderr %q", code, sent, l.installs.Load(), stderr)
	}
}

// TestTraceStreamAck follows the handler through the control socket with
// traceclient: traffic started in OnReady is traced from its first
// packet, for the first subscriber (which installs the tracer) and for
// one joining a running trace (which only changes its filters).
func TestTraceStreamAck(t *testing.T) {
	dir, err := os.MkdirTemp("", "gdtr")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "ctl.sock")
	l := newTraceLab()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	up := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		m := &ctl.Mux{StreamHandlers: map[string]ctl.StreamHandler{"trace": traceHandler(l.hub)}}
		served <- m.Serve(ctx, sock, func() { close(up) })
	}()
	select {
	case <-up:
	case err := <-served:
		t.Fatal(err)
	}
	follow := func(name string) {
		t.Helper()
		opt := trace.Options{Filter: trace.Filter{Client: netip.MustParsePrefix("198.51.100.2/32")}, Count: 1}
		var got []*trace.Record
		ready := 0
		resp, err := traceclient.Follow(ctx, sock, opt, func(r *trace.Record) error {
			got = append(got, r)
			return nil
		}, nil, traceclient.OnReady(func() {
			ready++
			if !l.emit("198.51.100.2") {
				t.Errorf("%s: acknowledged before the tracer wanted the client", name)
			}
		}))
		if err != nil || resp.Code != 0 {
			t.Fatalf("%s: %v, end %+v", name, err, resp)
		}
		if ready != 1 || len(got) != 1 || !fromClient(got[0]) {
			t.Fatalf("%s: ready %d, events %+v", name, ready, got)
		}
	}
	follow("first subscriber")
	// Another subscriber holds the trace, with a filter that does not
	// want the client.
	other := l.hub.Subscribe(trace.Filter{Port: 8080})
	installs := l.installs.Load()
	follow("joining subscriber")
	if l.installs.Load() != installs {
		t.Error("joining a running trace installed another tracer")
	}
	other.Close()
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

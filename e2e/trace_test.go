package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/gdirector/gdirector/trace"
)

// lockedBuffer collects lines written by one goroutine and read by
// another.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) WriteLine(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
	l.b.WriteString("\n")
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// traceWhileCurling runs gdirector trace with args against e's daemon
// while the client fetches the VIP (at most 10 requests, until the trace
// has its --count events and exits) and returns its standard output.
func (e *env) traceWhileCurling(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"trace"}, args...)...)
	cmd.Env = append(os.Environ(), "GDIRECTOR_CTL="+e.sock)
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Standard error is read line by line: the trace says when it is
	// live ("tracing through"), and the lines are kept for messages.
	var errOut lockedBuffer
	live := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errOut.WriteLine(sc.Text())
			if strings.HasPrefix(sc.Text(), "gdirector trace: tracing through ") {
				close(live)
			}
		}
	}()
	done := make(chan error, 1)
	go func() { <-read; done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	select {
	case <-live:
	case err := <-done:
		t.Fatalf("gdirector trace ended before it was live: %v\n%s", err, errOut.String())
	case <-time.After(5 * time.Second):
		t.Fatalf("gdirector trace not live after 5 s:\n%s", errOut.String())
	}
	for i := 0; i < 10; i++ {
		e.curlFrom(t, e.CIP, "http://"+e.VIP.String()+"/")
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("gdirector trace: %v\n%s", err, errOut.String())
			}
			return out.String()
		case <-time.After(200 * time.Millisecond):
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gdirector trace: %v\n%s", err, errOut.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("gdirector trace did not reach its count; output so far:\n%s\n%s", out.String(), errOut.String())
	}
	return out.String()
}

func (e *env) natService(t *testing.T) {
	t.Helper()
	vip := e.VIP.String()
	e.mustIpvsadm(t, "-A", "-t", vip+":80", "-s", "rr")
	for _, rip := range e.RIPs() {
		e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", rip.String()+":80", "-m")
	}
}

// TestTrace: gdirector trace against the live daemon shows, for the
// client's requests, a new connection with rr's choice, the rewritten
// destination, and hits on the later packets; the trace stops (and the
// data plane's tracer with it) once --count events were printed.
func TestTrace(t *testing.T) {
	e := newEnv(t)
	e.natService(t)
	out := e.traceWhileCurling(t, "--client", e.CIP.String(), "--count", "12")
	t.Logf("trace:\n%s", out)
	if n := strings.Count(out, "\n#") + 1; !strings.HasPrefix(out, "#") || n != 12 {
		t.Fatalf("%d events, want 12", n)
	}
	vip := e.VIP.String() + ":80"
	for _, want := range []string{
		"client -> real server  NAT  TCP [S]  forwarded",
		"conn    new SYN_RECV",
		"sched   rr: ",
		"reply -> client  NAT",
		"conn    hit",
		"> " + vip + "  =>  ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	// The scheduler's choice is one of the real servers, and the rewritten
	// destination is that server.
	chose := false
	for _, rip := range e.RIPs() {
		if strings.Contains(out, "-> "+rip.String()+":80\n") && strings.Contains(out, "=>  "+e.CIP.String()) {
			chose = true
		}
	}
	if !chose {
		t.Errorf("no scheduler choice of a real server with its rewrite")
	}
	// A filter that matches nothing stops at its duration with nothing.
	o, errOut, code := e.gdirector(t, "trace", "--client", "198.51.100.250", "--duration", "300ms")
	if code != 0 || o != "" {
		t.Fatalf("empty trace: exit %d, %q %q", code, o, errOut)
	}
	// Bad arguments are refused with a usage error and exit 2.
	if _, errOut, code := e.gdirector(t, "trace", "--count", "0"); code != 2 || !strings.Contains(errOut, "usage: gdirector trace") {
		t.Fatalf("bad count: exit %d, %q", code, errOut)
	}
}

// TestTracePcap: with --json and --pcap, the pcap file holds every
// event's received frame and, for each forwarded one, the frame sent.
func TestTracePcap(t *testing.T) {
	e := newEnv(t)
	e.natService(t)
	file := filepath.Join(t.TempDir(), "trace.pcap")
	out := e.traceWhileCurling(t, "--client", e.CIP.String(), "--count", "10", "--json", "--pcap", file)
	var events, sent int
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r trace.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("not a JSON record: %v: %s", err, sc.Text())
		}
		events++
		if len(r.AfterFrame) > 0 {
			sent++
		}
	}
	if events != 10 || sent == 0 {
		t.Fatalf("%d events (%d sent), want 10", events, sent)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	frames := 0
	for {
		_, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames++
	}
	if frames != events+sent {
		t.Fatalf("pcap holds %d frames, want %d (%d received + %d sent)", frames, events+sent, events, sent)
	}
}

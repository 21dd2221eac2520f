package lab

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http/httptest"
	"testing"
	"time"
)

func TestParseWorkAndSpeed(t *testing.T) {
	for _, c := range []struct {
		in   string
		work bool // valid work
		sp   bool // valid speed
	}{
		{"0", true, true},
		{"0.0125", true, true},
		{"60", true, true},
		{"60.0001", false, true},
		{"1000", false, true},
		{"1000.5", false, false},
		{"-1", false, false},
		{"NaN", false, false},
		{"Inf", false, false},
		{"", false, false},
		{"1e-3", true, true},
		{"fast", false, false},
	} {
		if _, err := ParseWork(c.in); (err == nil) != c.work {
			t.Errorf("ParseWork(%q) err = %v, want valid %v", c.in, err, c.work)
		}
		if _, err := ParseSpeed(c.in); (err == nil) != c.sp {
			t.Errorf("ParseSpeed(%q) err = %v, want valid %v", c.in, err, c.sp)
		}
	}
}

func FuzzParseWork(f *testing.F) {
	for _, s := range []string{"0", "0.01", "60", "-0", "1e309", "NaN", "0x1p-3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWork(s)
		if err == nil && !(w >= 0 && w <= MaxWork) {
			t.Fatalf("ParseWork(%q) = %v, outside [0, %v]", s, w, MaxWork)
		}
		sp, err := ParseSpeed(s)
		if err == nil && !(sp >= 0 && sp <= 1000) {
			t.Fatalf("ParseSpeed(%q) = %v", s, sp)
		}
	})
}

// TestPSStateSharing walks a speed-2 queue through explicit times: two
// jobs of 10 ms and 30 ms of work arriving together share the server, so
// the first ends after 10 ms (2 × 10 ms / 2) and the second 10 ms later.
func TestPSStateSharing(t *testing.T) {
	t0 := time.Unix(1000, 0)
	q := psState{speed: 2, at: t0}
	a := &psJob{left: 0.010}
	b := &psJob{left: 0.030}
	q.jobs = append(q.jobs, a, b)
	d, ok := q.next()
	if !ok || d != 10*time.Millisecond {
		t.Fatalf("next = %v, %v; want 10ms", d, ok)
	}
	q.advance(t0.Add(d))
	done := q.finish()
	if len(done) != 1 || done[0] != a {
		t.Fatalf("finished %v, want the 10 ms job", done)
	}
	if math.Abs(b.left-0.020) > 1e-12 {
		t.Fatalf("second job has %v left, want 0.020", b.left)
	}
	d, _ = q.next() // alone now: 20 ms of work at speed 2
	if d != 10*time.Millisecond {
		t.Fatalf("next = %v, want 10ms", d)
	}
	// A third job arrives 4 ms later: b has 12 ms left, c 6 ms; they
	// share, c ends after 6 ms (2 × 6 / 2).
	q.advance(t0.Add(14 * time.Millisecond))
	c := &psJob{left: 0.006}
	q.jobs = append(q.jobs, c)
	if d, _ = q.next(); d != 6*time.Millisecond {
		t.Fatalf("next = %v, want 6ms", d)
	}
	q.advance(t0.Add(20 * time.Millisecond))
	if done = q.finish(); len(done) != 1 || done[0] != c {
		t.Fatalf("finished %v, want the third job", done)
	}
	q.advance(t0.Add(23 * time.Millisecond))
	if done = q.finish(); len(done) != 1 || done[0] != b {
		t.Fatalf("finished %v, want the second job", done)
	}
	if _, ok := q.next(); ok {
		t.Fatal("empty queue has a next completion")
	}
	if q.busy != 23*time.Millisecond {
		t.Fatalf("busy %v, want 23ms", q.busy)
	}
	// Idle time does not count as busy.
	q.advance(t0.Add(time.Second))
	if q.busy != 23*time.Millisecond {
		t.Fatalf("busy %v after idling, want 23ms", q.busy)
	}
	q.jobs = append(q.jobs, a, c)
	q.remove(a)
	if len(q.jobs) != 1 || q.jobs[0] != c {
		t.Fatalf("remove left %v", q.jobs)
	}
}

// TestPSQueueServes: a real queue finishes a request and gives up one
// whose client went away, and /work and /busy answer through the handler.
func TestPSQueueServes(t *testing.T) {
	q := NewPSQueue(1000)
	if err := q.Serve(context.Background(), 0.001); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Serve(ctx, MaxWork); err == nil {
		t.Fatal("Serve with a cancelled context returned nil")
	}
	if len(q.st.jobs) != 0 {
		t.Fatalf("%d jobs left in the queue", len(q.st.jobs))
	}
	if err := q.Serve(context.Background(), -1); err == nil {
		t.Fatal("negative work accepted")
	}

	srv := httptest.NewServer(NewHTTPHandler("rsS", HTTPOptions{Speed: 100}))
	defer srv.Close()
	resp, body := get(t, "GET", srv.URL+"/work?s=0.1", nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Real-Server") != "rsS" || string(body) != "served by rsS\n" {
		t.Fatalf("/work: %s %q", resp.Status, body)
	}
	for _, bad := range []string{"/work", "/work?s=-1", "/work?s=61", "/work?s=x"} {
		if resp, _ := get(t, "GET", srv.URL+bad, nil); resp.StatusCode != 400 {
			t.Errorf("%s: %s, want 400", bad, resp.Status)
		}
	}
	_, body = get(t, "GET", srv.URL+"/busy", nil)
	var busy float64
	if _, err := fmt.Sscanf(string(body), "busy %g", &busy); err != nil || busy <= 0 {
		t.Fatalf("/busy = %q (%v), want a positive busy time", body, err)
	}
}

func TestRunServeSpeed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{
		{"http", "--listen", addr, "--speed", "-1"},
		{"http", "--listen", addr, "--speed", "x"},
		{"udp", "--listen", addr, "--speed", "2"}, // udp has no capacity model
	} {
		if err := RunServe(context.Background(), args, nil); err == nil {
			t.Errorf("RunServe(%q) accepted", args)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunServe(ctx, []string{"http", "--listen", addr, "--speed", "50", "--name", "rsF"}, nil)
	}()
	var ok bool
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			ok = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !ok {
		t.Fatal("serve http --speed did not listen")
	}
	start := time.Now()
	resp, body := get(t, "GET", "http://"+addr+"/work?s=0.5", nil)
	if resp.StatusCode != 200 || string(body) != "served by rsF\n" {
		t.Fatalf("/work: %s %q", resp.Status, body)
	}
	// 0.5 s of work at speed 50 takes 10 ms: never less.
	if el := time.Since(start); el < 10*time.Millisecond {
		t.Fatalf("/work answered after %v, before its 10 ms of service", el)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

package status

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/header"
)

// chromium returns the path of a headless-capable Chromium. Without one the
// browser tests skip, except under CI (env CI set), where they must run.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (apt-get install chromium); CI runs the browser tests")
	}
	t.Skip("no chromium; the browser test needs Debian's chromium package")
	return ""
}

// chromiumArgs are the flags of a quiet, throwaway headless browser.
func chromiumArgs(t *testing.T) []string {
	return []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(),
	}
}

// serve serves h on a loopback port for the test's duration, counting the
// requests for the JSON document.
func serve(t *testing.T, h http.Handler) (url string, polls *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	polls = new(atomic.Int64)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == JSONPath {
				polls.Add(1)
			}
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/", polls
}

// devtools drives a browser over --remote-debugging-pipe: requests are
// JSON objects written to its fd 3, answers and events come on its fd 4,
// each terminated by a NUL byte.
type devtools struct {
	cmd  *exec.Cmd
	w    *os.File
	mu   sync.Mutex
	next int
	wait map[int]chan cdpReply
	dead chan struct{}
}

type cdpReply struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func startDevtools(t *testing.T, bin string) *devtools {
	t.Helper()
	toBrowser, ourEnd, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromBrowser, theirEnd, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append(chromiumArgs(t), "--remote-debugging-pipe", "about:blank")...)
	cmd.ExtraFiles = []*os.File{toBrowser, theirEnd} // fds 3 and 4
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toBrowser.Close()
	theirEnd.Close()
	d := &devtools{cmd: cmd, w: ourEnd, wait: map[int]chan cdpReply{}, dead: make(chan struct{})}
	go func() {
		defer close(d.dead)
		r := bufio.NewReader(fromBrowser)
		for {
			msg, err := r.ReadBytes(0)
			if err != nil {
				return
			}
			var rep cdpReply
			if json.Unmarshal(msg[:len(msg)-1], &rep) != nil || rep.ID == 0 {
				continue // an event
			}
			d.mu.Lock()
			ch := d.wait[rep.ID]
			delete(d.wait, rep.ID)
			d.mu.Unlock()
			if ch != nil {
				ch <- rep
			}
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.call(ctx, "", "Browser.close", nil, nil)
		ourEnd.Close()
		select {
		case <-d.dead:
		case <-ctx.Done():
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		fromBrowser.Close()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", stderr.String())
		}
	})
	return d
}

// call sends method with params (in session, "" for the browser) and
// decodes the result into out.
func (d *devtools) call(ctx context.Context, session, method string, params, out any) error {
	d.mu.Lock()
	d.next++
	id := d.next
	ch := make(chan cdpReply, 1)
	d.wait[id] = ch
	d.mu.Unlock()
	req := map[string]any{"id": id, "method": method}
	if params != nil {
		req["params"] = params
	}
	if session != "" {
		req["sessionId"] = session
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := d.w.Write(append(b, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case rep := <-ch:
		if rep.Error != nil {
			return fmt.Errorf("%s: %s", method, rep.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(rep.Result, out)
		}
		return nil
	case <-d.dead:
		return fmt.Errorf("%s: the browser went away", method)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// open opens url in a new page and returns the page's session.
func (d *devtools) open(ctx context.Context, url string) (string, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := d.call(ctx, "", "Target.createTarget", map[string]any{"url": url}, &target); err != nil {
		return "", err
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	err := d.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	return att.SessionID, err
}

// eval evaluates a JavaScript expression in the page and returns its
// value as a string.
func (d *devtools) eval(ctx context.Context, session, expr string) (string, error) {
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := d.call(ctx, session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return "", err
	}
	if res.ExceptionDetails != nil {
		return "", errors.New(res.ExceptionDetails.Text)
	}
	return fmt.Sprint(res.Result.Value), nil
}

// waitText waits until the element with id shows want, and returns what
// it showed last.
func (d *devtools) waitText(ctx context.Context, session, id, want string) (string, error) {
	expr := fmt.Sprintf("(function(){var e=document.getElementById(%q);return e?e.textContent:'';})()", id)
	var got string
	for {
		var err error
		if got, err = d.eval(ctx, session, expr); err != nil {
			return got, err
		}
		if got == want {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestBrowserLiveCounter loads the status page in headless Chromium and
// watches it: it shows the table's counters, health and forwarding
// diagram, and when the test changes counters in the table the same page
// (not a reload) shows the new values within its polling.
func TestBrowserLiveCounter(t *testing.T) {
	bin := chromium(t)
	l := realistic(t)
	h := l.handler(t, nil)
	url, polls := serve(t, h)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := startDevtools(t, bin)
	session, err := d.open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}

	// First values: the web service's first real server (203.0.113.11).
	w1 := l.svcs[0].Dests[0]
	for id, want := range map[string]string{
		"s0-d0-addr":         "203.0.113.11:80",
		"s0-d0-in_pkts":      "211,904",
		"s0-d0-active_conns": fmt.Sprint(w1.ActiveConns.Load()),
		"s0-d2-health":       "down",
		"s1-d0-forward":      "DR",
		"t-in_pkts":          "524,367", // 283,988 + 240,379
	} {
		if got, err := d.waitText(ctx, session, id, want); err != nil {
			t.Fatalf("#%s shows %q, want %q: %v", id, got, want, err)
		}
	}
	if _, err := d.eval(ctx, session, "window.gdirectorTestMark = 'same page'"); err != nil {
		t.Fatal(err)
	}
	before := polls.Load()

	// The data plane counts on: packets, a new active connection.
	w1.Stats.InPkts.Add(1000)
	l.svcs[0].Stats.InPkts.Add(1000)
	l.conn(t, l.svcs[0], w1, "198.51.100.9", 43000, true, "", 0)
	for id, want := range map[string]string{
		"s0-d0-in_pkts":      "212,904",
		"t-in_pkts":          "525,367",
		"s0-d0-active_conns": fmt.Sprint(w1.ActiveConns.Load()),
	} {
		if got, err := d.waitText(ctx, session, id, want); err != nil {
			t.Fatalf("after the change #%s shows %q, want %q: %v", id, got, want, err)
		}
	}
	if mark, err := d.eval(ctx, session, "window.gdirectorTestMark"); err != nil || mark != "same page" {
		t.Errorf("page mark %q (%v): the page was reloaded instead of updated in place", mark, err)
	}
	if n := polls.Load(); n <= before {
		t.Errorf("%d polls of %s before the change and %d after", before, JSONPath, n)
	}

	// The newest connection is the one just made, in the recent list and
	// in the diagram with its NAT rewrite.
	recent, err := d.eval(ctx, session, "document.getElementById('s0-recent').rows[0].textContent")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(recent, "198.51.100.9:43000 → 192.0.2.10:80") || !strings.Contains(recent, "⇒ 198.51.100.9:43000 → 203.0.113.11:80") {
		t.Errorf("newest connection row %q lacks the NAT rewrite of 198.51.100.9:43000", recent)
	}
	svgText, err := d.eval(ctx, session, "document.getElementById('s0-diagram').querySelector('svg').textContent")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"newest connection: 198.51.100.9:43000 → 192.0.2.10:80", "dst 192.0.2.10:80 ⇒ 203.0.113.11:80", "reply src 203.0.113.11:80 ⇒ 192.0.2.10:80"} {
		if !strings.Contains(svgText, want) {
			t.Errorf("diagram lacks %q: %q", want, svgText)
		}
	}
	drText, err := d.eval(ctx, session, "document.getElementById('s1-diagram').querySelector('svg').textContent")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(drText, "dst MAC") || !strings.Contains(drText, "directly") {
		t.Errorf("DR diagram lacks the MAC rewrite and the direct reply: %q", drText)
	}
	if e, err := d.eval(ctx, session, "document.getElementById('error').textContent"); err != nil || e != "" {
		t.Errorf("page reports an error: %q (%v)", e, err)
	}
}

// TestBrowserLastPackets: while the page is open the handler runs its
// sampled trace; records that arrive show up in the page (not a reload)
// as rows of the service's last packets, newest first, and on the real
// server's edge of the diagram; a newer record replaces the top row.
func TestBrowserLastPackets(t *testing.T) {
	bin := chromium(t)
	l := realistic(t)
	ft := &fakeTrace{}
	h := l.handler(t, nil)
	h.cfg.Trace = ft.start
	t.Cleanup(h.Close)
	url, _ := serve(t, h)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := startDevtools(t, bin)
	session, err := d.open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.waitText(ctx, session, "s0-packets", "no packet sampled yet"); err != nil {
		t.Fatalf("#s0-packets shows %q before any packet: %v", got, err)
	}
	if got, err := d.waitText(ctx, session, "s0-tracing", "(sampling 1 in 64 per worker)"); err != nil {
		t.Fatalf("#s0-tracing shows %q: %v", got, err)
	}
	if _, err := d.eval(ctx, session, "window.gdirectorTestMark = 'same page'"); err != nil {
		t.Fatal(err)
	}
	row0 := "document.getElementById('s0-packets').rows[0].textContent"
	waitRow := func(want string) string {
		t.Helper()
		var got string
		for {
			got, err = d.eval(ctx, session, row0)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(got, want) {
				return got
			}
			select {
			case <-ctx.Done():
				t.Fatalf("top packet row %q never showed %q", got, want)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	// A new connection's SYN to the second real server: NAT rewrites the
	// destination, and the scheduler's choice is shown.
	web := l.svcs[0]
	c := l.conn(t, web, web.Dests[1], "198.51.100.60", 48000, false, "", 0)
	if !ft.send(l.record(t, web, c, false, header.TCPSyn, true, 100, t0)) {
		t.Fatal("the page did not start the trace")
	}
	got := waitRow("198.51.100.60:48000 > 192.0.2.10:80 ⇒ 198.51.100.60:48000 > 203.0.113.12:80")
	for _, want := range []string{"client → RS", "tcp [S]", "new SYN_RECV"} {
		if !strings.Contains(got, want) {
			t.Errorf("top packet row %q lacks %q", got, want)
		}
	}
	// The scheduler's choice, on the row under the packet's.
	why, err := d.eval(ctx, session, "document.getElementById('s0-packets').rows[1].textContent")
	if err != nil || !strings.HasPrefix(why, "scheduler wlc: ") || !strings.Contains(why, "-> 203.0.113.12:80") {
		t.Errorf("scheduler row %q (%v)", why, err)
	}
	svgText, err := d.eval(ctx, session, "document.getElementById('s0-diagram').querySelector('svg').textContent")
	if err != nil {
		t.Fatal(err)
	}
	if want := "last packet [S] new: dst 192.0.2.10:80 ⇒ 203.0.113.12:80"; !strings.Contains(svgText, want) {
		t.Errorf("diagram lacks %q: %q", want, svgText)
	}

	// Its reply comes next: the new top row, and the first moves down.
	c.Update(l.clk.Now(), conntrack.Out, header.TCPSyn|header.TCPAck)
	ft.send(l.record(t, web, c, true, header.TCPSyn|header.TCPAck, false, 101, t0))
	got = waitRow("203.0.113.12:80 > 198.51.100.60:48000 ⇒ 192.0.2.10:80 > 198.51.100.60:48000")
	if !strings.Contains(got, "reply → client") || !strings.Contains(got, "hit") {
		t.Errorf("reply row %q", got)
	}
	if n, err := d.eval(ctx, session, "document.getElementById('s0-packets').rows.length"); err != nil || n != "3" {
		t.Errorf("%s rows (%v), want 3: the reply, the SYN and its scheduler row", n, err)
	}
	svgText, _ = d.eval(ctx, session, "document.getElementById('s0-diagram').querySelector('svg').textContent")
	if want := "last reply [S.]: src 203.0.113.12:80 ⇒ 192.0.2.10:80"; !strings.Contains(svgText, want) {
		t.Errorf("diagram lacks %q: %q", want, svgText)
	}
	if mark, err := d.eval(ctx, session, "window.gdirectorTestMark"); err != nil || mark != "same page" {
		t.Errorf("page mark %q (%v): the page was reloaded instead of updated in place", mark, err)
	}
	if e, err := d.eval(ctx, session, "document.getElementById('error').textContent"); err != nil || e != "" {
		t.Errorf("page reports an error: %q (%v)", e, err)
	}
}

// TestBrowserScreenshot writes a screenshot of the page over the realistic
// table, with sampled packets, to $STATUS_SCREENSHOT
// (docs/status/status.png is made this way:
// STATUS_SCREENSHOT=$PWD/docs/status/status.png go test ./status -run
// Screenshot). Without the variable it only checks that the headless
// browser renders a non-empty PNG.
func TestBrowserScreenshot(t *testing.T) {
	bin := chromium(t)
	l := realistic(t)
	ft := &fakeTrace{}
	h := l.handler(t, nil)
	h.cfg.Trace = ft.start
	t.Cleanup(h.Close)
	// The trace starts with a first request; the packets are filed
	// before the browser asks.
	get(t, h)
	recs := realisticPackets(t, l)
	for _, r := range recs {
		ft.send(r)
	}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		v := h.Snapshot()
		if len(v.Services[0].Packets)+len(v.Services[1].Packets) == len(recs) {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the packets were not filed")
		}
	}
	url, _ := serve(t, h)
	out := os.Getenv("STATUS_SCREENSHOT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "status.png")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append(chromiumArgs(t), "--screenshot="+out, "--window-size=1200,2000", "--virtual-time-budget=3000", url)
	if b, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, b)
	}
	png, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 10_000 || string(png[1:4]) != "PNG" {
		t.Fatalf("%s: %d bytes, not a rendered PNG", out, len(png))
	}
}

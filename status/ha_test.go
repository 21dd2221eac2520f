package status

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdirector/gdirector/vs"
)

// fakeHA is an HAReporter whose report the test changes.
type fakeHA struct {
	mu    sync.Mutex
	r     *HA
	calls int
}

func (f *fakeHA) HAReport() *HA {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.r == nil {
		return nil
	}
	cp := *f.r
	return &cp
}

func (f *fakeHA) set(r *HA) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.r = r
}

// pair is a director of a pair: one instance in a sync group and one
// alone, the backup sync daemon running and the master not.
func pair() *HA {
	return &HA{
		Instances: []HAInstance{
			{Name: "VI_GW", Interface: "eth1", VRID: 52, State: "MASTER", Priority: 150, Since: "2026-05-04T12:29:30Z", Group: "VG", GroupState: "MASTER"},
			{Name: "VI_WEB", Interface: "eth0", VRID: 51, State: "BACKUP", Priority: 90, Since: "2026-05-04T11:00:00Z",
				Scripts: []HAScript{{Name: "chk_web", Status: "failed", Weight: -10}, {Name: "chk_lb", Status: "good"}}},
		},
		Sync: []SyncDaemon{{State: "backup", SyncID: 51, Interface: "eth0", Messages: 1200, Conns: 34000,
			Rejects: map[string]uint64{"bad_syncid": 3, "malformed": 0}}},
	}
}

// rawJSON fetches /status.json and returns it decoded as generic JSON.
func rawJSON(t *testing.T, h http.Handler) map[string]json.RawMessage {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, JSONPath, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	return m
}

// TestHASection: /status.json has an ha section exactly while the
// reporter has instances to report, asked at every request (the page's
// state is live), and none without a reporter.
func TestHASection(t *testing.T) {
	l := small(t)
	if _, ok := rawJSON(t, l.handler(t, nil))["ha"]; ok {
		t.Fatal("ha section without Config.HA")
	}
	f := &fakeHA{}
	h, err := New(Config{Table: func() *vs.Table { return l.table }, Now: func() time.Time { return t0 }, HA: f})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, ok := rawJSON(t, h)["ha"]; ok {
		t.Fatal("ha section while no instance runs")
	}

	f.set(pair())
	want := `{"instances":[` +
		`{"name":"VI_GW","interface":"eth1","vrid":52,"state":"MASTER","priority":150,"since":"2026-05-04T12:29:30Z","group":"VG","group_state":"MASTER"},` +
		`{"name":"VI_WEB","interface":"eth0","vrid":51,"state":"BACKUP","priority":90,"since":"2026-05-04T11:00:00Z",` +
		`"scripts":[{"name":"chk_web","status":"failed","weight":-10},{"name":"chk_lb","status":"good","weight":0}]}],` +
		`"sync":[{"state":"backup","syncid":51,"interface":"eth0","messages":1200,"conns":34000,"rejects":{"bad_syncid":3,"malformed":0}}]}`
	if got := string(rawJSON(t, h)["ha"]); got != want {
		t.Fatalf("ha section\n%s\nwant\n%s", got, want)
	}
	// The document is built at each request: a takeover shows at once.
	r := pair()
	r.Instances[1].State, r.Instances[1].Priority = "MASTER", 100
	f.set(r)
	if v := get(t, h); v.HA == nil || v.HA.Instances[1].State != "MASTER" || v.HA.Instances[1].Priority != 100 {
		t.Fatalf("after the takeover: %+v", v.HA)
	}
	f.set(nil)
	if _, ok := rawJSON(t, h)["ha"]; ok {
		t.Fatal("ha section after the instances stopped")
	}
	if f.calls != 4 {
		t.Errorf("reporter asked %d times for 4 documents", f.calls)
	}
	// Services and the rest of the document are unchanged by it.
	if v := get(t, h); len(v.Services) != 3 {
		t.Errorf("%d services", len(v.Services))
	}
}

// TestBrowserHA: the page shows the high-availability card only while
// instances run, fills it from the document and updates it in place: a
// takeover changes the state and priority cells, a master sync daemon
// starting adds its row.
func TestBrowserHA(t *testing.T) {
	bin := chromium(t)
	l := realistic(t)
	f := &fakeHA{}
	h, err := New(Config{Table: func() *vs.Table { return l.table }, Now: func() time.Time { return t0 }, HA: f})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	url, _ := serve(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := startDevtools(t, bin)
	session, err := d.open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.waitText(ctx, session, "s0-d0-addr", "203.0.113.11:80"); err != nil {
		t.Fatal(err)
	}
	if hidden, err := d.eval(ctx, session, "String(document.getElementById('ha').hidden)"); err != nil || hidden != "true" {
		t.Fatalf("HA card hidden = %q (%v) with no instance", hidden, err)
	}

	f.set(pair())
	for id, want := range map[string]string{
		"ha-i0-name":      "VI_GW",
		"ha-i0-state":     "MASTER",
		"ha-i0-group":     "VG (MASTER)",
		"ha-i0-since-at":  "2026-05-04 12:29:30 UTC",
		"ha-i1-state":     "BACKUP",
		"ha-i1-priority":  "90",
		"ha-i1-vrid":      "51",
		"ha-i1-group":     "–",
		"ha-i0-scripts":   "–",
		"ha-i1-scripts":   "chk_web failed (weight -10), chk_lb good",
		"ha-s0-interface": "not running", // the master daemon
		"ha-s1-messages":  "1,200 received",
		"ha-s1-conns":     "34,000 applied",
		"ha-s1-rejects":   "bad syncid 3",
	} {
		if got, err := d.waitText(ctx, session, id, want); err != nil {
			t.Fatalf("#%s shows %q, want %q: %v", id, got, want, err)
		}
	}
	// t0 is 12:30:00: VI_GW has been master for 30 s.
	if ago, err := d.eval(ctx, session, "document.getElementById('ha-i0-since-ago').textContent"); err != nil || ago != " (30 s ago)" {
		t.Errorf("since: %q (%v)", ago, err)
	}
	if cls, err := d.eval(ctx, session, "document.getElementById('ha-i0-state').className"); err != nil || !strings.Contains(cls, "ha-master") {
		t.Errorf("master state cell class %q (%v)", cls, err)
	}
	if _, err := d.eval(ctx, session, "window.gdirectorTestMark = 'same page'"); err != nil {
		t.Fatal(err)
	}

	r := pair()
	r.Instances[1].State, r.Instances[1].Priority = "MASTER", 100
	r.Sync = append([]SyncDaemon{{State: "master", SyncID: 51, Interface: "eth0", Messages: 7, Conns: 90,
		Rejects: map[string]uint64{"send_errors": 0, "queue_drops": 0}}}, r.Sync...)
	f.set(r)
	for id, want := range map[string]string{
		"ha-i1-state":     "MASTER",
		"ha-i1-priority":  "100",
		"ha-s0-interface": "eth0",
		"ha-s0-messages":  "7 sent",
		"ha-s0-rejects":   "none",
	} {
		if got, err := d.waitText(ctx, session, id, want); err != nil {
			t.Fatalf("after the takeover #%s shows %q, want %q: %v", id, got, want, err)
		}
	}
	if mark, err := d.eval(ctx, session, "window.gdirectorTestMark"); err != nil || mark != "same page" {
		t.Errorf("page mark %q (%v): the page was reloaded instead of updated in place", mark, err)
	}

	f.set(nil)
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		hidden, err := d.eval(ctx, session, "String(document.getElementById('ha').hidden)")
		if err == nil && hidden == "true" {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("HA card hidden = %q (%v) after the instances stopped", hidden, err)
		}
	}
	if e, err := d.eval(ctx, session, "document.getElementById('error').textContent"); err != nil || e != "" {
		t.Errorf("page reports an error: %q (%v)", e, err)
	}
}

package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/healthcheck"
	"github.com/gdirector/gdirector/ipvsadm"
)

const testRules = "# two real servers\n" +
	"-A -t 192.0.2.10:80 -s wrr\n" +
	"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 1\n" +
	"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w %d\n"

// testNative is the same configuration in the native format.
const testNative = "services:\n" +
	"  - vip: 192.0.2.10\n" +
	"    port: 80\n" +
	"    scheduler: wrr\n" +
	"    method: nat\n" +
	"    real_servers:\n" +
	"      - {address: 203.0.113.11, weight: 1}\n" +
	"      - address: 203.0.113.12\n" +
	"        weight: %d\n"

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules")
	if cfg, _, err := readConfig("", config.FormatUnknown, false); cfg != nil || err != nil {
		t.Fatalf("no file: %v %v", cfg, err)
	}
	if _, _, err := readConfig(path, config.FormatUnknown, false); err == nil || !strings.HasPrefix(err.Error(), "--config: ") {
		t.Fatalf("missing file: %v", err)
	}
	good := fmt.Sprintf(testRules, 2)
	writeFile(t, path, good)
	cfg, st, err := readConfig(path, config.FormatUnknown, false)
	if err != nil || cfg.Format != config.FormatIPVSRules || len(cfg.Services) != 1 || len(cfg.Services[0].Dests) != 2 || st.size != int64(len(good)) {
		t.Fatalf("good file: %+v %v", cfg, err)
	}
	for _, tc := range []struct {
		text   string
		format config.Format
		tunFed bool
		want   string
	}{
		{good + "-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m\n", 0, false, path + ": line 5: Destination already exists"},
		{"-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 203.0.113.11\n", 0, true, path + ": line 2: Direct routing (-g) needs a director on a raw interface"},
		{"\n\n-A -t 192.0.2.10 -s rr\n", 0, false, path + ": line 3: Zero port specified for non-persistent service"},
		// Native: the parser's errors, the scratch Manager's, the data plane's.
		{fmt.Sprintf(testNative, 1) + "        wieght: 2\n", 0, false, path + ":10: unknown key \"wieght\" in real server"},
		{strings.Replace(fmt.Sprintf(testNative, 1), "nat", "dr", 1), 0, true, path + ":7: real server 203.0.113.11:80: Direct routing (-g) needs"},
		{strings.Replace(fmt.Sprintf(testNative, 1), "203.0.113.12", "224.0.0.1", 1), 0, false, path + ":8: real server 224.0.0.1:80: Invalid operation"},
		// --format overrides what the contents say.
		{fmt.Sprintf(testNative, 1), config.FormatIPVSRules, false, path + ": line 1: "},
		{"nothing I know\n", 0, false, path + ": cannot tell the format of the file"},
	} {
		writeFile(t, path, tc.text)
		_, _, err := readConfig(path, tc.format, tc.tunFed)
		if err == nil || !strings.HasPrefix(err.Error(), "--config "+tc.want) {
			t.Errorf("readConfig(%q, tun %v) = %v, want %q", tc.text, tc.tunFed, err, "--config "+tc.want)
		}
	}
	// DR is fine on raw interfaces.
	writeFile(t, path, "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 203.0.113.11\n")
	if _, _, err := readConfig(path, config.FormatUnknown, false); err != nil {
		t.Fatal(err)
	}
	// The health engine checks the checks.
	writeFile(t, path, fmt.Sprintf(testNative, 1)+"        checks: [{type: tcp}]\n")
	if cfg, _, err := readConfig(path, config.FormatUnknown, false); err != nil || len(cfg.Services[0].Dests[1].Checks) != 1 {
		t.Fatalf("native with a check: %v", err)
	}
	if cfg, err := CheckConfig(path, config.FormatNative, false); err != nil || cfg.Summarize().Checks != 1 {
		t.Fatalf("CheckConfig: %v", err)
	}
	if _, err := CheckConfig(filepath.Join(dir, "none"), config.FormatUnknown, false); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("CheckConfig of a missing file: %v", err)
	}
}

// logBook collects log lines.
type logBook struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBook) logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, fmt.Sprintf(format, args...))
}

func (b *logBook) count(sub string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, l := range b.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

func (b *logBook) has(sub string) bool { return b.count(sub) > 0 }

// snapshot returns a copy of the lines logged so far.
func (b *logBook) snapshot() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

// newLoader returns a loader of path with an engine on mgr, loaded.
func newLoader(t *testing.T, path string, mgr *ctl.Manager, logs *logBook) *configLoader {
	t.Helper()
	c := &configLoader{path: path, check: tunDestCheck(false), logf: logs.logf,
		engine: healthcheck.New(mgr, healthcheck.Options{Logf: logs.logf})}
	cfg, st, err := readConfig(path, config.FormatUnknown, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.load(cfg, st); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConfigLoader: load, reload on the channel and by command, a bad
// file that changes nothing, and the watcher's end.
func TestConfigLoader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules")
	writeFile(t, path, fmt.Sprintf(testRules, 1))
	logs := &logBook{}
	mgr := ctl.NewManager(ctl.Config{})
	c := newLoader(t, path, mgr, logs)
	if !logs.has("loaded " + path + ": 1 services, 2 real servers, 0 health checks (ipvsadm format)") {
		t.Fatalf("log %q", logs.snapshot())
	}
	svc := mgr.Table().Services[0]
	d12 := svc.Dests[0]
	if d12.Port != 80 || d12.Weight.Load() != 1 || d12.Addr.String() != "203.0.113.12" {
		t.Fatalf("dest %v weight %d: the kernel's order (last added first) was not kept", d12.Addr, d12.Weight.Load())
	}

	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan struct{}, 1)
	wait := c.watch(ctx, reload)
	writeFile(t, path, fmt.Sprintf(testRules, 4))
	reload <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for d12.Weight.Load() != 4 {
		if time.Now().After(deadline) {
			t.Fatal("the reload signal did not apply the file")
		}
		time.Sleep(time.Millisecond)
	}
	if mgr.Table().Services[0].Dests[0] != d12 || mgr.Table().Services[0].Sched != svc.Sched {
		t.Fatal("the reload replaced what it should have edited")
	}
	for !logs.has("reloaded " + path + ": services 0 added, 0 edited, 0 removed; real servers 0 added, 1 edited, 0 removed") {
		if time.Now().After(deadline) {
			t.Fatalf("log %q", logs.snapshot())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	wait()

	// The command.
	if _, e, code := c.handle([]string{"now"}); code != 2 || !strings.Contains(e, "usage") {
		t.Fatalf("reload with an argument: %d %q", code, e)
	}
	writeFile(t, path, fmt.Sprintf(testRules, 4)+"-a -t 192.0.2.10:80 -r 203.0.113.13:80 -m -w x\n")
	before := mgr.Table()
	if o, e, code := c.handle(nil); code != 1 || o != "" || e != "gdirector reload: "+path+": line 5: illegal weight specified; nothing changed\n" {
		t.Fatalf("bad file: %d %q %q", code, o, e)
	}
	if mgr.Table() != before || !logs.has("reload failed, configuration unchanged: "+path+": line 5") {
		t.Fatal("a bad file changed the table or was not logged")
	}
	writeFile(t, path, fmt.Sprintf(testRules, 4)+"-a -t 192.0.2.10:80 -r 203.0.113.13:80 -m\n")
	if o, e, code := c.handle(nil); code != 0 || e != "" || o != "reloaded "+path+": services 0 added, 0 edited, 0 removed; real servers 1 added, 0 edited, 0 removed\n" {
		t.Fatalf("good file: %d %q %q", code, o, e)
	}
	if out, _, _ := ipvsadm.Run(mgr, []string{"-S", "-n"}); !strings.Contains(out, "203.0.113.13:80 -m -w 1\n") {
		t.Fatalf("after reload:\n%s", out)
	}
	// The same configuration in another format: nothing changes.
	writeFile(t, path, fmt.Sprintf(testNative, 4)+"      - {address: 203.0.113.13}\n")
	if o, e, code := c.handle(nil); code != 0 || e != "" || o != "reloaded "+path+": no change\n" {
		t.Fatalf("native file: %d %q %q", code, o, e)
	}
	os.Remove(path)
	if _, e, code := c.handle(nil); code != 1 || !strings.Contains(e, "no such file") {
		t.Fatalf("missing file: %d %q", code, e)
	}

	// Without --config.
	none := &configLoader{logf: logs.logf}
	if err := none.load(nil, stamp{}); err != nil {
		t.Fatal(err)
	}
	if _, e, code := none.handle(nil); code != 1 || !strings.Contains(e, "without --config") {
		t.Fatalf("no config: %d %q", code, e)
	}
	// A watcher without a channel ends with its context.
	ctx, cancel = context.WithCancel(context.Background())
	wait = none.watch(ctx, nil)
	cancel()
	wait()
}

// TestAutoreload: a change of the file's contents is applied within a
// few polls; a touch, or a rewrite with the same contents, is not a
// reload; a bad file is logged once and changes nothing; a file that
// disappears keeps the configuration, and its return is applied.
func TestAutoreload(t *testing.T) {
	old := autoreloadInterval
	autoreloadInterval = 20 * time.Millisecond
	defer func() { autoreloadInterval = old }()

	dir := t.TempDir()
	path := filepath.Join(dir, "gdirector.yaml")
	writeFile(t, path, fmt.Sprintf(testNative, 1))
	logs := &logBook{}
	mgr := ctl.NewManager(ctl.Config{})
	c := newLoader(t, path, mgr, logs)
	c.auto = true
	ctx, cancel := context.WithCancel(context.Background())
	wait := c.watch(ctx, nil) // a nil channel: no SIGHUP, polls only
	defer func() { cancel(); wait() }()
	weight := func() int32 {
		for _, d := range mgr.Table().Services[0].Dests {
			if d.Addr.String() == "203.0.113.12" {
				return d.Weight.Load()
			}
		}
		return -1
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s; log %q", what, logs.snapshot())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	settle := func() { time.Sleep(10 * autoreloadInterval) }

	settle()
	if logs.has("changed; reloading") {
		t.Fatalf("reloaded an unchanged file: %q", logs.snapshot())
	}
	writeFile(t, path, fmt.Sprintf(testNative, 7))
	waitFor("the change was not applied", func() bool { return weight() == 7 })
	// The reload is logged once applied (and after the VRRP step of the
	// reload): wait for the line, then check it came once.
	reloaded := "reloaded " + path + ": services 0 added, 0 edited, 0 removed; real servers 0 added, 1 edited, 0 removed"
	waitFor("the reload was not logged", func() bool { return logs.has(reloaded) })
	if logs.count(reloaded) != 1 {
		t.Errorf("log %q", logs.snapshot())
	}

	// Touched, or replaced by a file with the same contents: no reload.
	reloads := logs.count("changed; reloading")
	now := time.Now().Add(time.Second)
	if err := os.Chtimes(path, now, now); err != nil {
		t.Fatal(err)
	}
	settle()
	same := filepath.Join(dir, "same.yaml")
	writeFile(t, same, fmt.Sprintf(testNative, 7))
	if err := os.Rename(same, path); err != nil {
		t.Fatal(err)
	}
	settle()
	if n := logs.count("changed; reloading"); n != reloads {
		t.Errorf("a touch reloaded (%d reloads, was %d)", n, reloads)
	}

	// A bad file: logged once, nothing changes.
	before := mgr.Table()
	writeFile(t, path, fmt.Sprintf(testNative, 9)+"        frobnicate: 1\n")
	waitFor("the bad file was not noticed", func() bool { return logs.has("reload failed") })
	settle()
	if n := logs.count("reload failed, configuration unchanged: " + path + ":10: unknown key \"frobnicate\""); n != 1 {
		t.Errorf("the bad file was logged %d times: %q", n, logs.snapshot())
	}
	if mgr.Table() != before || weight() != 7 {
		t.Fatal("a bad file changed the table")
	}

	// Replaced by a rename (as editors and configuration tools do).
	tmp := filepath.Join(dir, "new.yaml")
	writeFile(t, tmp, fmt.Sprintf(testNative, 3))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitFor("the renamed file was not applied", func() bool { return weight() == 3 })

	// Emptied: not applied by autoreload.
	writeFile(t, path, "")
	waitFor("the empty file was not noticed", func() bool { return logs.has("is empty; not applied") })
	if weight() != 3 {
		t.Fatalf("an empty file was applied")
	}

	// Gone: logged once, kept; back: applied.
	os.Remove(path)
	waitFor("the missing file was not noticed", func() bool { return logs.has("no such file or directory; keeping the configuration") })
	settle()
	if n := logs.count("keeping the configuration"); n != 1 || weight() != 3 {
		t.Errorf("missing file logged %d times, weight %d", n, weight())
	}
	writeFile(t, path, fmt.Sprintf(testNative, 5))
	waitFor("the file's return was not applied", func() bool { return weight() == 5 })

	// A SIGHUP-style reload reads the file too; the poll then sees
	// nothing new.
	writeFile(t, path, fmt.Sprintf(testNative, 6))
	if _, err := c.reload(); err != nil {
		t.Fatal(err)
	}
	reloads = logs.count("reloaded ")
	settle()
	if weight() != 6 || logs.count("reloaded ") != reloads {
		t.Errorf("weight %d; the poll reloaded what the command had: %q", weight(), logs.snapshot())
	}
}

// TestAutoreloadFromFile: an ldirectord.cf with autoreload=yes is polled
// without --autoreload, until a reload drops the setting; the parser's
// warnings are logged with their line.
func TestAutoreloadFromFile(t *testing.T) {
	old := autoreloadInterval
	autoreloadInterval = 20 * time.Millisecond
	defer func() { autoreloadInterval = old }()

	path := filepath.Join(t.TempDir(), "ldirectord.cf")
	cf := func(auto bool, w int) string {
		s := "virtual=192.0.2.10:80\n\treal=203.0.113.11:80 masq " + fmt.Sprint(w) + "\n\tchecktype=on\n\tnetmask=255.255.255.0\n"
		if auto {
			s = "autoreload=yes\n" + s
		}
		return s
	}
	writeFile(t, path, cf(true, 1))
	logs := &logBook{}
	mgr := ctl.NewManager(ctl.Config{})
	c := newLoader(t, path, mgr, logs)
	if !logs.has("reloading " + path + " whenever it changes (autoreload)") {
		t.Errorf("autoreload=yes not announced: %q", logs.snapshot())
	}
	if !logs.has("gdirector: warning: " + path + ":5: netmask has no effect without persistent") {
		t.Errorf("the parser's warning was not logged: %q", logs.snapshot())
	}
	ctx, cancel := context.WithCancel(context.Background())
	wait := c.watch(ctx, nil)
	defer func() { cancel(); wait() }()
	weight := func() int32 { return mgr.Table().Services[0].Dests[0].Weight.Load() }
	waitFor := func(want int32) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for weight() != want {
			if time.Now().After(deadline) {
				t.Fatalf("weight %d, want %d; log %q", weight(), want, logs.snapshot())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	writeFile(t, path, cf(true, 2))
	waitFor(2)
	// The file drops autoreload=yes: that edit is still applied, the next
	// ones wait for a reload.
	writeFile(t, path, cf(false, 3))
	waitFor(3)
	writeFile(t, path, cf(false, 4))
	time.Sleep(10 * autoreloadInterval)
	if weight() != 3 {
		t.Fatalf("polled after autoreload=yes went away: weight %d", weight())
	}
	if _, err := c.reload(); err != nil || weight() != 4 {
		t.Fatalf("reload: %v, weight %d", err, weight())
	}
}

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

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/ipvsadm"
)

const testRules = "# two real servers\n" +
	"-A -t 192.0.2.10:80 -s wrr\n" +
	"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 1\n" +
	"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w %d\n"

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules")
	if data, err := readConfig("", false); data != nil || err != nil {
		t.Fatalf("no file: %q %v", data, err)
	}
	if _, err := readConfig(path, false); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("missing file: %v", err)
	}
	good := fmt.Sprintf(testRules, 2)
	writeFile(t, path, good)
	if data, err := readConfig(path, false); err != nil || string(data) != good {
		t.Fatalf("good file: %q %v", data, err)
	}
	for _, tc := range []struct {
		text   string
		tunFed bool
		want   string
	}{
		{good + "-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m\n", false, "line 5: Destination already exists"},
		{"-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 203.0.113.11\n", true, "line 2: Direct routing (-g) needs a director on a raw interface"},
		{"\n\n-A -t 192.0.2.10 -s rr\n", false, "line 3: Zero port specified for non-persistent service"},
	} {
		writeFile(t, path, tc.text)
		_, err := readConfig(path, tc.tunFed)
		if err == nil || !strings.Contains(err.Error(), "--config "+path+": "+tc.want) {
			t.Errorf("readConfig(%q, tun %v) = %v, want %q", tc.text, tc.tunFed, err, tc.want)
		}
	}
	// DR is fine on raw interfaces.
	writeFile(t, path, "-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 203.0.113.11\n")
	if _, err := readConfig(path, false); err != nil {
		t.Fatal(err)
	}
}

// TestConfigLoader: load, reload on the channel and by command, a bad
// file that changes nothing, and the watcher's end.
func TestConfigLoader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules")
	writeFile(t, path, fmt.Sprintf(testRules, 1))
	var mu sync.Mutex
	var logs []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, fmt.Sprintf(format, args...))
	}
	logged := func(sub string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range logs {
			if strings.Contains(l, sub) {
				return true
			}
		}
		return false
	}
	mgr := ctl.NewManager(ctl.Config{})
	c := &configLoader{path: path, mgr: mgr, logf: logf}
	data, err := readConfig(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.load(data); err != nil {
		t.Fatal(err)
	}
	if !logged("loaded " + path + ": 1 services, 2 real servers") {
		t.Fatalf("log %q", logs)
	}
	svc := mgr.Table().Services[0]
	d12 := svc.Dests[0]
	if d12.Port != 80 || d12.Weight.Load() != 1 {
		t.Fatalf("dest %v weight %d", d12.Addr, d12.Weight.Load())
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
	for !logged("real servers 0 added, 1 edited, 0 removed") {
		if time.Now().After(deadline) {
			t.Fatalf("log %q", logs)
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
	if mgr.Table() != before || !logged("reload failed, configuration unchanged: "+path+": line 5") {
		t.Fatal("a bad file changed the table or was not logged")
	}
	writeFile(t, path, fmt.Sprintf(testRules, 4)+"-a -t 192.0.2.10:80 -r 203.0.113.13:80 -m\n")
	if o, e, code := c.handle(nil); code != 0 || e != "" || o != "reloaded "+path+": services 0 added, 0 edited, 0 removed; real servers 1 added, 0 edited, 0 removed\n" {
		t.Fatalf("good file: %d %q %q", code, o, e)
	}
	if out, _, _ := ipvsadm.Run(mgr, []string{"-S", "-n"}); !strings.Contains(out, "203.0.113.13:80 -m -w 1\n") {
		t.Fatalf("after reload:\n%s", out)
	}
	os.Remove(path)
	if _, e, code := c.handle(nil); code != 1 || !strings.Contains(e, "no such file") {
		t.Fatalf("missing file: %d %q", code, e)
	}

	// Without --config.
	none := &configLoader{mgr: mgr, logf: logf}
	if err := none.load(nil); err != nil {
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

package ipvsadm

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/ipvssync"
)

// fakeSync records what the daemon commands ask for.
type fakeSync struct {
	started []ipvssync.DaemonConfig
	stopped []string
}

func (f *fakeSync) StartDaemon(c ipvssync.DaemonConfig) error {
	for _, d := range f.started {
		if d.State == c.State {
			return ipvssync.ErrRunning
		}
	}
	f.started = append(f.started, c.WithDefaults(1500))
	return nil
}

func (f *fakeSync) StopDaemon(s string) error {
	for i, d := range f.started {
		if d.State == s {
			f.started = append(f.started[:i], f.started[i+1:]...)
			f.stopped = append(f.stopped, s)
			return nil
		}
	}
	return ipvssync.ErrNotRunning
}

func (f *fakeSync) Daemons() []ipvssync.DaemonConfig { return f.started }

func TestSyncDaemonCommands(t *testing.T) {
	m := ctl.NewManager(ctl.Config{})
	f := &fakeSync{}
	run := func(args ...string) (string, string, int) { return RunEnv(m, args, Env{Sync: f}) }
	for _, tc := range []struct {
		args []string
		want ipvssync.DaemonConfig
	}{
		{[]string{"--start-daemon", "master", "--mcast-interface", "eth1", "--syncid", "7", "--sync-maxlen", "1400",
			"--mcast-group", "239.1.2.3", "--mcast-port", "9000", "--mcast-ttl", "3"},
			ipvssync.DaemonConfig{State: "master", Interface: "eth1", SyncID: 7, MaxLen: 1400,
				Group: netip.MustParseAddr("239.1.2.3"), Port: 9000, TTL: 3}},
		{[]string{"--start-daemon=backup", "--mcast-interface=eth2"},
			ipvssync.DaemonConfig{State: "backup", Interface: "eth2", MaxLen: 1472,
				Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 1}},
	} {
		if out, errs, code := run(tc.args...); code != 0 {
			t.Fatalf("%v: %q %q %d", tc.args, out, errs, code)
		}
		if got := f.started[len(f.started)-1]; !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%v:\n got %+v\nwant %+v", tc.args, got, tc.want)
		}
	}
	out, _, code := run("-L", "--daemon")
	want := "master sync daemon (mcast=eth1, syncid=7, maxlen=1400, group=239.1.2.3, port=9000, ttl=3)\n" +
		"backup sync daemon (mcast=eth2, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
	if code != 0 || out != want {
		t.Fatalf("-L --daemon:\n%s\nwant\n%s", out, want)
	}
	if _, errs, code := run("--start-daemon", "master", "--mcast-interface", "eth1"); code != 255 || errs != "Daemon has already run\n" {
		t.Fatalf("second master: %q %d", errs, code)
	}
	if _, _, code := run("--stop-daemon", "master"); code != 0 || !reflect.DeepEqual(f.stopped, []string{"master"}) {
		t.Fatalf("stop: %d %v", code, f.stopped)
	}
	if _, errs, code := run("--stop-daemon", "master"); code != 255 || errs != "No daemon is running\n" {
		t.Fatalf("stop again: %q %d", errs, code)
	}
	// Bad arguments change nothing.
	n := len(f.started)
	for _, args := range [][]string{
		{"--start-daemon", "master", "--syncid", "256"},
		{"--start-daemon", "master", "--mcast-group", "10.0.0.1"},
		{"--start-daemon", "master", "--mcast-port", "0"},
		{"--start-daemon", "master", "--mcast-ttl", "256"},
		{"--start-daemon", "slave"},
		{"--start-daemon", "master", "-t", "192.0.2.1:80"},
	} {
		if _, _, code := run(args...); code != 2 {
			t.Fatalf("%v: status %d", args, code)
		}
	}
	if len(f.started) != n {
		t.Fatal("a refused command started a daemon")
	}
	// Without Env.Sync the old refusal stands.
	if _, errs, code := Run(m, []string{"--start-daemon", "master"}); code != 255 || errs == "" {
		t.Fatalf("no sync: %q %d", errs, code)
	}
}

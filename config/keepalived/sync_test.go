package keepalived

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/config"
)

func TestLVSSyncDaemon(t *testing.T) {
	gd := func(line string) string { return "global_defs {\n" + line + "\n}\n" + framed("", "") }
	c := mustParse(t, gd("lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 9000 ttl 2 group 239.1.2.3"))
	want := config.SyncDaemon{Line: 2, Interface: "eth1", Instance: "VI_1", SyncID: 7, MaxLen: 1400, Port: 9000,
		TTL: 2, Group: netip.MustParseAddr("239.1.2.3")}
	if c.SyncDaemon == nil || *c.SyncDaemon != want {
		t.Fatalf("got %+v, want %+v", c.SyncDaemon, want)
	}
	for _, tc := range []struct{ line, err string }{
		{"lvs_sync_daemon eth1", "needs an interface and a VRRP instance"},
		{"lvs_sync_daemon eth1 VI_1 id 256", "lvs_sync_daemon id:"},
		{"lvs_sync_daemon eth1 VI_1 id", "id needs a value"},
		{"lvs_sync_daemon eth1 VI_1 port 0", "lvs_sync_daemon port:"},
		{"lvs_sync_daemon eth1 VI_1 ttl 0", "lvs_sync_daemon ttl:"},
		{"lvs_sync_daemon eth1 VI_1 maxlen 70000", "lvs_sync_daemon maxlen:"},
		{"lvs_sync_daemon eth1 VI_1 group 192.0.2.1", "not a multicast address"},
		{"lvs_sync_daemon eth1 VI_1 id 1 id 2", "id given twice"},
		{"lvs_sync_daemon eth1 VI_1 mcast 1", `unknown option "mcast"`},
		{"lvs_sync_daemon eth1234567890123 VI_1", "longer than 15 bytes"},
	} {
		_, err := Parse("t.conf", []byte(gd(tc.line)), nil)
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "t.conf:2:") {
			t.Errorf("%q: error %v, want one containing %q", tc.line, err, tc.err)
		}
	}
}

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	rt "github.com/gdirector/gdirector/internal/roottest"
)

// haVIP6 is the IPv6 VIP of TestHAFailoverIPv6 (the dual-stack DR lab's
// VIP6, on the real servers' lo).
const haVIP6 = "2001:db8:2::10"

// haConf6 is haConf for an IPv6 service: a version 3 instance owning
// VIP6 (adverts from eth0's link-local address to ff02::12), the DR
// virtual_server on [VIP6]:80, and connection sync following the
// instance (its datagrams still go over IPv4 multicast; the records carry
// IPv6 connections).
func haConf6(router string, prio int, notify string) string {
	return fmt.Sprintf(`global_defs {
    router_id %s
    lvs_sync_daemon eth0 VI_HA6 id 43
}
vrrp_instance VI_HA6 {
    state BACKUP
    interface eth0
    virtual_router_id 52
    priority %d
    advert_int 0.2
    virtual_ipaddress {
        %s/128
    }
    notify %s
}
virtual_server %s 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 2001:db8:3::11 80 {
        weight 1
    }
    real_server 2001:db8:3::12 80 {
        weight 1
    }
}
`, router, prio, haVIP6, notify, haVIP6)
}

// TestHAFailoverIPv6: TestHAFailover over IPv6 — the master owns the
// VIP6 (answers neighbour solicitations for it), the backup has the long
// download's IPv6 connection from the sync daemon before the kill, takes
// over within Master_Down_Interval plus a margin announcing the VIP6 with
// unsolicited neighbour advertisements, and carries the stream on to the
// same real server without a reset or a lost byte; short requests fail
// for about the takeover time only.
func TestHAFailoverIPv6(t *testing.T) {
	rt.Require(t, "ip", "tcpdump")
	l := buildHALabFamily(t, true)
	start := func(ns, name string, prio int) *haDirector {
		return startHADirectorConf(t, l.Builder, ns, name, func(notify string) string { return haConf6(name, prio, notify) }, []string{"eth0"})
	}
	d1, d2 := startPair(t, start, l.DirectorNS, "gdha1", l.dir2, "gdha2")
	na := startCapture(t, l.ClientNS, "eth0", "icmp6 and ip6[40] == 136") // neighbour advertisements
	rst := startCapture(t, l.ClientNS, "eth0", rstFilter)
	shortDone := shortRequestsTo(t, l.ClientNS, haVIP6)
	const size, rate = 12 << 20, 4 << 20 // about 3 s
	port, rsBefore, streamc := syncedStreamTo(t, l.ClientNS, haVIP6, size, rate, d1, d2)
	if !strings.HasPrefix(rsBefore, "[2001:db8:3::1") {
		t.Fatalf("the stream's real server %q is not an IPv6 one", rsBefore)
	}
	time.Sleep(500 * time.Millisecond)

	killed, takeover := killMaster(t, d1, d2, port, rsBefore)
	streamDone(t, streamc, size, 30*time.Second, rst, l.ClientNS, port)
	rs := shortDone()
	shortOutage(t, rs, killed, takeover)

	// dir2's takeover announced the VIP6: unsolicited advertisements
	// (to all nodes, override set) for its target.
	out, _ := run2(l.ClientNS, "tcpdump", "-nn", "-r", na.stop(t))
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "neighbor advertisement") && strings.Contains(line, "tgt is "+haVIP6) && strings.Contains(line, "> ff02::1:") {
			n++
		}
	}
	t.Logf("unsolicited neighbour advertisements for %s seen by the client: %d", haVIP6, n)
	if n == 0 {
		t.Errorf("no unsolicited neighbour advertisement for %s after the takeover:\n%s", haVIP6, out)
	}
}

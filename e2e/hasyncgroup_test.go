package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	rt "github.com/gdirector/gdirector/internal/roottest"
)

// haNATGroupConf is keepalived's usual form of the LVS-NAT pair: the VIP
// (client side) and the real servers' gateway (real-server side) in two
// instances of a vrrp_sync_group, each advertising on its own segment and
// tracking its own interface. The group's notify records the group's
// state (GROUP NAME STATE 0: $3 is the state, as for an instance).
func haNATGroupConf(router string, prio int, notify string) string {
	return fmt.Sprintf(`global_defs {
    router_id %s
    vrrp_version 3
    lvs_sync_daemon eth0 VI_VIP id 44
}
vrrp_sync_group VG_NAT {
    group {
        VI_VIP
        VI_GW
    }
    notify %s
}
vrrp_instance VI_VIP {
    state BACKUP
    interface eth0
    virtual_router_id 53
    priority %d
    advert_int 0.2
    virtual_ipaddress {
        %s/32 dev eth0
    }
}
vrrp_instance VI_GW {
    state BACKUP
    interface eth1
    virtual_router_id 54
    priority %d
    advert_int 0.2
    virtual_ipaddress {
        %s/24 dev eth1
    }
}
virtual_server %s 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 203.0.113.11 80 {
        weight 1
    }
    real_server 203.0.113.12 80 {
        weight 1
    }
}
`, router, notify, prio, haVIP, prio, haNATGateway, haVIP)
}

// TestHAFailoverNATSyncGroup: the NAT pair of TestHAFailoverNAT written
// as keepalived users write it, two instances in a vrrp_sync_group. The
// master's real-server link loses its carrier (its switch port goes
// down): its gateway instance goes to FAULT and takes the VIP's with it
// (the group's notify says FAULT), the backup takes both over together,
// the real servers reach the gateway at the backup's MAC address and
// short requests to the VIP (their replies routed through the gateway)
// fail for about Master_Down_Interval only. With the carrier back the
// first director leaves FAULT, goes to BACKUP and preempts again.
func TestHAFailoverNATSyncGroup(t *testing.T) {
	rt.Require(t, "ip")
	l := buildHANATLab(t)
	d2MAC := macOf(t, l.dir2, "eth1").String()
	start := func(ns, name string, prio int) *haDirector {
		return startHADirectorConf(t, l.Builder, ns, name, func(notify string) string { return haNATGroupConf(name, prio, notify) }, []string{"eth0", "eth1"})
	}
	d1, d2 := startPair(t, start, l.dir1, "gdnatg1", l.dir2, "gdnatg2")
	rs1 := l.Reals[0].NS
	if err := pingFrom(rs1, haNATGateway); err != nil {
		t.Fatalf("rs1 pings the gateway (dir1 master): %v", err)
	}

	shortDone := shortRequests(t, l.client)
	time.Sleep(300 * time.Millisecond)
	cut := time.Now()
	run(t, l.sw, 5*time.Second, "ip", "link", "set", "d1-eth1", "down")
	d1.states.waitState(t, "dir1", "FAULT", 2*time.Second)
	at := d2.states.waitState(t, "dir2", "MASTER", 3*time.Second)
	takeover := at.Sub(cut)
	bound := haDown(100) + 300*time.Millisecond
	t.Logf("dir1's eth1 carrier cut; dir1 FAULT, dir2 MASTER after %v (Master_Down_Interval %v)", takeover.Round(time.Millisecond), haDown(100))
	if takeover > bound {
		t.Errorf("takeover after %v, more than %v", takeover, bound)
	}
	time.Sleep(500 * time.Millisecond)
	if err := pingFrom(rs1, haNATGateway); err != nil {
		t.Errorf("rs1 pings the gateway (dir2 master): %v", err)
	}
	if mac := gatewayMAC(rs1); mac != d2MAC {
		t.Errorf("rs1 has the gateway at %q, want dir2's %s", mac, d2MAC)
	}
	shortOutage(t, shortDone(), cut, takeover)

	run(t, l.sw, 5*time.Second, "ip", "link", "set", "d1-eth1", "up")
	d1.states.waitState(t, "dir1", "MASTER", 3*time.Second)
	d2.states.waitState(t, "dir2", "BACKUP", 2*time.Second)
	d1.states.mu.Lock()
	seq := strings.Join(d1.states.states, " ")
	d1.states.mu.Unlock()
	if !strings.HasSuffix(seq, "MASTER FAULT BACKUP MASTER") {
		t.Errorf("dir1's group went %s, want ... MASTER FAULT BACKUP MASTER", seq)
	}
}

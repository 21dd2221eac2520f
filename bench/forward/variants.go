package forward

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/lab"
)

// The variants measured on every topology, in the order each run visits
// them.
const (
	// VarFwd is the ceiling: plain kernel IP forwarding through the
	// director namespace (ip_forward=1), the client addressing the real
	// servers directly.
	VarFwd = "fwd"
	// VarNFT is a kernel nftables load balancer in the director namespace:
	// dnat to numgen inc mod 2 map { 0 : RIP1, 1 : RIP2 } for the VIP.
	VarNFT = "nft"
	// VarHAProxy is HAProxy in mode tcp in the director namespace (the
	// connection-rate comparison only).
	VarHAProxy = "haproxy"
	// VarGdirector is gdirector with one worker (or without --workers
	// when the daemon has no such flag).
	VarGdirector = "gdirector"
	// VarGdirector2 is gdirector with --workers 2, allowed on both CPUs.
	VarGdirector2 = "gdirector-2w"
)

// variant is one way of getting the client's traffic through the director
// namespace to the real servers.
type variant struct {
	name  string
	only  Test // when set, the variant is measured for this test only
	toRIP bool // the load addresses the RIPs, not the VIP
	// up prepares the lab (changes registered in p for undoing) and
	// returns the process whose CPU time is reported, if any.
	up func(ctx context.Context, s *session, p *plumbing) (*nsutil.Proc, error)
}

func (v variant) runs(t Test) bool { return v.only == "" || v.only == t }

// variants returns the variants in visiting order; withWorkers adds the
// two-worker gdirector.
func variants(withWorkers bool) []variant {
	vs := []variant{
		{name: VarFwd, toRIP: true, up: upFwd},
		{name: VarNFT, up: upNFT},
		{name: VarHAProxy, only: TestCPS, up: upHAProxy},
		{name: VarGdirector, up: func(ctx context.Context, s *session, p *plumbing) (*nsutil.Proc, error) {
			if withWorkers {
				return upGdirector(ctx, s, p, strconv.Itoa(cpuDirector), "--workers", "1")
			}
			return upGdirector(ctx, s, p, strconv.Itoa(cpuDirector))
		}},
	}
	if withWorkers {
		vs = append(vs, variant{name: VarGdirector2, up: func(ctx context.Context, s *session, p *plumbing) (*nsutil.Proc, error) {
			return upGdirector(ctx, s, p, fmt.Sprintf("%d,%d", cpuLoad, cpuDirector), "--workers", "2")
		}})
	}
	return vs
}

// kernelForwarding turns the director namespace into a router that sends
// no ICMP redirects (on DR and TUN labs it forwards out of the interface
// it received on).
func kernelForwarding(s *session, p *plumbing) error {
	dir := s.t.DirectorNS
	if err := p.sysctl(dir, "net.ipv4.ip_forward", "1"); err != nil {
		return err
	}
	if err := p.sysctl(dir, "net.ipv4.conf.all.send_redirects", "0"); err != nil {
		return err
	}
	for _, ifc := range s.t.DirIfaces {
		if err := p.sysctl(dir, "net/ipv4/conf/"+ifc+"/send_redirects", "0"); err != nil {
			return err
		}
	}
	return nil
}

// routeRepliesViaDirector makes the real servers' replies to the client
// cross the director, as a kernel NAT needs (DR and TUN labs send them
// past it; FullNAT labs have no route back at all).
func routeRepliesViaDirector(s *session, p *plumbing) error {
	t := s.t
	cn := t.ClientNet.String()
	switch t.Mode {
	case "dr":
		for _, r := range t.Reals {
			if err := p.ip(r.NS, []string{"route", "replace", cn, "via", t.DIPReal.String(), "dev", r.If},
				[]string{"route", "replace", cn, "dev", r.If}); err != nil {
				return err
			}
		}
	case "fullnat":
		for _, r := range t.Reals {
			if err := p.ip(r.NS, []string{"route", "add", cn, "via", t.DIPReal.String()},
				[]string{"route", "del", cn, "via", t.DIPReal.String()}); err != nil {
				return err
			}
		}
	case "tun":
		// The router sends what the real servers address to the client
		// to the director instead.
		rtr := t.SwitchNS
		if err := p.ip(rtr, []string{"route", "add", cn, "via", t.DIPReal.String(), "table", "101"},
			[]string{"route", "del", cn, "via", t.DIPReal.String(), "table", "101"}); err != nil {
			return err
		}
		rule := []string{"from", t.RealNet.String(), "to", cn, "iif", t.Bridge, "lookup", "101", "pref", "101"}
		if err := p.ip(rtr, append([]string{"rule", "add"}, rule...), append([]string{"rule", "del"}, rule...)); err != nil {
			return err
		}
	}
	return nil
}

// upFwd: the client reaches the RIPs through the director's kernel.
func upFwd(ctx context.Context, s *session, p *plumbing) (*nsutil.Proc, error) {
	t := s.t
	if err := kernelForwarding(s, p); err != nil {
		return nil, err
	}
	rn := t.RealNet.String()
	switch t.Mode {
	case "tun":
		// The client's router sends RIP traffic from the client to
		// the director, which routes it back to the router.
		rtr := t.SwitchNS
		if err := p.ip(rtr, []string{"route", "add", rn, "via", t.DIPReal.String(), "table", "100"},
			[]string{"route", "del", rn, "via", t.DIPReal.String(), "table", "100"}); err != nil {
			return nil, err
		}
		rule := []string{"iif", "client", "to", rn, "lookup", "100", "pref", "100"}
		if err := p.ip(rtr, append([]string{"rule", "add"}, rule...), append([]string{"rule", "del"}, rule...)); err != nil {
			return nil, err
		}
	default:
		if err := p.ip(t.ClientNS, []string{"route", "add", rn, "via", t.DIPClient.String()},
			[]string{"route", "del", rn, "via", t.DIPClient.String()}); err != nil {
			return nil, err
		}
	}
	if t.Mode == "fullnat" {
		if err := routeRepliesViaDirector(s, p); err != nil {
			return nil, err
		}
	}
	return nil, s.waitHTTP(ctx, t.RIPs())
}

// vipOnLoopback gives the director's kernel the VIP, so it answers ARP for
// it and accepts its packets.
func vipOnLoopback(s *session, p *plumbing) error {
	v := netip.PrefixFrom(s.t.VIP, 32).String()
	return p.ip(s.t.DirectorNS, []string{"addr", "add", v, "dev", "lo"}, []string{"addr", "del", v, "dev", "lo"})
}

// nftRuleset is the kernel load balancer: the VIP's UDP and HTTP traffic
// spread by numgen inc over the real servers, iperf3's two connections
// (control and data) kept together by a source hash.
func nftRuleset(vip netip.Addr, rips []netip.Addr) string {
	m := make([]string, len(rips))
	for i, r := range rips {
		m[i] = fmt.Sprintf("%d : %s", i, r)
	}
	mp := "{ " + strings.Join(m, ", ") + " }"
	n := len(rips)
	return fmt.Sprintf(`table ip gdbench {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr %[1]s udp dport %[2]d dnat to numgen inc mod %[3]d map %[4]s
		ip daddr %[1]s tcp dport %[5]d dnat to numgen inc mod %[3]d map %[4]s
		ip daddr %[1]s tcp dport %[6]d dnat to jhash ip saddr mod %[3]d map %[4]s
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
	}
}
`, vip, udpPort, n, mp, httpPort, iperfPort)
}

func upNFT(ctx context.Context, s *session, p *plumbing) (*nsutil.Proc, error) {
	t := s.t
	if err := kernelForwarding(s, p); err != nil {
		return nil, err
	}
	if err := vipOnLoopback(s, p); err != nil {
		return nil, err
	}
	file := filepath.Join(s.dir, "nft.conf")
	if err := os.WriteFile(file, []byte(nftRuleset(t.VIP, t.RIPs())), 0o600); err != nil {
		return nil, err
	}
	if err := p.run(t.DirectorNS, []string{"nft", "-f", file}, []string{"nft", "delete", "table", "ip", "gdbench"}); err != nil {
		return nil, err
	}
	if err := routeRepliesViaDirector(s, p); err != nil {
		return nil, err
	}
	return nil, s.waitHTTP(ctx, []netip.Addr{t.VIP})
}

// haproxyConfig is HAProxy in mode tcp, round robin over the real servers.
func haproxyConfig(vip netip.Addr, rips []netip.Addr) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
	maxconn 4000
	nbthread 1

defaults
	mode tcp
	timeout connect 5s
	timeout client 30s
	timeout server 30s

listen vip
	bind %s:%d
	balance roundrobin
`, vip, httpPort)
	for i, r := range rips {
		fmt.Fprintf(&b, "\tserver rs%d %s:%d\n", i+1, r, httpPort)
	}
	return b.String()
}

func upHAProxy(ctx context.Context, s *session, p *plumbing) (*nsutil.Proc, error) {
	t := s.t
	if err := vipOnLoopback(s, p); err != nil {
		return nil, err
	}
	file := filepath.Join(s.dir, "haproxy.cfg")
	if err := os.WriteFile(file, []byte(haproxyConfig(t.VIP, t.RIPs())), 0o600); err != nil {
		return nil, err
	}
	proc, err := t.StartLogged(t.DirectorNS, filepath.Join(s.dir, "haproxy.log"),
		"taskset", "-c", strconv.Itoa(cpuDirector), "haproxy", "-db", "-f", file)
	if err != nil {
		return nil, err
	}
	p.then(proc.Stop)
	if err := s.waitHTTP(ctx, []netip.Addr{t.VIP}); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "haproxy.log"))
		return nil, fmt.Errorf("%w; haproxy log: %s", err, clip(string(log), 2000))
	}
	return proc, nil
}

// upGdirector starts gdirector on cpus with extra run flags and
// configures the three services with the method's forwarding flag.
func upGdirector(ctx context.Context, s *session, p *plumbing, cpus string, extra ...string) (*nsutil.Proc, error) {
	t := s.t
	sock := filepath.Join(s.dir, "gdirector.sock")
	logFile := filepath.Join(s.dir, "director.log")
	proc, err := t.StartDirectorArgs(s.wrapper(cpus), sock, logFile, append([]string{"--quiet"}, extra...)...)
	if proc != nil {
		p.then(proc.Stop)
	}
	if err != nil {
		return nil, err
	}
	vip := t.VIP.String()
	svcs := []struct{ proto, port, sched string }{
		{"-u", strconv.Itoa(udpPort), "rr"},
		{"-t", strconv.Itoa(httpPort), "rr"},
		{"-t", strconv.Itoa(iperfPort), "sh"}, // iperf3's control and data connections together
	}
	for _, sv := range svcs {
		cmds := [][]string{{"-A", sv.proto, vip + ":" + sv.port, "-s", sv.sched}}
		if t.Mode == "fullnat" {
			cmds = append(cmds, []string{"--add-laddr", "-z", lab.FullNATLocalAddr.String(), sv.proto, vip + ":" + sv.port})
		}
		for _, r := range t.Reals {
			cmds = append(cmds, []string{"-a", sv.proto, vip + ":" + sv.port, "-r", r.RIP.String() + ":" + sv.port, s.m.flag})
		}
		for _, c := range cmds {
			if _, err := lab.Ipvsadm(sock, c...); err != nil {
				return nil, err
			}
		}
	}
	if err := s.waitHTTP(ctx, []netip.Addr{t.VIP}); err != nil {
		log, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("%w; director log: %s", err, clip(string(log), 2000))
	}
	return proc, nil
}

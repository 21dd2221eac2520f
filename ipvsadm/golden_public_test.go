package ipvsadm

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// Public samples: each file of testdata/public is the output of a real
// ipvsadm (or, for -G, DPVS's) as published in an issue thread, a manual
// or a blog post. Its header ("# " lines) names the source and the
// command line; publicTables rebuilds the table the sample was printed
// from, counters set directly where the sample shows traffic, and the
// test runs the command and compares.
//
// The comparison is byte for byte, with one allowance: where the source
// lost the blanks at the end of a line (web pages and issue trackers
// trim them), the sample line must be our line without some of its
// trailing blanks; everything else, including every blank inside a
// line, must match. A "# skip-lines: N" header leaves out the first N
// lines (of both) when the sample comes from another program with a
// different first line. Connection listings (-c) are compared without
// their order, which is the order of a hash table in the kernel.
//
// A "# compare: fields" header is for sources whose stored copy lost the
// blanks between columns (a page that collapsed every run of blanks into
// one, and the indentation with it): each line must then have our line's
// fields — split on blanks — in the same order, and nothing else. Such a
// sample checks the values and their order but not the column layout,
// which the byte-for-byte samples and goldens of the same listing check.

// publicTable builds the table a sample was printed from and returns the
// Manager and the environment (names) to run the command in.
type publicTable func(t *testing.T) (*ctl.Manager, Env)

var publicTables = map[string]publicTable{
	"ln_kube_proxy.txt": func(t *testing.T) (*ctl.Manager, Env) {
		// Added out of order: ipvsadm sorts.
		return cmds(t,
			"-A -t 10.254.20.57:1 -s rr",
			"-a -t 10.254.20.57:1 -r 172.16.16.83:1 -m",
			"-a -t 10.254.20.57:1 -r 172.16.16.81:1 -m",
			"-a -t 10.254.20.57:1 -r 172.16.16.82:1 -m",
			"-A -t 10.254.0.1:443 -s rr -p 10800",
			"-a -t 10.254.0.1:443 -r 172.16.16.82:6443 -m",
			"-a -t 10.254.0.1:443 -r 172.16.16.81:6443 -m",
			"-A -t 10.253.102.1:32767 -s rr",
			"-a -t 10.253.102.1:32767 -r 10.253.35.2:8443 -m",
			"-A -t 10.253.102.0:32429 -s rr",
			"-a -t 10.253.102.0:32429 -r 10.253.102.4:80 -m",
			"-a -t 10.253.102.0:32429 -r 10.253.56.7:80 -m",
			"-a -t 10.253.102.0:32429 -r 10.253.7.7:80 -m",
			"-a -t 10.253.102.0:32429 -r 10.253.35.7:80 -m",
			"-A -t 10.254.9.36:443 -s rr",
			"-a -t 10.254.9.36:443 -r 10.253.35.2:8443 -m",
			"-A -t 10.253.102.0:32767 -s rr",
			"-a -t 10.253.102.0:32767 -r 10.253.35.2:8443 -m",
			"-A -t 10.254.0.2:53 -s rr",
			"-a -t 10.254.0.2:53 -r 10.253.35.5:53 -m",
			"-a -t 10.254.0.2:53 -r 10.253.7.5:53 -m",
		)
	},
	"ln_sctp.txt": func(t *testing.T) (*ctl.Manager, Env) {
		m, env := cmds(t,
			"-A --sctp-service 10.103.164.9:1000 -s rr",
			"-a --sctp-service 10.103.164.9:1000 -r 20.20.195.136:1000 -m",
			"-a --sctp-service 10.103.164.9:1000 -r 20.20.195.135:1000 -m",
			"-A --sctp-service 10.0.2.15:31514 -s rr",
			"-a --sctp-service 10.0.2.15:31514 -r 20.20.195.137:1000 -m",
			"-a --sctp-service 10.0.2.15:31514 -r 20.20.195.135:1000 -m",
			"-a --sctp-service 10.0.2.15:31514 -r 20.20.195.136:1000 -m",
			"-A -u 10.96.0.10:53 -s rr",
			"-a -u 10.96.0.10:53 -r 20.20.210.4:53 -m",
			"-a -u 10.96.0.10:53 -r 20.20.210.3:53 -m",
			"-A -t 10.96.232.136:6666 -s rr",
			"-a -t 10.96.232.136:6666 -r 192.168.56.105:6666 -m",
			"-A -t 10.96.0.10:9153 -s rr",
			"-a -t 10.96.0.10:9153 -r 20.20.210.4:9153 -m",
			"-a -t 10.96.0.10:9153 -r 20.20.210.3:9153 -m",
			"-A -t 10.96.0.10:53 -s rr",
			"-a -t 10.96.0.10:53 -r 20.20.210.3:53 -m",
			"-a -t 10.96.0.10:53 -r 20.20.210.4:53 -m",
			"-A -t 10.96.0.1:443 -s rr",
			"-a -t 10.96.0.1:443 -r 192.168.56.105:6443 -m",
		)
		setConns(t, m, vs.TCP, "10.96.0.1", 443, "192.168.56.105:6443", 3, 0)
		setConns(t, m, vs.TCP, "10.96.232.136", 6666, "192.168.56.105:6666", 5, 0)
		return m, env
	},
	"l_names_dr.txt": drHuangdc,
	"s_names_dr.txt": drHuangdc,
	"l_names_hosts.txt": func(t *testing.T) (*ctl.Manager, Env) {
		// Eight NodePort services on the node's address, which the AWS
		// resolver names, as it names one pod's node; the service
		// ports are cut off in the sample, their order is the order of
		// the ports.
		m, _ := cmds(t,
			"-A -t 10.0.62.121:30008 -s rr",
			"-a -t 10.0.62.121:30008 -r 100.99.43.2:9125 -m",
			"-a -t 10.0.62.121:30008 -r 100.99.70.6:9125 -m",
			"-A -t 10.0.62.121:30001 -s rr",
			"-a -t 10.0.62.121:30001 -r 100.96.5.4:9090 -m",
			"-A -t 10.0.62.121:30002 -s rr",
			"-a -t 10.0.62.121:30002 -r 10.0.62.92:9100 -m",
			"-A -t 10.0.62.121:30003 -s rr",
			"-a -t 10.0.62.121:30003 -r 100.96.6.18:9109 -m",
			"-A -t 10.0.62.121:30004 -s rr",
			"-a -t 10.0.62.121:30004 -r 100.99.0.16:80 -m",
			"-a -t 10.0.62.121:30004 -r 100.98.125.10:80 -m",
			"-A -t 10.0.62.121:30005 -s rr",
			"-a -t 10.0.62.121:30005 -r 100.98.180.22:80 -m",
			"-a -t 10.0.62.121:30005 -r 100.97.142.16:80 -m",
			"-a -t 10.0.62.121:30005 -r 100.97.16.8:80 -m",
			"-a -t 10.0.62.121:30005 -r 100.96.6.22:80 -m",
			"-A -t 10.0.62.121:30006 -s rr",
			"-a -t 10.0.62.121:30006 -r 100.99.43.2:9102 -m",
			"-a -t 10.0.62.121:30006 -r 100.99.70.6:9102 -m",
			"-A -t 10.0.62.121:30007 -s rr",
			"-a -t 10.0.62.121:30007 -r 100.99.76.7:9102 -m",
		)
		for _, c := range []struct {
			port      uint16
			dest      string
			act, inac int32
		}{
			{30004, "100.98.125.10:80", 2, 14}, {30004, "100.99.0.16:80", 0, 14},
			{30005, "100.96.6.22:80", 1, 1}, {30005, "100.97.16.8:80", 1, 1},
			{30005, "100.97.142.16:80", 0, 1}, {30005, "100.98.180.22:80", 0, 1},
		} {
			setConns(t, m, vs.TCP, "10.0.62.121", c.port, c.dest, c.act, c.inac)
		}
		return m, Env{Names: &Names{HostName: func(a netip.Addr) string {
			switch a.String() {
			case "10.0.62.121":
				return "ip-10-0-62-121.ec2.internal"
			case "10.0.62.92":
				return "ip-10-0-62-92.ec2.internal"
			}
			return ""
		}}}
	},
	"stats.txt": func(t *testing.T) (*ctl.Manager, Env) {
		lines := []string{
			"-A -t 10.3.0.1:443 -s rr", "-a -t 10.3.0.1:443 -r 172.17.4.101:443 -m",
			"-A -t 10.3.0.10:53 -s rr", "-a -t 10.3.0.10:53 -r 10.2.0.3:53 -m",
			"-A -t 10.3.0.42:80 -s rr",
		}
		for i := 29; i >= 22; i-- {
			lines = append(lines, "-a -t 10.3.0.42:80 -r 10.2.1."+strconv.Itoa(i)+":80 -m")
		}
		m, env := cmds(t, lines...)
		s := service(t, m, vs.TCP, "10.3.0.42", 80)
		setStats(s.Stats, 14209, 111769, 74613, 7207174, 8334358)
		for i := 22; i <= 29; i++ {
			st := &destOf(t, s, "10.2.1."+strconv.Itoa(i)+":80").Stats
			if i <= 24 {
				setStats(st, 2, 12, 8, 774, 894)
			} else {
				setStats(st, 3, 18, 12, 1161, 1341)
			}
		}
		return m, env
	},
	"thresholds.txt": func(t *testing.T) (*ctl.Manager, Env) {
		return cmds(t,
			"-A -t 172.25.116.175:80 -s rr",
			"-a -t 172.25.116.175:80 -r 192.168.1.182:80 -m -x 10000 -y 100",
			"-a -t 172.25.116.175:80 -r 192.168.1.180:80 -m",
			"-a -t 172.25.116.175:80 -r 192.168.1.181:80 -m -x 10000",
		)
	},
	"ln_persistent.txt": func(t *testing.T) (*ctl.Manager, Env) {
		m, env := cmds(t,
			"-A -t 10.11.12.13:6379 -s wlc -p 10",
			"-a -t 10.11.12.13:6379 -r 10.192.0.1:32768 -m",
		)
		setConns(t, m, vs.TCP, "10.11.12.13", 6379, "10.192.0.1:32768", 1, 0)
		return m, env
	},
	"persistent_conn.txt": func(t *testing.T) (*ctl.Manager, Env) {
		m, env := cmds(t,
			"-A -t 10.11.12.13:6379 -s wlc -p 10",
			"-a -t 10.11.12.13:6379 -r 10.192.0.1:32768 -m",
			"-E -t 10.11.12.13:6379 -p 60", // the sample's own command
		)
		d := setConns(t, m, vs.TCP, "10.11.12.13", 6379, "10.192.0.1:32768", 1, 0)
		d.PersistConns.Store(1)
		return m, env
	},
	"ln_dr.txt": drGentleduo,
	"sn_dr.txt": drGentleduo,
	"lnc.txt": func(t *testing.T) (*ctl.Manager, Env) {
		m, now := connsManager(t,
			"-A -t 192.168.56.200:80 -s rr",
			"-a -t 192.168.56.200:80 -r 192.168.56.102 -g -w 1",
			"-a -t 192.168.56.200:80 -r 192.168.56.103 -g -w 1",
		)
		s := service(t, m, vs.TCP, "192.168.56.200", 80)
		// Expiry is counted from the last packet: 900 s established,
		// 120 s in FIN_WAIT (the kernel's defaults).
		conn(t, m, s, "192.168.56.1:56954", "192.168.56.102:80", now-669e9, 0x10)
		conn(t, m, s, "192.168.56.1:57322", "192.168.56.102:80", now-2e9, 0x10, 0x11)
		conn(t, m, s, "192.168.56.1:57326", "192.168.56.103:80", now-1e9, 0x10)
		return m, Env{}
	},
	"lcn_long_expiry.txt": func(t *testing.T) (*ctl.Manager, Env) {
		m, now := connsManager(t,
			"--set 9000 120 300",
			"-A -t 10.40.25.43:18000 -s rr",
			"-a -t 10.40.25.43:18000 -r 10.40.25.16 -g",
			"-a -t 10.40.25.43:18000 -r 10.40.25.28 -g",
		)
		s := service(t, m, vs.TCP, "10.40.25.43", 18000)
		for _, c := range []struct {
			client, dest string
			left         int64 // seconds
		}{
			{"10.142.81.39:49715", "10.40.25.16:18000", 133*60 + 35},
			{"10.40.25.18:50868", "10.40.25.16:18000", 43*60 + 28},
			{"10.142.81.39:65528", "10.40.25.28:18000", 53*60 + 35},
			{"10.40.25.26:43492", "10.40.25.28:18000", 42*60 + 56},
			{"10.40.25.22:59335", "10.40.25.28:18000", 64*60 + 46},
			{"10.40.25.13:56794", "10.40.25.28:18000", 85*60 + 32},
			{"10.40.25.26:43362", "10.40.25.16:18000", 89*60 + 54},
			{"10.142.81.39:49159", "10.40.25.16:18000", 76*60 + 15},
			{"10.40.25.22:57556", "10.40.25.16:18000", 49*60 + 29},
			{"10.40.25.14:60486", "10.40.25.28:18000", 97*60 + 0},
			{"10.40.25.17:60184", "10.40.25.16:18000", 118*60 + 50},
			{"10.142.81.76:49199", "10.40.25.16:18000", 70*60 + 14},
		} {
			conn(t, m, s, c.client, c.dest, now-(9000-c.left)*1e9, 0x10)
		}
		return m, Env{}
	},
	"timeout.txt": func(t *testing.T) (*ctl.Manager, Env) { return cmds(t) },
	"ln_wrr_dr.txt": func(t *testing.T) (*ctl.Manager, Env) {
		m, env := wrrReibang(t)
		for dest, active := range map[string]int32{
			"10.100.5.86:6030": 5, "10.100.5.87:6030": 17, "10.100.5.88:6030": 17,
		} {
			setConns(t, m, vs.TCP, "10.100.5.98", 6030, dest, active, 0)
		}
		return m, env
	},
	"ln_stats_units.txt": func(t *testing.T) (*ctl.Manager, Env) {
		// DR: replies bypass the director, nothing goes out. The
		// service's counters exceed the sum of its real servers' (the
		// kernel keeps in a service's counters the traffic of real
		// servers removed since), so each is set on its own. The byte
		// counters are chosen with a fraction of a K or an M above one
		// half: print_largenum divides and truncates (1105.62M prints
		// 1105M), which a rounding implementation would get wrong.
		m, env := wrrReibang(t)
		s := service(t, m, vs.TCP, "10.100.5.98", 6030)
		setStats(s.Stats, 113786, 19495479, 0, 2110731954, 0)
		setStats(&destOf(t, s, "10.100.5.86:6030").Stats, 12883, 1679941, 0, 181747802, 0)
		setStats(&destOf(t, s, "10.100.5.87:6030").Stats, 40269, 10218905, 0, 1105618340, 0)
		setStats(&destOf(t, s, "10.100.5.88:6030").Stats, 40240, 7403127, 0, 804275566, 0)
		return m, env
	},
	"ln_rate.txt": func(t *testing.T) (*ctl.Manager, Env) {
		// The estimator's averages as the kernel keeps them (CPS and
		// PPS ×2^10, BPS ×2^5), read back by ipvsadm rounded to the
		// nearest unit, half down: (avg+511)>>10 and (avg+15)>>5. Small
		// packets (about 108 bytes, as the --stats sample's bytes per
		// packet) at under two a second, a new connection about every
		// three seconds, nothing out (DR); the service's averages are
		// about the sum of its real servers', as the kernel's would be:
		//   CPS    45+128+128 = 301 → 0
		//   InPPS  500 → 0, 620 → 1, 696 → 1; 1816 → 2
		//   InBPS  1741 → 54, 2093 → 65, 2349 → 73; 6183 → 193
		// (the real servers' rates add up to 192: the service's own
		// average rounds up where theirs round down).
		m, env := wrrReibang(t)
		s := service(t, m, vs.TCP, "10.100.5.98", 6030)
		s.Stats.SetScaled(vs.ScaledRates{CPS: 301, InPPS: 1816, InBPS: 6183})
		for dest, r := range map[string]vs.ScaledRates{
			"10.100.5.86:6030": {CPS: 45, InPPS: 500, InBPS: 1741},
			"10.100.5.87:6030": {CPS: 128, InPPS: 620, InBPS: 2093},
			"10.100.5.88:6030": {CPS: 128, InPPS: 696, InBPS: 2349},
		} {
			destOf(t, s, dest).Stats.SetScaled(r)
		}
		return m, env
	},
	"g_fnat.txt":  fnatDPVS,
	"ln_fnat.txt": fnatDPVS,
	"g_fnat_two.txt": func(t *testing.T) (*ctl.Manager, Env) {
		return cmds(t,
			"-A -t 192.168.100.254:80 -s rr",
			"-a -t 192.168.100.254:80 -r 192.168.100.2 -b -w 100",
			"-a -t 192.168.100.254:80 -r 192.168.100.3 -b -w 100",
			"-P -t 192.168.100.254:80 -z 192.168.100.200 -F dpdk0",
			"-P -t 192.168.100.254:80 -z 192.168.100.201 -F dpdk0",
		)
	},
}

// drHuangdc is the table of https://www.huangdc.com/201, with its own
// commands.
func drHuangdc(t *testing.T) (*ctl.Manager, Env) {
	return cmds(t,
		"-C",
		"-A -t 192.168.1.107:80 -s rr",
		"-a -t 192.168.1.107:80 -r 192.168.1.103:80 -g",
		"-a -t 192.168.1.107:80 -r 192.168.1.104:80 -g",
	)
}

// drGentleduo is the DR table of gentleduo/memo-repository's notes, with
// their commands.
func drGentleduo(t *testing.T) (*ctl.Manager, Env) {
	return cmds(t,
		"-A -t 192.168.56.200:80 -s rr",
		"-a -t 192.168.56.200:80 -r 192.168.56.102 -g -w 1",
		"-a -t 192.168.56.200:80 -r 192.168.56.103 -g -w 1",
	)
}

// wrrReibang is the DR table of http://reibang.com/p/ed91ba655559; the
// page shows its listings only, these commands rebuild it.
func wrrReibang(t *testing.T) (*ctl.Manager, Env) {
	return cmds(t,
		"-A -t 10.100.5.98:6030 -s wrr",
		"-a -t 10.100.5.98:6030 -r 10.100.5.86:6030 -g -w 5",
		"-a -t 10.100.5.98:6030 -r 10.100.5.87:6030 -g -w 5",
		"-a -t 10.100.5.98:6030 -r 10.100.5.88:6030 -g -w 5",
	)
}

// fnatDPVS is the FullNAT table of DPVS's tutorial, with its commands.
func fnatDPVS(t *testing.T) (*ctl.Manager, Env) {
	return cmds(t,
		"-A -t 10.0.0.100:80 -s rr",
		"-a -t 10.0.0.100:80 -r 192.168.100.2 -b",
		"-a -t 10.0.0.100:80 -r 192.168.100.3 -b",
		"--add-laddr -z 192.168.100.200 -t 10.0.0.100:80 -F dpdk0",
	)
}

// cmds builds a Manager with ipvsadm commands.
func cmds(t *testing.T, lines ...string) (*ctl.Manager, Env) {
	t.Helper()
	m, _ := newManager(t, lines)
	return m, Env{}
}

func service(t *testing.T, m *ctl.Manager, p vs.Proto, addr string, port uint16) *vs.Service {
	t.Helper()
	s := m.Table().Get(ctl.ServiceID{Proto: p, Addr: netip.MustParseAddr(addr), Port: port}.Key())
	if s == nil {
		t.Fatalf("no service %v %s:%d", p, addr, port)
	}
	return s
}

// setConns sets a real server's connection counts directly.
func setConns(t *testing.T, m *ctl.Manager, p vs.Proto, addr string, port uint16, dest string, active, inactive int32) *vs.Dest {
	t.Helper()
	d := destOf(t, service(t, m, p, addr, port), dest)
	d.ActiveConns.Store(active)
	d.InactConns.Store(inactive)
	return d
}

func setStats(st *vs.Stats, conns, inPkts, outPkts, inBytes, outBytes uint64) {
	st.Conns.Store(conns)
	st.InPkts.Store(inPkts)
	st.OutPkts.Store(outPkts)
	st.InBytes.Store(inBytes)
	st.OutBytes.Store(outBytes)
}

// connsManager is a Manager with a connection table and a clock stopped at
// the returned time, built with ipvsadm commands.
func connsManager(t *testing.T, lines ...string) (*ctl.Manager, int64) {
	t.Helper()
	const now = int64(1e13)
	conns := conntrack.NewTable(conntrack.Options{Capacity: 64})
	m := ctl.NewManager(ctl.Config{Conns: conns, Timeouts: conns, Now: func() int64 { return now }})
	for _, line := range lines {
		if _, e, c := Run(m, split(line)); c != 0 {
			t.Fatalf("ipvsadm %s: %s", line, e)
		}
	}
	return m, now
}

// conn adds a TCP connection from client to the service's real server
// dest and plays the client's packets at time at: a SYN, then the given
// TCP flags.
func conn(t *testing.T, m *ctl.Manager, s *vs.Service, client, dest string, at int64, flags ...uint8) {
	t.Helper()
	tbl := m.Conns().(*conntrack.Table)
	ca, da := netip.MustParseAddrPort(client), netip.MustParseAddrPort(dest)
	d := destOf(t, s, dest)
	c, err := tbl.New(at, &conntrack.Params{Proto: vs.TCP,
		CAddr: vs.Addr16(ca.Addr()), CPort: ca.Port(),
		VAddr: vs.Addr16(s.Addr), VPort: s.Port,
		DAddr: vs.Addr16(da.Addr()), DPort: da.Port(),
		Fwd: d.FwdMethod(), Dest: d, Svc: s})
	if err != nil {
		t.Fatal(err)
	}
	c.Update(at, conntrack.In, 0x02)
	for _, f := range flags {
		c.Update(at, conntrack.In, f)
	}
}

// sample is a parsed testdata/public file.
type sample struct {
	source, command string
	skip            int
	fields          bool // "# compare: fields"
	lines           []string
}

func readSample(t *testing.T, path string) sample {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s sample
	text := string(b)
	for strings.HasPrefix(text, "#") {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		switch {
		case strings.HasPrefix(line, "# source: "):
			s.source = strings.TrimPrefix(line, "# source: ")
		case strings.HasPrefix(line, "# command: "):
			s.command = strings.TrimPrefix(line, "# command: ")
		case strings.HasPrefix(line, "# skip-lines: "):
			if s.skip, err = strconv.Atoi(strings.TrimPrefix(line, "# skip-lines: ")); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(line, "# compare: "):
			if mode := strings.TrimPrefix(line, "# compare: "); mode != "fields" {
				t.Fatalf("%s: unknown comparison %q", path, mode)
			}
			s.fields = true
		}
	}
	if s.source == "" || !strings.HasPrefix(s.command, program+" ") || !strings.HasSuffix(text, "\n") {
		t.Fatalf("%s: a sample needs a source, a command and a final newline", path)
	}
	s.lines = strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	return s
}

// sameLine: got is want, or want lost some of got's trailing blanks.
func sameLine(got, want string) bool {
	return strings.HasPrefix(got, want) && strings.Trim(got[len(want):], " ") == ""
}

// sameFields: got and want have the same blank-separated fields in the
// same order, whatever the blanks between them.
func sameFields(got, want string) bool {
	return slices.Equal(strings.Fields(got), strings.Fields(want))
}

func TestPublicSamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "public", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatal("no samples", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			smp := readSample(t, path)
			build := publicTables[name]
			if build == nil {
				t.Fatalf("no table for %s", name)
			}
			m, env := build(t)
			argv := strings.Fields(strings.TrimPrefix(smp.command, program+" "))
			out, errOut, code := RunEnv(m, argv, env)
			if code != 0 || errOut != "" {
				t.Fatalf("%s: status %d, %q", smp.command, code, errOut)
			}
			got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			want := smp.lines
			if len(got) < smp.skip || len(want) < smp.skip {
				t.Fatalf("too short:\n%s", out)
			}
			got, want = got[smp.skip:], want[smp.skip:]
			if isConnListing(argv) && len(got) > 2 && len(want) > 2 {
				// Same header, same lines in any order.
				got = append(got[:2:2], slices.Sorted(slices.Values(got[2:]))...)
				want = append(want[:2:2], slices.Sorted(slices.Values(want[2:]))...)
			}
			same := sameLine
			if smp.fields {
				same = sameFields
			}
			ok := len(got) == len(want)
			for i := 0; ok && i < len(got); i++ {
				ok = same(got[i], want[i])
			}
			if !ok {
				t.Errorf("%s (sample from %s):\n%s\nwant:\n%s", smp.command, smp.source,
					strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
	for name := range publicTables {
		if _, err := os.Stat(filepath.Join("testdata", "public", name)); err != nil {
			t.Errorf("table for a missing sample: %v", err)
		}
	}
}

func isConnListing(argv []string) bool {
	for _, w := range argv {
		if w == "--connection" || (len(w) > 1 && w[0] == '-' && w[1] != '-' && strings.ContainsRune(w, 'c')) {
			return true
		}
	}
	return false
}

// TestSameLine pins the one allowance of the comparison.
func TestSameLine(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		ok        bool
	}{
		{"a  0         ", "a  0         ", true},
		{"a  0         ", "a  0", true},
		{"a  0         ", "a  0 ", true},
		{"a  0", "a  0 ", false},
		{"a  0", "a 0", false},
		{"a  0x", "a  0", false},
	} {
		if sameLine(tc.got, tc.want) != tc.ok {
			t.Errorf("sameLine(%q, %q) = %v", tc.got, tc.want, !tc.ok)
		}
	}
}

// TestSameFields pins the comparison of "# compare: fields" samples:
// blanks are free, fields and their order are not.
func TestSameFields(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		ok        bool
	}{
		{"  -> 10.0.0.1:80                 0        1", "-> 10.0.0.1:80 0 1", true},
		{"TCP  10.0.0.1:80   2110M", "TCP 10.0.0.1:80 2110M ", true},
		{"", "", true},
		{"a 0 1", "a 1 0", false},
		{"a 0 1", "a 0", false},
		{"a 0", "a 0 1", false},
		{"a 2110M", "a 2110 M", false},
		{"a 2110M", "a 2111M", false},
		{"-> a", "  ->a", false},
	} {
		if sameFields(tc.got, tc.want) != tc.ok {
			t.Errorf("sameFields(%q, %q) = %v", tc.got, tc.want, !tc.ok)
		}
	}
}

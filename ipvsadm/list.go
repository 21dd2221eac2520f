package ipvsadm

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/vs"
)

// list is the -L/-l command.
func (r *runner) list(c *command) (int, error) {
	o := c.options
	has := func(bits ...int) bool {
		for _, b := range bits {
			if o&(1<<b) != 0 {
				return true
			}
		}
		return false
	}
	if (has(optConnection, optTimeout, optDaemon) && has(optStats, optRate, optThresholds)) ||
		(has(optTimeout, optDaemon) && has(optPersistentConn)) {
		return 0, fail(exitArgs, "options conflicts in the list command")
	}
	switch {
	case has(optConnection):
		r.listConns(c.format)
	case has(optService):
		s, err := r.m.Service(c.serviceID())
		if err != nil {
			return 0, fail(exitList, "%s", err)
		}
		r.title(c.format)
		r.service(s, c.format)
	case has(optTimeout):
		tcp, fin, udp := r.m.Timeouts()
		r.printf("Timeout (tcp tcpfin udp): %d %d %d\n", tcp, fin, udp)
	case has(optDaemon):
		r.listDaemons()
	default:
		r.listAll(c.format)
	}
	return 0, nil
}

// listAll prints the whole table: the version line (not for -S), the
// column titles and every service, sorted unless --nosort.
func (r *runner) listAll(format uint) {
	if format&fmtRule == 0 {
		r.printf("IP Virtual Server version %s (size=%d)\n", ipvsVersion, connTabSize)
	}
	svcs := r.m.Table().Services
	if format&fmtNoSort == 0 {
		svcs = mergeSort(svcs, compareServices)
	} else {
		// The kernel walks its address-keyed hash table before the
		// fwmark one; within each, the order here is the order of adding.
		byAddr := make([]*vs.Service, 0, len(svcs))
		var byMark []*vs.Service
		for _, s := range svcs {
			if s.FwMark == 0 {
				byAddr = append(byAddr, s)
			} else {
				byMark = append(byMark, s)
			}
		}
		svcs = append(byAddr, byMark...)
	}
	r.title(format)
	for _, s := range svcs {
		r.service(s, format)
	}
}

func (r *runner) title(format uint) {
	const svcCol = "Prot LocalAddress:Port"
	switch {
	case format&fmtStats != 0:
		r.printf("%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			svcCol, "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case format&fmtRate != 0:
		r.printf("%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			svcCol, "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case format&fmtThresholds != 0:
		r.printf("%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n",
			svcCol, "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case format&fmtPersistentConn != 0:
		r.printf("%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n",
			svcCol, "Weight", "PersistConn", "ActiveConn", "InActConn")
	case format&fmtTunInfo != 0:
		r.printf("%s Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n", svcCol)
	case format&fmtRule == 0:
		r.printf("%s Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n", svcCol)
	}
}

func protoName(p vs.Proto) string {
	switch p {
	case vs.TCP, vs.UDP, vs.SCTP:
		return p.String()
	}
	return "?"
}

func protoOption(p vs.Proto) string {
	switch p {
	case vs.TCP:
		return "-t"
	case vs.UDP:
		return "-u"
	case vs.SCTP:
		return "--sctp-service"
	}
	return "--xxx-service"
}

// serviceName is the service column: "TCP  192.0.2.10:80", "FWM  7" (or
// for -S "-t 192.0.2.10:80", "-f 7").
func (r *runner) serviceName(s *vs.Service, format uint) string {
	if s.FwMark != 0 {
		// ipvsadm 1.31 prints the mark with %d; the %u of the later fix
		// (same output below 2^31) is used here.
		switch {
		case format&fmtRule != 0 && s.IPv6:
			return fmt.Sprintf("-f %d -6", s.FwMark)
		case format&fmtRule != 0:
			return fmt.Sprintf("-f %d", s.FwMark)
		case s.IPv6:
			return fmt.Sprintf("FWM  %d IPv6", s.FwMark)
		}
		return fmt.Sprintf("FWM  %d", s.FwMark)
	}
	v := r.names.anyname(s.Addr, s.Port, s.Proto, format&fmtNumeric != 0)
	if format&fmtRule != 0 {
		return protoOption(s.Proto) + " " + v
	}
	name := fmt.Sprintf("%-4s %s", protoName(s.Proto), v)
	if !s.IPv6 {
		name = truncate(name, 33)
	}
	return name
}

// svcProto is the protocol a service's real-server ports are named for:
// ipvsadm creates firewall-mark services with protocol TCP.
func svcProto(s *vs.Service) vs.Proto {
	if s.FwMark != 0 {
		return vs.TCP
	}
	return s.Proto
}

func fwdName(m vs.FwdMethod) string {
	switch m {
	case vs.Masq, vs.Local, vs.Tunnel, vs.DirectRoute, vs.FullNAT:
		return m.String()
	}
	return "(null)"
}

func fwdSwitch(m vs.FwdMethod) string {
	switch m {
	case vs.Masq:
		return "-m"
	case vs.Tunnel:
		return "-i"
	case vs.Local, vs.DirectRoute:
		return "-g"
	case vs.FullNAT:
		return "-b" // DPVS
	}
	return "(null)"
}

func schedFlags(s *vs.Service) string {
	var f []string
	switch s.SchedName {
	case "sh", "mh":
		if s.Flags&vs.SvcSchedFlag1 != 0 {
			f = append(f, s.SchedName+"-fallback")
		}
		if s.Flags&vs.SvcSchedFlag2 != 0 {
			f = append(f, s.SchedName+"-port")
		}
	default:
		for i, bit := range []uint32{vs.SvcSchedFlag1, vs.SvcSchedFlag2, vs.SvcSchedFlag3} {
			if s.Flags&bit != 0 {
				f = append(f, "flag-"+strconv.Itoa(i+1))
			}
		}
	}
	return strings.Join(f, ",")
}

const anySchedFlag = vs.SvcSchedFlag1 | vs.SvcSchedFlag2 | vs.SvcSchedFlag3

// service prints one service and its real servers.
func (r *runner) service(s *vs.Service, format uint) {
	name := r.serviceName(s, format)
	st := s.Stats
	switch {
	case format&fmtRule != 0:
		r.printf("-A %s -s %s", name, s.SchedName)
		if s.Persistent() {
			r.printf(" -p %d", s.Timeout)
			if !s.IPv6 && s.Netmask != 0xffffffff {
				r.printf(" -M %s", addrFrom32(s.Netmask))
			}
			if s.IPv6 && s.Netmask != 128 {
				r.printf(" -M %d", int32(s.Netmask))
			}
		}
		if s.PEName != "" {
			r.printf(" --pe %s", s.PEName)
		}
		if s.Flags&vs.SvcOnePacket != 0 {
			r.printf(" -o")
		}
		if s.Flags&anySchedFlag != 0 {
			r.printf(" -b %s", schedFlags(s))
		}
	case format&fmtStats != 0:
		r.printf("%-33s", name)
		r.largeNums(format, st.Conns.Load(), st.InPkts.Load(), st.OutPkts.Load(), st.InBytes.Load(), st.OutBytes.Load())
	case format&fmtRate != 0:
		rt := st.Rates()
		r.printf("%-33s", name)
		r.largeNums(format, rt.CPS, rt.InPPS, rt.OutPPS, rt.InBPS, rt.OutBPS)
	default:
		r.printf("%s %s", name, s.SchedName)
		if s.Flags&anySchedFlag != 0 {
			r.printf(" (%s)", schedFlags(s))
		}
		if s.Persistent() {
			r.printf(" persistent %d", s.Timeout)
			if !s.IPv6 && s.Netmask != 0xffffffff {
				r.printf(" mask %s", addrFrom32(s.Netmask))
			}
			if s.IPv6 && s.Netmask != 128 {
				r.printf(" mask %d", int32(s.Netmask))
			}
			if s.PEName != "" {
				r.printf(" pe %s", s.PEName)
			}
		}
		if s.Flags&vs.SvcOnePacket != 0 {
			r.printf(" ops")
		}
	}
	r.printf("\n")

	var dests []*vs.Dest
	if format&fmtNoSort != 0 {
		// The kernel's own order (most recently added first), which
		// is the order of the snapshot.
		dests = s.Dests
	} else {
		dests = mergeSort(s.Dests, compareDests)
	}
	for _, d := range dests {
		r.dest(s, d, name, format)
	}
	if format&fmtRule != 0 {
		// DPVS's ipvsadm -S leaves the local addresses out; they are
		// saved here, as its --add-laddr commands, so that -S | -R
		// restores a FullNAT configuration whole.
		for _, la := range s.LAddrs {
			r.printf("-P %s -z %s", name, ntop(la.Addr))
			if la.Iface != "" {
				r.printf(" -F %s", la.Iface)
			}
			r.printf("\n")
		}
	}
}

func (r *runner) dest(s *vs.Service, d *vs.Dest, svcName string, format uint) {
	v6 := d.Addr.Is6()
	dname := r.names.anyname(d.Addr, d.Port, svcProto(s), format&fmtNumeric != 0)
	if format&fmtRule == 0 && !v6 {
		dname = truncate(dname, 28)
	}
	fwd := d.FwdMethod()
	w := d.Weight.Load()
	active, inact := uint32(d.ActiveConns.Load()), uint32(d.InactConns.Load())
	switch {
	case format&fmtRule != 0:
		if fwd == vs.Tunnel {
			r.printf("-a %s -r %s %s -w %d --tun-type ipip\n", svcName, dname, fwdSwitch(fwd), w)
		} else {
			r.printf("-a %s -r %s %s -w %d\n", svcName, dname, fwdSwitch(fwd), w)
		}
	case format&fmtStats != 0:
		st := &d.Stats
		r.printf("  -> %-28s", dname)
		r.largeNums(format, st.Conns.Load(), st.InPkts.Load(), st.OutPkts.Load(), st.InBytes.Load(), st.OutBytes.Load())
		r.printf("\n")
	case format&fmtRate != 0:
		// ipvsadm prints the real server's CPS and PPS with %8llu, not
		// print_largenum: never scaled, --exact or not.
		rt := d.Stats.Rates()
		r.printf("  -> %-28s %8d %8d %8d", dname, rt.CPS, rt.InPPS, rt.OutPPS)
		r.largeNums(format, rt.InBPS, rt.OutBPS)
		r.printf("\n")
	case format&fmtThresholds != 0:
		r.printf("  -> %-28s %-10d %-10d %-10d %-10d\n", dname,
			d.UThreshold.Load(), d.LThreshold.Load(), active, inact)
	case format&fmtPersistentConn != 0:
		r.printf("  -> %-28s %-9d %-11d %-10d %-10d\n", dname,
			uint32(w), uint32(d.PersistConns.Load()), active, inact)
	case format&fmtTunInfo != 0:
		info := "n/a"
		if fwd == vs.Tunnel {
			info = "ipip"
		}
		r.printf("  -> %-28s %-7s %-13s %-6d %-10d %-10d\n", dname, fwdName(fwd), info, w, active, inact)
	default:
		r.printf("  -> %-28s %-7s %-6d %-10d %-10d\n", dname, fwdName(fwd), w, active, inact)
	}
}

// largeNums prints counters in 9 columns, scaled with K, M, G, T unless
// --exact.
func (r *runner) largeNums(format uint, vals ...uint64) {
	for _, v := range vals {
		if format&fmtExact != 0 {
			s := strconv.FormatUint(v, 10)
			width := 9
			if len(s) > 8 {
				width = len(s) + 1
			}
			r.printf("%*s", width, s)
			continue
		}
		switch {
		case v < 100000000:
			r.printf("%9d", v)
		case v < 1000000000:
			r.printf("%8dK", v/1000)
		case v < 100000000000:
			r.printf("%8dM", v/1000000)
		case v < 100000000000000:
			r.printf("%8dG", v/1000000000)
		default:
			r.printf("%8dT", v/1000000000000)
		}
	}
}

// listConns is -c: the connection table, as ipvsadm prints
// /proc/net/ip_vs_conn.
func (r *runner) listConns(format uint) {
	r.printf("IPVS connection entries\n")
	if format&fmtPersistentConn != 0 {
		r.printf("pro expire %-11s %-18s %-18s %-18s %-16s %s\n",
			"state", "source", "virtual", "destination", "pe name", "pe_data")
	} else {
		r.printf("pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	}
	cl := r.m.Conns()
	if cl == nil {
		return
	}
	now := r.m.Now()
	numeric := format&fmtNumeric != 0
	cl.Range(func(c *conntrack.Conn) bool {
		left := (c.Expires() - now) / 1e9
		if left < 0 {
			left = 0
		}
		addr := func(b [16]byte) netip.Addr {
			if c.IPv6 {
				return netip.AddrFrom16(b)
			}
			return vs.AddrFrom16(b)
		}
		daddr := vs.AddrFrom16(c.DAddr)
		if c.IPv6 && !netip.AddrFrom16(c.DAddr).Is4In6() {
			daddr = netip.AddrFrom16(c.DAddr)
		}
		r.printf("%-3s %-6s %-11s %-18s %-18s %s\n", c.Proto.String(),
			fmt.Sprintf("%02d:%02d", left/60, left%60), c.StateName(),
			r.names.anyname(addr(c.CAddr), c.CPort, c.Proto, numeric),
			r.names.anyname(addr(c.VAddr), c.VPort, c.Proto, numeric),
			r.names.anyname(daddr, c.DPort, c.Proto, numeric))
		return true
	})
}

// getLAddrs is DPVS's --get-laddr (-G): the local addresses of one
// service, or of every service, in the layout of DPVS's list_laddrs: a
// title, then per service a line with its address and the number of local
// addresses, then one line per local address with its port conflicts and
// connections. Without a service the title is printed before the first
// service only, and not at all when there is none. Services are sorted as
// -L sorts them; a firewall-mark service is named as -L names it (DPVS
// would print a zero address).
func (r *runner) getLAddrs(c *command) (int, error) {
	var svcs []*vs.Service
	if c.options&(1<<optService) != 0 {
		s := r.m.Table().Get(c.serviceID().Key())
		if s == nil {
			return 0, fail(exitList, "%s", ctl.ErrServiceNotDefined)
		}
		svcs = []*vs.Service{s}
	} else {
		svcs = mergeSort(r.m.Table().Services, compareServices)
	}
	for i, s := range svcs {
		if i == 0 {
			r.printf("%-20s %-8s %-20s %-10s %-10s\n", "VIP:VPORT", "TOTAL", "SNAT_IP", "CONFLICTS", "CONNS")
		}
		name := addrPort(s.Addr, s.Port)
		if s.FwMark != 0 {
			name = r.serviceName(s, fmtNumeric)
		}
		r.printf("%-20s %-8d \n", name, len(s.LAddrs))
		for _, la := range s.LAddrs {
			r.printf("%-20s %-8s %-20s %-10d %-10d\n", "", "", ntop(la.Addr), la.Conflicts.Load(), uint32(la.Conns.Load()))
		}
	}
	return 0, nil
}

// version prints ipvsadm's version line.
func (r *runner) version() {
	r.printf("%s %s (compiled with popt and IPVS v%s)\n", program, ipvsadmVersion, ipvsVersion)
}

// usage prints the help text. The synopsis is ipvsadm's; the schedulers
// listed are the ones this director has.
func (r *runner) usage() {
	r.version()
	p := program
	r.printf("Usage:\n"+
		"  %s -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]\n"+
		"  %s -D virtual-service\n"+
		"  %s -C\n"+
		"  %s -R\n"+
		"  %s -S [-n]\n"+
		"  %s -a|e virtual-service -r server-address [options]\n"+
		"  %s -d virtual-service -r server-address\n"+
		"  %s -L|l [virtual-service] [options]\n"+
		"  %s -Z [virtual-service]\n"+
		"  %s -P|Q virtual-service -z local-address [-F ifname]\n"+
		"  %s -G [virtual-service]\n"+
		"  %s --set tcp tcpfin udp\n"+
		"  %s --start-daemon {master|backup} [daemon-options]\n"+
		"  %s --stop-daemon {master|backup}\n"+
		"  %s -h\n\n", p, p, p, p, p, p, p, p, p, p, p, p, p, p, p)
	r.printf("%s", helpText(strings.Join(sched.Names(), "|")))
}

// listDaemons is -L --daemon: one line per running sync daemon, master
// first, as ipvsadm 1.31's list_daemon prints them (the kernel reports the
// defaults it filled in). Nothing without a sync daemon.
func (r *runner) listDaemons() {
	if r.sync == nil {
		return
	}
	for _, d := range r.sync.Daemons() {
		r.printf("%s sync daemon (mcast=%s, syncid=%d", d.State, d.Interface, d.SyncID)
		if d.MaxLen != 0 {
			r.printf(", maxlen=%d", d.MaxLen)
		}
		if d.Group.IsValid() {
			r.printf(", group=%s", ntop(d.Group))
		}
		if d.Port != 0 {
			r.printf(", port=%d", d.Port)
		}
		if d.TTL != 0 {
			r.printf(", ttl=%d", d.TTL)
		}
		r.printf(")\n")
	}
}

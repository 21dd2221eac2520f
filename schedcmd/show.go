package schedcmd

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/vs"
)

// Cache entries show prints: by default, and at most with --full (which
// keeps a busy lblc cache within the control socket's answer size).
const (
	maxCache     = 16
	maxCacheFull = 4096
)

// rules says in one line what each scheduler does, for list and show.
var rules = map[string]string{
	"rr":    "round robin: the next dest in the list after the last pick, skipping quiesced and overloaded ones",
	"wrr":   "weighted round robin: passes over the list with a current weight cw falling by the weights' gcd, picking each dest whose weight is at least cw",
	"lc":    "least connection: the least overhead (256*active + inactive); the first in the list on a tie",
	"wlc":   "weighted least connection: the least overhead/weight; the first in the list on a tie (the default)",
	"lblc":  "locality-based least connection: the dest cached for the packet's destination address while it is not overloaded, else wlc's pick, cached",
	"lblcr": "locality-based least connection with replication: the least loaded of the dest set cached for the destination address; the set grows by wlc's pick when its members are busy",
	"dh":    "destination hashing: a 256-bucket table, dests in turn, indexed by the hash of the packet's destination address",
	"sh":    "source hashing: a 256-bucket table, each dest taking weight buckets in turn, indexed by the hash of the client's address (and port with sh-port)",
	"sed":   "shortest expected delay: the least (active + 1)/weight; the first in the list on a tie",
	"nq":    "never queue: the first dest without active connections, else sed's pick",
	"fo":    "weighted failover: the dest of the highest weight; the first in the list on a tie",
	"ovf":   "overflow connection: the dest of the highest weight among those with no more active connections than their weight",
	"mh":    "Maglev hashing: a 4093-slot consistent-hash table filled in proportion to the weights, indexed by the hash of the client's address (and port with mh-port)",
	"twos":  "power of two choices: two random draws in proportion to the weights; the one with the lower overhead/weight wins",
}

// Run executes a command line against m, as the control socket does: the
// output, error text and exit code (0; 1 when the service does not exist;
// 2 for a bad command line). It never changes the configuration.
func Run(m *ctl.Manager, argv []string) (stdout, stderr string, code int) {
	c, err := Parse(argv)
	if err != nil {
		return "", "gdirector sched: " + err.Error() + "\n" + Usage, 2
	}
	if c.Op == OpList {
		return list(), "", 0
	}
	svc, err := m.Service(c.Service)
	if err != nil {
		return "", fmt.Sprintf("gdirector sched: %v (%s)\n", err, strings.Join(c.Args()[1:], " ")), 1
	}
	return Show(svc, c), "", 0
}

// list names the schedulers in ipvsadm's order with their rules.
func list() string {
	var b strings.Builder
	for _, name := range sched.Names() {
		fmt.Fprintf(&b, "%-6s %s\n", name, rules[name])
	}
	return b.String()
}

// Show renders a service's scheduler as show prints it. Its only calls
// into the scheduler are Schedule for the schedulers whose picks have no
// side effects, Slot and Inspect.
func Show(svc *vs.Service, c Cmd) string {
	var b strings.Builder
	b.WriteString(serviceLine(svc) + "\n")
	name := svc.SchedName
	if r, ok := rules[name]; ok {
		fmt.Fprintf(&b, "rule: %s\n", r)
	}
	if svc.Persistent() {
		b.WriteString("persistent: a client with a connection template returns to its real server; the scheduler picks for new clients only\n")
	}
	destTable(&b, svc)
	if svc.Sched == nil {
		return b.String()
	}
	next(&b, svc, c)
	if ins, ok := svc.Sched.(sched.Inspector); ok {
		b.WriteString("\n")
		state(&b, ins.Inspect(), svc, c.Full)
	}
	return b.String()
}

// serviceLine is the service as ipvsadm -L -n prints it.
func serviceLine(s *vs.Service) string {
	var b strings.Builder
	if s.FwMark != 0 {
		fmt.Fprintf(&b, "FWM  %d", s.FwMark)
		if s.IPv6 {
			b.WriteString(" IPv6")
		}
	} else {
		fmt.Fprintf(&b, "%-4s %s", s.Proto, netip.AddrPortFrom(s.Addr, s.Port))
	}
	b.WriteString(" " + s.SchedName)
	if f := schedFlags(s); f != "" {
		fmt.Fprintf(&b, " (%s)", f)
	}
	if s.Persistent() {
		fmt.Fprintf(&b, " persistent %d", s.Timeout)
		switch {
		case !s.IPv6 && s.Netmask != 0xffffffff:
			m := s.Netmask
			fmt.Fprintf(&b, " mask %s", netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}))
		case s.IPv6 && s.Netmask != 128:
			fmt.Fprintf(&b, " mask %d", s.Netmask)
		}
	}
	if s.Flags&vs.SvcOnePacket != 0 {
		b.WriteString(" ops")
	}
	return b.String()
}

// schedFlags names the scheduler flags as ipvsadm does.
func schedFlags(s *vs.Service) string {
	var f []string
	for i, bit := range []uint32{vs.SvcSchedFlag1, vs.SvcSchedFlag2, vs.SvcSchedFlag3} {
		if s.Flags&bit == 0 {
			continue
		}
		switch {
		case (s.SchedName == "sh" || s.SchedName == "mh") && i == 0:
			f = append(f, s.SchedName+"-fallback")
		case (s.SchedName == "sh" || s.SchedName == "mh") && i == 1:
			f = append(f, s.SchedName+"-port")
		default:
			f = append(f, "flag-"+strconv.Itoa(i+1))
		}
	}
	return strings.Join(f, ",")
}

// destName is a dest's address:port, IPv6 in brackets; "none" for nil.
func destName(d *vs.Dest) string {
	if d == nil {
		return "none"
	}
	return netip.AddrPortFrom(d.Addr, d.Port).String()
}

// overhead is the kernel's ip_vs_dest_conn_overhead, without its 32-bit
// wrap.
func overhead(d *vs.Dest) int64 {
	return 256*int64(d.ActiveConns.Load()) + int64(d.InactConns.Load())
}

// destState is ok, or what keeps a dest from new connections.
func destState(d *vs.Dest) string {
	var s []string
	if !d.Available() {
		s = append(s, "unavailable")
	}
	if d.Weight.Load() <= 0 {
		s = append(s, "quiesced")
	}
	if d.Overloaded() {
		s = append(s, "overloaded")
	}
	if len(s) == 0 {
		return "ok"
	}
	return strings.Join(s, ",")
}

// ratio formats n/w with two decimals, "-" for a weight that never wins.
func ratio(n int64, w int32) string {
	if w <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(n)/float64(w), 'f', 2, 64)
}

// loadColumn returns the heading and the values of the load figure the
// scheduler compares, or "" when it compares none.
func loadColumn(name string) (string, func(d *vs.Dest) string) {
	switch name {
	case "lc":
		return "Load=Overhead", func(d *vs.Dest) string { return strconv.FormatInt(overhead(d), 10) }
	case "wlc", "lblc", "lblcr", "twos":
		return "Load=Overhead/Weight", func(d *vs.Dest) string { return ratio(overhead(d), d.Weight.Load()) }
	case "sed":
		return "Load=(Active+1)/Weight", func(d *vs.Dest) string {
			return ratio(int64(d.ActiveConns.Load())+1, d.Weight.Load())
		}
	case "nq":
		return "Load=(Active+1)/Weight", func(d *vs.Dest) string {
			s := ratio(int64(d.ActiveConns.Load())+1, d.Weight.Load())
			if d.ActiveConns.Load() == 0 && d.Weight.Load() > 0 {
				s += " idle"
			}
			return s
		}
	case "fo":
		return "Load=Weight", func(d *vs.Dest) string { return strconv.Itoa(int(d.Weight.Load())) }
	case "ovf":
		return "Load=Weight", func(d *vs.Dest) string {
			s := strconv.Itoa(int(d.Weight.Load()))
			if d.ActiveConns.Load() > d.Weight.Load() {
				return s + " full"
			}
			return s + " open"
		}
	}
	return "", nil
}

// destTable prints the dests in the scheduler's walk order.
func destTable(b *strings.Builder, svc *vs.Service) {
	head, load := loadColumn(svc.SchedName)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "  -> RemoteAddress:Port\tForward\tWeight\tActiveConn\tInActConn\tOverhead\tState")
	if load != nil {
		fmt.Fprint(tw, "\t"+head)
	}
	fmt.Fprintln(tw)
	for _, d := range svc.Dests {
		fmt.Fprintf(tw, "  -> %s\t%s\t%d\t%d\t%d\t%d\t%s", destName(d), d.FwdMethod(), d.Weight.Load(),
			d.ActiveConns.Load(), d.InactConns.Load(), overhead(d), destState(d))
		if load != nil {
			fmt.Fprint(tw, "\t"+load(d))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if len(svc.Dests) == 0 {
		b.WriteString("  (no real servers: every new connection is dropped)\n")
	} else {
		b.WriteString("  (in the order the scheduler walks them: most recently added first)\n")
	}
}

// flowOf is the first packet of the connection show follows: from the
// client (if given) to the VIP, or to --dst for a firewall-mark service,
// which is taken to be TCP.
func flowOf(svc *vs.Service, c Cmd) vs.Flow {
	f := vs.Flow{Proto: svc.Proto, IPv6: svc.IPv6, DPort: svc.Port, Mark: svc.FwMark}
	if svc.FwMark != 0 {
		f.Proto = vs.TCP
	}
	if dst := dstOf(svc, c); dst.IsValid() {
		f.Dst = vs.Addr16(dst)
	}
	if c.HasClient {
		f.Src = vs.Addr16(c.Client.Addr())
		f.SPort = c.Client.Port()
	}
	return f
}

// dstOf is the packets' destination address: the VIP, or --dst.
func dstOf(svc *vs.Service, c Cmd) netip.Addr {
	if c.Dst.IsValid() {
		return c.Dst
	}
	return svc.Addr
}

// next prints where the next new connection goes, when that can be known
// without changing anything.
func next(b *strings.Builder, svc *vs.Service, c Cmd) {
	name := svc.SchedName
	f := flowOf(svc, c)
	switch name {
	case "lc", "wlc", "sed", "nq", "fo", "ovf":
		fmt.Fprintf(b, "next new connection -> %s\n", destName(svc.Sched.Schedule(svc, &f)))
	case "sh", "mh":
		if !c.HasClient {
			fmt.Fprintf(b, "next new connection: %s hashes the client's address; give --client ADDR[:PORT] to follow one\n", name)
			return
		}
		who := c.Client.Addr().String()
		if svc.Flags&vs.SvcSchedFlag2 != 0 {
			who = c.Client.String()
		}
		slot(b, svc, &f, "client "+who)
	case "dh":
		dst := dstOf(svc, c)
		if !dst.IsValid() {
			b.WriteString("next new connection: dh hashes the packet's destination address; give --dst ADDR for a firewall-mark service\n")
			return
		}
		slot(b, svc, &f, "destination "+dst.String())
		if svc.FwMark == 0 {
			b.WriteString("(every connection to this VIP hashes alike: dh spreads load only over many destination addresses, as a firewall-mark service sees)\n")
		}
	case "rr", "wrr":
		fmt.Fprintf(b, "next new connection: not computed (a pick moves %s's position); the walk goes on after \"last\" below\n", name)
	case "lblc", "lblcr":
		fmt.Fprintf(b, "next new connection: not computed (a pick updates %s's cache); see the cache below\n", name)
	case "twos":
		b.WriteString("next new connection: not computed (twos picks at random)\n")
	default:
		fmt.Fprintf(b, "next new connection: not computed (%s is not known to this command)\n", name)
	}
}

// slot prints the table entry the flow hashes to and the pick.
func slot(b *strings.Builder, svc *vs.Service, f *vs.Flow, who string) {
	sl, ok := svc.Sched.(sched.Slotter)
	if !ok {
		return
	}
	i, d, ok := sl.Slot(svc, f)
	if !ok {
		b.WriteString("next new connection: the scheduler has no table yet\n")
		return
	}
	unit, size := "bucket", 256
	if svc.SchedName == "mh" {
		unit, size = "slot", 4093
	}
	fmt.Fprintf(b, "%s -> %s %d of %d -> %s", who, unit, i, size, destName(d))
	if d != nil {
		fmt.Fprintf(b, " (%s)", destState(d))
	}
	b.WriteString("\n")
	got := svc.Sched.Schedule(svc, f)
	fmt.Fprintf(b, "next new connection -> %s", destName(got))
	switch {
	case got == d:
	case got != nil:
		fmt.Fprintf(b, " (the %s's dest is not usable; %s-fallback probed further)", unit, svc.SchedName)
	case svc.Flags&vs.SvcSchedFlag1 == 0 && svc.SchedName != "dh":
		fmt.Fprintf(b, " (the %s's dest is not usable and %s-fallback is not set)", unit, svc.SchedName)
	default:
		fmt.Fprintf(b, " (the %s's dest is not usable)", unit)
	}
	b.WriteString("\n")
}

// state prints the scheduler's state: its variables, position and cache
// as sched.State renders them, and its table as each dest's share unless
// full asks for every entry.
func state(b *strings.Builder, st sched.State, svc *vs.Service, full bool) {
	limit := maxCache
	if full {
		limit = maxCacheFull
	}
	total := len(st.Cache)
	if total > limit {
		st.Cache = st.Cache[:limit]
	}
	table := st.Table
	if !full {
		st.Table = nil
	}
	// lblc's and lblcr's next expiry run is a reading of their clock:
	// shown as a delay instead.
	var vars []sched.Var
	nextRun, hasNext := int64(0), false
	for _, v := range st.Vars {
		if v.Name == "next_check" {
			nextRun, hasNext = v.Value, true
			continue
		}
		vars = append(vars, v)
	}
	st.Vars = vars
	text := st.String()
	if hasNext {
		text += fmt.Sprintf("next expiry run in %s\n", time.Duration(nextRun-st.Now).Round(time.Millisecond))
	}
	if total > limit {
		more := "; --full shows more"
		if full {
			more = ""
		}
		text = strings.Replace(text, fmt.Sprintf("cache %d entries\n", limit),
			fmt.Sprintf("cache %d entries (the first %d shown%s)\n", total, limit, more), 1)
	}
	b.WriteString(text)
	if table == nil || full {
		return
	}
	fmt.Fprintf(b, "table %d slots (--full lists them)\n", len(table))
	count := map[*vs.Dest]int{}
	for _, d := range table {
		count[d]++
	}
	order := append([]*vs.Dest(nil), svc.Dests...)
	for _, d := range table { // dests no longer in the list, if any
		if d != nil && !contains(order, d) {
			order = append(order, d)
		}
	}
	if count[nil] > 0 {
		order = append(order, nil)
	}
	for _, d := range order {
		name := destName(d)
		if d == nil {
			name = "(empty)"
		}
		fmt.Fprintf(b, "share %s %d (%.1f%%)\n", name, count[d], 100*float64(count[d])/float64(len(table)))
	}
}

func contains(ds []*vs.Dest, d *vs.Dest) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

package forward

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// clkTck is USER_HZ, the unit of /proc/stat and /proc/PID/stat times:
// 100 on every Linux architecture Go supports.
const clkTck = 100

// tickNS is one USER_HZ tick in nanoseconds.
const tickNS = 1e9 / clkTck

// cpuTimes are one CPU's times from /proc/stat, in ticks.
//
// On a tickless kernel without IRQ time accounting (this one: NO_HZ_IDLE,
// TICK_CPU_ACCOUNTING) the busy columns are sampled by the tick, which an
// idle CPU does not take: the short bursts of softirq work that RPS hands
// to an otherwise idle director CPU go largely unseen there. The idle and
// iowait columns, on the other hand, come from the exact idle-entry and
// idle-exit times that the tickless code keeps, so the harness measures
// busy time as the window minus idle (and steal) time.
type cpuTimes struct {
	Busy  uint64 // user + nice + system + irq + softirq (tick-sampled)
	Idle  uint64 // idle + iowait (exact under NO_HZ)
	Steal uint64 // time the hypervisor ran something else
	Total uint64 // every column but guest and guest_nice (counted in user)
}

// parseProcStat returns the times of CPU n from the contents of
// /proc/stat ("cpuN user nice system idle iowait irq softirq steal …").
func parseProcStat(b []byte, n int) (cpuTimes, error) {
	name := "cpu" + strconv.Itoa(n)
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		f := strings.Fields(string(line))
		if len(f) == 0 || f[0] != name {
			continue
		}
		if len(f) < 8 {
			return cpuTimes{}, fmt.Errorf("/proc/stat: %s: %d columns, want at least 7", name, len(f)-1)
		}
		var v [8]uint64
		for i := 1; i < len(f) && i <= 8; i++ {
			x, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("/proc/stat: %s column %d: %v", name, i, err)
			}
			v[i-1] = x
		}
		// user nice system idle iowait irq softirq steal
		t := cpuTimes{Busy: v[0] + v[1] + v[2] + v[5] + v[6], Idle: v[3] + v[4], Steal: v[7]}
		for _, x := range v {
			t.Total += x
		}
		return t, nil
	}
	return cpuTimes{}, fmt.Errorf("/proc/stat: no line for %s", name)
}

// parseCallIPIs returns CPU n's count of function-call interrupts (the
// "CAL" row of /proc/interrupts): the inter-processor interrupts by which
// Receive Packet Steering hands frames to another CPU.
func parseCallIPIs(b []byte, n int) (uint64, error) {
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		f := strings.Fields(string(line))
		if len(f) < 2 || f[0] != "CAL:" {
			continue
		}
		if n+1 >= len(f) {
			return 0, fmt.Errorf("/proc/interrupts: CAL has no column for CPU %d", n)
		}
		v, err := strconv.ParseUint(f[n+1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/interrupts: CAL: %v", err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("/proc/interrupts: no CAL row")
}

// callIPIs reads CPU n's function-call interrupts; 0 if unknown.
func callIPIs(n int) uint64 {
	b, err := os.ReadFile("/proc/interrupts")
	if err != nil {
		return 0
	}
	v, _ := parseCallIPIs(b, n)
	return v
}

// readCPU returns CPU n's times.
func readCPU(n int) (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	return parseProcStat(b, n)
}

// pidTimes are a process's CPU times from /proc/PID/stat, in ticks.
type pidTimes struct {
	Own      uint64 // utime + stime: its threads
	Children uint64 // cutime + cstime: its reaped children
	Kernel   bool   // a kernel thread (PF_KTHREAD in flags)
	Start    uint64 // start time, ticks after boot
}

// pfKthread is PF_KTHREAD from <linux/sched.h>.
const pfKthread = 0x00200000

// parsePidStat reads the CPU times from the contents of /proc/PID/stat.
// The command name (field 2) is parenthesised and may hold spaces and
// parentheses, so fields are counted after the last ')'.
func parsePidStat(b []byte) (pidTimes, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return pidTimes{}, fmt.Errorf("/proc/PID/stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime, stime, cutime and cstime are
	// fields 14 to 17.
	if len(f) < 20 {
		return pidTimes{}, fmt.Errorf("/proc/PID/stat: %d fields after the name, want at least 20", len(f))
	}
	start, err := strconv.ParseUint(f[19], 10, 64) // field 22
	if err != nil {
		return pidTimes{}, fmt.Errorf("/proc/PID/stat: bad start time %q", f[19])
	}
	flags, err := strconv.ParseUint(f[6], 10, 64) // field 9
	if err != nil {
		return pidTimes{}, fmt.Errorf("/proc/PID/stat: bad flags %q", f[6])
	}
	var v [4]uint64
	for k := range v {
		x, err := strconv.ParseInt(f[11+k], 10, 64) // cutime and cstime are signed
		if err != nil || x < 0 {
			return pidTimes{}, fmt.Errorf("/proc/PID/stat: bad field %d %q", 14+k, f[11+k])
		}
		v[k] = uint64(x)
	}
	return pidTimes{Own: v[0] + v[1], Children: v[2] + v[3], Kernel: flags&pfKthread != 0, Start: start}, nil
}

func readPidStat(pid string) (pidTimes, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return pidTimes{}, err
	}
	return parsePidStat(b)
}

// procRuntime returns the CPU time, in nanoseconds, that the live threads
// of pid have run: the sum of the first field of each thread's
// /proc/PID/task/TID/schedstat (exact, unlike the tick-sampled utime and
// stime of /proc/PID/stat, which it falls back to without schedstat).
func procRuntime(pid int) (uint64, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited
		}
		v, err := parseSchedstat(b)
		if err != nil {
			t, err := readPidStat(strconv.Itoa(pid))
			return t.Own * tickNS, err
		}
		sum += v
	}
	return sum, nil
}

// parseSchedstat returns the run time (ns) from the contents of
// /proc/PID/schedstat ("RUNTIME WAITTIME TIMESLICES").
func parseSchedstat(b []byte) (uint64, error) {
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return 0, fmt.Errorf("schedstat: %d fields, want 3", len(f))
	}
	return strconv.ParseUint(f[0], 10, 64)
}

// others is a snapshot of the other work on the machine: the CPU time
// and start time of every process that is neither
// this one, nor a kernel thread, nor in one of the lab's namespaces.
type others struct {
	uptime uint64 // ticks since boot when taken
	procs  map[int]pidTimes
}

// uptimeTicks reads /proc/uptime in ticks.
func uptimeTicks() uint64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v < 0 {
		return 0
	}
	return uint64(v * clkTck)
}

// otherTicks takes an others snapshot; nsInodes are the lab's network
// namespaces.
func otherTicks(nsInodes map[uint64]bool) others {
	o := others{uptime: uptimeTicks(), procs: map[int]pidTimes{}}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return o
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		name := e.Name()
		if l, err := os.Readlink("/proc/" + name + "/ns/net"); err == nil && strings.HasPrefix(l, "net:[") {
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(l, "net:["), "]"), 10, 64)
			if err == nil && nsInodes[ino] {
				continue
			}
		}
		t, err := readPidStat(name)
		if err != nil || t.Kernel {
			continue
		}
		o.procs[pid] = t
	}
	return o
}

// otherDelta is the CPU time other processes used between snapshots a and
// b, by pid: what a process present in both added, and all the time of
// one started after a was taken. A process b has but a lacks that is
// older than a (missed then) tells nothing and counts nothing. Reaped
// children's time (cutime, cstime) is left out: it lands in the parent all
// at once when a child exits, however long ago the child worked; a child
// that is born and reaped between a and b is missed, which matters little
// next to the long-running processes that disturb a measurement.
func otherDelta(a, b others) map[int]uint64 {
	d := map[int]uint64{}
	for pid, tb := range b.procs {
		if ta, ok := a.procs[pid]; ok && ta.Start == tb.Start {
			if tb.Own > ta.Own {
				d[pid] = tb.Own - ta.Own
			}
		} else if tb.Start >= a.uptime && tb.Own > 0 {
			d[pid] = tb.Own
		}
	}
	return d
}

// sum adds up a delta.
func sum(d map[int]uint64) uint64 {
	var n uint64
	for _, v := range d {
		n += v
	}
	return n
}

// topOthers names the (at most three) processes of d that used the most.
func topOthers(d map[int]uint64, window float64) string {
	type pv struct {
		pid int
		v   uint64
	}
	var l []pv
	for p, v := range d {
		l = append(l, pv{p, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	var parts []string
	for i := 0; i < len(l) && i < 3; i++ {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(l[i].pid) + "/comm")
		parts = append(parts, fmt.Sprintf("%s (pid %d) %.0f%%", strings.TrimSpace(string(comm)), l[i].pid,
			float64(l[i].v)*tickNS/(window*1e9)*100))
	}
	return strings.Join(parts, ", ")
}

// txFrames sums the transmitted-packet counters of the named interfaces
// of namespace ns: every frame the director sent, whoever sent it (the
// kernel's forwarding, a proxy or a packet socket).
func txFrames(ns string, ifaces []string) (uint64, error) {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return 0, err
	}
	defer nh.Close()
	var sum uint64
	for _, ifc := range ifaces {
		l, err := nh.LinkByName(ifc)
		if err != nil {
			return 0, fmt.Errorf("%s in %s: %w", ifc, ns, err)
		}
		if st := l.Attrs().Statistics; st != nil {
			sum += st.TxPackets
		}
	}
	return sum, nil
}

// cpuSet returns a set holding the given CPUs.
func cpuSet(cpus ...int) *unix.CPUSet {
	var s unix.CPUSet
	for _, c := range cpus {
		s.Set(c)
	}
	return &s
}

// pinProcess sets the affinity of every thread of this process (threads
// created later inherit it from their creator) and returns the previous
// affinity of the calling thread, to restore with the same call.
func pinProcess(set *unix.CPUSet) (*unix.CPUSet, error) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// A thread may have exited since the listing: ESRCH is fine.
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			return nil, fmt.Errorf("affinity of thread %d: %w", tid, err)
		}
	}
	return &old, nil
}

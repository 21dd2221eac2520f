package datapath

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/forward/fullnat"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
	"github.com/gdirector/gdirector/link"
	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/trace"
	"github.com/gdirector/gdirector/vs"
)

var updateTrace = flag.Bool("update", false, "rewrite the trace golden files in testdata/trace")

// drainText renders the events queued in tr as gdirector trace prints
// them, with the fake clock's time as the wall time.
func drainText(tr *trace.Tracer) string {
	var b strings.Builder
	for {
		select {
		case ev := <-tr.Events():
			b.WriteString(trace.NewRecord(&ev, tr.Devices(), time.Unix(0, ev.Time).UTC()).Text())
			b.WriteString("\n")
		default:
			return b.String()
		}
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", "trace", name+".golden")
	if *updateTrace {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./datapath -run TestTraceGolden -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, file, got, want)
	}
}

// tracedRig is a rig for method m with a tracer installed that wants
// every packet.
func tracedRig(t testing.TB, m vs.FwdMethod) (*rig, *trace.Tracer) {
	r := methodRig(t, m)
	// A fixed seed: the same FullNAT local ports every run.
	pool, err := fullnat.NewPool(fullnat.PoolConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	r.d.pool = pool
	tr := trace.NewTracer(64)
	r.d.SetTracer(tr)
	return r, tr
}

// handshake sends a TCP handshake and one data segment from port through
// the rig (the reply only where replies come back) and returns the
// trace text.
func handshake(t *testing.T, r *rig, tr *trace.Tracer, m vs.FwdMethod, port uint16) string {
	t.Helper()
	now := r.clk.Now()
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: port, DPort: 80, TCPFlags: header.TCPSyn}
	o := mustStep(t, r.w, now, pkt.Build(syn), 1, forward.Pass)
	if m == vs.Masq || m == vs.FullNAT {
		var p header.Parsed
		header.Decode(o, &p)
		rs := header.AddrFrom16(p.Dst)
		mac := map[netip.Addr][6]byte{rip1: macRS1, rip2: macRS2}[rs]
		reply := pkt.Spec{SrcMAC: mac, DstMAC: macDirR, Src: rs, Dst: header.AddrFrom16(p.Src), Proto: header.ProtoTCP,
			SPort: p.DPort, DPort: p.SPort, TCPFlags: header.TCPSyn | header.TCPAck}
		r.clk.Advance(time.Millisecond)
		mustStep(t, r.wr, r.clk.Now(), pkt.Build(reply), 0, forward.Pass)
	}
	r.clk.Advance(time.Millisecond)
	ack := syn
	ack.TCPFlags = header.TCPAck
	mustStep(t, r.w, r.clk.Now(), pkt.Build(ack), 1, forward.Pass)
	return drainText(tr)
}

// TestTraceGolden: the text of gdirector trace for each method, IPv4 and
// IPv6, produced by the data plane itself.
func TestTraceGolden(t *testing.T) {
	for _, m := range benchMethods {
		t.Run(benchName[m], func(t *testing.T) {
			r, tr := tracedRig(t, m)
			got := handshake(t, r, tr, m, 40000)
			// A drop: a client packet of no connection that is not a SYN.
			data := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40001, DPort: 80, TCPFlags: header.TCPAck}
			mustStep(t, r.w, r.clk.Now(), pkt.Build(data), -1, forward.DropNotSyn)
			got += drainText(tr)
			checkGolden(t, benchName[m], got)
		})
	}
	t.Run("nat6", func(t *testing.T) {
		d, _, _, clk := newRig6(t, map[netip.Addr][6]byte{cip6: macClient, rip61: macRS1, rip62: macRS2})
		for _, a := range []netip.Addr{cip6, rip61, rip62} {
			if d.res.want(a.As16()) != nil {
				t.Fatalf("%v not resolved", a)
			}
		}
		tr := trace.NewTracer(64)
		d.SetTracer(tr)
		syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn}
		mustStep(t, d.workers[0], clk.Now(), pkt.Build(syn), 1, forward.Pass)
		reply := pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip61, Dst: cip6, Proto: header.ProtoTCP, SPort: 80, DPort: 40000, TCPFlags: header.TCPSyn | header.TCPAck}
		clk.Advance(time.Millisecond)
		mustStep(t, d.workers[1], clk.Now(), pkt.Build(reply), 0, forward.Pass)
		checkGolden(t, "nat6", drainText(tr))
	})
	t.Run("wlc-persistent", func(t *testing.T) {
		r, tr := tracedRig(t, vs.Masq)
		s, err := sched.New("wlc")
		if err != nil {
			t.Fatal(err)
		}
		r.dests[0].Weight.Store(3)
		r.dests[0].ActiveConns.Store(2)
		r.dests[1].ActiveConns.Store(1)
		svc := *r.svc
		svc.Sched, svc.SchedName = s, "wlc"
		svc.Flags |= vs.SvcPersistent
		svc.Timeout, svc.Netmask = 300, 0xffffffff
		s.Update(&svc)
		r.tbl.Store(vs.NewTable([]*vs.Service{&svc}))
		got := handshake(t, r, tr, vs.Masq, 40000)
		r.clk.Advance(time.Second)
		syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40002, DPort: 80, TCPFlags: header.TCPSyn}
		mustStep(t, r.w, r.clk.Now(), pkt.Build(syn), 1, forward.Pass)
		checkGolden(t, "wlc-persistent", got+drainText(tr))
	})
}

// TestTraceFilter: a tracer reports only what its filter wants, and a
// Director without a tracer reports nothing.
func TestTraceFilter(t *testing.T) {
	r, tr := tracedRig(t, vs.Masq)
	tr.SetFilters([]trace.Filter{{Client: netip.MustParsePrefix("198.51.100.99/32")}})
	if got := handshake(t, r, tr, vs.Masq, 40000); got != "" {
		t.Fatalf("filtered out, yet traced:\n%s", got)
	}
	tr.SetFilters([]trace.Filter{{Client: netip.MustParsePrefix("198.51.100.0/24"), Port: 80, Proto: vs.TCP}})
	if got := handshake(t, r, tr, vs.Masq, 40001); strings.Count(got, "\n#") != 2 || !strings.Contains(got, "conn    new") {
		t.Fatalf("want 3 events with a new connection:\n%s", got)
	}
	r.d.SetTracer(nil)
	if got := handshake(t, r, tr, vs.Masq, 40002); got != "" {
		t.Fatalf("tracer removed, yet traced:\n%s", got)
	}
}

// TestTraceAllocs: an established flow's packets allocate nothing with a
// tracer installed, whether the events fit the queue or are dropped, and
// opening a connection allocates no more with the tracer than without.
func TestTraceAllocs(t *testing.T) {
	for _, m := range benchMethods {
		r, tr := tracedRig(t, m)
		in, out := establish(t, r, m, 40000)
		drain := func() {
			for len(tr.Events()) > 0 {
				<-tr.Events()
			}
		}
		run := replay(t, r.w, r, in, 1)
		if n := testing.AllocsPerRun(500, run); n != 0 { // the queue fills: drops
			t.Errorf("%v client packet, traced: %v allocs", m, n)
		}
		if tr.Dropped() == 0 {
			t.Errorf("%v: no event dropped with a full queue", m)
		}
		if n := testing.AllocsPerRun(500, func() { drain(); run() }); n != 0 {
			t.Errorf("%v client packet, traced and read: %v allocs", m, n)
		}
		if out != nil {
			if n := testing.AllocsPerRun(500, replay(t, r.wr, r, out, 0)); n != 0 {
				t.Errorf("%v reply, traced: %v allocs", m, n)
			}
		}
		// Sampled 1 in 8: the packets taken and those skipped alike.
		tr.SetFilters([]trace.Filter{{Sample: 8}})
		if n := testing.AllocsPerRun(500, func() { drain(); run() }); n != 0 {
			t.Errorf("%v client packet, sampled: %v allocs", m, n)
		}
		r.d.SetTracer(nil)
		if n := testing.AllocsPerRun(500, run); n != 0 {
			t.Errorf("%v client packet, not traced: %v allocs", m, n)
		}
	}
	// New connections: the tracer adds nothing to what creating one costs.
	// (The connection table hands out ids per shard in blocks, so the
	// table is warmed up and flushed first, for both runs to reuse ids.)
	r := methodRig(t, vs.Masq)
	r.d.conns = conntrack.NewTable(conntrack.Options{Capacity: 1 << 12})
	syn := withHeadroom(pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1024, DPort: 80, TCPFlags: header.TCPSyn}))
	orig := append([]byte(nil), syn...)
	var p0 header.Parsed
	header.Decode(orig[link.Headroom:], &p0)
	const n = 300
	synAllocs := func() float64 {
		port := 1024
		a := testing.AllocsPerRun(n-1, func() {
			copy(syn, orig)
			p := p0
			header.RewriteAddrPort(syn[link.Headroom:], &p, true, p.Src, uint16(port))
			port++
			if d, _, why := r.w.Process(syn, r.clk.Now()); d != 1 {
				t.Fatalf("SYN: %v", why)
			}
		})
		r.d.conns.Flush()
		return a
	}
	synAllocs()
	off := synAllocs()
	r.d.SetTracer(trace.NewTracer(16))
	if on := synAllocs(); on != off {
		t.Errorf("new connection: %v allocs traced, %v untraced", on, off)
	}
}

// TestTraceSample: a tracer sampling 1 in N gets the events of one packet
// in N of each worker, the first one included, and every packet again
// once the sampling is lifted.
func TestTraceSample(t *testing.T) {
	r, tr := tracedRig(t, vs.Masq)
	in, out := establish(t, r, vs.Masq, 40000)
	for len(tr.Events()) > 0 {
		<-tr.Events()
	}
	tr.SetFilters([]trace.Filter{{Sample: 8}})
	run := replay(t, r.w, r, in, 1)
	back := replay(t, r.wr, r, out, 0)
	for range 40 { // 5 of the client's packets
		run()
	}
	for range 16 { // 2 of the replies: their worker counts apart
		back()
	}
	var dirs []forward.Dir
	for len(tr.Events()) > 0 {
		ev := <-tr.Events()
		if ev.Conn.Decision != trace.ConnHit || ev.After.N == 0 {
			t.Fatalf("sampled event not filled: %+v", ev.Conn)
		}
		dirs = append(dirs, ev.Dir)
	}
	if len(dirs) != 7 || dirs[0] != forward.In || dirs[6] != forward.Out {
		t.Fatalf("1 in 8 of 40 client packets and 16 replies: %d events %v, want 5 in and 2 out", len(dirs), dirs)
	}
	tr.SetFilters(nil)
	for range 3 {
		run()
	}
	if n := len(tr.Events()); n != 3 {
		t.Fatalf("sampling lifted: %d events of 3 packets", n)
	}
}

// BenchmarkProcessTraced is BenchmarkProcess's established flows with a
// trace running: "off" without a tracer (the same as BenchmarkProcess),
// "on" with a tracer that wants the packets and a reader draining them,
// "filtered" with a tracer whose filter wants none of them, "sample8" and
// "sample64" with a tracer sampling 1 in 8 or 1 in 64 (--sample).
func BenchmarkProcessTraced(b *testing.B) {
	for _, m := range benchMethods {
		for _, mode := range []string{"off", "on", "filtered", "sample8", "sample64"} {
			b.Run(benchName[m]+"/in/"+mode, func(b *testing.B) {
				r := methodRig(b, m)
				in, _ := establish(b, r, m, 40000)
				if mode != "off" {
					tr := trace.NewTracer(0)
					switch mode {
					case "filtered":
						tr.SetFilters([]trace.Filter{{Client: netip.MustParsePrefix("192.0.2.99/32")}})
					case "sample8":
						tr.SetFilters([]trace.Filter{{Sample: 8}})
					case "sample64":
						tr.SetFilters([]trace.Filter{{Sample: 64}})
					}
					r.d.SetTracer(tr)
					done := make(chan struct{})
					var read atomic.Uint64
					go func() {
						if strings.HasPrefix(mode, "sample") {
							// Sparse events: the reader polls, as trace.Hub
							// does (see trace.PollEvery).
							tick := time.NewTicker(trace.PollEvery)
							defer tick.Stop()
							for {
								for len(tr.Events()) > 0 {
									<-tr.Events()
									read.Add(1)
								}
								select {
								case <-tick.C:
								case <-done:
									return
								}
							}
						}
						for {
							select {
							case <-tr.Events():
								read.Add(1)
							case <-done:
								return
							}
						}
					}()
					defer close(done)
					defer func() {
						b.ReportMetric(float64(tr.Dropped())/float64(b.N), "dropped/op")
					}()
				}
				run := replay(b, r.w, r, in, 1)
				b.ReportAllocs()
				for b.Loop() {
					run()
				}
				reportPPS(b)
			})
		}
	}
}

// BenchmarkTraceSampleCost measures, on one established flow per method,
// the cost of a packet with no tracer ("off"), with a tracer that takes
// every packet ("on", a reader draining it) and with one sampling 1 in 8
// and 1 in 64, interleaved in rounds of 2048 packets so that whatever else
// runs on the machine weighs on every mode alike, and on the benchmark
// thread's own CPU time (CLOCK_THREAD_CPUTIME_ID: time the thread was
// descheduled does not count). It reports each mode's ns/pkt and its ratio
// to "off" (x-MODE).
func BenchmarkTraceSampleCost(b *testing.B) {
	modes := []struct {
		name   string
		sample int // 0: no tracer
	}{{"off", 0}, {"on", 1}, {"sample8", 8}, {"sample64", 64}}
	const round = 2048
	for _, m := range benchMethods {
		b.Run(benchName[m], func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			r := methodRig(b, m)
			in, _ := establish(b, r, m, 40000)
			run := replay(b, r.w, r, in, 1)
			tr := trace.NewTracer(0)
			done := make(chan struct{})
			defer close(done)
			go func() { // a reader that polls, as trace.Hub does
				tick := time.NewTicker(trace.PollEvery)
				defer tick.Stop()
				for {
					for len(tr.Events()) > 0 {
						<-tr.Events()
					}
					select {
					case <-tick.C:
					case <-done:
						return
					}
				}
			}()
			cpu := func() int64 {
				var ts unix.Timespec
				if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
					b.Fatal(err)
				}
				return ts.Nano()
			}
			spent := make([]int64, len(modes))
			var pkts int64
			for b.Loop() {
				for i, md := range modes {
					if md.sample == 0 {
						r.d.SetTracer(nil)
					} else {
						tr.SetFilters([]trace.Filter{{Sample: md.sample}})
						r.d.SetTracer(tr)
					}
					t0 := cpu()
					for range round {
						run()
					}
					spent[i] += cpu() - t0
				}
				pkts += round
			}
			off := float64(spent[0]) / float64(pkts)
			for i, md := range modes {
				ns := float64(spent[i]) / float64(pkts)
				b.ReportMetric(ns, "ns/pkt-"+md.name)
				if i > 0 {
					b.ReportMetric(ns/off, "x-"+md.name)
				}
			}
		})
	}
}

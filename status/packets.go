package status

import (
	"strings"
	"sync"
	"time"

	"github.com/gdirector/gdirector/trace"
)

// Defaults of the packet trace's settings in Config.
const (
	DefaultTraceIdle         = 10 * time.Second
	DefaultPacketsPerService = 6
)

// PacketFilter is the trace the page asks for while it is viewed: one
// packet in 64 per worker, and a worker's next packet whenever it took
// none for 100 ms. A busy director pays about 1/64 of a full trace's cost
// (plus at most ten events a second per worker); a quiet one, a lab with
// a few connections, has all its packets shown. Packets that open a
// connection get no special treatment: whether a packet opens one is
// known only after its frame must already have been copied, and tracing
// every SYN would make a SYN flood 2.6 times as expensive while someone
// looks at the page. They are sampled like the others; the newest
// connections list (from the connection table) shows every connection.
var PacketFilter = trace.Filter{Sample: 64, SampleGap: 100 * time.Millisecond}

// TraceFunc starts a packet trace with filter f (trace.Hub.Subscribe in
// the daemon): it returns the records, a count of those lost, and the
// function that ends it (and closes records).
type TraceFunc func(f trace.Filter) (records <-chan *trace.Record, lost func() uint64, stop func())

// Packet is one sampled packet through the director: its rewrite, what
// the connection table decided and, for a packet that opened a
// connection, the scheduler's choice.
type Packet struct {
	Seq       uint64 `json:"seq"`
	Time      string `json:"time"`      // RFC 3339 with microseconds
	Direction string `json:"direction"` // "in" (client → real server) or "out" (a reply)
	Forward   string `json:"forward"`   // the method, as Dest.Forward
	Proto     string `json:"proto"`     // "tcp", "udp", "sctp"
	Flags     string `json:"flags,omitempty"`
	ICMP      bool   `json:"icmp_error,omitempty"`
	// Verdict is "forwarded", "dropped" or "parked"; Reason names a drop.
	Verdict string `json:"verdict"`
	Reason  string `json:"reason,omitempty"`
	// Conn is the connection table's decision: "new" or "hit"; State is
	// the connection's state after the packet ("SYN_RECV → ESTABLISHED"
	// when it changed).
	Conn   string `json:"conn"`
	State  string `json:"state"`
	Client string `json:"client"`
	Real   string `json:"real"`
	Local  string `json:"local,omitempty"`
	// Sched explains the scheduler's choice of a new connection's real
	// server (gdirector trace's words); Persist is the persistence
	// template's part.
	Sched   string `json:"sched,omitempty"`
	Chosen  string `json:"chosen,omitempty"`
	Persist string `json:"persist,omitempty"`
	// Changes are the headers the director changed, as gdirector trace
	// lists them (eth, ip, ttl, outer, inner, toa).
	Changes []trace.Change `json:"changes"`
}

// PacketInfo says whether packets are being traced for the page.
type PacketInfo struct {
	// Tracing: a sampled trace runs (the page was requested lately).
	Tracing bool `json:"tracing"`
	// Sample is its sampling: one packet in Sample per worker.
	Sample int `json:"sample,omitempty"`
	// Lost counts the sampled packets the trace dropped (queue full).
	Lost uint64 `json:"lost,omitempty"`
}

// packetView turns a trace record into the page's Packet; false for a
// record that belongs to no service's connection (a drop before one
// existed) or has no service name.
func packetView(r *trace.Record) (string, Packet, bool) {
	c := r.Conn
	if c == nil || c.Service == "" {
		return "", Packet{}, false
	}
	p := Packet{
		Seq: r.Seq, Time: r.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), Direction: r.Direction,
		Forward: methodName(r.Method), Proto: strings.ToLower(r.Proto), ICMP: r.ICMP,
		Verdict: r.Verdict, Reason: r.Reason, Conn: c.Decision, State: c.State,
		Client: c.Client, Real: c.RealServer, Local: c.Local, Changes: r.Changes,
	}
	if c.Decision == "hit" && c.StateBefore != "" && c.StateBefore != c.State {
		p.State = c.StateBefore + " → " + c.State
	}
	if r.Before != nil && r.Before.Proto == 6 {
		p.Flags = trace.TCPFlags(r.Before.TCPFlags)
	}
	if s := r.Sched; s != nil {
		p.Sched, p.Chosen = s.Explain, s.Chosen
	}
	if t := r.Template; t != nil {
		p.Persist = "template " + t.Decision + ": " + t.Client + " → " + t.RealServer
	}
	if p.Changes == nil {
		p.Changes = []trace.Change{}
	}
	return c.Service, p, true
}

// methodName is gdirector trace's method name as the page names it.
func methodName(m string) string {
	switch m {
	case "NAT":
		return "nat"
	case "DR":
		return "dr"
	case "TUN":
		return "tun"
	case "FullNAT":
		return "fullnat"
	case "Local":
		return "local"
	}
	return strings.ToLower(m)
}

// ring is a service's last packets, oldest overwritten first.
type ring struct {
	buf  []Packet
	next int // where the next packet goes
	n    int
}

func newRing(size int) *ring { return &ring{buf: make([]Packet, size)} }

func (r *ring) add(p Packet) {
	r.buf[r.next] = p
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
}

// list returns the packets, newest first.
func (r *ring) list() []Packet {
	out := make([]Packet, 0, r.n)
	for i := 1; i <= r.n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}

// packets runs the page's sampled trace: started by a request for the
// document, stopped TraceIdle after the last one, so that nobody viewing
// the page means no tracer in the data plane. Its records fill one ring
// per service (by name).
type packets struct {
	mu      sync.Mutex
	rings   map[string]*ring
	running bool
	last    time.Time // the last request for the document (real time)
	lost    func() uint64
	wake    chan struct{} // closed by close
	done    chan struct{} // closed when the trace's goroutine ends
	closed  bool
}

// touch notes a request for the document and starts the trace if it is
// not running.
func (pk *packets) touch(cfg *Config) {
	if cfg.Trace == nil {
		return
	}
	pk.mu.Lock()
	defer pk.mu.Unlock()
	pk.last = time.Now()
	if pk.running || pk.closed {
		return
	}
	recs, lost, stop := cfg.Trace(PacketFilter)
	pk.running, pk.lost = true, lost
	if pk.wake == nil {
		pk.wake = make(chan struct{})
	}
	pk.done = make(chan struct{})
	go pk.run(cfg, recs, stop, pk.done)
}

// run files the records of one trace until nobody requested the
// document for cfg.TraceIdle, or close.
func (pk *packets) run(cfg *Config, recs <-chan *trace.Record, stop func(), done chan struct{}) {
	pk.file(cfg, recs)
	// The trace ends before the next one may start: a new request finds
	// it running until then (and only refreshes pk.last).
	stop()
	pk.mu.Lock()
	pk.running = false
	pk.mu.Unlock()
	close(done)
}

// file files records until close, TraceIdle without a request, or the
// end of recs.
func (pk *packets) file(cfg *Config, recs <-chan *trace.Record) {
	tick := time.NewTicker(max(cfg.TraceIdle/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-pk.wake:
			return
		case <-tick.C:
			pk.mu.Lock()
			idle := time.Since(pk.last) >= cfg.TraceIdle
			pk.mu.Unlock()
			if idle {
				return
			}
		case r, ok := <-recs:
			if !ok {
				return
			}
			name, p, ok := packetView(r)
			if !ok {
				continue
			}
			pk.mu.Lock()
			if pk.rings == nil {
				pk.rings = map[string]*ring{}
			}
			rg := pk.rings[name]
			if rg == nil {
				rg = newRing(cfg.PacketsPerService)
				pk.rings[name] = rg
			}
			rg.add(p)
			pk.mu.Unlock()
		}
	}
}

// lists returns the last packets of the services named in keep (and
// forgets the rings of other names: services that went away), and
// whether a trace runs.
func (pk *packets) lists(keep map[string]bool) (map[string][]Packet, PacketInfo) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	info := PacketInfo{Tracing: pk.running}
	if pk.running {
		info.Sample = PacketFilter.Sample
		if pk.lost != nil {
			info.Lost = pk.lost()
		}
	}
	out := make(map[string][]Packet, len(pk.rings))
	for name, rg := range pk.rings {
		if !keep[name] {
			delete(pk.rings, name)
			continue
		}
		out[name] = rg.list()
	}
	return out, info
}

// close stops the trace, if one runs, and waits for it to end.
func (pk *packets) close() {
	pk.mu.Lock()
	if pk.closed {
		pk.mu.Unlock()
		return
	}
	pk.closed = true
	if pk.wake == nil {
		pk.wake = make(chan struct{})
	}
	close(pk.wake)
	done := pk.done
	pk.mu.Unlock()
	if done != nil {
		<-done
	}
}

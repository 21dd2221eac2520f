package trace

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/gdirector/gdirector/vs"
)

func TestParseArgs(t *testing.T) {
	cases := []struct {
		argv []string
		want Options
		err  bool
	}{
		{argv: nil, want: Options{}},
		{argv: []string{"--client", "198.51.100.2", "--count", "5"}, want: Options{Filter: Filter{Client: netip.MustParsePrefix("198.51.100.2/32")}, Count: 5}},
		{argv: []string{"--client=198.51.100.7/24", "--vip", "192.0.2.10", "--port", "80", "--proto", "TCP"},
			want: Options{Filter: Filter{Client: netip.MustParsePrefix("198.51.100.0/24"), VIP: netip.MustParseAddr("192.0.2.10"), Port: 80, Proto: vs.TCP}}},
		{argv: []string{"--client", "::ffff:198.51.100.2", "--vip", "2001:db8::10", "--proto", "sctp"},
			want: Options{Filter: Filter{Client: netip.MustParsePrefix("198.51.100.2/32"), VIP: netip.MustParseAddr("2001:db8::10"), Proto: vs.SCTP}}},
		{argv: []string{"--json", "--pcap", "/tmp/x.pcap", "--duration", "2s", "--socket", "/run/x.sock"},
			want: Options{JSON: true, Pcap: "/tmp/x.pcap", Duration: 2 * time.Second, Socket: "/run/x.sock"}},
		{argv: []string{"--ctl", "/run/y.sock", "-proto", "udp"}, want: Options{Socket: "/run/y.sock", Filter: Filter{Proto: vs.UDP}}},
		{argv: []string{"--count"}, err: true},
		{argv: []string{"--count", "0"}, err: true},
		{argv: []string{"--count", "-1"}, err: true},
		{argv: []string{"--port", "0"}, err: true},
		{argv: []string{"--port", "65536"}, err: true},
		{argv: []string{"--proto", "icmp"}, err: true},
		{argv: []string{"--client", "nope"}, err: true},
		{argv: []string{"--client", "fe80::1%eth0"}, err: true},
		{argv: []string{"--client", "::ffff:0:0/64"}, err: true},
		{argv: []string{"--vip", "192.0.2.0/24"}, err: true},
		{argv: []string{"--duration", "0s"}, err: true},
		{argv: []string{"--duration", "soon"}, err: true},
		{argv: []string{"--json=yes"}, err: true},
		{argv: []string{"--count", "1", "--count", "2"}, err: true},
		{argv: []string{"--bogus"}, err: true},
		{argv: []string{"stray"}, err: true},
		{argv: []string{"--pcap", ""}, err: true},
		{argv: []string{"--sample", "64", "--vip", "192.0.2.10"}, want: Options{Filter: Filter{VIP: netip.MustParseAddr("192.0.2.10"), Sample: 64}}},
		{argv: []string{"--sample=1"}, want: Options{}}, // every packet
		{argv: []string{"--sample", "0"}, err: true},
		{argv: []string{"--sample", "-4"}, err: true},
		{argv: []string{"--sample", "16777217"}, err: true},
		{argv: []string{"--sample", "1e3"}, err: true},
		{argv: []string{"--sample"}, err: true},
		{argv: []string{"--sample", "2", "--sample", "2"}, err: true},
	}
	for _, c := range cases {
		got, err := ParseArgs(c.argv)
		if c.err {
			if err == nil || !errors.Is(err, ErrUsage) {
				t.Errorf("%q: err %v, want a usage error", c.argv, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %+v, %v; want %+v", c.argv, got, err, c.want)
		}
	}
}

// FuzzParseArgs: no input panics; what parses survives the trip through
// ServerArgs (the daemon reads the same filter, count and duration).
func FuzzParseArgs(f *testing.F) {
	f.Add("--client", "198.51.100.2", "--count", "3")
	f.Add("--vip", "2001:db8::10", "--port", "443")
	f.Add("--client=198.51.100.0/24", "--proto", "udp", "--json")
	f.Add("--duration", "1m30s", "--pcap", "x")
	f.Add("--sample", "64", "--port", "80")
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		o, err := ParseArgs([]string{a, b, c, d})
		if err != nil {
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("error %v does not wrap ErrUsage", err)
			}
			return
		}
		back, err := ParseArgs(o.ServerArgs())
		if err != nil {
			t.Fatalf("ServerArgs %q: %v", o.ServerArgs(), err)
		}
		if back.Filter != o.Filter || back.Count != o.Count || back.Duration != o.Duration {
			t.Fatalf("round trip: %+v != %+v", back, o)
		}
	})
}

func TestFilterMatch(t *testing.T) {
	client := netip.MustParseAddr("198.51.100.2").As16()
	vip := netip.MustParseAddr("192.0.2.10").As16()
	tp := Tuple{Proto: vs.TCP, Known: true, Client: client, VIP: vip, Port: 80}
	cases := []struct {
		f    Filter
		tp   Tuple
		want bool
	}{
		{Filter{}, tp, true},
		{Filter{}, Tuple{}, true},
		{Filter{Client: netip.MustParsePrefix("198.51.100.0/24")}, tp, true},
		{Filter{Client: netip.MustParsePrefix("198.51.100.3/32")}, tp, false},
		{Filter{Client: netip.MustParsePrefix("2001:db8::/32")}, tp, false},
		{Filter{VIP: netip.MustParseAddr("192.0.2.10")}, tp, true},
		{Filter{VIP: netip.MustParseAddr("192.0.2.11")}, tp, false},
		{Filter{Port: 80, Proto: vs.TCP}, tp, true},
		{Filter{Port: 443}, tp, false},
		{Filter{Proto: vs.UDP}, tp, false},
		{Filter{Port: 80}, Tuple{}, false},
	}
	for i, c := range cases {
		if got := c.f.Match(&c.tp); got != c.want {
			t.Errorf("%d: %+v on %+v = %v", i, c.f, c.tp, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { cases[2].f.Match(&tp) }); n != 0 {
		t.Errorf("Match: %v allocs", n)
	}
}

// frame is a minimal Ethernet/IPv4/TCP frame.
func frame(src, dst [4]byte, sport, dport uint16) []byte {
	b := make([]byte, 54)
	copy(b[0:6], []byte{2, 0, 0, 0, 0, 0x10})
	copy(b[6:12], []byte{2, 0, 0, 0, 0, 1})
	b[12], b[13] = 0x08, 0x00
	ip := b[14:]
	ip[0], ip[2], ip[3], ip[8], ip[9] = 0x45, 0, 40, 64, 6
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	tcp := ip[20:]
	tcp[0], tcp[1], tcp[2], tcp[3] = byte(sport>>8), byte(sport), byte(dport>>8), byte(dport)
	tcp[12], tcp[13] = 5<<4, 0x02
	return b
}

func TestPcapRoundTrip(t *testing.T) {
	var ev Event
	ev.Start(5e9, 0, 0, frame([4]byte{198, 51, 100, 2}, [4]byte{192, 0, 2, 10}, 40000, 80))
	ev.After.Set(frame([4]byte{198, 51, 100, 2}, [4]byte{203, 0, 113, 11}, 40000, 80))
	ev.Out = 1
	at := time.Unix(1700000000, 123456000)
	rec := NewRecord(&ev, []string{"eth0", "eth1"}, at)
	var buf bytes.Buffer
	pw, err := NewPcapWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := pw.WriteRecord(rec); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v", r.LinkType())
	}
	for i, want := range [][]byte{rec.BeforeFrame, rec.AfterFrame} {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(data, want) || !ci.Timestamp.Equal(at.Truncate(time.Microsecond)) {
			t.Fatalf("frame %d: %x at %v", i, data, ci.Timestamp)
		}
	}
	if c := rec.Changes; len(c) != 1 || c[0].Header != "ip" || c[0].After != "198.51.100.2:40000 > 203.0.113.11:80" {
		t.Fatalf("changes %+v", c)
	}
}

// TestHub: the tracer is installed with the first subscriber and removed
// with the last; each subscriber gets what its filter passes; events
// that find the tracer's queue full are counted as lost.
func TestHub(t *testing.T) {
	var installed *Tracer
	calls := 0
	hub := NewHub(func(tr *Tracer) { installed = tr; calls++ }, func() int64 { return 0 }, 4)
	a := hub.Subscribe(Filter{Client: netip.MustParsePrefix("198.51.100.2/32")})
	if installed == nil || calls != 1 {
		t.Fatal("first subscriber did not install a tracer")
	}
	b := hub.Subscribe(Filter{})
	if calls != 1 {
		t.Fatal("second subscriber installed another tracer")
	}
	emit := func(client string) {
		var ev Event
		ev.Start(0, 0, 0, frame([4]byte{198, 51, 100, 9}, [4]byte{192, 0, 2, 10}, 1, 80))
		ev.Tuple = Tuple{Proto: vs.TCP, Known: true, Client: netip.MustParseAddr(client).As16(), Port: 80}
		if installed.Wants(&ev.Tuple) {
			installed.Emit(&ev)
		}
	}
	emit("198.51.100.2")
	emit("198.51.100.3")
	got := func(s *Subscription, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			select {
			case <-s.Events():
			case <-time.After(5 * time.Second):
				t.Fatalf("event %d of %d missing", i+1, n)
			}
		}
		select {
		case r := <-s.Events():
			t.Fatalf("unexpected event %+v", r)
		case <-time.After(50 * time.Millisecond):
		}
	}
	got(a, 1)
	got(b, 2)
	b.Close()
	if installed == nil || hub.Active() != 1 {
		t.Fatal("tracer removed while a subscriber remains")
	}
	emit("198.51.100.3") // b gone: the tracer no longer wants it
	if len(installed.Events()) != 0 {
		t.Fatal("an event no subscriber wants was queued")
	}
	for range 10 {
		emit("198.51.100.2")
	}
	a.Close()
	if installed != nil || calls != 2 {
		t.Fatal("last subscriber did not remove the tracer")
	}
	if a.Dropped() == 0 {
		t.Fatal("no loss counted with a 4-event queue and 10 events")
	}
}

// TestPlanSample: a worker's sampler takes one packet in Every, starting
// with the first; Gap also takes a packet after a quiet spell; a counter
// left over from a sparser plan does not delay a denser one.
func TestPlanSample(t *testing.T) {
	take := func(p *Plan, left *int, took *int64, times []int64) string {
		var b []byte
		for _, now := range times {
			if p.Sample(left, took, now) {
				b = append(b, 'x')
			} else {
				b = append(b, '.')
			}
		}
		return string(b)
	}
	ticks := func(n int, step int64) []int64 {
		ts := make([]int64, n)
		for i := range ts {
			ts[i] = int64(i) * step
		}
		return ts
	}
	var left int
	var took int64
	if got := take(everyPacket, &left, &took, ticks(5, 1)); got != "xxxxx" {
		t.Errorf("every packet: %s", got)
	}
	p4 := &Plan{Every: 4}
	if got := take(p4, &left, &took, ticks(12, 1)); got != "x...x...x..." {
		t.Errorf("1 in 4: %s", got)
	}
	// Gap 10: packets 1 apart are thinned, then one 20 later is taken at once.
	left, took = 0, 0
	pg := &Plan{Every: 4, Gap: 10}
	if got := take(pg, &left, &took, []int64{0, 1, 2, 30, 31, 32, 33, 34}); got != "x..x...x" {
		t.Errorf("1 in 4, gap 10: %s", got)
	}
	// From 1 in 1000 to 1 in 2: the next packet is taken.
	left, took = 0, 0
	take(&Plan{Every: 1000}, &left, &took, ticks(2, 1))
	if got := take(&Plan{Every: 2}, &left, &took, ticks(4, 1)); got != "x.x." {
		t.Errorf("after a sparser plan: %s", got)
	}
	if n := testing.AllocsPerRun(100, func() { p4.Sample(&left, &took, 5) }); n != 0 {
		t.Errorf("Sample: %v allocs", n)
	}
}

// TestSetFiltersPlan: the tracer samples as densely as its densest
// filter, and a sampled filter that selects every packet wants them all.
func TestSetFiltersPlan(t *testing.T) {
	client := netip.MustParsePrefix("198.51.100.2/32")
	cases := []struct {
		fs      []Filter
		every   int
		gap     int64
		filters int // -1: nil (every packet)
	}{
		{nil, 1, 0, -1},
		{[]Filter{{Sample: 64}}, 64, 0, -1},
		{[]Filter{{Sample: 64, SampleGap: time.Second}, {Sample: 8, Client: client}}, 8, int64(time.Second), -1},
		{[]Filter{{Sample: 64, SampleGap: time.Second}, {Client: client}}, 1, 0, -1},
		{[]Filter{{Sample: 16, Client: client}, {Sample: 4, Port: 80}}, 4, 0, 2},
		{[]Filter{{Sample: 16, SampleGap: 2 * time.Second}, {Sample: 16, SampleGap: time.Second}}, 16, int64(time.Second), -1},
	}
	for i, c := range cases {
		tr := NewTracer(1)
		tr.SetFilters(c.fs)
		p := tr.Plan()
		if p.Every != c.every || p.Gap != c.gap || (c.filters < 0) != (p.Filters == nil) || (c.filters >= 0 && len(p.Filters) != c.filters) {
			t.Errorf("%d: plan %+v, want every %d gap %d filters %d", i, p, c.every, c.gap, c.filters)
		}
	}
}

// TestHubSample: a subscriber that samples more sparsely than the tracer
// (which samples for the densest subscriber) gets about 1 in its own
// Sample of the events its filter passes, and SampleGap lets one through
// after a quiet spell; the full trace next to it loses nothing.
func TestHubSample(t *testing.T) {
	var installed *Tracer
	hub := NewHub(func(tr *Tracer) { installed = tr }, func() int64 { return 0 }, 256)
	sparse := hub.Subscribe(Filter{Sample: 8, SampleGap: time.Second})
	defer sparse.Close()
	if p := installed.Plan(); p.Every != 8 {
		t.Fatalf("one subscriber sampling 1 in 8: plan %+v", p)
	}
	full := hub.Subscribe(Filter{Port: 80})
	defer full.Close()
	if p := installed.Plan(); p.Every != 1 || p.Filters != nil {
		t.Fatalf("with a full trace: plan %+v", p)
	}
	emit := func(at int64) {
		var ev Event
		ev.Start(at, 0, 0, frame([4]byte{198, 51, 100, 9}, [4]byte{192, 0, 2, 10}, 1, 80))
		ev.Tuple = Tuple{Proto: vs.TCP, Known: true, Client: netip.MustParseAddr("198.51.100.9").As16(), Port: 80}
		installed.Emit(&ev)
	}
	for i := range 64 {
		emit(int64(i)) // 64 events within a nanosecond each
	}
	emit(int64(time.Second) + 64) // after a quiet second
	count := func(s *Subscription) (n int) {
		for {
			select {
			case <-s.Events():
				n++
			case <-time.After(100 * time.Millisecond):
				return n
			}
		}
	}
	if n := count(full); n != 65 {
		t.Errorf("full trace got %d of 65 events", n)
	}
	if n := count(sparse); n != 9 { // 64/8, and the one after the gap
		t.Errorf("1 in 8 got %d events, want 9", n)
	}
}

package status

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/trace"
	"github.com/gdirector/gdirector/vs"
)

// TestRing: a service's ring keeps its last packets, newest first, and
// overwrites the oldest.
func TestRing(t *testing.T) {
	r := newRing(3)
	if got := r.list(); len(got) != 0 {
		t.Fatalf("empty ring lists %v", got)
	}
	seqs := func() string {
		var b []string
		for _, p := range r.list() {
			b = append(b, fmt.Sprint(p.Seq))
		}
		return strings.Join(b, ",")
	}
	for i := uint64(1); i <= 2; i++ {
		r.add(Packet{Seq: i})
	}
	if got := seqs(); got != "2,1" {
		t.Errorf("2 packets: %s", got)
	}
	for i := uint64(3); i <= 7; i++ {
		r.add(Packet{Seq: i})
	}
	if got := seqs(); got != "7,6,5" {
		t.Errorf("7 packets in 3 places: %s", got)
	}
}

// TestPacketView: a record of a connection's packet becomes the page's
// packet with its service, rewrite, decision and the scheduler's choice;
// one without a connection belongs to no service.
func TestPacketView(t *testing.T) {
	l := realistic(t)
	web := l.svcs[0]
	c := l.conn(t, web, web.Dests[1], "198.51.100.40", 45000, false, "", 0)
	name, p, ok := packetView(l.record(t, web, c, false, header.TCPSyn, true, 9, t0))
	if !ok || name != "TCP 192.0.2.10:80" {
		t.Fatalf("service %q, %v", name, ok)
	}
	if p.Seq != 9 || p.Direction != "in" || p.Forward != "nat" || p.Proto != "tcp" || p.Flags != "[S]" ||
		p.Verdict != "forwarded" || p.Conn != "new" || p.State != "SYN_RECV" ||
		p.Client != "198.51.100.40:45000" || p.Real != "203.0.113.12:80" || p.Chosen != "203.0.113.12:80" ||
		!strings.HasPrefix(p.Sched, "wlc") || p.Time != "2026-05-04T12:30:00.000000Z" {
		t.Errorf("new NAT packet: %+v", p)
	}
	var ip *trace.Change
	for i := range p.Changes {
		if p.Changes[i].Header == "ip" {
			ip = &p.Changes[i]
		}
	}
	if ip == nil || ip.Before != "198.51.100.40:45000 > 192.0.2.10:80" || ip.After != "198.51.100.40:45000 > 203.0.113.12:80" {
		t.Errorf("NAT changes %+v", p.Changes)
	}
	// The connection's state moved with the packet: shown as a change.
	c.Update(l.clk.Now(), conntrack.Out, header.TCPSyn|header.TCPAck)
	rec := l.record(t, web, c, true, header.TCPSyn|header.TCPAck, false, 10, t0)
	rec.Conn.StateBefore = "SYN_SENT"
	if _, p, _ := packetView(rec); p.Direction != "out" || p.Conn != "hit" || p.State != "SYN_SENT → "+rec.Conn.State || p.Sched != "" {
		t.Errorf("reply: %+v", p)
	}
	if _, _, ok := packetView(&trace.Record{Verdict: "dropped", Reason: "not_syn"}); ok {
		t.Error("a drop without a connection was given a service")
	}
}

// get requests the document from h and decodes it.
func get(t *testing.T, h http.Handler) View {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, JSONPath, nil))
	var v View
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	return v
}

// TestPacketsTrace: the handler starts its sampled trace (PacketFilter)
// at the first request for the document and none before, files the
// records per service, newest first, keeps PacketsPerService of each,
// stops the trace TraceIdle after the last request (the data plane's
// tracer goes with it), starts it again on the next request, and starts
// none after Close.
func TestPacketsTrace(t *testing.T) {
	l := realistic(t)
	ft := &fakeTrace{}
	h, err := New(Config{Table: func() *vs.Table { return l.table }, Now: func() time.Time { return t0 },
		Trace: ft.start, TraceIdle: 300 * time.Millisecond, PacketsPerService: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if v := h.Snapshot(); v.Packets.Tracing {
		t.Fatal("tracing before anyone asked for the document")
	}
	if starts, _, _ := ft.state(); starts != 0 {
		t.Fatal("trace started without a request")
	}
	get(t, h)
	if starts, _, running := ft.state(); starts != 1 || !running || ft.filter != PacketFilter {
		t.Fatalf("after a request: %d starts, running %v, filter %+v", starts, running, ft.filter)
	}
	web, tls := l.svcs[0], l.svcs[1]
	cw := l.conn(t, web, web.Dests[0], "198.51.100.50", 46000, false, "", 0)
	ct := l.conn(t, tls, tls.Dests[1], "198.51.100.51", 46001, true, "", 0)
	ft.send(&trace.Record{Seq: 1, Verdict: "dropped", Reason: "not_syn"}) // no service: ignored
	for i := range 6 {
		ft.send(l.record(t, web, cw, i%2 == 1, header.TCPAck, i == 0, uint64(10+i), t0))
	}
	ft.send(l.record(t, tls, ct, false, header.TCPSyn, true, 20, t0))
	var v View
	deadline := time.Now().Add(5 * time.Second)
	for {
		v = get(t, h)
		if len(v.Services[1].Packets) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !v.Packets.Tracing || v.Packets.Sample != PacketFilter.Sample {
		t.Errorf("packets info %+v", v.Packets)
	}
	var seqs []uint64
	for _, p := range v.Services[0].Packets {
		seqs = append(seqs, p.Seq)
	}
	if fmt.Sprint(seqs) != "[15 14 13 12]" {
		t.Errorf("web's packets %v, want the last 4 newest first", seqs)
	}
	if p := v.Services[0].Packets[0]; p.Direction != "out" || p.Forward != "nat" {
		t.Errorf("newest web packet %+v", p)
	}
	dr := v.Services[1].Packets
	if len(dr) != 1 || dr[0].Forward != "dr" || dr[0].Conn != "new" || dr[0].Chosen != "203.0.113.22:443" ||
		len(dr[0].Changes) < 2 || dr[0].Changes[0].Header != "eth" || dr[0].Changes[1].Before != dr[0].Changes[1].After {
		t.Errorf("DR packet %+v: want a new connection with only the MACs changed", dr)
	}

	// Nobody looks: the trace stops within TraceIdle (and a bit).
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		end := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(end) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("the idle trace to stop", func() bool {
		_, stops, running := ft.state()
		return stops == 1 && !running && !h.Snapshot().Packets.Tracing
	})
	if v := h.Snapshot(); v.Packets.Tracing || len(v.Services[0].Packets) != 4 {
		t.Errorf("stopped: tracing %v, %d web packets kept", v.Packets.Tracing, len(v.Services[0].Packets))
	}
	get(t, h)
	if starts, _, running := ft.state(); starts != 2 || !running {
		t.Fatalf("a new viewer: %d starts, running %v", starts, running)
	}
	h.Close()
	if _, stops, running := ft.state(); stops != 2 || running {
		t.Fatalf("Close: %d stops, running %v", stops, running)
	}
	get(t, h)
	if starts, _, _ := ft.state(); starts != 2 {
		t.Fatal("a trace started after Close")
	}
}

package forward

import (
	"strings"
	"testing"
)

const wrkOK = `Running 5s test @ http://192.0.2.10:80/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.01ms    1.20ms  20.10ms   80.00%
    Req/Sec     7.98k   512.00     8.90k    70.00%
  39876 requests in 5.00s, 6.01MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:   7975.12
Transfer/sec:      1.20MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOK)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 39876 || r.RequestsSec != 7975.12 || r.SocketErrs != 5 || r.Non2xx != 4 {
		t.Fatalf("parseWrk = %+v", r)
	}
	for _, bad := range []string{
		"",
		"unable to connect to 192.0.2.10:80 Connection refused",
		strings.Replace(wrkOK, "Requests/sec:   7975.12", "Requests/sec: many", 1),
		strings.Replace(wrkOK, "Requests/sec:   7975.12\n", "", 1),
		strings.Replace(wrkOK, "39876 requests", "-1 requests", 1),
		strings.Replace(wrkOK, "timeout 2", "timeout", 1),
		strings.Replace(wrkOK, "responses: 4", "responses: x", 1),
	} {
		if _, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk accepted %q", clip(bad, 80))
		}
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkOK)
	f.Add("Requests/sec: 1\n1 requests in 1s\n")
	f.Add("Socket errors: connect 1, read 2\nRequests/sec: 0\n0 requests in 1s")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseWrk(s)
		if err == nil && (r.Requests < 0 || r.RequestsSec < 0 || r.SocketErrs < 0 || r.Non2xx < 0) {
			t.Fatalf("negative figures %+v from %q", r, s)
		}
	})
}

func TestParseIperf3(t *testing.T) {
	ok := `{"start":{},"intervals":[],"end":{"sum_sent":{"bytes":100,"retransmits":7},
	  "sum_received":{"start":1,"end":6,"seconds":5,"bytes":1250000000,"bits_per_second":2e9}}}`
	r, err := parseIperf3(ok)
	if err != nil {
		t.Fatal(err)
	}
	if r.BitsPerSecond != 2e9 || r.Bytes != 1.25e9 || r.Seconds != 5 || r.Retransmits != 7 {
		t.Fatalf("parseIperf3 = %+v", r)
	}
	for _, tc := range []struct{ in, err string }{
		{`{"start":{},"end":{},"error":"unable to connect to server: Connection timed out"}`, "unable to connect"},
		{`{"end":{}}`, "no received total"},
		{`iperf3: error`, "unreadable"},
		{`{"end":{"sum_received":{"seconds":5,"bytes":-1,"bits_per_second":1}}}`, "no received total"},
	} {
		if _, err := parseIperf3(tc.in); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("parseIperf3(%q): %v, want %q", tc.in, err, tc.err)
		}
	}
}

func FuzzParseIperf3(f *testing.F) {
	f.Add(`{"end":{"sum_received":{"seconds":5,"bytes":10,"bits_per_second":16}}}`)
	f.Add(`{"error":"x"}`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseIperf3(s)
		if err == nil && (r.Seconds <= 0 || r.BitsPerSecond < 0 || r.Bytes < 0) {
			t.Fatalf("accepted %+v from %q", r, s)
		}
	})
}

func TestParseProcStat(t *testing.T) {
	stat := []byte("cpu  10 20 30 40 50 60 70 80 90 100\n" +
		"cpu0 1 2 3 4 5 6 7 8 0 0\n" +
		"cpu1 100 1 50 1000 4 3 20 2 9 9\n" +
		"intr 1 2 3\n")
	c, err := parseProcStat(stat, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.Busy != 100+1+50+3+20 || c.Idle != 1004 || c.Steal != 2 || c.Total != 100+1+50+1000+4+3+20+2 {
		t.Fatalf("cpu1 = %+v", c)
	}
	if _, err := parseProcStat(stat, 2); err == nil {
		t.Error("cpu2 found in a two-CPU stat")
	}
	if _, err := parseProcStat([]byte("cpu1 1 2 x 4 5 6 7\n"), 1); err == nil {
		t.Error("accepted a non-number")
	}
	if _, err := parseProcStat([]byte("cpu1 1 2 3\n"), 1); err == nil {
		t.Error("accepted a short line")
	}
	// cpu10 must not match cpu1.
	if _, err := parseProcStat([]byte("cpu10 1 2 3 4 5 6 7 8\n"), 1); err == nil {
		t.Error("cpu10 taken for cpu1")
	}
}

func TestParsePidStat(t *testing.T) {
	line := "4242 (gd (x) y) S 1 4242 4242 0 -1 2097216 100 0 0 0 137 42 5 6 20 0 5 0 123 0 0\n"
	n, err := parsePidStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if n.Own != 137+42 || n.Children != 11 || !n.Kernel || n.Start != 123 {
		t.Fatalf("times = %+v, want own 179, children 11", n)
	}
	for _, bad := range []string{"", "4242 gd S 1", "1 (a) S 1 2 3", "1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 1 0 0",
		"1 (a) S 1 1 1 0 -1 0 0 0 0 0 1 1 -1 0 0 0 0 0 9",
		"1 (a) S 1 1 1 0 -1 0 0 0 0 0 1 1 1 0 0 0 0 0 -9", "1 (a) S 1 1 1 0 -1 x 0 0 0 0 1 1 1 0 0 0 0 0 9"} {
		if _, err := parsePidStat([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestOtherDelta(t *testing.T) {
	pt := func(own, start uint64) pidTimes { return pidTimes{Own: own, Start: start} }
	a := others{uptime: 1000, procs: map[int]pidTimes{1: pt(10, 5), 2: pt(5, 5), 3: pt(7, 5), 6: pt(50, 5)}}
	b := others{uptime: 1100, procs: map[int]pidTimes{
		1: pt(15, 5),                         // +5
		2: {Own: 5, Children: 300, Start: 5}, // idle; a child reaped: not counted
		4: pt(3, 1050),                       // started in between: all of it
		5: pt(90, 900),                       // older than a but missed by it: nothing
		6: pt(4, 1010),                       // pid 6 recycled by a new process: all of it
	}}
	d := otherDelta(a, b)
	if len(d) != 3 || d[1] != 5 || d[4] != 3 || d[6] != 4 || sum(d) != 12 {
		t.Fatalf("otherDelta = %v", d)
	}
	if s := topOthers(d, 1); !strings.Contains(s, "(pid 1) 5%") {
		t.Errorf("topOthers = %q", s)
	}
}

func TestParseSchedstat(t *testing.T) {
	if v, err := parseSchedstat([]byte("585172 0 1\n")); err != nil || v != 585172 {
		t.Fatalf("parseSchedstat = %d, %v", v, err)
	}
	for _, bad := range []string{"", "1 2", "x 0 1", "-1 0 1"} {
		if _, err := parseSchedstat([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestParseCallIPIs(t *testing.T) {
	in := []byte("           CPU0       CPU1\n  1:  9  0  IO-APIC\nRES:  11  22  Rescheduling interrupts\nCAL:  3428037  8612229  Function call interrupts\n")
	if v, err := parseCallIPIs(in, 1); err != nil || v != 8612229 {
		t.Fatalf("CPU1 = %d, %v", v, err)
	}
	if _, err := parseCallIPIs(in, 5); err == nil {
		t.Error("CPU5 found")
	}
	if _, err := parseCallIPIs([]byte("RES: 1 2\n"), 0); err == nil {
		t.Error("no CAL row accepted")
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add("cpu1 1 2 3 4 5 6 7 8\n", 1)
	f.Add("cpu0 1 2 3\ncpu1 9 9 9 9 9 9 9", 1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		c, err := parseProcStat([]byte(s), n)
		if err == nil && c.Busy > c.Total {
			t.Fatalf("busy %d > total %d", c.Busy, c.Total)
		}
		_, _ = parsePidStat([]byte(s))
		_, _ = parseCallIPIs([]byte(s), n)
		_, _ = parseSchedstat([]byte(s))
	})
}

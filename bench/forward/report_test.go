package forward

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"net/netip"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// testReport fills a report as three runs on the NAT lab would.
func testReport() *Report {
	r := newReport(Defaults(), false)
	add := func(t Test, v string, vals ...float64) {
		for _, x := range vals {
			r.add("nat", t, v, Sample{Value: x, Packets: 1000, DirBusyNS: 500 * 1000, DirUtil: 0.5, ProcNS: 200 * 1000})
		}
	}
	// Visited A/B/A/B, recorded out of table order on purpose.
	add(TestCPS, VarGdirector, 900, 1100, 1000)
	add(TestCPS, VarHAProxy, 500, 600, 700)
	add(TestCPS, VarNFT, 1000, 1200, 800)
	add(TestCPS, VarFwd, 2000, 2000, 2000)
	add(TestUDP, VarNFT, 400e3, 410e3, 390e3)
	add(TestUDP, VarGdirector, 300e3, 310e3, 320e3)
	add(TestUDP, VarFwd, 500e3, 500e3, 500e3)
	r.finish()
	return r
}

func TestReportFinish(t *testing.T) {
	r := testReport()
	var order []string
	for _, row := range r.Rows {
		order = append(order, string(row.Test)+"/"+row.Variant)
	}
	want := "udp64/fwd udp64/nft udp64/gdirector cps/fwd cps/nft cps/haproxy cps/gdirector"
	if got := strings.Join(order, " "); got != want {
		t.Fatalf("row order %q, want %q", got, want)
	}
	g := r.row("nat", TestCPS, VarGdirector)
	if g.Median != 1000 || g.Min != 900 || g.Max != 1100 || g.Runs != 3 {
		t.Fatalf("cps gdirector row %+v", g)
	}
	if g.XNFT != 1 || g.XFwd != 0.5 || g.XHAProxy != 1000.0/600 {
		t.Fatalf("cps ratios %v %v %v", g.XNFT, g.XFwd, g.XHAProxy)
	}
	// ≥1.0× nft met, ≥1.5× haproxy met (1.67).
	if g.Target != "≥1.0× nft, ≥1.5× haproxy" || g.Verdict != "met" {
		t.Fatalf("cps target %q verdict %q", g.Target, g.Verdict)
	}
	u := r.row("nat", TestUDP, VarGdirector)
	if u.Verdict != "SHORT" || math.Abs(u.XNFT-310.0/400) > 1e-9 {
		t.Fatalf("udp gdirector %+v", u)
	}
	if u.DirNSPerPkt != 500 || u.ProcNSPerPkt != 200 || u.DirUtil != 0.5 {
		t.Fatalf("udp CPU figures %+v", u)
	}
	if a := r.row("nat", TestUDP, VarNFT); a.Target != "" || a.Verdict != "" || a.XNFT != 1 || a.XFwd != 0.8 {
		t.Fatalf("nft anchor row %+v", a)
	}
}

func TestReportOutputs(t *testing.T) {
	r := testReport()
	var tbl bytes.Buffer
	if err := r.WriteTable(&tbl); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"310.0 kpps", "1000 conn/s", "SHORT", "met", "dir CPU/pkt"} {
		if !strings.Contains(tbl.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, tbl.String())
		}
	}
	var c bytes.Buffer
	if err := r.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&c).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+len(r.Rows) || strings.Join(recs[0], ",") != strings.Join(CSVHeader, ",") {
		t.Fatalf("csv: %d records, header %v", len(recs), recs[0])
	}
	if rec := recs[3]; rec[2] != VarGdirector || rec[5] != "310000.0" || rec[17] != "SHORT" || rec[18] != "300000.0;310000.0;320000.0" {
		t.Fatalf("csv udp gdirector record %v", rec)
	}
	var j bytes.Buffer
	if err := r.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(j.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != len(r.Rows) || back.Rows[2].Median != 310e3 || len(back.Rows[2].Samples) != 3 {
		t.Fatalf("json round trip: %+v", back.Rows)
	}
}

func TestNFTRulesetAndHAProxyConfig(t *testing.T) {
	r := testTopologyAddrs()
	rs := nftRuleset(r.vip, r.rips)
	for _, s := range []string{
		"ip daddr 192.0.2.10 udp dport 9000 dnat to numgen inc mod 2 map { 0 : 203.0.113.11, 1 : 203.0.113.12 }",
		"ip daddr 192.0.2.10 tcp dport 80 dnat to numgen inc mod 2 map",
		"ip daddr 192.0.2.10 tcp dport 5201 dnat to jhash ip saddr mod 2 map",
	} {
		if !strings.Contains(rs, s) {
			t.Errorf("ruleset lacks %q:\n%s", s, rs)
		}
	}
	hc := haproxyConfig(r.vip, r.rips)
	for _, s := range []string{"mode tcp", "bind 192.0.2.10:80", "balance roundrobin", "server rs1 203.0.113.11:80", "server rs2 203.0.113.12:80"} {
		if !strings.Contains(hc, s) {
			t.Errorf("haproxy config lacks %q:\n%s", s, hc)
		}
	}
}

type addrsForTest struct {
	vip  netip.Addr
	rips []netip.Addr
}

func testTopologyAddrs() addrsForTest {
	return addrsForTest{netip.MustParseAddr("192.0.2.10"), []netip.Addr{netip.MustParseAddr("203.0.113.11"), netip.MustParseAddr("203.0.113.12")}}
}

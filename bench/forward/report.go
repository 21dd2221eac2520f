package forward

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Row is one (method, test, variant) of the table: the median of its runs
// and its ratios to the anchors' medians on the same lab.
type Row struct {
	Method  string `json:"method"`
	Test    Test   `json:"test"`
	Variant string `json:"variant"`
	Unit    string `json:"unit"` // pps, conn/s, Mbit/s
	Runs    int    `json:"runs"`

	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	// Ratios of Median to the same test's nft, fwd and haproxy medians
	// on the same lab; 0 when there is no such anchor.
	XNFT     float64 `json:"x_nft,omitempty"`
	XFwd     float64 `json:"x_fwd,omitempty"`
	XHAProxy float64 `json:"x_haproxy,omitempty"`

	// Medians over the runs of the per-sample CPU figures.
	DirUtil      float64 `json:"dir_util"`
	DirNSPerPkt  float64 `json:"dir_ns_per_pkt"`
	ProcNSPerPkt float64 `json:"proc_ns_per_pkt,omitempty"`
	Offered      float64 `json:"offered,omitempty"`
	// OtherShare is the median share of the machine's CPU time used by
	// processes outside the harness and its lab during the windows.
	OtherShare float64 `json:"other_share"`

	// Target is the goal for this row ("≥1.0× nft"), Verdict
	// "met" or "SHORT" against it; both empty for anchors.
	Target  string `json:"target,omitempty"`
	Verdict string `json:"verdict,omitempty"`

	Notes   []string `json:"notes,omitempty"`
	Samples []Sample `json:"samples"`
}

// Report is the harness's result.
type Report struct {
	Date     string `json:"date"`
	Kernel   string `json:"kernel"`
	CPUs     int    `json:"cpus"`
	Runs     int    `json:"runs"`
	Duration string `json:"duration"`
	Warmup   string `json:"warmup"`
	Conns    int    `json:"wrk_connections"`
	Flows    int    `json:"udp_flows"`
	// Workers says how gdirector's worker count was varied.
	Workers string `json:"workers"`
	// LoadAvg is /proc/loadavg's first three figures when the harness
	// started: other work on the machine skews every figure.
	LoadAvg string `json:"loadavg"`
	Rows    []Row  `json:"rows"`

	index map[string]int
}

func newReport(opt Options, withWorkers bool) *Report {
	w := "--workers 1 (gdirector) and --workers 2 (gdirector-2w, both CPUs)"
	if !withWorkers {
		w = "gdirector run has no --workers flag: one worker per interface, all on the director CPU; no 2-worker figure"
	}
	return &Report{
		Date: today(), Kernel: kernelRelease(), CPUs: runtime.NumCPU(), Runs: opt.Runs,
		Duration: opt.Duration.String(), Warmup: opt.Warmup.String(), Conns: opt.Conns, Flows: opt.Flows,
		Workers: w, LoadAvg: loadAvg(), index: map[string]int{},
	}
}

func unitOf(t Test) string {
	switch t {
	case TestUDP:
		return "pps"
	case TestCPS:
		return "conn/s"
	}
	return "Mbit/s"
}

// add records one sample.
func (r *Report) add(method string, t Test, variant string, s Sample) {
	k := method + "\x00" + string(t) + "\x00" + variant
	i, ok := r.index[k]
	if !ok {
		i = len(r.Rows)
		r.index[k] = i
		r.Rows = append(r.Rows, Row{Method: method, Test: t, Variant: variant, Unit: unitOf(t)})
	}
	r.Rows[i].Samples = append(r.Rows[i].Samples, s)
}

// row returns the row for (method, t, variant) or nil.
func (r *Report) row(method string, t Test, variant string) *Row {
	if i, ok := r.index[method+"\x00"+string(t)+"\x00"+variant]; ok {
		return &r.Rows[i]
	}
	return nil
}

// goal is one of the targets: Ratio times the anchor's median.
type goal struct {
	anchor string
	ratio  float64
}

// goals returns the targets for a gdirector row.
func goals(method string, t Test) []goal {
	switch t {
	case TestUDP:
		switch method {
		case "nat":
			return []goal{{VarNFT, 1.0}}
		case "dr":
			return []goal{{VarNFT, 1.1}}
		}
	case TestCPS:
		return []goal{{VarNFT, 1.0}, {VarHAProxy, 1.5}}
	case TestBulk:
		return []goal{{VarNFT, 1.0}}
	case TestBulkGSO:
		return []goal{{VarNFT, 0.8}}
	}
	return nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// finish computes medians, ratios and verdicts, and orders the rows by
// method, test and variant as the harness visits them.
func (r *Report) finish() {
	for i := range r.Rows {
		row := &r.Rows[i]
		var vals, util, dir, proc, off, other []float64
		seen := map[string]bool{}
		for _, s := range row.Samples {
			vals = append(vals, s.Value)
			util = append(util, s.DirUtil)
			dir = append(dir, s.DirNSPerPacket())
			proc = append(proc, s.ProcNSPerPacket())
			off = append(off, s.Offered)
			other = append(other, s.OtherShare())
			if s.Note != "" && !seen[s.Note] {
				seen[s.Note] = true
				row.Notes = append(row.Notes, s.Note)
			}
		}
		row.Runs = len(vals)
		row.Median = median(vals)
		row.Min, row.Max = math.Inf(1), math.Inf(-1)
		for _, v := range vals {
			row.Min, row.Max = math.Min(row.Min, v), math.Max(row.Max, v)
		}
		row.DirUtil, row.DirNSPerPkt, row.ProcNSPerPkt, row.Offered = median(util), median(dir), median(proc), median(off)
		row.OtherShare = median(other)
	}
	ratio := func(v float64, a *Row) float64 {
		if a == nil || a.Median <= 0 {
			return 0
		}
		return v / a.Median
	}
	for i := range r.Rows {
		row := &r.Rows[i]
		row.XNFT = ratio(row.Median, r.row(row.Method, row.Test, VarNFT))
		row.XFwd = ratio(row.Median, r.row(row.Method, row.Test, VarFwd))
		if row.Test == TestCPS {
			row.XHAProxy = ratio(row.Median, r.row(row.Method, row.Test, VarHAProxy))
		}
		if row.Variant != VarGdirector && row.Variant != VarGdirector2 {
			continue
		}
		var parts []string
		met, known := true, true
		for _, g := range goals(row.Method, row.Test) {
			parts = append(parts, fmt.Sprintf("≥%.1f× %s", g.ratio, g.anchor))
			x := ratio(row.Median, r.row(row.Method, row.Test, g.anchor))
			if x == 0 {
				known = false
			} else if x < g.ratio {
				met = false
			}
		}
		row.Target = strings.Join(parts, ", ")
		switch {
		case row.Target == "":
		case !known:
			row.Verdict = "?"
		case met:
			row.Verdict = "met"
		default:
			row.Verdict = "SHORT"
		}
	}
	order := map[string]int{}
	for i, m := range AllMethods {
		order["m"+m] = i
	}
	for i, t := range AllTests {
		order["t"+string(t)] = i
	}
	for i, v := range []string{VarFwd, VarNFT, VarHAProxy, VarGdirector, VarGdirector2} {
		order["v"+v] = i
	}
	sort.SliceStable(r.Rows, func(i, j int) bool {
		a, b := r.Rows[i], r.Rows[j]
		if a.Method != b.Method {
			return order["m"+a.Method] < order["m"+b.Method]
		}
		if a.Test != b.Test {
			return order["t"+string(a.Test)] < order["t"+string(b.Test)]
		}
		return order["v"+a.Variant] < order["v"+b.Variant]
	})
	r.index = map[string]int{}
	for i, row := range r.Rows {
		r.index[row.Method+"\x00"+string(row.Test)+"\x00"+row.Variant] = i
	}
}

// loadAvg returns the 1, 5 and 15-minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// formatValue renders a figure with its unit for the text table.
func formatValue(t Test, v float64) string {
	switch t {
	case TestUDP:
		return fmt.Sprintf("%.1f kpps", v/1e3)
	case TestCPS:
		return fmt.Sprintf("%.0f conn/s", v)
	}
	if v < 10 {
		return fmt.Sprintf("%.2f Mbit/s", v)
	}
	return fmt.Sprintf("%.0f Mbit/s", v)
}

func formatNS(ns float64) string {
	if ns >= 10000 {
		return fmt.Sprintf("%.1fµs", ns/1000)
	}
	return fmt.Sprintf("%.0fns", ns)
}

func formatX(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}

// WriteTable writes the human-readable table.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "gdirector bench forward, %s, kernel %s, %d CPUs: load on CPU %d, director on CPU %d\n",
		r.Date, r.Kernel, r.CPUs, cpuLoad, cpuDirector)
	fmt.Fprintf(w, "medians of %d run(s) of %s (after %s warm-up), variants alternated A/B/A/B; load average at start %s\n",
		r.Runs, r.Duration, r.Warmup, r.LoadAvg)
	fmt.Fprintf(w, "workers: %s\n\n", r.Workers)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\ttest\tvariant\tmedian\tmin..max\t×nft\t×fwd\t×haproxy\tdir CPU\tdir CPU/pkt\tproc CPU/pkt\tother\ttarget\tverdict\t")
	for _, row := range r.Rows {
		span := fmt.Sprintf("%s..%s", strings.Fields(formatValue(row.Test, row.Min))[0], strings.Fields(formatValue(row.Test, row.Max))[0])
		proc := "-"
		if row.ProcNSPerPkt > 0 {
			proc = formatNS(row.ProcNSPerPkt)
		}
		tgt, verdict := row.Target, row.Verdict
		if tgt == "" {
			tgt, verdict = "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f%%\t%s\t%s\t%.0f%%\t%s\t%s\t\n",
			row.Method, row.Test, row.Variant, formatValue(row.Test, row.Median), span,
			formatX(row.XNFT), formatX(row.XFwd), formatX(row.XHAProxy),
			row.DirUtil*100, formatNS(row.DirNSPerPkt), proc, row.OtherShare*100, tgt, verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprint(w, `
dir CPU: busy share of the director's CPU in the window (the window less its idle time).
dir CPU/pkt: that busy time per frame the director namespace sent (udp64, cps), or per
  1448-byte segment of payload delivered (bulk, bulk-gso). proc CPU/pkt: the director
  process's own CPU time (gdirector, HAProxy) on the same denominator.
other: share of the machine's CPU time that processes outside the harness and its
  lab used in the window; figures are only comparable when it is near 0%.
`)
	for _, row := range r.Rows {
		for _, n := range row.Notes {
			fmt.Fprintf(w, "note: %s %s %s: %s\n", row.Method, row.Test, row.Variant, n)
		}
	}
	return nil
}

// WriteFile writes the report as CSV or JSON, chosen by the file's
// extension (.csv, .json).
func (r *Report) WriteFile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		err = r.WriteJSON(f)
	default:
		err = r.WriteCSV(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteJSON writes the report, samples included, as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// CSVHeader is the first line WriteCSV writes.
var CSVHeader = []string{"method", "test", "variant", "unit", "runs", "median", "min", "max",
	"x_nft", "x_fwd", "x_haproxy", "dir_util", "dir_ns_per_pkt", "proc_ns_per_pkt", "offered_median", "other_share",
	"target", "verdict", "values", "notes"}

// WriteCSV writes one line per row (values of the runs joined by ';').
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	f := func(x float64, prec int) string { return strconv.FormatFloat(x, 'f', prec, 64) }
	for _, row := range r.Rows {
		vals := make([]string, len(row.Samples))
		for i, s := range row.Samples {
			vals[i] = f(s.Value, 1)
		}
		rec := []string{row.Method, string(row.Test), row.Variant, row.Unit, strconv.Itoa(row.Runs),
			f(row.Median, 1), f(row.Min, 1), f(row.Max, 1), f(row.XNFT, 3), f(row.XFwd, 3), f(row.XHAProxy, 3),
			f(row.DirUtil, 3), f(row.DirNSPerPkt, 0), f(row.ProcNSPerPkt, 0), f(row.Offered, 0), f(row.OtherShare, 3),
			row.Target, row.Verdict, strings.Join(vals, ";"), strings.Join(row.Notes, "; ")}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

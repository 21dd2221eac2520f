package schedsim

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// ratio is live/sim, NaN when sim is 0.
func ratio(live, sim float64) float64 {
	if sim == 0 {
		return math.NaN()
	}
	return live / sim
}

func fratio(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}

// pairs returns the simulated and live results of the steady runs of
// distribution d, in scheduler order.
func (lr *LiveReport) pairs(d Dist) (sim []*Result, live []*LiveResult) {
	for i, s := range lr.Sim.Steady {
		if s.Dist == d && i < len(lr.Steady) {
			sim = append(sim, s)
			live = append(live, lr.Steady[i])
		}
	}
	return sim, live
}

// WriteTable writes the comparison: per distribution, each scheduler's
// simulated and live mean and p99 response time with their ratio
// (live/sim), dropped (sim) and failed (live) connections, each server's
// share sim/live, the coefficients of variation of the shares and
// utilisations, stickiness (clients with ≥ 2 connections that stayed on
// one server) and agreement (clients whose usual server is the same on
// both sides); then the failure runs' remap.
func (lr *LiveReport) WriteTable(w io.Writer) error {
	c := &lr.Sim.Config
	n := len(c.Speeds)
	ws, clients := c.weightsAndClients()
	fmt.Fprintf(w, "gdirector bench sched --live: seed %d, %s s per run, load %s%%, mean work %s ms at speed 1\n",
		c.Seed, fnum(c.Duration), fnum(c.Load*100), fnum(c.Mean*1000))
	fmt.Fprintf(w, "servers s1..s%d: speeds %s, weights %s; %d clients 198.51.100.10+ (%s) to VIP %s; inactive %s s after close\n",
		n, joinFloats(c.Speeds, fnum), ws, len(c.Clients), clients, c.Dst, fnum(c.Inact))
	fmt.Fprintf(w, "live: netns lab, gdirector daemon (NAT), real servers processor-sharing at their speed; at most %d connections per run, %d at once\n",
		c.Live.MaxConns, c.Live.Conc)
	if lr.Note != "" {
		fmt.Fprintf(w, "note: %s\n", lr.Note)
	}
	for _, d := range c.Dists {
		sims, lives := lr.pairs(d)
		if len(sims) == 0 {
			continue
		}
		work := distName(d)
		if d == Pareto {
			work += " (shape " + fnum(c.Alpha) + ")"
		}
		fmt.Fprintf(w, "\n%s work: %d connections offered (sim), %d (live); share sim/live; x = live/sim\n",
			work, sims[0].Offered, lives[0].Offered)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		hdr := "sched\tmean sim\tlive\tx\tp99 sim\tlive\tx\tlag\tdrop\terr\tcapped\t"
		for i := range n {
			hdr += fmt.Sprintf("share s%d\t", i+1)
		}
		hdr += "cv share\tlive\tcv util\tlive\tsticky\tlive\tagree\t"
		fmt.Fprintln(tw, hdr)
		for i, s := range sims {
			l := lives[i]
			line := fmt.Sprintf("%s\t%.2f\t%.2f\t%s\t%.2f\t%.2f\t%s\t%.2f\t%d\t%d\t%d\t", s.Sched,
				s.MeanResp*1000, l.MeanResp*1000, fratio(ratio(l.MeanResp, s.MeanResp)),
				s.P99Resp*1000, l.P99Resp*1000, fratio(ratio(l.P99Resp, s.P99Resp)), l.Lag*1000,
				s.Dropped, l.Errors, l.Capped)
			for k := range n {
				line += fmt.Sprintf("%.1f/%.1f%%\t", s.Share[k]*100, l.Share[k]*100)
			}
			line += fmt.Sprintf("%.3f\t%.3f\t%.3f\t%.3f\t%.0f%%\t%.0f%%\t%.0f%%\t", s.CVShare, l.CVShare, s.CVUtil, l.CVUtil,
				s.Sticky()*100, l.Sticky()*100, l.Agree*100)
			fmt.Fprintln(tw, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(lr.Failure) > 0 {
		failureHeading(w, c)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "sched\tremap sim\tlive\tmoved/seen sim\tlive\tlost sim\terr live\tp99 sim\tlive\tx\t")
		for i, s := range lr.Sim.Failure {
			if i >= len(lr.Failure) {
				break
			}
			l := lr.Failure[i]
			fmt.Fprintf(tw, "%s\t%.1f%%\t%.1f%%\t%d/%d\t%d/%d\t%d\t%d\t%.2f\t%.2f\t%s\t\n", s.Sched,
				s.Remap()*100, l.Remap()*100, s.Moved, s.Seen, l.Moved, l.Seen, s.Lost, l.Errors,
				s.P99Resp*1000, l.P99Resp*1000, fratio(ratio(l.P99Resp, s.P99Resp)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, l := range append(append([]*LiveResult(nil), lr.Steady...), lr.Failure...) {
		if l.Err != "" {
			fmt.Fprintf(w, "\nfirst error of %s (%s): %s\n", l.Sched, l.Dist, l.Err)
			break
		}
	}
	return nil
}

// liveRuns pairs every simulated run with its live replay.
func (lr *LiveReport) liveRuns() (sim []*Result, live []*LiveResult) {
	for i, s := range lr.Sim.Steady {
		if i < len(lr.Steady) {
			sim, live = append(sim, s), append(live, lr.Steady[i])
		}
	}
	for i, s := range lr.Sim.Failure {
		if i < len(lr.Failure) {
			sim, live = append(sim, s), append(live, lr.Failure[i])
		}
	}
	return sim, live
}

// WriteCSV writes one row per run with the simulated (sim_) and live
// (live_) figures side by side and the live/sim ratios of the response
// times (empty when the simulated figure is 0).
func (lr *LiveReport) WriteCSV(w io.Writer) error {
	n := len(lr.Sim.Config.Speeds)
	cw := csv.NewWriter(w)
	hdr := []string{"sched", "dist", "run"}
	both := func(name string) { hdr = append(hdr, "sim_"+name, "live_"+name) }
	for _, f := range []string{"offered", "dropped", "done", "open", "mean_ms", "p99_ms"} {
		both(f)
	}
	hdr = append(hdr, "ratio_mean", "ratio_p99", "live_lag_ms", "live_errors", "live_capped")
	for i := range n {
		both(fmt.Sprintf("share_s%d", i+1))
	}
	for i := range n {
		both(fmt.Sprintf("util_s%d", i+1))
	}
	for _, f := range []string{"cv_share", "cv_util", "sticky", "seen", "moved", "remap"} {
		both(f)
	}
	hdr = append(hdr, "agree")
	if err := cw.Write(hdr); err != nil {
		return err
	}
	f6 := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'f', 6, 64)
	}
	u := func(x uint64) string { return strconv.FormatUint(x, 10) }
	at := func(xs []float64, i int) float64 {
		if i < len(xs) {
			return xs[i]
		}
		return math.NaN()
	}
	sims, lives := lr.liveRuns()
	for j, s := range sims {
		l := lives[j]
		run := "steady"
		if s.Fail {
			run = "failure"
		}
		row := []string{s.Sched, string(s.Dist), run,
			u(s.Offered), u(l.Offered), u(s.Dropped), u(l.Errors), u(s.Done), u(l.Done), u(s.Open), u(l.Open),
			f6(s.MeanResp * 1000), f6(l.MeanResp * 1000), f6(s.P99Resp * 1000), f6(l.P99Resp * 1000),
			f6(ratio(l.MeanResp, s.MeanResp)), f6(ratio(l.P99Resp, s.P99Resp)), f6(l.Lag * 1000), u(l.Errors), u(l.Capped)}
		for i := range n {
			row = append(row, f6(s.Share[i]), f6(l.Share[i]))
		}
		for i := range n {
			row = append(row, f6(at(s.Util, i)), f6(at(l.Util, i)))
		}
		row = append(row, f6(s.CVShare), f6(l.CVShare), f6(s.CVUtil), f6(l.CVUtil), f6(s.Sticky()), f6(l.Sticky()),
			strconv.Itoa(s.Seen), strconv.Itoa(l.Seen), strconv.Itoa(s.Moved), strconv.Itoa(l.Moved),
			f6(s.Remap()), f6(l.Remap()), f6(l.Agree))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// jsonSide is one side of a run in the JSON output.
type jsonSide struct {
	Offered  uint64    `json:"offered"`
	Dropped  uint64    `json:"dropped"` // live: failed connections
	Done     uint64    `json:"done"`
	Open     uint64    `json:"open"`
	MeanMS   float64   `json:"mean_ms"`
	P99MS    float64   `json:"p99_ms"`
	Count    []uint64  `json:"conns"`
	Share    []float64 `json:"share"`
	Util     []float64 `json:"util"`
	CVShare  float64   `json:"cv_share"`
	CVUtil   float64   `json:"cv_util"`
	Sticky   float64   `json:"sticky"`
	Seen     int       `json:"seen,omitempty"`
	Moved    int       `json:"moved,omitempty"`
	Remap    float64   `json:"remap,omitempty"`
	Capped   uint64    `json:"capped,omitempty"`
	LagMS    float64   `json:"lag_ms,omitempty"`
	Agree    *float64  `json:"agree,omitempty"`
	FirstErr string    `json:"first_error,omitempty"`
}

func side(r *Result) jsonSide {
	return jsonSide{Offered: r.Offered, Dropped: r.Dropped, Done: r.Done, Open: r.Open,
		MeanMS: r.MeanResp * 1000, P99MS: r.P99Resp * 1000, Count: r.Count, Share: r.Share, Util: r.Util,
		CVShare: r.CVShare, CVUtil: r.CVUtil, Sticky: r.Sticky(), Seen: r.Seen, Moved: r.Moved, Remap: r.Remap()}
}

// WriteJSON writes the configuration and every run's two sides.
func (lr *LiveReport) WriteJSON(w io.Writer) error {
	c := &lr.Sim.Config
	type run struct {
		Sched string   `json:"sched"`
		Dist  Dist     `json:"dist"`
		Run   string   `json:"run"`
		Sim   jsonSide `json:"sim"`
		Live  jsonSide `json:"live"`
	}
	out := struct {
		Seed     uint64    `json:"seed"`
		Duration float64   `json:"duration_s"`
		Load     float64   `json:"load"`
		MeanMS   float64   `json:"mean_work_ms"`
		Speeds   []float64 `json:"speeds"`
		Weights  []int32   `json:"weights"`
		Clients  int       `json:"clients"`
		Zipf     float64   `json:"zipf"`
		Inact    float64   `json:"inact_s"`
		Fail     int       `json:"fail,omitempty"`
		FailMode FailMode  `json:"fail_mode,omitempty"`
		MaxConns int       `json:"max_conns"`
		Conc     int       `json:"conc"`
		Note     string    `json:"note,omitempty"`
		Runs     []run     `json:"runs"`
	}{Seed: c.Seed, Duration: c.Duration, Load: c.Load, MeanMS: c.Mean * 1000, Speeds: c.Speeds, Weights: c.Weights,
		Clients: len(c.Clients), Zipf: c.Zipf, Inact: c.Inact, Fail: c.Fail, FailMode: c.FailMode,
		MaxConns: c.Live.MaxConns, Conc: c.Live.Conc, Note: lr.Note}
	if c.Fail == 0 {
		out.FailMode = ""
	}
	sims, lives := lr.liveRuns()
	for j, s := range sims {
		l := lives[j]
		ls := side(&l.Result)
		ls.Dropped, ls.Capped, ls.FirstErr, ls.LagMS = l.Errors, l.Capped, l.Err, l.Lag*1000
		agree := l.Agree
		ls.Agree = &agree
		r := run{Sched: s.Sched, Dist: s.Dist, Run: "steady", Sim: side(s), Live: ls}
		if s.Fail {
			r.Run = "failure"
		}
		out.Runs = append(out.Runs, r)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// lighter mixes c halfway to white: the live bars next to the simulated.
func lighter(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	mix := func(x uint32) uint8 { return uint8((x>>8 + 255) / 2) }
	return color.RGBA{R: mix(r), G: mix(g), B: mix(b), A: 255}
}

// P99Plot compares the simulated and live p99 response time of each
// scheduler (the first distribution's steady runs), on a log scale, with
// the simulator's bars.
func (lr *LiveReport) P99Plot() *plot.Plot {
	p := plot.New()
	c := &lr.Sim.Config
	d := c.Dists[0]
	sims, lives := lr.pairs(d)
	p.Title.Text = fmt.Sprintf("p99 response time, simulated vs live (%s work, load %s%%, speeds %s, seed %d)",
		distName(d), fnum(c.Load*100), joinFloats(c.Speeds, fnum), c.Seed)
	p.Y.Label.Text = "p99 response time (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	width := vg.Points(14)
	var sv, lv []float64
	var names []string
	for i, s := range sims {
		sv = append(sv, s.P99Resp*1000)
		lv = append(lv, lives[i].P99Resp*1000)
		names = append(names, s.Sched)
	}
	sb := &logBars{vals: sv, width: width, color: plotutil.Color(0), offset: -width / 2}
	lb := &logBars{vals: lv, width: width, color: plotutil.Color(1), offset: width / 2}
	p.Add(sb, lb)
	p.Legend.Add("simulated", sb)
	p.Legend.Add("live (netns lab)", lb)
	p.Legend.Top = true
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
	if p.Y.Min > 0 && !math.IsInf(p.Y.Min, 0) {
		p.Y.Min = math.Pow(10, math.Floor(math.Log10(p.Y.Min)))
	}
	return p
}

// SharePlot stacks each server's share of the connections, the simulated
// stack (left, solid) next to the live one (right, light), per scheduler.
func (lr *LiveReport) SharePlot() (*plot.Plot, error) {
	p := plot.New()
	c := &lr.Sim.Config
	d := c.Dists[0]
	sims, lives := lr.pairs(d)
	p.Title.Text = fmt.Sprintf("connection share per server, simulated (left) vs live (right) (%s work, weights %s)",
		distName(d), joinWeights(c.Weights))
	p.Y.Label.Text = "share of connections (%)"
	width := vg.Points(14)
	var names []string
	for _, s := range sims {
		names = append(names, s.Sched)
	}
	var belowS, belowL *plotter.BarChart
	for i := range c.Speeds {
		var sv, lv plotter.Values
		for j, s := range sims {
			sv = append(sv, s.Share[i]*100)
			lv = append(lv, lives[j].Share[i]*100)
		}
		sb, err := plotter.NewBarChart(sv, width)
		if err != nil {
			return nil, err
		}
		lb, err := plotter.NewBarChart(lv, width)
		if err != nil {
			return nil, err
		}
		sb.Color, lb.Color = plotutil.Color(i), lighter(plotutil.Color(i))
		sb.LineStyle.Width, lb.LineStyle.Width = 0, 0
		sb.Offset, lb.Offset = -width/2, width/2
		if belowS != nil {
			sb.StackOn(belowS)
			lb.StackOn(belowL)
		}
		belowS, belowL = sb, lb
		p.Add(sb, lb)
		p.Legend.Add(fmt.Sprintf("s%d (speed %s, weight %d)", i+1, fnum(c.Speeds[i]), c.Weights[i]), sb)
	}
	p.Legend.Top = true
	p.Legend.Left = false
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
	p.Y.Min, p.Y.Max = 0, 135
	return p, nil
}

// WritePlots writes live-p99 and live-share as SVG and PNG into dir.
func (lr *LiveReport) WritePlots(dir string) ([]string, error) {
	sp, err := lr.SharePlot()
	if err != nil {
		return nil, err
	}
	return savePlots(dir, []namedPlot{{"live-p99", lr.P99Plot()}, {"live-share", sp}})
}

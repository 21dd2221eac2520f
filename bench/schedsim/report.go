package schedsim

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

func distName(d Dist) string {
	if d == Pareto {
		return "Pareto"
	}
	return "exponential"
}

func joinFloats(xs []float64, f func(float64) string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = f(x)
	}
	return strings.Join(s, ",")
}

func fnum(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// weightsAndClients returns the weights as a list ("1,1,2,4") and the
// client population's name ("uniform", "Zipf 1.1"), for table headings.
func (c *Config) weightsAndClients() (weights, clients string) {
	ws := make([]string, len(c.Weights))
	for i, x := range c.Weights {
		ws[i] = strconv.Itoa(int(x))
	}
	clients = "uniform"
	if c.Zipf != 0 {
		clients = "Zipf " + fnum(c.Zipf)
	}
	return strings.Join(ws, ","), clients
}

// failureHeading writes the line that introduces the failure table.
func failureHeading(w io.Writer, c *Config) {
	what := "quiesced (weight 0)"
	if c.FailMode == Remove {
		what = "removed from the service"
	}
	fmt.Fprintf(w, "\nfailure: s%d %s at %s s, exponential work; remap = clients of the other servers that moved\n",
		c.Fail, what, fnum(c.FailAt*c.Duration))
}

// WriteTable writes the report as text tables: one per distribution with
// response times, shares, utilisation and imbalance, then the failure
// run's remapping.
func (r *Report) WriteTable(w io.Writer) error {
	c := &r.Config
	n := len(c.Speeds)
	ws, clients := c.weightsAndClients()
	fmt.Fprintf(w, "gdirector bench sched: seed %d, %s s per run, load %s%%, mean work %s ms at speed 1\n",
		c.Seed, fnum(c.Duration), fnum(c.Load*100), fnum(c.Mean*1000))
	fmt.Fprintf(w, "servers s1..s%d: speeds %s, weights %s; 512 clients (%s); inactive %s s after close\n",
		n, joinFloats(c.Speeds, fnum), ws, clients, fnum(c.Inact))
	for _, d := range c.Dists {
		var rows []*Result
		for _, res := range r.Steady {
			if res.Dist == d {
				rows = append(rows, res)
			}
		}
		if len(rows) == 0 {
			continue
		}
		work := distName(d)
		if d == Pareto {
			work += " (shape " + fnum(c.Alpha) + ")"
		}
		fmt.Fprintf(w, "\n%s work: %d connections offered\n", work, rows[0].Offered)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		hdr := "sched\tmean ms\tp99 ms\tdropped\topen\t"
		for i := range n {
			hdr += fmt.Sprintf("share s%d\t", i+1)
		}
		for i := range n {
			hdr += fmt.Sprintf("util s%d\t", i+1)
		}
		hdr += "cv share\tcv util\t"
		fmt.Fprintln(tw, hdr)
		for _, res := range rows {
			line := fmt.Sprintf("%s\t%.2f\t%.2f\t%d\t%d\t", res.Sched, res.MeanResp*1000, res.P99Resp*1000, res.Dropped, res.Open)
			for _, s := range res.Share {
				line += fmt.Sprintf("%.1f%%\t", s*100)
			}
			for _, u := range res.Util {
				line += fmt.Sprintf("%.1f%%\t", u*100)
			}
			line += fmt.Sprintf("%.3f\t%.3f\t", res.CVShare, res.CVUtil)
			fmt.Fprintln(tw, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Failure) > 0 {
		failureHeading(w, c)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "sched\tremap\tmoved\tseen\tlost\tdropped\tmean ms\tp99 ms\t")
		for _, res := range r.Failure {
			fmt.Fprintf(tw, "%s\t%.1f%%\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t\n", res.Sched, res.Remap()*100,
				res.Moved, res.Seen, res.Lost, res.Dropped, res.MeanResp*1000, res.P99Resp*1000)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// WriteCSV writes one row per run (steady runs, then failure runs).
func (r *Report) WriteCSV(w io.Writer) error {
	n := len(r.Config.Speeds)
	cw := csv.NewWriter(w)
	hdr := []string{"sched", "dist", "run", "offered", "dropped", "done", "open", "lost", "mean_ms", "p99_ms"}
	for i := range n {
		hdr = append(hdr, fmt.Sprintf("conns_s%d", i+1))
	}
	for i := range n {
		hdr = append(hdr, fmt.Sprintf("share_s%d", i+1))
	}
	for i := range n {
		hdr = append(hdr, fmt.Sprintf("util_s%d", i+1))
	}
	hdr = append(hdr, "cv_share", "cv_util", "seen", "moved", "remap")
	if err := cw.Write(hdr); err != nil {
		return err
	}
	f6 := func(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }
	u := func(x uint64) string { return strconv.FormatUint(x, 10) }
	for _, res := range append(append([]*Result(nil), r.Steady...), r.Failure...) {
		run := "steady"
		if res.Fail {
			run = "failure"
		}
		row := []string{res.Sched, string(res.Dist), run, u(res.Offered), u(res.Dropped), u(res.Done),
			u(res.Open), u(res.Lost), f6(res.MeanResp * 1000), f6(res.P99Resp * 1000)}
		for _, c := range res.Count {
			row = append(row, u(c))
		}
		for _, s := range res.Share {
			row = append(row, f6(s))
		}
		for _, x := range res.Util {
			row = append(row, f6(x))
		}
		row = append(row, f6(res.CVShare), f6(res.CVUtil), strconv.Itoa(res.Seen), strconv.Itoa(res.Moved), f6(res.Remap()))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

package schedsim

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// logBars draws bars from the bottom of the plot area up to each value,
// which works on a log scale (plotter.BarChart draws from 0).
type logBars struct {
	vals   []float64
	offset vg.Length
	width  vg.Length
	color  color.Color
}

func (b *logBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for i, v := range b.vals {
		if !(v > 0) {
			continue
		}
		x := trX(float64(i)) + b.offset - b.width/2
		y := trY(v)
		pts := []vg.Point{{X: x, Y: c.Min.Y}, {X: x, Y: y}, {X: x + b.width, Y: y}, {X: x + b.width, Y: c.Min.Y}}
		c.FillPolygon(b.color, c.ClipPolygonY(pts))
	}
}

func (b *logBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for _, v := range b.vals {
		if v > 0 {
			ymin, ymax = min(ymin, v), max(ymax, v)
		}
	}
	return 0, float64(len(b.vals) - 1), ymin, ymax
}

func (b *logBars) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}}
	c.FillPolygon(b.color, c.ClipPolygonY(pts))
}

// P99Plot is a bar chart of the 99th percentile response time of each
// scheduler, one bar per work distribution, on a log scale.
func (r *Report) P99Plot() *plot.Plot {
	p := plot.New()
	c := &r.Config
	p.Title.Text = fmt.Sprintf("p99 response time per scheduler (load %s%%, speeds %s, seed %d)",
		fnum(c.Load*100), joinFloats(c.Speeds, fnum), c.Seed)
	p.Y.Label.Text = "p99 response time (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	width := vg.Points(28) / vg.Length(len(c.Dists))
	for k, d := range c.Dists {
		var vals []float64
		for _, res := range r.Steady {
			if res.Dist == d {
				vals = append(vals, res.P99Resp*1000)
			}
		}
		b := &logBars{vals: vals, width: width, color: plotutil.Color(k),
			offset: (vg.Length(k) - vg.Length(len(c.Dists)-1)/2) * width}
		p.Add(b)
		p.Legend.Add(distName(d)+" work", b)
	}
	p.Legend.Top = true
	p.NominalX(c.Scheds...)
	p.X.Min, p.X.Max = -0.5, float64(len(c.Scheds))-0.5
	if p.Y.Min > 0 && !math.IsInf(p.Y.Min, 0) {
		// Start the axis at the power of ten below the shortest bar, so
		// that every bar shows.
		p.Y.Min = math.Pow(10, math.Floor(math.Log10(p.Y.Min)))
	}
	return p
}

// SharePlot stacks the share of connections each server received from
// each scheduler (the first distribution's steady run).
func (r *Report) SharePlot() (*plot.Plot, error) {
	p := plot.New()
	c := &r.Config
	d := c.Dists[0]
	p.Title.Text = fmt.Sprintf("connection share per server (%s work, weights %s)", distName(d), joinWeights(c.Weights))
	p.Y.Label.Text = "share of connections (%)"
	var below *plotter.BarChart
	for i := range c.Speeds {
		var vals plotter.Values
		for _, res := range r.Steady {
			if res.Dist == d {
				vals = append(vals, res.Share[i]*100)
			}
		}
		b, err := plotter.NewBarChart(vals, vg.Points(22))
		if err != nil {
			return nil, err
		}
		b.Color = plotutil.Color(i)
		b.LineStyle.Width = 0
		if below != nil {
			b.StackOn(below)
		}
		below = b
		p.Add(b)
		p.Legend.Add(fmt.Sprintf("s%d (speed %s, weight %d)", i+1, fnum(c.Speeds[i]), c.Weights[i]), b)
	}
	p.Legend.Top = true
	p.Legend.Left = false
	p.NominalX(c.Scheds...)
	p.X.Min, p.X.Max = -0.5, float64(len(c.Scheds))-0.5
	p.Y.Min, p.Y.Max = 0, 135 // room for the legend above the stacks
	return p, nil
}

func joinWeights(ws []int32) string {
	f := make([]float64, len(ws))
	for i, w := range ws {
		f[i] = float64(w)
	}
	return joinFloats(f, fnum)
}

// WritePlots writes p99.svg, p99.png, share.svg and share.png into dir.
func (r *Report) WritePlots(dir string) ([]string, error) {
	sp, err := r.SharePlot()
	if err != nil {
		return nil, err
	}
	return savePlots(dir, []namedPlot{{"p99", r.P99Plot()}, {"share", sp}})
}

// namedPlot is a plot and the base name of its files.
type namedPlot struct {
	name string
	p    *plot.Plot
}

// savePlots writes each plot as NAME.svg and NAME.png into dir and
// returns the files written.
func savePlots(dir string, plots []namedPlot) ([]string, error) {
	var files []string
	for _, pl := range plots {
		for _, ext := range []string{".svg", ".png"} {
			f := filepath.Join(dir, pl.name+ext)
			if err := pl.p.Save(11*vg.Inch, 4.5*vg.Inch, f); err != nil {
				return nil, err
			}
			files = append(files, f)
		}
	}
	return files, nil
}

package bench

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"slices"
	"strconv"
)

// The plot: two log-log panels drawn by hand, with nothing but SVG.
// Left, ingest throughput by blob size on random data (16 KiB and 4 MiB
// ingests, and the large blob's first put); right, history query latency
// by store size.

type point struct{ x, y float64 }

type series struct {
	name   string
	color  string
	dashed bool
	points []point
}

type tick struct {
	at    float64
	label string
}

// seriesStyle gives each system its color; limits are dashed.
var seriesStyle = map[string]struct {
	color  string
	dashed bool
}{
	sysPF:        {"#d62728", false},
	sysReference: {"#1f77b4", false},
	sysGit:       {"#2ca02c", false},
	sysGitLoose:  {"#8fd18a", false},
	sysSQLite:    {"#9467bd", false},
	limitSHA256:  {"#555555", true},
	limitWrite:   {"#bcbd22", true},
}

const (
	svgWidth  = 980
	svgHeight = 480
)

// SVG draws the plot.
func (rep *Report) SVG() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, svgHeight, svgWidth, svgHeight)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")

	// Left: throughput by blob size.
	var tput []series
	var xt []tick
	sizeWorkloads := []string{ingestWorkload(jobIngestRandom), ingestWorkload(jobIngestLarge), wlBigPut}
	for _, id := range sizeWorkloads {
		if wl, ok := rep.workload(id); ok {
			xt = append(xt, tick{math.Log2(float64(wl.BlobSize)), sizeName(wl.BlobSize)})
		}
	}
	for _, sys := range append(slices.Clone(AllSystems[:len(AllSystems)-1]), limitSHA256, limitWrite) {
		s := series{name: systemName(sys), color: seriesStyle[sys].color, dashed: seriesStyle[sys].dashed}
		for _, id := range sizeWorkloads {
			wl, ok := rep.workload(id)
			r, ok2 := rep.row(id, sys)
			if !ok || !ok2 || !r.ok() || math.IsNaN(r.median()) || r.median() <= 0 {
				continue
			}
			s.points = append(s.points, point{math.Log2(float64(wl.BlobSize)), math.Log10(float64(wl.Bytes) / r.median() / 1e6)})
		}
		if len(s.points) > 0 {
			tput = append(tput, s)
		}
	}
	drawPanel(&b, 90, 40, 360, 300, "Ingest throughput by blob size (random data)", "blob size", "MB/s",
		xt, tput, func(v float64) string { return decade(v, "") })

	// Right: history latency by store size.
	var lat []series
	var ht []tick
	for _, wl := range rep.Workloads {
		if wl.Images > 0 && !wl.Process {
			ht = append(ht, tick{math.Log10(float64(wl.Images)), countName(wl.Images)})
		}
	}
	for _, sys := range AllSystems {
		s := series{name: systemName(sys), color: seriesStyle[sys].color}
		for _, wl := range rep.Workloads {
			if wl.Images == 0 || wl.Process {
				continue
			}
			r, ok := rep.row(wl.ID, sys)
			if !ok || !r.ok() || math.IsNaN(r.median()) || r.median() <= 0 {
				continue
			}
			s.points = append(s.points, point{math.Log10(float64(wl.Images)), math.Log10(r.median())})
		}
		if len(s.points) > 0 {
			lat = append(lat, s)
		}
	}
	drawPanel(&b, 590, 40, 360, 300, "History: newest 100 since a time, by store size", "images in the store", "latency",
		ht, lat, func(v float64) string { return decade(v, "s") })
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// drawPanel draws one log-log panel at (x0, y0), w by h: axes with a
// tick at each decade of y and at each given x, one polyline per series,
// and the legend under it. Coordinates are already logarithms.
func drawPanel(b *bytes.Buffer, x0, y0, w, h float64, title, xlabel, ylabel string, xticks []tick, ss []series, yfmt func(float64) string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="14" font-weight="bold">%s</text>`+"\n", x0, y0-16, html.EscapeString(title))
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", x0, y0, w, h)
	if len(ss) == 0 || len(xticks) == 0 {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#777">not measured in this run</text>`+"\n", x0+w/2, y0+h/2)
		return
	}
	xmin, xmax := xticks[0].at, xticks[0].at
	for _, t := range xticks {
		xmin, xmax = math.Min(xmin, t.at), math.Max(xmax, t.at)
	}
	pad := math.Max((xmax-xmin)*0.08, 0.5)
	xmin, xmax = xmin-pad, xmax+pad
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.points {
			ymin, ymax = math.Min(ymin, p.y), math.Max(ymax, p.y)
		}
	}
	ymin, ymax = math.Floor(ymin), math.Ceil(ymax)
	if ymax == ymin {
		ymax++
	}
	px := func(x float64) float64 { return x0 + (x-xmin)/(xmax-xmin)*w }
	py := func(y float64) float64 { return y0 + h - (y-ymin)/(ymax-ymin)*h }
	for y := ymin; y <= ymax; y++ {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", x0, py(y), x0+w, py(y))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, py(y)+4, html.EscapeString(yfmt(y)))
	}
	for _, t := range xticks {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", px(t.at), y0, px(t.at), y0+h)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(t.at), y0+h+16, html.EscapeString(t.label))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%s</text>`+"\n", x0+w/2, y0+h+32, html.EscapeString(xlabel))
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555" transform="rotate(-90 %.1f %.1f)">%s (log)</text>`+"\n",
		x0-66, y0+h/2, x0-66, y0+h/2, html.EscapeString(ylabel))
	for i, s := range ss {
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts bytes.Buffer
		for k, p := range s.points {
			if k > 0 {
				pts.WriteByte(' ')
			}
			fmt.Fprintf(&pts, "%.1f,%.1f", px(p.x), py(p.y))
		}
		width := 2.0
		if s.name == sysPF {
			width = 3
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%.0f"%s/>`+"\n", pts.String(), s.color, width, dash)
		for _, p := range s.points {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(p.x), py(p.y), s.color)
		}
		// Legend: two columns under the panel.
		lx, ly := x0+float64(i%2)*(w/2), y0+h+52+float64(i/2)*16
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.0f"%s/>`+"\n", lx, ly-4, lx+22, ly-4, s.color, width, dash)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+28, ly, html.EscapeString(s.name))
	}
}

// decade writes 10^v, v a whole number, plainly: 1,000 or 0.01 for a
// count, 10 ms or 100 s for seconds (unit "s").
func decade(v float64, unit string) string {
	e := int(math.Round(v))
	if unit == "s" {
		for _, u := range []struct {
			name string
			exp  int
		}{{"s", 0}, {"ms", -3}, {"µs", -6}, {"ns", -9}} {
			if e >= u.exp {
				return commas(int(math.Pow(10, float64(e-u.exp)))) + " " + u.name
			}
		}
	}
	if e >= 0 {
		return commas(int(math.Pow(10, float64(e))))
	}
	return strconv.FormatFloat(math.Pow(10, float64(e)), 'f', -e, 64)
}

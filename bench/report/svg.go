package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Bar is one bar of a bar chart: a mean with its ±σ whisker.
type Bar struct {
	Label      string
	Mean, Std  float64 // milliseconds
	Highlight  bool    // nucleus's own bars
	GroupBreak bool    // leave a gap above this bar
}

const (
	colorNucleus   = "#1f77b4"
	colorNeighbour = "#9e9e9e"
	colorQuadlet   = "#d62728"
	fontFamily     = "DejaVu Sans, Helvetica, Arial, sans-serif"
)

// niceTicks are 1-2-5 steps per decade between lo and hi (for log axes),
// or only the powers of ten when that would crowd the axis.
func niceTicks(lo, hi float64) []float64 {
	steps := []float64{1, 2, 5}
	if math.Log10(hi/lo) > 2.5 {
		steps = []float64{1}
	}
	var ts []float64
	for d := math.Pow(10, math.Floor(math.Log10(lo))); d <= hi*10; d *= 10 {
		for _, m := range steps {
			if v := d * m; v >= lo && v <= hi {
				ts = append(ts, v)
			}
		}
	}
	return ts
}

// linTicks are about n round steps from 0 to hi.
func linTicks(hi float64, n int) []float64 {
	if hi <= 0 {
		return []float64{0}
	}
	raw := hi / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if mag*m >= raw {
			step = mag * m
			break
		}
	}
	var ts []float64
	for v := 0.0; ; v += step {
		ts = append(ts, v)
		if v >= hi*0.9999 {
			return ts
		}
	}
}

func fmtTick(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%gs", v/1000)
	case v >= 1:
		return fmt.Sprintf("%g", v)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	}
}

func esc(s string) string { return html.EscapeString(s) }

// barChartSVG draws horizontal bars on a logarithmic millisecond axis (the
// neighbours span two orders of magnitude: bwrap's few ms to gVisor's
// hundreds), mean as the bar, ±σ as a whisker, the value at the end.
func barChartSVG(title, subtitle string, bars []Bar) string {
	const (
		width  = 860
		left   = 300
		right  = 90
		top    = 62
		rowH   = 28
		barH   = 18
		gap    = 14
		bottom = 46
	)
	groups := 0
	lo, hi := math.Inf(1), 0.0
	for _, b := range bars {
		if b.GroupBreak {
			groups++
		}
		l := b.Mean - b.Std
		if l <= 0 {
			l = b.Mean / 2
		}
		lo = math.Min(lo, l)
		hi = math.Max(hi, b.Mean+b.Std)
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	height := top + len(bars)*rowH + groups*gap + bottom
	plotW := float64(width - left - right)
	x := func(v float64) float64 {
		v = math.Max(v, lo)
		return float64(left) + plotW*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
	}
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="13">`+"\n",
		width, height, width, height, fontFamily)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&s, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", 12, esc(title))
	fmt.Fprintf(&s, `<text x="%d" y="44" fill="#555">%s</text>`+"\n", 12, esc(subtitle))
	plotBottom := height - bottom + 6
	for _, t := range niceTicks(lo, hi) {
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e0e0e0"/>`+"\n", x(t), top-6, x(t), plotBottom)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", x(t), plotBottom+16, fmtTick(t))
	}
	fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">milliseconds (log scale), mean ± σ</text>`+"\n",
		float64(left)+plotW/2, plotBottom+34)
	y := top
	for _, b := range bars {
		if b.GroupBreak {
			y += gap
		}
		color := colorNeighbour
		if b.Highlight {
			color = colorNucleus
		}
		cy := float64(y) + rowH/2
		fmt.Fprintf(&s, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-8, cy, esc(b.Label))
		fmt.Fprintf(&s, `<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="%s"/>`+"\n", left, cy-barH/2, x(b.Mean)-float64(left), barH, color)
		l, r := x(b.Mean-b.Std), x(b.Mean+b.Std)
		fmt.Fprintf(&s, `<path d="M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f" stroke="black" stroke-width="1.2"/>`+"\n",
			l, cy, r, l, cy-5, cy+5, r, cy-5, cy+5)
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" dominant-baseline="middle" fill="#222">%s</text>`+"\n", r+6, cy, esc(fmtMs(b.Mean)))
		y += rowH
	}
	s.WriteString("</svg>\n")
	return s.String()
}

// Series is one line of a line chart.
type Series struct {
	Label string
	Color string
	X, Y  []float64
	Err   []float64 // ±σ per point, may be nil
}

// Panel is one small line chart.
type Panel struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	Series                []Series
}

// panelsSVG draws panels side by side.
func panelsSVG(title string, panels []Panel) string {
	const (
		pw, ph          = 320, 250
		ml, mr, mt, mb  = 62, 14, 56, 50
		legendH, titleH = 22, 30
	)
	width := len(panels) * pw
	height := titleH + ph + legendH
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="12">`+"\n",
		width, height, width, height, fontFamily)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&s, `<text x="12" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", esc(title))
	for i, p := range panels {
		ox, oy := float64(i*pw), float64(titleH)
		x0, x1 := ox+ml, ox+pw-mr
		y0, y1 := oy+ph-mb, oy+mt
		xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
		ymin := math.Inf(1)
		for _, se := range p.Series {
			for j := range se.X {
				xmin, xmax = math.Min(xmin, se.X[j]), math.Max(xmax, se.X[j])
				e := 0.0
				if se.Err != nil {
					e = se.Err[j]
				}
				ymax = math.Max(ymax, se.Y[j]+e)
				ymin = math.Min(ymin, se.Y[j])
			}
		}
		var xt, yt []float64
		if p.LogX {
			xmin = math.Pow(10, math.Floor(math.Log10(math.Max(xmin, 1e-9))))
			xmax = math.Pow(10, math.Ceil(math.Log10(xmax)))
			xt = niceTicks(xmin, xmax)
		} else {
			xmin = 0
			xt = linTicks(xmax, 4)
			xmax = xt[len(xt)-1]
		}
		if p.LogY {
			ymin = math.Pow(10, math.Floor(math.Log10(math.Max(ymin, 1e-9))))
			ymax = math.Pow(10, math.Ceil(math.Log10(ymax)))
			yt = niceTicks(ymin, ymax)
		} else {
			ymin = 0
			yt = linTicks(ymax*1.05, 5)
			ymax = yt[len(yt)-1]
		}
		sx := func(v float64) float64 {
			if p.LogX {
				return x0 + (x1-x0)*(math.Log10(v)-math.Log10(xmin))/(math.Log10(xmax)-math.Log10(xmin))
			}
			return x0 + (x1-x0)*(v-xmin)/(xmax-xmin)
		}
		sy := func(v float64) float64 {
			if p.LogY {
				v = math.Max(v, ymin)
				return y0 - (y0-y1)*(math.Log10(v)-math.Log10(ymin))/(math.Log10(ymax)-math.Log10(ymin))
			}
			return y0 - (y0-y1)*(v-ymin)/(ymax-ymin)
		}
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" font-weight="bold">%s</text>`+"\n", ox+10, oy+20, esc(p.Title))
		for _, t := range xt {
			fmt.Fprintf(&s, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e6e6e6"/>`+"\n", sx(t), y0, sx(t), y1)
			fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%s</text>`+"\n", sx(t), y0+15, fmtNum(t))
		}
		for _, t := range yt {
			fmt.Fprintf(&s, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e6e6e6"/>`+"\n", x0, sy(t), x1, sy(t))
			fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle" fill="#555">%s</text>`+"\n", x0-5, sy(t), fmtNum(t))
		}
		fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", x0, y1, x1-x0, y0-y1)
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#333">%s</text>`+"\n", (x0+x1)/2, y0+32, esc(p.XLabel))
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" fill="#333">%s</text>`+"\n", x0-ml+10, y1-16, esc(p.YLabel))
		for k, se := range p.Series {
			var path strings.Builder
			for j := range se.X {
				cmd := "L"
				if j == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&path, "%s%.1f %.1f", cmd, sx(se.X[j]), sy(se.Y[j]))
			}
			fmt.Fprintf(&s, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", path.String(), se.Color)
			for j := range se.X {
				cx, cy := sx(se.X[j]), sy(se.Y[j])
				if se.Err != nil && se.Err[j] > 0 {
					fmt.Fprintf(&s, `<path d="M%.1f %.1fV%.1f" stroke="%s"/>`+"\n", cx, sy(se.Y[j]-se.Err[j]), sy(se.Y[j]+se.Err[j]), se.Color)
				}
				fmt.Fprintf(&s, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", cx, cy, se.Color)
			}
			lx := ox + 12 + float64(k)*150
			ly := oy + ph + 8
			fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="14" height="4" fill="%s"/>`+"\n", lx, ly-2, se.Color)
			fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" dominant-baseline="middle">%s</text>`+"\n", lx+20, ly, esc(se.Label))
		}
	}
	s.WriteString("</svg>\n")
	return s.String()
}

func fmtNum(v float64) string {
	switch {
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return fmt.Sprintf("%gk", v/1000)
	default:
		return fmt.Sprintf("%g", v)
	}
}

// fmtMs formats milliseconds with a sensible precision.
func fmtMs(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f ms", ms)
	}
}

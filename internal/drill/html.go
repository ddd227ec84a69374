package drill

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// WriteHTML writes a self-contained page: the verdict, the key figures and
// the timeline (requests per second by outcome and serving region, latency,
// and markers for the fault, health flips, the DNS switch, promotions and
// recovery), good enough to paste into a postmortem. No scripts, no
// external files.
func (r *Report) WriteHTML(w io.Writer) error {
	return pageTemplate.Execute(w, struct {
		R        *Report
		Verdict  string
		Cards    []card
		Requests template.HTML
		Latency  template.HTML
		Markers  []Marker
		Offset   func(time.Time) string
	}{
		R:        r,
		Verdict:  map[bool]string{true: "PASSED", false: "FAILED"}[r.Passed],
		Cards:    r.cards(),
		Requests: template.HTML(r.requestsSVG()),
		Latency:  template.HTML(r.latencySVG()),
		Markers:  r.Markers,
		Offset:   func(t time.Time) string { return fmt.Sprintf("%+.2f s", t.Sub(r.FaultAt).Seconds()) },
	})
}

type card struct{ Label, Value, Note string }

func (r *Report) cards() []card {
	rto := fmt.Sprintf("%.2f s", r.RTOSeconds)
	if !r.Recovered {
		rto = "not recovered"
	}
	cards := []card{{"Recovery time (RTO)", rto, r.objectiveNote("rto_seconds", "%.2f s")}}
	if r.DNSSwitchSeconds != nil {
		cards = append(cards, card{"DNS switch", fmt.Sprintf("%.2f s", *r.DNSSwitchSeconds), "to " + r.DNSSwitchedTo})
	}
	if r.PromotionSeconds != nil {
		cards = append(cards, card{"DB promotion", fmt.Sprintf("%.2f s", *r.PromotionSeconds), "after the fault"})
	}
	if r.ScaleOutSeconds != nil {
		cards = append(cards, card{"Scale-out to max", fmt.Sprintf("%.2f s", *r.ScaleOutSeconds), "from the CPU load"})
	}
	cards = append(cards,
		card{"Errors", fmt.Sprintf("%d of %d", r.Errors, r.Requests), fmt.Sprintf("%.2f%% %s", 100*r.ErrorRate, r.objectiveNote("error_rate", "%.3f"))},
		card{"Writes lost", fmt.Sprintf("%d of %d", r.WritesLost, r.WritesAcked), fmt.Sprintf("RPO %.2f s %s", r.RPOSeconds, r.objectiveNote("rpo_seconds", "%.2f s"))},
	)
	if sb := r.SplitBrain; sb != nil && r.DivergentWrites != nil {
		cards = append(cards,
			card{"Divergent writes", fmt.Sprintf("%d", *r.DivergentWrites), fmt.Sprintf("acknowledged by %s after the promotion (fencing %s)", sb.OldPrimary, sb.Fencing)},
			card{"Writers overlap", fmt.Sprintf("%.2f s", deref0(r.WritersOverlapSeconds)), "two primaries acknowledging writes"},
			card{"Writes refused", fmt.Sprintf("%d", sb.WritesRefused), "by " + sb.Region + " while cut off"})
	}
	if r.LagAtFaultNode != "" {
		cards = append(cards, card{"Lag at fault", fmt.Sprintf("%.2f s", r.LagAtFaultSeconds), fmt.Sprintf("%s %s, %d bytes behind", r.LagAtFaultRole, r.LagAtFaultNode, r.LagAtFaultBytes)})
	}
	if r.MaxLagSeconds != nil {
		cards = append(cards, card{"Max lag during the fault", fmt.Sprintf("%.2f s", *r.MaxLagSeconds), fmt.Sprintf("%s, %s behind", r.LagNode, r.maxLagAmount())})
	}
	if r.CatchUpSeconds != nil {
		cards = append(cards, card{"Caught up", fmt.Sprintf("%.2f s", *r.CatchUpSeconds), "after the fault was undone"})
	}
	if w := r.FaultWindow; w != nil {
		cards = append(cards, card{"During the fault", fmt.Sprintf("%.1f%% errors", 100*w.ErrorRate),
			fmt.Sprintf("%d of %d requests; p50 %.0f ms, p99 %.0f ms", w.Errors, w.Requests, w.Latency.P50*1000, w.Latency.P99*1000)})
	}
	cards = append(cards,
		card{"p99 latency", fmt.Sprintf("%.1f → %.1f", r.Latency.Before.P99*1000, r.Latency.After.P99*1000), "ms, before → after"},
	)
	return cards
}

const (
	chartW, chartH = 960.0, 260.0
	padL, padR     = 50.0, 20.0
	padT, padB     = 74.0, 28.0
)

var regionColors = []string{"#2b6cb0", "#2f855a", "#805ad5", "#b7791f"}

func (r *Report) step() time.Duration {
	if len(r.Timeline) < 2 {
		return time.Second
	}
	return r.Timeline[1].At.Sub(r.Timeline[0].At)
}

// x maps a time onto the chart.
func (r *Report) x(t time.Time) float64 {
	span := r.EndedAt.Sub(r.StartedAt)
	if span <= 0 {
		return padL
	}
	return padL + (chartW-padL-padR)*float64(t.Sub(r.StartedAt))/float64(span)
}

func (r *Report) regions() []string {
	var out []string
	for _, b := range r.Timeline {
		for reg := range b.OK {
			if !slices.Contains(out, reg) {
				out = append(out, reg)
			}
		}
	}
	sort.Strings(out)
	return out
}

// requestsSVG stacks, per bucket, successes by serving region and errors,
// scaled to requests per second.
func (r *Report) requestsSVG() string {
	var sb strings.Builder
	perSec := float64(time.Second) / float64(r.step())
	peak := 1.0
	for _, b := range r.Timeline {
		peak = max(peak, float64(b.Requests)*perSec)
	}
	y := func(v float64) float64 { return chartH - padB - (chartH-padT-padB)*v/peak }
	fmt.Fprintf(&sb, `<svg viewBox="0 0 %.0f %.0f" role="img" aria-label="requests per second by outcome">`, chartW, chartH)
	r.axes(&sb, peak, "req/s", y)
	barW := max(1, (chartW-padL-padR)/float64(len(r.Timeline))-1)
	regions := r.regions()
	for _, b := range r.Timeline {
		x, base := r.x(b.At), 0.0
		for i, reg := range regions {
			v := float64(b.OK[reg]) * perSec
			if v > 0 {
				fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %.0f req/s</title></rect>`,
					x, y(base+v), barW, y(base)-y(base+v), regionColors[i%len(regionColors)], html.EscapeString(reg), v)
			}
			base += v
		}
		if v := float64(b.Errors) * perSec; v > 0 {
			fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#e53e3e"><title>errors: %.0f req/s</title></rect>`,
				x, y(base+v), barW, y(base)-y(base+v), v)
		}
	}
	r.markerLines(&sb, chartH)
	legendX := padL
	for i, reg := range regions {
		fmt.Fprintf(&sb, `<rect x="%.0f" y="8" width="12" height="12" fill="%s"/><text x="%.0f" y="18" class="legend">served by %s</text>`,
			legendX, regionColors[i%len(regionColors)], legendX+16, html.EscapeString(reg))
		legendX += 170
	}
	fmt.Fprintf(&sb, `<rect x="%.0f" y="8" width="12" height="12" fill="#e53e3e"/><text x="%.0f" y="18" class="legend">errors</text>`, legendX, legendX+16)
	sb.WriteString(`</svg>`)
	return sb.String()
}

// latencySVG draws the median latency of successful requests per bucket.
func (r *Report) latencySVG() string {
	var sb strings.Builder
	peak := 0.001
	for _, b := range r.Timeline {
		peak = max(peak, b.P50*1000)
	}
	h := chartH * 0.7
	y := func(v float64) float64 { return h - padB - (h-padT-padB)*v/peak }
	fmt.Fprintf(&sb, `<svg viewBox="0 0 %.0f %.0f" role="img" aria-label="median latency">`, chartW, h)
	r.axes(&sb, peak, "p50 ms", y)
	// One line per stretch with successes: an outage shows as a gap.
	var pts []string
	flush := func() {
		if len(pts) > 0 {
			fmt.Fprintf(&sb, `<polyline points="%s" fill="none" stroke="#2d3748" stroke-width="1.5"/>`, strings.Join(pts, " "))
		}
		pts = pts[:0]
	}
	for _, b := range r.Timeline {
		if b.P50 <= 0 {
			flush()
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", r.x(b.At.Add(r.step()/2)), y(b.P50*1000)))
	}
	flush()
	r.markerLines(&sb, h)
	sb.WriteString(`</svg>`)
	return sb.String()
}

// axes draws the value axis with a few gridlines and the time axis in
// seconds from the fault.
func (r *Report) axes(sb *strings.Builder, peak float64, unit string, y func(float64) float64) {
	for i := 0; i <= 4; i++ {
		v := peak * float64(i) / 4
		fmt.Fprintf(sb, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" class="grid"/><text x="%.0f" y="%.1f" class="tick" text-anchor="end">%.0f</text>`,
			padL, chartW-padR, y(v), y(v), padL-6, y(v)+4, v)
	}
	fmt.Fprintf(sb, `<text x="6" y="%.0f" class="tick">%s</text>`, padT-8, unit)
	base := y(0)
	span := r.EndedAt.Sub(r.StartedAt)
	tick := niceTick(span)
	for t := r.FaultAt.Truncate(time.Nanosecond); !t.Before(r.StartedAt); t = t.Add(-tick) {
		r.timeTick(sb, t, base)
	}
	for t := r.FaultAt.Add(tick); !t.After(r.EndedAt); t = t.Add(tick) {
		r.timeTick(sb, t, base)
	}
}

func (r *Report) timeTick(sb *strings.Builder, t time.Time, base float64) {
	fmt.Fprintf(sb, `<text x="%.1f" y="%.1f" class="tick" text-anchor="middle">%+.0fs</text>`, r.x(t), base+16, t.Sub(r.FaultAt).Seconds())
}

func niceTick(span time.Duration) time.Duration {
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute} {
		if span/d <= 12 {
			return d
		}
	}
	return 5 * time.Minute
}

var markerStyle = map[string]string{
	"fault": "#e53e3e", "dns": "#2b6cb0", "recovered": "#2f855a", "recover": "#718096",
	"promotion": "#805ad5", "operator": "#b7791f",
}

// markerLines draws the drill's own markers as labelled lines and stack
// events (health flips, promotions, scaling) as short ticks at the top.
// Labels sit in the band above the plot, in up to four rows, each label
// in the first row where it clears the one before it.
func (r *Report) markerLines(sb *strings.Builder, height float64) {
	var rowEnd [4]float64
	for _, m := range r.Markers {
		x := r.x(m.At)
		color, ok := markerStyle[m.Kind]
		if !ok {
			fmt.Fprintf(sb, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#d69e2e" stroke-width="3"><title>%s</title></line>`,
				x, x, padT-8, padT, html.EscapeString(m.Label))
			continue
		}
		label := shortLabel(m)
		row := 0
		for i := range rowEnd {
			if x+3 >= rowEnd[i] {
				row = i
				break
			}
			if rowEnd[i] < rowEnd[row] {
				row = i
			}
		}
		rowEnd[row] = x + 6 + 7*float64(len(label))
		labelY := 30 + 11*float64(row)
		fmt.Fprintf(sb, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="2" stroke-dasharray="5 3"><title>%s</title></line>`,
			x, x, labelY+2, height-padB, color, html.EscapeString(m.Label))
		fmt.Fprintf(sb, `<text x="%.1f" y="%.0f" class="mark" fill="%s">%s</text>`, x+3, labelY, color, html.EscapeString(label))
	}
}

func shortLabel(m Marker) string {
	switch m.Kind {
	case "fault":
		return "fault"
	case "dns":
		return "DNS switch"
	case "recovered":
		return "served again"
	case "recover":
		return "recovered"
	case "promotion":
		return "DB promoted"
	case "operator":
		return "operator"
	case "link":
		return "link delayed"
	}
	return m.Kind
}

var pageTemplate = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>hastack drill {{.R.Scenario}}: {{.Verdict}}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#1a202c}
h1{font-size:22px;margin:0 0 4px} .sub{color:#4a5568;margin-bottom:16px}
.badge{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600;margin-left:8px}
.PASSED{background:#2f855a}.FAILED{background:#c53030}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #e2e8f0;border-radius:6px;padding:10px 14px;flex:1;min-width:110px}
.card .v{font-size:20px;font-weight:600;white-space:nowrap}.card .l,.card .n{color:#4a5568;font-size:12px}
h2{font-size:16px;margin:22px 0 6px}
.damage{border-left:4px solid #c53030;padding:6px 12px;background:#fff5f5}
svg{width:100%;height:auto;border:1px solid #e2e8f0;border-radius:6px;background:#fff}
.grid{stroke:#edf2f7}.tick{font-size:11px;fill:#718096}.legend{font-size:12px;fill:#2d3748}.mark{font-size:11px;font-weight:600}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #edf2f7;padding:4px 8px;text-align:left;font-size:13px}
td.t{white-space:nowrap;color:#4a5568;font-variant-numeric:tabular-nums}
</style></head><body>
<h1>Drill {{.R.Scenario}} <span class="badge {{.Verdict}}">{{.Verdict}}</span></h1>
<div class="sub">{{.R.Description}}. Fault: <b>{{.R.Fault}}</b> at {{.R.FaultAt.Format "2006-01-02 15:04:05.000 MST"}}; {{.R.Requests}} requests over {{printf "%.1f" (.R.EndedAt.Sub .R.StartedAt).Seconds}} s.<br><b class="loss">{{.R.Loss}}</b>.</div>
<div class="cards">{{range .Cards}}<div class="card"><div class="l">{{.Label}}</div><div class="v">{{.Value}}</div><div class="n">{{.Note}}</div></div>{{end}}</div>
<h2>Requests per second, by serving region and errors</h2>
{{.Requests}}
<h2>Median latency of successful requests</h2>
{{.Latency}}
{{with .R.Damage}}<p class="damage">{{.}}</p>{{end}}
{{if .R.Checks}}<h2>What the scenario expects</h2><table><tr><th>check</th><th>held</th><th>what was seen</th></tr>
{{range .R.Checks}}<tr><td>{{.Name}}</td><td>{{if .Passed}}yes{{else}}<b>no</b>{{end}}</td><td>{{.Detail}}</td></tr>{{end}}</table>{{end}}
{{if .R.Objectives}}<h2>Objectives</h2><table><tr><th>objective</th><th>target</th><th>actual</th><th>met</th></tr>
{{range .R.Objectives}}<tr><td>{{.Name}}</td><td>{{printf "%.3f" .Target}}</td><td>{{printf "%.3f" .Actual}}</td><td>{{if .Met}}yes{{else}}<b>no</b>{{end}}</td></tr>{{end}}</table>{{end}}
<h2>What happened</h2>
<table><tr><th>time from fault</th><th>event</th></tr>
{{range .Markers}}<tr><td class="t">{{call $.Offset .At}}</td><td>{{.Label}}</td></tr>{{end}}</table>
</body></html>
`))

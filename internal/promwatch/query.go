package promwatch

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// WindowPlaceholder is replaced, in an IOPS query template, by the policy's sampling window in
// PromQL duration syntax ("1h", "90m", "1h30m").
const WindowPlaceholder = "{{window}}"

// DefaultIOPSQuery is the mean IOPS per pv_name over the window, from the Mayastor io-engine
// exporter. Each series (one per nexus node) is turned into a rate first and the rates are summed
// per pv_name, so a nexus that moves to another node (its series change the node label and its
// counters restart from zero) contributes the ops of both halves of the window, without the spike
// or the drop that summing raw counters before rate() would make; rate() also absorbs counter
// resets (io-engine restart). rate() divides by the whole window even for a series that lived
// only part of it, which is right for a move and wrong for a young volume: the coverage rule
// (see the package doc) is what keeps young volumes out.
const DefaultIOPSQuery = `sum by (pv_name) (rate(volume_num_read_ops{pv_name!=""}[{{window}}]))` +
	` + sum by (pv_name) (rate(volume_num_write_ops{pv_name!=""}[{{window}}]))`

// DefaultPresenceQuery selects the series whose samples prove that a volume was being measured.
const DefaultPresenceQuery = `volume_num_read_ops{pv_name!=""}`

// coveragePoints is how many evaluation points the coverage query checks across the window,
// whatever its length, so its cost does not grow with the window.
const coveragePoints = 60

var placeholderRE = regexp.MustCompile(`\{\{[^}]*\}\}|\$__\w+`)

// ValidateQueryTemplate checks an IOPS query template: it must use {{window}} (so that the
// policy's sampling window applies) and no other placeholder.
func ValidateQueryTemplate(tmpl string) error {
	if strings.TrimSpace(tmpl) == "" {
		return fmt.Errorf("query template is empty")
	}
	for _, p := range placeholderRE.FindAllString(tmpl, -1) {
		if p != WindowPlaceholder {
			return fmt.Errorf("unknown placeholder %s in query template (the only one is %s)", p, WindowPlaceholder)
		}
	}
	if !strings.Contains(tmpl, WindowPlaceholder) {
		return fmt.Errorf("query template does not use %s, so it would ignore the sampling window", WindowPlaceholder)
	}
	return nil
}

// ValidatePresenceQuery checks a presence query: an instant-vector expression, without
// placeholders (the coverage query wraps it; the window is not its business).
func ValidatePresenceQuery(q string) error {
	if strings.TrimSpace(q) == "" {
		return fmt.Errorf("presence query is empty")
	}
	if p := placeholderRE.FindString(q); p != "" {
		return fmt.Errorf("presence query must not contain a placeholder, found %s", p)
	}
	return nil
}

// RenderQuery substitutes the window into an IOPS query template.
func RenderQuery(tmpl string, window time.Duration) string {
	return strings.ReplaceAll(tmpl, WindowPlaceholder, promDuration(window))
}

// CoverageStep is the resolution of the coverage query: window/60, in whole seconds, at least 1s.
func CoverageStep(window time.Duration) time.Duration {
	step := (window / coveragePoints).Truncate(time.Second)
	if step < time.Second {
		step = time.Second
	}
	return step
}

// CoverageQuery counts, per pv_name, the points of the window (one every CoverageStep) at
// which Prometheus holds a sample of the presence query.
func CoverageQuery(presence string, window time.Duration) string {
	return fmt.Sprintf("count_over_time((count by (pv_name) (%s))[%s:%s])",
		presence, promDuration(window), promDuration(CoverageStep(window)))
}

func promDuration(d time.Duration) string {
	return model.Duration(d).String()
}

package observability

import (
	"regexp"
	"slices"
	"strings"
)

// PromQL is not parsed here (promtool checks the syntax); metricNames only needs the metric
// names an expression selects, which it finds by removing everything that can hold other
// identifiers: strings, label matchers, ranges, and the label lists of by, without, on,
// ignoring, group_left and group_right. What remains is function calls, keywords, numbers and
// metric names.
var (
	stringRE    = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	matchersRE  = regexp.MustCompile(`\{[^{}]*\}`)
	rangeRE     = regexp.MustCompile(`\[[^\[\]]*\]`)
	labelListRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	identRE     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	numberRE    = regexp.MustCompile(`\b\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*\b`)
	keywords    = []string{"and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN", "start", "end"}
)

func metricNames(expr string) []string {
	s := stringRE.ReplaceAllString(expr, `""`)
	s = matchersRE.ReplaceAllString(s, "")
	s = rangeRE.ReplaceAllString(s, "")
	s = labelListRE.ReplaceAllString(s, "")
	s = numberRE.ReplaceAllString(s, "0")
	var names []string
	for _, m := range identRE.FindAllStringSubmatch(s, -1) {
		if m[1] != "" || slices.Contains(keywords, m[0]) { // a function call, or a keyword
			continue
		}
		if !slices.Contains(names, m[0]) {
			names = append(names, m[0])
		}
	}
	slices.Sort(names)
	return names
}

// labelValuesRE is Grafana's label_values(metric, label) variable query.
var labelValuesRE = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][\w:]*(?:\{[^{}]*\})?)\s*,\s*[a-zA-Z_]\w*\s*\)$`)

// grafanaToPromQL replaces Grafana's variables with values PromQL accepts.
func grafanaToPromQL(expr string) string {
	r := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "6h",
		"${policy}", ".*", "$policy", ".*", "${pvc}", "default/data", "$pvc", "default/data")
	return r.Replace(expr)
}

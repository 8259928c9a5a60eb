package observability

import (
	"slices"
	"testing"
)

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum by (pv_name) (rate(volume_num_read_ops{pv_name!="",x="a{b}"}[5m])) + on (pv_name) group_left (policy) x_info`, []string{"volume_num_read_ops", "x_info"}},
		{`histogram_quantile(0.95, sum by (le, kind) (rate(d_seconds_bucket[$__rate_interval])))`, []string{"d_seconds_bucket"}},
		{`time() - max without (reason) (a) > 900 and on () b == 1 unless c offset 5m`, []string{"a", "b", "c"}},
		{`count(couchestor_build_info) or vector(0)`, []string{"couchestor_build_info"}},
		{`absent(a:recorded:rate5m)`, []string{"a:recorded:rate5m"}},
		{`min_over_time(x[2h:1m]) > 1e3`, []string{"x"}},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

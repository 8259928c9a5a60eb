package operator

import "testing"

// /metrics is secure unless --metrics-secure=false: HTTPS and the authn/authz filter together.
func TestMetricsSecureByDefault(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"--metrics-secure"}, true},
		{[]string{"--metrics-secure=false"}, false},
	} {
		cfg, err := Parse("couchestor", tc.args)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if cfg.MetricsSecure != tc.want {
			t.Errorf("%v: MetricsSecure %v, want %v", tc.args, cfg.MetricsSecure, tc.want)
		}
		opts := metricsOptions(cfg)
		if opts.SecureServing != tc.want || (opts.FilterProvider != nil) != tc.want {
			t.Errorf("%v: SecureServing %v, filter set %v; want both %v", tc.args, opts.SecureServing, opts.FilterProvider != nil, tc.want)
		}
		if opts.BindAddress != DefaultMetricsBindAddress {
			t.Errorf("%v: bind address %q", tc.args, opts.BindAddress)
		}
	}
}

package promwatch

import (
	"encoding/pem"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

func TestFlagsDefaultsAndParsing(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("couchestor", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	for _, name := range []string{"prometheus-url", "prometheus-timeout", "prometheus-bearer-token-file",
		"prometheus-basic-auth-username", "prometheus-basic-auth-password-file", "prometheus-ca-file",
		"prometheus-insecure-skip-verify", "iops-query", "iops-presence-query", "prometheus-max-series", "prometheus-max-response-bytes"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s is not registered", name)
		}
	}
	if got := fs.Lookup("prometheus-url").DefValue; got != "http://prometheus.monitoring.svc.cluster.local:9090" {
		t.Errorf("--prometheus-url default = %q", got)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}

	token := filepath.Join(t.TempDir(), "token")
	writeFile(t, token, "x")
	err := fs.Parse([]string{"--prometheus-url=https://prom.example:9443/prefix", "--prometheus-timeout=3s",
		"--prometheus-bearer-token-file=" + token, "--iops-query=sum by (pv_name) (rate(my_ops[{{window}}]))",
		"--prometheus-max-series=250000", "--prometheus-max-response-bytes=67108864"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "https://prom.example:9443/prefix" || cfg.Timeout != 3*time.Second || cfg.BearerTokenFile != token ||
		cfg.IOPSQuery != "sum by (pv_name) (rate(my_ops[{{window}}]))" || cfg.MaxSeries != 250000 || cfg.MaxResponseBytes != 64<<20 {
		t.Errorf("flags not bound: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid flags rejected: %v", err)
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	writeFile(t, notPEM, "not a certificate")
	secret := filepath.Join(dir, "secret")
	writeFile(t, secret, "x")
	for _, tc := range []struct {
		name string
		edit func(*Config)
		flag string
	}{
		{"empty URL", func(c *Config) { c.URL = "" }, "--prometheus-url"},
		{"malformed URL", func(c *Config) { c.URL = "http://[::1" }, "--prometheus-url"},
		{"no scheme", func(c *Config) { c.URL = "prometheus:9090" }, "--prometheus-url"},
		{"no host", func(c *Config) { c.URL = "http:///api" }, "--prometheus-url"},
		{"credentials in URL", func(c *Config) { c.URL = "http://u:p@prom:9090" }, "--prometheus-url"},
		{"query in URL", func(c *Config) { c.URL = "http://prom:9090/?x=1" }, "--prometheus-url"},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "--prometheus-timeout"},
		{"missing token file", func(c *Config) { c.BearerTokenFile = filepath.Join(dir, "nope") }, "--prometheus-bearer-token-file"},
		{"token and basic auth", func(c *Config) { c.BearerTokenFile, c.BasicAuthUsername, c.BasicAuthPasswordFile = secret, "u", secret }, "--prometheus-bearer-token-file"},
		{"username without password", func(c *Config) { c.BasicAuthUsername = "u" }, "--prometheus-basic-auth-password-file"},
		{"password without username", func(c *Config) { c.BasicAuthPasswordFile = secret }, "--prometheus-basic-auth-username"},
		{"CA file without PEM", func(c *Config) { c.URL, c.CAFile = "https://prom:9090", notPEM }, "--prometheus-ca-file"},
		{"query without window", func(c *Config) { c.IOPSQuery = "sum by (pv_name) (rate(x[1h]))" }, "--iops-query"},
		{"query with Grafana placeholder", func(c *Config) { c.IOPSQuery = "rate(x[$__window])" }, "--iops-query"},
		{"presence query with placeholder", func(c *Config) { c.PresenceQuery = "x[{{window}}]" }, "--iops-presence-query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), tc.flag+": ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line starting with %q", err, tc.flag+": ")
			}
			if strings.Contains(err.Error(), ":p@") {
				t.Errorf("error %q leaks the password", err)
			}
			if _, err := New(cfg); err == nil {
				t.Errorf("New accepted what Validate refused")
			}
		})
	}
}

func TestQueryTemplate(t *testing.T) {
	if err := ValidateQueryTemplate(DefaultIOPSQuery); err != nil {
		t.Errorf("default query rejected: %v", err)
	}
	for _, tc := range []struct {
		window time.Duration
		want   string
	}{
		{time.Hour, "rate(x[1h])"},
		{90 * time.Minute, "rate(x[1h30m])"},
		{24 * time.Hour, "rate(x[1d])"},
		{45 * time.Second, "rate(x[45s])"},
	} {
		if got := RenderQuery("rate(x[{{window}}])", tc.window); got != tc.want {
			t.Errorf("RenderQuery(%s) = %q, want %q", tc.window, got, tc.want)
		}
	}
	if got, want := CoverageQuery(DefaultPresenceQuery, time.Hour), `count_over_time((count by (pv_name) (volume_num_read_ops{pv_name!=""}))[1h:1m])`; got != want {
		t.Errorf("coverage query = %s, want %s", got, want)
	}
	if got := CoverageStep(30 * time.Second); got != time.Second {
		t.Errorf("coverage step for 30s = %s, want the 1s floor", got)
	}
}

func TestPVNameMapping(t *testing.T) {
	const uuid = "ec4e66fd-3b33-4439-b504-d49aba53da26"
	if got := PVName(uuid); got != "pvc-"+uuid {
		t.Errorf("PVName = %q", got)
	}
	if got, ok := VolumeUUID("pvc-" + uuid); !ok || got != uuid {
		t.Errorf("VolumeUUID = %q, %v", got, ok)
	}
	for _, bad := range []string{uuid, "pvc-", "", "pv-" + uuid} {
		if got, ok := VolumeUUID(bad); ok {
			t.Errorf("VolumeUUID(%q) = %q, want not ok", bad, got)
		}
	}
	res := &Result{Window: time.Hour, Volumes: map[string]VolumeIOPS{"pvc-" + uuid: {Known: true, IOPS: 7, Coverage: 1}}}
	if got := res.ForVolume(uuid); !got.Known || got.IOPS != 7 {
		t.Errorf("ForVolume = %+v", got)
	}
	if got := res.ForVolume("other"); got.Known || got.Reason != NoSeries || !strings.Contains(got.Message, "pvc-other") {
		t.Errorf("ForVolume(absent) = %+v, want Unknown NoSeries naming pvc-other", got)
	}
}

// TLS: a custom CA is trusted, an unknown one is not, and insecure-skip-verify skips the check.
// The TLS server is a proxy in front of the real Prometheus when there is one, else a stub API.
func TestTLSCAFileAndInsecureSkipVerify(t *testing.T) {
	var backend http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	})
	if shared != nil {
		backend = newRecordingProxy(t, shared.URL).Config.Handler
	}
	srv := httptest.NewUnstartedServer(backend)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))

	cfg := testConfig(srv.URL)
	cfg.CAFile = caFile
	if _, err := newTestWatcher(t, cfg).Evaluate(t.Context(), Request{Window: time.Hour, At: fixtureEnd}); err != nil {
		t.Errorf("with the server's CA: %v", err)
	}

	cfg = testConfig(srv.URL)
	_, err := newTestWatcher(t, cfg).Evaluate(t.Context(), Request{Window: time.Hour, At: fixtureEnd})
	assertKind(t, err, ErrUnreachable, storagev1.ReasonPrometheusUnreachable)
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %q does not mention the certificate", err)
	}

	cfg.InsecureSkipVerify = true
	if _, err := newTestWatcher(t, cfg).Evaluate(t.Context(), Request{Window: time.Hour, At: fixtureEnd}); err != nil {
		t.Errorf("with insecure skip verify: %v", err)
	}
}

func TestSkipMessageSaysHowToGetPrometheus(t *testing.T) {
	if shared != nil {
		t.Skip("Prometheus is available")
	}
	if !strings.Contains(skipReason, "make test") {
		t.Errorf("skip message %q does not tell to run make test", skipReason)
	}
}

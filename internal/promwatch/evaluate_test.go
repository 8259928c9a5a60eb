package promwatch

import (
	"context"
	"errors"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/testprom"
)

// rateTolerance is how far a covered volume's figure may be from the rate written: rate()
// extrapolation and a nexus move each cost at most a fraction of one scrape interval.
const rateTolerance = 0.02

func TestEvaluateReportsEveryVolumeKnownOrUnknown(t *testing.T) {
	needPrometheus(t)
	w := newTestWatcher(t, testConfig(shared.URL))
	res := evaluate(t, w, Request{Window: time.Hour, At: fixtureEnd})

	known := []struct {
		name      string
		uuid      string
		want      float64
		tolerance float64
	}{
		{"hot", uuidHot, 500, rateTolerance},
		{"in-between", uuidMid, 50, rateTolerance},
		{"cold", uuidCold, 1, rateTolerance},
		{"idle but measured is a known zero", uuidIdle, 0, 0},
		{"a 3-minute scrape gap is within the tolerance", uuidShortGap, 100, rateTolerance},
		{"counter reset mid-window", uuidReset, 100, rateTolerance},
		{"nexus moved to another node mid-window", uuidMoved, 100, rateTolerance},
		// 58 of 60 minutes of history passes the 95% coverage rule; the figure is then low
		// by the missing share, the documented cost of the tolerance.
		{"history 2 minutes short of the window", uuidAlmost, 100, 0.05},
	}
	for _, tc := range known {
		t.Run(tc.name, func(t *testing.T) {
			got := res.ForVolume(tc.uuid)
			if !got.Known {
				t.Fatalf("%s is Unknown (%s: %s), want %g IOPS", tc.uuid, got.Reason, got.Message, tc.want)
			}
			if !within(got.IOPS, tc.want, tc.tolerance) {
				t.Errorf("IOPS = %.4f, want %g ±%g%%", got.IOPS, tc.want, tc.tolerance*100)
			}
		})
	}

	unknown := []struct {
		name   string
		uuid   string
		reason UnknownReason
		msg    string
	}{
		{"volume younger than the window", uuidNew, PartialHistory, "of the 1h sampling window"},
		{"exporter down for 25 minutes", uuidGap, PartialHistory, "95% needed"},
		{"no write series", uuidReadOnly, NoRate, "gave no value for it"},
		{"no series at all", uuidAbsent, NoSeries, "no sample"},
	}
	for _, tc := range unknown {
		t.Run(tc.name, func(t *testing.T) {
			got := res.ForVolume(tc.uuid)
			if got.Known {
				t.Fatalf("%s is Known with %g IOPS, want Unknown %s", tc.uuid, got.IOPS, tc.reason)
			}
			if got.Reason != tc.reason || !strings.Contains(got.Message, tc.msg) {
				t.Errorf("Unknown because %s: %q, want %s with %q", got.Reason, got.Message, tc.reason, tc.msg)
			}
		})
	}

	if got := res.ForVolume(uuidNew).Coverage; math.Abs(got-0.5) > 0.05 {
		t.Errorf("coverage of the 30-minute-old volume over 1h = %.3f, want about 0.5", got)
	}
	if _, ok := res.Volumes[""]; ok {
		t.Errorf("the series without pv_name produced an entry")
	}
	if n, want := len(res.Volumes), len(fixtureVolumes(fixtureEnd))+10+scaleVolumes; n != want {
		t.Errorf("%d volumes in the result, want %d (the fixture volumes, the 10 and 10,000 scale sets)", n, want)
	}
}

func TestWindowIsTheSamplingWindow(t *testing.T) {
	needPrometheus(t)
	w := newTestWatcher(t, testConfig(shared.URL))
	// The volume created 30 minutes before the end is Unknown over 1h and known over 20m.
	res := evaluate(t, w, Request{Window: 20 * time.Minute, At: fixtureEnd})
	got := res.ForVolume(uuidNew)
	if !got.Known || !within(got.IOPS, 200, rateTolerance) {
		t.Errorf("over 20m the 30-minute-old volume = %+v, want Known 200 IOPS", got)
	}
	if res.Window != 20*time.Minute || !res.At.Equal(fixtureEnd) {
		t.Errorf("result window/at = %s/%s, want 20m/%s", res.Window, res.At, fixtureEnd)
	}
}

// A nexus move and a counter reset must not show as a spike or a hole in any window that
// contains them, wherever they fall in the window.
func TestMoveAndResetGiveNoSpikeNorHole(t *testing.T) {
	needPrometheus(t)
	w := newTestWatcher(t, testConfig(shared.URL))
	for _, back := range []time.Duration{0, 5 * time.Minute, 15 * time.Minute, 20 * time.Minute, 24 * time.Minute, 29 * time.Minute} {
		at := fixtureEnd.Add(-back)
		res := evaluate(t, w, Request{Window: 30 * time.Minute, At: at})
		for _, uuid := range []string{uuidMoved, uuidReset} {
			got := res.ForVolume(uuid)
			if !got.Known || !within(got.IOPS, 100, rateTolerance) {
				t.Errorf("window ending %s before the end: %s = %+v, want Known 100 IOPS ±%g%%", back, uuid, got, rateTolerance*100)
			}
		}
	}
}

func TestRequestsPerEvaluationDoNotGrowWithVolumes(t *testing.T) {
	needPrometheus(t)
	proxy := newRecordingProxy(t, shared.URL)
	for _, set := range []struct {
		instance string
		volumes  int
	}{{"scale10", 10}, {"scale10k", scaleVolumes}} {
		cfg := testConfig(proxy.URL)
		cfg.IOPSQuery = `sum by (pv_name) (rate(volume_num_read_ops{instance="` + set.instance + `"}[{{window}}]))` +
			` + sum by (pv_name) (rate(volume_num_write_ops{instance="` + set.instance + `"}[{{window}}]))`
		cfg.PresenceQuery = `volume_num_read_ops{instance="` + set.instance + `"}`
		w := newTestWatcher(t, cfg)
		proxy.reset()
		res := evaluate(t, w, Request{Window: scaleWindow, At: fixtureEnd})
		reqs := proxy.recorded()
		if len(reqs) != 2 {
			t.Errorf("%d volumes: %d HTTP requests per evaluation, want 2: %+v", set.volumes, len(reqs), reqs)
		}
		known := 0
		for _, v := range res.Volumes {
			if v.Known {
				known++
			}
		}
		if known != set.volumes || len(res.Volumes) != set.volumes {
			t.Errorf("%s: %d known of %d volumes, want %d known", set.instance, known, len(res.Volumes), set.volumes)
		}
		t.Logf("%s: %d volumes, %d requests", set.instance, len(res.Volumes), len(reqs))
	}
}

func TestBearerTokenIsSentAndReReadOnEveryRequest(t *testing.T) {
	needPrometheus(t)
	proxy := newRecordingProxy(t, shared.URL)
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "first-token\n")
	cfg := testConfig(proxy.URL)
	cfg.BearerTokenFile = tokenFile
	w := newTestWatcher(t, cfg)

	evaluate(t, w, Request{Window: time.Hour, At: fixtureEnd})
	writeFile(t, tokenFile, "rotated-token")
	evaluate(t, w, Request{Window: time.Hour, At: fixtureEnd})

	reqs := proxy.recorded()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for i, r := range reqs {
		want := "Bearer first-token"
		if i >= 2 {
			want = "Bearer rotated-token"
		}
		if r.authorization != want || r.path != "/api/v1/query" {
			t.Errorf("request %d: %s %s Authorization %q, want /api/v1/query with %q", i, r.method, r.path, r.authorization, want)
		}
	}
}

func TestBasicAuthIsSent(t *testing.T) {
	needPrometheus(t)
	proxy := newRecordingProxy(t, shared.URL)
	passwordFile := filepath.Join(t.TempDir(), "password")
	writeFile(t, passwordFile, "s3cret")
	cfg := testConfig(proxy.URL)
	cfg.BasicAuthUsername, cfg.BasicAuthPasswordFile = "couchestor", passwordFile
	evaluate(t, newTestWatcher(t, cfg), Request{Window: time.Hour, At: fixtureEnd})
	for _, r := range proxy.recorded() {
		if r.authorization != "Basic Y291Y2hlc3RvcjpzM2NyZXQ=" { // couchestor:s3cret
			t.Errorf("Authorization %q, want basic auth couchestor:s3cret", r.authorization)
		}
	}
}

func TestRejectedCredentialsAreUnauthorized(t *testing.T) {
	needPrometheus(t)
	proxy := newRecordingProxy(t, shared.URL)
	proxy.reject = func(r *http.Request) int {
		if r.Header.Get("Authorization") != "Bearer good" {
			return http.StatusUnauthorized
		}
		return 0
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "bad")
	cfg := testConfig(proxy.URL)
	cfg.BearerTokenFile = tokenFile
	w := newTestWatcher(t, cfg)
	_, err := w.Evaluate(context.Background(), Request{Window: time.Hour, At: fixtureEnd})
	assertKind(t, err, ErrUnauthorized, storagev1.ReasonPrometheusUnauthorized)

	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	_, err = w.Evaluate(context.Background(), Request{Window: time.Hour, At: fixtureEnd})
	assertKind(t, err, ErrUnauthorized, storagev1.ReasonPrometheusUnauthorized)
	if !strings.Contains(err.Error(), "read bearer token") {
		t.Errorf("error %q does not say the token file could not be read", err)
	}

	writeFile(t, tokenFile, "good")
	if _, err := w.Evaluate(context.Background(), Request{Window: time.Hour, At: fixtureEnd}); err != nil {
		t.Errorf("with the right token: %v", err)
	}
}

func TestServerStoppedIsUnreachable(t *testing.T) {
	needPrometheus(t)
	dir := t.TempDir()
	srv, err := testprom.Start(promBin, dir, filepath.Join(dir, "data"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	w := newTestWatcher(t, testConfig(srv.URL))
	res, err := w.Evaluate(context.Background(), Request{Window: time.Hour})
	if err != nil {
		t.Fatalf("while the server runs: %v", err)
	}
	if got := res.ForVolume(uuidHot); got.Known || got.Reason != NoSeries {
		t.Errorf("an empty Prometheus reported %+v, want Unknown NoSeries", got)
	}

	srv.Stop()
	_, err = w.Evaluate(context.Background(), Request{Window: time.Hour})
	assertKind(t, err, ErrUnreachable, storagev1.ReasonPrometheusUnreachable)
	if e := (*Error)(nil); errors.As(err, &e) && e.PolicyFault() {
		t.Errorf("an unreachable server is reported as the policy's fault")
	}
	if !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error %q does not name the server", err)
	}
}

func TestSlowServerTimesOut(t *testing.T) {
	needPrometheus(t)
	proxy := newRecordingProxy(t, shared.URL)
	proxy.delay = 2 * time.Second
	cfg := testConfig(proxy.URL)
	cfg.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := newTestWatcher(t, cfg).Evaluate(context.Background(), Request{Window: time.Hour, At: fixtureEnd})
	assertKind(t, err, ErrTimeout, storagev1.ReasonPrometheusTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("Evaluate returned after %s, the timeout is 300ms", d)
	}
}

func TestBadQueryIsReported(t *testing.T) {
	needPrometheus(t)
	w := newTestWatcher(t, testConfig(shared.URL))
	_, err := w.Evaluate(context.Background(), Request{Window: time.Hour, At: fixtureEnd,
		IOPSQuery: `sum by (pv_name) (rate(volume_num_read_ops[{{window}}])`})
	assertKind(t, err, ErrBadQuery, storagev1.ReasonBadQuery)
	if e := (*Error)(nil); !errors.As(err, &e) || !e.PolicyFault() {
		t.Errorf("a policy's bad query is not a PolicyFault: %#v", err)
	}
	if !strings.Contains(err.Error(), "policy override") || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("error %q should name the policy override and carry Prometheus's parse error", err)
	}
}

func TestOverrideWithWrongShapeIsAPolicyError(t *testing.T) {
	needPrometheus(t)
	w := newTestWatcher(t, testConfig(shared.URL))
	for _, tc := range []struct {
		name, query, msg string
	}{
		// The moved volume has a series on each node: two samples for one pv_name.
		{"duplicates", `sum by (pv_name, node) (rate(volume_num_read_ops[{{window}}]))`, "two samples for pv_name"},
		{"missing pv_name", `sum by (node) (rate(volume_num_read_ops[{{window}}]))`, "has no pv_name label"},
		{"range vector", `volume_num_read_ops{pv_name="pvc-` + uuidHot + `"}[{{window}}]`, "returned a matrix"},
		{"scalar", `scalar(sum(rate(volume_num_read_ops[{{window}}])))`, "returned a scalar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := w.Evaluate(context.Background(), Request{Window: time.Hour, At: fixtureEnd, IOPSQuery: tc.query})
			assertKind(t, err, ErrInvalidResult, storagev1.ReasonInvalidQueryResult)
			if res != nil {
				t.Errorf("a partial result came with the error")
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if e := (*Error)(nil); !errors.As(err, &e) || !e.PolicyFault() {
				t.Errorf("not a PolicyFault: %#v", err)
			}
		})
	}
}

func TestOverrideWithRightShapeIsUsed(t *testing.T) {
	needPrometheus(t)
	w := newTestWatcher(t, testConfig(shared.URL))
	res := evaluate(t, w, Request{Window: time.Hour, At: fixtureEnd,
		IOPSQuery: `sum by (pv_name) (rate(volume_num_read_ops{pv_name!=""}[{{window}}]))`})
	if got := res.ForVolume(uuidHot); !got.Known || !within(got.IOPS, 300, rateTolerance) {
		t.Errorf("read-only override: hot volume = %+v, want Known 300", got)
	}
	if got := res.ForVolume(uuidReadOnly); !got.Known || !within(got.IOPS, 80, rateTolerance) {
		t.Errorf("read-only override: read-only volume = %+v, want Known 80", got)
	}
}

func TestInvalidTemplateSendsNothing(t *testing.T) {
	needPrometheus(t)
	proxy := newRecordingProxy(t, shared.URL)
	w := newTestWatcher(t, testConfig(proxy.URL))
	for _, q := range []string{`sum by (pv_name) (rate(volume_num_read_ops[1h]))`, `rate(x[$__window])`, "  "} {
		_, err := w.Evaluate(context.Background(), Request{Window: time.Hour, IOPSQuery: q})
		assertKind(t, err, ErrInvalidQuery, storagev1.ReasonInvalidQuery)
	}
	if n := len(proxy.recorded()); n != 0 {
		t.Errorf("%d requests sent for invalid templates", n)
	}
}

func TestOversizedAnswerIsRefused(t *testing.T) {
	needPrometheus(t)
	cfg := testConfig(shared.URL)
	cfg.MaxSeries = 100
	_, err := newTestWatcher(t, cfg).Evaluate(context.Background(), Request{Window: time.Hour, At: fixtureEnd})
	assertKind(t, err, ErrResponseTooLarge, storagev1.ReasonResponseTooLarge)

	cfg = testConfig(shared.URL)
	cfg.MaxResponseBytes = 64 << 10
	_, err = newTestWatcher(t, cfg).Evaluate(context.Background(), Request{Window: time.Hour, At: fixtureEnd})
	assertKind(t, err, ErrResponseTooLarge, storagev1.ReasonResponseTooLarge)
	if !strings.Contains(err.Error(), "65536 bytes") {
		t.Errorf("error %q does not state the byte limit", err)
	}
}

func within(got, want, tolerance float64) bool {
	if want == 0 {
		return got == 0
	}
	return math.Abs(got-want) <= tolerance*want
}

func assertKind(t *testing.T, err, kind error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", kind)
	}
	t.Logf("%s: %v", reason, err)
	if !errors.Is(err, kind) {
		t.Fatalf("error %q is not %v", err, kind)
	}
	var e *Error
	if !errors.As(err, &e) || e.Reason() != reason || Reason(err) != reason {
		t.Errorf("reason of %q = %q, want %q", err, Reason(err), reason)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error message spans lines: %q", err)
	}
	for _, other := range []error{ErrUnreachable, ErrTimeout, ErrUnauthorized, ErrBadQuery, ErrResponseTooLarge, ErrInvalidResult, ErrInvalidQuery, ErrPrometheus} {
		if other != kind && errors.Is(err, other) {
			t.Errorf("error %q is also %v", err, other)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyCanOverrideThePresenceQuery(t *testing.T) {
	needPrometheus(t)
	w := newTestWatcher(t, testConfig(shared.URL))
	iops := `sum by (pv_name) (rate(volume_num_read_ops{instance="scale10"}[{{window}}]))`
	res := evaluate(t, w, Request{Window: scaleWindow, At: fixtureEnd, IOPSQuery: iops,
		PresenceQuery: `volume_num_write_ops{instance="scale10"}`})
	if len(res.Volumes) != 10 {
		t.Fatalf("%d volumes, want the 10 of the scale10 set", len(res.Volumes))
	}
	for pv, v := range res.Volumes {
		if !v.Known {
			t.Errorf("%s = %+v, want Known", pv, v)
		}
	}

	// Presence series that do not exist: nothing is judged, nothing is zero.
	res = evaluate(t, w, Request{Window: scaleWindow, At: fixtureEnd, IOPSQuery: iops, PresenceQuery: `my_volume_ops_total`})
	if len(res.Volumes) != 10 {
		t.Fatalf("%d volumes, want the 10 of the scale10 set", len(res.Volumes))
	}
	for pv, v := range res.Volumes {
		if v.Known || v.Reason != NoSeries || !strings.Contains(v.Message, "my_volume_ops_total has no sample") {
			t.Errorf("%s = %+v, want Unknown NoSeries naming the presence query", pv, v)
		}
	}
}

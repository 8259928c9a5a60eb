package promwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// Watcher evaluates IOPS queries against one Prometheus server. It is safe for concurrent use.
type Watcher struct {
	client        api.Client
	cfg           Config
	iopsQuerySrc  string
	redactedURL   string
	presenceQuery string
}

// New validates cfg and returns a Watcher. It does not contact Prometheus.
func New(cfg Config) (*Watcher, error) {
	if cfg.IOPSQuery == "" {
		cfg.IOPSQuery = DefaultIOPSQuery
	}
	if cfg.PresenceQuery == "" {
		cfg.PresenceQuery = DefaultPresenceQuery
	}
	if cfg.MinCoverage == 0 {
		cfg.MinCoverage = DefaultMinCoverage
	}
	if cfg.MaxSeries == 0 {
		cfg.MaxSeries = DefaultMaxSeries
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rt, err := cfg.roundTripper()
	if err != nil {
		return nil, err
	}
	client, err := api.NewClient(api.Config{Address: cfg.URL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("--prometheus-url: %v", err)
	}
	src := "--iops-query"
	if cfg.IOPSQuery == DefaultIOPSQuery {
		src = "default"
	}
	u, _ := url.Parse(cfg.URL)
	return &Watcher{client: client, cfg: cfg, iopsQuerySrc: src, redactedURL: u.Redacted(), presenceQuery: cfg.PresenceQuery}, nil
}

// Request is one policy's question: the mean IOPS of every volume over Window, ending at At.
type Request struct {
	// Window is the policy's samplingWindow.
	Window time.Duration
	// IOPSQuery is the policy's query template override; empty means the Watcher's (flag or
	// default).
	IOPSQuery string
	// PresenceQuery is the policy's presence query override (see Config.PresenceQuery); empty
	// means the Watcher's.
	PresenceQuery string
	// At is the evaluation instant, normally the reconciler's clock.Now(); zero means time.Now().
	At time.Time
}

// UnknownReason says why a volume has no IOPS figure. CamelCase, fit for an Event reason; the
// values and their meanings are api/v1's (reasons.go).
type UnknownReason string

const (
	NoSeries       = UnknownReason(storagev1.ReasonNoSeries)
	PartialHistory = UnknownReason(storagev1.ReasonPartialHistory)
	NoRate         = UnknownReason(storagev1.ReasonNoRate)
	InvalidValue   = UnknownReason(storagev1.ReasonInvalidValue)
)

// VolumeIOPS is one volume's answer.
type VolumeIOPS struct {
	// Known is true only when the volume's samples cover the window and the IOPS query gave a
	// valid number; IOPS is meaningful only then.
	Known bool
	IOPS  float64
	// Coverage is the fraction of the window (0..1) at which a sample of the volume was present.
	Coverage float64
	// Reason and Message say why the volume is Unknown; empty when Known.
	Reason  UnknownReason
	Message string
}

// Result holds the answer for every volume Prometheus knows of, keyed by pv_name.
type Result struct {
	At     time.Time
	Window time.Duration
	// Volumes holds every pv_name seen by either query. A volume absent from it has no series
	// at all: use Get or ForVolume, which report it Unknown.
	Volumes map[string]VolumeIOPS
	// Warnings returned by Prometheus (e.g. "results truncated"), for the log.
	Warnings []string
}

// Get returns the answer for a pv_name; a pv_name Prometheus has no series for is Unknown with
// reason NoSeries.
func (r *Result) Get(pvName string) VolumeIOPS {
	if v, ok := r.Volumes[pvName]; ok {
		return v
	}
	return VolumeIOPS{Reason: NoSeries, Message: fmt.Sprintf("no sample for pv_name %q in the last %s", pvName, promDuration(r.Window))}
}

// ForVolume returns the answer for a Mayastor volume uuid (its PV is named pvc-<uuid>).
func (r *Result) ForVolume(volumeUUID string) VolumeIOPS {
	return r.Get(PVName(volumeUUID))
}

// PVName is the Kubernetes PV name, and the exporter's pv_name label, of a Mayastor volume.
func PVName(volumeUUID string) string { return "pvc-" + volumeUUID }

// VolumeUUID returns the Mayastor volume uuid of a pv_name of the form pvc-<uuid>.
func VolumeUUID(pvName string) (string, bool) {
	uuid, ok := strings.CutPrefix(pvName, "pvc-")
	if !ok || uuid == "" {
		return "", false
	}
	return uuid, true
}

// Evaluate returns the mean IOPS over req.Window of every volume, from two instant queries run
// concurrently (the IOPS query and the coverage query), whatever the number of volumes. A
// failure of either fails the whole evaluation with an *Error; a volume whose data is missing
// or incomplete is not a failure but an Unknown entry.
func (w *Watcher) Evaluate(ctx context.Context, req Request) (*Result, error) {
	tmpl, src := w.cfg.IOPSQuery, w.iopsQuerySrc
	if req.IOPSQuery != "" {
		tmpl, src = req.IOPSQuery, "policy override"
	}
	iopsName := "IOPS query, " + src
	fromPolicy := req.IOPSQuery != ""
	if err := ValidateQueryTemplate(tmpl); err != nil {
		return nil, &Error{Kind: ErrInvalidQuery, Query: iopsName, Detail: err.Error(), FromPolicy: fromPolicy}
	}
	presence := w.presenceQuery
	if req.PresenceQuery != "" {
		presence = req.PresenceQuery
		if err := ValidatePresenceQuery(presence); err != nil {
			return nil, &Error{Kind: ErrInvalidQuery, Query: "coverage query, policy override", Detail: err.Error(), FromPolicy: true}
		}
	}
	if req.Window < time.Second {
		return nil, newError(ErrInvalidQuery, iopsName, "sampling window %s is shorter than 1s", req.Window)
	}
	at := req.At
	if at.IsZero() {
		at = time.Now()
	}

	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()

	type answer struct {
		values   map[string]float64
		warnings []string
		err      error
	}
	covCh := make(chan answer, 1)
	go func() {
		values, warn, err := w.query(ctx, "coverage query", CoverageQuery(presence, req.Window), at)
		markPolicy(err, req.PresenceQuery != "")
		covCh <- answer{values, warn, err}
	}()
	iops, iopsWarn, iopsErr := w.query(ctx, iopsName, RenderQuery(tmpl, req.Window), at)
	markPolicy(iopsErr, fromPolicy)
	if iopsErr != nil {
		cancel() // the coverage answer is useless now
		<-covCh
		return nil, iopsErr
	}
	cov := <-covCh
	if cov.err != nil {
		return nil, cov.err
	}

	res := &Result{At: at, Window: req.Window, Volumes: make(map[string]VolumeIOPS, len(cov.values)), Warnings: append(iopsWarn, cov.warnings...)}
	step := CoverageStep(req.Window)
	for pv, points := range cov.values {
		v := VolumeIOPS{Coverage: math.Min(1, points*step.Seconds()/req.Window.Seconds())}
		val, rated := iops[pv]
		switch {
		case v.Coverage < w.cfg.MinCoverage:
			v.Reason = PartialHistory
			v.Message = fmt.Sprintf("samples cover %s of the %s sampling window, %d%% needed",
				promDuration(time.Duration(v.Coverage*float64(req.Window)).Round(step)), promDuration(req.Window), int(math.Round(w.cfg.MinCoverage*100)))
		case !rated:
			v.Reason = NoRate
			v.Message = "covered, but the IOPS query gave no value for it (is one of its series missing?)"
		case math.IsNaN(val) || math.IsInf(val, 0) || val < 0:
			v.Reason, v.Message = InvalidValue, fmt.Sprintf("the IOPS query gave %g", val)
		default:
			v.Known, v.IOPS = true, val
		}
		res.Volumes[pv] = v
	}
	for pv := range iops {
		if _, ok := cov.values[pv]; !ok {
			res.Volumes[pv] = VolumeIOPS{Reason: NoSeries, Message: "the IOPS query has a value but " + presence + " has no sample in the window"}
		}
	}
	return res, nil
}

func markPolicy(err error, fromPolicy bool) {
	var e *Error
	if fromPolicy && errors.As(err, &e) {
		e.FromPolicy = true
	}
}

// query runs one instant query and checks its shape: an instant vector with exactly one sample
// per non-empty pv_name, and no more than MaxSeries samples.
func (w *Watcher) query(ctx context.Context, name, q string, at time.Time) (map[string]float64, []string, error) {
	start := time.Now()
	ans, body, err := w.instantQuery(ctx, q, at)
	w.observe(name, time.Since(start), err)
	if err != nil {
		return nil, nil, w.classify(ctx, name, err)
	}
	if ans.Data.ResultType != "vector" {
		t := ans.Data.ResultType
		if t == "" {
			t = "nothing"
		}
		return nil, nil, newError(ErrInvalidResult, name, "it returned a %s, want an instant vector", t)
	}
	vec := ans.Data.Result
	if len(vec) > w.cfg.MaxSeries {
		return nil, nil, newError(ErrResponseTooLarge, name, "more than %d series (MaxSeries)", w.cfg.MaxSeries)
	}
	values := make(map[string]float64, len(vec))
	for i, s := range vec {
		if s.Metric.PVName == "" {
			return nil, nil, newError(ErrInvalidResult, name, "sample %s has no pv_name label; aggregate with sum by (pv_name)", sampleLabels(body, i))
		}
		if _, dup := values[s.Metric.PVName]; dup {
			first := slices.IndexFunc(vec, func(o vectorSample) bool { return o.Metric.PVName == s.Metric.PVName })
			return nil, nil, newError(ErrInvalidResult, name, "two samples for pv_name %q (%s and %s); aggregate with sum by (pv_name)",
				s.Metric.PVName, sampleLabels(body, first), sampleLabels(body, i))
		}
		values[s.Metric.PVName] = float64(s.Value)
	}
	return values, ans.Warnings, nil
}

// sampleLabels formats the labels of the i-th sample of an answer, for an error message: the
// answer is decoded again with every label, which only a wrong query needs.
func sampleLabels(body []byte, i int) string {
	var full struct {
		Data struct {
			Result []struct {
				Metric model.Metric `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &full); err != nil || i >= len(full.Data.Result) {
		return "#" + strconv.Itoa(i+1)
	}
	return full.Data.Result[i].Metric.String()
}

// instantQuery sends an instant query as the Prometheus client library does (POST, then GET if
// the server refuses POST with 403, 405 or 501) and decodes the answer. Its errors are those of
// the library (a *v1.Error for an answer that is an error, or not the API), so classify reads
// both alike.
func (w *Watcher) instantQuery(ctx context.Context, q string, at time.Time) (*queryAnswer, []byte, error) {
	u := w.client.URL("/api/v1/query", nil)
	args := u.Query()
	args.Set("timeout", w.cfg.Timeout.String())
	args.Set("limit", strconv.FormatUint(uint64(w.cfg.MaxSeries)+1, 10))
	args.Set("query", q)
	args.Set("time", strconv.FormatFloat(float64(at.Unix())+float64(at.Nanosecond())/1e9, 'f', -1, 64))
	encoded := args.Encode()
	req, err := http.NewRequest(http.MethodPost, u.String(), strings.NewReader(encoded))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header["Idempotency-Key"] = nil // retried by the transport like a GET
	ans, body, resp, err := w.do(ctx, req)
	if resp != nil && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented) {
		u.RawQuery = encoded
		if req, err = http.NewRequest(http.MethodGet, u.String(), nil); err != nil {
			return nil, nil, err
		}
		ans, body, _, err = w.do(ctx, req)
	}
	return ans, body, err
}

// do sends one request and decodes its answer into a queryAnswer, with the error semantics of
// the Prometheus client library's API client.
func (w *Watcher) do(ctx context.Context, req *http.Request) (*queryAnswer, []byte, *http.Response, error) {
	resp, body, err := w.client.Do(ctx, req)
	if err != nil {
		return nil, nil, resp, err
	}
	code := resp.StatusCode
	var ans queryAnswer
	if code/100 != 2 {
		errType, msg := v1.ErrBadResponse, fmt.Sprintf("bad response code %d", code)
		switch code / 100 {
		case 4:
			errType, msg = v1.ErrClient, fmt.Sprintf("client error: %d", code)
		case 5:
			errType, msg = v1.ErrServer, fmt.Sprintf("server error: %d", code)
		}
		// Prometheus answers a bad query with 400 or 422 and an error body.
		if code != http.StatusBadRequest && code != http.StatusUnprocessableEntity || decodeAnswer(body, &ans) != nil {
			return nil, nil, resp, &v1.Error{Type: errType, Msg: msg, Detail: string(body)}
		}
		if ans.Status == "success" {
			return nil, nil, resp, &v1.Error{Type: v1.ErrBadResponse, Msg: "inconsistent body for response code"}
		}
		if ans.ErrorType == "" {
			ans.ErrorType = v1.ErrClient
		}
		if ans.Error == "" {
			ans.Error = fmt.Sprintf("client error: %d", code)
		}
		return nil, nil, resp, &v1.Error{Type: ans.ErrorType, Msg: ans.Error}
	}
	if err := decodeAnswer(body, &ans); err != nil {
		return nil, nil, resp, &v1.Error{Type: v1.ErrBadResponse, Msg: err.Error()}
	}
	if ans.Status == "error" {
		return nil, nil, resp, &v1.Error{Type: ans.ErrorType, Msg: ans.Error}
	}
	return &ans, body, resp, nil
}

func (w *Watcher) classify(ctx context.Context, name string, err error) error {
	e := &Error{Query: name, Err: err}
	var (
		tooLarge *errBodyTooLarge
		creds    *credentialsError
		apiErr   *v1.Error
		netErr   net.Error
	)
	switch {
	case errors.As(err, &tooLarge):
		e.Kind, e.Detail = ErrResponseTooLarge, tooLarge.Error()+" (MaxResponseBytes)"
	case errors.As(err, &creds):
		e.Kind, e.Detail = ErrUnauthorized, creds.Error()
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		e.Kind, e.Detail = ErrTimeout, fmt.Sprintf("no answer from %s within %s (--prometheus-timeout)", w.redactedURL, w.cfg.Timeout)
	case errors.Is(err, context.Canceled):
		e.Kind, e.Detail = ErrTimeout, "canceled before Prometheus answered"
	case errors.As(err, &apiErr):
		w.classifyAPIError(e, apiErr)
	case errors.As(err, &netErr) && netErr.Timeout():
		e.Kind, e.Detail = ErrTimeout, fmt.Sprintf("%s: %v", w.redactedURL, innermost(err))
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			e.Kind, e.Detail = ErrUnreachable, fmt.Sprintf("%s: %v", w.redactedURL, ue.Err)
		} else {
			e.Kind, e.Detail = ErrPrometheus, err.Error()
		}
	}
	return e
}

func (w *Watcher) classifyAPIError(e *Error, apiErr *v1.Error) {
	msg := oneLine(apiErr.Msg)
	switch apiErr.Type {
	case v1.ErrBadData:
		e.Kind, e.Detail = ErrBadQuery, msg
	case v1.ErrTimeout, v1.ErrCanceled:
		e.Kind, e.Detail = ErrTimeout, "Prometheus gave up: "+msg
	case v1.ErrClient:
		switch {
		case strings.HasSuffix(msg, ": 401"), strings.HasSuffix(msg, ": 403"):
			e.Kind, e.Detail = ErrUnauthorized, fmt.Sprintf("%s answered %s", w.redactedURL, msg)
		default:
			e.Kind, e.Detail = ErrPrometheus, fmt.Sprintf("%s answered %s; is it the Prometheus API?", w.redactedURL, msg)
		}
	case v1.ErrServer:
		switch {
		case strings.HasSuffix(msg, ": 502"), strings.HasSuffix(msg, ": 503"), strings.HasSuffix(msg, ": 504"):
			e.Kind, e.Detail = ErrUnreachable, fmt.Sprintf("%s answered %s", w.redactedURL, msg)
		default:
			e.Kind, e.Detail = ErrPrometheus, fmt.Sprintf("%s answered %s", w.redactedURL, msg)
		}
	case v1.ErrBadResponse:
		e.Kind, e.Detail = ErrPrometheus, fmt.Sprintf("%s gave an answer that is not the Prometheus API: %s", w.redactedURL, msg)
	default:
		e.Kind, e.Detail = ErrPrometheus, msg
	}
}

func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

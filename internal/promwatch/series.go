package promwatch

import (
	"context"
	"encoding/json"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Series is one sample of an instant vector: its labels and value.
type Series struct {
	Labels map[string]string
	Value  float64
}

// Instant runs one instant query at at (now when zero) and returns the instant vector's
// samples with all their labels, for questions other than IOPS (is a metric there at all, which
// targets export it). It uses the Watcher's URL, credentials, timeout and size limits, and fails
// like Evaluate: an *Error whose Query is name; a result that is not an instant vector is
// ErrInvalidResult.
func (w *Watcher) Instant(ctx context.Context, name, query string, at time.Time) ([]Series, error) {
	if at.IsZero() {
		at = time.Now()
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	_, body, err := w.instantQuery(ctx, query, at)
	if err != nil {
		return nil, w.classify(ctx, name, err)
	}
	var ans struct {
		Data struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, w.classify(ctx, name, &v1.Error{Type: v1.ErrBadResponse, Msg: err.Error()})
	}
	if ans.Data.ResultType != "vector" {
		t := ans.Data.ResultType
		if t == "" {
			t = "nothing"
		}
		return nil, newError(ErrInvalidResult, name, "it returned a %s, want an instant vector", t)
	}
	var vec model.Vector
	if err := json.Unmarshal(ans.Data.Result, &vec); err != nil {
		return nil, w.classify(ctx, name, &v1.Error{Type: v1.ErrBadResponse, Msg: err.Error()})
	}
	if len(vec) > w.cfg.MaxSeries {
		return nil, newError(ErrResponseTooLarge, name, "more than %d series (MaxSeries)", w.cfg.MaxSeries)
	}
	out := make([]Series, len(vec))
	for i, s := range vec {
		labels := make(map[string]string, len(s.Metric))
		for k, v := range s.Metric {
			labels[string(k)] = string(v)
		}
		out[i] = Series{Labels: labels, Value: float64(s.Value)}
	}
	return out, nil
}

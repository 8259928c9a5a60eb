package backtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jsoniter "github.com/json-iterator/go"
	"github.com/prometheus/common/model"
)

// rangeClient sends query_range requests and decodes their answers as they arrive: each sample
// goes straight to the matrix, so an answer of millions of points is never held whole (neither
// its body nor a model.Matrix of it).
type rangeClient struct {
	base *url.URL
	http *http.Client
}

func newRangeClient(promURL string, rt http.RoundTripper) (*rangeClient, error) {
	u, err := url.Parse(promURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		if err == nil {
			err = errors.New("want scheme://host[:port][/path]")
		}
		return nil, fmt.Errorf("backtest: Prometheus URL %q: %v", promURL, err)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/api/v1/query_range"
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &rangeClient{base: u, http: &http.Client{Transport: rt}}, nil
}

// rangeError is Prometheus's refusal of a query: its errorType and error, or the HTTP status
// of an answer that is not the API's.
type rangeError struct{ Type, Msg string }

func (e *rangeError) Error() string { return e.Type + ": " + e.Msg }

// query runs q from start to end every step and hands each series' pv_name (labels: the whole
// label set, for error messages) and each of its points to series and point. The request is a
// form POST, then a GET if the server refuses POST with 403, 405 or 501, as the Prometheus
// client library sends it.
func (c *rangeClient) query(ctx context.Context, q string, start, end time.Time, step, timeout time.Duration, series func(pvName string, labels model.Metric) error, point func(ts float64, v float64)) error {
	form := url.Values{}
	form.Set("query", q)
	form.Set("start", formatTime(start))
	form.Set("end", formatTime(end))
	form.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	form.Set("timeout", timeout.String())
	encoded := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String(), strings.NewReader(encoded))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	if s := resp.StatusCode; s == http.StatusForbidden || s == http.StatusMethodNotAllowed || s == http.StatusNotImplemented {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		u := *c.base
		u.RawQuery = encoded
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil); err != nil {
			return err
		}
		if resp, err = c.http.Do(req); err != nil {
			return err
		}
	}
	defer resp.Body.Close()
	return decodeRange(resp, series, point)
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.Unix())+float64(t.Nanosecond())/1e9, 'f', -1, 64)
}

// decodeRange reads a query_range answer as it streams in: a matrix on success, the error
// Prometheus gives otherwise (400 bad_data and 422 execution, 503 timeout, each with a JSON
// body), or the status of an answer that is not the API's.
func decodeRange(resp *http.Response, series func(string, model.Metric) error, point func(ts, v float64)) error {
	code := resp.StatusCode
	if code/100 != 2 && code != http.StatusBadRequest && code != http.StatusUnprocessableEntity && code != http.StatusServiceUnavailable {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		kind := "bad response"
		switch code / 100 {
		case 4:
			kind = "client error"
		case 5:
			kind = "server error"
		}
		return &rangeError{Type: kind, Msg: fmt.Sprintf("%d %s", code, oneLine(string(body)))}
	}
	it := jsoniter.Parse(jsoniter.ConfigDefault, resp.Body, 64<<10)
	var status, errType, errMsg, resultType string
	var seriesErr error
	sawResult := false
	it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
		switch field {
		case "status":
			status = it.ReadString()
		case "errorType":
			errType = it.ReadString()
		case "error":
			errMsg = it.ReadString()
		case "data":
			it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
				switch field {
				case "resultType":
					resultType = it.ReadString()
				case "result":
					if resultType != "" && resultType != "matrix" {
						it.Skip()
						return true
					}
					sawResult = true
					seriesErr = decodeMatrix(it, series, point)
					return seriesErr == nil
				default:
					it.Skip()
				}
				return true
			})
		default:
			it.Skip()
		}
		return it.Error == nil && seriesErr == nil
	})
	if seriesErr != nil {
		return seriesErr
	}
	if it.Error != nil && it.Error != io.EOF {
		if code/100 != 2 {
			return &rangeError{Type: "server error", Msg: fmt.Sprintf("%d, and an answer that is not the Prometheus API: %s", code, parseError(it.Error))}
		}
		return &rangeError{Type: "bad response", Msg: "not the Prometheus API: " + parseError(it.Error)}
	}
	if status != "success" || code/100 != 2 {
		if errType == "" {
			errType = "status " + strconv.Itoa(code)
		}
		if errMsg == "" {
			errMsg = "no error message"
		}
		return &rangeError{Type: errType, Msg: errMsg}
	}
	if resultType != "matrix" || !sawResult {
		if resultType == "" {
			resultType = "nothing"
		}
		return fmt.Errorf("returned a %s, want a matrix", resultType)
	}
	return nil
}

// parseError is the JSON parser's complaint without the excerpts of the answer it quotes.
func parseError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ", error found in"); i > 0 {
		msg = msg[:i]
	}
	return msg
}

// decodeMatrix reads [{"metric": {...}, "values": [[t, "v"], ...]}, ...], calling series for
// each series before its points; it returns series' error, and leaves a malformed answer to
// it.Error (a series whose values come before its metric has them held
// until the metric is known). Histograms are skipped: the IOPS and coverage queries are floats.
func decodeMatrix(it *jsoniter.Iterator, series func(string, model.Metric) error, point func(ts, v float64)) error {
	var err error
	var held [][2]float64
	it.ReadArrayCB(func(it *jsoniter.Iterator) bool {
		var labels model.Metric
		known := false
		held = held[:0]
		it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
			switch field {
			case "metric":
				labels = model.Metric{}
				it.ReadMapCB(func(it *jsoniter.Iterator, name string) bool {
					labels[model.LabelName(name)] = model.LabelValue(it.ReadString())
					return true
				})
				if it.Error != nil {
					return false
				}
				if err = series(string(labels["pv_name"]), labels); err != nil {
					return false
				}
				known = true
				for _, p := range held {
					point(p[0], p[1])
				}
			case "values":
				it.ReadArrayCB(func(it *jsoniter.Iterator) bool {
					var ts, v float64
					n := 0
					it.ReadArrayCB(func(it *jsoniter.Iterator) bool {
						switch n {
						case 0:
							ts = it.ReadFloat64()
						case 1:
							s := it.ReadString()
							f, perr := strconv.ParseFloat(s, 64)
							if perr != nil {
								it.ReportError("sample value", fmt.Sprintf("%q is not a number", s))
								return false
							}
							v = f
						default:
							it.Skip()
						}
						n++
						return it.Error == nil
					})
					if it.Error != nil {
						return false
					}
					if n < 2 {
						it.ReportError("sample", "want [time, \"value\"]")
						return false
					}
					if known {
						point(ts, v)
					} else {
						held = append(held, [2]float64{ts, v})
					}
					return true
				})
			default:
				it.Skip()
			}
			return it.Error == nil && err == nil
		})
		if err == nil && it.Error == nil && !known {
			err = series("", model.Metric{})
		}
		return it.Error == nil && err == nil
	})
	return err
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

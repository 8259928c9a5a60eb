package promwatch

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// answerServer answers every query with status and body, and records the methods it was sent.
func answerServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) (*Watcher, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var methods []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		if err := r.ParseForm(); err != nil || r.Form.Get("query") == "" || r.Form.Get("time") == "" || r.Form.Get("limit") == "" {
			t.Errorf("request %s %s: query, time or limit missing (%v)", r.Method, r.URL, err)
		}
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	cfg.MaxSeries = 3
	return newTestWatcher(t, cfg), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), methods...) }
}

func fixed(status int, body string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// The answer is decoded into pv_name → value: other labels are ignored, the special values
// parse, warnings are kept.
func TestQueryDecodesVectorIntoValues(t *testing.T) {
	w, _ := answerServer(t, fixed(200, `{"status":"success","warnings":["w1"],"data":{"resultType":"vector","result":[`+
		`{"metric":{"node":"n1","pv_name":"pvc-a"},"value":[1764547200.5,"12.5"]},`+
		`{"metric":{"pv_name":"pvc-b"},"value":[ 1764547200 , "NaN" ]},`+
		`{"metric":{"pv_name":"pvc-c","x":"y"},"value":[1764547200,"+Inf"]}]}}`))
	values, warnings, err := w.query(context.Background(), "IOPS query", "q", time.Unix(1764547200, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(values) != 3 || values["pvc-a"] != 12.5 || !math.IsNaN(values["pvc-b"]) || !math.IsInf(values["pvc-c"], 1) {
		t.Fatalf("values %v", values)
	}
	if len(warnings) != 1 || warnings[0] != "w1" {
		t.Fatalf("warnings %v", warnings)
	}
}

// A result sent before its resultType is decoded once the type is known.
func TestQueryDecodesAResultBeforeItsType(t *testing.T) {
	w, _ := answerServer(t, fixed(200, `{"data":{"result":[{"value":[1,"4"],"metric":{"pv_name":"pvc-a"}}],"resultType":"vector"},"status":"success"}`))
	values, _, err := w.query(context.Background(), "IOPS query", "q", time.Unix(1764547200, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(values) != 1 || values["pvc-a"] != 4 {
		t.Fatalf("values %v", values)
	}
}

// Answers of the wrong shape, errors and refusals are reported as before the direct decode:
// the kinds the Prometheus client library's errors were classified into.
func TestQueryAnswersOfWrongShapeOrErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		kind       error
		reason     string
		msg        string
	}{
		{"no pv_name", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"node":"n1"},"value":[1,"1"]}]}}`, 200,
			ErrInvalidResult, storagev1.ReasonInvalidQueryResult, `sample {node="n1"} has no pv_name label`},
		{"duplicate", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pv_name":"p","node":"a"},"value":[1,"1"]},{"metric":{"pv_name":"p","node":"b"},"value":[1,"2"]}]}}`, 200,
			ErrInvalidResult, storagev1.ReasonInvalidQueryResult, `two samples for pv_name "p" ({node="a", pv_name="p"} and {node="b", pv_name="p"})`},
		{"scalar", `{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}`, 200, ErrInvalidResult, storagev1.ReasonInvalidQueryResult, "returned a scalar"},
		{"matrix", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pv_name":"p"},"values":[[1,"2"]]}]}}`, 200, ErrInvalidResult, storagev1.ReasonInvalidQueryResult, "returned a matrix"},
		{"too many", `{"status":"success","data":{"resultType":"vector","result":[` + strings.Repeat(`{"metric":{"pv_name":"p"},"value":[1,"1"]},`, 3) + `{"metric":{"pv_name":"q"},"value":[1,"1"]}]}}`, 200,
			ErrResponseTooLarge, storagev1.ReasonResponseTooLarge, "more than 3 series"},
		{"bad value", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pv_name":"p"},"value":[1,"one"]}]}}`, 200, ErrPrometheus, storagev1.ReasonPrometheusError, "not the Prometheus API"},
		{"native histogram", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pv_name":"p"},"histogram":[1,{"count":"2","sum":"3"}]}]}}`, 200,
			ErrPrometheus, storagev1.ReasonPrometheusError, "a vector sample without a value"},
		{"value without time", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pv_name":"p"},"value":["1"]}]}}`, 200,
			ErrPrometheus, storagev1.ReasonPrometheusError, "not the Prometheus API"},
		{"matrix before its type", `{"status":"success","data":{"result":[{"metric":{"pv_name":"p"},"values":[[1,"2"]]}],"resultType":"matrix"}}`, 200,
			ErrInvalidResult, storagev1.ReasonInvalidQueryResult, "returned a matrix"},
		{"trailing data", `{"status":"success","data":{"resultType":"vector","result":[]}} {}`, 200, ErrPrometheus, storagev1.ReasonPrometheusError, "not the Prometheus API"},
		{"not JSON", `<html>`, 200, ErrPrometheus, storagev1.ReasonPrometheusError, "not the Prometheus API"},
		{"bad query", `{"status":"error","errorType":"bad_data","error":"parse error: unexpected end"}`, 400, ErrBadQuery, storagev1.ReasonBadQuery, "parse error: unexpected end"},
		{"error in 200", `{"status":"error","errorType":"timeout","error":"query timed out"}`, 200, ErrTimeout, storagev1.ReasonPrometheusTimeout, "query timed out"},
		{"gateway", `bad gateway`, 502, ErrUnreachable, storagev1.ReasonPrometheusUnreachable, "server error: 502"},
		{"server", `oops`, 500, ErrPrometheus, storagev1.ReasonPrometheusError, "server error: 500"},
		{"unauthorized", `no`, 401, ErrUnauthorized, storagev1.ReasonPrometheusUnauthorized, "client error: 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := answerServer(t, fixed(tc.status, tc.body))
			_, _, err := w.query(context.Background(), "IOPS query", "q", time.Unix(1764547200, 0))
			assertKind(t, err, tc.kind, tc.reason)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

// A server that refuses POST is asked again with GET, as the Prometheus client library does.
func TestQueryFallsBackToGet(t *testing.T) {
	w, methods := answerServer(t, func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			rw.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		fixed(200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pv_name":"p"},"value":[1,"7"]}]}}`)(rw, r)
	})
	values, _, err := w.query(context.Background(), "IOPS query", "q", time.Unix(1764547200, 0))
	if err != nil || values["p"] != 7 {
		t.Fatalf("values %v, err %v", values, err)
	}
	if got := methods(); len(got) != 2 || got[0] != "POST" || got[1] != "GET" {
		t.Fatalf("methods %v, want POST then GET", got)
	}
}

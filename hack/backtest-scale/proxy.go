package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
)

// counter is a loopback reverse proxy to Prometheus that counts and times the queries.
type counter struct {
	url              string
	start            time.Time
	mu               sync.Mutex
	ranges, instants int64
	times            []queryTime
}

type queryTime struct {
	start, took time.Duration
	bytes       int64
	what        string
}

func newCounter(target string) (*counter, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	c := &counter{start: time.Now()}
	rp := httputil.NewSingleHostReverseProxy(u)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.Now()
		// The query is in the form body (the client POSTs): read it here, hand a copy on.
		var form url.Values
		if r.URL.Path == "/api/v1/query_range" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			form, _ = url.ParseQuery(string(body))
			for k, v := range r.URL.Query() {
				form[k] = v
			}
		}
		cw := &countingWriter{ResponseWriter: w}
		rp.ServeHTTP(cw, r)
		c.mu.Lock()
		defer c.mu.Unlock()
		switch r.URL.Path {
		case "/api/v1/query_range":
			c.ranges++
			c.times = append(c.times, queryTime{start: t.Sub(c.start), took: time.Since(t), bytes: cw.n,
				what: describe(form.Get("query"), form.Get("start"), form.Get("end"), form.Get("step"))})
		case "/api/v1/query":
			c.instants++
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(ln) }()
	c.url = "http://" + ln.Addr().String()
	return c, nil
}

var coverageRE = regexp.MustCompile(`^count_over_time`)

func describe(q, start, end, step string) string {
	kind := "IOPS"
	if coverageRE.MatchString(q) {
		kind = "coverage"
	}
	s, _ := strconv.ParseFloat(start, 64)
	e, _ := strconv.ParseFloat(end, 64)
	return fmt.Sprintf("%-8s %s → %s step %ss", kind, time.Unix(int64(s), 0).UTC().Format("01-02 15:04"), time.Unix(int64(e), 0).UTC().Format("01-02 15:04"), step)
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ranges, c.instants, c.times, c.start = 0, 0, nil, time.Now()
}

func (c *counter) snapshot() (ranges, instants int64, times []queryTime) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ranges, c.instants, slices.Clone(c.times)
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

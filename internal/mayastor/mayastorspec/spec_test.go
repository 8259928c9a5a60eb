package mayastorspec_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor/mayastorspec"
)

const volID = "ec4e66fd-3b33-4439-b504-d49aba53da26"

func TestValidateRequest(t *testing.T) {
	s := mayastorspec.Load(t)
	cases := []struct {
		name    string
		method  string
		url     string
		body    string
		wantErr string
	}{
		{"list volumes with max_entries", "GET", "http://h/v0/volumes?max_entries=10", "", ""},
		{"list volumes without max_entries", "GET", "http://h/v0/volumes", "", "max_entries"},
		{"replica count 3", "PUT", "/v0/volumes/" + volID + "/replica_count/3", "", ""},
		{"replica count 0 is below the minimum", "PUT", "/v0/volumes/" + volID + "/replica_count/0", "", "replica_count"},
		{"volume id not a uuid", "GET", "/v0/volumes/not-a-uuid", "", "uuid"},
		{"cordon", "PUT", "/v0/nodes/io-engine-1/cordon/couchestor-x", "", ""},
		{"publish body valid", "PUT", "/v0/volumes/" + volID + "/target", `{"publish_context":{},"protocol":"nvmf","node":"n1","republish":true}`, ""},
		{"publish body lacks protocol", "PUT", "/v0/volumes/" + volID + "/target", `{"publish_context":{}}`, "protocol"},
		{"no such path", "GET", "/v0/teleport", "", "no such operation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.url, nil)
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
				req.Header.Set("Content-Type", "application/json")
			}
			err := s.ValidateRequest(req, body)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("want valid, got %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("want error mentioning %q, got %v", tc.wantErr, err)
			}
		})
	}
}

func TestValidateResponse(t *testing.T) {
	s := mayastorspec.Load(t)
	req := httptest.NewRequest("GET", "/v0/volumes/"+volID, nil)
	hdr := http.Header{"Content-Type": []string{"application/json"}}
	good := `{"spec":{"num_replicas":1,"size":1024,"status":"Created","uuid":"` + volID + `","policy":{"self_heal":true},"thin":false,"num_snapshots":0},
	"state":{"size":1024,"status":"Online","uuid":"` + volID + `","replica_topology":{}}}`
	if err := s.ValidateResponse(req, 200, hdr, []byte(good)); err != nil {
		t.Fatalf("spec-shaped volume (without the undefined num_paths/protocol) rejected: %v", err)
	}
	bad := strings.Replace(good, `"thin":false,`, "", 1)
	if err := s.ValidateResponse(req, 200, hdr, []byte(bad)); err == nil || !strings.Contains(err.Error(), "thin") {
		t.Fatalf("volume spec without required thin accepted: %v", err)
	}
	badStatus := strings.Replace(good, `"status":"Online"`, `"status":"Happy"`, 1)
	if err := s.ValidateResponse(req, 200, hdr, []byte(badStatus)); err == nil {
		t.Fatal("volume status outside the enum accepted")
	}
	errBody := `{"details":"volume not found","message":"","kind":"NotFound"}`
	if err := s.ValidateResponse(req, 404, hdr, []byte(errBody)); err != nil {
		t.Fatalf("spec-shaped error rejected: %v", err)
	}
	if err := s.ValidateResponse(req, 404, hdr, []byte(`{"details":"x","kind":"NotFound"}`)); err == nil {
		t.Fatal("error body without required message accepted")
	}
}

func TestHandlerReportsViolations(t *testing.T) {
	s := mayastorspec.Load(t)
	var got []error
	h := s.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`[{"id":"io-engine-1"}]`))
	}), func(err error) { got = append(got, err) })
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v0/nodes")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if len(got) != 0 {
		t.Fatalf("valid exchange reported: %v", got)
	}
	resp, err = http.Get(srv.URL + "/v0/volumes")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if len(got) < 2 {
		t.Fatalf("want request (no max_entries) and response (not a Volumes page) violations, got %v", got)
	}
}

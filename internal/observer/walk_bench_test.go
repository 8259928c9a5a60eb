package observer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/billyronks/couchestor/internal/mayastor"
	"github.com/billyronks/couchestor/internal/sim"
	"github.com/billyronks/couchestor/internal/tiering"
)

// scalePages encodes the simulator's 10,000-volume scenario as the 20 pages of 500 volumes
// GET /v0/volumes answers, keyed by starting_token.
func scalePages(b *testing.B) (map[int][]byte, int) {
	b.Helper()
	sc, err := sim.LoadScenario("scale-10k")
	if err != nil {
		b.Fatal(err)
	}
	s, err := sim.New(sc, sim.WithClock(clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))))
	if err != nil {
		b.Fatal(err)
	}
	pages := map[int][]byte{}
	size := 0
	for start := 0; ; start += 500 {
		page := s.ListVolumes(500, start)
		body, err := json.Marshal(page)
		if err != nil {
			b.Fatal(err)
		}
		pages[start] = body
		size += len(body)
		if page.NextToken == nil {
			return pages, size
		}
	}
}

// BenchmarkWalkVolumes10k walks 10,000 volumes through the client over loopback HTTP, from a
// server answering the pre-encoded pages of the simulator's scale-10k scenario after a fixed
// delay per page (the time a control plane takes to build a page): "full" is WalkVolumes
// (wire structs, one page at a time) reduced with ObserveVolume, "brief-1" and
// "brief-4" WalkVolumeBriefs one page at a time and four at a time.
func BenchmarkWalkVolumes10k(b *testing.B) {
	pages, _ := scalePages(b)
	const serverDelay = 5 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start, _ := strconv.Atoi(r.URL.Query().Get("starting_token"))
		time.Sleep(serverDelay)
		w.Header().Set("Content-Type", "application/json")
		body, ok := pages[start]
		if !ok {
			body = []byte(`{"entries":[]}`)
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	client := func(b *testing.B, conc int) *mayastor.Client {
		c, err := mayastor.New(mayastor.Config{BaseURL: srv.URL, PageSize: 500, PageConcurrency: conc})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	check := func(b *testing.B, n int) {
		if n != 10000 {
			b.Fatalf("walked %d volumes, want 10000", n)
		}
	}
	b.Run("full", func(b *testing.B) {
		c := client(b, -1)
		b.ReportAllocs()
		for b.Loop() {
			obs := map[string]*tiering.VolumeObservation{}
			err := c.WalkVolumes(ctx, func(page []mayastor.Volume) error {
				for i := range page {
					o := ObserveVolume(&page[i])
					obs[o.ID] = &o
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			check(b, len(obs))
		}
	})
	for _, conc := range []int{1, 4} {
		b.Run("brief-"+strconv.Itoa(conc), func(b *testing.B) {
			c := client(b, conc)
			b.ReportAllocs()
			for b.Loop() {
				obs := map[string]*tiering.VolumeObservation{}
				err := c.WalkVolumeBriefs(ctx, func(page []mayastor.VolumeBrief) error {
					for _, v := range page {
						o := ObserveBrief(v)
						obs[o.ID] = &o
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				check(b, len(obs))
			}
		})
	}
}

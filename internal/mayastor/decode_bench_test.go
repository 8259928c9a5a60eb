package mayastor_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// BenchmarkDecodeVolumePages10k decodes the 20 pages of 500 volumes GET /v0/volumes answers for
// the simulator's 10,000-volume scenario into what a decision reads (VolumeBrief), without
// HTTP: "full" decodes each page into Volumes (the wire structs) and takes each volume's brief;
// "brief" decodes each entry straight into a VolumeBrief as WalkVolumeBriefs does.
func BenchmarkDecodeVolumePages10k(b *testing.B) {
	s := scaleSim(b)
	var pages [][]byte
	size := 0
	for start := 0; ; start += 500 {
		page := s.ListVolumes(500, start)
		body, err := json.Marshal(page)
		if err != nil {
			b.Fatal(err)
		}
		pages, size = append(pages, body), size+len(body)
		if page.NextToken == nil {
			break
		}
	}
	run := func(b *testing.B, decode func(body []byte) []mayastor.VolumeBrief) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for _, body := range pages {
				for _, v := range decode(body) {
					n += len(v.ReplicaPools)
				}
			}
			if n == 0 {
				b.Fatal("no replicas")
			}
		}
	}
	b.Run("full", func(b *testing.B) {
		run(b, func(body []byte) []mayastor.VolumeBrief {
			var page mayastor.Volumes
			if err := json.Unmarshal(body, &page); err != nil {
				b.Fatal(err)
			}
			briefs := make([]mayastor.VolumeBrief, len(page.Entries))
			for i := range page.Entries {
				briefs[i] = mayastor.BriefOf(&page.Entries[i])
			}
			return briefs
		})
	})
	b.Run("brief", func(b *testing.B) {
		run(b, func(body []byte) []mayastor.VolumeBrief {
			briefs, _, err := mayastor.DecodeBriefPage(bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			return briefs
		})
	})
}

package mayastor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// BenchmarkListAllVolumes10kSim lists the simulator's 10,000-volume scenario
// through the client over loopback HTTP, page by page.
func BenchmarkListAllVolumes10kSim(b *testing.B) {
	s := scaleSim(b)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, pageSize := range []int{500, 2000} {
		b.Run(fmt.Sprintf("page-%d", pageSize), func(b *testing.B) {
			benchList(b, srv.URL, pageSize)
		})
	}
}

// BenchmarkListAllVolumes10kStatic isolates the client: the server answers
// pre-encoded spec-shaped pages of 10,000 3-replica volumes.
func BenchmarkListAllVolumes10kStatic(b *testing.B) {
	const total, pageSize = 10000, 500
	pages := map[int][]byte{}
	for start := 0; start < total; start += pageSize {
		var page mayastor.Volumes
		for i := start; i < start+pageSize; i++ {
			page.Entries = append(page.Entries, benchVolume(i))
		}
		if start+pageSize < total {
			next := uint64(start + pageSize)
			page.NextToken = &next
		}
		body, err := json.Marshal(page)
		if err != nil {
			b.Fatal(err)
		}
		pages[start] = body
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start, _ := strconv.Atoi(r.URL.Query().Get("starting_token"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(pages[start])
	}))
	defer srv.Close()
	benchList(b, srv.URL, pageSize)
}

func benchList(b *testing.B, url string, pageSize int) {
	c, err := mayastor.New(mayastor.Config{BaseURL: url, PageSize: pageSize})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vols, err := c.ListAllVolumes(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(vols) != 10000 {
			b.Fatalf("listed %d volumes, want 10000", len(vols))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/10000, "µs/volume")
}

func benchVolume(i int) mayastor.Volume {
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
	topo := map[string]mayastor.ReplicaTopology{}
	var children []mayastor.Child
	for r := 0; r < 3; r++ {
		rid := fmt.Sprintf("%08x-%04x-4000-8000-%012x", i, r+1, i)
		topo[rid] = mayastor.ReplicaTopology{Node: fmt.Sprintf("io-engine-%d", r+1), Pool: fmt.Sprintf("pool-sata-%d", r+1),
			State: mayastor.ReplicaStateOnline, ChildStatus: mayastor.ChildStateOnline,
			Usage: &mayastor.ReplicaUsage{Capacity: 10 << 30, Allocated: 10 << 30}}
		children = append(children, mayastor.Child{State: mayastor.ChildStateOnline, URI: "nvmf://10.1.0.1:8420/nqn.2019-05.io.openebs:" + rid})
	}
	return mayastor.Volume{
		Spec: mayastor.VolumeSpec{NumReplicas: 3, Size: 10 << 30, Status: mayastor.SpecStatusCreated, UUID: id,
			Target:   &mayastor.VolumeTarget{Node: "io-engine-1", Protocol: mayastor.VolumeShareProtocolNvmf},
			Topology: &mayastor.Topology{PoolTopology: &mayastor.PoolTopology{Labelled: &mayastor.LabelledTopology{Inclusion: map[string]string{"openebs.io/created-by": "operator-diskpool"}}}},
			Policy:   mayastor.VolumePolicy{SelfHeal: true}},
		State: mayastor.VolumeState{Size: 10 << 30, Status: mayastor.VolumeStatusOnline, UUID: id, ReplicaTopology: topo,
			Target: &mayastor.Nexus{Children: children, Node: "io-engine-1", Protocol: mayastor.ProtocolNvmf, Size: 10 << 30,
				State: mayastor.NexusStateOnline, UUID: id}},
	}
}

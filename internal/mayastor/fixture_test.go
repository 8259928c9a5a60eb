package mayastor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/ptr"
)

// fixtureServer is a small in-memory control plane answering spec-shaped
// bodies for the endpoints the client calls. It does not schedule anything;
// the simulator does that. It is for client and contract tests.
type fixtureServer struct {
	mu      sync.Mutex
	volumes []Volume
	pools   []Pool
	nodes   []Node
	reqs    []string // "METHOD path?query"
}

func fixtureUUID(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i) }

func fixtureVolume(i, replicas int) Volume {
	id := fixtureUUID(i)
	topo := map[string]ReplicaTopology{}
	var children []Child
	for r := 0; r < replicas; r++ {
		rid := fmt.Sprintf("%08x-%04x-4000-8000-%012x", i, r+1, i)
		topo[rid] = ReplicaTopology{
			Node: fmt.Sprintf("io-engine-%d", r+1), Pool: fmt.Sprintf("pool-%d", r+1),
			State: ReplicaStateOnline, ChildStatus: ChildStateOnline,
			Usage: &ReplicaUsage{Capacity: 1 << 30, Allocated: 1 << 20},
		}
		children = append(children, Child{State: ChildStateOnline, URI: "nvmf://10.1.0.1:8420/nqn.2019-05.io.openebs:" + rid})
	}
	return Volume{
		Spec: VolumeSpec{
			Labels: map[string]string{"openebs.io/created-by": "csi-provisioner"}, NumReplicas: uint8(replicas),
			Size: 1 << 30, Status: SpecStatusCreated, UUID: id,
			Target: &VolumeTarget{Node: "io-engine-1", Protocol: VolumeShareProtocolNvmf},
			Topology: &Topology{PoolTopology: &PoolTopology{Labelled: &LabelledTopology{
				Inclusion: map[string]string{"openebs.io/created-by": "operator-diskpool"},
			}}},
			Policy: VolumePolicy{SelfHeal: true}, NumSnapshots: 0, MaxSnapshots: ptr.To[uint32](10),
		},
		State: VolumeState{
			Target: &Nexus{
				Children: children, DeviceURI: "nvmf://10.1.0.1:8420/nqn.2019-05.io.openebs:nexus-" + id,
				Node: "io-engine-1", Protocol: ProtocolNvmf, Size: 1 << 30, State: NexusStateOnline, UUID: id,
			},
			Size: 1 << 30, Status: VolumeStatusOnline, UUID: id, ReplicaTopology: topo,
			Usage: &VolumeUsage{Capacity: 1 << 30, Allocated: 1 << 20},
		},
	}
}

func newFixtureServer(volumes int) *fixtureServer {
	f := &fixtureServer{}
	for i := 0; i < volumes; i++ {
		f.volumes = append(f.volumes, fixtureVolume(i+1, 1))
	}
	for i := 1; i <= 3; i++ {
		node := fmt.Sprintf("io-engine-%d", i)
		f.pools = append(f.pools, Pool{
			ID:    fmt.Sprintf("pool-%d", i),
			Spec:  &PoolSpec{Disks: []string{"/dev/nvme0n1"}, ID: fmt.Sprintf("pool-%d", i), Node: node, Status: SpecStatusCreated, Labels: map[string]string{"tier": "nvme"}},
			State: &PoolState{Capacity: 100 << 30, Disks: []string{"aio:///dev/nvme0n1"}, ID: fmt.Sprintf("pool-%d", i), Node: node, Status: PoolStatusOnline, Used: 1 << 30},
		})
		f.nodes = append(f.nodes, Node{
			ID:    node,
			Spec:  &NodeSpec{GRPCEndpoint: fmt.Sprintf("10.1.0.%d:10124", i), ID: node},
			State: &NodeState{GRPCEndpoint: fmt.Sprintf("10.1.0.%d:10124", i), ID: node, Status: NodeStatusOnline},
		})
	}
	return f
}

func writeJSONTest(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, what string) {
	writeJSONTest(w, http.StatusNotFound, RestJsonError{Kind: ErrorKindNotFound, Details: what + " not found", Message: ""})
}

func (f *fixtureServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.RequestURI())
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v0/"), "/")
	findVol := func(id string) *Volume {
		for i := range f.volumes {
			if f.volumes[i].Spec.UUID == id {
				return &f.volumes[i]
			}
		}
		return nil
	}
	findNode := func(id string) *Node {
		for i := range f.nodes {
			if f.nodes[i].ID == id {
				return &f.nodes[i]
			}
		}
		return nil
	}
	switch {
	case r.Method == "GET" && len(parts) == 1 && parts[0] == "volumes":
		maxEntries, err := strconv.Atoi(r.URL.Query().Get("max_entries"))
		if err != nil {
			writeJSONTest(w, http.StatusBadRequest, RestJsonError{Kind: ErrorKindInvalidArgument, Details: "max_entries is required", Message: ""})
			return
		}
		start, _ := strconv.Atoi(r.URL.Query().Get("starting_token"))
		page := Volumes{}
		end := len(f.volumes)
		if maxEntries > 0 && start+maxEntries < end {
			end = start + maxEntries
			page.NextToken = ptr.To(uint64(end))
		}
		if start < len(f.volumes) {
			page.Entries = f.volumes[start:end]
		}
		writeJSONTest(w, http.StatusOK, page)
	case r.Method == "GET" && len(parts) == 2 && parts[0] == "volumes":
		if v := findVol(parts[1]); v != nil {
			writeJSONTest(w, http.StatusOK, v)
			return
		}
		notFound(w, "volume "+parts[1])
	case r.Method == "GET" && len(parts) == 3 && parts[2] == "rebuild-history":
		if v := findVol(parts[1]); v != nil {
			writeJSONTest(w, http.StatusOK, RebuildHistory{TargetUUID: v.Spec.UUID, Records: []RebuildRecord{{
				ChildURI: "nvmf://x:" + v.Spec.UUID, SrcURI: "nvmf://y", RebuildJobState: RebuildJobStateCompleted,
				BlocksTotal: 10, BlocksRecovered: 10, BlocksTransferred: 10, BlockSize: 512,
				StartTime: time.Unix(0, 0).UTC(), EndTime: time.Unix(10, 0).UTC(),
			}}})
			return
		}
		notFound(w, "volume "+parts[1])
	case r.Method == "PUT" && len(parts) == 4 && parts[2] == "replica_count":
		v := findVol(parts[1])
		if v == nil {
			notFound(w, "volume "+parts[1])
			return
		}
		n, _ := strconv.Atoi(parts[3])
		v.Spec.NumReplicas = uint8(n)
		writeJSONTest(w, http.StatusOK, v)
	case len(parts) == 3 && parts[2] == "target" && (r.Method == "PUT" || r.Method == "DELETE"):
		v := findVol(parts[1])
		if v == nil {
			notFound(w, "volume "+parts[1])
			return
		}
		if r.Method == "PUT" {
			var body PublishVolumeBody
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				writeJSONTest(w, http.StatusBadRequest, RestJsonError{Kind: ErrorKindDeserialize, Details: err.Error(), Message: ""})
				return
			}
			v.Spec.Target = &VolumeTarget{Node: body.Node, Protocol: body.Protocol}
		} else {
			v.Spec.Target = nil
		}
		writeJSONTest(w, http.StatusOK, v)
	case r.Method == "GET" && len(parts) == 1 && parts[0] == "pools":
		writeJSONTest(w, http.StatusOK, f.pools)
	case r.Method == "GET" && len(parts) == 2 && parts[0] == "pools":
		for _, p := range f.pools {
			if p.ID == parts[1] {
				writeJSONTest(w, http.StatusOK, p)
				return
			}
		}
		notFound(w, "pool "+parts[1])
	case r.Method == "GET" && len(parts) == 1 && parts[0] == "nodes":
		writeJSONTest(w, http.StatusOK, f.nodes)
	case r.Method == "GET" && len(parts) == 2 && parts[0] == "nodes":
		if n := findNode(parts[1]); n != nil {
			writeJSONTest(w, http.StatusOK, n)
			return
		}
		notFound(w, "node "+parts[1])
	case r.Method == "GET" && len(parts) == 3 && parts[0] == "nodes" && parts[2] == "pools":
		var out []Pool
		for _, p := range f.pools {
			if p.Spec.Node == parts[1] {
				out = append(out, p)
			}
		}
		writeJSONTest(w, http.StatusOK, append([]Pool{}, out...))
	case len(parts) == 4 && parts[0] == "nodes" && parts[2] == "cordon" && (r.Method == "PUT" || r.Method == "DELETE"):
		n := findNode(parts[1])
		if n == nil {
			notFound(w, "node "+parts[1])
			return
		}
		labels := n.CordonLabels()
		if r.Method == "PUT" {
			labels = append(labels, parts[3])
		} else {
			var kept []string
			for _, l := range labels {
				if l != parts[3] {
					kept = append(kept, l)
				}
			}
			labels = kept
		}
		n.Spec.CordonDrainState = nil
		if len(labels) > 0 {
			n.Spec.CordonDrainState = &CordonDrainState{CordonedState: &CordonedState{CordonLabels: labels}}
		}
		writeJSONTest(w, http.StatusOK, n)
	default:
		writeJSONTest(w, http.StatusNotFound, RestJsonError{Kind: ErrorKindNotFound, Details: "no route " + r.Method + " " + r.URL.Path, Message: ""})
	}
}

func (f *fixtureServer) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

package observer

import (
	"strings"
	"testing"

	"github.com/billyronks/couchestor/internal/mayastor"
)

func TestObserve(t *testing.T) {
	v := &mayastor.Volume{
		Spec: mayastor.VolumeSpec{UUID: "u", Size: 5, NumReplicas: 2, NumSnapshots: 3, AffinityGroup: &mayastor.AffinityGroup{ID: "g"}},
		State: mayastor.VolumeState{Status: mayastor.VolumeStatusOnline, Target: &mayastor.Nexus{},
			ReplicaTopology: map[string]mayastor.ReplicaTopology{"r2": {Pool: "p2"}, "r1": {Pool: "p1"}}},
	}
	o := ObserveVolume(v)
	if o.ID != "u" || o.SizeBytes != 5 || o.NumReplicas != 2 || o.Snapshots != 3 || o.AffinityGroup != "g" || !o.Published || !o.Healthy ||
		strings.Join(o.ReplicaPools, ",") != "p1,p2" {
		t.Fatalf("%+v", o)
	}
	if o := ObserveVolume(&mayastor.Volume{Spec: mayastor.VolumeSpec{UUID: "u"}, State: mayastor.VolumeState{Status: mayastor.VolumeStatusDegraded}}); o.Healthy || o.Published || o.ReplicaPools != nil {
		t.Fatalf("%+v", o)
	}
	p := ObservePool(&mayastor.Pool{ID: "p", Spec: &mayastor.PoolSpec{Node: "n0", Labels: map[string]string{"tier": "nvme"}},
		State: &mayastor.PoolState{Node: "n1", Status: mayastor.PoolStatusOnline, Capacity: 10, Used: 4}})
	if p.ID != "p" || p.Node != "n1" || !p.Online || p.CapacityBytes != 10 || p.UsedBytes != 4 || p.Labels["tier"] != "nvme" {
		t.Fatalf("%+v", p)
	}
	if p := ObservePool(&mayastor.Pool{ID: "p", State: &mayastor.PoolState{Status: mayastor.PoolStatusDegraded}}); p.Online {
		t.Fatalf("a Degraded pool takes no replica: %+v", p)
	}
}

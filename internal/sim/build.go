package sim

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// load builds the model from a validated scenario.
func (s *Sim) load(sc *Scenario) error {
	for i, n := range sc.Nodes {
		node := &simNode{id: n.ID, index: i, labels: maps.Clone(n.Labels), online: !n.Offline,
			cordons: slices.Clone(n.Cordons), version: cmp.Or(n.Version, DefaultIOEngineVersion)}
		s.nodes[n.ID] = node
		s.nodeOrder = append(s.nodeOrder, n.ID)
	}
	for _, p := range sc.Pools {
		st := mayastor.PoolStatus(p.Status)
		if st == "" {
			st = mayastor.PoolStatusOnline
		}
		disks := slices.Clone(p.Disks)
		if len(disks) == 0 {
			disks = []string{"aio:///dev/disk/by-id/" + p.ID}
		}
		s.pools[p.ID] = &simPool{id: p.ID, uuid: s.newUUID(), node: s.nodes[p.Node], disks: disks,
			labels: maps.Clone(p.Labels), capacity: int64(p.Capacity), status: st, filler: int64(p.Filler)}
		s.poolOrder = append(s.poolOrder, p.ID)
	}
	for i := range sc.Volumes {
		v := &sc.Volumes[i]
		if err := s.addVolume(sc, fmt.Sprintf("volumes[%d]", i), v); err != nil {
			return err
		}
	}
	for i := range sc.Generate {
		g := &sc.Generate[i]
		f := fmt.Sprintf("generate[%d]", i)
		published := g.Published == nil || *g.Published
		for k := 0; k < g.Count; k++ {
			var reps []string
			used := map[string]bool{}
			for j := 0; j < len(g.Pools) && len(reps) < g.Replicas; j++ {
				id := g.Pools[(k+j)%len(g.Pools)]
				if n := sc.poolNode(id); !used[n] {
					used[n] = true
					reps = append(reps, id)
				}
			}
			vs := &ScenarioVolume{Size: g.Size, Thin: g.Thin, Allocated: g.Allocated, Replicas: reps,
				Published: published, Inclusion: g.Inclusion, SelfHeal: g.SelfHeal, Workload: g.Workload}
			if err := s.addVolume(sc, f, vs); err != nil {
				return err
			}
		}
	}
	sort.Strings(s.volOrder)
	// Let the first reconcile pass look at every published volume (a
	// scenario may start with faulted pools or missing replicas).
	for _, v := range s.volumes {
		if v.target != nil {
			s.markDirty(v)
		}
	}
	return nil
}

func (sc *Scenario) poolNode(id string) string {
	for _, p := range sc.Pools {
		if p.ID == id {
			return p.Node
		}
	}
	return ""
}

func (s *Sim) addVolume(sc *Scenario, f string, vs *ScenarioVolume) error {
	id := vs.UUID
	if id == "" {
		id = s.newUUID()
	}
	if _, dup := s.volumes[id]; dup {
		return sc.errAt(f+".uuid", "duplicate volume %q", id)
	}
	v := &simVolume{uuid: id, size: int64(vs.Size), thin: vs.Thin, numReplicas: vs.NumReplicas,
		inclusion: maps.Clone(vs.Inclusion), selfHeal: vs.SelfHeal == nil || *vs.SelfHeal, faultNextRebuild: -1,
		volExtras: volExtrasFrom(vs)}
	if v.numReplicas == 0 {
		v.numReplicas = len(vs.Replicas)
	}
	for j, pid := range vs.Replicas {
		p := s.pools[pid]
		if !v.thin && p.allocated+p.filler+v.size > p.capacity {
			return sc.errAt(fmt.Sprintf("%s.replicas[%d]", f, j), "pool %q has no room for another %d bytes", pid, v.size)
		}
		r := s.createReplica(v, p)
		if v.thin {
			alloc := int64(vs.Allocated)
			if vs.Allocated == 0 {
				alloc = v.size / 2
			}
			if alloc > v.size {
				return sc.errAt(f+".allocated", "larger than the volume")
			}
			if p.allocated+p.filler+alloc > p.capacity {
				return sc.errAt(fmt.Sprintf("%s.replicas[%d]", f, j), "pool %q has no room for another %d bytes", pid, alloc)
			}
			r.setAllocated(alloc)
		}
	}
	if vs.Workload != nil {
		v.io.model = vs.Workload.resolve(s.rng)
	}
	if vs.Published {
		node := v.replicas[0].node()
		if vs.NexusNode != "" {
			node = s.nodes[vs.NexusNode]
		}
		children := v.replicas
		if len(children) > v.numReplicas {
			children = children[:v.numReplicas]
		}
		s.openNexus(v, node, children, nil)
		s.ioResume(v)
	}
	s.volumes[id] = v
	s.volOrder = append(s.volOrder, id)
	return nil
}

package tiering

import (
	"cmp"
	"reflect"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// selectionIndex answers "which PVs does this policy select" and "which other policies select
// this PV" for every policy planned from one snapshot, in time proportional to the answer
// rather than to PVs × policies. It is built once per snapshot, on first use.
type selectionIndex struct {
	// byClass holds the PVs of each StorageClass, by volume id.
	byClass map[string][]*PVObservation
	// byLabel holds the PVs carrying each label key and value, in byClass order.
	byLabel map[string]map[string][]*PVObservation
	// enabled are the enabled policies with a valid spec, and what each selects.
	enabled map[string]*indexedPolicy
	// selecting maps a PV name to the enabled policies selecting it, by name.
	selecting map[string][]string
}

type indexedPolicy struct {
	spec     *storagev1.StoragePolicySpec
	compiled CompiledPolicy
	selected []*PVObservation
	// overlaps of selected, worked out once per index (compiledFor): snapshots of unchanged
	// cache parts share the index, so a policy's overlaps are not rebuilt every cycle.
	overlapsOnce sync.Once
	overlaps     map[string][]string
}

// snapshotIndex is the Snapshot's lazily built index. A Snapshot is read-only once built and
// must not be copied (go vet says so): a changed one is a new Snapshot, see Refreshed.
type snapshotIndex struct {
	once sync.Once
	idx  *selectionIndex
}

func (s *Snapshot) index() *selectionIndex {
	h := s.indexHolder()
	h.once.Do(func() { h.idx = buildIndex(s) })
	return h.idx
}

func (s *Snapshot) indexHolder() *snapshotIndex {
	if h := s.derived.Load(); h != nil {
		return h
	}
	s.derived.CompareAndSwap(nil, &snapshotIndex{})
	return s.derived.Load()
}

// ShareIndex makes s use prev's selection index (built at most once for both) when s holds the
// very same PVs map and policies as prev: the observer's cache-derived parts, reused because
// nothing changed in the cache. Otherwise, or before s is planned from, it does nothing.
func (s *Snapshot) ShareIndex(prev *Snapshot) {
	if prev == nil || s.derived.Load() != nil || !sameMap(s.PVs, prev.PVs) || !slices.Equal(s.Policies, prev.Policies) {
		return
	}
	s.derived.Store(prev.indexHolder())
}

// sameMap: a and b are the same map (not merely equal ones).
func sameMap[K comparable, V any](a, b map[K]V) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// Refreshed returns a new Snapshot with Mayastor's and Prometheus's parts of s (taken at
// s.Taken) and the given cluster parts, read again from the informer cache: what a policy, PV
// or TierMigration event changes, without a new walk of Mayastor.
func (s *Snapshot) Refreshed(pvs map[string]*PVObservation, migrations map[string]MigrationObservation, inFlight InFlight, policies []*storagev1.StoragePolicy) *Snapshot {
	return &Snapshot{
		Taken: s.Taken, Volumes: s.Volumes, Pools: s.Pools, MayastorProblem: s.MayastorProblem, IOPS: s.IOPS,
		PVs: pvs, Migrations: migrations, InFlight: inFlight, Policies: policies,
	}
}

func buildIndex(s *Snapshot) *selectionIndex {
	idx := &selectionIndex{
		byClass: map[string][]*PVObservation{}, byLabel: map[string]map[string][]*PVObservation{},
		enabled: map[string]*indexedPolicy{}, selecting: map[string][]string{},
	}
	for _, pv := range s.PVs {
		idx.byClass[pv.StorageClass] = append(idx.byClass[pv.StorageClass], pv)
	}
	classes := make([]string, 0, len(idx.byClass))
	for class, pvs := range idx.byClass {
		slices.SortFunc(pvs, byVolumeID)
		classes = append(classes, class)
	}
	slices.Sort(classes)
	for _, class := range classes {
		for _, pv := range idx.byClass[class] {
			for k, v := range pv.Labels {
				values := idx.byLabel[k]
				if values == nil {
					values = map[string][]*PVObservation{}
					idx.byLabel[k] = values
				}
				values[v] = append(values[v], pv)
			}
		}
	}
	policies := slices.Clone(s.Policies)
	slices.SortFunc(policies, func(a, b *storagev1.StoragePolicy) int { return cmp.Compare(a.Name, b.Name) })
	for _, p := range policies {
		if !p.IsEnabled() {
			continue
		}
		c, err := CompilePolicy(&p.Spec)
		if err != nil { // an invalid policy selects nothing
			continue
		}
		ip := &indexedPolicy{spec: &p.Spec, compiled: c, selected: idx.selectedBy(&p.Spec, &c)}
		idx.enabled[p.Name] = ip
		for _, pv := range ip.selected {
			idx.selecting[pv.Name] = append(idx.selecting[pv.Name], p.Name)
		}
	}
	return idx
}

// compiledFor returns the policy's compiled spec, what it selects and the overlaps of those
// (overlapsOf): the indexed ones when the snapshot holds the same spec under that name, the
// overlaps then worked out once per index; else new ones (nothing selected when the spec does
// not compile). The overlaps are shared: read them, never change them.
func (idx *selectionIndex) compiledFor(p *storagev1.StoragePolicy) (CompiledPolicy, []*PVObservation, map[string][]string, error) {
	if ip := idx.enabled[p.Name]; ip != nil && equality.Semantic.DeepEqual(ip.spec, &p.Spec) {
		ip.overlapsOnce.Do(func() { ip.overlaps = idx.overlapsOf(p.Name, ip.selected) })
		return ip.compiled, ip.selected, ip.overlaps, nil
	}
	c, err := CompilePolicy(&p.Spec)
	if err != nil {
		return c, nil, nil, err
	}
	selected := idx.selectedBy(&p.Spec, &c)
	return c, selected, idx.overlapsOf(p.Name, selected), nil
}

// selectedBy returns the PVs of the policy's StorageClass its volume selector matches, by
// volume id. A selector with an equality or In requirement only looks at the PVs carrying one
// of those values.
func (idx *selectionIndex) selectedBy(spec *storagev1.StoragePolicySpec, c *CompiledPolicy) []*PVObservation {
	if c.Volumes == nil {
		return idx.byClass[spec.StorageClassName]
	}
	candidates, lists := idx.byClass[spec.StorageClassName], 1
	if reqs, ok := c.Volumes.Requirements(); ok {
		for _, r := range reqs {
			switch r.Operator() {
			case selection.Equals, selection.DoubleEquals, selection.In:
			default:
				continue
			}
			var union []*PVObservation
			values := r.Values().UnsortedList()
			for _, v := range values {
				union = append(union, idx.byLabel[r.Key()][v]...)
			}
			if len(union) < len(candidates) {
				candidates, lists = union, len(values)
			}
		}
	}
	var out []*PVObservation
	for _, pv := range candidates {
		if pv.StorageClass == spec.StorageClassName && c.Volumes.Matches(labels.Set(pv.Labels)) {
			out = append(out, pv)
		}
	}
	if lists > 1 {
		slices.SortFunc(out, byVolumeID)
	}
	return out
}

// overlapsOf maps each selected volume that another enabled policy selects too (necessarily
// one of the same StorageClass) to those policies' names.
func (idx *selectionIndex) overlapsOf(policy string, selected []*PVObservation) map[string][]string {
	var overlaps map[string][]string
	for _, pv := range selected {
		by := idx.selecting[pv.Name]
		if len(by) == 0 || len(by) == 1 && by[0] == policy {
			continue
		}
		others := make([]string, 0, len(by))
		for _, name := range by {
			if name != policy {
				others = append(others, name)
			}
		}
		if overlaps == nil {
			overlaps = map[string][]string{}
		}
		overlaps[pv.VolumeID] = others
	}
	return overlaps
}

func byVolumeID(a, b *PVObservation) int {
	return cmp.Or(cmp.Compare(a.VolumeID, b.VolumeID), cmp.Compare(a.Name, b.Name))
}

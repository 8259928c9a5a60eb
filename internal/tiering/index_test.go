package tiering

import "testing"

// A snapshot holding the very same PVs and policies as the previous one (the observer's reused
// cache parts) uses its selection index, built once for both; a snapshot with other PVs or
// policies, or one already planned from, builds its own.
func TestShareIndex(t *testing.T) {
	prev := benchSnapshot(benchPolicies(3, true))
	idx := prev.index()
	next := prev.Refreshed(prev.PVs, prev.Migrations, prev.InFlight, prev.Policies)
	next.ShareIndex(prev)
	if next.index() != idx {
		t.Fatal("a snapshot of the same PVs and policies built its own index")
	}

	other := prev.Refreshed(clonePVs(prev.PVs), prev.Migrations, prev.InFlight, prev.Policies)
	other.ShareIndex(prev)
	if other.index() == idx {
		t.Fatal("a snapshot of other PVs (an equal copy) shares the index")
	}
	fewer := prev.Refreshed(prev.PVs, prev.Migrations, prev.InFlight, prev.Policies[1:])
	fewer.ShareIndex(prev)
	if fewer.index() == idx {
		t.Fatal("a snapshot of other policies shares the index")
	}
	planned := prev.Refreshed(prev.PVs, prev.Migrations, prev.InFlight, prev.Policies)
	own := planned.index()
	planned.ShareIndex(prev)
	if planned.index() != own {
		t.Fatal("ShareIndex replaced the index of a snapshot already planned from")
	}
}

func clonePVs(m map[string]*PVObservation) map[string]*PVObservation {
	out := make(map[string]*PVObservation, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

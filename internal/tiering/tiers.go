// Package tiering is CoucheStor's brain: pure functions from a snapshot (pools, volumes, IOPS,
// policy, clock) to what the operator reports and decides. No I/O here; every rule is a table
// test row.
package tiering

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/labels"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// PoolTiers maps a Mayastor pool id to the tier a policy puts it in. Pools in neither tier are
// absent.
type PoolTiers map[string]storagev1.Tier

// PoolClassification is the result of sorting a cluster's pools into a policy's two tiers.
type PoolClassification struct {
	Tiers PoolTiers
	// NVMe and SATA count the pools of each tier.
	NVMe, SATA int
	// Ambiguous lists pools both selectors match, sorted; they belong to no tier.
	Ambiguous []string
}

// Classify puts each pool in the tier whose selector matches its labels. A pool both selectors
// match is ambiguous and in neither tier, so a misconfigured policy cannot move a volume onto
// the tier it is leaving.
func Classify(pools []PoolObservation, nvme, sata labels.Selector) PoolClassification {
	c := PoolClassification{Tiers: PoolTiers{}}
	for i := range pools {
		p := &pools[i]
		set := labels.Set(p.Labels)
		inNVMe, inSATA := nvme.Matches(set), sata.Matches(set)
		switch {
		case inNVMe && inSATA:
			c.Ambiguous = append(c.Ambiguous, p.ID)
		case inNVMe:
			c.Tiers[p.ID] = storagev1.TierNVMe
			c.NVMe++
		case inSATA:
			c.Tiers[p.ID] = storagev1.TierSATA
			c.SATA++
		}
	}
	sort.Strings(c.Ambiguous)
	return c
}

// Placement says where a volume's replicas are.
type Placement string

const (
	// PlacementNVMe: every replica is on an NVMe pool.
	PlacementNVMe Placement = "NVMe"
	// PlacementSATA: every replica is on a SATA pool.
	PlacementSATA Placement = "SATA"
	// PlacementMixed: replicas on both tiers (a migration in flight, or preservation mode).
	PlacementMixed Placement = "Mixed"
	// PlacementOther: a replica on a pool the policy puts in neither tier, or no replica known.
	PlacementOther Placement = "Other"
)

// Placement reports which tier a volume's replicas are on, from the pool of each replica.
func (t PoolTiers) Placement(replicaPools []string) Placement {
	var nvme, sata, other int
	for _, pool := range replicaPools {
		switch t[pool] {
		case storagev1.TierNVMe:
			nvme++
		case storagev1.TierSATA:
			sata++
		default:
			other++
		}
	}
	switch {
	case other > 0 || nvme+sata == 0:
		return PlacementOther
	case nvme > 0 && sata > 0:
		return PlacementMixed
	case nvme > 0:
		return PlacementNVMe
	default:
		return PlacementSATA
	}
}

// StorageProblem says why a policy's pools cannot carry migrations, or "" when they can.
func (c PoolClassification) StorageProblem() (reason, message string) {
	switch {
	case len(c.Ambiguous) > 0:
		return storagev1.ReasonAmbiguousPools, fmt.Sprintf("pools %v match both nvmePoolSelector and sataPoolSelector: they are used by neither tier", c.Ambiguous)
	case c.NVMe == 0 && c.SATA == 0:
		return storagev1.ReasonNoPools, "no Mayastor pool matches nvmePoolSelector or sataPoolSelector"
	case c.NVMe == 0:
		return storagev1.ReasonNoNVMePools, "no Mayastor pool matches nvmePoolSelector"
	case c.SATA == 0:
		return storagev1.ReasonNoSATAPools, "no Mayastor pool matches sataPoolSelector"
	}
	return "", ""
}

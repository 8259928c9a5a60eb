package controller

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/tiering"
)

// DefaultDecisionEventInterval is how often at most a volume's decision change is said in an
// Event on its PVC (--decision-event-interval).
const DefaultDecisionEventInterval = 10 * time.Minute

// maxDecisionEventsPerReconcile bounds the DecisionChanged Events one policy reconcile emits;
// the other changes of that reconcile are said in one Event on the policy. A cause shared by
// every volume (their IOPS series all gone) is thus one Event, not one per PVC.
const maxDecisionEventsPerReconcile = 10

// decision is what a policy does with a volume, without the sentence: a change of the
// sentence alone (the IOPS figure in it) is not a change of decision.
type decision struct {
	action tiering.Action
	to     storagev1.Tier
	reason string
}

func decisionOf(d *tiering.VolumeDecision) decision {
	return decision{action: d.Action, to: d.To, reason: d.Reason}
}

func (d decision) String() string {
	if d.to != "" && d.action != tiering.ActionStay {
		return fmt.Sprintf("%s to %s (%s)", d.action, d.to, d.reason)
	}
	return fmt.Sprintf("%s (%s)", d.action, d.reason)
}

// trackedVolume is what the tracker holds of one volume: the policy that decided it last, its
// current decision (for the metrics) and the decision last said in an Event, and when.
type trackedVolume struct {
	policy, pvName, claim string
	current               decision
	said                  decision  // zero until the first decision of an active policy
	saidAt                time.Time // zero until an Event said a decision
	epoch                 uint64    // the reconcile of policy that last saw the volume
}

// decisionChange is a change to say in an Event.
type decisionChange struct {
	volumeID, pvName, claim string
	from, to                decision
	message                 string
}

// DecisionTracker remembers every selected volume's decision, to say in an Event on its PVC
// when the decision changes, at most once per Every per volume, and to export each volume's
// decision at scrape time. It holds one small entry per selected volume (a few hundred bytes),
// dropped when no policy selects the volume any more. In memory only: after a restart the
// first decision of each volume is taken as it is, without an Event.
type DecisionTracker struct {
	// Every is the shortest time between two DecisionChanged Events of one volume.
	Every time.Duration

	mu      sync.Mutex
	epoch   uint64
	volumes map[string]*trackedVolume // by volume id
	// decided holds, for each policy, the ids of the volumes its latest update decided: every
	// volume the policy decided last is among them, so an update sweeps those only (not every
	// volume of every policy). Each list is reused from one update to the next.
	decided map[string][]string
}

// update records a policy's decisions at now and returns the changes to say in Events. A
// volume seen for the first time is recorded silently. A change within Every of the last
// Event of its volume waits: it is said at the first update after Every if it still holds (a
// flap back and forth within Every is never said). Changes already said elsewhere count as
// said: a Move (the MigrationPlanned Event) and an InvalidPin (its Warning Event). A policy
// that is not active says nothing per volume (its Ready condition's Event says why), and its
// volumes' last active decision is kept.
func (t *DecisionTracker) update(policy string, decisions []tiering.VolumeDecision, now time.Time) []decisionChange {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.volumes == nil {
		t.volumes = map[string]*trackedVolume{}
		t.decided = map[string][]string{}
	}
	t.epoch++
	var changes []decisionChange
	for i := range decisions {
		d := &decisions[i]
		cur := decisionOf(d)
		v := t.volumes[d.VolumeID]
		if v == nil {
			v = &trackedVolume{}
			t.volumes[d.VolumeID] = v
		}
		v.policy, v.pvName, v.claim, v.current, v.epoch = policy, d.PVName, d.Claim, cur, t.epoch
		switch {
		case cur.reason == storagev1.ReasonPolicyNotActive || cur == v.said:
			continue
		case v.said == decision{}:
			v.said = cur // first seen: taken as it is
			continue
		}
		if !v.saidAt.IsZero() && now.Sub(v.saidAt) < t.Every {
			continue
		}
		if cur.action != tiering.ActionMove && cur.reason != storagev1.ReasonInvalidPin {
			changes = append(changes, decisionChange{volumeID: d.VolumeID, pvName: d.PVName, claim: d.Claim, from: v.said, to: cur, message: d.Message})
		}
		v.said, v.saidAt = cur, now
	}
	for _, id := range t.decided[policy] {
		if v := t.volumes[id]; v != nil && v.policy == policy && v.epoch != t.epoch {
			delete(t.volumes, id)
		}
	}
	ids := t.decided[policy][:0]
	for i := range decisions {
		ids = append(ids, decisions[i].VolumeID)
	}
	if len(ids) == 0 {
		delete(t.decided, policy)
	} else {
		t.decided[policy] = ids
	}
	// Volumes with a PVC first (their Events are the ones read), then by PVC and volume.
	slices.SortFunc(changes, func(a, b decisionChange) int {
		return cmp.Or(cmp.Compare(boolInt(a.claim == ""), boolInt(b.claim == "")), strings.Compare(a.claim, b.claim), strings.Compare(a.volumeID, b.volumeID))
	})
	return changes
}

// Record records a policy's decisions at now, as a reconcile does, without saying any change.
func (t *DecisionTracker) Record(policy string, decisions []tiering.VolumeDecision, now time.Time) {
	t.update(policy, decisions, now)
}

// forget drops the volumes a deleted policy decided last.
func (t *DecisionTracker) forget(policy string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range t.decided[policy] {
		if v := t.volumes[id]; v != nil && v.policy == policy {
			delete(t.volumes, id)
		}
	}
	delete(t.decided, policy)
}

// len is the number of volumes held.
func (t *DecisionTracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.volumes)
}

var volumeDecisionDesc = prometheus.NewDesc("storage_operator_volume_decision",
	"Always 1, one series per volume a StoragePolicy selects: the policy that decided it last, its PV (pv_name, as Mayastor's exporter labels it), its PVC (claim, namespace/name; empty when unbound), and the decision (Move, Wait, Stay) and its reason at the latest evaluation.",
	[]string{"policy", "pv_name", "claim", "decision", "reason"}, nil)

// collect sends one series per tracked volume.
func (t *DecisionTracker) collect(ch chan<- prometheus.Metric) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, v := range t.volumes {
		ch <- prometheus.MustNewConstMetric(volumeDecisionDesc, prometheus.GaugeValue, 1,
			v.policy, v.pvName, v.claim, string(v.current.action), v.current.reason)
	}
}

// volumeDecisions exports the decisions of the tracker the policy reconciler points it at
// (one per process); it exports nothing before that.
type volumeDecisions struct {
	mu      sync.RWMutex
	tracker *DecisionTracker
}

// VolumeDecisions is the collector of storage_operator_volume_decision, registered with
// controller-runtime's registry.
var VolumeDecisions = &volumeDecisions{}

func init() { crmetrics.Registry.MustRegister(VolumeDecisions) }

// Use exports t's decisions (nil: none).
func (c *volumeDecisions) Use(t *DecisionTracker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tracker = t
}

func (c *volumeDecisions) Describe(ch chan<- *prometheus.Desc) { ch <- volumeDecisionDesc }

func (c *volumeDecisions) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	t := c.tracker
	c.mu.RUnlock()
	if t != nil {
		t.collect(ch)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

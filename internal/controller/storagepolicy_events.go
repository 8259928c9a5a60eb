package controller

import (
	"cmp"
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/tiering"
)

// decisions is the reconciler's DecisionTracker, made on first use when none was given.
func (r *StoragePolicyReconciler) decisions() *DecisionTracker {
	r.decisionsOnce.Do(func() {
		if r.Decisions == nil {
			r.Decisions = &DecisionTracker{Every: cmp.Or(r.DecisionEventInterval, DefaultDecisionEventInterval)}
		}
	})
	return r.Decisions
}

// forgetPolicy drops every series and every remembered decision of a deleted policy.
func (r *StoragePolicyReconciler) forgetPolicy(name string) {
	ForgetPolicy(name)
	r.decisions().forget(name)
}

// sayDecisionChanges emits a DecisionChanged Event on the PVC (or the PV, when unbound) of each
// volume whose decision changed, at most one per volume per DecisionEventInterval, and at most
// maxDecisionEventsPerReconcile of them: the others are said together in one Event on the
// policy.
func (r *StoragePolicyReconciler) sayDecisionChanges(ctx context.Context, policy *storagev1.StoragePolicy, decisions []tiering.VolumeDecision, now time.Time) {
	changes := r.decisions().update(policy.Name, decisions, now)
	for i, c := range changes {
		if i == maxDecisionEventsPerReconcile {
			rest := changes[i:]
			r.Recorder.Eventf(policy, nil, corev1.EventTypeNormal, storagev1.ReasonDecisionChanged, "Evaluate",
				"%d more volumes changed decision (not said on each PVC), e.g. %s: %s → %s; `kubectl couchestor plan` shows every volume's decision",
				len(rest), cmp.Or(rest[0].claim, rest[0].pvName), rest[0].from, rest[0].to)
			return
		}
		var regarding client.Object
		if ns, name, ok := strings.Cut(c.claim, "/"); ok {
			regarding = &corev1.PersistentVolumeClaim{}
			if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, regarding); err != nil {
				continue
			}
		} else {
			regarding = &corev1.PersistentVolume{}
			if err := r.Client.Get(ctx, types.NamespacedName{Name: c.pvName}, regarding); err != nil {
				continue
			}
		}
		r.Recorder.Eventf(regarding, nil, corev1.EventTypeNormal, storagev1.ReasonDecisionChanged, "Evaluate",
			"StoragePolicy %s: %s → %s: %s", policy.Name, c.from, c.to, c.message)
	}
}

// warnBadPins emits a Warning Event on the PVC (or the PV, when unbound) of each volume kept
// where it is by a tier annotation that names no tier, once per value.
func (r *StoragePolicyReconciler) warnBadPins(ctx context.Context, decisions []tiering.VolumeDecision) {
	r.badPinsMu.Lock()
	defer r.badPinsMu.Unlock()
	for i := range decisions {
		d := &decisions[i]
		key := cmp.Or(d.Claim, d.PVName)
		if d.Reason != storagev1.ReasonInvalidPin {
			// Fixed, or excluded: a bad value set later is said again. A policy that is not
			// active read no annotation, and another may have.
			if len(r.badPins) > 0 && d.Reason != storagev1.ReasonPolicyNotActive {
				delete(r.badPins, key)
			}
			continue
		}
		if r.badPins[key] == d.Message {
			continue
		}
		var regarding client.Object
		if ns, name, ok := strings.Cut(d.Claim, "/"); ok {
			regarding = &corev1.PersistentVolumeClaim{}
			if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, regarding); err != nil {
				continue // said at a later reconcile, once the cache has it
			}
		} else {
			regarding = &corev1.PersistentVolume{}
			if err := r.Client.Get(ctx, types.NamespacedName{Name: d.PVName}, regarding); err != nil {
				continue
			}
		}
		r.Recorder.Eventf(regarding, nil, corev1.EventTypeWarning, storagev1.ReasonInvalidPin, "Evaluate", "%s", d.Message)
		if r.badPins == nil {
			r.badPins = map[string]string{}
		}
		r.badPins[key] = d.Message
	}
}

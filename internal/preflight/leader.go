package preflight

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// leaseGrace is how many lease durations may pass since the last renewal before the leader is
// called gone. The leader renews well within one duration (controller-runtime's defaults: a 15s
// lease, renewed every 2s, given up after 10s without success); the second absorbs the skew
// between the leader's clock, which writes renewTime, and the clock of whoever runs the check.
const leaseGrace = 2

// checkLeader reads the leader-election Lease; true when a leader holds it and renewed it
// recently.
func (c *Checker) checkLeader(ctx context.Context, add func(...Result)) bool {
	if c.NoLeaderElection {
		add(Result{Status: Warn, Check: "leader", What: "the operator runs without --leader-elect: there is no Lease to tell whether it is alive (the operator-metrics check shows whether it runs)",
			Fix: "run it with --leader-elect (the chart's config.leaderElect: true, its default)"})
		return false
	}
	leases, where, err := c.leases(ctx)
	if err != nil {
		add(Result{Status: Fail, Check: "leader", What: fmt.Sprintf("read the leader-election Lease %s %s: %s", storagev1.LeaderElectionID, where, oneLine(err.Error())),
			Fix: "the check needs get (list, without --leader-election-namespace) on leases.coordination.k8s.io"})
		return false
	}
	if len(leases) == 0 {
		add(Result{Status: Fail, Check: "leader", What: fmt.Sprintf("no leader-election Lease %s %s: the operator is not running, or runs without --leader-elect", storagev1.LeaderElectionID, where),
			Fix: "kubectl get pods -A -l app.kubernetes.io/name=couchestor; an operator run without --leader-elect has no Lease: say so with --leader-elect=false"})
		return false
	}
	held := false
	now := c.now()
	for i := range leases {
		l := &leases[i]
		name := l.Namespace + "/" + l.Name
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		duration := 15 * time.Second
		if l.Spec.LeaseDurationSeconds != nil && *l.Spec.LeaseDurationSeconds > 0 {
			duration = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
		}
		pods := fmt.Sprintf("kubectl -n %s get pods -l app.kubernetes.io/name=couchestor; kubectl -n %s logs deploy/<release>-controller-manager", l.Namespace, l.Namespace)
		switch {
		case holder == "":
			add(Result{Status: Fail, Check: "leader", What: fmt.Sprintf("Lease %s is held by no one: no operator replica leads (the last one released it)", name), Fix: pods})
		case l.Spec.RenewTime == nil:
			add(Result{Status: Fail, Check: "leader", What: fmt.Sprintf("Lease %s is held by %s but was never renewed", name, holder), Fix: pods})
		default:
			age := now.Sub(l.Spec.RenewTime.Time)
			if age > leaseGrace*duration {
				add(Result{Status: Fail, Check: "leader", What: fmt.Sprintf("Lease %s is held by %s, last renewed %s ago (lease %s): the leader is gone", name, holder, age.Round(time.Second), duration), Fix: pods})
				continue
			}
			held = true
			add(Result{Status: OK, Check: "leader", What: fmt.Sprintf("leader %s renewed the Lease %s %s ago", holder, name, max(age, 0).Round(time.Second))})
		}
	}
	return held
}

// leases finds the operator's Lease: in LeaseNamespace, or in every namespace when that is empty
// (several installs give several).
func (c *Checker) leases(ctx context.Context) ([]coordinationv1.Lease, string, error) {
	if c.LeaseNamespace != "" {
		where := "in namespace " + c.LeaseNamespace
		var l coordinationv1.Lease
		err := c.Kube.Get(ctx, client.ObjectKey{Namespace: c.LeaseNamespace, Name: storagev1.LeaderElectionID}, &l)
		if apierrors.IsNotFound(err) {
			return nil, where, nil
		}
		if err != nil {
			return nil, where, err
		}
		return []coordinationv1.Lease{l}, where, nil
	}
	var list coordinationv1.LeaseList
	if err := c.Kube.List(ctx, &list, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", storagev1.LeaderElectionID)}); err != nil {
		return nil, "in any namespace", err
	}
	slices.SortFunc(list.Items, func(a, b coordinationv1.Lease) int { return strings.Compare(a.Namespace, b.Namespace) })
	return list.Items, "in any namespace", nil
}

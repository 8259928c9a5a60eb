// Package approval approves and rejects TierMigrations waiting for approval (a policy with
// approval: Manual creates them in phase WaitingApproval). It sets the annotations the
// migration controller acts on — storage.billyronks.io/approved and .../rejected — exactly as a
// person or a GitOps tool may, so a CLI (kubectl couchestor approve|reject) calls these
// functions and nothing else.
package approval

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// Waiting reports whether tm waits for approval: in phase WaitingApproval, or created needing
// approval and not yet accepted.
func Waiting(tm *storagev1.TierMigration) bool {
	return tm.Status.Phase == storagev1.PhaseWaitingApproval || tm.Status.Phase == "" && tm.Spec.ApprovalRequired
}

// ApproveByName approves the TierMigration name, which must be waiting for approval.
func ApproveByName(ctx context.Context, c client.Client, name string) error {
	return annotate(ctx, c, name, storagev1.AnnotationApproved)
}

// Reject rejects the TierMigration name, which must be waiting for approval: it ends Failed with
// reason Rejected and nothing is moved.
func Reject(ctx context.Context, c client.Client, name string) error {
	return annotate(ctx, c, name, storagev1.AnnotationRejected)
}

// ApprovePolicy approves every TierMigration of the StoragePolicy policy that waits for
// approval and is not rejected, and returns their names, sorted. It stops at the first error, returning the names
// approved so far.
func ApprovePolicy(ctx context.Context, c client.Client, policy string) ([]string, error) {
	var list storagev1.TierMigrationList
	if err := c.List(ctx, &list, client.MatchingLabels{storagev1.LabelPolicy: policy}); err != nil {
		return nil, fmt.Errorf("list TierMigrations of StoragePolicy %s: %w", policy, err)
	}
	var names []string
	for i := range list.Items {
		if tm := &list.Items[i]; Waiting(tm) && tm.Spec.PolicyName == policy && tm.Annotations[storagev1.AnnotationRejected] != "true" {
			names = append(names, tm.Name)
		}
	}
	slices.Sort(names)
	for i, n := range names {
		if err := ApproveByName(ctx, c, n); err != nil {
			return names[:i], err
		}
	}
	return names, nil
}

// annotate sets key="true" on a waiting TierMigration with a merge patch guarded by its
// resourceVersion, so that a migration that stopped waiting meanwhile is not annotated.
func annotate(ctx context.Context, c client.Client, name, key string) error {
	var tm storagev1.TierMigration
	if err := c.Get(ctx, types.NamespacedName{Name: name}, &tm); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("TierMigration %s not found", name)
		}
		return fmt.Errorf("get TierMigration %s: %w", name, err)
	}
	if !Waiting(&tm) {
		phase := tm.Status.Phase
		if phase == "" {
			phase = "(new, no approval required)"
		}
		return fmt.Errorf("TierMigration %s is not waiting for approval: its phase is %s", name, phase)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": tm.ResourceVersion,
		"annotations":     map[string]string{key: "true"},
	}})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, &tm, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("TierMigration %s changed while it was being annotated: look again and retry: %w", name, err)
		}
		return fmt.Errorf("annotate TierMigration %s %s=true: %w", name, key, err)
	}
	return nil
}

package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/billyronks/couchestor/internal/approval"
)

type approveOptions struct {
	*Options
	policy string
}

// newApproveCommand approves TierMigrations waiting for approval (Manual StoragePolicies), by
// name or every one of a policy: it sets the annotation GitOps can set too.
func newApproveCommand(o *Options) *cobra.Command {
	ao := &approveOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "approve NAME | --policy P",
		Short: "Approve TierMigrations waiting for approval (StoragePolicies with approval: Manual)",
		Long: `approve sets storage.billyronks.io/approved="true" on a TierMigration in phase WaitingApproval
(or on every waiting one of --policy), the annotation a GitOps tool can set as well. The migration
then waits for a slot and runs. Migrations not waiting for approval are refused.`,
		Example: `  kubectl couchestor approve nvme-0c4f3a52-7d1e-4b6a-9a0e-000000000001-29934659
  kubectl couchestor approve --policy gold`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeMigrations(o, true),
		RunE:              func(cmd *cobra.Command, args []string) error { return ao.run(cmd.Context(), args) },
	}
	cmd.Flags().StringVar(&ao.policy, "policy", "", "approve every TierMigration of this StoragePolicy waiting for approval")
	_ = cmd.RegisterFlagCompletionFunc("policy", completePolicies(o))
	return cmd
}

func (ao *approveOptions) run(ctx context.Context, args []string) error {
	if (len(args) == 1) == (ao.policy != "") {
		return usageErrorf("give a TierMigration name or --policy, not both or neither")
	}
	ctx, cancel := ao.context(ctx)
	defer cancel()
	c, _, err := ao.client()
	if err != nil {
		return err
	}
	if ao.policy != "" {
		names, err := approval.ApprovePolicy(ctx, c, ao.policy)
		if err != nil {
			return fmt.Errorf("%s", oneLine(err.Error()))
		}
		if len(names) == 0 {
			fmt.Fprintf(ao.Out, "no TierMigration of StoragePolicy %s is waiting for approval\n", ao.policy)
		}
		for _, n := range names {
			fmt.Fprintf(ao.Out, "tiermigration.storage.billyronks.io/%s approved\n", n)
		}
		return nil
	}
	if err := approval.ApproveByName(ctx, c, args[0]); err != nil {
		return notFoundOr(err, "TierMigration %q not found", args[0])
	}
	fmt.Fprintf(ao.Out, "tiermigration.storage.billyronks.io/%s approved\n", args[0])
	return nil
}

// newRejectCommand rejects one TierMigration waiting for approval.
func newRejectCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:               "reject NAME",
		Short:             "Reject a TierMigration waiting for approval (it ends Failed, reason Rejected)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeMigrations(o, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := o.context(cmd.Context())
			defer cancel()
			c, _, err := o.client()
			if err != nil {
				return err
			}
			if err := approval.Reject(ctx, c, args[0]); err != nil {
				return notFoundOr(err, "TierMigration %q not found", args[0])
			}
			fmt.Fprintf(o.Out, "tiermigration.storage.billyronks.io/%s rejected\n", args[0])
			return nil
		},
	}
}

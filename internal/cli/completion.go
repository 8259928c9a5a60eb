package cli

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// Shell completion: `kubectl couchestor completion bash|zsh|fish|powershell` is cobra's, and
// kubectl (1.26 and later) completes `kubectl couchestor ...` by running the
// kubectl_complete-couchestor script shipped beside the binary, which asks the binary's hidden
// __complete command. Both end in the functions below.

// registerConfigFlagCompletions completes --namespace from the cluster and --context, --cluster
// and --user from the kubeconfig, as kubectl does.
func registerConfigFlagCompletions(root *cobra.Command, o *Options) {
	_ = root.RegisterFlagCompletionFunc("namespace", func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		c, _, err := o.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var list corev1.NamespaceList
		if err := c.List(cmd.Context(), &list); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, ns := range list.Items {
			if strings.HasPrefix(ns.Name, toComplete) {
				out = append(out, ns.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
	fromKubeconfig := func(names func(contexts, clusters, users []string) []string) cobra.CompletionFunc {
		return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			raw, err := o.configFlags().ToRawKubeConfigLoader().RawConfig()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, n := range names(keys(raw.Contexts), keys(raw.Clusters), keys(raw.AuthInfos)) {
				if strings.HasPrefix(n, toComplete) {
					out = append(out, n)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
	}
	_ = root.RegisterFlagCompletionFunc("context", fromKubeconfig(func(c, _, _ []string) []string { return c }))
	_ = root.RegisterFlagCompletionFunc("cluster", fromKubeconfig(func(_, c, _ []string) []string { return c }))
	_ = root.RegisterFlagCompletionFunc("user", fromKubeconfig(func(_, _, u []string) []string { return u }))
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// completeClaims completes the one pvc/... argument of move and plan: "pvc/" first, then the
// PVCs of the namespace (-n, else the context's) as pvc/NAME, of a namespace typed as
// pvc/NAMESPACE/..., or of every namespace as pvc/NAMESPACE/NAME with -A.
func completeClaims(o *Options) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		kind, rest, ok := strings.Cut(toComplete, "/")
		if !ok {
			if strings.HasPrefix("pvc/", strings.ToLower(toComplete)) {
				return []cobra.Completion{"pvc/"}, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, _, err := o.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var opts []client.ListOption
		qualified := o.AllNamespaces
		if ns, _, typed := strings.Cut(rest, "/"); typed {
			opts, qualified = append(opts, client.InNamespace(ns)), true
		} else if !o.AllNamespaces {
			opts = append(opts, client.InNamespace(o.namespace()))
		}
		var list corev1.PersistentVolumeClaimList
		if err := c.List(cmd.Context(), &list, opts...); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, pvc := range list.Items {
			ref := pvc.Name
			if qualified {
				ref = pvc.Namespace + "/" + pvc.Name
			}
			if strings.HasPrefix(ref, rest) {
				out = append(out, kind+"/"+ref)
			}
		}
		slices.Sort(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeMigrations completes TierMigration names; with waiting, only those waiting for
// approval (approve, reject).
func completeMigrations(o *Options, waiting bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, _, err := o.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var list storagev1.TierMigrationList
		if err := c.List(cmd.Context(), &list); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, tm := range list.Items {
			if waiting && tm.Status.Phase != storagev1.PhaseWaitingApproval {
				continue
			}
			if strings.HasPrefix(tm.Name, toComplete) {
				out = append(out, tm.Name)
			}
		}
		slices.Sort(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

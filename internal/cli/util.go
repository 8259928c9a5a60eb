package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// clockFunc is a clock.PassiveClock reading a function (the options' clock).
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time                  { return f() }
func (f clockFunc) Since(t time.Time) time.Duration { return f().Sub(t) }

func clientKey(namespace, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: namespace, Name: name}
}

// notFoundOr turns NotFound into the sentence given, and any other API error into one line.
func notFoundOr(err error, format string, args ...any) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf(format, args...)
	}
	return fmt.Errorf("%s", oneLine(err.Error()))
}

// printStructured prints a report as json, yaml or jsonpath=TEMPLATE (checkOutput has
// accepted format).
func printStructured(w io.Writer, format string, v any) error {
	if tmpl, ok := strings.CutPrefix(format, "jsonpath="); ok {
		jp, err := parseJSONPath(tmpl)
		if err != nil {
			return err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var data any
		if err := json.Unmarshal(b, &data); err != nil {
			return err
		}
		if err := jp.Execute(w, data); err != nil {
			return fmt.Errorf("--output: %s", oneLine(err.Error()))
		}
		return nil
	}
	if format == "yaml" {
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseJSONPath reads a kubectl JSONPath template ({.a.b} or .a.b).
func parseJSONPath(tmpl string) (*jsonpath.JSONPath, error) {
	if !strings.Contains(tmpl, "{") {
		tmpl = "{" + tmpl + "}"
	}
	jp := jsonpath.New("output").AllowMissingKeys(true)
	if err := jp.Parse(tmpl); err != nil {
		return nil, fmt.Errorf("jsonpath %q: %w", tmpl, err)
	}
	return jp, nil
}

// completePolicies completes StoragePolicy names from the cluster.
func completePolicies(o *Options) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		c, _, err := o.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var list storagev1.StoragePolicyList
		if err := c.List(cmd.Context(), &list); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, p := range list.Items {
			if strings.HasPrefix(p.Name, toComplete) {
				out = append(out, p.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// humanDuration prints a duration the way kubectl prints ages: 45s, 12m, 3h4m, 2d3h.
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + humanDuration(-d)
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		m, s := int(d.Minutes()), int(d.Seconds())%60
		if s == 0 || m >= 10 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm%ds", m, s)
	case d < 48*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	days, h := int(d.Hours())/24, int(d.Hours())%24
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, h)
}

// claimedMayastorVolume is the Mayastor PersistentVolume PVC namespace/name is bound to, or a
// one-line error saying why there is none.
func claimedMayastorVolume(ctx context.Context, c client.Reader, ns, name string) (*corev1.PersistentVolume, error) {
	var pvc corev1.PersistentVolumeClaim
	if err := c.Get(ctx, clientKey(ns, name), &pvc); err != nil {
		return nil, notFoundOr(err, "PersistentVolumeClaim %s/%s not found", ns, name)
	}
	if pvc.Spec.VolumeName == "" {
		return nil, fmt.Errorf("PersistentVolumeClaim %s/%s is not bound to a PersistentVolume yet", ns, name)
	}
	var pv corev1.PersistentVolume
	if err := c.Get(ctx, clientKey("", pvc.Spec.VolumeName), &pv); err != nil {
		return nil, notFoundOr(err, "PersistentVolume %s of PersistentVolumeClaim %s/%s not found", pvc.Spec.VolumeName, ns, name)
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != storagev1.MayastorCSIDriver {
		return nil, fmt.Errorf("PersistentVolumeClaim %s/%s is bound to %s, which is not a Mayastor volume (CSI driver %s)", ns, name, pv.Name, storagev1.MayastorCSIDriver)
	}
	if ref := pv.Spec.ClaimRef; ref != nil && (ref.Namespace != ns || ref.Name != name) {
		return nil, fmt.Errorf("PersistentVolume %s is bound to %s/%s, not to %s/%s", pv.Name, ref.Namespace, ref.Name, ns, name)
	}
	return &pv, nil
}

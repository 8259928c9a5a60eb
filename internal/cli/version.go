package cli

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/billyronks/couchestor/internal/version"
)

type versionOptions struct {
	*Options
	clientOnly bool
	output     string
}

// VersionReport is version's JSON and YAML output.
type VersionReport struct {
	Client string `json:"clientVersion"`
	// Server is the API server's gitVersion; Operator the CoucheStor Deployments found (by the
	// label app.kubernetes.io/name=couchestor).
	Server      string            `json:"serverVersion,omitempty"`
	Operators   []OperatorVersion `json:"operators,omitempty"`
	ServerError string            `json:"serverError,omitempty"`
}

// OperatorVersion is one CoucheStor Deployment.
type OperatorVersion struct {
	Deployment string `json:"deployment"`
	// Version is the label app.kubernetes.io/version, else the image's tag.
	Version string `json:"version"`
	Image   string `json:"image"`
}

func newVersionCommand(o *Options) *cobra.Command {
	vo := &versionOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "The plugin's version, the API server's and the operator's",
		Long: `version prints the plugin's version and, unless --client, the API server's and that of each
CoucheStor Deployment (labelled app.kubernetes.io/name=couchestor; its app.kubernetes.io/version
label, else its image's tag). A cluster out of reach is a line in the output, not a failure.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return vo.run(cmd.Context()) },
	}
	cmd.Flags().BoolVar(&vo.clientOnly, "client", false, "the plugin's version only; do not contact the cluster")
	outputFlag(cmd.Flags(), cmd, &vo.output)
	return cmd
}

func (vo *versionOptions) run(ctx context.Context) error {
	if err := checkOutput(vo.output); err != nil {
		return err
	}
	r := VersionReport{Client: strings.TrimPrefix(version.String(Name), Name+" ")}
	if !vo.clientOnly {
		ctx, cancel := vo.context(ctx)
		defer cancel()
		if err := vo.server(ctx, &r); err != nil {
			r.ServerError = oneLine(err.Error())
		}
	}
	if vo.output != "table" {
		return printStructured(vo.Out, vo.output, r)
	}
	fmt.Fprintf(vo.Out, "Client Version: %s\n", r.Client)
	if vo.clientOnly {
		return nil
	}
	if r.ServerError != "" {
		fmt.Fprintf(vo.Out, "Server Version: unknown (%s)\n", r.ServerError)
		return nil
	}
	fmt.Fprintf(vo.Out, "Server Version: %s\n", r.Server)
	if len(r.Operators) == 0 {
		fmt.Fprintln(vo.Out, "Operator Version: unknown (no Deployment labelled app.kubernetes.io/name=couchestor readable)")
	}
	for _, op := range r.Operators {
		fmt.Fprintf(vo.Out, "Operator Version: %s (Deployment %s, image %s)\n", op.Version, op.Deployment, op.Image)
	}
	return nil
}

func (vo *versionOptions) server(ctx context.Context, r *VersionReport) error {
	c, rc, err := vo.client()
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return err
	}
	info, err := dc.ServerVersion()
	if err != nil {
		return err
	}
	r.Server = info.GitVersion
	// The operator's version is a best effort: a user who may not list Deployments still gets
	// the rest.
	var list appsv1.DeploymentList
	if err := c.List(ctx, &list, client.MatchingLabels{"app.kubernetes.io/name": "couchestor"}); err != nil {
		return nil
	}
	for _, d := range list.Items {
		image := ""
		if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
			image = cs[0].Image
		}
		r.Operators = append(r.Operators, OperatorVersion{Deployment: d.Namespace + "/" + d.Name, Image: image,
			Version: cmp.Or(d.Labels["app.kubernetes.io/version"], imageTag(image), "unknown")})
	}
	slices.SortFunc(r.Operators, func(a, b OperatorVersion) int { return strings.Compare(a.Deployment, b.Deployment) })
	return nil
}

// imageTag is the tag of an image reference (registry:port/repo:tag@digest), "" when none.
func imageTag(image string) string {
	image, _, _ = strings.Cut(image, "@")
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[colon+1:]
	}
	return ""
}

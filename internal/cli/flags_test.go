package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// kubectl's flags, which every command takes (a command registered in NewCommand inherits them).
var standardFlags = []string{"kubeconfig", "context", "cluster", "user", "server", "token", "as", "as-group", "as-uid",
	"namespace", "request-timeout", "certificate-authority", "insecure-skip-tls-verify", "all-namespaces", "timeout"}

func TestEveryCommandTakesKubectlFlags(t *testing.T) {
	root := NewCommand(&Options{})
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			for _, name := range standardFlags {
				if sub.InheritedFlags().Lookup(name) == nil && sub.Flags().Lookup(name) == nil {
					t.Errorf("%s lacks --%s", sub.CommandPath(), name)
				}
			}
			walk(sub)
		}
	}
	walk(root)
	for short, long := range map[string]string{"n": "namespace", "A": "all-namespaces", "s": "server"} {
		if f := root.PersistentFlags().ShorthandLookup(short); f == nil || f.Name != long {
			t.Errorf("-%s is not --%s: %v", short, long, f)
		}
	}
}

const testKubeconfig = `apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: dev
  context: {cluster: one, user: alice, namespace: from-context}
- name: prod
  context: {cluster: two, user: alice}
clusters:
- name: one
  cluster: {server: "https://one.example:6443"}
- name: two
  cluster: {server: "https://two.example:6443"}
users:
- name: alice
  user: {token: alice-token}
- name: bob
  user: {token: bob-token}
`

// parse parses args as the command they name does, without running it.
func parse(t *testing.T, args ...string) *Options {
	t.Helper()
	o := &Options{}
	root := NewCommand(o)
	sub, rest, err := root.Find(args)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.ParseFlags(rest); err != nil {
		t.Fatal(err)
	}
	return o
}

// The flags mean what they mean in kubectl: the context's namespace unless -n, the context's
// cluster and user unless --cluster, --server, --user, --token; --as and --as-group impersonate.
func TestKubectlFlagsReachTheRESTConfig(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte(testKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	o := parse(t, "status", "--kubeconfig", kubeconfig)
	rc, err := o.restConfig()
	if err != nil || rc.Host != "https://one.example:6443" || rc.BearerToken != "alice-token" || o.namespace() != "from-context" ||
		o.namespaceScope() != "from-context" || rc.Timeout != 0 {
		t.Fatalf("the kubeconfig's current context: %v %+v, namespace %q", err, rc, o.namespace())
	}
	o = parse(t, "move", "--kubeconfig", kubeconfig, "--context", "prod")
	if rc, _ := o.restConfig(); rc.Host != "https://two.example:6443" || o.namespace() != "default" {
		t.Errorf("--context prod: host %q, namespace %q", rc.Host, o.namespace())
	}
	o = parse(t, "plan", "--kubeconfig", kubeconfig, "-n", "shop", "--cluster", "two", "--user", "bob", "--as", "carol",
		"--as-group", "g1", "--as-group", "g2", "--request-timeout", "7s", "-A")
	rc, err = o.restConfig()
	if err != nil || rc.Host != "https://two.example:6443" || rc.BearerToken != "bob-token" || rc.Impersonate.UserName != "carol" ||
		strings.Join(rc.Impersonate.Groups, ",") != "g1,g2" || rc.Timeout.Seconds() != 7 || o.namespace() != "shop" || o.namespaceScope() != "" {
		t.Errorf("flags: %v %+v, namespace %q, all namespaces %v", err, rc, o.namespace(), o.AllNamespaces)
	}
	o = parse(t, "status", "--kubeconfig", kubeconfig, "--server", "https://three.example", "--token", "t0k")
	if rc, _ := o.restConfig(); rc.Host != "https://three.example" || rc.BearerToken != "t0k" {
		t.Errorf("--server --token: %+v", rc)
	}
}

func TestParseDryRun(t *testing.T) {
	for _, ok := range []string{"none", "server", "client"} {
		if got, err := parseDryRun(ok); err != nil || got != ok {
			t.Errorf("%s: %q %v", ok, got, err)
		}
	}
	for _, bad := range []string{"unchanged", "", "true", "Server"} {
		if _, err := parseDryRun(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestImageTag(t *testing.T) {
	for in, want := range map[string]string{
		"ghcr.io/billyronks/couchestor:0.3.0":     "0.3.0",
		"localhost:5000/couchestor":               "",
		"localhost:5000/couchestor:v1@sha256:abc": "v1",
		"couchestor": "",
		"registry.example:443/team/couchestor:1.2.3-rc": "1.2.3-rc",
	} {
		if got := imageTag(in); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

// Reports (plan, backtest, version) take -o jsonpath= as well as json and yaml.
func TestReportOutput(t *testing.T) {
	for _, ok := range []string{"table", "json", "yaml", "jsonpath={.policies[*].name}", "jsonpath=.taken"} {
		if err := checkOutput(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"xml", "wide", "jsonpath={.unclosed", ""} {
		if err := checkOutput(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	var buf bytes.Buffer
	report := PlanReport{Taken: "now", Policies: []PolicyReport{{Name: "a"}, {Name: "b"}}}
	if err := printStructured(&buf, "jsonpath={.policies[*].name}", report); err != nil || buf.String() != "a b" {
		t.Errorf("jsonpath: %q %v", buf.String(), err)
	}
}

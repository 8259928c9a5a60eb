package chart

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// notValues are the flags that are not settings of a running operator.
var notValues = map[string]string{
	"help":    "prints the usage",
	"version": "prints the version and exits",
}

// operatorFlags builds cmd/couchestor and returns the flag names its --help lists (Go's flag
// package and pflag/cobra layouts both parse).
func operatorFlags(t *testing.T) []string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "couchestor")
	build := exec.Command("go", "build", "-o", bin, "./cmd/couchestor")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/couchestor: %v\n%s", err, out)
	}
	var out bytes.Buffer
	help := exec.Command(bin, "--help")
	help.Stdout, help.Stderr = &out, &out
	_ = help.Run() // Go's flag package exits 0 or 2 on --help depending on the caller
	return parseHelpFlags(out.String())
}

// A flag line: spaces (never a tab: Go's flag package indents usage text with one), an
// optional shorthand, then -name or --name.
var flagLine = regexp.MustCompile(`^ +(?:-[a-zA-Z], )?--?([a-z][a-z0-9-]*)(?:[ =]|$)`)

func parseHelpFlags(help string) []string {
	seen := map[string]bool{}
	var flags []string
	for _, line := range strings.Split(help, "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil && !seen[m[1]] {
			seen[m[1]] = true
			flags = append(flags, m[1])
		}
	}
	sort.Strings(flags)
	return flags
}

func TestParseHelpFlags(t *testing.T) {
	goFlag := "Usage of couchestor:\n  -dry-run\n    \tglobal dry-run mode\n  -log-level string\n    \t-x is not a flag (default \"info\")\n"
	pflag := "Flags:\n      --dry-run            global dry-run mode\n  -h, --help               help\n      --log-level string   verbosity\n"
	for name, help := range map[string]string{"flag": goFlag, "pflag": pflag} {
		got := parseHelpFlags(help)
		want := []string{"dry-run", "log-level"}
		if name == "pflag" {
			want = []string{"dry-run", "help", "log-level"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s layout: got %v, want %v", name, got, want)
		}
	}
}

// valueKey is the values.yaml key of a flag: config.<lowerCamelCase name>.
func valueKey(flag string) string {
	parts := strings.Split(flag, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

func chartValues(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal(readFile(t, "charts/couchestor/values.yaml"), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Every flag of the built operator is a value under config, and every key there is a flag: a flag
// added to the operator without a chart value fails here.
func TestEveryOperatorFlagIsAValue(t *testing.T) {
	flags := operatorFlags(t)
	if len(flags) < 10 {
		t.Fatalf("found only %d flags in couchestor --help: %v", len(flags), flags)
	}
	config, _ := chartValues(t)["config"].(map[string]any)
	if config == nil {
		t.Fatal("values.yaml has no config map")
	}
	var schema struct {
		Properties struct {
			Config struct {
				Properties map[string]any `json:"properties"`
			} `json:"config"`
		} `json:"properties"`
	}
	if err := yaml.Unmarshal(readFile(t, "charts/couchestor/values.schema.json"), &schema); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, f := range flags {
		if _, skip := notValues[f]; skip {
			continue
		}
		want[valueKey(f)] = f
		if _, ok := config[valueKey(f)]; !ok {
			t.Errorf("--%s has no value: add config.%s to charts/couchestor/values.yaml (and values.schema.json)", f, valueKey(f))
		}
		if _, ok := schema.Properties.Config.Properties[valueKey(f)]; !ok {
			t.Errorf("--%s: values.schema.json has no properties.config.properties.%s", f, valueKey(f))
		}
	}
	for k := range config {
		if _, ok := want[k]; !ok {
			t.Errorf("values.yaml config.%s names no flag of couchestor --help (flags: %v)", k, flags)
		}
	}
	for k := range schema.Properties.Config.Properties {
		if _, ok := want[k]; !ok {
			t.Errorf("values.schema.json config.%s names no flag of couchestor --help", k)
		}
	}
}

// The chart's appVersion (the default image tag) is the repository's VERSION, and the CRDs the
// chart installs are the ones `make manifests` generates.
func TestChartVersionAndCRDsFollowTheRepository(t *testing.T) {
	version := strings.TrimSpace(string(readFile(t, "VERSION")))
	var chart struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(readFile(t, "charts/couchestor/Chart.yaml"), &chart); err != nil {
		t.Fatal(err)
	}
	if chart.AppVersion != version {
		t.Errorf("Chart.yaml appVersion %q, VERSION %q: set appVersion (and version) to VERSION", chart.AppVersion, version)
	}
	gen, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(gen) == 0 {
		t.Fatalf("no generated CRDs: %v", err)
	}
	inChart, _ := filepath.Glob(filepath.Join(chartDir, "files", "crds", "*.yaml"))
	if len(inChart) != len(gen) {
		t.Errorf("charts/couchestor/files/crds has %d files, config/crd/bases %d: run make manifests", len(inChart), len(gen))
	}
	for _, g := range gen {
		c, err := os.ReadFile(filepath.Join(chartDir, "files", "crds", filepath.Base(g)))
		if err != nil {
			t.Errorf("%v: run make manifests", err)
			continue
		}
		if want, _ := os.ReadFile(g); !bytes.Equal(c, want) {
			t.Errorf("charts/couchestor/files/crds/%s differs from the generated one: run make manifests", filepath.Base(g))
		}
	}
	// Helm would install a crds/ directory on its own, beside the templated CRDs.
	if _, err := os.Stat(filepath.Join(chartDir, "crds")); err == nil {
		t.Error("charts/couchestor/crds exists: the CRDs are templates (templates/crds.yaml from files/crds)")
	}
}

func TestLint(t *testing.T) {
	for name, args := range map[string][]string{
		"defaults":    {"lint", "--strict", chartDir},
		"all options": {"lint", "--strict", chartDir, "-f", allOptions()},
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := helm(t, args...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// values.schema.json refuses bad values before anything is rendered, and accepts good ones.
func TestSchemaRefusesBadValues(t *testing.T) {
	bad := map[string]string{
		"unknown top-level key":             "replicas=2",
		"unknown config key":                "config.prometheusURL=http://p:9090",
		"URL without scheme":                "config.prometheusUrl=prometheus:9090",
		"URL with credentials":              "config.mayastorUrl=http://u:p@mayastor:8081",
		"zero duration":                     "config.prometheusTimeout=0s",
		"not a duration":                    "config.cordonSweepInterval=30",
		"zero migrations":                   "config.maxConcurrentMigrations=0",
		"negative retention count":          "config.finishedMigrationsPerVolume=-1",
		"string for an integer":             "config.migrationTimeoutMinutes=thirty",
		"unknown log level":                 "config.logLevel=verbose",
		"string for a boolean":              "config.dryRun=yes",
		"bind address without port":         "config.metricsBindAddress=localhost",
		"health address 0":                  "config.healthProbeBindAddress=0",
		"relative token file":               "config.prometheusBearerTokenFile=token",
		"IOPS query without window":         "config.iopsQuery=rate(x[5m])",
		"basic auth user without password":  "config.prometheusBasicAuthUsername=me",
		"CA file with http Prometheus":      "config.prometheusCaFile=/etc/ca.pem",
		"bearer token and basic auth":       "config.prometheusBearerTokenFile=/t,config.prometheusBasicAuthUsername=me,config.prometheusBasicAuthPasswordFile=/p",
		"bad namespace":                     "config.leaderElectionNamespace=Kube_System",
		"bad pull policy":                   "image.pullPolicy=Sometimes",
		"empty repository":                  "image.repository=",
		"bad digest":                        "image.digest=latest",
		"negative replicas":                 "replicaCount=-1",
		"bad memory quantity":               "resources.limits.memory=lots",
		"bad service port":                  "metricsService.port=70000",
		"bad PDB percentage":                "podDisruptionBudget.maxUnavailable=half",
		"bad GOMEMLIMIT":                    "goMemLimit=200M",
		"extra argument that is not a flag": "extraArgs[0]=positional",
	}
	for name, set := range bad {
		t.Run(name, func(t *testing.T) {
			out, err := helm(t, "template", releaseName, chartDir, "-n", releaseNS, "--set", set)
			if err == nil {
				t.Fatalf("--set %s was accepted:\n%s", set, firstLines(out, 5))
			}
			if !strings.Contains(err.Error(), "schema") {
				t.Errorf("--set %s refused, but not by the schema: %v", set, err)
			}
		})
	}
	good := []string{
		"config.prometheusUrl=https://thanos.monitoring:10902/prefix",
		"config.prometheusTimeout=1m30s",
		"config.metricsBindAddress=0",
		"config.pprofBindAddress=127.0.0.1:6060",
		"config.prometheusBasicAuthUsername=me,config.prometheusBasicAuthPasswordFile=/secrets/password",
		"config.prometheusCaFile=/ca/ca.pem,config.prometheusUrl=https://prometheus:9090",
		"config.iopsQuery=",
		"podDisruptionBudget.maxUnavailable=50%",
		"image.digest=sha256:" + strings.Repeat("ab", 32),
		"replicaCount=3",
	}
	for _, set := range good {
		if _, err := helm(t, "template", releaseName, chartDir, "-n", releaseNS, "--set", set); err != nil {
			t.Errorf("--set %s was refused: %v", set, err)
		}
	}
	// A rule the schema cannot say: several replicas need leader election.
	if _, err := helm(t, "template", releaseName, chartDir, "--set", "replicaCount=2,config.leaderElect=false"); err == nil ||
		!strings.Contains(err.Error(), "leaderElect") {
		t.Errorf("replicaCount=2 without leader election: want a refusal naming leaderElect, got %v", err)
	}
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	_ "github.com/billyronks/couchestor/internal/controller" // registers the operator's metrics
	"github.com/billyronks/couchestor/internal/operator"
)

// section returns the Markdown section of md under the heading line, up to the next heading of
// the same or a higher level.
func section(t *testing.T, md, heading string) string {
	t.Helper()
	level := strings.IndexByte(heading, ' ')
	_, rest, ok := strings.Cut(md, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("no heading %q", heading)
	}
	for i := 1; i <= level; i++ {
		if end := strings.Index(rest, "\n"+strings.Repeat("#", i)+" "); end >= 0 {
			rest = rest[:end]
		}
	}
	return rest
}

// TestEveryOperatorFlagIsDocumented: every flag of cmd/couchestor (internal/operator's flag set,
// the Prometheus flags included) has a row in README.md's flag table.
func TestEveryOperatorFlagIsDocumented(t *testing.T) {
	root := repoRoot(t)
	table := section(t, read(t, filepath.Join(root, "README.md")), "## Operator flags")
	n := 0
	operator.NewFlagSet("couchestor", &operator.Config{}).VisitAll(func(f *pflag.Flag) {
		n++
		if !strings.Contains(table, "`--"+f.Name+"`") {
			t.Errorf("README.md's Operator flags table has no `--%s` (%s)", f.Name, f.Usage)
		}
	})
	if n < 25 {
		t.Fatalf("only %d operator flags: did the flag set move?", n)
	}
}

var metricLiteralRE = regexp.MustCompile(`"((?:storage_operator|couchestor)_[a-z_]+)"`)

// operatorMetricNames are the metric names the operator's Go code holds (every metric it
// registers is named by such a literal), checked against what its registry exports.
func operatorMetricNames(t *testing.T, root string) []string {
	t.Helper()
	var names []string
	for _, dir := range []string{"internal", "cmd/couchestor"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			for _, m := range metricLiteralRE.FindAllStringSubmatch(read(t, path), -1) {
				if !slices.Contains(names, m[1]) {
					names = append(names, m[1])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// What the registry exports from start-up must be among them, or the scan misses names.
	fams, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := 0
	for _, f := range fams {
		if name := f.GetName(); metricLiteralRE.MatchString(`"` + name + `"`) {
			exported++
			if !slices.Contains(names, name) {
				t.Errorf("the registry exports %s, which no string literal of internal/ names: the scan misses a way metrics are named", name)
			}
		}
	}
	if exported < 10 || len(names) < 25 {
		t.Fatalf("%d metric names found in the code, %d exported at start-up: did the metrics move?", len(names), exported)
	}
	slices.Sort(names)
	return names
}

// TestEveryMetricIsDocumented: every metric the operator registers has a row in
// docs/metrics-alerts.md's Metrics section.
func TestEveryMetricIsDocumented(t *testing.T) {
	root := repoRoot(t)
	doc := section(t, read(t, filepath.Join(root, "docs", "metrics-alerts.md")), "## Metrics")
	for _, name := range operatorMetricNames(t, root) {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/metrics-alerts.md's Metrics section does not list `%s`", name)
		}
	}
}

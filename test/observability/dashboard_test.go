package observability

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type dashboardJSON struct {
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type expression struct{ where, expr string }

func dashboardExpressions(t *testing.T) (exprs []expression, variableMetrics []expression) {
	t.Helper()
	var d dashboardJSON
	if err := json.Unmarshal(readRepoFile(t, dashboardFile), &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, expression{fmt.Sprintf("panel %q query %s", p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		m := labelValuesRE.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, q)
			continue
		}
		variableMetrics = append(variableMetrics, expression{"variable " + v.Name, m[1]})
	}
	if len(exprs) < 10 {
		t.Fatalf("only %d queries in %s", len(exprs), dashboardFile)
	}
	return exprs, variableMetrics
}

// TestDashboardQueriesParse writes every query of the dashboard (Grafana's variables replaced)
// into a rule file as a recording rule, and has promtool check it: promtool parses each
// expression with Prometheus' own parser.
func TestDashboardQueriesParse(t *testing.T) {
	exprs, vars := dashboardExpressions(t)
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var rules []rule
	for i, e := range append(exprs, vars...) {
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: grafanaToPromQL(e.expr)})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard-rules.yaml"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	out := runPromtool(t, dir, "check", "rules", "dashboard-rules.yaml")
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(rules)); !strings.Contains(out, want) {
		t.Fatalf("promtool check rules: want %q, got:\n%s", want, out)
	}
}

// TestDashboardMetricsAreExported: every metric a dashboard query or variable names is
// exported by the operator (its registry, scraped in-process) or by Mayastor's exporter.
func TestDashboardMetricsAreExported(t *testing.T) {
	exprs, vars := dashboardExpressions(t)
	op, ms := operatorMetrics(t), mayastorMetrics(t)
	for _, e := range append(exprs, vars...) {
		checkNamesExported(t, e.where, e.expr, op, ms)
	}
}

package observability

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        string            `json:"expr"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// The alerts the operator ships, by name (docs/metrics-alerts.md documents each).
var wantAlerts = []string{
	"CouchestorMigrationFailed", "CouchestorMigrationPastDeadline", "CouchestorPolicyMetricsUnavailable",
	"CouchestorPolicyNotReady", "CouchestorOperatorAbsent", "CouchestorCordonHeldTooLong", "CouchestorExtraReplicasKept",
	"CouchestorReconcileErrors", "CouchestorNoLeader", "CouchestorObservationStalled", "CouchestorVolumesUnknown",
}

const runbookBase = "https://github.com/billyronks/couchestor/blob/main/docs/metrics-alerts.md#"

// TestAlertRules: promtool accepts the rule file, and its unit tests (every alert firing and
// not firing) pass.
func TestAlertRules(t *testing.T) {
	runPromtool(t, repoRoot, "check", "rules", rulesFile)
	out := runPromtool(t, filepath.Join(repoRoot, "test", "observability", "testdata"), "test", "rules", "alerts_test.yaml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
	// Each alert has a test that expects it to fire.
	tests := string(readRepoFile(t, "test/observability/testdata/alerts_test.yaml"))
	for _, a := range wantAlerts {
		if !regexp.MustCompile(`alertname: ` + a + `\n\s+exp_alerts:\n\s+- exp_labels:`).MatchString(tests) {
			t.Errorf("alerts_test.yaml has no case where %s fires", a)
		}
		if !regexp.MustCompile(`alertname: ` + a + `\n\s+exp_alerts: \[\]`).MatchString(tests) {
			t.Errorf("alerts_test.yaml has no case where %s does not fire", a)
		}
	}
}

// TestAlertsHaveRunbooksAndExportedMetrics: the alerts exist, each with a severity, a
// summary and a runbook_url whose section exists in docs/metrics-alerts.md, and each metric
// they name is exported.
func TestAlertsHaveRunbooksAndExportedMetrics(t *testing.T) {
	var rf ruleFile
	if err := yaml.Unmarshal(readRepoFile(t, rulesFile), &rf); err != nil {
		t.Fatal(err)
	}
	doc := string(readRepoFile(t, runbookFile))
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{2,4} (.+)$`).FindAllStringSubmatch(doc, -1) {
		anchors[githubAnchor(m[1])] = true
	}
	op, ms := operatorMetrics(t), mayastorMetrics(t)
	var seen []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			where := fmt.Sprintf("rule %s%s", r.Alert, r.Record)
			checkNamesExported(t, where, r.Expr, op, ms)
			if r.Alert == "" {
				continue
			}
			seen = append(seen, r.Alert)
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q", where, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary", where)
			}
			url := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(url, runbookBase)
			if !ok || anchor != strings.ToLower(r.Alert) {
				t.Errorf("%s: runbook_url %q, want %s%s", where, url, runbookBase, strings.ToLower(r.Alert))
			} else if !anchors[anchor] {
				t.Errorf("%s: %s has no section #%s", where, runbookFile, anchor)
			}
		}
	}
	for _, a := range wantAlerts {
		if !slices.Contains(seen, a) {
			t.Errorf("no alert %s in %s", a, rulesFile)
		}
	}
}

// githubAnchor is the anchor GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	h := strings.ToLower(strings.TrimSpace(heading))
	h = regexp.MustCompile("[^a-z0-9 _-]").ReplaceAllString(h, "")
	return strings.ReplaceAll(h, " ", "-")
}

package clitest

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	storagev1 "github.com/billyronks/couchestor/api/v1"
	"github.com/billyronks/couchestor/internal/cli"
	"github.com/billyronks/couchestor/internal/sandbox"
)

func vol(n string) string { return "0c4f3a52-7d1e-4b6a-9a0e-0000000000" + n }

// startWorld starts the Mayastor simulator (scenario "small", a PV per volume in storageClass)
// and a real Prometheus scraping it every second, against the test API server.
func startWorld(t *testing.T, storageClass string) *sandbox.Stack {
	t.Helper()
	requireAPIServer(t)
	if _, err := sandbox.PrometheusBinary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	st, err := sandbox.Start(ctx(t), sandbox.Options{
		RESTConfig: restCfg, RepoRoot: repoRoot, WorkDir: t.TempDir(), Scenario: "small",
		ScrapeInterval: time.Second, StorageClassName: storageClass,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	return st
}

func findVolume(p cli.PolicyReport, pvc string) *cli.VolumeReport {
	for i := range p.Volumes {
		if p.Volumes[i].PVC == pvc {
			return &p.Volumes[i]
		}
	}
	return nil
}

// plan, with no operator running, names each volume by its PVC and says what the planner
// decides and why: volume 01 (5,500 IOPS on SATA) moves to NVMe, volume 09 (4,000 IOPS on NVMe)
// stays between the watermarks; an unbound volume is named by its PV (volume 05, cold on NVMe,
// moves to SATA; with one operator slot, some volume waits for it). Table, JSON and YAML say
// the same; nothing is written. (Other tests' TierMigrations in flight would take the
// operator's default 2 slots: --max-concurrent-migrations=50 leaves the policy's 10.)
func TestPlanNamesThePVCAndTheReason(t *testing.T) {
	const sc = "cli-plan"
	st := startWorld(t, sc)
	createNamespace(t, "shop")
	bindClaim(t, "shop", "orders-db", "pvc-"+vol("01"))
	bindClaim(t, "shop", "catalog", "pvc-"+vol("09"))
	createPolicy(t, policyFor("cli-plan", sc, false, "15s"))
	createPolicy(t, policyFor("cli-plan-disabled", "no-such-class", false, "15s"))

	args := []string{"plan", "--policy", "cli-plan", "--mayastor-url", st.SimURL, "--prometheus-url", st.PrometheusURL, "--max-concurrent-migrations=50"}
	var report cli.PlanReport
	var last string
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := kc(t, time.Time{}, append(args, "-o", "json")...)
		if r.code != 0 {
			t.Fatalf("plan -o json: exit %d: %s", r.code, r.errOut)
		}
		report = cli.PlanReport{}
		if err := json.Unmarshal([]byte(r.out), &report); err != nil {
			t.Fatalf("plan -o json is not JSON: %v\n%s", err, r.out)
		}
		if len(report.Policies) != 1 || report.Policies[0].Name != "cli-plan" {
			t.Fatalf("--policy cli-plan: got %d policies: %s", len(report.Policies), r.out)
		}
		if v := findVolume(report.Policies[0], "shop/orders-db"); v != nil && v.Action == "Move" {
			break
		}
		last = r.out
		if time.Now().After(deadline) {
			t.Fatalf("volume 01 (shop/orders-db) not planned to move within 90s (the window is 15s); last plan:\n%s", last)
		}
		time.Sleep(2 * time.Second)
	}
	p := report.Policies[0]
	if p.Ready == nil || p.Ready.Status != "True" || p.Counts.Watched != 14 {
		t.Errorf("policy: want Ready=True with 14 volumes watched, got %+v %+v", p.Ready, p.Counts)
	}
	hot := findVolume(p, "shop/orders-db")
	if hot.To != string(storagev1.TierNVMe) || hot.Reason != storagev1.ReasonAboveHighWatermark || hot.IOPS == nil || *hot.IOPS < 5000 ||
		hot.VolumeID != vol("01") || hot.PersistentVolume != "pvc-"+vol("01") || hot.Placement != "SATA" || hot.Message == "" {
		t.Errorf("shop/orders-db: want a move to NVMe above the high watermark, got %+v", *hot)
	}
	stays := findVolume(p, "shop/catalog")
	if stays == nil || stays.Action != "Stay" || stays.Reason != storagev1.ReasonBetweenWatermarks || !strings.Contains(stays.Message, "between the watermarks") {
		t.Errorf("shop/catalog: want Stay (BetweenWatermarks) with a message, got %+v", stays)
	}
	unbound := false
	for _, v := range p.Volumes {
		if v.PVC == "" && v.PersistentVolume == "pvc-"+vol("05") {
			unbound = v.Action == "Move" && v.To == string(storagev1.TierSATA) && v.Reason == storagev1.ReasonBelowLowWatermark
		}
	}
	if !unbound {
		t.Errorf("unbound volume 05 (cold on NVMe): want it named by its PV and moving to SATA: %+v", p.Volumes)
	}

	// The table says the same, by PVC.
	r := kc(t, time.Time{}, args...)
	if r.code != 0 {
		t.Fatalf("plan: exit %d: %s", r.code, r.errOut)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(r.out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = line
		}
	}
	if !strings.HasPrefix(r.out, "StoragePolicy cli-plan: Ready=True (Evaluated)") || !strings.Contains(r.out, "PVC") || !strings.Contains(r.out, "REASON") {
		t.Errorf("table: want the policy's Ready line and a header:\n%s", r.out)
	}
	for pvc, want := range map[string][]string{
		"shop/orders-db":   {"SATA", "Move", "NVMe", "AboveHighWatermark"},
		"shop/catalog":     {"NVMe", "Stay", "BetweenWatermarks", "between the watermarks"},
		"pvc-" + vol("05"): {"NVMe", "Move", "SATA", "BelowLowWatermark", "below low watermark"},
	} {
		row, ok := rows[pvc]
		if !ok {
			t.Errorf("table: no row for %s:\n%s", pvc, r.out)
			continue
		}
		for _, w := range want {
			if !strings.Contains(row, w) {
				t.Errorf("table row of %s lacks %q: %s", pvc, w, row)
			}
		}
	}

	// Every slot of the operator taken (--max-concurrent-migrations=1 with others' migrations in
	// flight, or one move granted): the others wait, and say so.
	r = kc(t, time.Time{}, slices.Concat(args[:len(args)-1:len(args)-1], []string{"--max-concurrent-migrations=1"})...)
	if r.code != 0 || !strings.Contains(r.out, " Wait ") || !strings.Contains(r.out, "ConcurrencyLimit") || !strings.Contains(r.out, "waiting for a migration slot") {
		t.Errorf("plan with one operator slot: want volumes waiting (ConcurrencyLimit):\n%s%s", r.out, r.errOut)
	}

	// YAML too.
	r = kc(t, time.Time{}, append(args, "-o", "yaml")...)
	var fromYAML cli.PlanReport
	if err := yaml.Unmarshal([]byte(r.out), &fromYAML); err != nil || r.code != 0 || len(fromYAML.Policies) != 1 ||
		findVolume(fromYAML.Policies[0], "shop/orders-db") == nil {
		t.Errorf("plan -o yaml: %v (exit %d)\n%s", err, r.code, r.out)
	}

	// Every policy without --policy, the one selecting nothing included.
	r = kc(t, time.Time{}, "plan", "--mayastor-url", st.SimURL, "--prometheus-url", st.PrometheusURL)
	if r.code != 0 || !strings.Contains(r.out, "StoragePolicy cli-plan-disabled: ") || !strings.Contains(r.out, "selects no volume") {
		t.Errorf("plan of every policy: exit %d\n%s%s", r.code, r.out, r.errOut)
	}

	// One PVC: the policies that select its volume, the decision and what it was made from.
	for _, claim := range [][]string{{"pvc/shop/orders-db"}, {"pvc/orders-db", "-n", "shop"}} {
		r = kc(t, time.Time{}, append(append([]string{"plan"}, claim...), "--mayastor-url", st.SimURL, "--prometheus-url", st.PrometheusURL, "--max-concurrent-migrations=50")...)
		for _, want := range []string{"PersistentVolumeClaim shop/orders-db: PersistentVolume pvc-" + vol("01"), "StoragePolicy cli-plan: Ready=True (Evaluated)",
			"decision:  Move to NVMe, on SATA", "reason:    AboveHighWatermark", "high watermark 5000", "cooldown:  never moved", "window:    none configured", "slots:"} {
			if r.code != 0 || !strings.Contains(r.out, want) {
				t.Errorf("plan %v: exit %d, output lacks %q:\n%s%s", claim, r.code, want, r.out, r.errOut)
			}
		}
	}
	r = kc(t, time.Time{}, "plan", "pvc/shop/orders-db", "-o", "json", "--mayastor-url", st.SimURL, "--prometheus-url", st.PrometheusURL, "--max-concurrent-migrations=50")
	var claim cli.ClaimPlanReport
	if err := json.Unmarshal([]byte(r.out), &claim); err != nil || len(claim.Policies) != 1 || claim.Policies[0].Policy != "cli-plan" ||
		claim.Policies[0].Volume.Reason != storagev1.ReasonAboveHighWatermark || claim.Policies[0].Slots == nil {
		t.Errorf("plan pvc/shop/orders-db -o json: %v\n%s", err, r.out)
	}

	// Read-only: no TierMigration was created.
	var tms storagev1.TierMigrationList
	if err := k8sClient.List(ctx(t), &tms); err != nil {
		t.Fatal(err)
	}
	for _, tm := range tms.Items {
		if tm.Spec.PolicyName == "cli-plan" {
			t.Errorf("plan created TierMigration %s", tm.Name)
		}
	}

	// Prometheus gone: nothing moves, the output says why and a warning names the cause.
	st.StopPrometheus()
	r = kc(t, time.Time{}, append(args, "--prometheus-timeout=2s")...)
	if r.code != 0 || !strings.Contains(r.errOut, "warning: Prometheus at "+st.PrometheusURL) ||
		!strings.Contains(r.out, "Ready=False (PrometheusUnreachable)") || strings.Contains(r.out, " Move ") {
		t.Errorf("plan without Prometheus: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errOut)
	}
}

// Bad input to plan: an unknown policy is a failure (1), a bad flag value a usage error (2).
func TestPlanBadInput(t *testing.T) {
	requireAPIServer(t)
	oneErrorLine(t, kc(t, time.Time{}, "plan", "--policy", "no-such-policy"), 1, `StoragePolicy "no-such-policy" not found`)
	oneErrorLine(t, kc(t, time.Time{}, "plan", "-o", "xml"), 2, `--output: "xml"`)
	oneErrorLine(t, kc(t, time.Time{}, "plan", "--mayastor-service", "mayastor"), 2, "--mayastor-service")
	oneErrorLine(t, kc(t, time.Time{}, "plan", "--prometheus-url", "prometheus:9090"), 2, "--prometheus-url")
	oneErrorLine(t, kc(t, time.Time{}, "plan", "extra"), 2, `"extra": want pvc/NAMESPACE/NAME`)
	oneErrorLine(t, kc(t, time.Time{}, "plan", "pvc/a/b", "pvc/c/d"), 2, `unexpected argument "pvc/c/d"`)
	oneErrorLine(t, kc(t, time.Time{}, "plan", "pvc/default/no-such-claim"), 1, "PersistentVolumeClaim default/no-such-claim not found")
}

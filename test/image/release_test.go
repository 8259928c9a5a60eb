package image

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestManifestsNameTheBuiltVersion: the kustomize install pulls the image `make image` builds,
// ghcr.io/billyronks/couchestor:<VERSION>, never a tag that was not built.
func TestManifestsNameTheBuiltVersion(t *testing.T) {
	want := repository + ":" + version(t)
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "config", "manager", "manager.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, doc := range bytes.Split(b, []byte("\n---")) {
		var obj struct {
			Kind string
			Spec struct {
				Template struct {
					Spec struct {
						Containers     []struct{ Name, Image string }
						InitContainers []struct{ Name, Image string }
					}
				}
			}
		}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatal(err)
		}
		if obj.Kind != "Deployment" {
			continue
		}
		for _, c := range append(obj.Spec.Template.Spec.Containers, obj.Spec.Template.Spec.InitContainers...) {
			images = append(images, c.Image)
			if c.Image != want {
				t.Errorf("container %s runs %q, want %q (VERSION)", c.Name, c.Image, want)
			}
		}
	}
	if len(images) == 0 {
		t.Fatal("config/manager/manager.yaml has no Deployment container")
	}
	// No kustomization may retag it to something else.
	kust, _ := filepath.Glob(filepath.Join(repoRoot(t), "config", "*", "kustomization.yaml"))
	for _, k := range kust {
		b, err := os.ReadFile(k)
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`(?m)^images:`).Match(b) && !bytes.Contains(b, []byte(version(t))) {
			t.Errorf("%s retags the image to something other than %s", k, want)
		}
	}
}

// TestChartNamesTheBuiltVersion: the Helm chart's appVersion is VERSION too.
func TestChartNamesTheBuiltVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "charts", "couchestor", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatal(err)
	}
	if chart.AppVersion != version(t) {
		t.Errorf("Chart.yaml appVersion %q, want %q (VERSION)", chart.AppVersion, version(t))
	}
}

// TestLicense: LICENSE is the Apache License 2.0, which the image's licenses label names.
func TestLicense(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(b)), " ")
	for _, want := range []string{
		"Apache License Version 2.0, January 2004 http://www.apache.org/licenses/",
		"TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
		"2. Grant of Copyright License.",
		"3. Grant of Patent License.",
		"9. Accepting Warranty or Additional Liability.",
		"END OF TERMS AND CONDITIONS",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("LICENSE lacks %q", want)
		}
	}
}

// TestChangelog: CHANGELOG.md keeps an Unreleased section and one for VERSION.
func TestChangelog(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^## \[Unreleased\]$`,
		`(?m)^## \[` + regexp.QuoteMeta(version(t)) + `\] - \d{4}-\d{2}-\d{2}$`,
	} {
		if !regexp.MustCompile(re).Match(b) {
			t.Errorf("CHANGELOG.md has no heading matching %s", re)
		}
	}
}

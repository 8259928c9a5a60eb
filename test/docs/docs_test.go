// Package docs checks that the documentation says what the code does: the API reference is the
// rendering of the committed CRDs, the troubleshooting page names every reason the operator can
// report (and no reason it cannot), links and anchors resolve, and the operator flags the guide
// names exist. None of these tests needs a cluster.
package docs

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/billyronks/couchestor/hack/apidocs/reference"
	"github.com/billyronks/couchestor/internal/cli"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAPIReferenceIsTheRenderingOfTheCRDs(t *testing.T) {
	root := repoRoot(t)
	files, err := reference.Files(filepath.Join(root, "config", "crd", "bases"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := reference.Generate(files)
	if err != nil {
		t.Fatal(err)
	}
	got := []byte(read(t, filepath.Join(root, "docs", "api-reference.md")))
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("docs/api-reference.md is stale: run `go run ./hack/apidocs` and commit it.\nfirst difference, line %d:\ncommitted: %s\nfresh:     %s", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("docs/api-reference.md is stale: run `go run ./hack/apidocs` and commit it (%d lines committed, %d fresh)", len(gl), len(wl))
	}
	// Every field of both spec types is in it (a rendering that dropped fields would still be
	// equal to itself).
	for _, field := range []string{"`spec.highWatermarkIOPS`", "`spec.nvmePoolSelector.matchExpressions[].operator`",
		"`status.conditions[].reason`", "`spec.volumeID`", "`spec.targetTier`", "`status.checkpoint`", "`status.keptReplicas[].reason`"} {
		if !bytes.Contains(want, []byte(field)) {
			t.Errorf("the API reference has no row for %s", field)
		}
	}
}

// reasonsFile holds every reason the operator reports (test/architecture checks that no other
// file declares one).
const reasonsFile = "api/v1/reasons.go"

// reasonConstants returns the values of the string constants named Reason* in reasonsFile.
func reasonConstants(t *testing.T, root string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, reasonsFile), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Reason") {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: constant %s is not a string literal", reasonsFile, name.Name)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, s)
			}
		}
	}
	// Fewer than this means the file moved or the parser broke.
	if len(out) < 90 {
		t.Fatalf("%s: %d reason constants found, expected at least 90: did the file move?", reasonsFile, len(out))
	}
	return out
}

func TestTroubleshootingNamesEveryReason(t *testing.T) {
	root := repoRoot(t)
	page := read(t, filepath.Join(root, "docs", "guide", "troubleshooting.md"))
	for _, r := range reasonConstants(t, root) {
		if !strings.Contains(page, "`"+r+"`") {
			t.Errorf("docs/guide/troubleshooting.md does not name reason %q (a constant in %s): say what it means and what to do", r, reasonsFile)
		}
	}
}

// goStringsOf returns the first submatch of re in the file.
func goStringsOf(t *testing.T, path string, re *regexp.Regexp) []string {
	t.Helper()
	var out []string
	for _, m := range re.FindAllStringSubmatch(read(t, path), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatalf("%s: nothing matches %s", path, re)
	}
	return out
}

// TestTroubleshootingNamesOnlyRealReasons: every reason a table row of the troubleshooting page
// starts with is a string the operator's code holds, so a renamed or removed reason cannot stay
// documented.
func TestTroubleshootingNamesOnlyRealReasons(t *testing.T) {
	root := repoRoot(t)
	literals := map[string]bool{}
	for _, dir := range []string{"api", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			for _, m := range regexp.MustCompile(`"([A-Z][A-Za-z]+)"`).FindAllStringSubmatch(read(t, path), -1) {
				literals[m[1]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Phases are reasons too (the Progressing condition); they are typed constants in api/v1.
	for _, p := range goStringsOf(t, filepath.Join(root, "api", "v1", "tiermigration_types.go"), regexp.MustCompile(`Phase[A-Za-z]+ +MigrationPhase = "([A-Za-z]+)"`)) {
		literals[p] = true
	}
	page := read(t, filepath.Join(root, "docs", "guide", "troubleshooting.md"))
	row := regexp.MustCompile("(?m)^\\| (`[A-Za-z]+`(?:, `[A-Za-z]+`)*)(?: \\(Event\\))? \\|")
	rows := row.FindAllStringSubmatch(page, -1)
	if len(rows) < 80 {
		t.Fatalf("only %d reason rows found in the troubleshooting page: did its tables change shape?", len(rows))
	}
	for _, m := range rows {
		for _, r := range strings.Split(m[1], ", ") {
			r = strings.Trim(r, "`")
			if !literals[r] {
				t.Errorf("docs/guide/troubleshooting.md documents reason %q, which no Go source under api/ or internal/ holds", r)
			}
		}
	}
}

var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestGuideLinksResolve: every relative link of the guide, the API reference and the README
// names a file of the repository, and every #anchor into a Markdown file names one of its headings.
func TestGuideLinksResolve(t *testing.T) {
	root := repoRoot(t)
	pages, err := filepath.Glob(filepath.Join(root, "docs", "guide", "*.md"))
	if err != nil || len(pages) < 7 {
		t.Fatalf("docs/guide has %d pages (%v), expected at least 7", len(pages), err)
	}
	pages = append(pages, filepath.Join(root, "docs", "api-reference.md"), filepath.Join(root, "README.md"))
	for _, page := range pages {
		rel, _ := filepath.Rel(root, page)
		for _, m := range linkRE.FindAllStringSubmatch(stripInline(read(t, page)), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			target, anchor, _ := strings.Cut(link, "#")
			path := page
			if target != "" {
				path = filepath.Join(filepath.Dir(page), target)
			}
			trel, _ := filepath.Rel(root, path)
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link %q: %s does not exist", rel, link, trel)
				continue
			}
			if anchor != "" && strings.HasSuffix(path, ".md") && !slices.Contains(anchors(read(t, path)), anchor) {
				t.Errorf("%s: link %q: %s has no heading with anchor #%s", rel, link, trel, anchor)
			}
		}
	}
}

var inlineCode = regexp.MustCompile("`[^`]*`")

// stripCode removes fenced code blocks and inline code spans, where ](...) is not a link.
func stripCode(md string) string {
	var b strings.Builder
	in := false
	for line := range strings.SplitSeq(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			continue
		}
		if !in {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// stripInline also removes inline code spans.
func stripInline(md string) string { return inlineCode.ReplaceAllString(stripCode(md), "") }

// anchors are GitHub's anchors of the headings of md.
func anchors(md string) []string {
	var out []string
	seen := map[string]int{}
	for line := range strings.SplitSeq(stripCode(md), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out = append(out, a+"-"+strconv.Itoa(n))
		} else {
			out = append(out, a)
		}
		seen[a]++
	}
	return out
}

// notOperatorFlags are the kubectl and helm flags the guide uses.
var notOperatorFlags = []string{"--create-namespace", "--set", "--set-string", "--type", "--field-selector",
	"--server-side", "--force-conflicts", "--for", "--timeout", "--previous", "--as", "--rm", "--image",
	"--show-labels", "--namespace", "--all", "--sort-by", "--data-urlencode"}

// pluginFlags are the flags kubectl couchestor takes, any command's.
func pluginFlags() map[string]bool {
	out := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.PersistentFlags(), c.Flags()} {
			fs.VisitAll(func(f *pflag.Flag) { out["--"+f.Name] = true })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cli.NewCommand(&cli.Options{}))
	return out
}

// TestGuideFlagsExist: every --flag the guide names in inline code, other than kubectl's and
// helm's, is an operator flag (registered in internal/operator or internal/promwatch) or, on the
// plugin's page, a flag of kubectl couchestor.
func TestGuideFlagsExist(t *testing.T) {
	plugin := pluginFlags()
	root := repoRoot(t)
	var src strings.Builder
	for _, glob := range []string{"internal/operator/*.go", "internal/promwatch/*.go"} {
		files, _ := filepath.Glob(filepath.Join(root, glob))
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				src.WriteString(read(t, f))
			}
		}
	}
	flags := src.String()
	pages, _ := filepath.Glob(filepath.Join(root, "docs", "guide", "*.md"))
	flagRE := regexp.MustCompile("`(--[a-z][a-z0-9-]+)")
	checked := 0
	for _, page := range pages {
		rel, _ := filepath.Rel(root, page)
		for _, m := range flagRE.FindAllStringSubmatch(stripCode(read(t, page)), -1) {
			name := m[1]
			if slices.Contains(notOperatorFlags, name) {
				continue
			}
			if filepath.Base(page) == "plugin.md" {
				if !plugin[name] {
					t.Errorf("%s names %s, which is no flag of kubectl couchestor", rel, name)
				}
				continue
			}
			checked++
			if !strings.Contains(flags, `"`+strings.TrimPrefix(name, "--")+`"`) {
				t.Errorf("%s names %s, which is not an operator flag", rel, name)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d operator flags found in the guide: did the pattern break?", checked)
	}
}

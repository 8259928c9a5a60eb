// Package architecture checks the import rules of docs/architecture.md against what `go list`
// reports: every import between the module's packages (production and test files) is an arrow,
// and an arrow a rule forbids fails the test with the rule that forbids it. It also checks that
// the page names every package of the module, so a new package cannot arrive without its line.
package architecture

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// arrow is one import between two packages of the module, by their paths inside the module
// ("internal/tiering"). Test: only _test.go files import it.
type arrow struct {
	From, To string
	Test     bool
}

// under reports whether pkg is root or a package below it.
func under(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }

func underAny(pkg string, roots ...string) bool {
	return slices.ContainsFunc(roots, func(r string) bool { return under(pkg, r) })
}

// knownExceptions are arrows the rules forbid that the tree still has, each with what removes
// it (none today). TestKnownExceptionsStillExist fails once one is gone, so the list only shrinks.
var knownExceptions = map[arrow]string{}

// forbidden says which rule of docs/architecture.md an arrow breaks, or "" when none does.
// Tests may import the simulator, the test harnesses, the sandbox and the wiring (controller,
// operator, cli) of the operator; otherwise a test file obeys the same rules as the package it
// tests.
func forbidden(a arrow) string {
	from, to := a.From, a.To
	if under(to, from) { // a package and its subpackages (internal/mayastor/mayastorspec)
		return ""
	}
	if under(from, "internal/jsonscan") {
		return "internal/jsonscan imports no package of the module: every reader of a large answer may use it"
	}
	if under(to, "internal/jsonscan") {
		return ""
	}
	testOnly := underAny(to, "internal/sim", "internal/testenv", "internal/testprom", "internal/sandbox", "internal/observer/observertest")
	if a.Test && testOnly {
		return ""
	}
	switch {
	case under(from, "api"):
		return "api/v1 imports no package of the module: every other package depends on it"
	case under(from, "internal/mayastor"):
		return "internal/mayastor (REST wire types and client) imports no package of the module"
	case under(from, "internal/sim") && !under(to, "internal/mayastor"):
		return "internal/sim imports only internal/mayastor: it is Mayastor, not part of the operator"
	case under(from, "internal/mover") && !underAny(to, "api/v1", "internal/mayastor", "internal/tiering"):
		return "internal/mover imports only api/v1, internal/mayastor and internal/tiering (for the room rule): it steers one move, it does not plan, observe or reconcile"
	case under(from, "internal/tiering") && !under(to, "api/v1"):
		return "internal/tiering imports only api/v1: the planner is pure and knows no REST package"
	case under(from, "internal/promwatch") && !under(to, "api/v1"):
		return "internal/promwatch imports only api/v1: it reads Prometheus and nothing of the operator"
	case under(to, "internal/sim") && !underAny(from, "cmd/mayastor-sim", "hack/sandbox", "internal/sandbox"):
		return "only cmd/mayastor-sim, the sandbox (internal/sandbox, hack/sandbox) and tests import internal/sim"
	case underAny(to, "internal/testenv", "internal/testprom", "internal/observer/observertest"):
		return to + " is a test harness: only _test.go files import it"
	case under(to, "internal/sandbox") && !underAny(from, "hack"):
		return "internal/sandbox is imported by hack/sandbox, hack/scale and tests only"
	case !a.Test && under(to, "internal/controller") && !underAny(from, "internal/operator"):
		return "internal/controller is wired by internal/operator only (tests may drive it directly)"
	case !a.Test && under(to, "internal/operator") && !underAny(from, "cmd/couchestor", "internal/cli", "internal/sandbox", "internal/testenv"):
		return "internal/operator is run by cmd/couchestor, internal/cli, internal/sandbox and internal/testenv only"
	case !a.Test && under(to, "internal/cli") && !underAny(from, "cmd/kubectl-couchestor"):
		return "internal/cli is the kubectl plugin: only cmd/kubectl-couchestor runs it"
	case under(from, "internal/preflight") && !underAny(to, "api/v1", "internal/mayastor", "internal/promwatch", "internal/tiering", "internal/observer") &&
		!(a.Test && underAny(to, "internal/operator", "internal/controller", "internal/cli")):
		return "internal/preflight reads and never acts: it imports only api/v1, internal/mayastor, internal/promwatch, internal/tiering and internal/observer"
	case underAny(to, "hack", "test") && !underAny(from, "hack", "test"):
		return "code under api/, cmd/ and internal/ imports nothing from hack/ or test/"
	}
	return ""
}

// goList returns the module's path, its packages and every import between them, by running
// `go list` at the repository's root.
func goList(t *testing.T) (module string, packages []string, arrows []arrow) {
	t.Helper()
	root := repoRoot(t)
	run := func(args ...string) []byte {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	module = strings.TrimSpace(string(run("list", "-m")))
	dec := json.NewDecoder(bytes.NewReader(run("list", "-json=ImportPath,Imports,TestImports,XTestImports", "./...")))
	local := func(p string) (string, bool) { return strings.CutPrefix(p, module+"/") }
	for {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list -json: %v", err)
		}
		from, ok := local(p.ImportPath)
		if !ok {
			continue
		}
		packages = append(packages, from)
		add := func(imports []string, test bool) {
			for _, imp := range imports {
				if to, ok := local(imp); ok && to != from {
					arrows = append(arrows, arrow{From: from, To: to, Test: test})
				}
			}
		}
		add(p.Imports, false)
		add(slices.Concat(p.TestImports, p.XTestImports), true)
	}
	if len(packages) == 0 {
		t.Fatal("go list found no package of the module")
	}
	return module, packages, arrows
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func TestImportsFollowTheRules(t *testing.T) {
	_, _, arrows := goList(t)
	for _, a := range arrows {
		why := forbidden(a)
		if why == "" {
			continue
		}
		if _, known := knownExceptions[a]; known {
			continue
		}
		kind := "imports"
		if a.Test {
			kind = "imports (in a _test.go file)"
		}
		t.Errorf("%s %s %s: %s (docs/architecture.md)", a.From, kind, a.To, why)
	}
}

// TestKnownExceptionsStillExist keeps the exceptions honest: each is an arrow the rules forbid
// and the tree still has; once the code moves, its exception must go too.
func TestKnownExceptionsStillExist(t *testing.T) {
	_, _, arrows := goList(t)
	for a, fix := range knownExceptions {
		if forbidden(a) == "" {
			t.Errorf("exception %+v is allowed by the rules anyway: delete it", a)
		}
		if !slices.Contains(arrows, a) {
			t.Errorf("exception %+v (%s) is gone from the tree: delete it here and in docs/architecture.md", a, fix)
		}
	}
}

// TestRulesCatchForbiddenArrows runs the rules on arrows the tree does not have (and must not):
// each forbidden one is caught, each allowed one passes. A rule deleted from forbidden fails
// here even while the tree obeys it.
func TestRulesCatchForbiddenArrows(t *testing.T) {
	for _, a := range []arrow{
		{From: "api/v1", To: "internal/tiering"},
		{From: "internal/mayastor", To: "api/v1"},
		{From: "internal/jsonscan", To: "api/v1"},
		{From: "internal/jsonscan", To: "internal/mayastor", Test: true},
		{From: "internal/mayastor", To: "internal/sim"},
		{From: "internal/mayastor/mayastorspec", To: "internal/mover"},
		{From: "internal/sim", To: "api/v1"},
		{From: "internal/sim", To: "internal/mover"},
		{From: "internal/sim", To: "internal/tiering", Test: true},
		{From: "internal/mover", To: "internal/migration"},
		{From: "internal/mover", To: "internal/observer"},
		{From: "internal/mover", To: "internal/observer", Test: true},
		{From: "internal/mover", To: "internal/controller"},
		{From: "internal/mover", To: "internal/promwatch"},
		{From: "internal/tiering", To: "internal/promwatch"},
		{From: "internal/tiering", To: "internal/observer"},
		{From: "internal/tiering", To: "internal/migration"},
		{From: "internal/promwatch", To: "internal/tiering"},
		{From: "internal/controller", To: "internal/sim"},
		{From: "internal/observer", To: "internal/sim"},
		{From: "internal/operator", To: "internal/testenv"},
		{From: "internal/backtest", To: "internal/testprom"},
		{From: "internal/cli", To: "internal/sandbox"},
		{From: "internal/observer", To: "internal/controller"},
		{From: "internal/migration", To: "internal/controller"},
		{From: "internal/controller", To: "internal/operator"},
		{From: "internal/controller", To: "internal/cli"},
		{From: "internal/operator", To: "hack/apidocs/reference"},
		{From: "internal/mover", To: "internal/controller", Test: true},
		{From: "internal/preflight", To: "internal/mover"},
		{From: "internal/preflight", To: "internal/operator"},
		{From: "internal/tiering", To: "internal/mayastor"},
		{From: "internal/tiering", To: "internal/mayastor", Test: true},
		{From: "internal/tiering", To: "internal/mover"},
		{From: "internal/mayastor", To: "internal/tiering", Test: true},
	} {
		if forbidden(a) == "" {
			t.Errorf("the rules allow %+v; docs/architecture.md forbids it", a)
		}
	}
	for _, a := range []arrow{
		{From: "internal/mayastor", To: "internal/mayastor/mayastorspec", Test: true},
		{From: "internal/mayastor", To: "internal/sim", Test: true},
		{From: "internal/sim", To: "internal/mayastor"},
		{From: "internal/mover", To: "internal/mayastor"},
		{From: "internal/mover", To: "api/v1"},
		{From: "internal/mover", To: "internal/tiering"},
		{From: "internal/mover", To: "internal/sim", Test: true},
		{From: "internal/tiering", To: "api/v1"},
		{From: "internal/controller", To: "internal/tiering"},
		{From: "internal/controller", To: "internal/sim", Test: true},
		{From: "internal/sandbox", To: "internal/sim"},
		{From: "cmd/mayastor-sim", To: "internal/sim"},
		{From: "internal/operator", To: "internal/controller"},
		{From: "test/integration", To: "internal/controller", Test: true},
		{From: "test/docs", To: "hack/apidocs/reference", Test: true},
		{From: "hack/scale", To: "internal/sandbox"},
		{From: "test/cli", To: "internal/cli", Test: true},
		{From: "internal/approval", To: "internal/operator", Test: true},
		{From: "internal/preflight", To: "internal/observer"},
		{From: "internal/preflight", To: "internal/operator", Test: true},
		{From: "internal/cli", To: "internal/preflight"},
		{From: "cmd/couchestor", To: "internal/preflight"},
		{From: "internal/mayastor", To: "internal/jsonscan"},
		{From: "internal/promwatch", To: "internal/jsonscan"},
	} {
		if why := forbidden(a); why != "" {
			t.Errorf("the rules forbid %+v (%s); docs/architecture.md allows it", a, why)
		}
	}
}

// TestArchitecturePageNamesEveryPackage: docs/architecture.md names each package of the module
// (as `internal/x`), so the page is where a newcomer finds every room.
func TestArchitecturePageNamesEveryPackage(t *testing.T) {
	_, packages, _ := goList(t)
	page, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range packages {
		if !bytes.Contains(page, []byte("`"+p+"`")) {
			t.Errorf("docs/architecture.md does not name package `%s`: give it a line", p)
		}
	}
}

package architecture

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// apiV1 is the import path of the package that holds every reason and outcome label.
const apiV1 = "github.com/billyronks/couchestor/api/v1"

// reasonLike reports whether a constant's name makes it a reason or an outcome label.
func reasonLike(name string) bool {
	return strings.HasPrefix(name, "Reason") || strings.HasPrefix(name, "Outcome")
}

// strayReasons returns, for one Go file outside api/v1, each constant named Reason* or Outcome*
// whose value is not a reference to an api/v1 constant: a string literal, or an expression that
// names no api/v1 constant. A package may give an api/v1 reason a local (or typed) name,
// `ReasonX = Reason(storagev1.ReasonY)`, but never a value of its own.
func strayReasons(fset *token.FileSet, f *ast.File) []string {
	var apiNames []string // the names the file imports api/v1 under
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == apiV1 {
			name := "v1"
			if imp.Name != nil {
				name = imp.Name.Name
			}
			apiNames = append(apiNames, name)
		}
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
				if !reasonLike(name.Name) {
					continue
				}
				var value ast.Expr
				if i < len(vs.Values) {
					value = vs.Values[i]
				}
				literal, refersToAPI := false, false
				if value != nil {
					ast.Inspect(value, func(n ast.Node) bool {
						switch n := n.(type) {
						case *ast.BasicLit:
							literal = literal || n.Kind == token.STRING
						case *ast.SelectorExpr:
							if x, ok := n.X.(*ast.Ident); ok && slices.Contains(apiNames, x.Name) {
								refersToAPI = true
							}
						}
						return true
					})
				}
				if literal || !refersToAPI {
					out = append(out, fset.Position(name.Pos()).String()+": "+name.Name)
				}
			}
		}
	}
	return out
}

// TestReasonsLiveOnlyInAPI: every reason and outcome label is declared in api/v1 (reasons.go);
// a constant named Reason* or Outcome* anywhere else only refers to one of those.
func TestReasonsLiveOnlyInAPI(t *testing.T) {
	root := repoRoot(t)
	fset := token.NewFileSet()
	files := 0
	for _, dir := range []string{"api", "cmd", "hack", "internal", "test"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			if rel, _ := filepath.Rel(root, path); filepath.Dir(rel) == filepath.Join("api", "v1") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			files++
			for _, s := range strayReasons(fset, f) {
				t.Errorf("%s is a reason or outcome declared outside api/v1: declare it in api/v1/reasons.go and refer to it", s)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 100 {
		t.Fatalf("only %d Go files scanned: did the tree move?", files)
	}
}

// TestStrayReasonsCaught: the check above flags a reason with a value of its own and lets a
// local name for an api/v1 reason pass.
func TestStrayReasonsCaught(t *testing.T) {
	src := `package p

import (
	storagev1 "` + apiV1 + `"
	other "example.com/other"
)

type Reason string

const (
	ReasonOwn        = "Own"
	ReasonTyped      Reason = "Typed"
	ReasonOther      = other.ReasonX
	OutcomeOwn       = "own"
	ReasonLocal      = Reason(storagev1.ReasonX)
	ReasonPlain      = storagev1.ReasonY
	OutcomeLocal     = storagev1.OutcomeZ
	NotAReason       = "Fine"
)
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range strayReasons(fset, f) {
		got = append(got, s[strings.LastIndex(s, " ")+1:])
	}
	if want := []string{"ReasonOwn", "ReasonTyped", "ReasonOther", "OutcomeOwn"}; !slices.Equal(got, want) {
		t.Errorf("flagged %v, want %v", got, want)
	}
}

// TestReasonValuesUnique: no two reasons of api/v1 share a value, nor two outcome labels; a
// duplicate would be one reason under two names.
func TestReasonValuesUnique(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(root, "api", "v1")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := map[string]string{} // kind + value -> constant name
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !reasonLike(name.Name) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Errorf("%s: %s is not a string literal", fset.Position(name.Pos()), name.Name)
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					key := name.Name[:6] + ":" + v // "Reason" or "Outcom"
					if other, dup := seen[key]; dup {
						t.Errorf("%s and %s both have the value %q: keep one", other, name.Name, v)
					}
					seen[key] = name.Name
					n++
				}
			}
		}
	}
	if n < 90 {
		t.Fatalf("only %d reasons and outcomes found in api/v1: did they move?", n)
	}
}

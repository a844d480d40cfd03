package engine

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// registeredTypes maps each registered kind to the name of its Go type.
func registeredTypes() map[string]string {
	m := map[string]string{}
	for k, r := range requests {
		m[k] = reflect.TypeOf(r.parse(nil, Request{})).Name()
	}
	return m
}

// kindMethodProblems checks the package's files against the registrations
// (kind -> type name): every type with a Kind method is registered under
// the name its Kind returns, and that method sits in req_<kind>.go (dashes
// as underscores), one per file, beside the registration.
func kindMethodProblems(fset *token.FileSet, files map[string]*ast.File, types map[string]string) []string {
	var p []string
	found := map[string]bool{}
	for name, f := range files {
		kinds := 0
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Name.Name != "Kind" || fd.Recv == nil || len(fd.Recv.List) != 1 {
				continue
			}
			kinds++
			pos := fset.Position(fd.Pos()).String()
			recv, ok := fd.Recv.List[0].Type.(*ast.Ident)
			if !ok {
				p = append(p, pos+": Kind has a pointer or generic receiver")
				continue
			}
			kind, ok := constantKind(fd)
			if !ok {
				p = append(p, pos+": "+recv.Name+".Kind does not return a string literal")
				continue
			}
			found[kind] = true
			if got, ok := types[kind]; !ok {
				p = append(p, pos+": "+recv.Name+" (kind "+strconv.Quote(kind)+") is not registered")
			} else if got != recv.Name {
				p = append(p, pos+": kind "+strconv.Quote(kind)+" is registered for "+got+", not "+recv.Name)
			}
			if want := "req_" + strings.ReplaceAll(kind, "-", "_") + ".go"; filepath.Base(name) != want {
				p = append(p, pos+": "+recv.Name+".Kind belongs in "+want+" with its registration")
			}
		}
		if kinds > 1 {
			p = append(p, name+": more than one Kind method")
		}
		if strings.HasPrefix(filepath.Base(name), "req_") && kinds == 0 {
			p = append(p, name+": no Kind method")
		}
	}
	for k := range types {
		if !found[k] {
			p = append(p, "kind "+strconv.Quote(k)+" is registered but no Kind method returns it")
		}
	}
	slices.Sort(p)
	return p
}

// constantKind returns the literal of a Kind method whose body is
// return "<kind>".
func constantKind(fd *ast.FuncDecl) (string, bool) {
	if fd.Body == nil || len(fd.Body.List) != 1 {
		return "", false
	}
	ret, ok := fd.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(ret.Results) != 1 {
		return "", false
	}
	lit, ok := ret.Results[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// TestEveryCommandRegistered: every command type of the package is
// registered, from its own req_<kind>.go file.
func TestEveryCommandRegistered(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files[n] = f
	}
	types := registeredTypes()
	if len(types) < 40 {
		t.Fatalf("only %d registrations", len(types))
	}
	for _, msg := range kindMethodProblems(fset, files, types) {
		t.Error(msg)
	}
}

// runnerCommands are the golden runner's own commands (golden_test.go,
// runner.run): no request may take their names.
var runnerCommands = []string{"tick", "dn", "agent", "call", "calls", "queue", "mark-acd"}

// goldenProblems: every registration's golden name is unique, not one of
// the runner's commands, and used by at least one golden flow.
func goldenProblems(regs map[string]*registered, used map[string]bool) []string {
	var p []string
	owner := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(regs)) {
		g := regs[k].golden
		if o, dup := owner[g]; dup {
			p = append(p, "kinds "+o+" and "+k+" share the golden name "+strconv.Quote(g))
		}
		owner[g] = k
		if slices.Contains(runnerCommands, g) {
			p = append(p, "kind "+k+": golden name "+strconv.Quote(g)+" is a runner command")
		}
		if !used[g] {
			p = append(p, "kind "+k+" has no golden flow (no testdata/*.txt runs "+strconv.Quote(g)+")")
		}
	}
	return p
}

// TestEveryCommandHasGoldenFlow: every registered kind is run by at least
// one golden file.
func TestEveryCommandHasGoldenFlow(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	used := map[string]bool{}
	for _, path := range files {
		blocks, _ := parseGolden(t, path)
		for _, b := range blocks {
			name, _ := splitCommand(b.cmd)
			used[name] = true
		}
	}
	for _, msg := range goldenProblems(requests, used) {
		t.Error(msg)
	}
}

// The checks above must be able to fail.
func TestRegistrationChecksRefuse(t *testing.T) {
	src := map[string]string{
		// not registered, and not in its own file
		"command.go": "package engine\ntype Fly struct{}\nfunc (Fly) Kind() string { return \"fly\" }\n",
		// registered for another type
		"req_hold.go": "package engine\nfunc (Wait) Kind() string { return \"hold\" }\n",
		// no Kind method
		"req_empty.go": "package engine\n",
		// computed name
		"req_x.go": "package engine\nfunc (X) Kind() string { return name }\n",
	}
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	for n, s := range src {
		f, err := parser.ParseFile(fset, n, s, 0)
		if err != nil {
			t.Fatal(err)
		}
		files[n] = f
	}
	got := kindMethodProblems(fset, files, map[string]string{"hold": "Hold", "answer": "Answer"})
	for _, want := range []string{
		`Fly (kind "fly") is not registered`,
		"Fly.Kind belongs in req_fly.go",
		`kind "hold" is registered for Hold, not Wait`,
		"req_empty.go: no Kind method",
		"X.Kind does not return a string literal",
		`kind "answer" is registered but no Kind method returns it`,
	} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("kindMethodProblems missed %q; got %q", want, got)
		}
	}
	if len(got) != 6 {
		t.Errorf("kindMethodProblems: %d problems, want 6: %q", len(got), got)
	}

	regs := map[string]*registered{
		"route-call":  {kind: "route-call", golden: "route"},
		"route-again": {kind: "route-again", golden: "route"},
		"tick-tock":   {kind: "tick-tock", golden: "tick"},
	}
	got = goldenProblems(regs, map[string]bool{"route": true})
	for _, want := range []string{
		`kinds route-again and route-call share the golden name "route"`,
		`kind tick-tock: golden name "tick" is a runner command`,
		`kind tick-tock has no golden flow`,
	} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("goldenProblems missed %q; got %q", want, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("goldenProblems: %d problems, want 3: %q", len(got), got)
	}
}

// The golden runner's own commands are the ones this file reserves.
func TestRunnerCommandsListed(t *testing.T) {
	src, err := os.ReadFile("golden_test.go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "golden_test.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	ast.Inspect(f, func(n ast.Node) bool {
		fd, ok := n.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "run" {
			return true
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if sw, ok := n.(*ast.SwitchStmt); ok {
				for _, c := range sw.Body.List {
					for _, e := range c.(*ast.CaseClause).List {
						if lit, ok := e.(*ast.BasicLit); ok {
							s, _ := strconv.Unquote(lit.Value)
							cases = append(cases, s)
						}
					}
				}
				return false
			}
			return true
		})
		return false
	})
	if !slices.Equal(cases, runnerCommands) {
		t.Errorf("runner.run handles %q; runnerCommands lists %q", cases, runnerCommands)
	}
}

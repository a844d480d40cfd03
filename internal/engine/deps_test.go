package engine

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// directAllowed are the only packages the engine's own (non-test) files may
// import. Adding one is a decision: it must do no I/O, start no goroutine and
// read no clock or global random source.
var directAllowed = map[string]bool{
	"bytes": true, "cmp": true, "encoding/json": true, "errors": true, "maps": true,
	"math": true, "math/bits": true, "slices": true, "sort": true, "strconv": true,
	"strings": true, "unicode/utf8": true,
	"time": true, // for durations and calendar arithmetic only; clock functions are refused below
	"github.com/switchboard-cc/switchboard/event":           true,
	"github.com/switchboard-cc/switchboard/internal/config": true,
}

// closureDenied may not appear anywhere in the engine's transitive
// dependencies (the standard library's own use of os, via fmt, is inherent
// and allowed; the engine itself may not import os, see directAllowed).
func closureDenied(p string) bool {
	switch {
	case p == "net" || strings.HasPrefix(p, "net/"),
		p == "os/exec", p == "os/signal", p == "log", p == "log/slog",
		p == "math/rand", p == "math/rand/v2", p == "crypto/rand",
		p == "database/sql", p == "plugin",
		strings.Contains(p, "franz-go"), strings.Contains(p, "sipgo"),
		strings.Contains(p, "websocket"), strings.Contains(p, "kafka"):
		return true
	case strings.HasPrefix(p, "github.com/switchboard-cc/switchboard/"):
		return p != "github.com/switchboard-cc/switchboard/event" &&
			p != "github.com/switchboard-cc/switchboard/internal/config" &&
			p != "github.com/switchboard-cc/switchboard/internal/engine"
	}
	return false
}

// clockFuncs are the functions of package time that read or wait on the
// clock, or read files.
var clockFuncs = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "AfterFunc": true,
	"Tick": true, "NewTicker": true, "NewTimer": true, "LoadLocation": true,
}

type listedPkg struct {
	ImportPath string
	Standard   bool
	Imports    []string
	GoFiles    []string
	Dir        string
}

func goList(t *testing.T, args ...string) []listedPkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	var pkgs []listedPkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// importProblems returns why a direct import list or dependency closure is
// not allowed.
func importProblems(direct, closure []string) []string {
	var p []string
	for _, imp := range direct {
		if !directAllowed[imp] {
			p = append(p, "engine imports "+imp+" (not in the allowed list)")
		}
	}
	for _, dep := range closure {
		if closureDenied(dep) {
			p = append(p, "engine depends on "+dep)
		}
	}
	return p
}

func TestEngineImportsNoIO(t *testing.T) {
	self := goList(t, ".")
	if len(self) != 1 {
		t.Fatalf("go list . gave %d packages", len(self))
	}
	var closure []string
	for _, p := range goList(t, "-deps", ".") {
		closure = append(closure, p.ImportPath)
	}
	if len(closure) < 10 {
		t.Fatalf("dependency closure of %d packages: go list is not working", len(closure))
	}
	for _, msg := range importProblems(self[0].Imports, closure) {
		t.Error(msg)
	}

	// Source checks: no goroutines, no clock.
	fset := token.NewFileSet()
	for _, name := range self[0].GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(self[0].Dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range sourceProblems(fset, f) {
			t.Error(msg)
		}
	}
}

// sourceProblems finds go statements and calls of time's clock functions.
func sourceProblems(fset *token.FileSet, f *ast.File) []string {
	timeName := ""
	for _, imp := range f.Imports {
		if path, _ := strconv.Unquote(imp.Path.Value); path == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	var p []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			p = append(p, fset.Position(n.Pos()).String()+": go statement in the engine")
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && timeName != "" && id.Name == timeName && clockFuncs[n.Sel.Name] {
				p = append(p, fset.Position(n.Pos()).String()+": time."+n.Sel.Name+" in the engine")
			}
		}
		return true
	})
	return p
}

// The checks above must be able to fail.
func TestImportCheckRefuses(t *testing.T) {
	for _, bad := range [][2][]string{
		{{"os"}, nil},
		{{"net"}, nil},
		{{"math/rand"}, nil},
		{nil, {"net/http"}},
		{nil, {"github.com/twmb/franz-go/pkg/kgo"}},
		{nil, {"github.com/emiago/sipgo"}},
		{nil, {"github.com/switchboard-cc/switchboard/internal/tenant"}},
	} {
		if len(importProblems(bad[0], bad[1])) == 0 {
			t.Errorf("direct %v closure %v accepted", bad[0], bad[1])
		}
	}
	if p := importProblems([]string{"strconv", "github.com/switchboard-cc/switchboard/event"}, []string{"os", "fmt"}); len(p) != 0 {
		t.Errorf("good imports refused: %v", p)
	}
	src := "package x\nimport t \"time\"\nfunc f() { go f(); _ = t.Now() }\n"
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p := sourceProblems(fset, f); len(p) != 2 {
		t.Errorf("source problems %v, want a go statement and time.Now", p)
	}
}

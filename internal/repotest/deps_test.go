package repotest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const modulePath = "github.com/switchboard-cc/switchboard"

// TestPackageEdges pins the imports between switchboard's own packages to
// the list in DESIGN.md's "Package edges" section, both ways: a package
// importing one of ours that its line does not name, a named edge no longer
// imported, and a package with no line all fail. Only non-test code counts
// (a test may import more, e.g. a tenant to feed the relay it tests). The
// idea is tailscale's tstest/deptest; internal/engine's deps_test.go adds
// the engine's standard-library and third-party rules.
func TestPackageEdges(t *testing.T) {
	root := moduleRoot(t)
	f, err := os.Open(filepath.Join(root, "DESIGN.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := parseEdges(f)
	if err != nil {
		t.Fatalf("DESIGN.md: %v", err)
	}
	got := listEdges(t, root)
	if len(got) < 10 {
		t.Fatalf("go list found %d packages: it is not working", len(got))
	}
	for _, p := range edgeProblems(want, got) {
		t.Error(p)
	}
}

// parseEdges reads the fenced block after the "## Package edges" heading:
// one line per package, "path: import import ...", paths relative to the
// module.
func parseEdges(r io.Reader) (map[string][]string, error) {
	sc := bufio.NewScanner(r)
	section, fence := false, false
	edges := map[string][]string{}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			section = line == "## Package edges"
		case section && strings.HasPrefix(line, "```"):
			if fence {
				return edges, nil
			}
			fence = true
		case section && fence && strings.TrimSpace(line) != "":
			pkg, imports, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("edge line %q has no colon", line)
			}
			pkg = strings.TrimSpace(pkg)
			if _, dup := edges[pkg]; dup {
				return nil, fmt.Errorf("package %s listed twice", pkg)
			}
			edges[pkg] = strings.Fields(imports)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no fenced block under \"## Package edges\"")
}

// listEdges returns, per package of the module, the module's packages its
// non-test files import, relative to the module path.
func listEdges(t *testing.T, root string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "./...")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	edges := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		var own []string
		for _, imp := range p.Imports {
			if rel, ok := strings.CutPrefix(imp, modulePath+"/"); ok {
				own = append(own, rel)
			}
		}
		edges[relPath(p.ImportPath)] = own
	}
	return edges
}

func relPath(imp string) string {
	if imp == modulePath {
		return "."
	}
	return strings.TrimPrefix(imp, modulePath+"/")
}

// edgeProblems compares the edges DESIGN.md draws with those go list found.
func edgeProblems(want, got map[string][]string) []string {
	var p []string
	for _, pkg := range slices.Sorted(maps.Keys(got)) {
		w, listed := want[pkg]
		if !listed {
			p = append(p, fmt.Sprintf("%s: not in DESIGN.md's package edges", pkg))
			continue
		}
		for _, imp := range got[pkg] {
			if !slices.Contains(w, imp) {
				p = append(p, fmt.Sprintf("%s imports %s: DESIGN.md does not draw that edge", pkg, imp))
			}
		}
		for _, imp := range w {
			if !slices.Contains(got[pkg], imp) {
				p = append(p, fmt.Sprintf("%s no longer imports %s: remove the edge from DESIGN.md", pkg, imp))
			}
		}
	}
	for _, pkg := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[pkg]; !ok {
			p = append(p, fmt.Sprintf("DESIGN.md lists %s, which is not a package of the module", pkg))
		}
	}
	return p
}

// The comparison must be able to fail, each way.
func TestEdgeProblemsRefuses(t *testing.T) {
	design := "# x\n## Package edges\n\n```\ninternal/relay: event internal/journal\nevent:\n```\n## Next\n"
	want, err := parseEdges(strings.NewReader(design))
	if err != nil {
		t.Fatal(err)
	}
	if p := edgeProblems(want, map[string][]string{"internal/relay": {"internal/journal", "event"}, "event": nil}); len(p) != 0 {
		t.Errorf("matching edges refused: %v", p)
	}
	for name, got := range map[string]map[string][]string{
		"new edge":        {"internal/relay": {"event", "internal/journal", "internal/tenant"}, "event": nil},
		"dropped edge":    {"internal/relay": {"event"}, "event": nil},
		"unlisted":        {"internal/relay": {"event", "internal/journal"}, "event": nil, "internal/steprec": {"event"}},
		"listed, missing": {"internal/relay": {"event", "internal/journal"}},
	} {
		if p := edgeProblems(want, got); len(p) != 1 {
			t.Errorf("%s: problems %v, want one", name, p)
		}
	}
	for _, bad := range []string{"## Package edges\nno block\n", "## Package edges\n```\nno colon\n```\n", "## Package edges\n```\na:\na: b\n```\n"} {
		if _, err := parseEdges(strings.NewReader(bad)); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

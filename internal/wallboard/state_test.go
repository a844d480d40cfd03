package wallboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/testenv"
)

// need returns the path of tool, or fails (in CI) or skips the test.
func need(t *testing.T, tool string) string {
	t.Helper()
	return testenv.LookPath(t, "apt-get install "+tool, tool)
}

// TestStateJS checks the syntax of the page's scripts and runs the node
// tests of its model (testdata/state.test.js).
func TestStateJS(t *testing.T) {
	node := need(t, "node")
	for _, f := range []string{"static/state.js", "static/wallboard.js"} {
		if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
			t.Errorf("node --check %s: %v\n%s", f, err, out)
		}
	}
	cmd := exec.Command(node, "--test", "testdata/state.test.js")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# fail 0") {
		t.Fatalf("node --test reported failures:\n%s", out)
	}
	t.Logf("%s", out[strings.LastIndex(string(out), "# tests"):])
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(http.StripPrefix("/wallboard", Handler()))
	defer srv.Close()
	for _, c := range []struct{ path, ctype, contains string }{
		{"/wallboard/", "text/html", `<script src="wallboard.js"`},
		{"/wallboard/state.js", "text/javascript", "class Board"},
		{"/wallboard/wallboard.js", "text/javascript", "/events/ticket"},
		{"/wallboard/wallboard.css", "text/css", "--ready"},
	} {
		res, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), c.ctype) || !strings.Contains(string(b), c.contains) {
			t.Errorf("GET %s: %d %q, body lacks %q", c.path, res.StatusCode, res.Header.Get("Content-Type"), c.contains)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", c.path, csp)
		}
	}
	res, err := http.Get(srv.URL + "/wallboard/nothing.js")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("unknown file: %d, want 404", res.StatusCode)
	}
}

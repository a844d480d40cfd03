//go:build unix

package wallboard_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"

	"github.com/switchboard-cc/switchboard/internal/testenv"
)

const token = "wallboard-e2e-token"

// server is an app.Main (serve) running in-process with the embedded broker.
type server struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// startServe runs serve on httpAddr ("127.0.0.1:0" for a free port) with
// the demo tenant and token.
func startServe(t *testing.T, httpAddr string) *server {
	t.Helper()
	cfg := app.DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.HTTP = httpAddr
	cfg.KafkaListen = "127.0.0.1:0"
	cfg.SIP = "127.0.0.1:0"
	cfg.Partitions = 1
	ready := make(chan app.Addrs, 1)
	s := &server{done: make(chan error, 1)}
	m := app.Main{
		Config: cfg,
		Stdout: io.Discard,
		Logger: kafkatest.Logger(t, slog.LevelWarn),
		Getenv: func(k string) string {
			if k == app.EnvDemoToken {
				return token
			}
			return ""
		},
		OnReady: func(a app.Addrs) { ready <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- m.Run(ctx) }()
	select {
	case a := <-ready:
		s.addr = a.HTTP
	case err := <-s.done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("serve did not become ready in 60s")
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *server) stop(t *testing.T) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("serve did not stop in 30s")
	}
}

// do sends one API request with the tenant's token; it returns the status
// and the decoded body.
func (s *server) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.addr+"/v1/tenants/demo"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(res.Body)
	json.Unmarshal(b, &out)
	return res.StatusCode, out
}

// must sends a request that must succeed.
func (s *server) must(t *testing.T, method, path, body string) map[string]any {
	t.Helper()
	status, out := s.do(t, method, path, body)
	if status != http.StatusOK && status != http.StatusCreated {
		t.Fatalf("%s %s %s: %d %v", method, path, body, status, out)
	}
	return out
}

// serviceLevel is the service level the page must show for queue q: the
// statistics API's, as docs/STATS.md defines it ("–" with nothing to
// count).
func (s *server) serviceLevel(t *testing.T, q string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.addr+"/v1/tenants/demo/stats/queues", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Queues []struct {
			Queue string
			Today struct{ Answered, Abandoned, AbandonedWithin5s, AnsweredInServiceLevel int }
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	for _, x := range out.Queues {
		if x.Queue == q {
			d := x.Today
			if n := d.Answered + d.Abandoned - d.AbandonedWithin5s; n > 0 {
				return strconv.Itoa(int(math.Round(100*float64(d.AnsweredInServiceLevel)/float64(n)))) + "%"
			}
		}
	}
	return "–"
}

// view is what the page shows, read from its DOM.
type view struct {
	Status string            `json:"status"`
	Hash   string            `json:"hash"`
	Agents map[string]string `json:"agents"` // agent id -> status shown
	Timers map[string]string `json:"timers"` // agent id -> time in state shown
	Calls  map[string]string `json:"calls"`  // ConnID -> "dn:state dn:state"
	Queues map[string]struct {
		Waiting, Longest, SL, Foot string
	} `json:"queues"`
	Feed  []string `json:"feed"`
	Text  string   `json:"text"`
	Login bool     `json:"login"`
}

const readView = `(() => {
  const all = (sel) => [...document.querySelectorAll(sel)];
  const field = (e, f) => { const x = e.querySelector('[data-field="' + f + '"]'); return x ? x.textContent : ""; };
  return {
    status: document.getElementById("conn-status").dataset.state,
    hash: location.hash,
    agents: Object.fromEntries(all("[data-agent]").map((e) => [e.dataset.agent, e.dataset.status])),
    timers: Object.fromEntries(all("[data-agent]").map((e) => [e.dataset.agent, e.querySelector(".timer").textContent])),
    calls: Object.fromEntries(all("[data-call]").map((e) => [e.dataset.call,
      all("[data-call='" + e.dataset.call + "'] [data-party]").map((p) => p.dataset.party + ":" + p.dataset.state).join(" ")])),
    queues: Object.fromEntries(all("[data-queue]").map((e) => [e.dataset.queue,
      { Waiting: field(e, "waiting"), Longest: field(e, "longest"), SL: field(e, "sl"), Foot: e.querySelector(".foot").textContent }])),
    feed: all("#feed li").map((e) => e.dataset.event),
    text: document.body.innerText,
    login: !document.getElementById("login").hidden,
  };
})()`

// waitFor polls the page until cond holds (20 s at most).
func waitFor(t *testing.T, b *browser, what string, cond func(v view) bool) view {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var v view
	var err error
	for time.Now().Before(deadline) {
		v = view{}
		if err = b.eval(readView, &v); err == nil && cond(v) {
			return v
		}
		time.Sleep(100 * time.Millisecond)
	}
	shot := artifact(t, "wallboard-failed.png")
	b.screenshot(t, shot)
	t.Fatalf("the page never showed %s (last error %v); screenshot %s; last view:\nstatus %s agents %v calls %v queues %v feed %v\n%s",
		what, err, shot, v.Status, v.Agents, v.Calls, v.Queues, v.Feed, v.Text)
	return v
}

// artifact is the path of a test artifact: test-artifacts/ at the
// repository root (git-ignored).
func artifact(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	dir = filepath.Join(dir, "test-artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

func findChromium(t *testing.T) string {
	t.Helper()
	return testenv.LookPath(t, "Debian package chromium", "chromium", "chromium-browser")
}

// TestWallboardInChromium opens the wallboard in headless Chromium against
// a real serve, drives agents and calls through the API, and checks what
// the page shows; then restarts serve and checks that the page reconnects
// and resyncs. It keeps a screenshot in test-artifacts/wallboard.png.
func TestWallboardInChromium(t *testing.T) {
	chromium := findChromium(t)
	srv := startServe(t, "127.0.0.1:0")
	b := startBrowser(t, chromium, 1600, 1000)

	// A wrong token: the page asks for one.
	b.navigate(t, "http://"+srv.addr+"/wallboard/?tenant=demo#token=wrong")
	v := waitFor(t, b, "the token form after a wrong token", func(v view) bool {
		return v.Login && strings.Contains(v.Text, "not valid")
	})
	if v.Hash != "" {
		t.Errorf("the token stays in the address bar: %q", v.Hash)
	}

	b.navigate(t, "http://"+srv.addr+"/wallboard/?tenant=demo#token="+token)
	v = waitFor(t, b, "the live stream", func(v view) bool { return v.Status == "live" })
	if v.Hash != "" {
		t.Errorf("the token stays in the address bar: %q", v.Hash)
	}
	if len(v.Agents) != 0 {
		t.Errorf("agents shown before any login: %v", v.Agents)
	}

	// Agents log in, get ready and not ready.
	srv.must(t, "POST", "/dns/1001/login", `{"agentId":"agent1","queues":["7000"]}`)
	srv.must(t, "POST", "/dns/1002/login", `{"agentId":"agent2","queues":["7000","7001"]}`)
	srv.must(t, "POST", "/dns/1003/login", `{"agentId":"agent3","queues":["7001"]}`)
	waitFor(t, b, "three agents not ready", func(v view) bool {
		return v.Agents["agent1"] == "NotReady" && v.Agents["agent2"] == "NotReady" && v.Agents["agent3"] == "NotReady"
	})
	srv.must(t, "POST", "/dns/1001/ready", `{}`)
	srv.must(t, "POST", "/dns/1002/ready", `{"workMode":"AutoIn"}`)
	v = waitFor(t, b, "agent1 and agent2 ready", func(v view) bool {
		return v.Agents["agent1"] == "Ready" && v.Agents["agent2"] == "Ready" && v.Agents["agent3"] == "NotReady"
	})
	first := v.Timers["agent3"]
	waitFor(t, b, "agent3's time in state ticking", func(v view) bool {
		return v.Timers["agent3"] != first && strings.HasPrefix(v.Timers["agent3"], "00:0")
	})
	waitFor(t, b, "queues 7000 and 7001 from the logins", func(v view) bool {
		q0, q1 := v.Queues["7000"], v.Queues["7001"]
		return q0.Waiting == "0" && q1.Waiting == "0" &&
			strings.HasPrefix(q0.Foot, "2 of 2 agents ready") && strings.HasPrefix(q1.Foot, "1 of 2 agents ready")
	})

	// A call from agent1 to agent2 appears, is answered, and leaves.
	call := srv.must(t, "POST", "/calls", `{"from":"1001","to":"1002"}`)
	conn, _ := call["connId"].(string)
	waitFor(t, b, "the call ringing", func(v view) bool {
		return v.Calls[conn] == "1001:Dialing 1002:Ringing" && v.Agents["agent2"] == "Ringing" && v.Agents["agent1"] == "Dialing"
	})
	srv.must(t, "POST", "/calls/"+conn+"/answer", `{"dn":"1002"}`)
	waitFor(t, b, "the call established", func(v view) bool {
		return v.Calls[conn] == "1001:Established 1002:Established" &&
			v.Agents["agent1"] == "Talking" && v.Agents["agent2"] == "Talking"
	})
	// An inbound call from the network rings agent3's DN while the first
	// call goes on: the moment of the screenshot.
	in := srv.must(t, "POST", "/network/calls", `{"trunk":"pstn","ani":"+15550100","dnis":"1003"}`)
	inConn, _ := in["connId"].(string)
	v = waitFor(t, b, "the inbound call ringing agent3", func(v view) bool {
		return v.Calls[inConn] == "+15550100:Dialing 1003:Ringing" && v.Agents["agent3"] == "Ringing"
	})
	if !strings.Contains(strings.Join(v.Feed, " "), "EventEstablished") {
		t.Errorf("feed lacks EventEstablished: %v", v.Feed)
	}

	// A call to queue 7001 waits: of its agents, agent2 talks and agent3
	// is not ready.
	qcall := srv.must(t, "POST", "/calls", `{"from":"1004","to":"7001"}`)
	qconn, _ := qcall["connId"].(string)
	waitFor(t, b, "the call waiting in queue 7001", func(v view) bool {
		return v.Queues["7001"].Waiting == "1" && v.Queues["7001"].Longest != "–" && v.Calls[qconn] == "1004:Dialing 7001:Queued"
	})
	shot := artifact(t, "wallboard.png")
	b.screenshot(t, shot)
	t.Logf("screenshot: %s", shot)

	// Reloaded, the page finds its token in the tab's session storage and
	// rebuilds everything from GET /agents and GET /calls.
	before := waitFor(t, b, "the state before the reload", func(v view) bool { return true })
	b.call(t, b.session, "Page.reload", map[string]any{"ignoreCache": true}, nil)
	waitFor(t, b, "the same calls, agents and queues after the reload", func(v view) bool {
		return v.Status == "live" && len(v.Feed) == 0 && maps.Equal(v.Calls, before.Calls) &&
			maps.Equal(v.Agents, before.Agents) && v.Queues["7001"].Waiting == before.Queues["7001"].Waiting
	})

	srv.must(t, "POST", "/network/calls/"+inConn+"/release", `{}`)
	srv.must(t, "POST", "/calls/"+conn+"/release", `{"dn":"1001"}`)
	// agent2 is free and ready (AutoIn): the call leaves the queue for
	// agent2, whose caller hangs up before the answer.
	waitFor(t, b, "the call leaving queue 7001 for agent2", func(v view) bool {
		return v.Queues["7001"].Waiting == "0" && v.Agents["agent2"] == "Ringing" && v.Calls[qconn] == "1004:Dialing 1002:Ringing"
	})
	srv.must(t, "POST", "/calls/"+qconn+"/release", `{"dn":"1004"}`)
	waitFor(t, b, "the call abandoned from queue 7001", func(v view) bool {
		_, c := v.Calls[qconn]
		return !c && strings.Contains(v.Queues["7001"].Foot, "1 offered · 0 answered · 1 abandoned today") &&
			v.Queues["7001"].SL == srv.serviceLevel(t, "7001")
	})
	waitFor(t, b, "the calls gone and the agents back to their states", func(v view) bool {
		return len(v.Calls) == 0 && v.Agents["agent1"] == "Ready" && v.Agents["agent2"] == "Ready" && v.Agents["agent3"] == "NotReady"
	})
	// A second queue call is answered at once: answered within service
	// level; its end puts agent2 in after-call work (7001 has 10 s).
	qcall = srv.must(t, "POST", "/calls", `{"from":"1004","to":"7001"}`)
	qconn, _ = qcall["connId"].(string)
	waitFor(t, b, "the second queue call ringing agent2", func(v view) bool {
		return v.Calls[qconn] == "1004:Dialing 1002:Ringing"
	})
	srv.must(t, "POST", "/calls/"+qconn+"/answer", `{"dn":"1002"}`)
	v = waitFor(t, b, "the queue call answered within service level", func(v view) bool {
		return v.Agents["agent2"] == "Talking" && strings.Contains(v.Queues["7001"].Foot, "2 offered · 1 answered · 1 abandoned today") &&
			v.Queues["7001"].SL == srv.serviceLevel(t, "7001") && v.Queues["7001"].SL != "–"
	})
	// Reloaded, the page shows the day's figures (from the statistics
	// API), not only what it saw since it opened.
	answered := v.Queues["7001"]
	b.call(t, b.session, "Page.reload", map[string]any{"ignoreCache": true}, nil)
	waitFor(t, b, "the day's figures of 7001 after a reload", func(v view) bool {
		return v.Status == "live" && len(v.Feed) == 0 && v.Queues["7001"].Foot == answered.Foot && v.Queues["7001"].SL == answered.SL
	})
	srv.must(t, "POST", "/calls/"+qconn+"/release", `{"dn":"1004"}`)
	waitFor(t, b, "agent2 in after-call work", func(v view) bool {
		_, c := v.Calls[qconn]
		return !c && v.Agents["agent2"] == "AfterCallWork"
	})
	srv.must(t, "POST", "/dns/1001/not-ready", `{"workMode":"WalkAway"}`)
	srv.must(t, "POST", "/dns/1003/logout", `{}`)
	waitFor(t, b, "agent1 not ready and agent3 gone", func(v view) bool {
		_, a3 := v.Agents["agent3"]
		return v.Agents["agent1"] == "NotReady" && !a3 && strings.Contains(v.Text, "logged out")
	})

	// serve goes away: the page says so and retries; a new serve comes up
	// on the same address with a fresh state: the page resyncs to it.
	addr := srv.addr
	srv.stop(t)
	waitFor(t, b, "the page offline", func(v view) bool { return v.Status == "retry" || v.Status == "connecting" })
	srv2 := startServe(t, addr)
	srv2.must(t, "POST", "/dns/1005/login", `{"agentId":"agent5","queues":["7000"]}`)
	waitFor(t, b, "the page live again and resynced", func(v view) bool {
		_, a1 := v.Agents["agent1"]
		return v.Status == "live" && !a1 && v.Agents["agent5"] == "NotReady"
	})
	srv2.must(t, "POST", "/dns/1005/ready", `{}`)
	waitFor(t, b, "agent5 ready through the new stream", func(v view) bool { return v.Agents["agent5"] == "Ready" })
}

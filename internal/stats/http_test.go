package stats

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/ctiapi"
)

// take adds an event as Run does: under the lock, announcing the change.
func (s *Service) take(ev *event.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agg.Add(ev)
	s.version++
	close(s.changed)
	s.changed = make(chan struct{})
}

// TestWebSocketPushRate: the statistics WebSocket sends the figures at
// once, then at most once per PushInterval however often they change
// (here every 20 ms for 2.5 s), and the last change reaches it within
// PushInterval once the changes stop.
func TestWebSocketPushRate(t *testing.T) {
	s := NewService(Config{})
	mux := http.NewServeMux()
	s.Mount(mux.Handle, ctiapi.NewGuard(map[string][]string{"demo": {"tok"}}, nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+srv.URL[4:]+"/v1/tenants/demo/stats/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer tok"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	type push struct {
		at     time.Time
		events int64
	}
	pushes := make(chan push, 100)
	go func() {
		defer close(pushes)
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var u Update
			if err := json.Unmarshal(b, &u); err != nil {
				t.Error(err)
				return
			}
			pushes <- push{time.Now(), u.Tenant.Events}
		}
	}()
	first := <-pushes
	if first.events != 0 {
		t.Fatalf("first push: %d events", first.events)
	}
	start := time.Now()
	n := int64(0)
	for time.Since(start) < 2500*time.Millisecond {
		n++
		s.take(&event.Event{ID: event.EventAgentReady, CustomerID: "demo", AgentID: "a1", ThisDN: "1001",
			Time: event.TimeFromUnixMicro(time.Now().UnixMicro()), Seq: n})
		time.Sleep(20 * time.Millisecond)
	}
	got := []push{first}
	for p := range pushes {
		got = append(got, p)
		if p.events == n {
			break
		}
	}
	last := got[len(got)-1]
	if last.events != n {
		t.Fatalf("the last change (%d events) never pushed; pushes %v", n, got)
	}
	if late := last.at.Sub(start.Add(2500 * time.Millisecond)); late > PushInterval+200*time.Millisecond {
		t.Errorf("the last change pushed %v after the changes stopped", late)
	}
	if len(got) < 3 {
		t.Errorf("%d pushes in 2.5 s of changes, want at least 3 (at once, then about once a second)", len(got))
	}
	for i := 1; i < len(got); i++ {
		// The server waits PushInterval after each send; the client
		// sees the gap give or take the loopback's jitter.
		if gap := got[i].at.Sub(got[i-1].at); gap < PushInterval-100*time.Millisecond {
			t.Errorf("push %d came %v after the one before, less than %v", i, gap, PushInterval)
		}
	}
	t.Logf("%d changes, %d pushes", n, len(got))
}

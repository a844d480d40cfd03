package ctiapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-cc/switchboard/event"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func slogJSON(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func dial(t *testing.T, f *fixture, token, query string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(f.http.URL, "http") + "/v1/tenants/demo/events" + query
	c, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, res)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readN(t *testing.T, c *websocket.Conn, n int) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out [][]byte
	for len(out) < n {
		typ, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d messages: %v", len(out), err)
		}
		if typ != websocket.MessageText {
			t.Fatalf("message type %v", typ)
		}
		out = append(out, b)
	}
	return out
}

// TestEventStream: each message is one event exactly as event.Marshal
// writes the Kafka record value, in step order; ?dn= and ?topic= filter.
func TestEventStream(t *testing.T) {
	f := newFixture(t, nil)
	all := dial(t, f, demoToken, "")
	only := dial(t, f, demoToken, "?dn=1002")
	agent := dial(t, f, demoToken, "?topic=voice-agentstate")
	calls := dial(t, f, demoToken, "?topic=voice-callthread")

	reqs := [][2]string{
		{"1001/login", `{"agentId":"agent1","queues":["7000","7001"],"referenceId":1}`},
		{"1002/dnd", `{"on":true}`},
		{"1001/ready", `{}`},
		{"1002/dnd", `{"on":false}`},
	}
	var recorded []event.Event
	for _, r := range reqs {
		if res := f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/"+r[0], r[1]); res.status != 200 {
			t.Fatalf("%s: %d %s", r[0], res.status, res.body)
		}
		recorded = append(recorded, f.sink.take()...)
	}
	if len(recorded) != 5 {
		t.Fatalf("%d events recorded, want 5", len(recorded))
	}
	got := readN(t, all, len(recorded))
	for i := range recorded {
		if want := event.Marshal(&recorded[i]); !bytes.Equal(got[i], want) {
			t.Errorf("message %d:\n%s\nwant\n%s", i, got[i], want)
		}
		var ev event.Event
		if err := event.Unmarshal(got[i], &ev); err != nil {
			t.Errorf("message %d does not decode: %v", i, err)
		}
	}
	var want1002 [][]byte
	for i := range recorded {
		if recorded[i].ThisDN == "1002" {
			want1002 = append(want1002, event.Marshal(&recorded[i]))
		}
	}
	if got := readN(t, only, len(want1002)); !slices.EqualFunc(got, want1002, bytes.Equal) {
		t.Errorf("?dn=1002 got %q, want %q", got, want1002)
	}
	if got := readN(t, agent, len(recorded)); len(got) != len(recorded) {
		t.Errorf("?topic=voice-agentstate: %d messages", len(got))
	}
	// voice-callthread has nothing yet: the next message on that stream
	// must not arrive within a read that we end by closing the socket.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, b, err := calls.Read(ctx); err == nil {
		var m map[string]any
		json.Unmarshal(b, &m)
		t.Errorf("?topic=voice-callthread got %v", m["id"])
	}
}

func TestEventStreamClosesOnShutdown(t *testing.T) {
	f := newFixture(t, nil)
	c := dial(t, f, demoToken, "")
	// Make sure the subscription is live before closing the tenant.
	f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1002/dnd", `{"on":true}`)
	readN(t, c, 1)
	f.srv.cfg.Tenants["demo"].Runtime.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("read after shutdown: %v, want close status going away", err)
	}
}

// TestEventStreamDropsSlowConsumer: a client that does not read is dropped
// (the engine is never blocked: every request keeps succeeding), and the
// stream ends, with the slow-consumer close reason when the close frame
// still fits in the connection.
func TestEventStreamDropsSlowConsumer(t *testing.T) {
	var logs syncBuffer
	f := newFixture(t, func(c *Config) {
		c.EventBuffer = 1
		c.WriteTimeout = 500 * time.Millisecond
		c.Logger = slogJSON(&logs)
	})
	c := dial(t, f, demoToken, "")
	body := `{"on":true,"reasons":{"pad":"` + strings.Repeat("x", 2000) + `"}}`
	dropped := false
	for i := 0; i < 20000 && !dropped; i++ {
		if r := f.do(t, demoToken, "POST", "/v1/tenants/demo/dns/1001/dnd", body); r.status != 200 {
			t.Fatalf("request %d while a subscriber is stuck: %d %s", i, r.status, r.body)
		}
		f.sink.take()
		dropped = strings.Contains(logs.String(), closeSlow)
	}
	if !dropped {
		t.Fatal("the stuck subscriber was never dropped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		if s := websocket.CloseStatus(err); s != -1 && s != websocket.StatusPolicyViolation {
			t.Fatalf("stream ended with %v, want policy violation (slow consumer)", err)
		}
		if ctx.Err() != nil {
			t.Fatal("the stream did not end")
		}
		return
	}
}

// TestEventStreamCalls: call events reach the stream exactly as recorded;
// ?topic=voice-callthread&dn=1002 gives the call events reported for 1002
// and nothing of the agent-state topic.
func TestEventStreamCalls(t *testing.T) {
	f := newFixture(t, nil)
	all := dial(t, f, demoToken, "")
	b := dial(t, f, demoToken, "?topic=voice-callthread&dn=1002")
	r := f.do(t, demoToken, "POST", "/v1/tenants/demo/calls", `{"from":"1001","to":"1002","userData":{"k":"v"}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("make call: %d %s", r.status, r.body)
	}
	var cr CallCreated
	json.Unmarshal(r.body, &cr)
	for _, s := range [][2]string{{"answer", "1002"}, {"hold", "1002"}, {"retrieve", "1002"}, {"release", "1001"}} {
		if r := f.do(t, demoToken, "POST", "/v1/tenants/demo/calls/"+cr.ConnID+"/"+s[0], `{"dn":"`+s[1]+`"}`); r.status != 200 {
			t.Fatalf("%s: %d %s", s[0], r.status, r.body)
		}
	}
	recorded := f.sink.take()
	got := readN(t, all, len(recorded))
	var want1002 [][]byte
	for i := range recorded {
		w := event.Marshal(&recorded[i])
		if !bytes.Equal(got[i], w) {
			t.Errorf("message %d:\n%s\nwant\n%s", i, got[i], w)
		}
		if recorded[i].ThisDN == "1002" && recorded[i].ID.Topic() == event.CallThreadTopic {
			want1002 = append(want1002, w)
		}
	}
	// Ringing, Established, Held, Retrieved, Released for 1002.
	if len(want1002) != 5 {
		t.Fatalf("%d call events for 1002 recorded, want 5", len(want1002))
	}
	if got := readN(t, b, len(want1002)); !slices.EqualFunc(got, want1002, bytes.Equal) {
		t.Errorf("?topic=voice-callthread&dn=1002 got\n%s\nwant\n%s", bytes.Join(got, []byte("\n")), bytes.Join(want1002, []byte("\n")))
	}
	// Nothing else for 1002 on that stream: the sentinel, a new call to
	// 1002, must be the next message.
	if r := f.do(t, demoToken, "POST", "/v1/tenants/demo/calls", `{"from":"1003","to":"1002","referenceId":77}`); r.status != http.StatusCreated {
		t.Fatalf("sentinel call: %d %s", r.status, r.body)
	}
	var ev event.Event
	if err := event.Unmarshal(readN(t, b, 1)[0], &ev); err != nil || ev.ID != event.EventRinging || ev.ReferenceID != 77 {
		t.Errorf("next message %s ref=%d (%v), want the sentinel's EventRinging", ev.ID, ev.ReferenceID, err)
	}
}

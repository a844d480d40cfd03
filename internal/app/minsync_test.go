package app

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/journal"
)

// TestJournalMinSyncIntervalServe: --journal-min-sync-interval, given by
// its environment variable, reaches the options of every tenant's journal
// that serve opens, and serve takes requests with it.
func TestJournalMinSyncIntervalServe(t *testing.T) {
	parsed, err := ParseFlags(nil, env(map[string]string{"SWITCHBOARD_JOURNAL_MIN_SYNC_INTERVAL": "7ms"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	opened := map[string]journal.Options{}
	orig := openJournal
	openJournal = func(dir string, o journal.Options) (*journal.Journal, error) {
		mu.Lock()
		opened[dir] = o
		mu.Unlock()
		return orig(dir, o)
	}
	t.Cleanup(func() { openJournal = orig })
	r := startMainWith(t, nil, fmt.Sprintf("minsync-%d.", time.Now().UnixNano()), func(c *Config) {
		c.Durability = parsed.Durability
	})
	if code, body := r.post(t, "POST", "/v1/tenants/demo/dns/1020/dnd", `{"on":true}`); code != http.StatusOK {
		t.Fatalf("dnd (a journaled step): %d %s", code, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(opened) == 0 {
		t.Fatal("serve opened no journal through openJournal")
	}
	for dir, o := range opened {
		if o.MinSyncInterval != 7*time.Millisecond {
			t.Errorf("journal %s: MinSyncInterval %v, want 7ms", dir, o.MinSyncInterval)
		}
	}
}

package stats

import (
	"encoding/json"
	"fmt"
)

// snapshot is the aggregator's whole state as JSON.
type snapshot struct {
	Version int            `json:"version"`
	Tenants []*tenantState `json:"tenants"`
}

const snapshotVersion = 1

// Snapshot returns the aggregator's state; Restore on a new aggregator
// with the same Options continues from it exactly.
func (a *Aggregator) Snapshot() ([]byte, error) {
	s := snapshot{Version: snapshotVersion}
	for _, id := range sortedKeys(a.tenants) {
		s.Tenants = append(s.Tenants, a.tenants[id])
	}
	return json.Marshal(&s)
}

// Restore replaces the aggregator's state with a snapshot's.
func (a *Aggregator) Restore(b []byte) error {
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("stats: snapshot: %w", err)
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("stats: snapshot version %d, want %d", s.Version, snapshotVersion)
	}
	a.tenants = map[string]*tenantState{}
	for _, t := range s.Tenants {
		if t == nil || t.ID == "" {
			return fmt.Errorf("stats: snapshot: tenant without id")
		}
		if t.Queues == nil {
			t.Queues = map[string]*queueState{}
		}
		if t.Agents == nil {
			t.Agents = map[string]*agentState{}
		}
		if t.Calls == nil {
			t.Calls = map[string]*callState{}
		}
		a.attach(t)
		a.tenants[t.ID] = t
	}
	return nil
}

package cluster

import (
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The read lease bounds zombie reads. A node that lost its shards without
// knowing it (paused, partitioned from Kafka) still holds its tenants'
// state in memory; its writes are fenced (their commits fail), but a read
// (GET) answered from that memory would be stale once the new owner
// commits. The group coordinator cannot give a member's shards to another
// node before the member's session expired, that is SessionTimeout after
// the coordinator last heard a heartbeat from it. So a node serves reads
// only while its lease holds: the lease runs from the moment the node sent
// the last heartbeat the coordinator answered as a member (no error, or
// REBALANCE_IN_PROGRESS, which still counts the member in), or from its
// latest assignment, for NodeConfig.ReadLease (default SessionTimeout less
// one HeartbeatInterval, as a margin for clock rate and the reply's way
// back). Past it, reads of the node's tenants get 503 with Retry-After,
// until a heartbeat is answered again or the group takes the shards away
// (then requests are forwarded to the new owner). An answer that says
// the member is gone ends the lease at once. A node rejoining the group in
// a rebalance sends no heartbeats until the rebalance completes: if that
// takes longer than the lease (the coordinator waits for a member that
// does not rejoin), its reads get 503 meanwhile, never stale state.
type lease struct {
	dur time.Duration

	mu    sync.Mutex
	sent  time.Time // the heartbeat in flight
	valid time.Time // start of the current lease; zero: none
}

func (l *lease) heartbeatSent(now time.Time) {
	l.mu.Lock()
	l.sent = now
	l.mu.Unlock()
}

// heartbeatDone takes the answer to the heartbeat in flight.
func (l *lease) heartbeatDone(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err == nil || errors.Is(err, kerr.RebalanceInProgress):
		if l.sent.After(l.valid) {
			l.valid = l.sent
		}
	case errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) ||
		errors.Is(err, kerr.FencedInstanceID) || errors.Is(err, kerr.FencedMemberEpoch):
		l.valid = time.Time{}
	}
	// Another error (the coordinator moved, a broken connection) says
	// nothing either way: the lease runs out unless renewed.
}

func (l *lease) renew(at time.Time) {
	l.mu.Lock()
	if at.After(l.valid) {
		l.valid = at
	}
	l.mu.Unlock()
}

// holds reports whether the lease holds at now, and how old it is.
func (l *lease) holds(now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.valid.IsZero() {
		return false, 0
	}
	age := now.Sub(l.valid)
	return age < l.dur, age
}

// leaseLogger is the group client's logger: it passes everything on to
// inner at inner's level, and reads the heartbeats' fate from kgo's debug
// lines "heartbeating" and "heartbeat complete" (err), which kgo logs
// around each heartbeat request of the group session
// (consumer_group.go). TestReadLease fails if kgo stops logging them.
type leaseLogger struct {
	inner kgo.Logger
	l     *lease
}

func (g leaseLogger) Level() kgo.LogLevel { return kgo.LogLevelDebug }

func (g leaseLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch msg {
	case "heartbeating":
		g.l.heartbeatSent(time.Now())
	case "heartbeat complete":
		var err error
		for i := 0; i+1 < len(keyvals); i += 2 {
			if k, _ := keyvals[i].(string); k == "err" {
				err, _ = keyvals[i+1].(error)
			}
		}
		g.l.heartbeatDone(err)
	}
	if g.inner.Level() >= level {
		g.inner.Log(level, msg, keyvals...)
	}
}

// ReadLease reports whether this node may answer reads from its tenants'
// memory (see lease), and the age of its lease.
func (n *Node) ReadLease() (bool, time.Duration) { return n.lease.holds(time.Now()) }

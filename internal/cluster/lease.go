package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
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
// REBALANCE_IN_PROGRESS, which still counts the member in and renews its
// session), or from its latest assignment, for NodeConfig.ReadLease
// (default SessionTimeout less one HeartbeatInterval, as a margin for clock
// rate and the reply's way back). Past it, reads of the node's tenants get
// 503 with Retry-After, until a heartbeat is answered again or the group
// takes the shards away (then requests are forwarded to the new owner). An
// answer that says the member is gone (UNKNOWN_MEMBER_ID,
// FENCED_INSTANCE_ID) ends the lease at once, and so does the group
// client's OnPartitionsLost. ILLEGAL_GENERATION (the group moved to a
// generation the client has not learned yet, or left it out) renews
// nothing: the lease runs out unless a later answer renews it.
//
// Where the heartbeats' fate comes from: the node sends heartbeats of its
// own, for the member id and generation the group client holds
// (kgo.Client.GroupMetadata), through the group client (Client.Request
// routes them to the group coordinator), every HeartbeatInterval and at
// once after an assignment, and reads the answer's error code. They are
// heartbeats of the same member as kgo's own, so they renew the same
// session; the coordinator's rule above holds whichever of the two it
// heard last. kgo's hooks were considered and not used: HookBrokerE2E (or
// HookBrokerWrite and HookBrokerRead) says when a Heartbeat request was
// written and that an answer was read, but not the answer's error code,
// which is in the response body the hooks do not see. "An answer came" is
// not "the member is in": the coordinator answers UNKNOWN_MEMBER_ID to a
// node whose shards it already gave away. Inferring acceptance from kgo
// sending its next heartbeat relies on kgo's internal loop, and is wrong
// while OnPartitionsRevoked runs (kgo keeps heartbeating after a fatal
// answer until the revoke returns, and only then calls OnPartitionsLost),
// and after NOT_COORDINATOR (kgo retries the request at once, to another
// broker). The extra heartbeat costs one small request per interval. The
// classic group protocol only: a KIP-848 group (kgo.ServerSideBalancer)
// would need ConsumerGroupHeartbeat, whose answers carry assignments.
type lease struct {
	dur time.Duration

	mu    sync.Mutex
	valid time.Time // start of the current lease; zero: none
	ended time.Time // when the member was last known gone: only later heartbeats count

	refused atomic.Int64 // reads answered 503 because the lease ran out
}

// answered takes the answer (err, nil if none) to a heartbeat sent at sent.
func (l *lease) answered(sent time.Time, err error) {
	switch {
	case err == nil || errors.Is(err, kerr.RebalanceInProgress):
		l.renew(sent)
	case errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.FencedInstanceID):
		l.end(time.Now())
	}
	// Another error (ILLEGAL_GENERATION, the coordinator moved, a broken
	// connection, no answer in time) says nothing either way: the lease
	// runs out unless renewed.
}

func (l *lease) renew(at time.Time) {
	l.mu.Lock()
	if at.After(l.valid) && at.After(l.ended) {
		l.valid = at
	}
	l.mu.Unlock()
}

// end ends the lease now: the member is gone.
func (l *lease) end(now time.Time) {
	l.mu.Lock()
	l.valid, l.ended = time.Time{}, now
	l.mu.Unlock()
}

// holds reports whether the lease holds at now, and how old it is (0 if
// there is none).
func (l *lease) holds(now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.valid.IsZero() {
		return false, 0
	}
	age := now.Sub(l.valid)
	return age < l.dur, age
}

// confirm sends the node's own heartbeats (see lease) until the node
// closes: every HeartbeatInterval, and at once when poked.
func (n *Node) confirm() {
	defer close(n.confirmed)
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-n.leaseCtx.Done():
			return
		case <-t.C:
		case <-n.poke:
		}
		n.heartbeat()
	}
}

func (n *Node) heartbeat() {
	member, gen := n.group.GroupMetadata()
	if member == "" || gen < 0 {
		return // not in the group (yet), or joining it
	}
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group = GroupID(&n.cfg.Config)
	req.MemberID = member
	req.Generation = gen
	sent := time.Now()
	ctx, cancel := context.WithTimeout(n.leaseCtx, n.cfg.SessionTimeout)
	resp, err := req.RequestWith(ctx, n.group)
	cancel()
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if m, g := n.group.GroupMetadata(); m != member || g != gen {
		return // the client moved to another membership meanwhile: the answer is about the old one
	}
	n.lease.answered(sent, err)
}

// pokeLease asks for a heartbeat now.
func (n *Node) pokeLease() {
	select {
	case n.poke <- struct{}{}:
	default:
	}
}

// ReadLease reports whether this node may answer reads from its tenants'
// memory (see lease), and the age of its lease.
func (n *Node) ReadLease() (bool, time.Duration) { return n.lease.holds(time.Now()) }

// ReadsRefused is how many reads this node answered with 503 because its
// read lease had run out.
func (n *Node) ReadsRefused() int64 { return n.lease.refused.Load() }

// LeaseStatus returns the node's read lease now.
func (n *Node) LeaseStatus() LeaseStatus {
	ok, age := n.ReadLease()
	st := LeaseStatus{Holds: ok, DurationMs: float64(n.lease.dur.Microseconds()) / 1000, Refused: n.ReadsRefused()}
	if ok || age > 0 {
		ms := float64(age.Microseconds()) / 1000
		st.AgeMs = &ms
	}
	return st
}

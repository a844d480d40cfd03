package tenant

import (
	"errors"
	"sync"

	"github.com/switchboard-cc/switchboard/event"
)

// ErrSlowSubscriber is the reason a subscription ends when its buffer was
// full: the subscriber did not keep up with the tenant's events.
var ErrSlowSubscriber = errors.New("tenant: subscriber too slow, dropped")

// Filter selects the events a subscriber receives. Empty fields match
// everything.
type Filter struct {
	// Topic is an unprefixed topic name: event.AgentStateTopic or
	// event.CallThreadTopic.
	Topic string
	// DN matches events whose ThisDN is this DN: the events reported for it.
	DN string
}

// Match reports whether ev passes the filter.
func (f Filter) Match(ev *event.Event) bool {
	if f.Topic != "" && ev.ID.Topic() != f.Topic {
		return false
	}
	if f.DN != "" && ev.ThisDN != f.DN {
		return false
	}
	return true
}

// Subscription receives a tenant's recorded events in step order. Read C
// until Done is closed; then Err says why it ended. A subscription made by
// SubscribeQueue has no C: wait on Ready and Take the queued events.
type Subscription struct {
	C <-chan event.Event

	c chan event.Event
	// Queue mode (c == nil): events wait in q, which grows with use up to
	// max events and is given back when drained; ready has a value while q
	// is not empty. q is guarded by the hub's mutex.
	q     []event.Event
	max   int
	ready chan struct{}

	filter Filter
	hub    *hub
	done   chan struct{}
	err    error // set before done is closed
}

// Done is closed when the subscription ends: Close was called, the tenant
// closed (ErrClosed), or the subscriber was too slow (ErrSlowSubscriber).
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err is why the subscription ended; nil before Done is closed and after a
// Close by the subscriber.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() { s.hub.remove(s, nil) }

// Ready has a value when Take has events for a queue-mode subscription.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take appends the queued events of a queue-mode subscription to dst and
// empties the queue. A queue that had grown beyond a few events is given
// back to the garbage collector rather than kept for the next burst, so a
// stream that caught up holds little memory.
func (s *Subscription) Take(dst []event.Event) []event.Event {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	dst = append(dst, s.q...)
	if cap(s.q) > keepQueue {
		s.q = nil
	} else {
		clear(s.q)
		s.q = s.q[:0]
	}
	return dst
}

// keepQueue is the capacity, in events, that a drained queue keeps.
const keepQueue = 16

// hub fans released events out to subscriptions. publish never blocks.
type hub struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
}

func newHub() *hub { return &hub{subs: make(map[*Subscription]struct{})} }

func (h *hub) subscribe(f Filter, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = 1024
	}
	c := make(chan event.Event, buffer)
	s := &Subscription{C: c, c: c, filter: f, hub: h, done: make(chan struct{})}
	return h.add(s)
}

// subscribeQueue is subscribe in queue mode: no memory is reserved up
// front, at most max events wait (default 1024).
func (h *hub) subscribeQueue(f Filter, max int) *Subscription {
	if max <= 0 {
		max = 1024
	}
	s := &Subscription{max: max, ready: make(chan struct{}, 1), filter: f, hub: h, done: make(chan struct{})}
	return h.add(s)
}

func (h *hub) add(s *Subscription) *Subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.err = ErrClosed
		close(s.done)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

func (h *hub) remove(s *Subscription, reason error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s, reason)
}

func (h *hub) removeLocked(s *Subscription, reason error) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	s.err = reason
	if reason == ErrSlowSubscriber {
		s.q = nil // a dropped subscriber's backlog is not kept
	}
	close(s.done)
}

func (h *hub) publish(evs []event.Event) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		for i := range evs {
			if !s.filter.Match(&evs[i]) {
				continue
			}
			if s.c == nil {
				if len(s.q) >= s.max {
					h.removeLocked(s, ErrSlowSubscriber)
				} else {
					s.q = append(s.q, evs[i])
					select {
					case s.ready <- struct{}{}:
					default:
					}
				}
			} else {
				select {
				case s.c <- evs[i]:
				default:
					h.removeLocked(s, ErrSlowSubscriber)
				}
			}
			if _, ok := h.subs[s]; !ok {
				break
			}
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.removeLocked(s, ErrClosed)
	}
}

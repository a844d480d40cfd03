package tenant

import (
	"errors"
	"testing"

	"github.com/switchboard-cc/switchboard/event"
)

func TestQueueSubscription(t *testing.T) {
	h := newHub()
	s := h.subscribeQueue(Filter{DN: "1001"}, 3)
	if cap(s.q) != 0 {
		t.Fatalf("a new queue reserves %d events, want none", cap(s.q))
	}
	ev := func(dn string, seq int64) event.Event {
		return event.Event{ID: event.EventDNDOn, CustomerID: "t", ThisDN: dn, Seq: seq}
	}
	h.publish([]event.Event{ev("1001", 1), ev("1002", 1), ev("1001", 2)})
	select {
	case <-s.Ready():
	default:
		t.Fatal("Ready has no value after matching events")
	}
	got := s.Take(nil)
	if len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("Take = %+v, want the two events of 1001", got)
	}
	if got := s.Take(nil); len(got) != 0 {
		t.Fatalf("second Take = %d events, want 0", len(got))
	}

	// A queue that grew beyond keepQueue is given back once drained.
	big := h.subscribeQueue(Filter{}, 100)
	var evs []event.Event
	for i := range keepQueue + 10 {
		evs = append(evs, ev("1003", int64(i+1)))
	}
	h.publish(evs)
	if n := len(big.Take(nil)); n != keepQueue+10 {
		t.Fatalf("Take = %d events, want %d", n, keepQueue+10)
	}
	if big.q != nil {
		t.Errorf("drained queue keeps capacity %d, want it released", cap(big.q))
	}

	// Over its bound the subscriber is dropped as slow, its backlog freed.
	h.publish([]event.Event{ev("1001", 3), ev("1001", 4), ev("1001", 5), ev("1001", 6)})
	select {
	case <-s.Done():
	default:
		t.Fatal("a queue over its bound is not dropped")
	}
	if !errors.Is(s.Err(), ErrSlowSubscriber) {
		t.Errorf("Err = %v, want ErrSlowSubscriber", s.Err())
	}
	if s.q != nil {
		t.Errorf("a dropped subscriber keeps %d events", len(s.q))
	}
	big.Close()
	h.close()
}

package sipfront

import (
	"time"

	"github.com/emiago/sipgo/sip"
)

// The ACK of a 200 that a release overtook.
//
// A caller leg's INVITE handler sends the 200 and waits for its ACK
// (calls.go: respondAwaitAck). The engine may release the call
// meanwhile (through the API, at once after the answer): the leg leaves
// the Call-ID index at once (forget) and its BYE must wait for the ACK,
// or for the INVITE transaction to time out without one: "the callee's
// UA MUST NOT send a BYE on a confirmed dialog until it has received an
// ACK for its 2xx response or until the server transaction times out"
// (RFC 3261 section 15). The ACK is found by Call-ID, so while the 200
// awaits it the leg stays findable for ACKs alone (acking), whether it
// is indexed or not; without that, the ACK of a call released first went
// unmatched, the 200 was retransmitted until AckTimeout (64*T1) and the
// BYE went out only then, if at all (its context had the same 32 s). A
// phone calling through another cluster node hit this most (its ACK
// takes one more hop), but any phone could.
//
// The BYE waits for the INVITE handler to be done with its 200
// (responded: acknowledged), or for its wait for the ACK to end
// (acknowledged, or given up after AckTimeout, RFC 3261 13.3.1.4), then
// has a full Timer F of
// its own: before, its context's Timer F included the wait, so with
// AckTimeout at its default (64*T1, as long) the BYE had next to no time
// left, and with a longer one none.

// ackWait is a caller leg whose 200 awaits its ACK, with the end of that
// wait (acknowledged, or given up after AckTimeout: invite.go, ackDone).
type ackWait struct {
	l      *leg
	txDone <-chan struct{}
}

// awaitingAck makes caller leg l's ACKs find it until the returned
// function is called (the 200 acknowledged or given up); done is closed
// when its 200 is (the INVITE's server transaction of sipgo's ended with
// the 200: invite.go).
func (s *Server) awaitingAck(l *leg, done <-chan struct{}) func() {
	w := &ackWait{l: l, txDone: done}
	s.acking.Store(l.callID, w)
	return func() { s.acking.CompareAndDelete(l.callID, w) }
}

// ackLeg is the leg an ACK with Call-ID id is for: the indexed one, else
// a released caller leg whose 200 awaits its ACK.
func (s *Server) ackLeg(id string) *leg {
	if l := s.legByCallID(id); l != nil {
		return l
	}
	if v, ok := s.acking.Load(id); ok {
		return v.(*ackWait).l
	}
	return nil
}

// awaitResponded waits, before the BYE of leg l, until the INVITE
// handler of l (a caller) is done with its 200 (responded): acknowledged,
// or given up (at AckTimeout: RFC 3261 13.3.1.4). A 200 not yet sent when the release came is waited for
// AckTimeout and two retransmission intervals (T2) at most, the time the
// handler takes to give it up; the wait ends when the server closes.
func (s *Server) awaitResponded(l *leg) {
	if l.responded == nil {
		return
	}
	var txDone <-chan struct{}
	if v, ok := s.acking.Load(l.callID); ok && v.(*ackWait).l == l {
		txDone = v.(*ackWait).txDone
	}
	timer := time.NewTimer(s.cfg.AckTimeout + 2*sip.T2)
	defer timer.Stop()
	select {
	case <-l.responded:
	case <-txDone:
	case <-timer.C:
		s.log.Warn("SIP BYE sent with the caller's 200 still unacknowledged", "call_id", l.callID)
	case <-s.ctx.Done():
	}
}

package sipfront

import (
	"bytes"
	"math"
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

// The ACK of our 2xx, taken in the read filter.
//
// An ACK to a 2xx has no transaction (RFC 3261 sections 13.2.2.4 and
// 17.1.1.3: it is the UAC core's, with a branch of its own), yet sipgo
// handles it as it does any request: a goroutine, the whole message
// parsed, a server transaction (its key, a context with a timeout, a
// connection lookup, the state machine), then handleAck, then the
// transaction ended, some 25 allocations beyond the parse for what is a
// map lookup and a channel closed. Over UDP the read filter takes such an
// ACK first, in the socket's reading goroutine, before sipgo parses it
// (divertAck), and does what handleAck does with it: the wait for it
// ends, the 2xx is no longer resent and a BYE waiting for it goes. It
// takes only the ACK it is certain is for a 2xx of ours awaiting it: the
// leg its Call-ID finds (indexed, or released with its 200 unacknowledged:
// acking), its established dialog's tags (its To tag ours, its From tag
// the phone's) and an ACK awaited for its CSeq number (our 2xx to the
// INVITE or re-INVITE with that number). The ACK of a failure (a 407
// challenge, a 486) is for sipgo's INVITE server transaction, which
// resends the response (Timer G) until that ACK: it carries the failure's
// To tag, a fresh one (sipgo draws one per response), and its CSeq has no
// 2xx of ours awaiting its ACK, so it goes to sipgo unchanged, as does
// anything else not certainly ours (another dialog's tags, a leg still
// answering through sipgo's session, a second ACK once the first came, a
// message the filter cannot read). The work is a few map lookups under
// short locks (the server's index, the tenant's lock that guards the
// awaited ACKs): nothing waits for a tenant's engine. In a cluster, an
// ACK for a dialog another node owns is forwarded before the read filter
// (clusterConn); one forwarded here is taken like any other (the Call-ID
// decides, not the source). TCP, TLS and WebSocket are unchanged: their
// ACKs go through sipgo.

// seenAck is what the tests' hook (Server.ackSeen) sees of an ACK
// received: its CSeq number, and who took it.
type seenAck struct {
	seq uint32
	by  ackPath
}

// ackPath is who took an ACK.
type ackPath uint8

const (
	ackHandled  ackPath = iota // sipgo, which passed it to handleAck
	ackDiverted                // the read filter: the ACK of our 2xx (divertAck)
	ackAbsorbed                // the read filter: the ACK of a stateless answer (statelessTag)
)

// divertAck is the read filter's part for an ACK over UDP in data: true
// when it is the ACK of a 2xx of ours awaiting it, which it acts on
// (handleAck's work), or the ACK of one of our stateless answers, which
// needs nothing (RFC 3261 section 8.2.7): sipgo must not see either.
// false for anything else, sipgo's as before.
func (s *Server) divertAck(data []byte) bool {
	if !bytes.HasPrefix(data, []byte("ACK ")) {
		return false
	}
	k, ok := ackKeyOf(data)
	if !ok {
		return false
	}
	by := ackAbsorbed
	if !bytes.HasPrefix(k.toTag, []byte(s.slTag)) {
		l := s.ackLeg(string(k.callID))
		if l == nil || l.uas.Load() != nil {
			// No leg, or its INVITE still answered through sipgo's
			// session (handleAck passes the ACK to the session).
			return false
		}
		if !takeAck(l, k.seq, k.fromTag, k.toTag) {
			return false
		}
		by = ackDiverted
	}
	s.cfg.Metrics.SIPTransaction(string(sip.ACK)) // as counting does
	if seen := s.ackSeen.Load(); seen != nil {
		(*seen)(seenAck{seq: k.seq, by: by})
	}
	return true
}

// takeAck ends the wait of leg l's 2xx to the phone's INVITE or re-INVITE
// with CSeq number seq for its ACK, whose From and To tags are fromTag and
// toTag: false, and nothing done, unless that ACK is awaited and its tags
// are the leg's established dialog's (the To tag ours, the From tag the
// phone's). The ACK of a failure to an INVITE with the same Call-ID and
// CSeq number (a phone that kept its CSeq number when it sent its INVITE
// again with credentials) has the failure's To tag.
func takeAck[T string | []byte](l *leg, seq uint32, fromTag, toTag T) bool {
	d := l.dlg.Load()
	if d == nil {
		return false
	}
	if local, remote := d.tags(); local == "" || remote == "" || local != string(toTag) || remote != string(fromTag) {
		return false
	}
	l.t.mu.Lock()
	ack := l.awaitAck[seq]
	if ack != nil {
		delete(l.awaitAck, seq)
		close(ack)
		l.dropAcks()
	}
	l.t.mu.Unlock()
	return ack != nil
}

// ackKey is what divertAck reads of an ACK: its Call-ID, its CSeq number,
// and its From and To tags (slices of the datagram).
type ackKey struct {
	callID, fromTag, toTag []byte
	seq                    uint32
}

// ackKeyOf reads an ACK's key from its raw bytes: ok only for an ACK of
// SIP/2.0 with a Via, one Call-ID, one CSeq naming ACK, and one From and
// one To, each with a tag.
func ackKeyOf(data []byte) (k ackKey, ok bool) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	if !bytes.HasSuffix(bytes.TrimRight(line, "\r"), []byte(" SIP/2.0")) {
		return k, false
	}
	var vias, ids, cseqs, froms, tos int
	var cseq, from, to []byte
	scanHeaders(data, func(name, value []byte) bool {
		switch {
		case bytes.EqualFold(name, []byte("via")) || bytes.EqualFold(name, []byte("v")):
			vias++
		case bytes.EqualFold(name, []byte("call-id")) || bytes.EqualFold(name, []byte("i")):
			k.callID = bytes.TrimSpace(value)
			ids++
		case bytes.EqualFold(name, []byte("cseq")):
			cseq = value
			cseqs++
		case bytes.EqualFold(name, []byte("from")) || bytes.EqualFold(name, []byte("f")):
			from = value
			froms++
		case bytes.EqualFold(name, []byte("to")) || bytes.EqualFold(name, []byte("t")):
			to = value
			tos++
		}
		return true
	})
	if vias == 0 || ids != 1 || cseqs != 1 || froms != 1 || tos != 1 || len(k.callID) == 0 {
		return k, false
	}
	if k.seq, ok = ackCSeq(cseq); !ok {
		return k, false
	}
	if k.fromTag, ok = tagParam(from); !ok {
		return k, false
	}
	k.toTag, ok = tagParam(to)
	return k, ok
}

// ackCSeq is the number of a CSeq value naming ACK ("2 ACK").
func ackCSeq(v []byte) (uint32, bool) {
	v = bytes.TrimSpace(v)
	sp := bytes.IndexAny(v, " \t")
	if sp <= 0 || !bytes.Equal(bytes.TrimSpace(v[sp:]), []byte("ACK")) {
		return 0, false
	}
	var n uint64
	for _, c := range v[:sp] {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n = n*10 + uint64(c-'0'); n > math.MaxUint32 {
			return 0, false
		}
	}
	return uint32(n), true
}

// tagParam is the tag parameter of a From or To header value (name-addr
// or addr-spec, RFC 3261 section 20.10): the parameters after the URI's
// closing '>', or, without one, after the addr-spec. ok is false when
// there is no tag, or an empty one.
func tagParam[T string | []byte](v T) (tag T, ok bool) {
	start := 0
	for i := len(v) - 1; i >= 0; i-- {
		if v[i] == '>' {
			start = i + 1
			break
		}
	}
	if start == 0 {
		for i := 0; i < len(v); i++ {
			if v[i] == '<' {
				return tag, false // no closing '>'
			}
		}
	}
	v = v[start:]
	// Parameters: each after a ';' (the first segment is the addr-spec,
	// or what follows the '>': nothing but blanks).
	for i := 0; i < len(v); i++ {
		if v[i] != ';' {
			continue
		}
		p := v[i+1:]
		end := len(p)
		for j := 0; j < len(p); j++ {
			if p[j] == ';' {
				end = j
				break
			}
		}
		p = trimBlanks(p[:end])
		if len(p) > 4 && (p[0]|0x20) == 't' && (p[1]|0x20) == 'a' && (p[2]|0x20) == 'g' {
			if rest := trimBlanks(p[3:]); len(rest) > 1 && rest[0] == '=' {
				tag = trimBlanks(rest[1:])
				return tag, len(tag) > 0
			}
		}
		i += end
	}
	return tag, false
}

// trimBlanks cuts spaces and tabs off both ends of v.
func trimBlanks[T string | []byte](v T) T {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

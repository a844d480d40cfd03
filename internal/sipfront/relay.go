package sipfront

import (
	"net/netip"

	"github.com/switchboard-cc/switchboard/internal/media"
)

// Direct calls under Media.Always (anchor: always). A call that reaches a
// party without a queue (extension to extension, a trunk's call to an
// extension, a phone's call out through a trunk) never anchors its
// caller for a treatment: without more, its phones would exchange RTP
// directly, which fails behind NAT and cannot be recorded. So each INVITE
// we send for such a call offers a session of switchboard's instead of
// the caller's SDP, relayed to a second session for the caller; the
// caller's INVITE is answered, when the party answers, with that second
// session's SDP (peerSDP: the caller leg is relayed). Both sessions latch
// to where their phone's packets really come from (symmetric RTP), are
// advertised at Media.Advertise and bound in the plane's port range. A
// party INVITEd later for the same call (forwarding, a transfer's target)
// gets a new session relayed to the caller's.

// relayInvites turns the INVITEs in acts of calls whose SIP caller can be
// relayed into actRelayInvite, marking the caller (direct, relayed) and
// the new leg (relayed). A caller can be relayed while its own INVITE
// awaits its answer and it was not anchored for a treatment, or once it
// is direct.
func (b *book) relayInvites(acts []action) {
	for i := range acts {
		a := &acts[i]
		if a.kind != actInvite {
			continue
		}
		c := b.calls[a.leg.connID]
		if c == nil {
			continue
		}
		for _, cl := range c.legs {
			if cl == a.leg || !cl.caller || cl.over() {
				continue
			}
			if cl.direct || (cl.state == legCalling && !cl.anchored) {
				cl.direct, cl.anchored, cl.relayed = true, true, true
				a.leg.relayed = true
				a.kind, a.peer = actRelayInvite, cl
			}
			break
		}
	}
}

// relayInvite sends the INVITE of action a (actRelayInvite: new leg
// a.leg for caller leg a.peer) offering a session of switchboard's
// relayed to the caller's; when no session can be opened (no port, an
// offer without G.711) the INVITE offers the caller's SDP as without
// anchoring, and the legs are not relayed.
func (t *sipTenant) relayInvite(a action) {
	l, cl := a.leg, a.peer
	t.s.addLeg(l)
	go func() {
		sdp := a.sdp
		if offer, ok := t.openRelay(cl, l); ok {
			sdp = offer
		} else {
			t.mu.Lock()
			l.relayed = false
			if cl.sess.Load() == nil {
				cl.direct, cl.anchored, cl.relayed = false, false, false
			}
			t.mu.Unlock()
		}
		t.s.ringLeg(a.ctx, l, a.target, a.from, l.origin.stamp(sdp))
	}()
}

// openRelay opens caller leg cl's session (first time) and a session for
// new leg l relayed to it; the SDP offered to l's phone, false when it
// cannot.
func (t *sipTenant) openRelay(cl, l *leg) ([]byte, bool) {
	m := t.book.media
	t.mu.Lock()
	callerSDP := cl.sdp
	t.mu.Unlock()
	offer, err := media.ParseOffer(callerSDP)
	if err != nil {
		t.s.log.Info("SIP call not relayed", "call_id", cl.callID, "err", err)
		return nil, false
	}
	cs := cl.sess.Load()
	if cs == nil {
		if cs, err = m.Plane.OpenRelay(media.SessionConfig{Remote: offer.Remote, Law: offer.Law, DTMF: offer.DTMF}); err != nil {
			t.s.log.Warn("SIP call not relayed", "call_id", cl.callID, "err", err)
			return nil, false
		}
		if !cl.sess.CompareAndSwap(nil, cs) {
			cs.Close()
			cs = cl.sess.Load()
		}
		answer := media.Answer(netip.AddrPortFrom(t.advertise(cs), cs.Local().Port()), cs.Law(), offer.DTMF, legSeq.Add(1))
		t.mu.Lock()
		cl.ours = answer
		gone := cl.over()
		t.mu.Unlock()
		if gone {
			// The caller left meanwhile (handleInvite's end closes a
			// session stored before; this one came after).
			cl.closeMedia()
			return nil, false
		}
	}
	ls, err := m.Plane.OpenRelay(media.SessionConfig{Law: cs.Law(), DTMF: offer.DTMF})
	if err != nil {
		t.s.log.Warn("SIP call not relayed", "call_id", l.callID, "err", err)
		return nil, false
	}
	body := media.Answer(netip.AddrPortFrom(t.advertise(ls), ls.Local().Port()), cs.Law(), offer.DTMF, legSeq.Add(1))
	t.mu.Lock()
	l.ours = body
	t.mu.Unlock()
	t.join(cl, cs, l, ls)
	return body, true
}

// join relays caller leg cl's session cs and leg l's session ls both
// ways, ls replacing l's session; the recording (and its path in the
// UserData) is in place before the first packet is relayed. While l's
// phone still rings only its side relays: the caller's goes to whichever
// of the legs INVITEd for it answers (answeredMedia; a DN's devices ring
// together).
func (t *sipTenant) join(cl *leg, cs *media.Session, l *leg, ls *media.Session) {
	t.mu.Lock()
	queue := ""
	if c := t.calls[cl.connID]; c != nil {
		queue = c.queue
	}
	answered := l.state == legAnswered
	t.mu.Unlock()
	t.record(cl, cs, ls, queue)
	if answered {
		cs.RelayTo(ls)
	}
	ls.RelayTo(cs)
	if old := l.sess.Swap(ls); old != nil {
		old.Close()
	}
}

// advertise is the address of session s in switchboard's SDP.
func (t *sipTenant) advertise(s *media.Session) netip.Addr {
	if adv := t.book.media.Advertise; adv.IsValid() {
		return adv
	}
	return s.Local().Addr()
}

// answeredMedia: our INVITE of leg l got its answer sdp. A leg offered a
// session of ours sends to the address the answer names (until the
// phone's own packets latch it elsewhere), and its direct caller's
// session relays to it: of several legs INVITEd for the caller, the one
// that answered.
func (t *sipTenant) answeredMedia(l *leg, sdp []byte) {
	ls := l.sess.Load()
	if ls == nil {
		return
	}
	if o, err := media.ParseOffer(sdp); err == nil {
		ls.SetRemote(o.Remote)
	}
	var cs *media.Session
	t.mu.Lock()
	if c := t.calls[l.connID]; c != nil {
		for _, cl := range c.legs {
			if cl.direct && !cl.over() {
				cs = cl.sess.Load()
			}
		}
	}
	t.mu.Unlock()
	if cs != nil {
		cs.RelayTo(ls)
	}
}

package sipfront

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// Replaces on INVITE (RFC 3891): phone X's INVITE (authenticated like any)
// naming one of our dialogs by Call-ID, to-tag and from-tag (both tags
// required and matched, in either order, against the dialog's: our
// Call-IDs are predictable, our tags are not):
//
//	an unanswered INVITE of ours   call pick-up: Redirect{ConnID, DN: the ringing DN,
//	ringing DN Y's phone           To: X} then Answer{ConnID, X}: Y's phone gets CANCEL,
//	                               X's INVITE is the answered leg (200 with the caller's
//	                               SDP, the caller gets X's)
//	an answered dialog of X's own  the call moves to the new device: no engine command;
//	DN (another device)            200 with the far party's SDP, the old dialog gets
//	                               BYE, the far party a re-INVITE with the new SDP
//	an answered dialog of another  X takes over Y's place (an attended transfer completed
//	DN Y                           by the transferee's INVITE): SingleStepTransfer{ConnID,
//	                               DN: Y, To: X} then Answer{ConnID, X}; Y's dialog gets
//	                               BYE, the far party a re-INVITE with X's SDP
//	an answered dialog, early-only 486
//	anything else (unknown, over,  481
//	a dialog the phone started,
//	a trunk leg, tags not matching)

// replacesHeader parses a Replaces value: call-id;to-tag=..;from-tag=..
// [;early-only].
func replacesHeader(v string) (callID, toTag, fromTag string, earlyOnly bool) {
	parts := strings.Split(v, ";")
	callID = strings.TrimSpace(parts[0])
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(k) {
		case "to-tag":
			toTag = val
		case "from-tag":
			fromTag = val
		case "early-only":
			earlyOnly = true
		}
	}
	return callID, toTag, fromTag, earlyOnly
}

// tags are leg l's dialog tags: ours and its phone's ("" when unknown).
// The tenant's mu must be held (peerTag).
func (l *leg) tags() (local, remote string) {
	if d := l.dlg.Load(); d != nil {
		return d.tags()
	}
	if uas := l.uas.Load(); uas != nil {
		local, _ = uas.InviteRequest.To().Params.Get("tag")
		remote, _ = uas.InviteRequest.From().Params.Get("tag")
	} else if uac := l.uac.Load(); uac != nil {
		local, _ = uac.InviteRequest.From().Params.Get("tag")
		remote = l.peerTag
	}
	return local, remote
}

// replacePlan is what an INVITE with Replaces does: the engine commands
// to run (none for a device swap), or the refusal.
type replacePlan struct {
	cmds   []engine.Command
	refuse final
}

var (
	noDialog        = final{code: 481, reason: "Call/Transaction Does Not Exist"}
	answeredAlready = final{code: 486, reason: "Busy Here"}
)

// replace decides caller leg l's INVITE replacing leg r (early-only: the
// header asked so); l is bound to r's call unless refused. The actions
// are those of a device swap (no engine command).
func (b *book) replace(l, r *leg, toTag, fromTag string, earlyOnly bool) (replacePlan, []action) {
	local, remote := r.tags()
	tagsMatch := local != "" && remote != "" &&
		((toTag == local && fromTag == remote) || (toTag == remote && fromTag == local))
	c := b.calls[r.connID]
	switch {
	case !tagsMatch, r.over(), c == nil, r.trunk != "", r.t != l.t:
		return replacePlan{refuse: noDialog}, nil
	case r.state == legCalling && r.caller:
		return replacePlan{refuse: noDialog}, nil // an early dialog we did not start (RFC 3891 section 3)
	case r.state == legCalling:
		b.bind(l, r.connID)
		return replacePlan{cmds: []engine.Command{
			engine.Redirect{ConnID: r.connID, DN: r.dn, To: l.dn},
			engine.Answer{ConnID: r.connID, DN: l.dn},
		}}, nil
	case earlyOnly:
		return replacePlan{refuse: answeredAlready}, nil
	case r.dn != l.dn:
		b.bind(l, r.connID)
		return replacePlan{cmds: []engine.Command{
			engine.SingleStepTransfer{ConnID: r.connID, DN: r.dn, To: l.dn},
			engine.Answer{ConnID: r.connID, DN: l.dn},
		}}, nil
	}
	// Another device of the same DN takes the call: SIP only.
	b.bind(l, r.connID)
	acts := b.end(r, terminated)
	l.state, l.far = legAnswered, c.peerLeg(l)
	acts = append(acts, action{kind: actFinal, leg: l, fin: final{code: 200, sdp: c.peerSDP(l)}})
	return replacePlan{}, append(acts, b.repoint(c)...)
}

// replaces places caller leg l, whose INVITE carries Replaces value v,
// as place does a new call: the final response when refused.
func (s *Server) replaces(l *leg, v string) (final, bool) {
	t := l.t
	id, toTag, fromTag, earlyOnly := replacesHeader(v)
	r := s.legByCallID(id)
	if r == nil || r == l {
		return noDialog, false
	}
	t.mu.Lock()
	plan, acts := t.replace(l, r, toTag, fromTag, earlyOnly)
	if plan.refuse.code != 0 {
		l.state = legEnded
	}
	t.mu.Unlock()
	t.act(acts)
	if plan.refuse.code != 0 {
		return plan.refuse, false
	}
	for _, cmd := range plan.cmds {
		if _, err := t.do(cmd); err != nil {
			s.log.Debug("SIP Replaces not applied", "call_id", l.callID, "err", err)
			t.mu.Lock()
			l.state = legEnded
			t.mu.Unlock()
			code, reason := statusOf(err)
			return final{code: code, reason: reason}, false
		}
	}
	return final{}, true
}

// replacesOf is the Replaces header of req ("" without one).
func replacesOf(req *sip.Request) string {
	if h := req.GetHeader("Replaces"); h != nil {
		return h.Value()
	}
	return ""
}

package sipfront

import (
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// Feature codes: a phone DN dials a code of its tenant's feature-codes
// (config.FeatureCodes: *78, *79, *72<number>, *73 by default) to switch
// its own DN's do-not-disturb or forwarding; the engine's request runs as
// if the CTI API had asked (SetDND, SetForward Unconditional,
// CancelForward: EventDNDOn/Off, EventForwardSet/Cancel). The INVITE is
// answered as PBXs answer a feature code, without the confirmation
// announcement: 200 (the placeholder SDP, no media), and a BYE once the
// ACK came, so the phone shows a short call that went through. A refusal
// gets the engine's refusal (sipStatus: a forward destination that is
// neither a DN nor a number 404, a bad one 400). *73 without forwarding
// set is done already: 200 and BYE, no event.

// featureCommand is the engine command a dialled number asks DN dn for,
// nil when number is not a feature code of codes (resolved).
func featureCommand(codes config.FeatureCodes, dn, number string) engine.Command {
	switch {
	case number == "":
		return nil
	case number == codes.DNDOn:
		return engine.SetDND{DN: dn, On: true}
	case number == codes.DNDOff:
		return engine.SetDND{DN: dn, On: false}
	case number == codes.ForwardOff:
		return engine.CancelForward{DN: dn}
	case codes.ForwardOn != "" && strings.HasPrefix(number, codes.ForwardOn):
		return engine.SetForward{DN: dn, To: number[len(codes.ForwardOn):], Mode: engine.ForwardUnconditional}
	}
	return nil
}

// featureCall answers an authenticated INVITE from phone DN from that
// dials a feature code (to, the Request-URI's user); false when to is not
// one (the INVITE is a call).
func (s *Server) featureCall(req *sip.Request, tx sip.ServerTransaction, t *sipTenant, from, to string) bool {
	if d := t.dns[from]; d == nil || !d.Type.IsPhone() {
		return false
	}
	cmd := featureCommand(t.codes, from, unescape(to))
	if cmd == nil {
		return false
	}
	_, err := t.do(cmd)
	var ee *engine.Error
	if _, cancel := cmd.(engine.CancelForward); cancel && errors.As(err, &ee) && ee.Why() == engine.ReasonConflict {
		err = nil // nothing to cancel: done already
	}
	if err != nil {
		code, reason := statusOf(err)
		s.respond(req, tx, code, reason, nil)
		return true
	}
	s.featureDone(req, tx, t, from)
	return true
}

// featureDone answers a feature code's INVITE 200 with the placeholder
// SDP, waits for the ACK and ends the dialog with BYE (a BYE from the
// phone first ends it too).
func (s *Server) featureDone(req *sip.Request, tx sip.ServerTransaction, t *sipTenant, dn string) {
	l := &leg{t: t, dn: dn, callID: req.CallID().Value(), caller: true, state: legAnswered}
	if !s.addLeg(l) {
		s.respond(req, tx, 482, "Loop Detected", nil)
		return
	}
	defer s.forget(l)
	dlg, err := s.dua.ReadInvite(req, tx)
	if err != nil {
		s.respond(req, tx, 400, "Bad Request", nil)
		return
	}
	l.uas = dlg
	s.cfg.Metrics.SIPResponse("INVITE", 200)
	if !s.respondAwaitAck(l, tx, l.origin.stamp(placeholderSDP)) {
		return // the phone is gone; nothing to end
	}
	if dlg.LoadState() == sip.DialogStateEnded {
		return // the phone hung up first
	}
	s.forget(l)
	s.bye(l)
}

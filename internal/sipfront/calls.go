package sipfront

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

func (s *Server) addLeg(l *leg) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.legs[l.callID]; dup {
		return false
	}
	s.legs[l.callID] = l
	return true
}

func (s *Server) legByCallID(id string) *leg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.legs[id]
}

func (s *Server) dropLeg(l *leg) {
	s.mu.Lock()
	known := s.legs[l.callID] == l
	if known {
		delete(s.legs, l.callID)
	}
	s.mu.Unlock()
	if known {
		s.dialogDown(l)
	}
}

// trunkFor finds the tenant trunk a request comes from, by source address
// (host:port, or host for a trunk configured without a port) and, for a
// trunk whose address names a transport, the request's transport.
func (s *Server) trunkFor(source, transport string) (*sipTenant, *trunk) {
	host, _, _ := net.SplitHostPort(source)
	transport = sip.NetworkToUpper(transport)
	for _, t := range s.served() {
		for i := range t.trunks {
			tr := &t.trunks[i]
			if tr.address == "" || tr.carrier.inbound == "credentials" || tr.transport != "" && tr.transport != transport {
				continue
			}
			if tr.source == source || (tr.host == tr.source && tr.host == host) {
				return t, tr
			}
		}
	}
	return nil, nil
}

func validRequest(req *sip.Request) bool {
	return req.To() != nil && req.From() != nil && req.CallID() != nil && req.CSeq() != nil && req.Via() != nil
}

// handleInvite: a new call from a registered phone (MakeCall) or a trunk
// (NetworkCall), or a re-INVITE in one of our dialogs (hold/retrieve).
// The handler returns only when the INVITE has its final response: sipgo
// ends the transaction when the handler returns.
func (s *Server) handleInvite(req *sip.Request, tx sip.ServerTransaction) {
	if !validRequest(req) {
		s.respond(req, tx, 400, "Bad Request", nil)
		return
	}
	if _, ok := req.To().Params.Get("tag"); ok {
		s.handleReInvite(req, tx)
		return
	}
	if req.Contact() == nil {
		s.respond(req, tx, 400, "Missing Contact", nil)
		return
	}
	t, l, cmd := s.newCall(req, tx)
	if l == nil {
		return // answered by newCall
	}
	if s.badExtension(req, tx) || s.tooBrief(req, tx) {
		return // 420 (prack.go), 422 (sessiontimer.go)
	}
	l.st = s.negotiate(req, true)
	l.rel = hasOption(headerValue(req, "Require", ""), "100rel")
	dlg, err := s.duaFor(req.Transport()).ReadInvite(req, tx)
	if err != nil {
		s.respond(req, tx, 400, "Bad Request", nil)
		return
	}
	// Set before the leg is indexed (addLeg's lock publishes them): an
	// ACK of the challenge, with the same Call-ID, may be handled at once.
	l.uas.Store(dlg)
	l.sdp, l.final, l.responded = req.Body(), make(chan final, 1), make(chan struct{})
	if !s.addLeg(l) {
		s.respond(req, tx, 482, "Loop Detected", nil)
		return
	}
	answered := false
	defer func() {
		// An answered leg stays indexed until its BYE; others go now.
		if !answered {
			s.dropLeg(l)
			l.closeMedia() // a direct call's relay session (relay.go)
		}
	}()
	tx.OnCancel(func(*sip.Request) {
		// sipgo answers the CANCEL (200) and the INVITE (487) itself.
		s.cfg.Metrics.SIPTransaction("CANCEL")
		s.cfg.Metrics.SIPResponse("CANCEL", 200)
		s.cfg.Metrics.SIPResponse("INVITE", 487)
		go t.phoneGone(l)
	})
	dlg.Respond(100, "Trying", nil)
	if isFeature(cmd) {
		s.feature(l, cmd) // features.go
		return
	}
	place := t.place
	if v := replacesOf(req); v != "" {
		place = func(l *leg, _ engine.Command) (final, bool) { return s.replaces(l, v) } // replaces.go
	}
	if f, ok := place(l, cmd); !ok {
		s.inviteFinal(dlg, f.code, f.reason)
		return
	}
	answered = s.awaitFinal(l, tx)
}

// newCall classifies a new INVITE: the tenant, the caller leg and the
// engine command that makes its call. A nil leg means the INVITE has been
// answered already (unknown parties 404, authentication 401/403).
func (s *Server) newCall(req *sip.Request, tx sip.ServerTransaction) (*sipTenant, *leg, engine.Command) {
	// Copies: the leg outlives the parsed INVITE, whose header lines
	// these would keep whole.
	callID := strings.Clone(req.CallID().Value())
	to := strings.Clone(req.Recipient.User)
	from := strings.Clone(req.From().Address.User)
	if to == "" || from == "" {
		s.respond(req, tx, 404, "Not Found", nil)
		return nil, nil, nil
	}
	t, tr := s.trunkFor(s.origin(req), s.originTransport(req))
	if tr == nil {
		t, tr = s.trunkByCredentials(req) // carrier.go
	}
	if tr != nil {
		// Matched by address, credentials required too (inbound: both),
		// or by the credentials' user name (inbound: credentials).
		to = dnisOf(req, tr)
		if tr.carrier.inbound != "address" {
			if err := s.authenticate(req, tx, t, tr.user, tr.password, true); err != nil {
				return nil, nil, nil
			}
		}
		if t.dns[to] == nil {
			s.respond(req, tx, 404, "Not Found", nil)
			return nil, nil, nil
		}
		l := &leg{t: t, dn: from, trunk: tr.dn, to: to, callID: callID, caller: true}
		return t, l, engine.NetworkCall{Trunk: tr.dn, ANI: from, DNIS: to}
	}
	// Unknown tenant, unknown or password-less user: the same challenge
	// as for a real one (auth.go).
	t = s.tenantFor(req.From().Address.Host)
	pw, known := "", false
	if t != nil {
		pw, known = t.password(from)
	}
	// Every INVITE of a phone authenticates (407): its source address
	// proves nothing, UDP sources are easily spoofed.
	if err := s.authenticate(req, tx, t, from, pw, known && pw != ""); err != nil {
		return nil, nil, nil
	}
	if cmd, ok := s.featureCommand(t, from, to); ok {
		return t, &leg{t: t, dn: from, to: to, callID: callID, caller: true}, cmd // features.go
	}
	if t.dns[to] == nil && !t.external(to) {
		s.respond(req, tx, 404, "Not Found", nil)
		return nil, nil, nil
	}
	l := &leg{t: t, dn: from, to: to, callID: callID, caller: true}
	var cmd engine.Command = engine.MakeCall{From: from, To: to}
	t.mu.Lock()
	if h := t.heldBy[from]; h != nil && !h.over() && h.connID != "" {
		// The phone put a call on hold and dials: a consultation
		// (5.8), which a REFER with Replaces may complete.
		cmd = engine.InitiateTransfer{ConnID: h.connID, DN: from, To: to}
	}
	t.mu.Unlock()
	return t, l, cmd
}

// place runs cmd, which makes caller leg l's call, with l waiting where
// the call's first event finds it; l is then bound to the call. It returns
// the final response when the call could not be made: the DN dials another
// SIP call already (486), or the engine refused (statusOf).
func (t *sipTenant) place(l *leg, cmd engine.Command) (final, bool) {
	t.mu.Lock()
	waiting := t.await(l)
	t.mu.Unlock()
	if !waiting {
		return busyHere, false
	}
	out, err := t.do(cmd)
	connID := ""
	if r, ok := out.Reply.(engine.CallReply); ok && err == nil {
		connID = r.ConnID
	}
	t.mu.Lock()
	acts := t.placed(l, connID, err != nil)
	t.mu.Unlock()
	t.act(acts)
	if err != nil {
		code, reason := statusOf(err)
		return final{code: code, reason: reason}, false
	}
	if l.trunk != "" && out.Events == 0 {
		t.forwardedOut(l) // external.go
	}
	return final{}, true
}

// awaitFinal waits for the final response of caller leg l's INVITE
// (events decide it) and sends it; true when it was a 200: the dialog
// lives on, and BYE, re-INVITE and REFER find it by Call-ID.
func (s *Server) awaitFinal(l *leg, tx sip.ServerTransaction) bool {
	select {
	case f := <-l.final:
		switch f.code {
		case 0:
			return false // cancelled by the phone
		case 200:
			s.cfg.Metrics.SIPResponse("INVITE", 200)
			acked := s.respondAwaitAck(l, tx, f.sdp)
			close(l.responded)
			if !acked {
				l.t.abandon(l)
				return true
			}
			l.t.mu.Lock()
			s.armTimer(l, l.st) // sessiontimer.go
			l.t.mu.Unlock()
			return true
		}
		s.inviteFinal(l.uas.Load(), f.code, f.reason)
	case <-tx.Done():
	case <-s.ctx.Done():
		s.inviteFinal(l.uas.Load(), 503, "Service Unavailable")
	}
	return false
}

// respondAwaitAck sends the 200 with sdp to caller leg l's INVITE and
// waits for its ACK (resending the 200 meanwhile) for at most AckTimeout;
// false when none came and the phone did not hang up either: the dialog
// was abandoned half-way. The leg keeps the dialog's record from the 200
// on, and sipgo's transaction tx ends (invite.go: accept).
func (s *Server) respondAwaitAck(l *leg, tx sip.ServerTransaction, sdp []byte) bool {
	uas := l.uas.Load()
	req := uas.InviteRequest
	res := sip.NewSDPResponseFromRequest(req, sdp)
	for _, h := range s.answerHeaders(l) {
		res.AppendHeader(h)
	}
	dua := s.duaFor(req.Transport())
	if res.Contact() == nil {
		res.AppendHeader(&dua.ContactHDR) // as sipgo's session adds it
	}
	uas.InviteResponse = res
	src := req.Source()
	s.directDialog(req) // cluster.go; after the 200's destination is set
	// Established: the record replaces sipgo's session.
	d := serverDialog(uas, dua)
	ack := l.expectAck(d.remoteCSeq)
	// ack.go: its ACK finds the leg even once released, and a BYE waits
	// until ack is closed (acknowledged or given up: ackDone).
	defer s.awaitingAck(l, ack)()
	l.dlg.Store(d)
	l.uas.Store(nil)
	branch, send := s.accept(req, src, tx, res)
	acked := s.awaitAck(ack, send)
	l.ackDone(d.remoteCSeq, ack)
	if branch != "" {
		s.absorb.acked(branch) // retransmissions of the INVITE are dropped from now on
	}
	if !acked {
		s.log.Info("SIP 200 not acknowledged: ending the dialog", "call_id", l.callID)
		return false
	}
	s.dialogUp(l, d) // (if the leg is still indexed: cluster_dialogs.go)
	return true      // acknowledged, or a BYE came first (handleBye)
}

// abandon ends caller leg l, whose dialog its phone left half-way (our 2xx
// never acknowledged): BYE, and a hang-up for the engine.
func (t *sipTenant) abandon(l *leg) {
	t.mu.Lock()
	acts := t.abandoned(l)
	t.mu.Unlock()
	t.act(acts)
}

// inviteFinal sends the final response code of a new INVITE (not 200),
// counting it.
func (s *Server) inviteFinal(dlg *sipgo.DialogServerSession, code int, reason string) {
	s.cfg.Metrics.SIPResponse("INVITE", code)
	if err := dlg.Respond(code, reason, nil); err != nil {
		s.log.Debug("SIP respond", "code", code, "err", err)
	}
}

// external reports whether number leaves through a trunk, as the engine
// decides: a trunk DN without prefixes takes any number.
func (t *sipTenant) external(number string) bool {
	for _, d := range t.cfg.DNs {
		if d.Type != config.Trunk {
			continue
		}
		if d.Trunk == nil || len(d.Trunk.Prefixes) == 0 {
			return true
		}
		for _, p := range d.Trunk.Prefixes {
			if strings.HasPrefix(number, p) {
				return true
			}
		}
	}
	return false
}

// phoneGone: the phone (or trunk) of leg l hung up (CANCEL or BYE). The
// engine hears of it as a Release by that DN (or NetworkRelease).
func (t *sipTenant) phoneGone(l *leg) {
	t.mu.Lock()
	acts := t.gone(l)
	t.mu.Unlock()
	t.act(acts)
}

// releaseFor tells the engine that leg l's party left its call.
func (t *sipTenant) releaseFor(l *leg) {
	var cmd engine.Command = engine.Release{ConnID: l.connID, DN: l.dn}
	if l.trunk != "" {
		cmd = engine.NetworkRelease{ConnID: l.connID, Party: l.dn}
	}
	out, err := t.do(cmd)
	if err != nil {
		t.s.log.Debug("SIP hang-up not applied", "conn_id", l.connID, "dn", l.dn, "err", err)
		return
	}
	if l.trunk != "" && out.Events == 0 {
		t.mu.Lock()
		acts := t.trunkGone(l) // external.go
		t.mu.Unlock()
		t.act(acts)
	}
}

// handleAck confirms our 2xx of an INVITE or re-INVITE (over UDP the
// read filter takes most such ACKs first: ack.go, divertAck).
func (s *Server) handleAck(req *sip.Request, tx sip.ServerTransaction) {
	if req.CallID() == nil || req.CSeq() == nil {
		return
	}
	if seen := s.ackSeen.Load(); seen != nil {
		(*seen)(seenAck{seq: req.CSeq().SeqNo, by: ackHandled})
	}
	l := s.ackLeg(req.CallID().Value())
	if l == nil {
		return
	}
	if uas := l.uas.Load(); uas != nil {
		uas.ReadAck(req, tx)
	}
	if req.From() == nil || req.To() == nil {
		return
	}
	from, _ := req.From().Params.Get("tag")
	to, _ := req.To().Params.Get("tag")
	takeAck(l, req.CSeq().SeqNo, from, to) // ack.go
}

// handleBye: the phone hangs up an answered call.
func (s *Server) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	if !validRequest(req) {
		s.respond(req, tx, 400, "Bad Request", nil)
		return
	}
	l := s.legByCallID(req.CallID().Value())
	if l == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	if d := l.dlg.Load(); d != nil {
		if !d.validBye(req.CSeq().SeqNo) {
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
			return
		}
		s.respond(req, tx, 200, "OK", nil)
	} else {
		var err error
		switch uas, uac := l.uas.Load(), l.uac.Load(); {
		case uas != nil:
			err = uas.ReadBye(req, tx)
		case uac != nil:
			err = uac.ReadBye(req, tx)
		default:
			err = errNoDialog
		}
		if err != nil {
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
			return
		}
		s.cfg.Metrics.SIPResponse("BYE", 200) // sent by ReadBye
	}
	s.forget(l)
	l.endAcks() // our 2xx's ACK is awaited no longer
	l.t.phoneGone(l)
}

// forget removes leg l from the Call-ID index.
func (s *Server) forget(l *leg) {
	l.closeMedia()
	l.stopTimer()
	s.mu.Lock()
	known := s.legs[l.callID] == l
	if known {
		delete(s.legs, l.callID)
	}
	s.mu.Unlock()
	if known {
		s.dialogDown(l)
	}
}

// handleCancel answers a CANCEL that matched no INVITE transaction of
// sipgo's (sipgo answers the others and ends their transaction; OnCancel
// tells us).
func (s *Server) handleCancel(req *sip.Request, tx sip.ServerTransaction) {
	if s.cancelsAnswered(req) {
		// Its INVITE was answered 2xx: too late, and nothing to do
		// (RFC 3261 section 9.2; invite.go).
		s.respond(req, tx, 200, "OK", nil)
		return
	}
	s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
}

func (s *Server) handleOptions(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, 200, "OK", nil, sip.NewHeader("Allow", allowed), sip.NewHeader("Supported", supported))
}

func (s *Server) handleNotify(req *sip.Request, tx sip.ServerTransaction) {
	if req.CallID() == nil || s.legByCallID(req.CallID().Value()) == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	s.respond(req, tx, 200, "OK", nil)
}

// handleReInvite: hold (sendonly or inactive) or retrieve (sendrecv) by
// the phone, or a session refresh (sessiontimer.go).
func (s *Server) handleReInvite(req *sip.Request, tx sip.ServerTransaction) {
	l := s.legByCallID(req.CallID().Value())
	if l == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	if s.tooBrief(req, tx) {
		return
	}
	res := s.reoffer(l, req, tx)
	if res == nil {
		return
	}
	s.cfg.Metrics.SIPResponse("INVITE", res.StatusCode)
	seq := req.CSeq().SeqNo
	ack := l.expectAck(seq)
	if err := tx.Respond(res); err != nil {
		s.log.Debug("SIP re-INVITE response", "err", err)
	}
	go s.awaitReAck(l, tx, res, seq, ack)
}

// reoffer takes an offer in leg l's dialog from its phone (re-INVITE or
// UPDATE req): sendonly or inactive holds, sendrecv retrieves (a refresh
// asking for the state the call is in already is fine), and returns our
// 2xx with the answer; nil when it answered req with a refusal itself.
func (s *Server) reoffer(l *leg, req *sip.Request, tx sip.ServerTransaction) *sip.Response {
	t := l.t
	dir := sdpDirection(req.Body())
	hold := dir == "sendonly" || dir == "inactive"
	t.mu.Lock()
	c := t.calls[l.connID]
	live := c != nil && l.state == legAnswered
	var peer []byte
	var relay []action
	if live {
		peer, l.far = c.peerSDP(l), c.peerLeg(l)
		if len(req.Body()) > 0 {
			relay = t.offered(c, l, req.Body(), hold) // sessiontimer.go
		}
		l.phoneHold++
	}
	connID := l.connID
	t.mu.Unlock()
	if !live {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return nil
	}
	var cmd engine.Command = engine.Retrieve{ConnID: connID, DN: l.dn}
	if hold {
		cmd = engine.Hold{ConnID: connID, DN: l.dn}
	}
	_, err := t.do(cmd)
	t.mu.Lock()
	switch {
	case err != nil:
		l.phoneHold-- // no event will come
	case hold:
		t.heldBy[l.dn] = l
	case t.heldBy[l.dn] == l:
		delete(t.heldBy, l.dn)
	}
	t.mu.Unlock()
	if err != nil && !already(err) {
		code, reason := statusOf(err)
		s.respond(req, tx, code, reason, nil)
		return nil
	}
	t.act(relay)
	answer := peer
	if hold {
		answer = withDirection(peer, map[string]string{"sendonly": "recvonly", "inactive": "inactive"}[dir])
	}
	res := sip.NewSDPResponseFromRequest(req, l.origin.stamp(answer))
	res.AppendHeader(&s.duaFor(req.Transport()).ContactHDR)
	s.refreshed(l, req, res) // sessiontimer.go
	return res
}

// awaitReAck retransmits our 2xx res to leg l's re-INVITE (CSeq seq)
// until its ACK closes ack (handleAck), from T1 doubling up to T2, for at
// most AckTimeout; without an ACK the dialog was abandoned half-way: BYE
// and a hang-up for the engine.
func (s *Server) awaitReAck(l *leg, tx sip.ServerTransaction, res *sip.Response, seq uint32, ack chan struct{}) {
	acked := s.awaitAck(ack, func() {
		tx.Respond(res) // fails once the transaction ended: the wait goes on
	})
	l.ackDone(seq, ack)
	if !acked {
		s.log.Info("SIP 200 to a re-INVITE not acknowledged: ending the dialog", "call_id", l.callID)
		l.t.abandon(l)
	}
}

// already reports whether err refuses a command that would change
// nothing: a refresh re-INVITE asking for the state the call is in already
// (hold while held, resume while talking) is answered 200.
func already(err error) bool {
	var ee *engine.Error
	return errors.As(err, &ee) && ee.Why() == engine.ReasonAlready
}

// handleRefer: blind transfer (SingleStepTransfer) or, with Replaces,
// completion of a consultation (CompleteTransfer).
func (s *Server) handleRefer(req *sip.Request, tx sip.ServerTransaction) {
	if !validRequest(req) {
		s.respond(req, tx, 400, "Bad Request", nil)
		return
	}
	l := s.legByCallID(req.CallID().Value())
	if l == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	h := req.GetHeader("Refer-To")
	if h == nil {
		s.respond(req, tx, 400, "Missing Refer-To", nil)
		return
	}
	var target sip.Uri
	v := strings.TrimSpace(h.Value())
	if i, j := strings.IndexByte(v, '<'), strings.IndexByte(v, '>'); i >= 0 && j > i {
		v = v[i+1 : j]
	}
	if err := sip.ParseUri(v, &target); err != nil || target.User == "" {
		s.respond(req, tx, 400, "Bad Refer-To", nil)
		return
	}
	t := l.t
	t.mu.Lock()
	connID, dn := l.connID, l.dn
	ok := t.refer(l)
	t.mu.Unlock()
	if !ok {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	defer func() {
		// After the response: a BYE the transfer caused goes now.
		t.mu.Lock()
		acts := t.referred(l)
		t.mu.Unlock()
		t.act(acts)
	}()
	var cmd engine.Command = engine.SingleStepTransfer{ConnID: connID, DN: dn, To: target.User}
	if rep, has := target.Headers.Get("Replaces"); has {
		// Replaces=<call-id>;to-tag=..;from-tag=..: the consultation leg.
		id := unescape(rep)
		if i := strings.IndexByte(id, ';'); i >= 0 {
			id = id[:i]
		}
		cl := s.legByCallID(id)
		if cl == nil {
			s.respond(req, tx, 481, "Replaced Call Does Not Exist", nil)
			return
		}
		t.mu.Lock()
		other := cl.connID
		t.mu.Unlock()
		// The REFER may come on either dialog: try the REFER's call as the
		// main call, then as the consultation (the engine checks the pair).
		_, err := t.do(engine.CompleteTransfer{ConnID: connID, DN: dn, ConsultConnID: other})
		if errors.Is(err, engine.ErrConflict) {
			_, err = t.do(engine.CompleteTransfer{ConnID: other, DN: dn, ConsultConnID: connID})
		}
		if err != nil {
			code, reason := statusOf(err)
			s.respond(req, tx, code, reason, nil)
			return
		}
		s.respond(req, tx, 202, "Accepted", nil)
		s.referProgress(l, req)
		return
	}
	if _, err := t.do(cmd); err != nil {
		code, reason := statusOf(err)
		s.respond(req, tx, code, reason, nil)
		return
	}
	s.respond(req, tx, 202, "Accepted", nil)
	s.referProgress(l, req)
}

// referProgress sends the NOTIFYs of the implicit subscription of an
// accepted REFER (RFC 3515) on leg l's dialog, before the BYE the transfer
// causes: "SIP/2.0 100 Trying", then "SIP/2.0 200 OK" ending the
// subscription. The engine has made the transfer when the REFER is
// accepted (the referrer is out of the call), so the final NOTIFY follows
// at once: it tells the phone its transfer is done, not that the target
// answered.
func (s *Server) referProgress(l *leg, refer *sip.Request) {
	event := "refer;id=" + strconv.FormatUint(uint64(refer.CSeq().SeqNo), 10)
	for _, n := range []struct{ frag, state string }{
		{"SIP/2.0 100 Trying", "active;expires=60"},
		{"SIP/2.0 200 OK", "terminated;reason=noresource"},
	} {
		l.t.mu.Lock()
		l.referFrag = n.frag
		l.t.mu.Unlock()
		if _, err := s.inDialog(l, sip.NOTIFY, []byte(n.frag+"\r\n"),
			sip.NewHeader("Event", event), sip.NewHeader("Subscription-State", n.state),
			sip.NewHeader("Content-Type", "message/sipfrag;version=2.0")); err != nil {
			s.log.Debug("SIP NOTIFY for REFER", "call_id", l.callID, "err", err)
			return
		}
	}
}

// handleSubscribe accepts a SUBSCRIBE to the refer event in one of our
// dialogs (a phone refreshing its REFER's subscription, RFC 3515): 200, and
// a NOTIFY with the REFER's last progress, ending the subscription (the
// transfer is done when the REFER is accepted). Other event packages get
// 489.
func (s *Server) handleSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	if !validRequest(req) {
		s.respond(req, tx, 400, "Bad Request", nil)
		return
	}
	if s.subscribeEvent(req, tx) {
		return // message-summary, dialog (notify.go)
	}
	ev := req.GetHeader("Event")
	if ev == nil || strings.ToLower(strings.TrimSpace(strings.Split(ev.Value(), ";")[0])) != "refer" {
		s.respond(req, tx, 489, "Bad Event", nil, sip.NewHeader("Allow-Events", "refer, message-summary, dialog"))
		return
	}
	l := s.legByCallID(req.CallID().Value())
	if _, tagged := req.To().Params.Get("tag"); l == nil || !tagged {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	l.t.mu.Lock()
	frag := l.referFrag
	l.t.mu.Unlock()
	if frag == "" {
		frag = "SIP/2.0 100 Trying"
	}
	s.respond(req, tx, 200, "OK", nil, sip.NewHeader("Expires", "0"))
	go func() {
		if _, err := s.inDialog(l, sip.NOTIFY, []byte(frag+"\r\n"),
			sip.NewHeader("Event", ev.Value()), sip.NewHeader("Subscription-State", "terminated;reason=noresource"),
			sip.NewHeader("Content-Type", "message/sipfrag;version=2.0")); err != nil {
			s.log.Debug("SIP NOTIFY for SUBSCRIBE", "call_id", l.callID, "err", err)
		}
	}()
}

// inDialog sends a request of method in leg l's dialog, with body and
// headers, and waits for its final response (at most timer F).
func (s *Server) inDialog(l *leg, method sip.RequestMethod, body []byte, hdrs ...sip.Header) (*sip.Response, error) {
	contact, ok := l.remoteTarget()
	if !ok {
		return nil, errNoDialog
	}
	req := sip.NewRequest(method, contact)
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.AppendHeader(s.legContact(l))
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(s.ctx, sip.Timer_F)
	defer cancel()
	return l.dialogDo(ctx, req)
}

// unescape undoes %XX escapes in a URI header value.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, ok := unhex(s[i+1]); ok {
				if w, ok := unhex(s[i+2]); ok {
					b.WriteByte(v<<4 | w)
					i += 2
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ringLeg sends the INVITE of leg l (a DN's phone, or the trunk for an
// external party) and turns its outcome into engine commands: 200 Answer
// (NetworkAnswer), 486/600/603 busy, other failures no answer.
func (s *Server) ringLeg(ctx context.Context, l *leg, target sip.Uri, fromUser string, sdp []byte) {
	t := l.t
	defer s.reasons.forget(l.callID) // a CANCEL never sent (no provisional came) leaves its Reason: fork.go
	defer l.inviteDone()
	host, _, _ := net.SplitHostPort(s.addr)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: fromUser, Host: host}}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: target.User, Host: target.Host, Port: target.Port}}
	cid := sip.CallIDHeader(l.callID)
	hdrs := []sip.Header{from, to, &cid}
	if len(sdp) > 0 {
		hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
	}
	d, err := s.invite(ctx, l, target, sdp, hdrs) // sessiontimer.go; a carrier's challenge: carrier.go
	if err == nil {
		s.legAnswered(ctx, l, d)
		return
	}
	if d != nil && d.InviteResponse != nil && d.InviteResponse.IsSuccess() {
		// Answered after all: our CANCEL crossed the 2xx.
		s.forget(l)
		go s.lateAnswer(d)
		return
	}
	code := 408 // no final response at all: the transaction timed out
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		code = de.Res.StatusCode
	}
	t.mu.Lock()
	tell, code, acts := t.forkFailed(l, code) // fork.go
	t.mu.Unlock()
	s.forget(l)
	t.act(acts)
	if !tell {
		return // we cancelled it, or other devices of the DN still ring
	}
	var cmd engine.Command
	busy := busyStatus(code)
	switch {
	case l.first:
		// The originator's phone of an API call did not take it: the
		// originator hangs up (clicktodial.go).
		cmd = engine.Release{ConnID: l.connID, DN: l.dn}
	case l.trunk != "" && busy:
		cmd = engine.NetworkBusy{ConnID: l.connID, Party: l.dn}
	case l.trunk != "":
		cmd = engine.NetworkRelease{ConnID: l.connID, Party: l.dn}
	case busy:
		// Released(B, Busy), DestinationBusy(A) (5.4; a SIP caller gets
		// 486 and hangs up), or forwarding on busy, or RONA.
		cmd = engine.DestinationBusy{ConnID: l.connID, DN: l.dn}
	default:
		// 408, 480 and every other failure: the phone did not take the
		// call; the DN's no-answer handling applies at once.
		cmd = engine.NoAnswer{ConnID: l.connID, DN: l.dn}
	}
	out, err := t.do(cmd)
	if err != nil {
		s.log.Debug("SIP refusal not applied", "conn_id", l.connID, "dn", l.dn, "code", code, "err", err)
		return
	}
	if l.trunk != "" && out.Events == 0 {
		t.mu.Lock()
		acts := t.trunkGone(l) // external.go
		t.mu.Unlock()
		t.act(acts)
	}
}

// inviteDone ends the context of leg l's INVITE, which is over (answered,
// or refused): calling its cancel, not dropping it, also takes it out of
// the tenant context's children, which would keep it (some 300 bytes)
// for the tenant's life.
func (l *leg) inviteDone() {
	if cancel := l.cancel.Swap(nil); cancel != nil {
		(*cancel)()
	}
}

// legAnswered: the phone or trunk of leg l answered our INVITE (dialog d).
// The engine hears of it (Answer, NetworkAnswer); a leg whose party was
// released meanwhile, or whose answer the engine refuses, is BYEd.
func (s *Server) legAnswered(ctx context.Context, l *leg, d *sipgo.DialogClientSession) {
	t := l.t
	t.mu.Lock()
	live, acts := t.answered(l, d.InviteResponse.Body())
	if live {
		s.armTimer(l, s.answeredTimer(d.InviteResponse)) // sessiontimer.go
	}
	t.mu.Unlock()
	t.act(acts) // the other devices of a forked call stop ringing
	var rec *dialog
	if live {
		// Established: the record replaces sipgo's session, before the
		// ACK: a retransmission of the 2xx crossing it is ACKed again
		// from the record (invite.go, ackAgain).
		rec = clientDialog(d)
		l.dlg.Store(rec)
		l.uac.Store(nil)
	}
	d.Ack(ctx)
	if !live {
		s.forget(l)
		go d.Bye(context.Background())
		return
	}
	l.inviteDone()                              // no CANCEL now
	t.answeredMedia(l, d.InviteResponse.Body()) // relay.go
	s.dialogUp(l, rec)
	if l.first {
		// An originator's phone rung first: the engine has it dialling
		// already; its destination is INVITEd now (clicktodial.go).
		t.mu.Lock()
		acts := t.firstAnswered(l)
		t.mu.Unlock()
		t.act(acts)
		return
	}
	var cmd engine.Command = engine.Answer{ConnID: l.connID, DN: l.dn}
	if l.trunk != "" {
		cmd = engine.NetworkAnswer{ConnID: l.connID, Party: l.dn}
	}
	out, err := t.do(cmd)
	if err == nil && l.trunk != "" && out.Events == 0 {
		t.mu.Lock()
		acts := t.trunkAnswered(l) // external.go
		t.mu.Unlock()
		t.act(acts)
	}
	if err != nil {
		s.log.Debug("SIP answer not applied", "conn_id", l.connID, "dn", l.dn, "err", err)
		t.mu.Lock()
		t.failed(l)
		t.mu.Unlock()
		s.forget(l)
		bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d.Bye(bctx)
		cancel()
	}
}

// hangUp ends leg l's SIP side because the engine released its party
// (book.end).
func (t *sipTenant) hangUp(l *leg) {
	t.mu.Lock()
	acts := t.end(l, terminated)
	t.mu.Unlock()
	t.act(acts)
}

// bye sends the BYE of answered leg l, whose party the engine released,
// with Reason why (reason.go).
func (s *Server) bye(l *leg, why string) {
	s.awaitResponded(l) // ack.go
	ctx, cancel := context.WithTimeout(s.ctx, sip.Timer_F)
	defer cancel()
	var err error
	req := byeRequest(l, why)
	if req == nil {
		return
	}
	if d := l.dlg.Load(); d != nil {
		var res *sip.Response
		if res, err = d.do(ctx, l.callID, req); err == nil && res.StatusCode != 200 {
			err = &sipgo.ErrDialogResponse{Res: res}
		}
	} else if uas := l.uas.Load(); uas != nil {
		err = uas.WriteBye(ctx, req)
	} else if uac := l.uac.Load(); uac != nil {
		err = uac.WriteBye(ctx, req)
	}
	if err != nil {
		s.log.Debug("SIP BYE", "call_id", l.callID, "err", err)
	}
}

// reinvite sends a hold (sendonly) or retrieve (sendrecv) re-INVITE to an
// answered leg, for a Hold or Retrieve requested through the API, offering
// the other leg's SDP sdp with that direction.
func (s *Server) reinvite(l *leg, hold bool, sdp []byte) {
	dir := "sendrecv"
	if hold {
		dir = "sendonly"
	}
	if _, err := s.sendReinvite(l, l.origin.stamp(withDirection(sdp, dir))); err != nil {
		s.log.Debug("SIP re-INVITE", "call_id", l.callID, "err", err)
	}
}

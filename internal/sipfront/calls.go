package sipfront

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// leg is one SIP dialog of a call: a phone or trunk that called us (uas)
// or one we called (uac). Fields after callID are guarded by the tenant's
// mu.
type leg struct {
	t      *sipTenant
	dn     string // the DN, or the external number of a trunk leg
	trunk  string // the trunk DN of a network leg
	to     string // what a SIP-originated leg dialled
	callID string // SIP Call-ID

	uas    *sipgo.DialogServerSession
	uac    *sipgo.DialogClientSession
	final  chan final // uas: the final answer for the INVITE handler
	cancel context.CancelFunc

	connID    string
	sdp       []byte // the SDP this leg's phone gave (its offer or answer)
	answered  bool
	ended     bool // the SIP side is over (BYE or CANCEL sent or received)
	gone      bool // the phone hung up (CANCEL or BYE received)
	referring bool // a REFER from the phone awaits its response
	byeLater  bool // the engine released the leg during the REFER
	phoneHold int  // Hold/Retrieve requests from the phone not yet seen as events
}

// final is the final response the INVITE handler gives.
type final struct {
	code   int
	reason string
	sdp    []byte
}

// call is sipfront's view of an engine call that has SIP legs: its legs
// and the DNs the engine has on it (to know when it is over).
type call struct {
	connID string
	legs   []*leg
	dns    map[string]bool
}

func (c *call) legOf(dn string) *leg {
	for _, l := range c.legs {
		if l.dn == dn && l.trunk == "" && !l.ended {
			return l
		}
	}
	return nil
}

// peerSDP is the SDP for leg l: what another live leg of the call gave,
// else a placeholder (the other side is a CTI-only DN: no media).
func (c *call) peerSDP(l *leg) []byte {
	for _, o := range c.legs {
		if o != l && !o.ended && len(o.sdp) > 0 {
			return o.sdp
		}
	}
	return placeholderSDP
}

// placeholderSDP answers for a party without a phone (no media flows).
var placeholderSDP = []byte("v=0\r\no=switchboard 0 0 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=inactive\r\n")

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
	if s.legs[l.callID] == l {
		delete(s.legs, l.callID)
	}
	s.mu.Unlock()
}

// bindLocked attaches leg l to call connID. Caller holds t.mu.
func (t *sipTenant) bindLocked(l *leg, connID string) *call {
	if l.connID != "" {
		// Bound already (by the reply or the event, whichever came
		// first); the call may even be over.
		return t.calls[l.connID]
	}
	c := t.calls[connID]
	if c == nil {
		c = &call{connID: connID, dns: map[string]bool{}}
		t.calls[connID] = c
	}
	if l.connID == "" {
		l.connID = connID
		c.legs = append(c.legs, l)
		if l.gone {
			// The phone hung up before we knew the call.
			go t.releaseFor(l)
		}
	}
	return c
}

// trunkFor finds the tenant trunk a request comes from, by source address.
func (s *Server) trunkFor(source string) (*sipTenant, *trunk) {
	host, _, _ := net.SplitHostPort(source)
	for _, t := range s.tenants {
		for i := range t.trunks {
			tr := &t.trunks[i]
			if tr.address == "" {
				continue
			}
			if tr.address == source || (tr.host == tr.address && tr.host == host) {
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
	callID := req.CallID().Value()
	to := req.Recipient.User
	from := req.From().Address.User
	if to == "" || from == "" {
		s.respond(req, tx, 404, "Not Found", nil)
		return
	}

	var l *leg
	var cmd engine.Command
	t, tr := s.trunkFor(req.Source())
	if tr != nil {
		if t.dns[to] == nil {
			s.respond(req, tx, 404, "Not Found", nil)
			return
		}
		l = &leg{t: t, dn: from, trunk: tr.dn, to: to, callID: callID}
		cmd = engine.NetworkCall{Trunk: tr.dn, ANI: from, DNIS: to}
	} else {
		t = s.tenantFor(req.From().Address.Host)
		if t == nil {
			s.respond(req, tx, 404, "Not Found", nil)
			return
		}
		pw, known := t.password(from)
		if !known || pw == "" {
			s.respond(req, tx, 403, "Forbidden", nil)
			return
		}
		t.mu.Lock()
		b := t.bindings[from]
		trusted := b != nil && b.source == req.Source()
		t.mu.Unlock()
		if !trusted {
			if err := s.authenticate(req, tx, from, pw); err != nil {
				return
			}
		}
		if t.dns[to] == nil && !t.external(to) {
			s.respond(req, tx, 404, "Not Found", nil)
			return
		}
		l = &leg{t: t, dn: from, to: to, callID: callID}
		cmd = engine.MakeCall{From: from, To: to}
		t.mu.Lock()
		if h := t.heldBy[from]; h != nil && !h.ended && h.connID != "" {
			// The phone put a call on hold and dials: a consultation
			// (5.8), which a REFER with Replaces may complete.
			cmd = engine.InitiateTransfer{ConnID: h.connID, DN: from, To: to}
		}
		t.mu.Unlock()
	}
	if !s.addLeg(l) {
		s.respond(req, tx, 482, "Loop Detected", nil)
		return
	}
	answered := false
	defer func() {
		// An answered leg stays indexed until its BYE; others go now.
		if !answered {
			s.dropLeg(l)
		}
	}()
	dlg, err := s.dua.ReadInvite(req, tx)
	if err != nil {
		s.respond(req, tx, 400, "Bad Request", nil)
		return
	}
	l.uas, l.sdp, l.final = dlg, req.Body(), make(chan final, 1)
	tx.OnCancel(func(*sip.Request) {
		// sipgo answers the CANCEL (200) and the INVITE (487) itself.
		s.cfg.Metrics.SIPTransaction("CANCEL")
		s.cfg.Metrics.SIPResponse("CANCEL", 200)
		s.cfg.Metrics.SIPResponse("INVITE", 487)
		go t.phoneGone(l)
	})
	dlg.Respond(100, "Trying", nil)

	key := ""
	t.mu.Lock()
	if l.trunk == "" {
		if t.dialing[from] != nil {
			t.mu.Unlock()
			s.inviteFinal(dlg, 486, "Busy Here")
			return
		}
		t.dialing[from] = l
	} else {
		key = l.trunk + "\x00" + l.dn
		t.inbound[key] = append(t.inbound[key], l)
	}
	t.mu.Unlock()

	out, err := t.do(cmd)
	t.mu.Lock()
	if l.trunk == "" {
		if t.dialing[from] == l {
			delete(t.dialing, from)
		}
	} else {
		q := t.inbound[key]
		for i, x := range q {
			if x == l {
				q = append(q[:i:i], q[i+1:]...)
				break
			}
		}
		if len(q) == 0 {
			delete(t.inbound, key)
		} else {
			t.inbound[key] = q
		}
	}
	if err != nil {
		l.ended = true
		t.mu.Unlock()
		code, reason := statusOf(err)
		s.inviteFinal(dlg, code, reason)
		return
	}
	if r, ok := out.Reply.(engine.CallReply); ok {
		t.bindLocked(l, r.ConnID)
	}
	t.mu.Unlock()
	if l.trunk != "" && out.Events == 0 {
		t.forwardedOut(l) // external.go
	}

	select {
	case f := <-l.final:
		if f.code == 0 {
			return // cancelled by the phone
		}
		if f.code == 200 {
			// The dialog lives on: BYE, re-INVITE and REFER find it by
			// Call-ID.
			answered = true
			s.cfg.Metrics.SIPResponse("INVITE", 200)
			if err := dlg.RespondSDP(f.sdp); err != nil {
				s.log.Debug("SIP 200 not acknowledged", "call_id", callID, "err", err)
			}
			return
		}
		s.inviteFinal(dlg, f.code, f.reason)
	case <-tx.Done():
	case <-s.ctx.Done():
		s.inviteFinal(dlg, 503, "Service Unavailable")
	}
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
	if l.ended {
		t.mu.Unlock()
		return
	}
	l.ended, l.gone = true, true
	bound := l.connID != ""
	t.mu.Unlock()
	if l.final != nil {
		// A waiting INVITE handler is done: sipgo answered the CANCEL
		// (200, and 487 to the INVITE).
		select {
		case l.final <- final{}:
		default:
		}
	}
	if bound {
		t.releaseFor(l)
	}
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
		t.networkGone(l) // external.go
	}
}

// handleAck confirms our 2xx of an INVITE.
func (s *Server) handleAck(req *sip.Request, tx sip.ServerTransaction) {
	if req.CallID() == nil || req.CSeq() == nil {
		return
	}
	if l := s.legByCallID(req.CallID().Value()); l != nil && l.uas != nil {
		l.uas.ReadAck(req, tx)
	}
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
	switch {
	case l.uas != nil:
		if err := l.uas.ReadBye(req, tx); err != nil {
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
			return
		}
	case l.uac != nil:
		if err := l.uac.ReadBye(req, tx); err != nil {
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
			return
		}
	default:
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	s.cfg.Metrics.SIPResponse("BYE", 200) // sent by ReadBye
	s.forget(l)
	l.t.phoneGone(l)
}

// forget removes leg l from the Call-ID index.
func (s *Server) forget(l *leg) {
	s.mu.Lock()
	if s.legs[l.callID] == l {
		delete(s.legs, l.callID)
	}
	s.mu.Unlock()
}

// handleCancel answers a CANCEL that matched no INVITE (sipgo answers the
// others and ends their transaction; OnCancel tells us).
func (s *Server) handleCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
}

func (s *Server) handleOptions(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, 200, "OK", nil, sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, REFER, OPTIONS, REGISTER, NOTIFY"))
}

func (s *Server) handleNotify(req *sip.Request, tx sip.ServerTransaction) {
	if req.CallID() == nil || s.legByCallID(req.CallID().Value()) == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	s.respond(req, tx, 200, "OK", nil)
}

// handleReInvite: hold (sendonly or inactive) or retrieve (sendrecv) by
// the phone.
func (s *Server) handleReInvite(req *sip.Request, tx sip.ServerTransaction) {
	l := s.legByCallID(req.CallID().Value())
	if l == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	t := l.t
	dir := sdpDirection(req.Body())
	hold := dir == "sendonly" || dir == "inactive"
	t.mu.Lock()
	c := t.calls[l.connID]
	if c == nil || !l.answered || l.ended {
		t.mu.Unlock()
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	peer := c.peerSDP(l)
	if len(req.Body()) > 0 {
		l.sdp = req.Body()
	}
	l.phoneHold++
	t.mu.Unlock()
	var cmd engine.Command = engine.Retrieve{ConnID: l.connID, DN: l.dn}
	if hold {
		cmd = engine.Hold{ConnID: l.connID, DN: l.dn}
	}
	_, err := t.do(cmd)
	if err == nil {
		t.mu.Lock()
		if hold {
			t.heldBy[l.dn] = l
		} else if t.heldBy[l.dn] == l {
			delete(t.heldBy, l.dn)
		}
		t.mu.Unlock()
	}
	if err != nil && !isConflictSameState(err) {
		t.mu.Lock()
		l.phoneHold--
		t.mu.Unlock()
		code, reason := statusOf(err)
		s.respond(req, tx, code, reason, nil)
		return
	} else if err != nil {
		t.mu.Lock()
		l.phoneHold--
		t.mu.Unlock()
	}
	answer := peer
	if hold {
		answer = withDirection(peer, map[string]string{"sendonly": "recvonly", "inactive": "inactive"}[dir])
	}
	res := sip.NewSDPResponseFromRequest(req, answer)
	res.AppendHeader(&s.dua.ContactHDR)
	s.cfg.Metrics.SIPResponse("INVITE", res.StatusCode)
	if err := tx.Respond(res); err != nil {
		s.log.Debug("SIP re-INVITE response", "err", err)
	}
}

// isConflictSameState: a refresh re-INVITE that asks for the state the
// call is already in (hold while held, resume while talking) is answered
// 200 without a command effect.
func isConflictSameState(err error) bool {
	return errors.Is(err, engine.ErrConflict) && (strings.Contains(err.Error(), "not held") ||
		strings.Contains(err.Error(), "not established"))
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
	ok := connID != "" && l.answered && !l.ended && l.trunk == "" && !l.referring
	if ok {
		l.referring = true
	}
	t.mu.Unlock()
	if !ok {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	defer func() {
		t.mu.Lock()
		l.referring = false
		later := l.byeLater
		t.mu.Unlock()
		if later {
			go s.hangUp(l)
		}
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
		return
	}
	if _, err := t.do(cmd); err != nil {
		code, reason := statusOf(err)
		s.respond(req, tx, code, reason, nil)
		return
	}
	s.respond(req, tx, 202, "Accepted", nil)
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
func (s *Server) ringLeg(l *leg, ctx context.Context, target sip.Uri, fromUser string, sdp []byte) {
	t := l.t
	host, _, _ := net.SplitHostPort(s.addr)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: fromUser, Host: host}}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: target.User, Host: target.Host, Port: target.Port}}
	cid := sip.CallIDHeader(l.callID)
	hdrs := []sip.Header{from, to, &cid}
	if len(sdp) > 0 {
		hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
	}
	d, err := s.dua.Invite(ctx, target, sdp, hdrs...)
	if err == nil {
		t.mu.Lock()
		l.uac = d
		t.mu.Unlock()
		err = d.WaitAnswer(ctx, sipgo.AnswerOptions{})
	}
	if err == nil {
		t.mu.Lock()
		l.sdp = d.InviteResponse.Body()
		l.answered = true
		ended := l.ended
		t.mu.Unlock()
		d.Ack(ctx)
		if ended {
			s.forget(l)
			go d.Bye(context.Background())
			return
		}
		var cmd engine.Command = engine.Answer{ConnID: l.connID, DN: l.dn}
		if l.trunk != "" {
			cmd = engine.NetworkAnswer{ConnID: l.connID, Party: l.dn}
		}
		out, err := t.do(cmd)
		if err == nil && l.trunk != "" && out.Events == 0 {
			t.networkAnswered(l) // external.go
		}
		if err != nil {
			s.log.Debug("SIP answer not applied", "conn_id", l.connID, "dn", l.dn, "err", err)
			t.mu.Lock()
			l.ended = true
			t.mu.Unlock()
			s.forget(l)
			bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			d.Bye(bctx)
			cancel()
		}
		return
	}
	t.mu.Lock()
	cancelled := l.ended
	l.ended = true
	t.mu.Unlock()
	s.forget(l)
	if cancelled {
		return
	}
	code := 408 // no final response at all: the transaction timed out
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		code = de.Res.StatusCode
	}
	var cmd engine.Command
	busy := code == 486 || code == 600 || code == 603
	switch {
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
		t.networkGone(l) // external.go
	}
}

// hangUp ends leg l's SIP side because the engine released its party: BYE
// when answered, CANCEL (uac) or 487 (uas) before.
func (s *Server) hangUp(l *leg) { s.hangUpWith(l, terminated) }

// terminated is the final response of a SIP caller's INVITE whose call
// ended before an answer, unless the call was refused (busyHere,
// unavailable).
var (
	terminated  = final{code: 487, reason: "Request Terminated"}
	busyHere    = final{code: 486, reason: "Busy Here"}
	unavailable = final{code: 480, reason: "Temporarily Unavailable"}
)

// hangUpWith is hangUp with f as the final response of an unanswered
// INVITE that the leg's phone sent.
func (s *Server) hangUpWith(l *leg, f final) {
	t := l.t
	t.mu.Lock()
	if l.ended {
		t.mu.Unlock()
		return
	}
	if l.referring {
		// The REFER's 202 goes first; handleRefer hangs up after it.
		l.byeLater = true
		t.mu.Unlock()
		return
	}
	l.ended = true
	answered := l.answered
	t.mu.Unlock()
	switch {
	case l.uas != nil && !answered:
		select {
		case l.final <- f:
		default:
		}
		return
	case !answered:
		// sipgo sends the CANCEL and waits for the 487 (up to 64*T1);
		// the leg is done for us now.
		s.forget(l)
		if l.cancel != nil {
			l.cancel()
		}
		return
	}
	s.forget(l)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	var err error
	if l.uas != nil {
		err = l.uas.Bye(ctx)
	} else if l.uac != nil {
		err = l.uac.Bye(ctx)
	}
	if err != nil {
		s.log.Debug("SIP BYE", "call_id", l.callID, "err", err)
	}
}

// reinvite sends a hold (sendonly) or retrieve (sendrecv) re-INVITE to an
// answered leg, for a Hold or Retrieve requested through the API.
func (s *Server) reinvite(l *leg, hold bool) {
	t := l.t
	t.mu.Lock()
	if l.ended || !l.answered {
		t.mu.Unlock()
		return
	}
	c := t.calls[l.connID]
	sdp := placeholderSDP
	if c != nil {
		sdp = c.peerSDP(l)
	}
	t.mu.Unlock()
	dir := "sendrecv"
	if hold {
		dir = "sendonly"
	}
	body := withDirection(sdp, dir)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	var contact sip.Uri
	switch {
	case l.uas != nil:
		contact = l.uas.InviteRequest.Contact().Address
	case l.uac != nil && l.uac.InviteResponse != nil && l.uac.InviteResponse.Contact() != nil:
		contact = l.uac.InviteResponse.Contact().Address
	default:
		return
	}
	req := sip.NewRequest(sip.INVITE, contact)
	req.SetBody(body)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(&s.dua.ContactHDR)
	var res *sip.Response
	var err error
	if l.uas != nil {
		res, err = l.uas.Do(ctx, req)
	} else {
		res, err = l.uac.Do(ctx, req)
	}
	if err != nil {
		s.log.Debug("SIP re-INVITE", "call_id", l.callID, "err", err)
		return
	}
	if res.IsSuccess() {
		ack := sip.NewRequest(sip.ACK, contact)
		ack.AppendHeader(sip.HeaderClone(res.CSeq()))
		ack.CSeq().MethodName = sip.ACK
		if l.uas != nil {
			l.uas.WriteRequest(ack)
		} else {
			l.uac.WriteRequest(ack)
		}
	}
}

package sipfront

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Session timers (RFC 4028): a dialog whose INVITE or answer negotiated
// Session-Expires is refreshed (re-INVITE or UPDATE) within its interval
// by its refresher; the other side ends it (BYE with Reason SIP 408
// "Session expired", and a hang-up for the engine) when no refresh came
// by the interval less min(32 s, a third of it).
//
//   - A phone's (or carrier's) INVITE with Session-Expires below
//     Config.MinSE gets 422 with Min-SE. Otherwise our 200 carries
//     Session-Expires with the refresher it asked for; without one, the
//     phone (uac) when it supports timer, else switchboard (uas). An
//     INVITE with "Supported: timer" and no Session-Expires gets
//     Config.SessionExpires, the phone refreshing. Without either, no
//     timer.
//   - Our INVITEs offer Session-Expires: Config.SessionExpires (with
//     Supported: timer); the answer's refresher (uac: switchboard) decides.
//     A 422 with a larger Min-SE is retried once with it.
//   - A refresh from the phone (re-INVITE or UPDATE) restarts the timer
//     and is answered with Session-Expires (its new interval).
//   - Switchboard refreshes at half the interval: UPDATE without SDP when
//     the phone allows UPDATE, else a re-INVITE with the SDP last sent
//     (same o= version). A refresh refused with 481 or 408, or without
//     an answer, ends the dialog as an expiry does.

// sessionTimer is a leg's negotiated session timer; the tenant's mu
// guards it.
type sessionTimer struct {
	interval time.Duration
	ours     bool        // switchboard refreshes; else the phone does and switchboard watches
	timer    *time.Timer // the next refresh (ours) or the expiry
	gen      uint64      // the timer's generation: a fired timer of an older one does nothing
}

// The extensions switchboard supports and the methods it allows, sent on
// its INVITEs and 2xx answers.
const (
	supported = "timer, 100rel, replaces"
	allowed   = "INVITE, ACK, CANCEL, BYE, REFER, OPTIONS, REGISTER, NOTIFY, SUBSCRIBE, UPDATE, PRACK"
)

// headerValue is the value of header name (or its compact form), "" when
// absent; several headers of that name are joined with commas.
func headerValue(m sip.Message, name, compact string) string {
	var vals []string
	for _, n := range []string{name, compact} {
		if n == "" {
			continue
		}
		for _, h := range m.GetHeaders(n) {
			vals = append(vals, h.Value())
		}
	}
	return strings.Join(vals, ",")
}

// hasOption reports whether option tag opt is in a Supported or Require
// header value list.
func hasOption(list, opt string) bool {
	for _, o := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(o), opt) {
			return true
		}
	}
	return false
}

// sessionExpires parses a Session-Expires value: delta-seconds and the
// refresher parameter ("" when absent); ok is false for a malformed one.
func sessionExpires(v string) (delta time.Duration, refresher string, ok bool) {
	parts := strings.Split(v, ";")
	n, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || n <= 0 {
		return 0, "", false
	}
	for _, p := range parts[1:] {
		if k, val, _ := strings.Cut(strings.TrimSpace(p), "="); strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(val))
		}
	}
	return time.Duration(n) * time.Second, refresher, true
}

// secs formats d in whole seconds.
func secs(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }

// tooBrief answers 422 (with our Min-SE) to a request whose
// Session-Expires is below Config.MinSE, or 400 to a malformed one; true
// when it did.
func (s *Server) tooBrief(req *sip.Request, tx sip.ServerTransaction) bool {
	v := headerValue(req, "Session-Expires", "x")
	if v == "" {
		return false
	}
	d, _, ok := sessionExpires(v)
	if !ok {
		s.respond(req, tx, 400, "Bad Session-Expires", nil)
		return true
	}
	if d < s.cfg.MinSE {
		s.respond(req, tx, 422, "Session Interval Too Small", nil, sip.NewHeader("Min-SE", secs(s.cfg.MinSE)))
		return true
	}
	return false
}

// negotiate reads a session timer from a request the phone sent us (we
// are the UAS: its INVITE, or a refresh): the interval and whether we
// refresh; nil without one. A refresh keeps the refresher it names, or,
// without one, its sender refreshes.
func (s *Server) negotiate(req *sip.Request, initial bool) *sessionTimer {
	support := hasOption(headerValue(req, "Supported", "k"), "timer") || hasOption(headerValue(req, "Require", ""), "timer")
	v := headerValue(req, "Session-Expires", "x")
	if v == "" {
		if !initial || !support {
			return nil
		}
		return &sessionTimer{interval: s.cfg.SessionExpires}
	}
	d, refresher, ok := sessionExpires(v)
	if !ok {
		return nil
	}
	d = max(d, s.cfg.MinSE)
	if refresher == "" && (!support || !initial) {
		refresher = "uas"
		if !initial {
			refresher = "uac"
		}
	}
	return &sessionTimer{interval: d, ours: refresher == "uas"}
}

// timerHeaders are the headers of our 2xx for the session timer st (none
// for nil): Session-Expires with its refresher, and Require: timer when
// the phone refreshes.
func timerHeaders(st *sessionTimer) []sip.Header {
	if st == nil {
		return nil
	}
	if st.ours {
		return []sip.Header{sip.NewHeader("Session-Expires", secs(st.interval)+";refresher=uas")}
	}
	return []sip.Header{sip.NewHeader("Session-Expires", secs(st.interval)+";refresher=uac"), sip.NewHeader("Require", "timer")}
}

// answerHeaders are the extra headers of our 200 to caller leg l's INVITE.
func (s *Server) answerHeaders(l *leg) []sip.Header {
	hdrs := []sip.Header{sip.NewHeader("Allow", allowed), sip.NewHeader("Supported", supported)}
	l.t.mu.Lock()
	st := l.st
	l.t.mu.Unlock()
	return append(hdrs, timerHeaders(st)...)
}

// offerHeaders are the extra headers of our INVITEs, offering session
// interval se.
func (s *Server) offerHeaders(se time.Duration) []sip.Header {
	return []sip.Header{
		sip.NewHeader("Allow", allowed), sip.NewHeader("Supported", supported),
		sip.NewHeader("Session-Expires", secs(se)), sip.NewHeader("Min-SE", secs(s.cfg.MinSE)),
	}
}

// invite sends our INVITE of leg l (headers hdrs, then offerHeaders) and
// waits for its answer, PRACKing reliable provisional responses
// (prack.go). A 422 naming a Min-SE above our interval is retried once
// with that interval (CSeq 2), as RFC 4028 section 7.4 allows: a carrier
// that wants longer sessions gets them.
func (s *Server) invite(ctx context.Context, l *leg, target sip.Uri, sdp []byte, hdrs []sip.Header) (*sipgo.DialogClientSession, error) {
	se := s.cfg.SessionExpires
	for try := uint32(1); ; try++ {
		all := append(slices.Clip(hdrs), s.offerHeaders(se)...)
		if try > 1 {
			all = append(all, &sip.CSeqHeader{SeqNo: try, MethodName: sip.INVITE})
		}
		d, err := s.inviteVia(ctx, target, sdp, all...) // transport.go
		if err == nil {
			l.uac.Store(d)
			err = d.WaitAnswer(ctx, s.answerOptions(l, d))
		}
		var de *sipgo.ErrDialogResponse
		if try == 1 && errors.As(err, &de) && de.Res.StatusCode == 422 {
			if floor, _, ok := sessionExpires(headerValue(de.Res, "Min-SE", "")); ok && floor > se {
				se = floor
				continue
			}
		}
		return d, err
	}
}

// answeredTimer reads the session timer of the 2xx to our INVITE: we
// refresh when it names us (refresher=uac); nil without Session-Expires.
func (s *Server) answeredTimer(res *sip.Response) *sessionTimer {
	d, refresher, ok := sessionExpires(headerValue(res, "Session-Expires", "x"))
	if !ok {
		return nil
	}
	return &sessionTimer{interval: max(d, s.cfg.MinSE), ours: refresher == "uac"}
}

// armTimer (re)starts leg l's session timer st (nil stops it): our refresh
// at half the interval, or the expiry check at the interval less min(32 s,
// a third of it). The tenant's mu must be held.
func (s *Server) armTimer(l *leg, st *sessionTimer) {
	if l.st != nil && l.st.timer != nil {
		l.st.timer.Stop()
	}
	var gen uint64
	if l.st != nil {
		gen = l.st.gen + 1
	}
	l.st = st
	if st == nil || l.over() {
		return
	}
	st.gen = gen
	wait := st.interval - min(32*time.Second, st.interval/3)
	if st.ours {
		wait = st.interval / 2
	}
	st.timer = time.AfterFunc(wait, func() { s.sessionDue(l, gen) })
}

// sessionDue: leg l's session timer of generation gen fired.
func (s *Server) sessionDue(l *leg, gen uint64) {
	t := l.t
	t.mu.Lock()
	st := l.st
	if st == nil || st.gen != gen || l.over() || s.ctx.Err() != nil {
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	if !st.ours || !s.refresh(l, st) {
		s.log.Info("SIP session expired: ending the dialog", "call_id", l.callID)
		t.mu.Lock()
		l.why = whyExpired
		acts := t.abandoned(l)
		t.mu.Unlock()
		t.act(acts)
		return
	}
	t.mu.Lock()
	if l.st == st {
		s.armTimer(l, st)
	}
	t.mu.Unlock()
}

// refresh sends our session refresh on leg l: UPDATE without SDP when the
// phone allows it, else a re-INVITE with the SDP last sent. False when the
// refresh failed (481, 408, no answer): the session is over.
func (s *Server) refresh(l *leg, st *sessionTimer) bool {
	se := sip.NewHeader("Session-Expires", secs(st.interval)+";refresher=uac")
	var res *sip.Response
	var err error
	if l.allowsUpdate() {
		res, err = s.inDialog(l, sip.UPDATE, nil, se, sip.NewHeader("Supported", supported))
	} else {
		res, err = s.sendReinvite(l, l.origin.stamp(l.origin.lastSent()), se, sip.NewHeader("Supported", supported))
	}
	if err != nil {
		s.log.Debug("SIP session refresh", "call_id", l.callID, "err", err)
		return false
	}
	switch {
	case res.IsSuccess():
		if d, _, ok := sessionExpires(headerValue(res, "Session-Expires", "x")); ok && d >= s.cfg.MinSE {
			l.t.mu.Lock()
			st.interval = d
			l.t.mu.Unlock()
		}
		return true
	case res.StatusCode == 481 || res.StatusCode == 408:
		return false
	}
	return true // refused otherwise (491, 500...): the session goes on, the next refresh tries again
}

// allowsUpdate reports whether leg l's phone allows UPDATE (the Allow of
// its INVITE, or of its answer to ours).
func (l *leg) allowsUpdate() bool {
	if d := l.dlg.Load(); d != nil {
		return d.update
	}
	if uas := l.uas.Load(); uas != nil {
		return hasOption(headerValue(uas.InviteRequest, "Allow", ""), "UPDATE")
	}
	if uac := l.uac.Load(); uac != nil && uac.InviteResponse != nil {
		return hasOption(headerValue(uac.InviteResponse, "Allow", ""), "UPDATE")
	}
	return false
}

// refreshed: the phone of leg l refreshed its session (re-INVITE or
// UPDATE req): the timer restarts with the interval asked for, and our
// answer res carries it.
func (s *Server) refreshed(l *leg, req *sip.Request, res *sip.Response) {
	st := s.negotiate(req, false)
	t := l.t
	t.mu.Lock()
	if st == nil && l.st != nil {
		// A re-offer without Session-Expires still refreshes the session
		// (RFC 4028 section 10 leaves the timer running otherwise).
		st = &sessionTimer{interval: l.st.interval, ours: l.st.ours}
	}
	s.armTimer(l, st)
	t.mu.Unlock()
	for _, h := range timerHeaders(st) {
		res.AppendHeader(h)
	}
}

// stopTimer stops leg l's session timer (the dialog ended).
func (l *leg) stopTimer() {
	l.t.mu.Lock()
	if l.st != nil && l.st.timer != nil {
		l.st.timer.Stop()
	}
	l.st = nil
	l.t.mu.Unlock()
}

// handleUpdate: UPDATE in one of our dialogs (RFC 3311). Without SDP, a
// session refresh; with SDP, a re-offer answered like a re-INVITE's
// (hold, retrieve), without the ACK.
func (s *Server) handleUpdate(req *sip.Request, tx sip.ServerTransaction) {
	l := s.dialogLeg(req, tx)
	if l == nil || s.tooBrief(req, tx) {
		return
	}
	if len(req.Body()) == 0 {
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(&s.duaFor(req.Transport()).ContactHDR)
		s.refreshed(l, req, res)
		s.cfg.Metrics.SIPResponse("UPDATE", 200)
		if err := tx.Respond(res); err != nil {
			s.log.Debug("SIP UPDATE response", "err", err)
		}
		return
	}
	res := s.reoffer(l, req, tx)
	if res == nil {
		return
	}
	s.cfg.Metrics.SIPResponse("UPDATE", res.StatusCode)
	if err := tx.Respond(res); err != nil {
		s.log.Debug("SIP UPDATE response", "err", err)
	}
}

var errNoDialog = errors.New("sipfront: leg has no dialog")

// lastSent is the SDP last stamped, as given (nil before any).
func (o *origin) lastSent() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// dialogLeg is the leg of in-dialog request req, or nil when it answered
// req (400 for a malformed one, 481 for an unknown dialog).
func (s *Server) dialogLeg(req *sip.Request, tx sip.ServerTransaction) *leg {
	if !validRequest(req) {
		s.respond(req, tx, 400, "Bad Request", nil)
		return nil
	}
	l := s.legByCallID(req.CallID().Value())
	if l == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
	}
	return l
}

// offered: the phone of answered leg l of call c offered sdp in its
// dialog (re-INVITE or UPDATE; hold: sendonly or inactive). When the
// offer moves its media (another address, port or codecs: its c= and m=
// lines differ) and is not a hold, the legs given l's SDP are re-INVITEd
// with the new one, so that they send to where l now listens; a leg whose
// media switchboard anchors or relays is left to the relay (it latches;
// ownMedia: a caller stepped out to its agent talks to it directly).
func (b *book) offered(c *call, l *leg, sdp []byte, hold bool) []action {
	old := l.sdp
	l.sdp = sdp
	if hold || sameMedia(old, sdp) || l.ownMedia() {
		return nil
	}
	var acts []action
	for _, o := range c.legs {
		if o != l && o.far == l && o.state == legAnswered && !o.ownMedia() {
			acts = append(acts, action{kind: actReinvite, leg: o, sdp: sdp})
		}
	}
	return acts
}

// sameMedia reports whether two SDPs have the same c= and m= lines.
func sameMedia(a, b []byte) bool {
	media := func(sdp []byte) string {
		var out []string
		for _, line := range strings.Split(string(sdp), "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "c=") || strings.HasPrefix(line, "m=") {
				out = append(out, line)
			}
		}
		return strings.Join(out, "\n")
	}
	return media(a) == media(b)
}

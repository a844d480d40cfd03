package sipfront

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/media"
)

// Media is a tenant's media setup: the plane that plays to anchored
// callers and the tenant's audio, loaded and encoded once. A tenant
// without it (nil) never anchors: SIP passes SDP between phones as before.
type Media struct {
	Plane *media.Plane
	// Advertise is the address put in switchboard's SDP (the external
	// address behind NAT); default the plane's bind address.
	Advertise netip.Addr
	// Music by MUSIC_DN, and the music played when a Music treatment
	// names none (or an unknown one).
	Music        map[string]*media.Clip
	DefaultMusic *media.Clip
	// Announcements by the treatment's ANNOUNCEMENT parameter.
	Announcements map[string]*media.Clip
	Tones         *media.Tones
	// OnArrival anchors a SIP caller as soon as its call is queued or
	// reaches a routing point (it hears DefaultMusic, or comfort noise),
	// rather than at its first audible treatment.
	OnArrival bool
	// Always keeps every anchored call relayed (anchor: always, the safe
	// mode behind NAT): callers are anchored on arrival, and when an agent
	// answers, its phone is re-INVITEd to a second session of
	// switchboard's and RTP is relayed between the two (the caller is not
	// re-INVITEd); the same again for each party that answers later
	// (a transfer's target). Both phones send to Advertise, and each
	// session sends back to where its phone's packets come from.
	Always bool
	// Recording, when set (with Always), records relayed calls.
	Recording *Recording
}

// Recording records every relayed call of the tenant, or of the queues
// named, into a two-channel G.711 WAV (media.Recorder: channel 1 the
// caller, channel 2 the other party) from the moment its RTP is first
// relayed until the caller's leg ends or the recording is stopped
// (Server.Recording). The path is attached to the call's UserData as
// RecordingPath (AttachUserData), so later events carry it.
type Recording struct {
	// Template is the file path: {connid} the call's ConnID, {tenant}
	// the tenant id, {date} YYYYMMDD and {time} HHMMSS (UTC, at start).
	Template string
	// Queues limits recording to calls queued at these DNs; empty: every
	// relayed call.
	Queues map[string]bool
}

// RecordingPathKey is the UserData key of a call's recording path.
const RecordingPathKey = "RecordingPath"

// path expands the template.
func (r *Recording) path(tenantID, connID string, now time.Time) string {
	now = now.UTC()
	return strings.NewReplacer("{connid}", connID, "{tenant}", tenantID,
		"{date}", now.Format("20060102"), "{time}", now.Format("150405")).Replace(r.Template)
}

// Treatment parameters read from TreatmentParms. MUSIC_DN (Music) and
// TERM_DIGITS (CollectDigits) are named in Genesys's TTreatmentType
// reference; the maximum digit count's key is cut from the excerpt we
// could read and is taken as TOTAL_DIGITS (also read as MAX_DIGITS, the
// design note's name). Genesys allows a maximum of 0 (collect nothing, at
// once); here 0 or none means no maximum, since the engine's CollectDigits
// needs at least one digit. ANNOUNCEMENT and INTER_DIGIT_TIMEOUT are
// switchboard's.
const (
	parmMusicDN      = "MUSIC_DN"
	parmAnnouncement = "ANNOUNCEMENT"
	parmTotalDigits  = "TOTAL_DIGITS"
	parmMaxDigits    = "MAX_DIGITS" // the name the design note and engine goldens used; an alias
	parmTermDigits   = "TERM_DIGITS"
	parmInterDigit   = "INTER_DIGIT_TIMEOUT"
)

// defaultInterDigit ends a collection this long after the last digit when
// the treatment does not say.
const defaultInterDigit = 5 * time.Second

// play is what an anchored caller hears, decided from a treatment.
type play struct {
	what    string // for the golden files: "music jazz", "ringback", ...
	src     media.Source
	collect *collectSpec
}

// collectSpec is a CollectDigits treatment's collection at DN dn.
type collectSpec struct {
	dn         string
	max        int
	term       string
	interDigit time.Duration
}

// The actions of the media plane (book.go's actionKind continues here).
const (
	actAnchor      actionKind = iota + 100 // answer the caller leg with our SDP, then play
	actPlay                                // change what the anchored caller hears
	actStepOut                             // re-INVITE the caller with the agent's SDP, then close the session
	actRelay                               // Media.Always: re-INVITE the answering party to a session of ours, relay to the caller's
	actRelayInvite                         // Media.Always, a direct call: our INVITE of a new leg offers a session of ours relayed to the caller's (relay.go)
)

// decide is the event-to-SIP table (decideSIP) followed by the media
// table (decideMedia).
func (b *book) decide(ev *event.Event) []action {
	acts := b.decideSIP(ev)
	if b.media == nil {
		return acts
	}
	c := b.calls[ev.ConnID]
	if c == nil && (ev.ID == event.EventQueued || ev.ID == event.EventRouteRequest) && ev.CallType == event.CallTypeInbound {
		// A trunk's call may reach its queue before its NetworkCall's
		// reply binds it: the first inbound event from that trunk and
		// ANI binds it then, as EventRinging does.
		key := ev.OtherTrunk + "\x00" + ev.OtherDN
		if q := b.inbound[key]; len(q) > 0 {
			var more []action
			c, more = b.bind(q[0], ev.ConnID)
			acts = append(acts, more...)
			if len(q) == 1 {
				delete(b.inbound, key)
			} else {
				b.inbound[key] = q[1:]
			}
		}
	}
	acts = append(acts, b.decideMedia(c, ev)...)
	if b.media.Always {
		b.relayInvites(acts)
	}
	return acts
}

// decideMedia is the event-to-media table: a SIP caller still waiting for
// an answer is anchored (answered with switchboard's SDP) when its call's
// first audible treatment starts; later treatments change what it hears;
// the end of a treatment leaves the default music or comfort noise; an
// agent ringing plays ringback and a RONA the treatment again; the agent's
// answer steps the caller out to the agent's SDP.
func (b *book) decideMedia(c *call, ev *event.Event) []action {
	if c == nil {
		return nil
	}
	var acts []action
	switch ev.ID {
	case event.EventQueued, event.EventRouteRequest:
		if ev.ID == event.EventQueued {
			c.queue = ev.ThisDN
		}
		if !b.media.OnArrival && !b.media.Always {
			return nil
		}
		for _, l := range c.legs {
			if l.caller && !l.anchored && l.state == legCalling {
				p := b.idle()
				l.anchored, l.state, l.play = true, legAnswered, p
				acts = append(acts, action{kind: actAnchor, leg: l, play: p})
			}
		}
	case event.EventTreatmentApplied:
		p, ok := b.treatmentPlay(ev)
		if !ok {
			return nil
		}
		for _, l := range c.legs {
			if !l.caller || l.over() || l.steppedOut {
				continue
			}
			switch {
			case l.anchored:
				l.play = p
				acts = append(acts, action{kind: actPlay, leg: l, play: p})
			case l.state == legCalling:
				l.anchored, l.state, l.play = true, legAnswered, p
				acts = append(acts, action{kind: actAnchor, leg: l, play: p})
			}
		}
	case event.EventTreatmentEnd:
		for _, l := range c.legs {
			if l.caller && l.anchored && !l.over() && !l.steppedOut {
				l.play = b.idle()
				acts = append(acts, action{kind: actPlay, leg: l, play: l.play})
			}
		}
	case event.EventRinging:
		for _, l := range c.legs {
			if l.caller && l.anchored && !l.over() && !l.steppedOut && !l.direct && l.dn != ev.ThisDN {
				acts = append(acts, action{kind: actPlay, leg: l, play: play{what: "ringback", src: media.Source{Clip: b.media.Tones.RingBack, Loop: true}}})
			}
		}
	case event.EventDiverted, event.EventReleased:
		// The agent's phone stopped ringing (RONA, redirect): the caller
		// hears its treatment again.
		for _, l := range c.legs {
			if l.caller && l.anchored && !l.over() && !l.steppedOut && !l.direct && l.dn != ev.ThisDN {
				acts = append(acts, action{kind: actPlay, leg: l, play: l.play})
			}
		}
	case event.EventEstablished:
		for _, l := range c.legs {
			if !l.caller || !l.anchored || l.over() || l.dn == ev.ThisDN {
				continue
			}
			a := c.legOf(ev.ThisDN)
			if a != nil && a.relayed {
				// Offered a session of ours in its INVITE already
				// (relay.go): nothing to re-INVITE.
				continue
			}
			if b.media.Always || l.relayed {
				// Every party that answers (the agent, later a transfer's
				// target) is relayed to the caller's session; so is a
				// party answering after a refused step-out fell back to
				// relaying. The caller's own session stays its media.
				l.steppedOut, l.relayed = true, true
				acts = append(acts, action{kind: actRelay, leg: l, peer: a})
				continue
			}
			if l.steppedOut {
				continue
			}
			sdp := placeholderSDP
			if a != nil && len(a.sdp) > 0 {
				sdp = a.sdp
			}
			l.steppedOut, l.far = true, a
			acts = append(acts, action{kind: actStepOut, leg: l, sdp: sdp, peer: a})
		}
	}
	return acts
}

// ownMedia reports whether leg l's RTP is switchboard's: anchored and
// not stepped out to its agent, or relayed. A caller that stepped out
// talks to its party directly, as if never anchored: a transfer
// re-INVITEs it to the new party (repoint).
func (l *leg) ownMedia() bool { return l.anchored && !l.steppedOut || l.relayed }

// idle is what an anchored caller hears between treatments.
func (b *book) idle() play {
	if b.media.DefaultMusic != nil {
		return play{what: "music " + b.media.DefaultMusic.Name, src: media.Source{Clip: b.media.DefaultMusic, Loop: true}}
	}
	return play{what: "comfort noise"}
}

// treatmentPlay maps a treatment to what the caller hears; false for a
// treatment with nothing to hear here.
func (b *book) treatmentPlay(ev *event.Event) (play, bool) {
	m := b.media
	switch ev.TreatmentType {
	case event.TreatmentMusic:
		name, _ := parmString(ev.TreatmentParms, parmMusicDN)
		if clip := m.Music[name]; clip != nil {
			return play{what: "music " + clip.Name, src: media.Source{Clip: clip, Loop: true}}, true
		}
		if m.DefaultMusic == nil {
			return play{what: "comfort noise (no music)"}, true
		}
		return play{what: "music " + m.DefaultMusic.Name, src: media.Source{Clip: m.DefaultMusic, Loop: true}}, true
	case event.TreatmentRingBack:
		return play{what: "ringback", src: media.Source{Clip: m.Tones.RingBack, Loop: true}}, true
	case event.TreatmentBusy:
		return play{what: "busy", src: media.Source{Clip: m.Tones.Busy, Loop: true}}, true
	case event.TreatmentSilence:
		return play{what: "comfort noise"}, true
	case event.TreatmentPlayAnnouncement, event.TreatmentCollectDigits, event.TreatmentPlayAnnouncementAndDigits:
		p := play{what: "comfort noise"}
		if name, ok := parmString(ev.TreatmentParms, parmAnnouncement); ok {
			if clip := m.Announcements[name]; clip != nil {
				p = play{what: "announcement " + clip.Name + " once", src: media.Source{Clip: clip}}
			}
		}
		if ev.TreatmentType != event.TreatmentPlayAnnouncement {
			c := &collectSpec{dn: ev.ThisDN, interDigit: defaultInterDigit}
			if v, ok := parmString(ev.TreatmentParms, parmTotalDigits); ok {
				c.max, _ = strconv.Atoi(v)
			} else if v, ok := parmString(ev.TreatmentParms, parmMaxDigits); ok {
				c.max, _ = strconv.Atoi(v)
			}
			c.term, _ = parmString(ev.TreatmentParms, parmTermDigits)
			if v, ok := parmString(ev.TreatmentParms, parmInterDigit); ok {
				if n, err := strconv.Atoi(v); err == nil && n > 0 {
					c.interDigit = time.Duration(n) * time.Second
				}
			}
			p.collect = c
			p.what += ", collect max=" + strconv.Itoa(c.max) + " term=" + c.term + " inter=" + c.interDigit.String()
		}
		return p, true
	}
	return play{}, false
}

// parmString reads a string or integer parameter as a string.
func parmString(kv event.KV, key string) (string, bool) {
	v, ok := kv.Get(key)
	if !ok {
		return "", false
	}
	switch v.Kind {
	case event.KindString:
		return v.Str, true
	case event.KindInt:
		return strconv.FormatInt(v.Int, 10), true
	}
	return "", false
}

// actMedia carries out a media action (act, lock released).
func (t *sipTenant) actMedia(a action) {
	switch a.kind {
	case actAnchor:
		t.anchor(a.leg, a.play)
	case actPlay:
		if s := a.leg.sess.Load(); s != nil {
			t.playOn(a.leg, s, a.play)
		}
	case actStepOut:
		go t.stepOut(a.leg, a.peer, a.sdp)
	case actRelayInvite:
		t.relayInvite(a)
	case actRelay:
		go func() {
			if !t.relay(a.leg, a.peer) {
				// No phone to relay to (a CTI-only DN) or a refused
				// re-INVITE: the caller hears comfort noise, not the
				// ringback it heard last.
				if s := a.leg.sess.Load(); s != nil {
					s.Play(media.Source{})
				}
			}
		}()
	}
}

// anchor opens leg l's media session from its INVITE's offer and answers
// the INVITE with switchboard's SDP; an offer without G.711 gets 488 and
// the caller leaves its call.
func (t *sipTenant) anchor(l *leg, p play) {
	m := t.book.media
	offer, err := media.ParseOffer(l.sdp)
	var sess *media.Session
	if err == nil {
		sess, err = m.Plane.Open(media.SessionConfig{Remote: offer.Remote, Law: offer.Law, DTMF: offer.DTMF})
	}
	if err != nil {
		code, reason := 503, "Service Unavailable"
		if errors.Is(err, media.ErrNoCodec) {
			code, reason = 488, "Not Acceptable Here"
		}
		t.s.log.Info("SIP caller not anchored", "call_id", l.callID, "err", err)
		select {
		case l.final <- final{code: code, reason: reason}:
		default:
		}
		t.mu.Lock()
		l.state = legEnded
		t.mu.Unlock()
		go t.releaseFor(l)
		return
	}
	l.sess.Store(sess)
	t.playOn(l, sess, p)
	answer := media.Answer(netip.AddrPortFrom(t.advertise(sess), sess.Local().Port()), sess.Law(), offer.DTMF, legSeq.Add(1))
	t.mu.Lock()
	l.ours = answer
	t.mu.Unlock()
	select {
	case l.final <- final{code: 200, sdp: answer}:
	default:
	}
}

// playOn plays p on the session and, for CollectDigits, collects digits
// into the engine's CollectDigits command.
func (t *sipTenant) playOn(l *leg, s *media.Session, p play) {
	s.Play(p.src)
	if p.collect == nil {
		s.Collect(nil)
		return
	}
	c := p.collect
	connID := l.connID
	s.Collect(&media.Collect{Max: c.max, Term: c.term, InterDigit: c.interDigit, Done: func(digits string) {
		digits = strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' || r == '*' || r == '#' {
				return r
			}
			return -1
		}, digits)
		if digits == "" {
			return
		}
		go func() {
			if _, err := t.do(engine.CollectDigits{ConnID: connID, DN: c.dn, Digits: digits}); err != nil {
				t.s.log.Debug("collected digits not applied", "conn_id", connID, "err", err)
			}
		}()
	}})
}

// Context ends when the server closes (the media planes run until then).
func (s *Server) Context() context.Context { return s.ctx }

// closeMedia ends leg l's media session, if any.
func (l *leg) closeMedia() {
	if s := l.sess.Swap(nil); s != nil {
		s.Close()
	}
}

// stepOut re-INVITEs anchored caller leg l with the answering agent's SDP
// (RFC 3725: the caller's media now flows to the agent, whose phone was
// given the caller's offer when it was called) and closes the media
// session once the caller accepted. When the caller refuses (488, 491
// glare) or does not answer, switchboard stays in the path: it re-INVITEs
// the agent's leg to a second session of its own and relays RTP between
// the two (relay); without an agent leg to re-INVITE the session closes.
func (t *sipTenant) stepOut(l, agent *leg, sdp []byte) {
	if l.responded != nil {
		// The caller's 200 went from its INVITE handler's goroutine.
		select {
		case <-l.responded:
		case <-time.After(10 * time.Second):
		}
	}
	res, err := t.s.sendReinvite(l, sdp)
	if err == nil && res.IsSuccess() {
		if body := res.Body(); len(body) > 0 {
			// The caller's answer: what a later hold, retrieve or
			// transfer passes to the other leg. (A changed address or
			// codec is not re-INVITEd to the agent.)
			t.mu.Lock()
			l.sdp = body
			t.mu.Unlock()
		}
		l.closeMedia()
		return
	}
	code := 0
	if res != nil {
		code = res.StatusCode
	}
	t.s.log.Info("SIP step-out re-INVITE failed: relaying", "call_id", l.callID, "code", code, "err", err)
	if !t.relay(l, agent) {
		l.closeMedia()
	}
}

// relay re-INVITEs agent leg a to a new session of switchboard's and
// relays RTP between it and caller leg l's session; false when it cannot.
func (t *sipTenant) relay(l, a *leg) bool {
	cs := l.sess.Load()
	m := t.book.media
	if a == nil || a.caller || !a.dialogSent() || cs == nil || m == nil {
		return false
	}
	offer, err := media.ParseOffer(a.sdp)
	if err != nil {
		return false
	}
	as, err := m.Plane.Open(media.SessionConfig{Remote: offer.Remote, Law: cs.Law(), DTMF: offer.DTMF})
	if err != nil {
		return false
	}
	body := media.Answer(netip.AddrPortFrom(t.advertise(as), as.Local().Port()), cs.Law(), offer.DTMF, legSeq.Add(1))
	res, err := t.s.sendReinvite(a, body)
	if err != nil || !res.IsSuccess() {
		t.s.log.Info("SIP relay re-INVITE to the agent failed", "call_id", a.callID, "err", err)
		as.Close()
		return false
	}
	// From now on each phone is given switchboard's side of the relay
	// (peerSDP): a hold, retrieve or transfer keeps the relay in the path.
	t.mu.Lock()
	a.ours, a.relayed = body, true
	l.relayed = true
	t.mu.Unlock()
	t.join(l, cs, a, as)
	return true
}

// record adds agent session as to caller leg l's recording, starting it
// when the tenant records calls of queue (and attaching its path to the
// call's UserData).
func (t *sipTenant) record(l *leg, cs, as *media.Session, queue string) {
	if rec := l.rec.Load(); rec != nil {
		as.Record(rec, 1)
		return
	}
	r := t.book.media.Recording
	if r == nil || (len(r.Queues) > 0 && !r.Queues[queue]) {
		return
	}
	path := r.path(t.id, l.connID, time.Now())
	rec, err := media.NewRecorder(path, cs.Law())
	if err != nil {
		t.s.log.Warn("call not recorded", "conn_id", l.connID, "err", err)
		return
	}
	l.rec.Store(rec)
	cs.Record(rec, 0)
	as.Record(rec, 1)
	if _, err := t.do(engine.AttachUserData{ConnID: l.connID, UserData: event.KV{event.S(RecordingPathKey, path)}}); err != nil {
		t.s.log.Warn("recording path not attached", "conn_id", l.connID, "err", err)
	}
}

// Recording pauses, resumes or stops the recording of call connID of
// tenant tenantID (action "pause", "resume", "stop"): ErrNoRecording when
// the call has none (or it was stopped already).
func (s *Server) Recording(tenantID, connID, action string) error {
	t := s.served()[tenantID]
	if t == nil {
		return ErrNoRecording
	}
	var rec *media.Recorder
	t.mu.Lock()
	if c := t.calls[connID]; c != nil {
		for _, l := range c.legs {
			if r := l.rec.Load(); r != nil {
				rec = r
			}
		}
	}
	t.mu.Unlock()
	if rec == nil || rec.Stopped() {
		return ErrNoRecording
	}
	switch action {
	case "pause":
		rec.Pause()
	case "resume":
		rec.Resume()
	case "stop":
		return rec.Stop()
	default:
		return fmt.Errorf("sipfront: recording action %q (want pause, resume or stop)", action)
	}
	return nil
}

// ErrNoRecording: the call is not being recorded.
var ErrNoRecording = errors.New("sipfront: the call is not being recorded")

// sendReinvite sends a re-INVITE with body (and hdrs) in leg l's dialog,
// and ACKs a 2xx; the response, or an error (a timeout after
// ReinviteTimeout).
func (s *Server) sendReinvite(l *leg, body []byte, hdrs ...sip.Header) (*sip.Response, error) {
	contact, ok := l.remoteTarget()
	if !ok {
		return nil, errNoDialog
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ReinviteTimeout)
	defer cancel()
	req := sip.NewRequest(sip.INVITE, contact)
	req.SetBody(body)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(s.legContact(l))
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	res, err := l.dialogDo(ctx, req)
	if err != nil {
		return nil, err
	}
	if res.IsSuccess() {
		ack := sip.NewRequest(sip.ACK, contact)
		ack.AppendHeader(sip.HeaderClone(res.CSeq()))
		ack.CSeq().MethodName = sip.ACK
		l.dialogWrite(ack)
	}
	return res, nil
}

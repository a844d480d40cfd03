package sipfront

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Reliable provisional responses (RFC 3262, 100rel).
//
//   - A phone's or carrier's INVITE with "Require: 100rel" gets its 180s
//     reliably: Require: 100rel and RSeq, retransmitted from T1 doubling
//     until its PRACK; a 180 while one waits for its PRACK is not sent
//     (one reliable provisional at a time). The PRACK gets 200 (481 when
//     it matches no such 180). Our 180 has no SDP, so the 200 to the
//     INVITE need not wait for the PRACK. Without a PRACK within
//     Config.AckTimeout (64*T1) the INVITE gets 504 and the engine hears
//     the caller leave (RFC 3262 section 3).
//   - Our INVITEs say "Supported: 100rel"; a reliable 18x to them is
//     PRACKed (once per RSeq).
//   - An INVITE requiring an extension we do not support gets 420 Bad
//     Extension with Unsupported.

// unsupported is the first option of req's Require that switchboard does
// not support ("" when none).
func unsupported(req *sip.Request) string {
	for _, o := range strings.Split(headerValue(req, "Require", ""), ",") {
		if o = strings.TrimSpace(o); o != "" && !hasOption(supported, o) {
			return o
		}
	}
	return ""
}

// badExtension answers 420 to a request requiring an extension switchboard
// does not support; true when it did.
func (s *Server) badExtension(req *sip.Request, tx sip.ServerTransaction) bool {
	o := unsupported(req)
	if o == "" {
		return false
	}
	s.respond(req, tx, 420, "Bad Extension", nil, sip.NewHeader("Unsupported", o))
	return true
}

// ring sends 180 to caller leg l's INVITE: reliably when the phone
// requires 100rel.
func (s *Server) ring(l *leg) {
	uas := l.uas.Load()
	if uas == nil {
		return // answered already
	}
	if !l.rel {
		uas.Respond(180, "Ringing", nil)
		return
	}
	t := l.t
	t.mu.Lock()
	if l.prack != nil {
		t.mu.Unlock()
		return // the last one awaits its PRACK
	}
	l.rseq++
	rseq, prack := l.rseq, make(chan struct{})
	l.prack = prack
	t.mu.Unlock()
	hdrs := []sip.Header{sip.NewHeader("Require", "100rel"), sip.NewHeader("RSeq", strconv.FormatUint(uint64(rseq), 10))}
	if err := uas.Respond(180, "Ringing", nil, hdrs...); err != nil {
		return
	}
	go s.retransmitReliable(l, prack, hdrs)
}

// retransmitReliable resends leg l's reliable 180 from T1 doubling until
// its PRACK closes prack or the INVITE has its final response; without a
// PRACK within AckTimeout the INVITE is refused (unpracked).
func (s *Server) retransmitReliable(l *leg, prack chan struct{}, hdrs []sip.Header) {
	give := time.NewTimer(s.cfg.AckTimeout)
	defer give.Stop()
	wait := sip.T1
	retrans := time.NewTimer(wait)
	defer retrans.Stop()
	for {
		select {
		case <-prack:
			return
		case <-give.C:
			s.log.Info("SIP reliable 180 not acknowledged (no PRACK): refusing the INVITE", "call_id", l.callID)
			t := l.t
			t.mu.Lock()
			acts := t.unpracked(l)
			t.mu.Unlock()
			t.act(acts)
			return
		case <-s.ctx.Done():
			return
		case <-retrans.C:
			uas := l.uas.Load()
			if uas == nil || uas.LoadState() >= sip.DialogStateEstablished {
				return // answered (or ended): the 180 is moot
			}
			if err := uas.Respond(180, "Ringing", nil, hdrs...); err != nil {
				return
			}
			wait = min(2*wait, 64*sip.T1)
			retrans.Reset(wait)
		}
	}
}

// handlePrack acknowledges a reliable 180 of ours (RAck: RSeq, CSeq and
// method of the INVITE).
func (s *Server) handlePrack(req *sip.Request, tx sip.ServerTransaction) {
	l := s.dialogLeg(req, tx)
	if l == nil {
		return
	}
	h := req.GetHeader("RAck")
	invite, ok := l.inviteCSeq()
	if !ok || h == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	f := strings.Fields(h.Value())
	rseq, err1 := strconv.ParseUint(f0(f, 0), 10, 32)
	cseq, err2 := strconv.ParseUint(f0(f, 1), 10, 32)
	t := l.t
	t.mu.Lock()
	match := err1 == nil && err2 == nil && l.prack != nil && uint32(rseq) == l.rseq &&
		uint32(cseq) == invite && strings.EqualFold(f0(f, 2), "INVITE")
	if match {
		close(l.prack)
		l.prack = nil
	}
	t.mu.Unlock()
	if !match {
		s.respond(req, tx, 481, "No Such Provisional Response", nil)
		return
	}
	s.respond(req, tx, 200, "OK", nil)
}

// f0 is f[i], or "".
func f0(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// answerOptions PRACKs the reliable provisional responses to our INVITE d
// of leg l (once per RSeq), and keeps the phone's tag of the early dialog
// (replaces.go).
func (s *Server) answerOptions(l *leg, d *sipgo.DialogClientSession) sipgo.AnswerOptions {
	var last uint64
	// A carrier's challenge is answered with its account (carrier.go).
	opts := l.t.carrierAuth(l)
	opts.OnResponse = func(r *sip.Response) error {
		if tag, ok := r.To().Params.Get("tag"); ok && r.StatusCode > 100 {
			l.t.mu.Lock()
			first := l.peerTag == ""
			if tag != l.peerTag {
				l.peerTag = strings.Clone(tag) // not the response's whole To line
			}
			l.t.mu.Unlock()
			if first {
				l.t.dialogChanged(l.dn) // BLF watchers learn the dialog's ids (notify.go)
			}
		}
		if !r.IsProvisional() || r.StatusCode == 100 || !hasOption(headerValue(r, "Require", ""), "100rel") {
			return nil
		}
		h := r.GetHeader("RSeq")
		if h == nil {
			return nil
		}
		rseq, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil || rseq <= last {
			return nil // a retransmission: PRACKed already
		}
		last = rseq
		target := d.InviteRequest.Recipient
		if c := r.Contact(); c != nil {
			target = c.Address
		}
		req := sip.NewRequest(sip.PRACK, target)
		req.AppendHeader(sip.NewHeader("RAck", strconv.FormatUint(rseq, 10)+" "+strconv.FormatUint(uint64(r.CSeq().SeqNo), 10)+" INVITE"))
		// Built and sent here, while r is the dialog's last response
		// (its To tag); its answer is awaited aside.
		ctx, cancel := context.WithTimeout(s.ctx, sip.Timer_F)
		ptx, err := d.TransactionRequest(ctx, req)
		if err != nil {
			cancel()
			s.log.Debug("SIP PRACK", "err", err)
			return nil
		}
		go func() {
			defer cancel()
			defer ptx.Terminate()
			select {
			case <-ptx.Responses():
			case <-ptx.Done():
			case <-ctx.Done():
			}
		}()
		return nil
	}
	return opts
}

// unpracked: caller leg l's reliable 180 never got its PRACK: its INVITE
// is refused (504) and the engine hears its party leave. Nothing when the
// INVITE has its final response already.
func (b *book) unpracked(l *leg) []action {
	if !l.caller || l.state != legCalling {
		return nil
	}
	l.state = legEnded
	acts := []action{{kind: actFinal, leg: l, fin: final{code: 504, reason: "Server Time-out"}}}
	if l.connID != "" {
		acts = append(acts, action{kind: actRelease, leg: l})
	}
	return acts
}

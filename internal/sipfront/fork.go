package sipfront

import (
	"context"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Forking (RFC 3261 section 16.7, parallel): a call to a DN with several
// registered contacts (contacts.go) INVITEs them all at once; the legs
// share their fork (the first of them). The first to answer wins: its answer is the
// engine's Answer, and the others are CANCELled with
// `Reason: SIP;cause=200;text="Call completed elsewhere"` (RFC 3326), so
// the phones do not show a missed call. A 2xx from another device after
// that (its answer crossed our CANCEL, or came before it was sent) is
// ACKed and BYEd at once. A device refusing (486, 480, no answer) leaves
// the others ringing; the engine hears of a refusal only when every device
// has refused: DestinationBusy when one said busy, else NoAnswer. A 6xx
// (603 Decline) from one device is final for all (section 16.7 item 5):
// the others are CANCELled. The engine sees one ringing party and one
// answer, as with one device.

// completedElsewhere is the Reason of the CANCEL to the devices that lost
// a forked call (RFC 3326; RFC 3261 section 16.7's text).
const completedElsewhere = `SIP;cause=200;text="Call completed elsewhere"`

// fork INVITEs every contact of DN dn on call c, from caller: one leg each,
// all pointing at the first (their fork).
func (b *book) fork(c *call, dn string, contacts []sip.Uri, from string) []action {
	var acts []action
	var first *leg
	for _, contact := range contacts {
		a := b.newLeg(c, dn, "", contact, from)
		if first == nil {
			first = a.leg
		}
		a.leg.fork = first
		acts = append(acts, a)
	}
	return acts
}

// siblings are the other live legs forked with l that still ring.
func (b *book) siblings(l *leg) []*leg {
	c := b.calls[l.connID]
	if c == nil || l.fork == nil {
		return nil
	}
	var out []*leg
	for _, o := range c.legs {
		if o != l && o.fork == l.fork && o.state == legCalling {
			out = append(out, o)
		}
	}
	return out
}

// forkWon: leg l answered; the devices it was forked with stop ringing
// (CANCEL with the completed-elsewhere Reason).
func (b *book) forkWon(l *leg) []action {
	var acts []action
	for _, o := range b.siblings(l) {
		o.state = legEnded
		acts = append(acts, action{kind: actCancel, leg: o, reason: completedElsewhere})
	}
	return acts
}

// forkFailed: our INVITE of leg l got final response code (408: none),
// not a 2xx. tell is false when nothing is to be told to the engine: the
// leg was over already (we cancelled it), or other devices of the fork
// still ring. Else code is the status to report for the whole fork: busy
// (486) if any device said busy, else this one's. A 6xx ends the fork:
// the other devices are cancelled.
func (b *book) forkFailed(l *leg, code int) (tell bool, status int, acts []action) {
	if l.over() {
		return false, code, nil
	}
	l.state, l.failCode = legEnded, int16(code)
	rest := b.siblings(l)
	if code >= 600 {
		for _, o := range rest {
			o.state = legEnded
			acts = append(acts, action{kind: actCancel, leg: o})
		}
		return true, code, acts
	}
	if len(rest) > 0 {
		return false, code, nil
	}
	if c := b.calls[l.connID]; c != nil && l.fork != nil {
		for _, o := range c.legs {
			if o.fork == l.fork && busyStatus(int(o.failCode)) {
				return true, int(o.failCode), nil
			}
		}
	}
	return true, code, nil
}

// busyStatus reports whether a final response means "busy" (the engine's
// DestinationBusy, NetworkBusy): 486, 600, 603.
func busyStatus(code int) bool { return code == 486 || code == 600 || code == 603 }

// legsOf are the live legs of DN dn's phones on the call (several while a
// forked call rings).
func (c *call) legsOf(dn string) []*leg {
	var out []*leg
	for _, l := range c.legs {
		if l.dn == dn && l.trunk == "" && !l.over() {
			out = append(out, l)
		}
	}
	return out
}

// lateAnswer: our INVITE of leg l, which we had cancelled, got a 2xx all
// the same (the answer crossed the CANCEL): ACK it and BYE the dialog
// (RFC 3261 section 9.1, 15), so the phone stops ringing and retransmitting.
func (s *Server) lateAnswer(d *sipgo.DialogClientSession) {
	if d == nil || d.InviteResponse == nil || !d.InviteResponse.IsSuccess() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sip.Timer_F)
	defer cancel()
	d.Ack(ctx)
	d.Bye(ctx)
}

// cancelReasons holds the Reason header of the CANCELs about to be sent, by
// Call-ID: sipgo builds a CANCEL from its INVITE, and reasonRequester
// adds the header on its way out.
type cancelReasons struct{ m sync.Map }

func (r *cancelReasons) set(callID, reason string) { r.m.Store(callID, reason) }

// forget drops callID's Reason, if it is still there.
func (r *cancelReasons) forget(callID string) { r.m.Delete(callID) }

// reasonRequester is the client's transaction requester: every request
// goes to the transaction layer as sipgo would send it, a CANCEL with the
// Reason set for its Call-ID (once); ACKs (which have no transaction, and
// are the only requests sipfront writes without one) go straight to the
// transport. The transaction of a dialog-creating INVITE over UDP is
// wrapped so that its 2xx does not keep it 32 s (invite.go).
type reasonRequester struct {
	ua      *sipgo.UserAgent
	reasons *cancelReasons
	pending *pendingInvites
}

func (r reasonRequester) Request(ctx context.Context, req *sip.Request) (sip.ClientTransaction, error) {
	if req.IsAck() {
		return nil, r.ua.TransportLayer().WriteMsg(req)
	}
	if req.IsCancel() && req.CallID() != nil {
		if v, ok := r.reasons.m.LoadAndDelete(req.CallID().Value()); ok {
			req.AppendHeader(sip.NewHeader("Reason", v.(string)))
		}
	}
	if !req.IsInvite() {
		return r.ua.TransactionLayer().Request(ctx, req)
	}
	// TransactionLayer.Request, with the transaction wrapped before it
	// sends the INVITE.
	tx, err := r.ua.TransactionLayer().NewClientTransaction(ctx, req)
	if err != nil {
		return nil, err
	}
	w := r.pending.wrap(req, tx)
	if err := tx.Init(); err != nil {
		w.Terminate()
		tx.Terminate()
		return nil, err
	}
	return w, nil
}

package sipfront

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Established dialogs in a compact record.
//
// sipgo's dialog sessions keep, for the dialog's whole life, the parsed
// INVITE (cloned once more by DialogUA.ReadInvite), its 2xx, the ACK
// built for it and the INVITE's transaction (with its own copy of the
// request and its timers): about 11 KB of the 15 KB of live heap an
// answered call had, all of it pointer-rich for the garbage collector. A
// leg keeps the session only while its INVITE is being answered (the 1xx,
// PRACK, CANCEL: sipgo's code); once the dialog is established (our 2xx
// sent, or the phone's received and acknowledged) it keeps a dialog
// record instead, what RFC
// 3261 section 12 says a dialog's state is (Call-ID, the local and remote
// URIs with their tags, the remote target, the route set, the local and
// remote CSeq numbers), plus where its requests go (transport and
// address: the flow the phone's messages came over), and drops the
// session. The INVITE transactions do not outlive the exchange either:
// sipgo's would stay 32 s after the 2xx (timers L and M, RFC 6026) with
// the session in them; compact records stand in for them (invite.go).
//
// The requests of an established dialog (BYE, re-INVITE and its ACK,
// UPDATE, NOTIFY) are built from the record as sipgo's sessions built
// them (DialogServerSession and DialogClientSession buildReq) and sent
// through sipgo's client transactions.

// dialog is the record of an established dialog of a leg (its Call-ID is
// the leg's). Its fields are set once, before it is published (leg.dlg);
// cseq changes atomically.
type dialog struct {
	local     string   // our From value, with our tag
	remote    string   // the phone's (or carrier's) To value, with its tag
	target    string   // the remote target URI: the Contact it gave
	routes    []string // the route set, in the order our Route headers list it
	dest      string   // host:port our requests go to without a route set (its messages' source)
	transport string
	ua        *sipgo.DialogUA
	// remoteCSeq: the CSeq number of the phone's INVITE when it called us
	// (uas), which bounds its requests' CSeq.
	remoteCSeq uint32
	cseq       atomic.Uint32 // the last CSeq number we used in the dialog
	uas        bool
	strict     bool // the first route is a strict router (no lr): it is the Request-URI (as sipgo)
	update     bool // the phone allows UPDATE (its Allow: sessiontimer.go)
}

// serverDialog is the record of the dialog of the phone's INVITE, which
// we answered (d: sipgo's session, its 2xx sent).
func serverDialog(d *sipgo.DialogServerSession, ua *sipgo.DialogUA) *dialog {
	req, res := d.InviteRequest, d.InviteResponse
	r := &dialog{
		local:     strings.Clone(req.To().Value()), // ReadInvite gave it our tag
		remote:    strings.Clone(req.From().Value()),
		transport: transportName(req.Transport()),
		update:    hasOption(headerValue(req, "Allow", ""), "UPDATE"),
		ua:        ua,
		uas:       true,
	}
	if res != nil && res.To() != nil {
		r.local = strings.Clone(res.To().Value())
	}
	if c := req.Contact(); c != nil {
		r.target = c.Address.String()
	}
	if cs := req.CSeq(); cs != nil {
		r.remoteCSeq = cs.SeqNo
	}
	// UAS: the route set is the INVITE's Record-Route, in its order
	// (RFC 3261 section 12.1.1).
	for _, h := range req.GetHeaders("Record-Route") {
		r.routes = append(r.routes, strings.Clone(h.Value()))
	}
	if len(r.routes) == 0 && ua.RewriteContact {
		r.dest = strings.Clone(req.Source())
	}
	r.cseq.Store(d.CSEQ())
	return r
}

// clientDialog is the record of the dialog of our INVITE d, answered
// (its 2xx received).
func clientDialog(d *sipgo.DialogClientSession) *dialog {
	req, res := d.InviteRequest, d.InviteResponse
	r := &dialog{
		local:     strings.Clone(req.From().Value()),
		remote:    strings.Clone(res.To().Value()),
		transport: transportName(req.Transport()),
		update:    hasOption(headerValue(res, "Allow", ""), "UPDATE"),
		ua:        d.UA,
	}
	if c := res.Contact(); c != nil {
		r.target = c.Address.String()
	} else {
		r.target = req.Recipient.String()
	}
	// UAC: the 2xx's Record-Route reversed (RFC 3261 section 12.1.2).
	rrs := res.GetHeaders("Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		r.routes = append(r.routes, strings.Clone(rrs[i].Value()))
	}
	if len(r.routes) > 0 {
		var u sip.Uri
		if _, err := sip.ParseAddressValue(r.routes[0], &u, nil); err == nil && !u.UriParams.Has("lr") {
			r.strict = true
		}
	} else if d.UA.RewriteContact {
		r.dest = strings.Clone(res.Source())
	}
	r.cseq.Store(d.CSEQ())
	return r
}

// transportName is tr in upper case, without a copy for the usual ones.
func transportName(tr string) string {
	switch up := sip.NetworkToUpper(tr); up {
	case "UDP":
		return "UDP"
	case "TCP":
		return "TCP"
	case "TLS":
		return "TLS"
	case "WS":
		return "WS"
	case "WSS":
		return "WSS"
	default:
		return strings.Clone(up)
	}
}

// remoteTarget is the dialog's remote target, parsed.
func (d *dialog) remoteTarget() (sip.Uri, bool) {
	var u sip.Uri
	if d.target == "" || sip.ParseUri(d.target, &u) != nil {
		return sip.Uri{}, false
	}
	return u, true
}

// tags are the dialog's tags: ours and the phone's.
func (d *dialog) tags() (local, remote string) {
	return tagOf(d.local), tagOf(d.remote)
}

// tagOf is the tag parameter of a From or To value ("" without one),
// read without parsing the address (tagParam, ack.go).
func tagOf(v string) string {
	tag, _ := tagParam(v)
	return tag
}

// build completes req, a request in dialog callID, as sipgo's sessions do
// (RFC 3261 section 12.2.1.1): From, To, Call-ID, Max-Forwards and CSeq
// (the next number, but for ACK, which takes the last), the route set,
// our Contact when req has none, the transport and the destination.
func (d *dialog) build(callID string, req *sip.Request) {
	hs := make([]sip.Header, 0, 5)
	if req.From() == nil {
		hs = append(hs, sip.NewHeader("From", d.local))
	}
	if req.To() == nil {
		hs = append(hs, sip.NewHeader("To", d.remote))
	}
	if req.CallID() == nil {
		id := sip.CallIDHeader(callID)
		hs = append(hs, &id)
	}
	if req.MaxForwards() == nil {
		mf := sip.MaxForwardsHeader(70)
		hs = append(hs, &mf)
	}
	cseq := req.CSeq()
	if cseq == nil {
		cseq = &sip.CSeqHeader{MethodName: req.Method}
		hs = append(hs, cseq)
	}
	if len(hs) > 0 {
		req.PrependHeader(hs...)
	}
	if req.IsAck() || req.IsCancel() {
		cseq.SeqNo = d.cseq.Load()
	} else {
		cseq.SeqNo = d.cseq.Add(1)
	}
	for _, r := range d.routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	switch {
	case len(d.routes) > 0 && d.strict:
		if rh := req.Route(); rh != nil {
			req.Recipient = rh.Address
		}
	case len(d.routes) == 0 && d.dest != "":
		req.SetDestination(d.dest)
	}
	if req.Contact() == nil {
		req.AppendHeader(sip.HeaderClone(&d.ua.ContactHDR))
	}
	req.SetTransport(d.transport)
}

// complete is the option that gives a dialog's request its Via and a
// Content-Length, as sipgo's sessions do.
func complete(c *sipgo.Client, req *sip.Request) error {
	if req.Via() == nil {
		sipgo.ClientRequestAddVia(c, req)
	}
	if req.Body() == nil {
		req.SetBody(nil)
	}
	return nil
}

// do sends req in dialog callID and waits for its final response.
func (d *dialog) do(ctx context.Context, callID string, req *sip.Request) (*sip.Response, error) {
	d.build(callID, req)
	tx, err := d.ua.Client.TransactionRequest(ctx, req, complete)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, tx.Err()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// write sends req (an ACK) in dialog callID, without a transaction.
func (d *dialog) write(callID string, req *sip.Request) error {
	d.build(callID, req)
	return d.ua.Client.WriteRequest(req, complete)
}

// validBye reports whether a BYE with CSeq number seq may be the phone's
// in this dialog: not below its INVITE's when it called us (as sipgo's
// DialogServerSession.ReadBye checks).
func (d *dialog) validBye(seq uint32) bool {
	return !d.uas || seq >= d.remoteCSeq
}

// dialogSent reports whether leg l has a dialog to send requests in: its
// INVITE's session or the record.
func (l *leg) dialogSent() bool {
	return l.dlg.Load() != nil || l.uas.Load() != nil || l.uac.Load() != nil
}

// dialogDo sends req in leg l's dialog (the record, else sipgo's session
// while the INVITE is answered) and waits for its final response.
func (l *leg) dialogDo(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	if d := l.dlg.Load(); d != nil {
		return d.do(ctx, l.callID, req)
	}
	if uas := l.uas.Load(); uas != nil {
		return uas.Do(ctx, req)
	}
	if uac := l.uac.Load(); uac != nil {
		return uac.Do(ctx, req)
	}
	return nil, errNoDialog
}

// dialogWrite sends req (an ACK) in leg l's dialog.
func (l *leg) dialogWrite(req *sip.Request) error {
	if d := l.dlg.Load(); d != nil {
		return d.write(l.callID, req)
	}
	if uas := l.uas.Load(); uas != nil {
		return uas.WriteRequest(req)
	}
	if uac := l.uac.Load(); uac != nil {
		return uac.WriteRequest(req)
	}
	return errNoDialog
}

// remoteTarget is where leg l's in-dialog requests go: the Contact of the
// phone's INVITE (it called us) or of its answer (we called it).
func (l *leg) remoteTarget() (sip.Uri, bool) {
	if d := l.dlg.Load(); d != nil {
		return d.remoteTarget()
	}
	if uas := l.uas.Load(); uas != nil && uas.InviteRequest.Contact() != nil {
		return uas.InviteRequest.Contact().Address, true
	}
	if uac := l.uac.Load(); uac != nil && uac.InviteResponse != nil && uac.InviteResponse.Contact() != nil {
		return uac.InviteResponse.Contact().Address, true
	}
	return sip.Uri{}, false
}

// transport is the transport of leg l's dialog ("" before it has one).
func (l *leg) transport() string {
	if d := l.dlg.Load(); d != nil {
		return d.transport
	}
	if uas := l.uas.Load(); uas != nil {
		return uas.InviteRequest.Transport()
	}
	if uac := l.uac.Load(); uac != nil {
		return uac.InviteRequest.Transport()
	}
	return ""
}

// inviteCSeq is the CSeq number of the phone's INVITE of caller leg l.
func (l *leg) inviteCSeq() (uint32, bool) {
	if uas := l.uas.Load(); uas != nil {
		return uas.InviteRequest.CSeq().SeqNo, true
	}
	if d := l.dlg.Load(); d != nil && d.uas {
		return d.remoteCSeq, true
	}
	return 0, false
}

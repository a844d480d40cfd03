package sipfront

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// Subscriptions switchboard notifies (RFC 6665), out of any call:
//
//   - message-summary (RFC 3842): a phone's message-waiting indicator. A
//     phone DN subscribes (digest-authenticated like its INVITEs) to its
//     own mailbox (Request-URI user = its DN; another gets 403); each
//     NOTIFY carries the DN's state in the engine (Messages-Waiting,
//     Voice-Message new/old), sent at once and at every
//     EventMessageWaitingOn/Off of the DN (the CTI API's message-waiting
//     command).
//   - dialog (RFC 4235): busy-lamp fields. A phone DN subscribes to any DN
//     of its tenant (Request-URI user); each NOTIFY is a full
//     dialog-info document of the DN's calls in the engine (one dialog per
//     call: early while dialling or ringing, confirmed once answered,
//     held included; none when idle; the DN as local identity, the call's
//     first other party as remote identity, which phones show on the
//     key), sent at once and after every call event of the DN.
//
// A subscription lasts the Expires asked for (default 3600 s, at most
// Config.MaxExpires; under Config.MinExpires 423 with Min-Expires);
// Expires 0 ends it with a final NOTIFY (terminated). A refresh is a
// SUBSCRIBE in its dialog (Call-ID and both tags, its package; another:
// 481; these packages in a call's dialog: 489). Its NOTIFYs go over the
// TCP, TLS or WebSocket connection the SUBSCRIBE came on while it is
// open, else (and over UDP) to the SUBSCRIBE's Contact; one answered 481 (or not at all) ends it. The
// agent-state subscription feeding message-summary is renewed if dropped
// for being slow, and the mailboxes notified then.

// subscription is a SUBSCRIBE dialog we are the notifier of.
type subscription struct {
	t      *sipTenant
	event  string // "message-summary" or "dialog"
	dn     string // the mailbox or the watched DN
	callID string
	from   sip.FromHeader // of our NOTIFYs: the SUBSCRIBE's To, with our tag
	to     sip.ToHeader   // of our NOTIFYs: the SUBSCRIBE's From
	target sip.Uri        // the SUBSCRIBE's Contact
	via    flow           // the connection the SUBSCRIBE came over
	// route is the route set (the Record-Routes) of a SUBSCRIBE another
	// cluster node forwarded from a phone's connection: the NOTIFYs go
	// back through that node (cluster_stream.go).
	route []string

	mu      sync.Mutex // serializes the NOTIFYs (and guards what follows)
	cseq    uint32
	version int // of the dialog-info documents
	expires time.Time
	timer   *time.Timer
	ended   bool
}

// notifier holds the subscriptions of a server.
type notifier struct {
	mu      sync.Mutex
	byID    map[string]*subscription            // by Call-ID
	byDN    map[string]map[*subscription]bool   // by tenant id and DN
	mwi     map[*sipTenant]*tenant.Subscription // agent-state subscriptions feeding message-summary
	dialogs atomic.Int32                        // dialog subscriptions: call events are looked at only when some exist
}

func dnKey(t *sipTenant, dn string) string { return t.id + "\x00" + dn }

// subscribeEvent handles a SUBSCRIBE to message-summary or dialog; false
// for another event package (handleSubscribe's).
func (s *Server) subscribeEvent(req *sip.Request, tx sip.ServerTransaction) bool {
	pkg := eventPackage(req)
	if pkg != "message-summary" && pkg != "dialog" {
		return false
	}
	expires := time.Hour
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			s.respond(req, tx, 400, "Bad Expires", nil)
			return true
		}
		expires = min(time.Duration(n)*time.Second, s.cfg.MaxExpires)
	}
	if expires > 0 && expires < s.cfg.MinExpires {
		// As for REGISTER: a phone asking for a few seconds would
		// refresh (and be notified) that often (RFC 6665 section 4.2.1.1).
		s.respond(req, tx, 423, "Interval Too Brief", nil,
			sip.NewHeader("Min-Expires", strconv.Itoa(int(s.cfg.MinExpires/time.Second))))
		return true
	}
	if _, tagged := req.To().Params.Get("tag"); tagged {
		// A refresh. In a call's dialog, handleSubscribe's answer (489:
		// these packages are not served in a call's dialog); in no
		// dialog of ours, 481 (RFC 6665 section 4.2.1.2): the package
		// is known, the subscription is not.
		switch {
		case s.resubscribe(req, tx, expires):
			return true
		case s.legByCallID(req.CallID().Value()) != nil:
			return false
		}
		s.respond(req, tx, 481, "Subscription Does Not Exist", nil)
		return true
	}
	from, user := req.From().Address.User, req.Recipient.User
	t := s.tenantFor(req.From().Address.Host)
	pw, known := "", false
	if t != nil {
		pw, known = t.password(from)
	}
	if err := s.authenticate(req, tx, t, from, pw, known && pw != ""); err != nil {
		return true
	}
	switch {
	case req.Contact() == nil:
		s.respond(req, tx, 400, "Missing Contact", nil)
		return true
	case pkg == "message-summary" && user != from:
		s.respond(req, tx, 403, "Forbidden", nil)
		return true
	case t.dns[user] == nil:
		s.respond(req, tx, 404, "Not Found", nil)
		return true
	}
	sub := &subscription{t: t, event: pkg, dn: user, callID: req.CallID().Value(), target: req.Contact().Address,
		via: flow{transport: sip.NetworkToUpper(req.Transport()), source: s.origin(req)}}
	if s.forwarded(req) {
		for _, h := range req.GetHeaders("Record-Route") {
			sub.route = append(sub.route, h.Value())
		}
	}
	sub.from = sip.FromHeader{DisplayName: req.To().DisplayName, Address: req.To().Address, Params: sip.NewParams()}
	tag := sip.GenerateTagN(16)
	sub.from.Params.Add("tag", tag)
	sub.to = req.From().AsTo()
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.To().Params.Add("tag", tag)
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	res.AppendHeader(&s.duaFor(sub.via.transport).ContactHDR)
	s.cfg.Metrics.SIPResponse("SUBSCRIBE", 200)
	if err := tx.Respond(res); err != nil {
		s.log.Debug("SIP SUBSCRIBE response", "err", err)
		return true
	}
	if expires == 0 {
		go s.notify(sub, true) // a fetch: one NOTIFY, ended
		return true
	}
	s.addSubscription(sub, expires)
	go s.notify(sub, false)
	return true
}

// eventPackage is the package of a request's Event header, lowercased,
// without parameters ("" without one).
func eventPackage(req *sip.Request) string {
	h := req.GetHeader("Event")
	if h == nil {
		return ""
	}
	pkg, _, _ := strings.Cut(h.Value(), ";")
	return strings.ToLower(strings.TrimSpace(pkg))
}

// resubscribe refreshes (or, with expires 0, ends) the subscription of
// req's dialog; false when it is none of ours.
func (s *Server) resubscribe(req *sip.Request, tx sip.ServerTransaction, expires time.Duration) bool {
	s.notes.mu.Lock()
	sub := s.notes.byID[req.CallID().Value()]
	s.notes.mu.Unlock()
	if sub == nil {
		return false
	}
	// The subscription's dialog is its Call-ID and both tags (RFC 6665
	// section 4.1.2.1), for its package only: a SUBSCRIBE matching the
	// Call-ID alone refreshes nothing.
	ours, _ := sub.from.Params.Get("tag")
	theirs, _ := sub.to.Params.Get("tag")
	toTag, _ := req.To().Params.Get("tag")
	fromTag, _ := req.From().Params.Get("tag")
	if toTag != ours || fromTag != theirs || eventPackage(req) != sub.event {
		s.respond(req, tx, 481, "Subscription Does Not Exist", nil)
		return true
	}
	s.respond(req, tx, 200, "OK", nil, sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	if expires == 0 {
		s.dropSubscription(sub)
		go s.notify(sub, true)
		return true
	}
	sub.mu.Lock()
	sub.expires = time.Now().Add(expires)
	sub.timer.Reset(expires)
	sub.mu.Unlock()
	go s.notify(sub, false)
	return true
}

// addSubscription indexes sub until it expires.
func (s *Server) addSubscription(sub *subscription, expires time.Duration) {
	n := &s.notes
	sub.expires = time.Now().Add(expires)
	sub.timer = time.AfterFunc(expires, func() {
		s.dropSubscription(sub)
		if s.ctx.Err() == nil {
			s.notify(sub, true)
		}
	})
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byID == nil {
		n.byID, n.byDN, n.mwi = map[string]*subscription{}, map[string]map[*subscription]bool{}, map[*sipTenant]*tenant.Subscription{}
	}
	if old := n.byID[sub.callID]; old != nil {
		n.unindex(old)
	}
	n.byID[sub.callID] = sub
	k := dnKey(sub.t, sub.dn)
	if n.byDN[k] == nil {
		n.byDN[k] = map[*subscription]bool{}
	}
	n.byDN[k][sub] = true
	if sub.event == "dialog" {
		n.dialogs.Add(1)
	}
	if sub.event == "message-summary" && n.mwi[sub.t] == nil {
		// The first mailbox subscription of the tenant: its agent-state
		// events (EventMessageWaitingOn/Off) now matter.
		rs := sub.t.rt.Subscribe(tenant.Filter{Topic: event.AgentStateTopic}, mwiBuffer)
		n.mwi[sub.t] = rs
		s.wg.Add(1)
		go s.watchMWI(sub.t, rs)
	}
}

// unindex removes sub from the indexes; n.mu must be held.
func (n *notifier) unindex(sub *subscription) {
	if n.byID[sub.callID] == sub {
		delete(n.byID, sub.callID)
	}
	k := dnKey(sub.t, sub.dn)
	if n.byDN[k][sub] {
		delete(n.byDN[k], sub)
		if len(n.byDN[k]) == 0 {
			delete(n.byDN, k)
		}
		if sub.event == "dialog" {
			n.dialogs.Add(-1)
		}
	}
}

// dropSubscription ends sub (its final NOTIFY is the caller's).
func (s *Server) dropSubscription(sub *subscription) {
	s.notes.mu.Lock()
	s.notes.unindex(sub)
	s.notes.mu.Unlock()
	sub.mu.Lock()
	if sub.timer != nil {
		sub.timer.Stop()
	}
	sub.mu.Unlock()
}

// watching returns the subscriptions to event pkg of DN dn of tenant t.
func (s *Server) watching(t *sipTenant, dn, pkg string) []*subscription {
	s.notes.mu.Lock()
	defer s.notes.mu.Unlock()
	var out []*subscription
	for sub := range s.notes.byDN[dnKey(t, dn)] {
		if sub.event == pkg {
			out = append(out, sub)
		}
	}
	return out
}

// watchMWI notifies the message-summary subscribers of tenant t's DNs of
// their message-waiting events, until the server closes. An agent-state
// subscription dropped for being slow is renewed, and every mailbox
// subscriber of the tenant is notified of its state then: a change may
// have been missed, and the tenant's indicators would otherwise stay as
// they were until the process restarts.
func (s *Server) watchMWI(t *sipTenant, rs *tenant.Subscription) {
	defer s.wg.Done()
	defer func() { rs.Close() }()
	for {
		select {
		case ev := <-rs.C:
			if ev.ID == event.EventMessageWaitingOn || ev.ID == event.EventMessageWaitingOff {
				for _, sub := range s.watching(t, ev.ThisDN, "message-summary") {
					go s.notify(sub, false)
				}
			}
		case <-rs.Done():
			if s.ctx.Err() != nil || !errors.Is(rs.Err(), tenant.ErrSlowSubscriber) {
				return
			}
			s.log.Error("SIP front end: agent-state subscription ended; renewing", "tenant", t.id, "err", rs.Err())
			rs = t.rt.Subscribe(tenant.Filter{Topic: event.AgentStateTopic}, mwiBuffer)
			s.notes.mu.Lock()
			s.notes.mwi[t] = rs
			var subs []*subscription
			for _, sub := range s.notes.byID {
				if sub.t == t && sub.event == "message-summary" {
					subs = append(subs, sub)
				}
			}
			s.notes.mu.Unlock()
			for _, sub := range subs {
				go s.notify(sub, false)
			}
		case <-s.ctx.Done():
			return
		}
	}
}

// mwiBuffer is the size of the agent-state subscription feeding
// message-summary.
const mwiBuffer = 1024

// callEvent: a recorded call event of the tenant (onEvent); the dialog
// subscribers of its DN are notified.
func (t *sipTenant) callEvent(ev *event.Event) {
	t.dialogChanged(ev.ThisDN)
}

// notify sends sub's NOTIFY with the watched DN's state now (ended: the
// final one, Subscription-State terminated). A NOTIFY answered 481, or
// not at all, ends the subscription.
func (s *Server) notify(sub *subscription, ended bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.ended {
		return
	}
	state := "terminated;reason=timeout"
	if !ended {
		state = "active;expires=" + strconv.Itoa(max(0, int(time.Until(sub.expires)/time.Second)))
	} else {
		sub.ended = true
	}
	var body, ctype string
	switch sub.event {
	case "message-summary":
		body, ctype = s.messageSummary(sub), "application/simple-message-summary"
	default:
		sub.version++
		body, ctype = s.dialogInfo(sub), "application/dialog-info+xml"
	}
	sub.cseq++
	req := sip.NewRequest(sip.NOTIFY, sub.target)
	from, to := sub.from, sub.to
	cid := sip.CallIDHeader(sub.callID)
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: sub.cseq, MethodName: sip.NOTIFY})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(&s.duaFor(sub.via.transport).ContactHDR)
	req.AppendHeader(sip.NewHeader("Event", sub.event))
	cli := s.cli
	if len(sub.route) > 0 {
		// Through the node holding the subscriber's connection.
		for _, r := range sub.route {
			req.AppendHeader(sip.NewHeader("Route", r))
		}
		if f, ok := flowThrough(sub.route[0]); ok {
			req.SetDestination(f.source)
		}
	} else if s.streamOpen(sub.via) {
		// Over the subscriber's connection while it lasts, as for the
		// INVITEs to a registered phone (transport.go: flowOf): its
		// Contact may name no transport, or an address behind NAT.
		req.SetTransport(sub.via.transport)
		req.SetDestination(sub.via.source)
		cli = s.duaFor(sub.via.transport).Client
	}
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", ctype))
	req.SetBody([]byte(body))
	ctx, cancel := context.WithTimeout(s.ctx, sip.Timer_F)
	defer cancel()
	res, err := cli.Do(ctx, req)
	if err == nil && res.StatusCode != 481 {
		return
	}
	s.log.Debug("SIP NOTIFY not taken: subscription ended", "call_id", sub.callID, "err", err)
	sub.ended = true
	go s.dropSubscription(sub)
}

// dnView is the engine's view of DN dn of tenant t (and its calls);
// false when it cannot be read.
func (t *sipTenant) dnView(dn string, withCalls bool) (engine.DNView, []engine.CallView, bool) {
	q, ok := t.rt.(querier)
	if !ok {
		return engine.DNView{}, nil, false
	}
	var v engine.DNView
	var calls []engine.CallView
	found := false
	ctx, cancel := context.WithTimeout(t.s.ctx, t.s.cfg.CommandTimeout)
	defer cancel()
	q.Query(ctx, func(m tenant.Machine) {
		e, ok := m.(*engine.Engine)
		if !ok {
			return
		}
		var err error
		if v, err = e.DN(dn); err != nil {
			return
		}
		found = true
		if withCalls {
			for _, id := range v.Calls {
				if c, err := e.Call(id); err == nil {
					calls = append(calls, c)
				}
			}
		}
	})
	return v, calls, found
}

// messageSummary is the RFC 3842 body of sub's mailbox.
func (s *Server) messageSummary(sub *subscription) string {
	v, _, _ := sub.t.dnView(sub.dn, false)
	waiting := "no"
	if v.MessageWaiting {
		waiting = "yes"
	}
	return fmt.Sprintf("Messages-Waiting: %s\r\nMessage-Account: sip:%s@%s\r\nVoice-Message: %d/%d (0/0)\r\n",
		waiting, sub.dn, sub.from.Address.Host, v.NewMessages, v.OldMessages)
}

// dialogInfo is the RFC 4235 document (state full) of sub's DN: one
// dialog per call of the DN in the engine.
func (s *Server) dialogInfo(sub *subscription) string {
	_, calls, _ := sub.t.dnView(sub.dn, true)
	var b strings.Builder
	entity := "sip:" + sub.dn + "@" + sub.from.Address.Host
	fmt.Fprintf(&b, "<?xml version=\"1.0\"?>\r\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"%d\" state=\"full\" entity=\"%s\">\r\n", sub.version-1, entity)
	for _, c := range calls {
		for _, p := range c.Parties {
			if p.DN != sub.dn || p.External {
				continue
			}
			state, direction := "confirmed", "recipient"
			switch p.State {
			case "Dialing":
				state = "early"
			case "Ringing":
				state = "early"
			}
			if p.Role == "Origination" {
				direction = "initiator"
			}
			ids := ""
			if p.State == "Ringing" {
				// Only a ringing dialog's ids: enough to pick it up, not
				// to take an answered call over (replaces.go).
				ids = sub.t.dialogIDs(c.ConnID, sub.dn)
			}
			// The parties' identities: a BLF key shows who rings or
			// talks to the DN (the call's first other party).
			parties := "<local><identity>" + xmlEscape(entity) + "</identity></local>"
			if o := otherParty(c, p.DN); o != "" {
				parties += "<remote><identity>" + xmlEscape("sip:"+o+"@"+sub.from.Address.Host) + "</identity></remote>"
			}
			fmt.Fprintf(&b, "<dialog id=\"%s\"%s direction=\"%s\"><state>%s</state>%s</dialog>\r\n",
				xmlEscape(c.ConnID), ids, direction, state, parties)
		}
	}
	b.WriteString("</dialog-info>\r\n")
	return b.String()
}

// otherParty is the first party of call c that is not DN dn (a DN, or
// an external number), "" when dn is alone on it.
func otherParty(c engine.CallView, dn string) string {
	for _, p := range c.Parties {
		if p.DN != dn {
			return p.DN
		}
	}
	return ""
}

// xmlEscape escapes s for an XML attribute.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// dialogIDs are the call-id, local-tag and remote-tag attributes of the
// SIP dialog of DN dn's phone on call connID, once both tags are known
// ("" otherwise): what a BLF key needs to pick the call up with Replaces
// (replaces.go).
func (t *sipTenant) dialogIDs(connID, dn string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.calls[connID]
	if c == nil {
		return ""
	}
	l := c.legOf(dn)
	if l == nil {
		return ""
	}
	local, remote := l.tags()
	if local == "" || remote == "" {
		return ""
	}
	return fmt.Sprintf(` call-id="%s" local-tag="%s" remote-tag="%s"`, xmlEscape(l.callID), xmlEscape(local), xmlEscape(remote))
}

// dialogChanged: the SIP dialog of DN dn's phone changed (its early
// dialog's tag came): its dialog subscribers are notified.
func (t *sipTenant) dialogChanged(dn string) {
	if t.s.notes.dialogs.Load() == 0 {
		return
	}
	for _, sub := range t.s.watching(t, dn, "dialog") {
		go t.s.notify(sub, false)
	}
}

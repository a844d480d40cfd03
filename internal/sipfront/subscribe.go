package sipfront

import (
	"context"
	"errors"
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

// Subscriptions of phones (RFC 6665): message-summary (RFC 3842, the
// message-waiting indicator of the phone's own DN, driven by the
// message-waiting request: EventMessageWaitingOn/Off) and dialog (RFC
// 4235, busy lamp fields: the calls of a phone DN of the tenant, driven
// by its call events). A SUBSCRIBE outside a dialog is digest-
// authenticated like an INVITE (407) and makes a subscription of its own
// dialog (our To tag); its 200 carries the Expires granted (asked for,
// default 1 hour, capped at Config.MaxExpires; under MinExpires 423),
// and a NOTIFY with the full state follows at once, then one at each
// change, in order, with the dialog-info version rising. A SUBSCRIBE in
// the subscription's dialog refreshes it (200 and a NOTIFY); Expires 0
// ends it (a NOTIFY "terminated"), and so does its expiry. A NOTIFY that
// fails (no answer, 481 or any other failure) ends the subscription. A
// SUBSCRIBE with Expires 0 outside a dialog is a fetch: one NOTIFY
// "terminated". Other packages than these and refer get 489 with
// Allow-Events. Subscriptions live in memory only (a restart loses them:
// phones subscribe again when their refresh fails).

// The event packages served here, with their body's type.
const (
	pkgMWI    = "message-summary"
	pkgDialog = "dialog"
)

var pkgType = map[string]string{
	pkgMWI:    "application/simple-message-summary",
	pkgDialog: "application/dialog-info+xml",
}

// allowEvents lists every package sipfront accepts SUBSCRIBEs for.
const allowEvents = "refer, message-summary, dialog"

// defaultSubExpires is a subscription's duration when the SUBSCRIBE asks
// for none (RFC 3842 and 4235 leave it to the notifier).
const defaultSubExpires = time.Hour

// maxSubsPerDN bounds the subscriptions one phone DN holds (a phone has a
// few dozen BLF keys at most): more get 403.
const maxSubsPerDN = 128

// watch is a tenant's subscriptions and the state they report. mu guards
// everything but dialogSubs.
type watch struct {
	t *sipTenant
	// dialogSubs counts the live dialog subscriptions: with none, a call
	// event costs one atomic load (onCall).
	dialogSubs atomic.Int32

	mu     sync.Mutex
	subs   map[string]*subscription   // by Call-ID
	byDN   map[string][]*subscription // by watched DN
	perSub map[string]int             // subscriptions held, by subscriber DN
	mwi    map[string]mwiState        // message-waiting state seen in events, by DN
	calls  map[string]*watchedDN      // DNs watched with the dialog package
}

// watchedDN is the dialogs of a DN watched with the dialog package.
type watchedDN struct {
	dialogs map[string]*dialogState // by ConnID
	subs    int                     // its dialog subscriptions
	// querying: engine queries for the first NOTIFY under way; the calls
	// events touched meanwhile (their state is newer than a query's).
	querying int
	touched  map[string]bool
}

// subscription is one phone's subscription (its dialog, what it watches).
// Fields after account are guarded by watch.mu.
type subscription struct {
	w              *watch
	pkg            string
	dn             string // the watched DN (message-summary: the subscriber's own)
	subscriber     string
	callID         string
	localTag       string // our To tag
	remoteTag      string // the subscriber's From tag
	local, remote  sip.Uri
	host           string  // the host of the SUBSCRIBE's To URI: the account's and entity's
	account        string  // sip:<dn>@host
	target         sip.Uri // the subscriber's Contact: where NOTIFYs go
	cseq           uint32
	version        int // of the next dialog-info body
	expires        time.Time
	timer          *time.Timer
	queue          []notice
	sending, ended bool
}

// notice is one NOTIFY to send: its body and Subscription-State.
type notice struct {
	body  []byte
	state string
}

func newWatch(t *sipTenant) *watch {
	return &watch{t: t, subs: map[string]*subscription{}, byDN: map[string][]*subscription{},
		perSub: map[string]int{}, mwi: map[string]mwiState{}, calls: map[string]*watchedDN{}}
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

// subscribeWatch handles a SUBSCRIBE to message-summary or dialog; false
// for another package (handleSubscribe's).
func (s *Server) subscribeWatch(req *sip.Request, tx sip.ServerTransaction) bool {
	pkg := eventPackage(req)
	if pkgType[pkg] == "" {
		return false
	}
	if _, tagged := req.To().Params.Get("tag"); tagged {
		s.resubscribe(req, tx, pkg)
		return true
	}
	if req.Contact() == nil {
		s.respond(req, tx, 400, "Missing Contact", nil)
		return true
	}
	if !accepts(req, pkgType[pkg]) {
		s.respond(req, tx, 406, "Not Acceptable", nil, sip.NewHeader("Accept", pkgType[pkg]))
		return true
	}
	exp, ok := s.subExpires(req, tx)
	if !ok {
		return true
	}
	from := req.From().Address.User
	t := s.tenantFor(req.From().Address.Host)
	pw, known := "", false
	if t != nil {
		pw, known = t.password(from)
	}
	if err := s.authenticate(req, tx, t, from, pw, known && pw != ""); err != nil {
		return true
	}
	dn := unescape(req.Recipient.User)
	switch pkg {
	case pkgMWI:
		// A phone's own mailbox: its DN, or a voicemail number that is
		// not a DN.
		if d := t.dns[dn]; d != nil && dn != from {
			s.respond(req, tx, 403, "Forbidden", nil)
			return true
		}
		dn = from
	case pkgDialog:
		if d := t.dns[dn]; d == nil || !d.Type.IsPhone() {
			s.respond(req, tx, 404, "Not Found", nil)
			return true
		}
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	tag, _ := res.To().Params.Get("tag")
	fromTag, _ := req.From().Params.Get("tag")
	sub := &subscription{w: t.watch, pkg: pkg, dn: dn, subscriber: from, callID: req.CallID().Value(),
		localTag: tag, remoteTag: fromTag, local: req.To().Address, remote: req.From().Address,
		host: req.To().Address.Host, target: req.Contact().Address}
	sub.account = "sip:" + dn + "@" + sub.host
	w := t.watch
	if exp > 0 && !w.add(sub, exp) {
		s.respond(req, tx, 403, "Too Many Subscriptions", nil)
		return true
	}
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(exp/time.Second))))
	res.AppendHeader(&s.dua.ContactHDR)
	s.cfg.Metrics.SIPResponse("SUBSCRIBE", 200)
	if err := tx.Respond(res); err != nil {
		s.log.Debug("SIP respond", "code", 200, "err", err)
	}
	w.prime(sub)
	w.mu.Lock()
	if exp == 0 {
		w.finish(sub, "timeout") // a fetch
	} else if !sub.ended {
		w.enqueue(sub, w.notice(sub))
	}
	w.mu.Unlock()
	return true
}

// accepts reports whether the request's Accept header (none: the
// package's default) takes content type typ.
func accepts(req *sip.Request, typ string) bool {
	h := req.GetHeader("Accept")
	if h == nil {
		return true
	}
	for _, a := range strings.Split(h.Value(), ",") {
		a, _, _ = strings.Cut(a, ";")
		switch strings.ToLower(strings.TrimSpace(a)) {
		case typ, "*/*", "application/*", "":
			return true
		}
	}
	return false
}

// subExpires is the duration a SUBSCRIBE asks for (default
// defaultSubExpires), capped at MaxExpires; false when it has been
// answered (400 for a bad Expires, 423 under MinExpires).
func (s *Server) subExpires(req *sip.Request, tx sip.ServerTransaction) (time.Duration, bool) {
	exp := defaultSubExpires
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			s.respond(req, tx, 400, "Bad Expires", nil)
			return 0, false
		}
		exp = time.Duration(n) * time.Second
	}
	if exp > 0 && exp < s.cfg.MinExpires {
		s.respond(req, tx, 423, "Interval Too Brief", nil,
			sip.NewHeader("Min-Expires", strconv.Itoa(int(s.cfg.MinExpires/time.Second))))
		return 0, false
	}
	return min(exp, s.cfg.MaxExpires), true
}

// resubscribe: a SUBSCRIBE in a subscription's dialog refreshes it (200,
// a NOTIFY with the state) or, with Expires 0, ends it.
func (s *Server) resubscribe(req *sip.Request, tx sip.ServerTransaction, pkg string) {
	var sub *subscription
	for _, t := range s.tenants {
		t.watch.mu.Lock()
		sub = t.watch.subs[req.CallID().Value()]
		t.watch.mu.Unlock()
		if sub != nil {
			break
		}
	}
	toTag, _ := req.To().Params.Get("tag")
	fromTag, _ := req.From().Params.Get("tag")
	if sub == nil || sub.pkg != pkg || toTag != sub.localTag || fromTag != sub.remoteTag {
		s.respond(req, tx, 481, "Subscription Does Not Exist", nil)
		return
	}
	exp, ok := s.subExpires(req, tx)
	if !ok {
		return
	}
	w := sub.w
	w.mu.Lock()
	if sub.ended {
		w.mu.Unlock()
		s.respond(req, tx, 481, "Subscription Does Not Exist", nil)
		return
	}
	if exp == 0 {
		w.finish(sub, "timeout")
	} else {
		sub.expires = time.Now().Add(exp)
		sub.timer.Reset(exp)
		if c := req.Contact(); c != nil {
			sub.target = c.Address
		}
	}
	w.mu.Unlock()
	s.respond(req, tx, 200, "OK", nil, sip.NewHeader("Expires", strconv.Itoa(int(exp/time.Second))), &s.dua.ContactHDR)
	if exp > 0 {
		w.mu.Lock()
		w.enqueue(sub, w.notice(sub))
		w.mu.Unlock()
	}
}

// add indexes subscription sub, lasting exp; false when its subscriber
// holds maxSubsPerDN already.
func (w *watch) add(sub *subscription, exp time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.perSub[sub.subscriber] >= maxSubsPerDN {
		return false
	}
	if old := w.subs[sub.callID]; old != nil {
		w.finish(old, "deactivated") // the phone reused its Call-ID
	}
	w.perSub[sub.subscriber]++
	w.subs[sub.callID] = sub
	w.byDN[sub.dn] = append(w.byDN[sub.dn], sub)
	sub.expires = time.Now().Add(exp)
	sub.timer = time.AfterFunc(exp, func() { w.expire(sub) })
	if sub.pkg == pkgDialog {
		wd := w.calls[sub.dn]
		if wd == nil {
			wd = &watchedDN{dialogs: map[string]*dialogState{}}
			w.calls[sub.dn] = wd
		}
		wd.subs++
		w.dialogSubs.Add(1)
	}
	return true
}

// expire ends sub when its time is up (a refresh moved it on otherwise).
func (w *watch) expire(sub *subscription) {
	if w.t.s.ctx.Err() != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !sub.ended && !time.Now().Before(sub.expires) {
		w.finish(sub, "timeout")
	}
}

// finish ends sub with a last NOTIFY "terminated;reason=<reason>" (with
// the state). Under mu.
func (w *watch) finish(sub *subscription, reason string) {
	n := w.notice(sub)
	w.unindex(sub)
	n.state = "terminated;reason=" + reason
	w.enqueue(sub, n)
}

// unindex forgets sub: no more NOTIFYs but those queued. Under mu.
func (w *watch) unindex(sub *subscription) {
	if sub.ended {
		return
	}
	sub.ended = true
	if sub.timer != nil {
		sub.timer.Stop()
	}
	if w.subs[sub.callID] != sub {
		return // a fetch: never indexed
	}
	delete(w.subs, sub.callID)
	if w.perSub[sub.subscriber]--; w.perSub[sub.subscriber] <= 0 {
		delete(w.perSub, sub.subscriber)
	}
	list := w.byDN[sub.dn]
	for i, o := range list {
		if o == sub {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.byDN, sub.dn)
	} else {
		w.byDN[sub.dn] = list
	}
	if sub.pkg == pkgDialog {
		w.dialogSubs.Add(-1)
		if wd := w.calls[sub.dn]; wd != nil {
			if wd.subs--; wd.subs <= 0 && wd.querying == 0 {
				delete(w.calls, sub.dn)
			}
		}
	}
}

// notice is sub's NOTIFY of the current state, active. Under mu.
func (w *watch) notice(sub *subscription) notice {
	left := max(int(time.Until(sub.expires)/time.Second), 0)
	n := notice{state: "active;expires=" + strconv.Itoa(left)}
	switch sub.pkg {
	case pkgMWI:
		n.body = messageSummary(sub.account, w.mwi[sub.dn])
	case pkgDialog:
		var dialogs map[string]*dialogState
		if wd := w.calls[sub.dn]; wd != nil {
			dialogs = wd.dialogs
		}
		n.body = dialogInfo(sub.account, sub.host, sub.version, dialogs)
		sub.version++
	}
	return n
}

// enqueue queues NOTIFY n of sub; the queue is sent in order by one
// goroutine while it is not empty. Under mu.
func (w *watch) enqueue(sub *subscription, n notice) {
	if sub.ended && !strings.HasPrefix(n.state, "terminated") {
		return
	}
	sub.queue = append(sub.queue, n)
	if !sub.sending {
		sub.sending = true
		go w.drain(sub)
	}
}

// drain sends sub's queued NOTIFYs in order; a failed one ends the
// subscription and drops the rest.
func (w *watch) drain(sub *subscription) {
	s := w.t.s
	for {
		w.mu.Lock()
		if len(sub.queue) == 0 || s.ctx.Err() != nil {
			sub.queue, sub.sending = nil, false
			w.mu.Unlock()
			return
		}
		n := sub.queue[0]
		sub.queue = sub.queue[1:]
		sub.cseq++
		cseq, target := sub.cseq, sub.target
		w.mu.Unlock()
		if err := s.notify(sub, target, cseq, n); err != nil {
			s.log.Debug("SIP NOTIFY failed: subscription ended", "pkg", sub.pkg, "dn", sub.dn, "subscriber", sub.subscriber, "err", err)
			w.mu.Lock()
			w.unindex(sub)
			sub.queue, sub.sending = nil, false
			w.mu.Unlock()
			return
		}
	}
}

// notify sends NOTIFY n (CSeq cseq) in sub's dialog to target and waits
// for its final response (at most timer F); an error unless 2xx.
func (s *Server) notify(sub *subscription, target sip.Uri, cseq uint32, n notice) error {
	req := sip.NewRequest(sip.NOTIFY, target)
	from := &sip.FromHeader{Address: sub.local}
	from.Params.Add("tag", sub.localTag)
	to := &sip.ToHeader{Address: sub.remote}
	to.Params.Add("tag", sub.remoteTag)
	cid := sip.CallIDHeader(sub.callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.NOTIFY})
	req.AppendHeader(sip.NewHeader("Event", sub.pkg))
	req.AppendHeader(sip.NewHeader("Subscription-State", n.state))
	req.AppendHeader(sip.NewHeader("Content-Type", pkgType[sub.pkg]))
	req.AppendHeader(&s.dua.ContactHDR)
	req.SetBody(n.body)
	ctx, cancel := context.WithTimeout(s.ctx, sip.Timer_F)
	defer cancel()
	res, err := s.cli.Do(ctx, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return errors.New("NOTIFY answered " + strconv.Itoa(res.StatusCode))
	}
	return nil
}

// prime makes sure the state sub reports is known before its first
// NOTIFY: the engine's view of the DN (message waiting, or its calls)
// when no event has told it yet. Events that come meanwhile are newer
// than or as new as the view and win.
func (w *watch) prime(sub *subscription) {
	q, ok := w.t.rt.(querier)
	w.mu.Lock()
	var wd *watchedDN
	switch sub.pkg {
	case pkgMWI:
		if _, known := w.mwi[sub.dn]; known || !ok {
			w.mu.Unlock()
			return
		}
	case pkgDialog:
		if wd = w.calls[sub.dn]; wd == nil || !ok {
			w.mu.Unlock()
			return // a fetch (Expires 0) of a DN nobody watches: no calls known
		}
		if wd.querying++; wd.touched == nil {
			wd.touched = map[string]bool{}
		}
	}
	w.mu.Unlock()
	var view engine.DNView
	var calls []*dialogState
	ctx, cancel := context.WithTimeout(w.t.s.ctx, w.t.s.cfg.CommandTimeout)
	err := q.Query(ctx, func(m tenant.Machine) {
		e, ok := m.(*engine.Engine)
		if !ok {
			return
		}
		v, err := e.DN(sub.dn)
		if err != nil {
			return
		}
		view = v
		for _, id := range v.Calls {
			if cv, err := e.Call(id); err == nil {
				if d := dialogFromParty(sub.dn, cv); d != nil {
					calls = append(calls, d)
				}
			}
		}
	})
	cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch sub.pkg {
	case pkgMWI:
		if _, known := w.mwi[sub.dn]; !known && err == nil {
			w.mwi[sub.dn] = mwiState{on: view.MessageWaiting, new: view.NewMessages, old: view.OldMessages}
		}
	case pkgDialog:
		for _, d := range calls {
			if err == nil && !wd.touched[d.id] && wd.dialogs[d.id] == nil {
				wd.dialogs[d.id] = d
			}
		}
		if wd.querying--; wd.querying == 0 {
			wd.touched = nil
			if wd.subs <= 0 {
				delete(w.calls, sub.dn)
			}
		}
	}
}

// onCall: a recorded call event; the dialog subscriptions to its DN get
// a NOTIFY when it changed the DN's dialogs. Called by the dispatcher for
// every call event (events.go).
func (w *watch) onCall(ev *event.Event) {
	if w.dialogSubs.Load() == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	wd := w.calls[ev.ThisDN]
	if wd == nil {
		return
	}
	if wd.touched != nil {
		wd.touched[ev.ConnID] = true
		if ev.PreviousConnID != "" {
			wd.touched[ev.PreviousConnID] = true
		}
	}
	if !applyCall(wd.dialogs, ev) {
		return
	}
	for _, sub := range w.byDN[ev.ThisDN] {
		if sub.pkg == pkgDialog {
			w.enqueue(sub, w.notice(sub))
		}
	}
	dropTerminated(wd.dialogs)
}

// onMWI: a recorded EventMessageWaitingOn/Off; the message-summary
// subscriptions of its DN get a NOTIFY.
func (w *watch) onMWI(ev *event.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mwi[ev.ThisDN] = mwiOf(ev)
	for _, sub := range w.byDN[ev.ThisDN] {
		if sub.pkg == pkgMWI {
			w.enqueue(sub, w.notice(sub))
		}
	}
}

// agentThread is the subscription filter of the message-waiting events.
var agentThread = tenant.Filter{Topic: event.AgentStateTopic}

// start subscribes to the tenant's agent-state events (message waiting)
// until the server closes. A subscription dropped for being slow is
// renewed (the changes it missed reach the phones at their next one).
func (w *watch) start() {
	s := w.t.s
	sub := w.t.rt.Subscribe(agentThread, s.cfg.EventBuffer)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case ev := <-sub.C:
				if ev.ID == event.EventMessageWaitingOn || ev.ID == event.EventMessageWaitingOff {
					w.onMWI(&ev)
				}
				continue
			case <-s.ctx.Done():
				sub.Close()
				return
			case <-sub.Done():
			}
			if s.ctx.Err() != nil || !errors.Is(sub.Err(), tenant.ErrSlowSubscriber) {
				return
			}
			s.log.Error("SIP front end: agent-state subscription ended; renewing", "tenant", w.t.id, "err", sub.Err())
			sub = w.t.rt.Subscribe(agentThread, s.cfg.EventBuffer)
		}
	}()
}

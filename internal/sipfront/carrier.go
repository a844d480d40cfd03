package sipfront

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// Carriers. A trunk's settings (config.TrunkSettings) may give
// switchboard an account at the carrier: its INVITEs to the trunk answer
// the carrier's challenges (401 WWW-Authenticate, 407 Proxy-Authenticate)
// with it, and with register: true switchboard registers to the trunk's
// address as sip:user@domain (REGISTER with digest, refreshed at three
// quarters of the time the carrier granted, retried every
// Config.TrunkRetry after a failure; un-registered at Close). A carrier
// calls us by source address (the trunk's address), by credentials (digest
// as the trunk's sip-user, from any address: challenged like a phone), or
// both (inbound:). A call to the registered contact (Request-URI user =
// the account's user) is for the number in its To header.
//
// Keepalive: every trunk with an address gets an OPTIONS every keepalive
// interval (default 30 s); any response but 503 is an answer. A trunk that
// leaves Config.KeepaliveMisses probes in a row unanswered (each waits
// Config.KeepaliveTimeout) goes out of service (SetService, so
// EventDNOutOfService with the trunk as ThisDN); its first answer after
// that puts it back in service (EventDNBackInService). The state of both
// is TrunkStatus (the CTI API's GET .../dns/{trunk}, /metrics).

// carrier is what a trunk needs of its carrier settings.
type carrier struct {
	inbound   string // address, credentials, both
	keepalive time.Duration
	// account at the carrier (user empty: none).
	user, password, domain string
	register               bool
	expires                time.Duration
}

// trunkState is a trunk's registration and keepalive state (any
// goroutine; mu guards it).
type trunkState struct {
	mu         sync.Mutex
	registered bool
	until      time.Time // the registration's end
	regErr     string    // why the last registration failed
	lastReg    time.Time // the last REGISTER's answer
	probing    bool      // keepalive on
	down       bool      // out of service for want of OPTIONS answers
	misses     int
	lastAnswer time.Time
}

func carrierOf(ts *config.TrunkSettings, address string) carrier {
	c := carrier{inbound: ts.InboundMode(), keepalive: 30 * time.Second}
	if ts.Keepalive.Off || address == "" {
		c.keepalive = 0
	} else if ts.Keepalive.Duration.Duration > 0 {
		c.keepalive = ts.Keepalive.Duration.Duration
	}
	if a := ts.Account; a != nil {
		c.user, c.password, c.register = a.User, a.Password, a.Register
		c.domain, c.expires = a.Domain, a.Expires.Duration
		if c.domain == "" {
			c.domain = hostOf(address)
		}
		if c.expires <= 0 {
			c.expires = time.Hour
		}
	}
	return c
}

func hostOf(hostport string) string {
	if h, _, ok := strings.Cut(hostport, ":"); ok {
		return h
	}
	return hostport
}

// pickTrunk is the trunk external number x leaves through, as the engine
// chooses it: the first that takes x and is not down (its keepalive), else
// the first that takes x; nil when none does.
func (b *book) pickTrunk(x string) *trunk {
	var first *trunk
	for i := range b.trunks {
		tr := &b.trunks[i]
		if !tr.takes(x) {
			continue
		}
		if !tr.isDown() {
			return tr
		}
		if first == nil {
			first = tr
		}
	}
	return first
}

// isDown reports whether the trunk is out of service for want of
// keepalive answers.
func (tr *trunk) isDown() bool {
	if tr.state == nil {
		return false
	}
	tr.state.mu.Lock()
	defer tr.state.mu.Unlock()
	return tr.state.down
}

// carrierAuth are the credentials our INVITE of leg l answers a
// challenge with: the account of its trunk, if any.
func (t *sipTenant) carrierAuth(l *leg) sipgo.AnswerOptions {
	if l.trunk == "" {
		return sipgo.AnswerOptions{}
	}
	for i := range t.trunks {
		if tr := &t.trunks[i]; tr.dn == l.trunk && tr.carrier.user != "" {
			return sipgo.AnswerOptions{Username: tr.carrier.user, Password: tr.carrier.password}
		}
	}
	return sipgo.AnswerOptions{}
}

// trunkByCredentials finds the trunk whose sip-user the request's digest
// credentials name, among trunks that take calls by credentials alone.
// The credentials are read only when such a trunk exists: every phone's
// INVITE answering its challenge comes here (issue 19).
func (s *Server) trunkByCredentials(req *sip.Request) (*sipTenant, *trunk) {
	_, _, _, credName := authKind(req)
	h := req.GetHeader(credName)
	if h == nil {
		return nil, nil
	}
	user, parsed := "", false
	for _, t := range s.served() {
		for i := range t.trunks {
			tr := &t.trunks[i]
			if tr.carrier.inbound != "credentials" {
				continue
			}
			if !parsed {
				cred, err := parseCredentials(h.Value())
				if err != nil {
					return nil, nil
				}
				user, parsed = cred.Username, true
			}
			if tr.user == user {
				return t, tr
			}
		}
	}
	return nil, nil
}

// dnisOf is the number a trunk's INVITE calls: the Request-URI's user,
// unless it is our registered account's (the carrier calls the contact it
// knows): then the To header's.
func dnisOf(req *sip.Request, tr *trunk) string {
	to := req.Recipient.User
	if tr.carrier.register && to == tr.carrier.user && req.To() != nil && req.To().Address.User != "" {
		return req.To().Address.User
	}
	return to
}

// startCarriers starts the registration and keepalive of every trunk that
// has them, once the listener serves (until then the client would open
// a socket of its own on the listener's address); they end with the
// server. On a cluster node, where no tenant is served at the start,
// Attach starts a tenant's (startTrunks), and they end when Detach takes
// it away.
func (s *Server) startCarriers() {
	s.awaitListener()
	for _, t := range s.served() {
		s.startTrunks(t)
	}
}

// awaitListener waits (up to 5 s) until the UDP listener serves.
func (s *Server) awaitListener() {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && s.ctx.Err() == nil; time.Sleep(5 * time.Millisecond) {
		if _, err := s.ua.TransportLayer().GetConnection("udp", s.addr); err == nil {
			break
		}
	}
}

// startTrunks starts the registration and keepalive loops of tenant t's
// trunks; they end with t.ctx. The caller holds a count in s.carriers.
func (s *Server) startTrunks(t *sipTenant) {
	if t.ctx.Err() != nil {
		return // detached already
	}
	for i := range t.trunks {
		tr := &t.trunks[i]
		if tr.carrier.register && tr.address != "" {
			s.carriers.Add(1)
			go s.registerLoop(t, tr)
		}
		if tr.carrier.keepalive > 0 {
			tr.state.mu.Lock()
			tr.state.probing = true
			tr.state.mu.Unlock()
			s.carriers.Add(1)
			go s.keepaliveLoop(t, tr)
		}
	}
}

// carrierTask runs f (which starts trunk loops) counted in s.carriers,
// unless the server is closing: Close waits for them.
func (s *Server) carrierTask(f func()) {
	s.carrierMu.Lock()
	defer s.carrierMu.Unlock()
	if s.carriersClosed {
		return
	}
	s.carriers.Add(1)
	go func() {
		defer s.carriers.Done()
		f()
	}()
}

// registerLoop keeps trunk tr registered to its carrier until the server
// closes, then un-registers it.
func (s *Server) registerLoop(t *sipTenant, tr *trunk) {
	defer s.carriers.Done()
	callID := sip.CallIDHeader("sb-reg-" + sip.GenerateTagN(16))
	cseq := uint32(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-t.ctx.Done():
			if tr.state.isRegistered() {
				s.unregister(tr, callID, &cseq)
			}
			return
		case <-timer.C:
		}
		granted, err := s.sendRegister(t.ctx, tr, callID, &cseq, tr.carrier.expires)
		if t.ctx.Err() != nil {
			// Stopped while registering (the server closes, or on a
			// cluster node the tenant moved): the carrier may have
			// taken the REGISTER.
			s.unregister(tr, callID, &cseq)
			return
		}
		now := time.Now()
		st := tr.state
		st.mu.Lock()
		st.lastReg = now
		if err != nil {
			st.registered, st.regErr = false, err.Error()
		} else {
			st.registered, st.regErr, st.until = true, "", now.Add(granted)
		}
		st.mu.Unlock()
		if err != nil {
			if t.ctx.Err() == nil {
				s.log.Warn("SIP trunk registration failed", "tenant", t.id, "trunk", tr.dn, "err", err)
			}
			timer.Reset(s.cfg.TrunkRetry)
			continue
		}
		timer.Reset(granted * 3 / 4)
	}
}

// unregister ends trunk tr's registration (Expires 0), waiting up to 2 s.
func (s *Server) unregister(tr *trunk, callID sip.CallIDHeader, cseq *uint32) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.sendRegister(ctx, tr, callID, cseq, 0)
	st := tr.state
	st.mu.Lock()
	st.registered = false
	st.mu.Unlock()
}

func (st *trunkState) isRegistered() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.registered
}

// errRegister is a REGISTER refused by the carrier.
var errRegister = errors.New("registration refused")

// sendRegister sends one REGISTER of trunk tr for expires (0:
// un-register), answering a challenge with the account, and returns the
// time the carrier granted.
func (s *Server) sendRegister(ctx context.Context, tr *trunk, callID sip.CallIDHeader, cseq *uint32, expires time.Duration) (time.Duration, error) {
	c := tr.carrier
	var recipient sip.Uri
	if err := sip.ParseUri("sip:"+tr.address, &recipient); err != nil {
		return 0, err
	}
	aor := sip.Uri{Scheme: "sip", User: c.user, Host: c.domain}
	req := sip.NewRequest(sip.REGISTER, recipient)
	from := &sip.FromHeader{Address: aor}
	from.Params.Add("tag", sip.GenerateTagN(16))
	*cseq++
	dua := s.duaFor(uriTransport(recipient))
	contact := dua.ContactHDR.Address
	contact.User = c.user
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: *cseq, MethodName: sip.REGISTER})
	req.AppendHeader(&sip.ContactHeader{Address: contact})
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	rctx, cancel := context.WithTimeout(ctx, sip.Timer_F)
	defer cancel()
	res, err := dua.Client.Do(rctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = dua.Client.DoDigestAuth(rctx, req, res, sipgo.DigestAuth{Username: c.user, Password: c.password})
	}
	if req.CSeq() != nil {
		*cseq = req.CSeq().SeqNo // the digest retry raised it
	}
	if err != nil {
		return 0, err
	}
	if !res.IsSuccess() {
		return 0, fmt.Errorf("%w: %d %s", errRegister, res.StatusCode, res.Reason)
	}
	granted := expires
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil {
			granted = time.Duration(n) * time.Second
		}
	}
	for _, h := range res.GetHeaders("Contact") {
		if ch, ok := h.(*sip.ContactHeader); ok && ch.Address.User == contact.User && ch.Address.Port == contact.Port {
			if v, ok := ch.Params.Get("expires"); ok {
				if n, err := strconv.Atoi(v); err == nil {
					granted = time.Duration(n) * time.Second
				}
			}
		}
	}
	if expires > 0 && granted <= 0 {
		return 0, fmt.Errorf("%w: no time granted", errRegister)
	}
	return granted, nil
}

// keepaliveLoop probes trunk tr with OPTIONS every keepalive interval
// until the server closes; misses in a row take it out of service, an
// answer puts it back.
func (s *Server) keepaliveLoop(t *sipTenant, tr *trunk) {
	defer s.carriers.Done()
	if in, known := t.inService(tr.dn); known && !in {
		// Out of service since before the start: the first answer
		// puts it back.
		tr.state.mu.Lock()
		tr.state.down = true
		tr.state.mu.Unlock()
	}
	tick := time.NewTicker(tr.carrier.keepalive)
	defer tick.Stop()
	for {
		answered := s.probe(tr)
		st := tr.state
		st.mu.Lock()
		var change *bool
		if answered {
			st.misses, st.lastAnswer = 0, time.Now()
			if st.down {
				st.down = false
				change = new(bool)
				*change = true
			}
		} else {
			st.misses++
			if !st.down && st.misses >= s.cfg.KeepaliveMisses {
				st.down = true
				change = new(bool)
			}
		}
		st.mu.Unlock()
		if change != nil && t.ctx.Err() == nil {
			s.log.Warn("SIP trunk keepalive: service changes", "tenant", t.id, "trunk", tr.dn, "in_service", *change)
			if _, err := t.do(engine.SetService{DN: tr.dn, InService: *change}); err != nil {
				s.log.Warn("SIP trunk keepalive: service not changed", "tenant", t.id, "trunk", tr.dn, "err", err)
			}
		}
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probe sends one OPTIONS to trunk tr; true when it was answered (any
// response but 503) within KeepaliveTimeout.
func (s *Server) probe(tr *trunk) bool {
	var recipient sip.Uri
	if err := sip.ParseUri("sip:"+tr.address, &recipient); err != nil {
		return false
	}
	req := sip.NewRequest(sip.OPTIONS, recipient)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "switchboard", Host: s.dua.ContactHDR.Address.Host}}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.KeepaliveTimeout)
	defer cancel()
	res, err := s.duaFor(uriTransport(recipient)).Client.Do(ctx, req)
	return err == nil && res.StatusCode != 503
}

// TrunkStatus is a trunk's SIP state: its registration to the carrier and
// its keepalive.
type TrunkStatus struct {
	// Registration: "off" (the trunk does not register), "registering"
	// (no attempt answered yet), "registered" or "failed" (the last
	// attempt failed, or the registration ran out).
	Registration string
	// RegisteredUntil is when the registration ends unless refreshed.
	RegisteredUntil time.Time
	// RegistrationError says why the last attempt failed.
	RegistrationError string
	// Keepalive: "off", "up" or "down" (out of service for want of
	// answers to OPTIONS).
	Keepalive string
	// LastAnswer is when the trunk last answered an OPTIONS.
	LastAnswer time.Time
}

// TrunkStatus is the SIP state of trunk DN dn of tenant id; false when it
// is no trunk of the tenant.
func (s *Server) TrunkStatus(id, dn string) (TrunkStatus, bool) {
	t := s.served()[id]
	if t == nil {
		return TrunkStatus{}, false
	}
	for i := range t.trunks {
		if tr := &t.trunks[i]; tr.dn == dn {
			return tr.status(), true
		}
	}
	return TrunkStatus{}, false
}

// Trunks calls f with every trunk's status, by tenant and trunk DN.
func (s *Server) Trunks(f func(tenant, dn string, st TrunkStatus)) {
	for id, t := range s.served() {
		for i := range t.trunks {
			f(id, t.trunks[i].dn, t.trunks[i].status())
		}
	}
}

func (tr *trunk) status() TrunkStatus {
	st := tr.state
	st.mu.Lock()
	defer st.mu.Unlock()
	out := TrunkStatus{Registration: "off", Keepalive: "off", LastAnswer: st.lastAnswer}
	if tr.carrier.register {
		out.Registration = "failed"
		if st.lastReg.IsZero() {
			out.Registration = "registering"
		}
		if st.registered && time.Now().Before(st.until) {
			out.Registration, out.RegisteredUntil = "registered", st.until
		}
		out.RegistrationError = st.regErr
	}
	if st.probing {
		out.Keepalive = "up"
		if st.down {
			out.Keepalive = "down"
		}
	}
	return out
}

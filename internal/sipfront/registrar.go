package sipfront

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// binding is a DN's registration: where its calls go.
type binding struct {
	contact sip.Uri   // the phone's Contact URI
	source  string    // host:port the REGISTER came from
	expires time.Time // when the binding ends unless refreshed
	timer   *time.Timer
	gen     uint64
}

// sipTenant is sipfront's state of one tenant. mu guards everything below it.
type sipTenant struct {
	s   *Server
	id  string
	cfg *config.Tenant
	dns map[string]*config.DN // cfg's DNs by number
	rt  Runtime
	sub *tenant.Subscription

	mu       sync.Mutex
	bindings map[string]*binding
	gen      uint64
	// The calls and their legs; the book's trunks are the tenant's (inbound
	// calls are found by source address, outbound ones sent to them).
	book
	closed   bool
	evWG     sync.WaitGroup
	shutOnce sync.Once
}

type trunk struct {
	dn       string
	address  string // host:port
	host     string
	prefixes []string
	// user and password: credentials its INVITEs must carry too (none
	// when password is empty).
	user, password string
}

func newTenant(s *Server, tc Tenant) *sipTenant {
	t := &sipTenant{
		s: s, id: tc.Config.ID, cfg: tc.Config, rt: tc.Runtime,
		bindings: map[string]*binding{},
		dns:      make(map[string]*config.DN, len(tc.Config.DNs)),
	}
	t.book = newBook(t, t.contactOf, func() uint64 { return legSeq.Add(1) })
	t.book.media = tc.Media
	for i := range tc.Config.DNs {
		t.dns[tc.Config.DNs[i].Number] = &tc.Config.DNs[i]
	}
	for _, d := range tc.Config.DNs {
		if d.Type == config.Trunk && d.Trunk != nil {
			tr := trunk{dn: d.Number, address: d.Trunk.Address, prefixes: d.Trunk.Prefixes,
				user: d.Trunk.SIPUser, password: d.Trunk.SIPPassword}
			if tr.user == "" {
				tr.user = d.Number
			}
			if h, _, ok := strings.Cut(d.Trunk.Address, ":"); ok {
				tr.host = h
			} else {
				tr.host = d.Trunk.Address
			}
			t.trunks = append(t.trunks, tr)
		}
	}
	return t
}

// password is the digest password of a phone DN; "" when the DN is unknown,
// not a phone or has no password (then it cannot register).
func (t *sipTenant) password(dn string) (string, bool) {
	d := t.dns[dn]
	if d == nil {
		return "", false
	}
	if !d.Type.IsPhone() {
		return "", true
	}
	if d.SIPPassword != "" {
		return d.SIPPassword, true
	}
	return t.cfg.Defaults.SIPPassword, true
}

// handleRegister is the registrar: digest authentication against the DN's
// password, then add, refresh or remove the binding.
func (s *Server) handleRegister(req *sip.Request, tx sip.ServerTransaction) {
	to := req.To()
	if to == nil || req.From() == nil || req.CallID() == nil || req.CSeq() == nil {
		s.respond(req, tx, 400, "Bad Request", nil)
		return
	}
	// Whether the tenant or the DN exist or not, the answer is the same
	// challenge, and wrong credentials the same 403 (auth.go).
	t := s.tenantFor(to.Address.Host)
	dn := to.Address.User
	pw, known := "", false
	if t != nil {
		pw, known = t.password(dn)
	}
	if err := s.authenticate(req, tx, t, dn, pw, known && pw != ""); err != nil {
		return
	}

	// Requested expiry: the Contact's expires parameter, else Expires, else
	// the maximum.
	expires := s.cfg.MaxExpires
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			s.respond(req, tx, 400, "Bad Expires", nil)
			return
		}
		expires = time.Duration(n) * time.Second
	}
	contact := req.Contact()
	if contact != nil {
		if v, ok := contact.Params.Get("expires"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				s.respond(req, tx, 400, "Bad Expires", nil)
				return
			}
			expires = time.Duration(n) * time.Second
		}
	}
	switch {
	case contact == nil:
		// A query: answer with the current binding.
		t.mu.Lock()
		b := t.bindings[dn]
		t.mu.Unlock()
		if b == nil {
			s.respond(req, tx, 200, "OK", nil)
			return
		}
		left := int(time.Until(b.expires) / time.Second)
		c := &sip.ContactHeader{Address: b.contact}
		c.Params.Add("expires", strconv.Itoa(max(left, 0)))
		s.respond(req, tx, 200, "OK", nil, c)
		return
	case expires == 0 || contact.Address.Wildcard:
		if contact.Address.Wildcard && expires != 0 {
			s.respond(req, tx, 400, "Bad Request", nil)
			return
		}
		t.unregister(dn, 0)
		s.respond(req, tx, 200, "OK", nil)
		return
	case expires < s.cfg.MinExpires:
		s.respond(req, tx, 423, "Interval Too Brief", nil,
			sip.NewHeader("Min-Expires", strconv.Itoa(int(s.cfg.MinExpires/time.Second))))
		return
	}
	expires = min(expires, s.cfg.MaxExpires)
	t.register(dn, contact.Address, s.origin(req), expires)
	c := &sip.ContactHeader{Address: contact.Address}
	c.Params.Add("expires", strconv.Itoa(int(expires/time.Second)))
	s.respond(req, tx, 200, "OK", nil, c)
}

// register adds or refreshes dn's binding. A new binding puts the DN in
// service (EventDNBackInService).
func (t *sipTenant) register(dn string, contact sip.Uri, source string, expires time.Duration) {
	t.mu.Lock()
	b, had := t.bindings[dn]
	if !had {
		b = &binding{}
		t.bindings[dn] = b
	} else if b.timer != nil {
		b.timer.Stop()
	}
	t.gen++
	gen := t.gen
	b.contact, b.source, b.expires, b.gen = contact, source, time.Now().Add(expires), gen
	b.timer = time.AfterFunc(expires, func() { t.unregister(dn, gen) })
	var w chan error
	if t.s.store != nil {
		w = t.s.store.set(storedBinding{Tenant: t.id, DN: dn, Contact: contact.String(), Source: source, Expires: b.expires})
	}
	t.mu.Unlock()
	// Saved before the DN goes in service: a restart in between finds the
	// binding and puts the DN in service then (restore).
	saved(w)
	if !had {
		if _, err := t.do(engine.SetService{DN: dn, InService: true}); err != nil {
			t.s.log.Warn("SIP registration: DN not put in service", "tenant", t.id, "dn", dn, "err", err)
		}
	}
}

// unregister ends dn's binding (gen 0: whatever it is; else only the
// binding of that generation, for the expiry timer). The DN goes out of
// service (EventDNOutOfService) until it registers again.
func (t *sipTenant) unregister(dn string, gen uint64) {
	t.mu.Lock()
	b := t.bindings[dn]
	if b == nil || (gen != 0 && b.gen != gen) || t.closed {
		t.mu.Unlock()
		return
	}
	b.timer.Stop()
	delete(t.bindings, dn)
	t.mu.Unlock()
	if _, err := t.do(engine.SetService{DN: dn, InService: false}); err != nil {
		t.s.log.Warn("SIP registration ended: DN not taken out of service", "tenant", t.id, "dn", dn, "err", err)
	}
	// Saved after the DN is out of service: a restart in between finds
	// the binding and ends it then (restore), never a DN in service
	// without one. Not when the DN registered again meanwhile (its new
	// binding is logged after this end would be).
	var w chan error
	t.mu.Lock()
	if _, again := t.bindings[dn]; !again && t.s.store != nil && !t.closed {
		w = t.s.store.del(t.id, dn)
	}
	t.mu.Unlock()
	saved(w)
}

// contactOf returns dn's registered contact.
func (t *sipTenant) contactOf(dn string) (sip.Uri, bool) {
	b := t.bindings[dn]
	if b == nil {
		return sip.Uri{}, false
	}
	return b.contact, true
}

// Bind registers DN dn of the server's only tenant at hostport (host:port)
// for ttl, as a REGISTER from that address with that contact would: for a
// load test, which measures calls, not registrations (sipload). Unbind
// ends the binding.
func (s *Server) Bind(dn, hostport string, ttl time.Duration) error {
	if s.single == nil {
		return errors.New("sipfront: Bind: the server has more than one tenant")
	}
	var contact sip.Uri
	if err := sip.ParseUri("sip:"+dn+"@"+hostport, &contact); err != nil {
		return fmt.Errorf("sipfront: Bind: %w", err)
	}
	s.single.register(dn, contact, hostport, ttl)
	return nil
}

// Unbind ends DN dn's binding on the server's only tenant, if any.
func (s *Server) Unbind(dn string) {
	if s.single != nil {
		s.single.unregister(dn, 0)
	}
}

package sipfront

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// binding is one registered contact of a DN: where its calls go (a DN
// may have several, contacts.go).
type binding struct {
	contact sip.Uri   // the phone's Contact URI
	source  string    // host:port the REGISTER came from
	expires time.Time // when the binding ends unless refreshed
	timer   *time.Timer
	gen     uint64
	device  string // the registering device (deviceOf), "" when unknown
}

// sipTenant is sipfront's state of one tenant. mu guards everything below it.
type sipTenant struct {
	s   *Server
	id  string
	cfg *config.Tenant
	dns map[string]*config.DN // cfg's DNs by number
	rt  Runtime
	sub *tenant.Subscription
	// codes: the feature codes its phones dial (features.go).
	codes FeatureCodes

	mu       sync.Mutex
	bindings map[string][]*binding // by DN, in the order registered (contacts.go)
	gen      uint64
	// The calls and their legs; the book's trunks are the tenant's (inbound
	// calls are found by source address, outbound ones sent to them).
	book
	closed   bool
	evWG     sync.WaitGroup
	shutOnce sync.Once
	// ctx ends when the tenant stops being served here (shutdown): its
	// trunks' registration and keepalive loops end with it (carrier.go).
	ctx    context.Context
	cancel context.CancelFunc
}

type trunk struct {
	dn      string
	address string // host:port, with a transport parameter if it names one
	// source, host and transport are where its requests come from
	// (trunkFor): address's host:port (host alone if it has no port), its
	// host, and the transport it names ("": any).
	source, host, transport string
	prefixes                []string
	// user and password: credentials its INVITEs must carry too (none
	// when password is empty).
	user, password string
	carrier        carrier     // inbound mode, account, keepalive (carrier.go)
	state          *trunkState // registration and keepalive (carrier.go)
}

func newTenant(s *Server, tc Tenant) *sipTenant {
	t := &sipTenant{
		s: s, id: tc.Config.ID, cfg: tc.Config, rt: tc.Runtime,
		bindings: map[string][]*binding{},
		dns:      make(map[string]*config.DN, len(tc.Config.DNs)),
	}
	// Checked by Start: a clash falls back to the server's codes.
	if codes, err := tenantCodes(s.cfg.FeatureCodes, tc.Config.FeatureCodes); err == nil {
		t.codes = codes
	} else {
		t.codes = s.cfg.FeatureCodes
	}
	t.book = newBook(t, t.contactsOf, func() uint64 { return legSeq.Add(1) })
	t.book.media = tc.Media
	for i := range tc.Config.DNs {
		t.dns[tc.Config.DNs[i].Number] = &tc.Config.DNs[i]
	}
	for _, d := range tc.Config.DNs {
		if d.Type == config.Trunk && d.Trunk != nil {
			tr := trunk{dn: d.Number, address: d.Trunk.Address, prefixes: d.Trunk.Prefixes,
				user: d.Trunk.SIPUser, password: d.Trunk.SIPPassword,
				carrier: carrierOf(d.Trunk, d.Trunk.Address), state: &trunkState{}}
			if tr.user == "" {
				tr.user = d.Number
			}
			tr.source, tr.host, tr.transport = trunkSource(d.Trunk.Address)
			t.trunks = append(t.trunks, tr)
		}
	}
	return t
}

// trunkSource splits a trunk's address (host:port, or host, with
// ;parameters) into the host:port its requests come from, the host, and
// the transport its transport parameter names ("" when none).
func trunkSource(address string) (source, host, transport string) {
	source, params, _ := strings.Cut(address, ";")
	for _, p := range strings.Split(params, ";") {
		if k, v, ok := strings.Cut(p, "="); ok && strings.EqualFold(strings.TrimSpace(k), "transport") {
			transport = sip.NetworkToUpper(strings.TrimSpace(v))
		}
	}
	return source, hostOf(source), transport
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
		// A query: answer with the current bindings.
		s.respond(req, tx, 200, "OK", nil, t.contactHeaders(dn)...)
		return
	case expires == 0 || contact.Address.Wildcard:
		if contact.Address.Wildcard && expires != 0 {
			s.respond(req, tx, 400, "Bad Request", nil)
			return
		}
		if contact.Address.Wildcard {
			t.unregister(dn, 0) // every contact of the DN
		} else {
			t.unregisterContact(dn, contact.Address.String())
		}
		s.respond(req, tx, 200, "OK", nil, t.contactHeaders(dn)...)
		return
	case expires < s.cfg.MinExpires:
		s.respond(req, tx, 423, "Interval Too Brief", nil,
			sip.NewHeader("Min-Expires", strconv.Itoa(int(s.cfg.MinExpires/time.Second))))
		return
	}
	expires = min(expires, s.cfg.MaxExpires)
	s.rememberFlow(contact.Address, req)                                                  // transport.go
	ob := s.markOutbound(t, dn, contact, req)                                             // outbound.go
	t.registerDevice(dn, contact.Address, s.origin(req), deviceOf(req, contact), expires) // contacts.go
	s.respond(req, tx, 200, "OK", nil, append(t.contactHeaders(dn), ob...)...)
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
	s.single.register(dn, contact, contact.HostPort(), ttl)
	return nil
}

// Unbind ends DN dn's binding on the server's only tenant, if any.
func (s *Server) Unbind(dn string) {
	if s.single != nil {
		s.single.unregister(dn, 0)
	}
}

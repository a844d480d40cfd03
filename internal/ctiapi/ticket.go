package ctiapi

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Event stream tickets. A browser cannot set an Authorization header on a
// WebSocket, so a page (the wallboard) first asks for a ticket with its
// bearer token, then opens the stream with ?ticket=. A ticket is 256 random
// bits, belongs to one tenant, is good for one connection only, and expires
// after Config.TicketTTL. Tickets live in memory: a restart forgets them,
// which only makes the page ask again.

// maxTickets bounds the tickets outstanding at once (expired ones are
// dropped first); beyond it a request for one is refused as unavailable.
const maxTickets = 4096

// Ticket is the body of POST /v1/tenants/{t}/events/ticket.
type Ticket struct {
	Ticket string `json:"ticket" doc:"give it as ?ticket= to GET /v1/tenants/{tenant}/events, once"`
	// ExpiresIn is the ticket's lifetime in seconds.
	ExpiresIn float64 `json:"expiresIn"`
}

type ticketEntry struct {
	tenant  string
	token   int // index in Server.tokens of the token that asked for it
	expires time.Time
}

type tickets struct {
	mu       sync.Mutex
	m        map[string]ticketEntry
	byTenant map[string]int
}

// errTooManyTickets: the tenant has its bound of outstanding tickets.
var errTooManyTickets = apiErr(CodeLimitReached, "too many event stream tickets outstanding for this tenant; use or let expire the ones given")

// issue returns a new ticket of tenant, "" and errTooManyTickets when the
// tenant has perTenant outstanding, "" and nil when too many are
// outstanding in all.
func (ts *tickets) issue(tenant string, token int, perTenant int, ttl time.Duration, now time.Time) (string, *Error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.m == nil {
		ts.m = map[string]ticketEntry{}
		ts.byTenant = map[string]int{}
	}
	if len(ts.m) >= maxTickets || ts.byTenant[tenant] >= perTenant {
		for k, e := range ts.m {
			if !now.Before(e.expires) {
				ts.deleteLocked(k, e)
			}
		}
		if ts.byTenant[tenant] >= perTenant {
			return "", errTooManyTickets
		}
		if len(ts.m) >= maxTickets {
			return "", apiErr(CodeUnavailable, "too many event stream tickets outstanding; try again later")
		}
	}
	var b [32]byte
	rand.Read(b[:])
	tk := hex.EncodeToString(b[:])
	ts.m[tk] = ticketEntry{tenant, token, now.Add(ttl)}
	ts.byTenant[tenant]++
	return tk, nil
}

func (ts *tickets) deleteLocked(tk string, e ticketEntry) {
	delete(ts.m, tk)
	if ts.byTenant[e.tenant]--; ts.byTenant[e.tenant] <= 0 {
		delete(ts.byTenant, e.tenant)
	}
}

// redeem consumes ticket tk: it reports its entry if it existed and had
// not expired. A ticket is gone after its first redeem, valid or not.
func (ts *tickets) redeem(tk string, now time.Time) (ticketEntry, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	e, ok := ts.m[tk]
	if !ok {
		return ticketEntry{}, false
	}
	ts.deleteLocked(tk, e)
	return e, now.Before(e.expires)
}

func ticketRoutes(s *Server) []route {
	return []route{{
		method: "POST", path: "/v1/tenants/{tenant}/events/ticket", auth: true, reply: Ticket{},
		summary: "A one-time ticket for opening the event stream without an Authorization header (browsers): GET /v1/tenants/{tenant}/events?ticket=...",
		handle: func(w http.ResponseWriter, r *http.Request, t *Tenant) error {
			tok, _ := r.Context().Value(tokenKey{}).(int)
			tk, err := s.tickets.issue(t.Runtime.ID(), tok, s.cfg.MaxTickets, s.cfg.TicketTTL, time.Now())
			if err != nil {
				if err.Code == CodeLimitReached {
					s.metrics.HTTPRefused("ticket_limit")
					w.Header().Set("Retry-After", strconv.Itoa(retryAfter(s.cfg.TicketTTL)))
				}
				return err
			}
			w.Header().Set("Cache-Control", "no-store")
			writeJSON(w, http.StatusOK, Ticket{Ticket: tk, ExpiresIn: s.cfg.TicketTTL.Seconds()})
			return nil
		},
	}}
}

// authorizeTicket authorizes a request by its ?ticket= instead of a bearer
// token: 401 for an unknown, used or expired ticket, 403 for a ticket of
// another tenant than the path's.
func (s *Server) authorizeTicket(r *http.Request) (*Tenant, int, *Error) {
	e, ok := s.tickets.redeem(r.URL.Query().Get("ticket"), time.Now())
	if !ok {
		return nil, 0, apiErr(CodeUnauthorized, "the ticket is not valid (unknown, already used or expired)")
	}
	if want := r.PathValue("tenant"); e.tenant != want {
		return nil, 0, apiErr(CodeForbidden, "the ticket does not give access to tenant %q", want)
	}
	t := s.cfg.Tenants[e.tenant]
	return &t, e.token, nil
}

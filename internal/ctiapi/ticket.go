package ctiapi

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
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
	expires time.Time
}

type tickets struct {
	mu sync.Mutex
	m  map[string]ticketEntry
}

// issue returns a new ticket of tenant, or "" when too many are outstanding.
func (ts *tickets) issue(tenant string, ttl time.Duration, now time.Time) string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.m == nil {
		ts.m = map[string]ticketEntry{}
	}
	if len(ts.m) >= maxTickets {
		for k, e := range ts.m {
			if !now.Before(e.expires) {
				delete(ts.m, k)
			}
		}
		if len(ts.m) >= maxTickets {
			return ""
		}
	}
	var b [32]byte
	rand.Read(b[:])
	tk := hex.EncodeToString(b[:])
	ts.m[tk] = ticketEntry{tenant, now.Add(ttl)}
	return tk
}

// redeem consumes ticket tk: it reports its tenant if it existed and had
// not expired. A ticket is gone after its first redeem, valid or not.
func (ts *tickets) redeem(tk string, now time.Time) (string, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	e, ok := ts.m[tk]
	if !ok {
		return "", false
	}
	delete(ts.m, tk)
	return e.tenant, now.Before(e.expires)
}

func ticketRoutes(s *Server) []route {
	return []route{{
		method: "POST", path: "/v1/tenants/{tenant}/events/ticket", auth: true, reply: Ticket{},
		summary: "A one-time ticket for opening the event stream without an Authorization header (browsers): GET /v1/tenants/{tenant}/events?ticket=...",
		handle: func(w http.ResponseWriter, r *http.Request, t *Tenant) error {
			tk := s.tickets.issue(t.Runtime.ID(), s.cfg.TicketTTL, time.Now())
			if tk == "" {
				return apiErr(CodeUnavailable, "too many event stream tickets outstanding; try again later")
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
func (s *Server) authorizeTicket(r *http.Request) (*Tenant, *Error) {
	owner, ok := s.tickets.redeem(r.URL.Query().Get("ticket"), time.Now())
	if !ok {
		return nil, apiErr(CodeUnauthorized, "the ticket is not valid (unknown, already used or expired)")
	}
	if want := r.PathValue("tenant"); owner != want {
		return nil, apiErr(CodeForbidden, "the ticket does not give access to tenant %q", want)
	}
	t := s.cfg.Tenants[owner]
	return &t, nil
}

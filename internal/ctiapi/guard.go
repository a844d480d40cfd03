package ctiapi

import (
	"crypto/sha256"
	"net/http"
)

// Guard authorizes requests of handlers served beside the CTI API (the
// statistics API) exactly as the API's own routes are: an Authorization
// Bearer token of the path's {tenant}, 401 and 403 as for any route, and
// for a WebSocket a one-time ?ticket= issued by the CTI API.
type Guard struct {
	s *Server
}

// Guard returns the server's guard: the same tokens, tickets and error
// bodies as its routes.
func (s *Server) Guard() *Guard { return &Guard{s: s} }

// NewGuard returns a guard for a process that runs no CTI API (the
// standalone statistics consumer): tokens in plain text and as hashes,
// by tenant. It has no tickets.
func NewGuard(tokens map[string][]string, hashes map[string][]TokenHash) *Guard {
	s := &Server{cfg: Config{Tenants: map[string]Tenant{}}}
	for id, toks := range tokens {
		s.cfg.Tenants[id] = Tenant{}
		for _, tok := range toks {
			s.tokens = append(s.tokens, tokenEntry{sha256.Sum256([]byte(tok)), id})
		}
	}
	for id, hs := range hashes {
		s.cfg.Tenants[id] = Tenant{}
		for _, h := range hs {
			s.tokens = append(s.tokens, tokenEntry{h, id})
		}
	}
	return &Guard{s: s}
}

// Wrap serves h for an authorized request, with the tenant the request is
// for; ticket allows ?ticket= instead of the header.
func (g *Guard) Wrap(ticket bool, h func(w http.ResponseWriter, r *http.Request, tenant string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err *Error
		if ticket && r.Header.Get("Authorization") == "" && r.URL.Query().Has("ticket") {
			_, err = g.s.authorizeTicket(r)
		} else {
			_, err = g.s.authorize(r)
		}
		if err != nil {
			if err.Code == CodeUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
			}
			writeError(w, err)
			return
		}
		h(w, r, r.PathValue("tenant"))
	})
}

// Handle mounts h on the server's mux (pattern as http.ServeMux's, with
// {tenant} in the path for Guard). For endpoints that live beside the
// API's own routes; they are not in its OpenAPI document
// (HandleDocumented puts them there).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

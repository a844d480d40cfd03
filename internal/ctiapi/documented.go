package ctiapi

import "net/http"

// DocRoute documents an endpoint served beside the API's own routes (the
// statistics API): HandleDocumented mounts it and adds it to the OpenAPI
// document and to Routes, as the API's own routes are. Its path has a
// {tenant} and its handler authorizes with the server's Guard.
type DocRoute struct {
	Method, Path, Summary string
	// Reply is an example of the success body, for the document's schema
	// (nil: no body).
	Reply any
	// Params is a struct whose fields document the query parameters.
	Params any
	// WebSocket: success is 101 Switching Protocols.
	WebSocket bool
}

// HandleDocumented mounts h at rt's method and path and documents it. Call
// it before the server serves, as Handle.
func (s *Server) HandleDocumented(rt DocRoute, h http.Handler) error {
	r := route{method: rt.Method, path: rt.Path, summary: rt.Summary, auth: true, raw: true,
		reply: rt.Reply, params: rt.Params}
	if rt.WebSocket {
		r.status = http.StatusSwitchingProtocols
	}
	doc, err := buildOpenAPI(append(append(s.documentedRoutes(), r), opsRoutes()...))
	if err != nil {
		return err
	}
	s.mux.Handle(rt.Method+" "+rt.Path, h)
	s.routes = append(s.routes, r)
	s.openapi = doc
	return nil
}

// documentedRoutes is a copy of the route table.
func (s *Server) documentedRoutes() []route { return append([]route(nil), s.routes...) }

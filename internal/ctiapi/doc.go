// Package ctiapi is switchboard's CTI API (spec/CTI-API.md): HTTP + JSON,
// one endpoint per T-Library request, per-tenant bearer tokens, the error
// body and statuses, the WebSocket event stream, and the OpenAPI document of
// exactly what is served (GET /v1/openapi.json, built from the same route
// table that registers the handlers; endpoints served beside the API, the
// statistics', join both with Server.HandleDocumented).
//
// It owns request parsing and validation (64 KiB body limit, unknown fields
// refused, enumerations checked), authentication, the mapping of errors to
// HTTP statuses (errors.go: one table by API error code, one by engine
// refusal reason), and the translation of requests into engine commands.
// It must not touch engine state: commands go through
// runtime.Tenant.Do, reads through runtime.Tenant.Query, events come from
// runtime subscriptions. It knows nothing of Kafka or the journal.
//
// Adding an endpoint is adding one entry to a route table (agents.go for
// agents and DNs, calls.go for calls and the network side): method, path,
// summary, request body type, and either a function building the engine
// command (command: 200 OK; creating: 201 with the new call's ConnID and
// CallThreadID) or a query. handlers.go turns an entry into a handler: decode
// and validate the body, check the form of patterned path parameters (a
// {connId} that is not 16 lowercase hex digits is 404), build the command,
// run it through the tenant's runtime, reply. The builder returns the
// concrete command type, so the route knows its engine kind:
// TestEveryCommandHasRoute fails for an engine command without a route
// unless notRoutes (kinds_test.go) says why it has none.
//
// The event stream (events.go, GET /v1/tenants/{tenant}/events) also takes
// a router's decisions: a text message {"route":{"connId","routingPoint",
// "to"},"referenceId"} (strict JSON, unknown fields refused) is decoded,
// validated and run through runtime.Tenant.Do as engine.RouteCall exactly
// like POST /calls/{connId}/route, and answered on the same socket with
// {"routeResult":{"connId","ok":true}} or {"routeResult":{"connId",
// "ok":false,"error":{"code","message"}}}, the codes of the HTTP error
// table (toError). Events stay exactly their Kafka record values; results
// have no "id" field. One mutex serialises the socket's data writes; a
// result and the events of its route may arrive in either order.
//
// Server.Handler (ops.go) wraps the API for serve with what an operator
// needs: GET /metrics (internal/metrics) and GET /readyz outside the route
// table and without authentication, per-token rate limits (ratelimit.go,
// 429), latency metrics by route pattern, and request ids on every log line
// logged with a request's context (logctx.go). Tokens may be given as
// hashes only (auth_tokens.go).
package ctiapi

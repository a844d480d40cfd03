// Package wallboard is switchboard's live wallboard: one page, served at
// /wallboard/ by the CTI API (internal/ctiapi mounts Handler), that shows a
// tenant's agents by state with time in state, its ACD queues (calls
// waiting, longest wait, service level), its active calls with their
// parties, and a live feed of events.
//
// It owns the page's files in static/ (plain HTML, CSS and JavaScript, no
// build step, embedded in the binary) and serves them as they are. The
// files hold no data: the page fetches everything with the tenant's bearer
// token, from GET /v1/tenants/{t}/agents and /calls, and from the event
// stream, opened with a one-time ticket (POST /v1/tenants/{t}/events/ticket)
// because a browser cannot set an Authorization header on a WebSocket.
// Queue figures (offered, answered, abandoned, service level) are the
// day's, from the statistics API (GET /v1/tenants/{t}/stats on open and
// on every reconnect, then its WebSocket /stats/ws with a ticket too; see
// internal/stats), so a page opened at 14:00 shows the calls since
// midnight; without that API (serve --stats=false) the page counts from
// the events it has seen.
//
// Opening the page: /wallboard/?tenant=demo#token=TOKEN. The token is taken
// from the URL fragment (never sent to the server, so never in access
// logs), kept in the tab's sessionStorage and removed from the address bar;
// without one the page asks for it in a form.
//
// It must not touch engine or runtime state, nor know about Kafka: it is a
// client of the public API like any other.
package wallboard

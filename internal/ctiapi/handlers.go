package ctiapi

import (
	"net/http"
	"regexp"

	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// views are the engine's read-only views used by the GET endpoints.
type views interface {
	DN(number string) (engine.DNView, error)
	Agents() []engine.AgentView
	Agent(id string) (engine.AgentView, error)
	Calls() []engine.CallView
	Call(connID string) (engine.CallView, error)
}

var _ views = (*engine.Engine)(nil)

// pathPatterns are the forms of path parameters that have one: a segment
// of another form names nothing that can exist, so the request is answered
// 404 (after its body is validated). The OpenAPI document gives them as
// the parameters' patterns.
var pathPatterns = map[string]string{
	"connId": connIDPattern,
}

var pathRegexps = func() map[string]*regexp.Regexp {
	m := map[string]*regexp.Regexp{}
	for k, p := range pathPatterns {
		m[k] = regexp.MustCompile(p)
	}
	return m
}()

// checkPath refuses a path parameter of the wrong form.
func checkPath(r *http.Request, params []string) error {
	for _, p := range params {
		if v := r.PathValue(p); !pathRegexps[p].MatchString(v) {
			switch p {
			case "connId":
				return apiErr(CodeNotFound, "unknown ConnID %q (a ConnID is 16 lowercase hex digits)", v)
			default:
				return apiErr(CodeNotFound, "no %s %q", p, v)
			}
		}
	}
	return nil
}

// patternedParams lists the path parameters of path that have a pattern.
func patternedParams(path string) []string {
	var out []string
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		if _, ok := pathPatterns[m[1]]; ok {
			out = append(out, m[1])
		}
	}
	return out
}

// command is a route whose request body B becomes one engine command C
// (the route's kind, which the tests match against engine.Kinds). The
// body is decoded and validated (tags) before build is called; its common
// fields are passed as q. The reply is OK once the events are recorded.
func command[B any, C engine.Command](method, path, summary string, build func(r *http.Request, b *B, q engine.Request) (C, error)) route {
	return commandRoute(method, path, summary, http.StatusOK, OK{}, build,
		func(w http.ResponseWriter, out tenant.Outcome) error {
			writeJSON(w, http.StatusOK, OK{OK: true, Events: out.Events})
			return nil
		})
}

// creating is a command route whose command creates a call (the engine
// replies engine.CallReply): 201 with CallCreated.
func creating[B any, C engine.Command](method, path, summary string, build func(r *http.Request, b *B, q engine.Request) (C, error)) route {
	return commandRoute(method, path, summary, http.StatusCreated, CallCreated{}, build,
		func(w http.ResponseWriter, out tenant.Outcome) error {
			cr, ok := out.Reply.(engine.CallReply)
			if !ok {
				return apiErr(CodeInternal, "the engine gave no call in reply (%T)", out.Reply)
			}
			writeJSON(w, http.StatusCreated, CallCreated{ConnID: cr.ConnID, CallThreadID: cr.CallThreadID, Events: out.Events})
			return nil
		})
}

func commandRoute[B any, C engine.Command](method, path, summary string, status int, reply any,
	build func(r *http.Request, b *B, q engine.Request) (C, error),
	respond func(w http.ResponseWriter, out tenant.Outcome) error) route {
	params := patternedParams(path)
	var zero C
	return route{
		method: method, path: path, summary: summary, auth: true, body: new(B), reply: reply, status: status,
		kind: zero.Kind(),
		handle: func(w http.ResponseWriter, r *http.Request, t *Tenant) error {
			var b B
			if err := decode(w, r, &b); err != nil {
				return err
			}
			if err := validate(&b); err != nil {
				return err
			}
			if err := checkPath(r, params); err != nil {
				return err
			}
			q, err := commonOf(&b).request()
			if err != nil {
				return err
			}
			cmd, err := build(r, &b, q)
			if err != nil {
				return err
			}
			ctx, cancel := queued(r)
			defer cancel()
			out, err := t.Runtime.Do(ctx, cmd)
			if err != nil {
				return err
			}
			return respond(w, out)
		},
	}
}

// query is a GET route answered from the engine's views on the tenant
// goroutine.
func query(method, path, summary string, reply any, get func(r *http.Request, v views) (any, error)) route {
	return queryWith(method, path, summary, reply, func(r *http.Request, v views, _ *Tenant) (any, error) { return get(r, v) })
}

// queryWith is query whose answer may also read the tenant's front ends.
func queryWith(method, path, summary string, reply any, get func(r *http.Request, v views, t *Tenant) (any, error)) route {
	params := patternedParams(path)
	return route{
		method: method, path: path, summary: summary, auth: true, reply: reply,
		handle: func(w http.ResponseWriter, r *http.Request, t *Tenant) error {
			if err := checkPath(r, params); err != nil {
				return err
			}
			var out any
			var gerr error
			ctx, cancel := queued(r)
			defer cancel()
			err := t.Runtime.Query(ctx, func(m tenant.Machine) {
				v, ok := m.(views)
				if !ok {
					gerr = apiErr(CodeInternal, "the engine has no views")
					return
				}
				out, gerr = get(r, v, t)
			})
			if err != nil {
				return err
			}
			if gerr != nil {
				return gerr
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		},
	}
}

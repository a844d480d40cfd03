package ctiapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequests sends random methods, DN/agent path segments, endpoints and
// bodies with a valid token: the server never panics, always answers with
// the JSON error body on failure, and never with a 5xx.
func FuzzRequests(f *testing.F) {
	for _, s := range [][4]string{
		{"POST", "1001", "login", `{"agentId":"agent1","queues":["7000"]}`},
		{"POST", "1001", "ready", `{"workMode":"AutoIn","referenceId":3}`},
		{"POST", "1001", "not-ready", `{"reasons":{"a":{"b":{"c":1}}},"extensions":{"x":"y"}}`},
		{"POST", "1002", "forward", `{"to":"+33123","mode":"OnBusy"}`},
		{"DELETE", "1100", "monitor", ``},
		{"POST", "1004", "message-waiting", `{"on":true,"newMessages":1e3}`},
		{"POST", "1003", "hook", `{"state":"off"} x`},
		{"GET", "agent1", "", ``},
		{"POST", "1001", "dnd", `{"on":true,"reasons":{"":1}}`},
		{"POST", "%2F", "dnd", `{"reasons":[1]}`},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	fx := newFixture(f, nil)
	f.Fuzz(func(t *testing.T, method, seg, endpoint, body string) {
		if strings.ContainsAny(seg+endpoint, "?# \t\r\n") || strings.Contains(endpoint, "events") {
			return // not a path of one request; the event stream needs a WebSocket
		}
		path := "/v1/tenants/demo/dns/" + seg
		if endpoint != "" {
			path += "/" + endpoint
		}
		if method == "GET" && endpoint == "" {
			path = "/v1/tenants/demo/agents/" + seg
		}
		req, err := http.NewRequest(method, "http://x"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+demoToken)
		rec := httptest.NewRecorder()
		fx.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"code":`) {
			t.Fatalf("%s %s: %d without the error body: %s", method, path, rec.Code, rec.Body)
		}
	})
}

// FuzzCallRequests is FuzzRequests for the calls and network-side
// endpoints: random ConnID segments, endpoints and bodies.
func FuzzCallRequests(f *testing.F) {
	for _, s := range [][4]string{
		{"POST", "", "", `{"from":"1001","to":"1002","userData":{"a":{"b":1}}}`},
		{"POST", "19cad00b440b5f36", "answer", `{"dn":"1002"}`},
		{"POST", "19cad00b440b5f36", "complete-transfer", `{"dn":"1002","consultConnId":"7e88de1c2b5df5cd"}`},
		{"POST", "19cad00b440b5f36", "listen", `{"dn":"1002","party":"1003","on":false}`},
		{"POST", "19CAD00B440B5F36", "release", `{"dn":"1001"}`},
		{"POST", "19cad00b440b5f36", "user-data", `{"userData":{"x":1e3}}`},
		{"GET", "19cad00b440b5f36", "", ``},
		{"POST", "network", "", `{"trunk":"pstn","ani":"+331","dnis":"1002"}`},
		{"POST", "network/19cad00b440b5f36", "busy", ``},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	fx := newFixture(f, nil)
	f.Fuzz(func(t *testing.T, method, seg, endpoint, body string) {
		if strings.ContainsAny(seg+endpoint, "?# \t\r\n") {
			return
		}
		path := "/v1/tenants/demo/calls"
		if rest, ok := strings.CutPrefix(seg, "network"); ok {
			path = "/v1/tenants/demo/network/calls"
			seg = strings.TrimPrefix(rest, "/")
		}
		if seg != "" {
			path += "/" + seg
		}
		if endpoint != "" {
			path += "/" + endpoint
		}
		req, err := http.NewRequest(method, "http://x"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+demoToken)
		rec := httptest.NewRecorder()
		fx.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"code":`) {
			t.Fatalf("%s %s: %d without the error body: %s", method, path, rec.Code, rec.Body)
		}
	})
}

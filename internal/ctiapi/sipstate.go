package ctiapi

import (
	"net/http"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// DNState is GET /v1/tenants/{t}/dns/{dn}: the engine's view of the DN
// and, for a trunk the SIP front end serves, its SIP state.
type DNState struct {
	engine.DNView
	SIP *TrunkSIP `json:"sip,omitempty"`
}

// TrunkSIP is a trunk's SIP state (Tenant.TrunkSIP): its registration to
// the carrier and its OPTIONS keepalive.
type TrunkSIP struct {
	// Registration is "off" (the trunk does not register), "registering"
	// (no answer yet), "registered" or "failed".
	Registration string `json:"registration"`
	// RegisteredUntil is when the registration ends unless refreshed
	// (RFC 3339), while registered.
	RegisteredUntil string `json:"registeredUntil,omitempty"`
	// RegistrationError says why the last attempt failed.
	RegistrationError string `json:"registrationError,omitempty"`
	// Keepalive is "off", "up" or "down" (out of service: its OPTIONS
	// went unanswered).
	Keepalive string `json:"keepalive"`
	// LastAnswer is when the trunk last answered an OPTIONS (RFC 3339).
	LastAnswer string `json:"lastAnswer,omitempty"`
}

// dnState answers GET .../dns/{dn}: the DN's view, with the SIP state of
// a trunk when the tenant has one to give.
func dnState(r *http.Request, v views, t *Tenant) (any, error) {
	d, err := v.DN(r.PathValue("dn"))
	if err != nil {
		return nil, err
	}
	out := DNState{DNView: d}
	if t.TrunkSIP != nil && d.Type == "trunk" {
		out.SIP = t.TrunkSIP(d.Number)
	}
	return out, nil
}

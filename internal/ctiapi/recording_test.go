package ctiapi

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// TestRecordingRoute: the action reaches the tenant's Recording for the
// path's call; a call not recorded (or a tenant without recording) is
// 404, a bad action 400, another failure 500.
func TestRecordingRoute(t *testing.T) {
	var got []string
	f := newFixture(t, func(c *Config) {
		d := c.Tenants["demo"]
		d.Recording = func(connID, action string) error {
			got = append(got, connID+" "+action)
			switch connID {
			case "00000000000000aa":
				return fmt.Errorf("sipfront: %w", ErrNotRecorded)
			case "00000000000000bb":
				return errors.New("disk full")
			}
			return nil
		}
		c.Tenants["demo"] = d
	})
	for _, tc := range []struct {
		tenant, conn, body string
		status             int
		code               string
	}{
		{"demo", "0123456789abcdef", `{"action":"pause"}`, http.StatusOK, ""},
		{"demo", "0123456789abcdef", `{"action":"resume"}`, http.StatusOK, ""},
		{"demo", "0123456789abcdef", `{"action":"stop"}`, http.StatusOK, ""},
		{"demo", "0123456789abcdef", `{"action":"rewind"}`, http.StatusBadRequest, CodeBadEnum},
		{"demo", "00000000000000aa", `{"action":"stop"}`, http.StatusNotFound, CodeNotFound},
		{"demo", "00000000000000bb", `{"action":"stop"}`, http.StatusInternalServerError, CodeInternal},
		{"other", "0123456789abcdef", `{"action":"stop"}`, http.StatusNotFound, CodeNotFound},
	} {
		token := demoToken
		if tc.tenant == "other" {
			token = otherToken
		}
		r := f.do(t, token, "POST", fmt.Sprintf("/v1/tenants/%s/calls/%s/recording", tc.tenant, tc.conn), tc.body)
		if r.status != tc.status || (tc.code != "" && r.errCode() != tc.code) {
			t.Errorf("%s %s %s: %d %s, want %d %s", tc.tenant, tc.conn, tc.body, r.status, r.errCode(), tc.status, tc.code)
		}
	}
	want := []string{"0123456789abcdef pause", "0123456789abcdef resume", "0123456789abcdef stop", "00000000000000aa stop", "00000000000000bb stop"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Recording got %v, want %v", got, want)
	}
}

package sim

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/switchboard-cc/switchboard/internal/ctiapi"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// TestRequestMatchesAPIRoutes: every command the HTTP driver can send
// (Request) goes to the API route that sends the same engine command
// kind, so the driver cannot drift from the route table.
func TestRequestMatchesAPIRoutes(t *testing.T) {
	srv, err := ctiapi.New(ctiapi.Config{Tenants: map[string]ctiapi.Tenant{}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	kindOf := map[string]string{}
	for _, r := range srv.Routes() {
		pattern := r.Method + " " + r.Path
		mux.HandleFunc(pattern, func(http.ResponseWriter, *http.Request) {})
		kindOf[pattern] = r.Kind
	}
	mapped := 0
	for _, k := range engine.Kinds() {
		cmd := sampleCommand(t, k)
		method, path, _, err := Request(cmd)
		if errors.Is(err, ErrUsage) {
			continue // the simulator never sends it
		}
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		mapped++
		_, pattern := mux.Handler(httptest.NewRequest(method, "/v1/tenants/demo"+path, nil))
		if got := kindOf[pattern]; got != k {
			t.Errorf("%s goes to %s %s (route %q, which sends %q)", k, method, path, pattern, got)
		}
	}
	if mapped < 15 {
		t.Errorf("only %d kinds mapped", mapped)
	}
}

// sampleCommand is a command of kind k with every string field set to
// "1001" and every ConnID to a ConnID's form.
func sampleCommand(t *testing.T, k string) engine.Command {
	t.Helper()
	zero, err := engine.DecodeCommand([]byte(`{"kind":"` + k + `","cmd":{}}`))
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	v := reflect.New(reflect.TypeOf(zero)).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.String {
			f.SetString("1001")
			if n := v.Type().Field(i).Name; n == "ConnID" || n == "ConsultConnID" {
				f.SetString("0123456789abcdef")
			}
		}
	}
	return v.Interface().(engine.Command)
}

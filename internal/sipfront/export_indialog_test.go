package sipfront

import "testing"

// ScenarioWith writes testdata/<scenario> with placeholder replaced by
// value and returns its path (for app_e2e_test.go).
func ScenarioWith(t *testing.T, scenario, placeholder, value string) string {
	return scenarioWith(t, scenario, placeholder, value)
}

package config

import (
	"strings"
	"testing"
)

// TestQueueTreatments: the example's queue treatments load; bad ones are
// refused with their path and line.
func TestQueueTreatments(t *testing.T) {
	base := `
tenants:
  - id: t
    tokens: [x]
    dns:
      - number: "7000"
        type: acd-queue
        queue:
          treatments:
`
	good := base + `            - type: Music
            - type: PlayAnnouncement
              after: 20s
              every: 20s
              parms: {DURATION: "5", ANNOUNCEMENT: wait}
`
	f, err := Parse("q.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	tr := f.Tenants[0].DNs[0].Queue.Treatments
	if len(tr) != 2 || tr[1].Every.Duration.Seconds() != 20 || tr[1].Parms["DURATION"] != "5" {
		t.Fatalf("treatments %+v", tr)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"            - type: Whistle\n", `q.yaml:10: tenants[0].dns[0].queue.treatments[0].type: unknown queue treatment type "Whistle"`},
		{"            - type: PlayAnnouncement\n", "treatments[0].parms: PlayAnnouncement needs parms.DURATION"},
		{"            - type: Music\n              parms: {DURATION: soon}\n", `treatments[0].parms.DURATION: bad DURATION "soon"`},
		{"            - type: Music\n              every: 10ms\n", "treatments[0].every: period 10ms is under 1s"},
		{"            - type: Music\n              after: -1s\n", "treatments[0].after: negative duration"},
	} {
		f, err := Parse("q.yaml", []byte(base+tc.yaml))
		if err == nil {
			err = f.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

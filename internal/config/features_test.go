package config

import (
	"strings"
	"testing"
)

func TestFeatureCodesDefaultsAndOff(t *testing.T) {
	f, err := Parse("c.yaml", []byte(base+`    feature-codes:
      dnd-on: "*55"
      forward-off: off
`))
	if err != nil {
		t.Fatal(err)
	}
	got := f.Tenants[0].FeatureCodes.Resolved()
	want := FeatureCodes{DNDOn: "*55", DNDOff: "*79", ForwardOn: "*72", ForwardOff: ""}
	if got != want {
		t.Fatalf("resolved %+v, want %+v", got, want)
	}
	if (FeatureCodes{}).Resolved() != defaultFeatureCodes {
		t.Fatalf("zero value resolves to %+v", FeatureCodes{}.Resolved())
	}
}

func TestFeatureCodesErrors(t *testing.T) {
	_, err := Parse("c.yaml", []byte(base+`    feature-codes:
      dnd-on: "*7a"
      dnd-off: "*7"
      forward-on: "10"
      forward-off: "*7"
`))
	if err == nil {
		t.Fatal("bad feature codes accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`tenants[0].feature-codes.dnd-on: bad feature code "*7a"`,
		`tenants[0].feature-codes.forward-on: feature code "10" hides DN "1001"`,
		`tenants[0].feature-codes.forward-off: feature code "*7" clashes with dnd-off "*7"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

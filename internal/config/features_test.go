package config

import (
	"strings"
	"testing"
)

func TestFeatureCodesParsed(t *testing.T) {
	f, err := Parse("c.yaml", []byte(base+`    feature-codes:
      dnd-on: "#61"
      forward-off: ""
`))
	if err != nil {
		t.Fatal(err)
	}
	fc := f.Tenants[0].FeatureCodes
	if fc == nil || fc.DNDOn == nil || *fc.DNDOn != "#61" || fc.ForwardOff == nil || *fc.ForwardOff != "" || fc.DNDOff != nil || fc.Forward != nil {
		t.Fatalf("feature codes %+v", fc)
	}
}

func TestFeatureCodesErrors(t *testing.T) {
	_, err := Parse("c.yaml", []byte(base+`    feature-codes:
      dnd-on: "*7 8"
      dnd-off: "*55"
      forward-off: "*55"
`))
	if err == nil {
		t.Fatal("bad feature codes accepted")
	}
	for _, want := range []string{
		`c.yaml:19: tenants[0].feature-codes.dnd-on: "*7 8" is not a number a phone can dial`,
		`c.yaml:21: tenants[0].feature-codes.forward-off: code "*55" is dnd-off's too`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
}

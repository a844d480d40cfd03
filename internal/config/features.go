package config

import (
	"strings"
)

// FeatureCodes override, for one tenant's phones, the numbers serve's
// --sip-feature-codes sets (same names): dnd-on, dnd-off, forward
// (followed by the destination) and forward-off. A code left out keeps
// serve's; "" turns that feature off for the tenant.
type FeatureCodes struct {
	DNDOn      *string `yaml:"dnd-on"`
	DNDOff     *string `yaml:"dnd-off"`
	Forward    *string `yaml:"forward"`
	ForwardOff *string `yaml:"forward-off"`
}

// featureCodes checks a tenant's feature codes: diallable (no blank,
// ';', '@', '<', '>' or '"'), none twice.
func (v *validator) featureCodes(p string, fc *FeatureCodes) {
	if fc == nil {
		return
	}
	p += ".feature-codes"
	seen := map[string]string{}
	for _, c := range []struct {
		name string
		code *string
	}{{"dnd-on", fc.DNDOn}, {"dnd-off", fc.DNDOff}, {"forward", fc.Forward}, {"forward-off", fc.ForwardOff}} {
		if c.code == nil || *c.code == "" {
			continue
		}
		if strings.ContainsAny(*c.code, " ;@<>\"\t") {
			v.add(p+"."+c.name, "%q is not a number a phone can dial", *c.code)
			continue
		}
		if other, dup := seen[*c.code]; dup {
			v.add(p+"."+c.name, "code %q is %s's too", *c.code, other)
		}
		seen[*c.code] = c.name
	}
}

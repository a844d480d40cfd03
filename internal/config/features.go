package config

import (
	"regexp"
	"strings"
)

// FeatureCodes are the numbers a tenant's SIP phones dial to switch their
// own DN's do-not-disturb and forwarding (sipfront maps them to the
// engine's dnd, forward and cancel-forward requests). An empty field takes
// its default; "off" turns the code off.
type FeatureCodes struct {
	// DNDOn and DNDOff switch do-not-disturb on and off (default *78, *79).
	DNDOn  string `yaml:"dnd-on"`
	DNDOff string `yaml:"dnd-off"`
	// ForwardOn, followed by the destination, forwards every call
	// (Unconditional; default *72, so *721002 forwards to 1002);
	// ForwardOff cancels the forwarding (default *73).
	ForwardOn  string `yaml:"forward-on"`
	ForwardOff string `yaml:"forward-off"`
}

// FeatureOff is the value that turns a feature code off.
const FeatureOff = "off"

// The default feature codes, as most PBXs have them.
var defaultFeatureCodes = FeatureCodes{DNDOn: "*78", DNDOff: "*79", ForwardOn: "*72", ForwardOff: "*73"}

// Resolved is c with the defaults filled in and the codes turned off
// empty.
func (c FeatureCodes) Resolved() FeatureCodes {
	pick := func(v, def string) string {
		switch v {
		case "":
			return def
		case FeatureOff:
			return ""
		}
		return v
	}
	d := defaultFeatureCodes
	return FeatureCodes{
		DNDOn: pick(c.DNDOn, d.DNDOn), DNDOff: pick(c.DNDOff, d.DNDOff),
		ForwardOn: pick(c.ForwardOn, d.ForwardOn), ForwardOff: pick(c.ForwardOff, d.ForwardOff),
	}
}

var reFeatureCode = regexp.MustCompile(`^[*#0-9]{1,16}$`)

// featureCodes checks a tenant's feature codes: each is digits, '*' and
// '#' (or "off"), none is a prefix of another (a phone dials them as one
// number), and none is a DN number or, for forward-on, the start of one
// (the code would hide the DN).
func (v *validator) featureCodes(p string, t *Tenant) {
	p += ".feature-codes"
	raw := t.FeatureCodes
	r := raw.Resolved()
	codes := []struct{ name, raw, code string }{
		{"dnd-on", raw.DNDOn, r.DNDOn}, {"dnd-off", raw.DNDOff, r.DNDOff},
		{"forward-on", raw.ForwardOn, r.ForwardOn}, {"forward-off", raw.ForwardOff, r.ForwardOff},
	}
	for i, c := range codes {
		if c.code == "" {
			continue
		}
		if !reFeatureCode.MatchString(c.code) {
			v.add(p+"."+c.name, "bad feature code %q (want 1-16 digits, '*' or '#', or %q)", c.raw, FeatureOff)
			continue
		}
		for _, o := range codes[:i] {
			if o.code != "" && (strings.HasPrefix(c.code, o.code) || strings.HasPrefix(o.code, c.code)) {
				v.add(p+"."+c.name, "feature code %q clashes with %s %q (one is the start of the other)", c.code, o.name, o.code)
			}
		}
		for _, d := range t.DNs {
			if d.Number == c.code || (c.name == "forward-on" && strings.HasPrefix(d.Number, c.code)) {
				v.add(p+"."+c.name, "feature code %q hides DN %q", c.code, d.Number)
			}
		}
	}
}

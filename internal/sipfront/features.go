package sipfront

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// Feature codes: a phone dialling one (its INVITE authenticated like any
// call) sets its DN's do-not-disturb or forwarding through the engine
// (EventDNDOn/Off, EventForwardSet/Cancel, as the API's commands would);
// the INVITE is answered 200 (placeholder SDP: no media) and ended with a
// BYE at once, or refused as the command was (statusOf). Defaults: *78
// DND on, *79 off, *72<number> forward unconditionally to number, *73
// cancel forwarding (Config.FeatureCodes, under which a tenant's
// feature-codes section sets its own).

// FeatureCodes are the numbers phones dial to set their DN's features; an
// empty one is not served.
type FeatureCodes struct {
	DNDOn, DNDOff         string
	ForwardOn, ForwardOff string // ForwardOn is followed by the number to forward to
}

func (f *FeatureCodes) setDefaults() {
	if *f == (FeatureCodes{}) {
		*f = FeatureCodes{DNDOn: "*78", DNDOff: "*79", ForwardOn: "*72", ForwardOff: "*73"}
	}
}

// tenantCodes is fc with the tenant's own codes over it (its
// feature-codes section); an error when the result uses a code twice.
func tenantCodes(fc FeatureCodes, own *config.FeatureCodes) (FeatureCodes, error) {
	if own == nil {
		return fc, nil
	}
	for _, o := range []struct {
		code  *string
		field *string
	}{{own.DNDOn, &fc.DNDOn}, {own.DNDOff, &fc.DNDOff}, {own.Forward, &fc.ForwardOn}, {own.ForwardOff, &fc.ForwardOff}} {
		if o.code != nil {
			*o.field = *o.code
		}
	}
	codes := []string{fc.DNDOn, fc.DNDOff, fc.ForwardOn, fc.ForwardOff}
	for i, c := range codes {
		if c != "" && slices.Contains(codes[i+1:], c) {
			return fc, fmt.Errorf("feature code %q used twice (the tenant's feature-codes over --sip-feature-codes)", c)
		}
	}
	return fc, nil
}

// featureCommand is the engine command DN from's phone (of tenant t) asks
// for by dialling to, if to is one of t's feature codes.
func (s *Server) featureCommand(t *sipTenant, from, to string) (engine.Command, bool) {
	fc := t.codes
	switch {
	case fc.DNDOn != "" && to == fc.DNDOn:
		return engine.SetDND{DN: from, On: true}, true
	case fc.DNDOff != "" && to == fc.DNDOff:
		return engine.SetDND{DN: from, On: false}, true
	case fc.ForwardOff != "" && to == fc.ForwardOff:
		return engine.CancelForward{DN: from}, true
	case fc.ForwardOn != "" && strings.HasPrefix(to, fc.ForwardOn) && len(to) > len(fc.ForwardOn):
		return engine.SetForward{DN: from, To: to[len(fc.ForwardOn):], Mode: engine.ForwardUnconditional}, true
	}
	return nil, false
}

// isFeature reports whether cmd is a feature code's command.
func isFeature(cmd engine.Command) bool {
	switch cmd.(type) {
	case engine.SetDND, engine.SetForward, engine.CancelForward:
		return true
	}
	return false
}

// feature runs the command cmd of caller leg l's feature-code INVITE and
// answers it: 200 then BYE, or the refusal.
func (s *Server) feature(l *leg, cmd engine.Command) {
	if _, err := l.t.do(cmd); err != nil {
		code, reason := statusOf(err)
		s.inviteFinal(l.uas.Load(), code, reason)
		return
	}
	s.cfg.Metrics.SIPResponse("INVITE", 200)
	uas := l.uas.Load()
	if err := uas.RespondSDP(placeholderSDP); err != nil {
		s.log.Debug("SIP feature code answer", "call_id", l.callID, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, sip.Timer_F)
	defer cancel()
	if req := byeRequest(l, reasonCleared); req != nil {
		uas.WriteBye(ctx, req)
	}
}

// featureNames are ParseFeatureCodes's names of the codes.
var featureNames = map[string]func(*FeatureCodes) *string{
	"dnd-on":      func(f *FeatureCodes) *string { return &f.DNDOn },
	"dnd-off":     func(f *FeatureCodes) *string { return &f.DNDOff },
	"forward":     func(f *FeatureCodes) *string { return &f.ForwardOn },
	"forward-off": func(f *FeatureCodes) *string { return &f.ForwardOff },
}

// ParseFeatureCodes reads feature codes written as comma-separated
// name=code pairs (names dnd-on, dnd-off, forward, forward-off; an empty
// code turns that feature off) over the defaults; "" is the defaults.
func ParseFeatureCodes(v string) (FeatureCodes, error) {
	var f FeatureCodes
	f.setDefaults()
	if strings.TrimSpace(v) == "" {
		return f, nil
	}
	for _, pair := range strings.Split(v, ",") {
		name, code, ok := strings.Cut(strings.TrimSpace(pair), "=")
		field := featureNames[name]
		switch {
		case !ok || field == nil:
			return f, fmt.Errorf("%q: want name=code, name one of dnd-on, dnd-off, forward, forward-off", pair)
		case strings.ContainsAny(code, " ;@<>\"\t"):
			return f, fmt.Errorf("%s: %q is not a number a phone can dial", name, code)
		}
		*field(&f) = code
	}
	codes := []string{f.DNDOn, f.DNDOff, f.ForwardOn, f.ForwardOff}
	for i, c := range codes {
		if c != "" && slices.Contains(codes[i+1:], c) {
			return f, fmt.Errorf("code %q used twice", c)
		}
	}
	if f == (FeatureCodes{}) {
		return f, fmt.Errorf("every feature code is off: leave one")
	}
	return f, nil
}

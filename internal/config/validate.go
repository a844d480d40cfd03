package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Error is one problem in a configuration: the file (empty for a File built
// in Go), the line (0 when unknown), the field path and what is wrong.
type Error struct {
	File string
	Line int
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else {
		b.WriteString("config: ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

var (
	reTenantID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	reNumber   = regexp.MustCompile(`^[A-Za-z0-9+*#][A-Za-z0-9_.+*#-]{0,63}$`)
	reAgentID  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$`)
	reExternal = regexp.MustCompile(`^\+?[0-9*#]{1,32}$`)
	reHHMM     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	reDigits   = regexp.MustCompile(`^(\+|\+?[0-9*#]{1,32})$`)
)

var weekdays = map[string]bool{"mon": true, "tue": true, "wed": true, "thu": true, "fri": true, "sat": true, "sun": true}

// Validate checks the whole configuration and returns every problem found
// (joined; each is an *Error), or nil.
func (f *File) Validate() error {
	v := &validator{f: f}
	v.file()
	if len(v.errs) == 0 {
		return nil
	}
	return errors.Join(v.errs...)
}

type validator struct {
	f    *File
	errs []error
	// hashOf: token hashes (of token-hashes and of plain tokens) by
	// tenant, tokens.go.
	hashOf map[string]tokenOrigin
}

func (v *validator) add(path, format string, args ...any) {
	e := &Error{File: v.f.name, Path: path, Msg: fmt.Sprintf(format, args...)}
	if v.f.lines != nil {
		// The line of the field itself, else of the nearest enclosing one.
		for p := path; p != ""; p = parent(p) {
			if l, ok := v.f.lines[p]; ok {
				e.Line = l
				break
			}
		}
	}
	v.errs = append(v.errs, e)
}

// parent strips the last element of a field path.
func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func (v *validator) file() {
	if len(v.f.Tenants) == 0 {
		v.add("tenants", "at least one tenant is required")
		return
	}
	tenantAt := map[string]int{}
	tokenOf := map[string]string{}
	for i := range v.f.Tenants {
		t := &v.f.Tenants[i]
		p := fmt.Sprintf("tenants[%d]", i)
		switch {
		case t.ID == "":
			v.add(p+".id", "missing tenant id")
		case !reTenantID.MatchString(t.ID):
			v.add(p+".id", "bad tenant id %q (want letters, digits, '_', '.', '-'; at most 64)", t.ID)
		default:
			if j, dup := tenantAt[t.ID]; dup {
				v.add(p+".id", "duplicate tenant id %q (also tenants[%d])", t.ID, j)
			} else {
				tenantAt[t.ID] = i
			}
		}
		if len(t.Tokens) == 0 && len(t.TokenHashes) == 0 {
			v.add(p+".tokens", "at least one API token is required (tokens or token-hashes)")
		}
		v.tokenHashes(p, t)
		for j, tok := range t.Tokens {
			tp := fmt.Sprintf("%s.tokens[%d]", p, j)
			switch {
			case tok == "":
				v.add(tp, "empty token")
			case strings.ContainsAny(tok, " \t\r\n"):
				v.add(tp, "token contains white space")
			default:
				if other, dup := tokenOf[tok]; dup {
					v.add(tp, "token already used by tenant %q (a token belongs to one tenant)", other)
				} else {
					tokenOf[tok] = t.ID
				}
			}
		}
		v.tenant(p, t)
	}
}

func (v *validator) duration(path string, d Duration) {
	switch {
	case d.bad != "":
		v.add(path, "bad duration %q (want a Go duration such as \"10s\" or \"1m30s\")", d.bad)
	case d.Duration < 0:
		v.add(path, "negative duration %s", d.Duration)
	}
}

func (v *validator) wrapUp(path string, w WrapUp) {
	switch {
	case w.bad != "":
		v.add(path, "bad wrap-up time %q (want a Go duration such as \"10s\", or \"untimed\")", w.bad)
	case w.Time < 0:
		v.add(path, "negative wrap-up time %s", w.Time)
	}
}

func (v *validator) rona(path, policy string) {
	if policy != "" && !slices.Contains(RONAPolicies, policy) {
		v.add(path, "unknown RONA policy %q (want %s)", policy, strings.Join(RONAPolicies, ", "))
	}
}

func (v *validator) skills(path string, s map[string]int) {
	names := make([]string, 0, len(s))
	for k := range s {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch {
		case k == "":
			v.add(path, "empty skill name")
		case s[k] < 0 || s[k] > 100:
			v.add(path+"."+k, "skill level %d out of range (want 0-100)", s[k])
		}
	}
}

func (v *validator) tenant(p string, t *Tenant) {
	v.duration(p+".defaults.no-answer-timeout", t.Defaults.NoAnswerTimeout)
	v.wrapUp(p+".defaults.wrap-up-time", t.Defaults.WrapUpTime)
	v.rona(p+".defaults.rona", t.Defaults.RONA)
	if t.Defaults.MaxContacts < 0 {
		v.add(p+".defaults.max-contacts", "negative max-contacts %d (0 is the default)", t.Defaults.MaxContacts)
	}
	v.media(p, t.Media)
	v.featureCodes(p, t.FeatureCodes)
	if _, err := t.Location(); err != nil {
		v.add(p+".time-zone", "unknown time zone %q", t.TimeZone)
	}

	dnAt := map[string]int{}
	for i := range t.DNs {
		d := &t.DNs[i]
		dp := fmt.Sprintf("%s.dns[%d]", p, i)
		switch {
		case d.Number == "":
			v.add(dp+".number", "missing DN number")
		case !reNumber.MatchString(d.Number):
			v.add(dp+".number", "bad DN number %q (want letters, digits, '+', '*', '#', '_', '.', '-'; at most 64)", d.Number)
		default:
			if j, dup := dnAt[d.Number]; dup {
				v.add(dp+".number", "duplicate DN %q (also dns[%d])", d.Number, j)
			} else {
				dnAt[d.Number] = i
			}
		}
	}
	lookup := func(n string) *DN {
		if i, ok := dnAt[n]; ok {
			return &t.DNs[i]
		}
		return nil
	}
	// dest checks a destination: a DN of the tenant other than self and not
	// a trunk, or (if external) an external number.
	dest := func(path, to, self string, external bool) {
		if to == "" {
			v.add(path, "missing destination")
			return
		}
		if to == self {
			v.add(path, "DN %q cannot be its own destination", to)
			return
		}
		d := lookup(to)
		switch {
		case d == nil && external && reExternal.MatchString(to):
		case d == nil && external:
			v.add(path, "unknown DN %q (and not an external number)", to)
		case d == nil:
			v.add(path, "unknown DN %q", to)
		case d.Type == Trunk:
			v.add(path, "DN %q is a trunk; give an external number instead", to)
		}
	}
	queue := func(path, q string) {
		d := lookup(q)
		switch {
		case q == "":
			v.add(path, "missing queue")
		case d == nil:
			v.add(path, "unknown DN %q", q)
		case d.Type != ACDQueue:
			v.add(path, "DN %q is %s, not an acd-queue", q, article(d.Type))
		}
	}

	for i := range t.DNs {
		d := &t.DNs[i]
		dp := fmt.Sprintf("%s.dns[%d]", p, i)
		if d.Type == "" {
			v.add(dp+".type", "missing DN type (want %s)", typeList())
			continue
		}
		if !d.Type.Valid() {
			v.add(dp+".type", "unknown DN type %q (want %s)", string(d.Type), typeList())
			continue
		}
		only := func(field string, set bool, want string) {
			if set {
				v.add(dp+"."+field, "only allowed on %s (this DN is %s)", want, article(d.Type))
			}
		}
		phone := d.Type.IsPhone()
		only("no-answer-timeout", !phone && d.NoAnswerTimeout != (Duration{}), "an extension or acd-position")
		only("sip-password", !phone && d.SIPPassword != "", "an extension or acd-position")
		only("max-contacts", !phone && d.MaxContacts != 0, "an extension or acd-position")
		if d.MaxContacts < 0 {
			v.add(dp+".max-contacts", "negative max-contacts %d (0 is the default)", d.MaxContacts)
		}
		only("forward", !phone && d.Forward != nil, "an extension or acd-position")
		only("bridged", !phone && len(d.Bridged) > 0, "an extension or acd-position")
		only("call-waiting", !phone && d.CallWaiting, "an extension or acd-position")
		only("queue", d.Type != ACDQueue && d.Queue != nil, "an acd-queue")
		only("routing", d.Type != RoutingPoint && d.Routing != nil, "a routing-point")
		only("trunk", d.Type != Trunk && d.Trunk != nil, "a trunk")

		v.duration(dp+".no-answer-timeout", d.NoAnswerTimeout)
		if fw := d.Forward; fw != nil && phone {
			dest(dp+".forward.to", fw.To, d.Number, true)
			if fw.Mode != "" && !validForwardMode(fw.Mode) {
				v.add(dp+".forward.mode", "unknown forward mode %q (want %s)", fw.Mode, strings.Join(ForwardModes, ", "))
			}
		}
		if phone {
			seen := map[string]bool{}
			for j, b := range d.Bridged {
				bp := fmt.Sprintf("%s.bridged[%d]", dp, j)
				bd := lookup(b)
				switch {
				case b == d.Number:
					v.add(bp, "DN %q cannot bridge its own line", b)
				case bd == nil:
					v.add(bp, "unknown DN %q", b)
				case !bd.Type.IsPhone():
					v.add(bp, "DN %q is %s; only extensions and acd-positions have bridged appearances", b, article(bd.Type))
				case seen[b]:
					v.add(bp, "DN %q listed twice", b)
				}
				seen[b] = true
			}
		}
		if q := d.Queue; q != nil && d.Type == ACDQueue {
			qp := dp + ".queue"
			v.wrapUp(qp+".wrap-up-time", q.WrapUpTime)
			v.duration(qp+".no-answer-timeout", q.NoAnswerTimeout)
			v.rona(qp+".rona", q.RONA)
			v.duration(qp+".service-level", q.ServiceLevel)
			if q.MaxSize < 0 {
				v.add(qp+".max-size", "negative queue size %d (0 is unlimited)", q.MaxSize)
			}
			if o := q.Overflow; o != nil {
				v.duration(qp+".overflow.after", o.After)
				if o.After.bad == "" && o.After.Duration <= 0 {
					v.add(qp+".overflow.after", "overflow needs a wait time above 0")
				}
				dest(qp+".overflow.to", o.To, d.Number, false)
			}
			v.skills(qp+".skills", q.Skills)
			for j, tr := range q.Treatments {
				v.queueTreatment(fmt.Sprintf("%s.treatments[%d]", qp, j), tr)
			}
		}
		if r := d.Routing; r != nil && d.Type == RoutingPoint {
			rp := dp + ".routing"
			v.duration(rp+".service-level", r.ServiceLevel)
			v.duration(rp+".route-timeout", r.RouteTimeout)
			v.duration(rp+".treatment-after", r.TreatmentAfter)
			if r.DefaultDestination != "" {
				dest(rp+".default-destination", r.DefaultDestination, d.Number, true)
			} else if r.RouteTimeout.Duration > 0 {
				v.add(rp+".default-destination", "a route-timeout needs a default-destination")
			}
			if s := r.Strategy; s != nil {
				v.strategy(rp+".strategy", s, d.Number, dest, queue)
			}
		}
		if tr := d.Trunk; tr != nil && d.Type == Trunk {
			for j, px := range tr.Prefixes {
				if !reDigits.MatchString(px) {
					v.add(fmt.Sprintf("%s.trunk.prefixes[%d]", dp, j), "bad prefix %q (want digits, optionally after '+')", px)
				}
			}
			v.trunk(dp+".trunk", tr)
		}
	}

	agentAt := map[string]string{}
	agent := func(ap string, a *Agent) {
		switch {
		case a.ID == "":
			v.add(ap+".id", "missing agent id")
		case !reAgentID.MatchString(a.ID):
			v.add(ap+".id", "bad agent id %q (want letters, digits, '_', '.', '@', '-'; at most 64)", a.ID)
		case agentAt[a.ID] != "":
			v.add(ap+".id", "duplicate agent id %q (also %s)", a.ID, agentAt[a.ID])
		case lookup(a.ID) != nil:
			// Agent-state record keys are tenant:agent or tenant:DN; the
			// two must never collide.
			v.add(ap+".id", "agent id %q is also a DN number (their record keys would collide)", a.ID)
		default:
			agentAt[a.ID] = ap
		}
		v.skills(ap+".skills", a.Skills)
		v.wrapUp(ap+".wrap-up-time", a.WrapUpTime)
		v.duration(ap+".no-answer-timeout", a.NoAnswerTimeout)
		v.rona(ap+".rona", a.RONA)
	}
	for i := range t.Agents {
		agent(fmt.Sprintf("%s.agents[%d]", p, i), &t.Agents[i])
	}
	for i := range t.Supervisors {
		agent(fmt.Sprintf("%s.supervisors[%d]", p, i), &t.Supervisors[i].Agent)
	}
}

func (v *validator) strategy(sp string, s *Strategy, self string, dest func(path, to, self string, external bool), queue func(path, q string)) {
	switch s.Type {
	case StrategyQueue:
		queue(sp+".queue", s.Queue)
	case StrategySkill:
		if s.Skill == "" {
			v.add(sp+".skill", "missing skill")
		}
		if s.Queue != "" {
			queue(sp+".queue", s.Queue)
		}
		if s.MinLevel < 0 || s.MinLevel > 100 {
			v.add(sp+".min-level", "skill level %d out of range (want 0-100)", s.MinLevel)
		}
		if s.Fallback != "" {
			dest(sp+".fallback", s.Fallback, self, true)
		}
	case StrategyTimeOfDay:
		if s.TimeZone != "" {
			if _, err := time.LoadLocation(s.TimeZone); err != nil {
				v.add(sp+".time-zone", "unknown time zone %q", s.TimeZone)
			}
		}
		if len(s.Rules) == 0 {
			v.add(sp+".rules", "a time-of-day strategy needs at least one rule")
		}
		for j, r := range s.Rules {
			rp := fmt.Sprintf("%s.rules[%d]", sp, j)
			for k, d := range r.Days {
				if !weekdays[d] {
					v.add(fmt.Sprintf("%s.days[%d]", rp, k), "unknown day %q (want mon, tue, wed, thu, fri, sat, sun)", d)
				}
			}
			okFrom, okTo := reHHMM.MatchString(r.From), reHHMM.MatchString(r.To)
			if !okFrom {
				v.add(rp+".from", "bad time %q (want HH:MM)", r.From)
			}
			if !okTo {
				v.add(rp+".to", "bad time %q (want HH:MM)", r.To)
			}
			if okFrom && okTo && r.From >= r.To {
				v.add(rp+".to", "%s is not after from %s", r.To, r.From)
			}
			dest(rp+".destination", r.Destination, self, true)
		}
		dest(sp+".fallback", s.Fallback, self, true)
	case "":
		v.add(sp+".type", "missing strategy type (want %s)", strings.Join(StrategyTypes, ", "))
	default:
		v.add(sp+".type", "unknown strategy type %q (want %s)", s.Type, strings.Join(StrategyTypes, ", "))
	}
}

func (v *validator) queueTreatment(tp string, tr QueueTreatment) {
	ok := false
	for _, t := range QueueTreatmentTypes {
		ok = ok || t == tr.Type
	}
	if !ok {
		v.add(tp+".type", "unknown queue treatment type %q (want %s)", tr.Type, strings.Join(QueueTreatmentTypes, ", "))
	}
	v.duration(tp+".after", tr.After)
	v.duration(tp+".every", tr.Every)
	if tr.Every.Duration > 0 && tr.Every.Duration < time.Second {
		v.add(tp+".every", "period %s is under 1s", tr.Every.Duration)
	}
	keys := make([]string, 0, len(tr.Parms))
	for k := range tr.Parms {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" {
			v.add(tp+".parms", "empty parameter name")
		}
	}
	d, has := tr.Parms["DURATION"]
	switch {
	case has:
		if n, err := strconv.Atoi(d); err != nil || n <= 0 {
			v.add(tp+".parms.DURATION", "bad DURATION %q (want whole seconds above 0)", d)
		}
	case tr.Type == "PlayAnnouncement":
		v.add(tp+".parms", "PlayAnnouncement needs parms.DURATION (whole seconds)")
	}
}

func validForwardMode(m string) bool {
	for _, v := range ForwardModes {
		if m == v {
			return true
		}
	}
	return false
}

func typeList() string {
	s := make([]string, len(DNTypes))
	for i, t := range DNTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// article returns the DN type with its indefinite article.
func article(t DNType) string {
	if t == Extension || t == ACDPosition || t == ACDQueue {
		return "an " + string(t)
	}
	return "a " + string(t)
}

// trunk checks a trunk's SIP settings: its inbound mode, carrier account
// and keepalive.
func (v *validator) trunk(p string, tr *TrunkSettings) {
	if tr.Inbound != "" && !slices.Contains(TrunkInbound, tr.Inbound) {
		v.add(p+".inbound", "unknown inbound mode %q (want %s)", tr.Inbound, strings.Join(TrunkInbound, ", "))
	}
	if m := tr.InboundMode(); m != "address" && tr.SIPPassword == "" {
		v.add(p+".inbound", "inbound %q needs a sip-password", m)
	}
	if m := tr.InboundMode(); m != "credentials" && tr.Address == "" && tr.Inbound != "" {
		v.add(p+".inbound", "inbound %q needs an address", m)
	}
	v.duration(p+".keepalive", tr.Keepalive.Duration)
	a := tr.Account
	if a == nil {
		return
	}
	ap := p + ".account"
	if a.User == "" {
		v.add(ap+".user", "missing user")
	}
	if a.Password != "" && a.PasswordEnv != "" {
		v.add(ap+".password-env", "give password or password-env, not both")
	}
	if a.Password == "" && a.PasswordEnv == "" {
		v.add(ap+".password", "missing password (or password-env)")
	}
	if a.Register && tr.Address == "" {
		v.add(ap+".register", "registering needs the trunk's address")
	}
	v.duration(ap+".expires", a.Expires)
	if a.Expires.Duration > 0 && a.Expires.Duration < 10*time.Second {
		v.add(ap+".expires", "registration expiry %s too short (want at least 10s)", a.Expires.Duration)
	}
}

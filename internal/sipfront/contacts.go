package sipfront

import (
	"slices"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// Several devices per DN (a desk phone and a softphone): a DN holds up to
// maxContacts bindings, one per Contact URI (the URI as the phone sends
// it: a REGISTER with the same Contact refreshes its binding) and device
// (deviceOf: a device registering a new Contact replaces its binding). A new
// contact beyond the maximum ends the binding that expires first. The DN
// is in service while it has at least one binding: the first puts it in
// service (EventDNBackInService), the end of the last takes it out
// (EventDNOutOfService). A call to the DN rings every contact at once
// (fork.go).

// DefaultMaxContacts is the most contacts a DN may register when neither
// the DN nor the tenant's defaults set max-contacts.
const DefaultMaxContacts = 5

// maxContacts is the most bindings DN dn may have.
func (t *sipTenant) maxContacts(dn string) int {
	if d := t.dns[dn]; d != nil && d.MaxContacts > 0 {
		return d.MaxContacts
	}
	if n := t.cfg.Defaults.MaxContacts; n > 0 {
		return n
	}
	return DefaultMaxContacts
}

// register adds or refreshes dn's binding of contact. The DN's first
// binding puts it in service (EventDNBackInService).
func (t *sipTenant) register(dn string, contact sip.Uri, source string, expires time.Duration) {
	t.registerDevice(dn, contact, source, "", expires)
}

// deviceOf names the device a REGISTER comes from: its Contact's
// +sip.instance (RFC 5626), else its Call-ID (a UA keeps one Call-ID for
// its registrations, RFC 3261 section 10.2). A device that registers a new
// contact (its NAT gave it another port) replaces its binding instead of
// adding one.
func deviceOf(req *sip.Request, contact *sip.ContactHeader) string {
	if v, ok := contact.Params.Get("+sip.instance"); ok && v != "" {
		return "instance " + v
	}
	if req.CallID() != nil {
		return "call-id " + req.CallID().Value()
	}
	return ""
}

// registerDevice is register for a device (deviceOf; "": unknown): the
// binding of the same contact, else of the same device, is refreshed.
func (t *sipTenant) registerDevice(dn string, contact sip.Uri, source, device string, expires time.Duration) {
	key := contact.String()
	t.mu.Lock()
	bs := t.bindings[dn]
	first := len(bs) == 0
	i := slices.IndexFunc(bs, func(b *binding) bool { return b.contact.String() == key })
	if i < 0 && device != "" {
		i = slices.IndexFunc(bs, func(b *binding) bool { return b.device == device })
	}
	var b, dropped *binding
	if i >= 0 {
		b = bs[i]
		b.timer.Stop()
		if old := b.contact.String(); old != key {
			dropped = &binding{contact: b.contact} // its record on disk goes
		}
	} else {
		if len(bs) >= t.maxContacts(dn) {
			// Full: the binding that would end first makes room.
			j := 0
			for k, x := range bs {
				if x.expires.Before(bs[j].expires) {
					j = k
				}
			}
			dropped = bs[j]
			dropped.timer.Stop()
			bs = slices.Delete(bs, j, j+1)
		}
		b = &binding{}
		bs = append(bs, b)
		t.bindings[dn] = bs
	}
	t.gen++
	gen := t.gen
	b.contact, b.source, b.expires, b.gen, b.device = contact, source, time.Now().Add(expires), gen, device
	b.timer = time.AfterFunc(expires, func() { t.unregister(dn, gen) })
	var ws []chan error
	if t.s.store != nil {
		if dropped != nil {
			ws = append(ws, t.s.store.del(t.id, dn, dropped.contact.String()))
		}
		ws = append(ws, t.s.store.set(storedBinding{Tenant: t.id, DN: dn, Contact: key, Source: source, Expires: b.expires, Device: device,
			Path: t.s.pathFor(key)}))
	}
	t.mu.Unlock()
	if dropped != nil {
		t.s.forgetFlow(dropped.contact) // transport.go
	}
	// Saved before the DN goes in service: a restart in between finds the
	// binding and puts the DN in service then (restore).
	for _, w := range ws {
		saved(w)
	}
	if first {
		if _, err := t.do(engine.SetService{DN: dn, InService: true}); err != nil {
			t.s.log.Warn("SIP registration: DN not put in service", "tenant", t.id, "dn", dn, "err", err)
		}
	}
}

// unregister ends every binding of dn (gen 0), or only the binding of
// generation gen.
func (t *sipTenant) unregister(dn string, gen uint64) {
	t.unbind(dn, func(b *binding) bool { return gen == 0 || b.gen == gen })
}

// unregisterContact ends dn's binding of contact (its URI as registered).
func (t *sipTenant) unregisterContact(dn, contact string) {
	t.unbind(dn, func(b *binding) bool { return b.contact.String() == contact })
}

// unbind ends dn's bindings that match. When none is left, the DN goes out
// of service (EventDNOutOfService) until it registers again.
func (t *sipTenant) unbind(dn string, match func(*binding) bool) {
	t.mu.Lock()
	bs := t.bindings[dn]
	if len(bs) == 0 || t.closed {
		t.mu.Unlock()
		return
	}
	var gone []*binding
	var kept []*binding
	for _, b := range bs {
		if match(b) {
			b.timer.Stop()
			gone = append(gone, b)
		} else {
			kept = append(kept, b)
		}
	}
	if len(gone) == 0 {
		t.mu.Unlock()
		return
	}
	for _, b := range gone {
		t.s.forgetFlow(b.contact) // transport.go
	}
	if len(kept) > 0 {
		// Other devices stay: the DN stays in service.
		t.bindings[dn] = kept
		var ws []chan error
		if t.s.store != nil {
			for _, b := range gone {
				ws = append(ws, t.s.store.del(t.id, dn, b.contact.String()))
			}
		}
		t.mu.Unlock()
		for _, w := range ws {
			saved(w)
		}
		return
	}
	delete(t.bindings, dn)
	t.mu.Unlock()
	if _, err := t.do(engine.SetService{DN: dn, InService: false}); err != nil {
		t.s.log.Warn("SIP registration ended: DN not taken out of service", "tenant", t.id, "dn", dn, "err", err)
	}
	// Saved after the DN is out of service: a restart in between finds
	// the binding and ends it then (restore), never a DN in service
	// without one. Not when the DN registered again meanwhile (its new
	// binding is logged after this end would be).
	var w chan error
	t.mu.Lock()
	if _, again := t.bindings[dn]; !again && t.s.store != nil && !t.closed {
		w = t.s.store.del(t.id, dn, "")
	}
	t.mu.Unlock()
	saved(w)
}

// contactsOf returns dn's registered contacts, oldest first.
func (t *sipTenant) contactsOf(dn string) []sip.Uri {
	bs := t.bindings[dn]
	if len(bs) == 0 {
		return nil
	}
	out := make([]sip.Uri, len(bs))
	for i, b := range bs {
		out[i] = b.contact
	}
	return out
}

// contactHeaders are the Contact headers of a REGISTER's 200: every
// binding of dn with the seconds it has left (RFC 3261 section 10.3).
func (t *sipTenant) contactHeaders(dn string) []sip.Header {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []sip.Header
	for _, b := range t.bindings[dn] {
		c := &sip.ContactHeader{Address: b.contact}
		left := int(time.Until(b.expires) / time.Second)
		c.Params.Add("expires", strconv.Itoa(max(left, 0)))
		out = append(out, c)
	}
	return out
}

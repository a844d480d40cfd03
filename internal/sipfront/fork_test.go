package sipfront

import (
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// TestForkFirstAnswerWins: 1002 has two devices registered (two sipp UAS
// on two ports); 1001 calls it. Both ring; the first answers, the other
// gets CANCEL with Reason: SIP;cause=200;text="Call completed elsewhere"
// (its scenario fails without that header) and answers 487. The engine
// sees one ringing party and one answer: the events are flow 5.1, with one
// EventDNBackInService for 1002 (its first device). Over each transport
// (overTransports).
func TestForkFirstAnswerWins(t *testing.T) {
	overTransports(t, nil, nil, func(t *testing.T, p *phones) {
		pa, pb, pc := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
		p.register("1002", pb)
		p.register("1002", pc)
		p.registerCaller("1001", pa)
		p.f.forkCallOver(p, pa, pb, pc, "uas_fork_lose.xml")
	})
}

// TestForkLateAnswer: the second device's 200 crosses our CANCEL (it
// answers the CANCEL, then sends its 200 to the INVITE): switchboard ACKs
// that 200 and BYEs the dialog (the scenario waits for both), and the
// engine still sees one answer.
func TestForkLateAnswer(t *testing.T) { forkedCall(t, "uas_fork_late.xml") }

// forkedCall: 1002 registers two devices, 1001 registers; then
// forkCall.
func forkedCall(t *testing.T, second string) {
	f := newFixture(t, nil)
	pa, pb, pc := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1002", pc, 3600)
	f.register("1001", pa, 3600)
	f.forkCall(pa, pb, pc, second)
}

// forkCall: 1001 (at port pa) calls 1002, whose first device (pb) answers
// at once (uas.xml) and whose second (pc) runs scenario second; the events
// are flow 5.1 after the registrations (one EventDNBackInService each for
// 1002 and 1001), and nothing is left over.
func (f *fixture) forkCall(pa, pb, pc int, second string) {
	f.t.Helper()
	f.forkCallOver(&phones{f: f, caller: f.sip.Addr()}, pa, pb, pc, second)
}

// forkCallOver is forkCall with the phones of p.
func (f *fixture) forkCallOver(p *phones, pa, pb, pc int, second string) {
	t := f.t
	t.Helper()
	desk := p.callee("uas.xml", pb)
	soft := p.callee(second, pc)
	p.call("uac.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	desk.wait(t)
	soft.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestMaxContacts: 1003 may register two devices (max-contacts 2); a
// third ends the binding that expires first. The DN goes in service with
// its first device and out of service with its last; un-registering one
// device (Expires 0 for its contact) leaves the others; a device that
// registers a new contact (same Call-ID) moves its binding.
func TestMaxContacts(t *testing.T) {
	f := newFixtureTenant(t, nil, func(tc *config.Tenant) {
		for i := range tc.DNs {
			if tc.DNs[i].Number == "1003" {
				tc.DNs[i].MaxContacts = 2
			}
		}
	})
	tn := f.sip.single
	uri := func(host string) sip.Uri {
		var u sip.Uri
		if err := sip.ParseUri("sip:1003@"+host, &u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	contacts := func() []string {
		tn.mu.Lock()
		defer tn.mu.Unlock()
		var out []string
		for _, u := range tn.contactsOf("1003") {
			out = append(out, u.Host)
		}
		return out
	}
	tn.register("1003", uri("a"), "a:5060", time.Hour)
	tn.register("1003", uri("b"), "b:5060", 2*time.Hour)
	tn.register("1003", uri("a"), "a:5060", 3*time.Hour) // a refresh
	tn.register("1003", uri("c"), "c:5060", time.Hour)   // b expires first: it goes
	if got := contacts(); len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Fatalf("contacts %v, want [a c]", got)
	}
	a := uri("a")
	tn.unregisterContact("1003", a.String())
	if got := contacts(); len(got) != 1 || got[0] != "c" {
		t.Fatalf("contacts %v, want [c]", got)
	}
	// The device of c registers from another port (its Call-ID is the
	// same): its binding moves, none is added.
	tn.registerDevice("1003", uri("c"), "c:5060", "call-id c1", time.Hour)
	tn.registerDevice("1003", uri("c:5070"), "c:5070", "call-id c1", time.Hour)
	if got := contacts(); len(got) != 1 || got[0] != "c" {
		t.Fatalf("contacts %v, want [c]", got)
	}
	tn.mu.Lock()
	port := tn.bindings["1003"][0].contact.Port
	tn.mu.Unlock()
	if port != 5070 {
		t.Fatalf("the device's binding is at port %d, want 5070", port)
	}
	c := uri("c:5070")
	tn.unregisterContact("1003", c.String())
	want := expected(t, f.tenant,
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1003", InService: false},
	)
	sameFlow(t, f.events(len(want)), want)
}

// TestDevicesSurviveRestart: 1002's two devices are both in the bindings
// files and both come back after a restart (a call rings both: the first
// answers, the second is cancelled as completed elsewhere); one device
// un-registering removes only its binding from disk.
func TestDevicesSurviveRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sip")
	f := newFixture(t, withState(dir))
	pa, pb, pc := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1002", pc, 3600)
	f.register("1001", pa, 3600)
	if st := readBindings(t, dir); len(st.Bindings) != 3 {
		t.Fatalf("bindings on disk: %+v, want 3", st.Bindings)
	}
	f.restartSIP(dir)
	f.forkCall(pa, pb, pc, "uas_fork_lose.xml")

	f.register("1002", pc, 0) // the softphone un-registers
	var dns []string
	for _, b := range readBindings(t, dir).Bindings {
		dns = append(dns, b.DN+"@"+strconv.Itoa(portOf(t, b.Contact)))
	}
	if len(dns) != 2 || !slices.Contains(dns, "1002@"+strconv.Itoa(pb)) || !slices.Contains(dns, "1001@"+strconv.Itoa(pa)) {
		t.Fatalf("bindings on disk %v, want 1001's and 1002's desk phone", dns)
	}
	if evs := f.sink.take(); len(evs) != 0 {
		t.Fatalf("events %s: one device of two leaving changes no service state", format(evs))
	}
}

func portOf(t *testing.T, contact string) int {
	var u sip.Uri
	if err := sip.ParseUri(contact, &u); err != nil {
		t.Fatal(err)
	}
	return u.Port
}

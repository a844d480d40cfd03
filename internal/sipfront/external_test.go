package sipfront

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// EVENTS.md 5.15 through the SIP front end: a transfer, conference,
// redirect or forwarding to an external number becomes an outbound INVITE
// on the trunk (a sipp at the trunk's address plays the carrier), like a
// call dialled to an external number. Each test's events also pass the
// independent check-events.

// TestExternalBlindTransfer: A calls B; B answers and REFERs A to an
// external number: B gets the BYE, the carrier gets an INVITE (with A's
// number as the caller) and answers; A hangs up and the carrier gets the
// BYE.
func TestExternalBlindTransfer(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	trunkPort := f.trunkPort()
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	carrier := f.startSipp("uas.xml", trunkPort)
	b := f.startSipp("uas_refer.xml", pb, "-key", "target", "+33140000001", "-key", "service", "1002")
	f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002", "-d", "1500").wait(t)
	b.wait(t)
	carrier.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.SingleStepTransfer{ConnID: "$1", DN: "1002", To: "+33140000001"},
		engine.NetworkAnswer{ConnID: "$1", Party: "+33140000001"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	f.sameCheckedFlow(want)
	f.noLeftovers()
}

// TestExternalAttendedTransfer: A calls B; B's phone holds A and, from a
// second dialog, dials an external number (a consultation through the
// trunk: InitiateTransfer, NetworkReached, an INVITE to the carrier, which
// answers); B REFERs A to it with Replaces of the consultation dialog
// (CompleteTransfer): B gets BYEs on both dialogs while the carrier's leg
// stays, now on A's call; A hangs up and the carrier gets the BYE.
func TestExternalAttendedTransfer(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb, pb2 := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	trunkPort := f.trunkPort()
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	// Once the transfer completes, A and the carrier are re-INVITEd with
	// each other's SDP (the carrier was given B's consultation SDP).
	ma, mc := freeUDPPort(t), freeUDPPort(t)
	carrier := f.startSipp(repointed(t, "uas_repointed.xml", ma), trunkPort, "-mp", strconv.Itoa(mc))
	b := f.startSipp("uas_attended.xml", pb, "-key", "target", "+33140000002", "-key", "service", "1002", "-key", "consult", "consult-1")
	a := f.startSipp(repointed(t, "uac_repointed.xml", mc), pa, "-key", "user", "1001", "-s", "1002", "-d", "3000", "-mp", strconv.Itoa(ma))
	conn := f.waitEstablished()
	f.waitHeld(conn, "1002")
	consult := f.startSipp("uac_consult.xml", pb2, "-key", "user", "1002", "-s", "+33140000002", "-au", "1002", "-ap", testPassword,
		"-cid_str", "consult-%u")
	// Once the transfer is complete (A and the external party on A's
	// call), the carrier's leg is still up, now on A's call.
	// (sipfront sees the transfer's events shortly after the engine
	// made them; A hangs up about a second later.)
	f.waitParties(conn, "1001", "+33140000002")
	up := false
	for deadline := time.Now().Add(800 * time.Millisecond); !up && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		up = f.trunkLegUp(conn, "+33140000002")
	}
	if !up {
		t.Error("the carrier's leg did not move to the transferred call")
	}
	b.wait(t)
	consult.wait(t)
	a.wait(t)
	carrier.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Hold{ConnID: "$1", DN: "1002"},
		engine.InitiateTransfer{ConnID: "$1", DN: "1002", To: "+33140000002"},
		engine.NetworkAnswer{ConnID: "$2", Party: "+33140000002"},
		engine.CompleteTransfer{ConnID: "$1", DN: "1002", ConsultConnID: "$2"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	f.sameCheckedFlow(want)
	f.noLeftovers()
}

// TestExternalConference: on a SIP call between A and B, B conferences an
// external number in one step (through the API): the carrier gets an
// INVITE and answers; B hangs up (the conference goes on between A and
// the carrier), then A: the carrier gets the BYE.
func TestExternalConference(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	trunkPort := f.trunkPort()
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	// Once B has left, A is re-INVITEd with the carrier's SDP (the
	// carrier was offered A's SDP, so it keeps it).
	ma, mc := freeUDPPort(t), freeUDPPort(t)
	carrier := f.startSipp("uas.xml", trunkPort, "-mp", strconv.Itoa(mc))
	b := f.startSipp("uas_bye.xml", pb, "-d", "1500")
	a := f.startSipp(repointed(t, "uac_repointed.xml", mc), pa, "-key", "user", "1001", "-s", "1002", "-d", "3000", "-mp", strconv.Itoa(ma))
	conn := f.waitEstablished()
	if _, err := f.rt.Do(context.Background(), engine.SingleStepConference{ConnID: conn, DN: "1002", To: "+33140000004"}); err != nil {
		t.Fatal(err)
	}
	b.wait(t)
	a.wait(t)
	carrier.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.SingleStepConference{ConnID: "$1", DN: "1002", To: "+33140000004"},
		engine.NetworkAnswer{ConnID: "$1", Party: "+33140000004"},
		engine.Release{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	f.sameCheckedFlow(want)
	f.noLeftovers()
}

// TestTrunkCallTransferredOut: a carrier call to B is transferred by B
// (REFER) to a number of a second trunk: after B's Released the call is
// between two trunks and has no events; when the first carrier hangs up,
// sipfront ends the second carrier's leg itself (BYE).
func TestTrunkCallTransferredOut(t *testing.T) {
	trunk2 := "127.0.0.1:" + strconv.Itoa(freeUDPPort(t))
	f := newFixtureTenant(t, nil, func(tn *config.Tenant) {
		tn.DNs = append(tn.DNs, config.DN{Number: "pstn2", Type: config.Trunk,
			Trunk: &config.TrunkSettings{Address: trunk2, Prefixes: []string{"9"}, Keepalive: config.Keepalive{Off: true}}})
	})
	pb := freeUDPPort(t)
	trunkPort := f.trunkPort()
	_, tp2, _ := net.SplitHostPort(trunk2)
	trunkPort2, _ := strconv.Atoi(tp2)
	f.register("1002", pb, 3600)
	carrier2 := f.startSipp("uas.xml", trunkPort2)
	b := f.startSipp("uas_refer.xml", pb, "-key", "target", "9123", "-key", "service", "1002")
	f.startSipp("trunk_uac.xml", trunkPort, "-key", "user", "+33140000003", "-s", "1002", "-d", "1500").wait(t)
	b.wait(t)
	carrier2.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.NetworkCall{Trunk: "pstn", ANI: "+33140000003", DNIS: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.SingleStepTransfer{ConnID: "$1", DN: "1002", To: "9123"},
		engine.NetworkAnswer{ConnID: "$1", Party: "9123"},
		engine.NetworkRelease{ConnID: "$1", Party: "+33140000003"},
	)
	f.sameCheckedFlow(want)
	f.rt.Query(context.Background(), func(m tenant.Machine) {
		if n := len(m.(*engine.Engine).Calls()); n != 0 {
			t.Errorf("%d calls left in the engine", n)
		}
	})
	f.noLeftovers()
}

// TestInboundForwardedOut: 1005 forwards unconditionally to a number of a
// second trunk; a carrier call to 1005 goes straight out (no DN is on it,
// no event): the second carrier gets the INVITE and answers, the first
// gets its 200; when the first hangs up, the second gets the BYE.
func TestInboundForwardedOut(t *testing.T) {
	trunk2 := "127.0.0.1:" + strconv.Itoa(freeUDPPort(t))
	f := newFixtureTenant(t, nil, func(tn *config.Tenant) {
		tn.DNs = append(tn.DNs, config.DN{Number: "pstn2", Type: config.Trunk,
			Trunk: &config.TrunkSettings{Address: trunk2, Prefixes: []string{"9"}, Keepalive: config.Keepalive{Off: true}}})
	})
	trunkPort := f.trunkPort()
	_, tp2, _ := net.SplitHostPort(trunk2)
	trunkPort2, _ := strconv.Atoi(tp2)
	if _, err := f.rt.Do(context.Background(), engine.SetForward{DN: "1005", To: "9124"}); err != nil {
		t.Fatal(err)
	}
	carrier2 := f.startSipp("uas.xml", trunkPort2)
	f.startSipp("trunk_uac.xml", trunkPort, "-key", "user", "+33140000005", "-s", "1005", "-d", "1000").wait(t)
	carrier2.wait(t)
	want := expected(t, f.tenant,
		engine.SetForward{DN: "1005", To: "9124"},
		engine.NetworkCall{Trunk: "pstn", ANI: "+33140000005", DNIS: "1005"},
		engine.NetworkAnswer{ConnID: "$1", Party: "9124"},
		engine.NetworkRelease{ConnID: "$1", Party: "+33140000005"},
	)
	f.sameCheckedFlow(want)
	f.rt.Query(context.Background(), func(m tenant.Machine) {
		if n := len(m.(*engine.Engine).Calls()); n != 0 {
			t.Errorf("%d calls left in the engine", n)
		}
	})
	f.noLeftovers()
}

// TestExternalRedirect: A calls B, whose phone rings; B's call is
// redirected (through the API) to an external number: B's phone gets
// CANCEL, the carrier gets an INVITE and answers, A gets the 200; A hangs
// up and the carrier gets the BYE.
func TestExternalRedirect(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	trunkPort := f.trunkPort()
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	carrier := f.startSipp("uas.xml", trunkPort)
	b := f.startSipp("uas_ring.xml", pb)
	a := f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002", "-d", "1000")
	conn := f.waitRinging("1002")
	if _, err := f.rt.Do(context.Background(), engine.Redirect{ConnID: conn, DN: "1002", To: "+33140000006"}); err != nil {
		t.Fatal(err)
	}
	b.wait(t)
	a.wait(t)
	carrier.wait(t)
	f.sameCheckedFlow(expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Redirect{ConnID: "$1", DN: "1002", To: "+33140000006"},
		engine.NetworkAnswer{ConnID: "$1", Party: "+33140000006"},
		engine.Release{ConnID: "$1", DN: "1001"},
	))
	f.noLeftovers()
}

// TestInternalForwardedOut: 1005 forwards unconditionally to an external
// number; A's call to 1005 goes out through the trunk (NetworkReached for
// A): the carrier gets the INVITE and answers, A gets the 200; A hangs up
// and the carrier gets the BYE.
func TestInternalForwardedOut(t *testing.T) {
	f := newFixture(t, nil)
	pa := freeUDPPort(t)
	trunkPort := f.trunkPort()
	f.register("1001", pa, 3600)
	fwd := engine.SetForward{DN: "1005", To: "+33140000007"}
	if _, err := f.rt.Do(context.Background(), fwd); err != nil {
		t.Fatal(err)
	}
	carrier := f.startSipp("uas.xml", trunkPort)
	f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1005", "-d", "1000").wait(t)
	carrier.wait(t)
	f.sameCheckedFlow(expected(t, f.tenant,
		engine.SetService{DN: "1001", InService: true},
		fwd,
		engine.MakeCall{From: "1001", To: "1005"},
		engine.NetworkAnswer{ConnID: "$1", Party: "+33140000007"},
		engine.Release{ConnID: "$1", DN: "1001"},
	))
	f.noLeftovers()
}

// sameCheckedFlow takes the fixture's events (as many as want), compares
// them with want and passes them, as the records serve would publish,
// through the independent ../shared/tools/check-events.
func (f *fixture) sameCheckedFlow(want []event.Event) {
	f.t.Helper()
	got := f.events(len(want))
	sameFlow(f.t, got, want)
	kafkatest.CheckEvents(f.t, kafkatest.EventRecords(got))
}

// waitRinging waits until dn's phone rings on a call and returns its
// ConnID.
func (f *fixture) waitRinging(dn string) string {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var conn string
		f.rt.Query(context.Background(), func(m tenant.Machine) {
			for _, c := range m.(*engine.Engine).Calls() {
				for _, p := range c.Parties {
					if p.DN == dn && p.State == "Ringing" {
						conn = c.ConnID
					}
				}
			}
		})
		if conn != "" {
			return conn
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("%s never rang", dn)
	return ""
}

// waitParties waits until call conn has exactly the parties names.
func (f *fixture) waitParties(conn string, names ...string) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for done := false; !done; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			f.t.Fatalf("call %s never had exactly %v", conn, names)
		}
		f.rt.Query(context.Background(), func(m tenant.Machine) {
			v, err := m.(*engine.Engine).Call(conn)
			if err != nil || len(v.Parties) != len(names) {
				return
			}
			for i, p := range v.Parties {
				if p.DN != names[i] {
					return
				}
			}
			done = true
		})
	}
}

// trunkLegUp reports whether sipfront has a live trunk leg to number on
// call conn.
func (f *fixture) trunkLegUp(conn, number string) bool {
	t := f.sip.single
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.calls[conn]; c != nil {
		for _, l := range c.legs {
			if l.trunk != "" && l.dn == number && !l.over() {
				return true
			}
		}
	}
	return false
}

// waitHeld waits until dn holds call conn.
func (f *fixture) waitHeld(conn, dn string) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for held := false; !held; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			f.t.Fatalf("%s did not hold %s", dn, conn)
		}
		f.rt.Query(context.Background(), func(m tenant.Machine) {
			if v, err := m.(*engine.Engine).Call(conn); err == nil {
				for _, p := range v.Parties {
					held = held || (p.DN == dn && p.State == "Held")
				}
			}
		})
	}
}

package sipfront

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

func testLogger(t testing.TB) *slog.Logger { return kafkatest.Logger(t, slog.LevelWarn) }

// names lists the event names and ThisDN of evs, for readable checks
// against EVENTS.md section 5.
func names(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID.String() + "(" + e.ThisDN + ")"
	}
	return out
}

// TestBasicCall: 1002 registers and answers (sipp UAS); 1001 registers and
// calls 1002 (sipp UAC), talks and hangs up. The events are the engine's
// golden flow 5.1 for the same calls: MakeCall, Answer by 1002, Release by
// 1001, after the two registrations' EventDNBackInService.
func TestBasicCall(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	f.basicCall(f.sip.Addr(), pa, pb)
}

// TestBusyDND: 1002 is on DND; 1001 (registered) calls it: 486, and the
// flow is 5.4 (Dialing, DestinationBusy, Released by the caller).
func TestBusyDND(t *testing.T) {
	f := newFixture(t, nil)
	pa := freeUDPPort(t)
	f.register("1001", pa, 3600)
	if _, err := f.rt.Do(t.Context(), engine.SetDND{DN: "1002", On: true}); err != nil {
		t.Fatal(err)
	}
	f.startSipp("uac_busy.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1001", InService: true},
		engine.SetDND{DN: "1002", On: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	got := f.events(len(want))
	sameFlow(t, got, want)
	f.noLeftovers()
	if got[4].ID != event.EventDestinationBusy {
		t.Fatalf("event 4 is %s, want EventDestinationBusy", got[4].ID)
	}
}

// TestBusyPhone: the called phone rings and answers 486. The flow is 5.4
// for a destination refusing after ringing: Dialing(A), Ringing(B),
// Released(B, Busy), DestinationBusy(A, OtherDN B, Busy), and the SIP
// caller gets 486 and hangs up: Released(A, Busy).
func TestBusyPhone(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_busy.xml", pb)
	f.startSipp("uac_busy.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.DestinationBusy{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	got := f.events(len(want))
	sameFlow(t, got, want)
	f.noLeftovers()
	if ev := got[6]; ev.ID != event.EventDestinationBusy || ev.ThisDN != "1001" || ev.OtherDN != "1002" || ev.CallState != event.CallStateBusy {
		t.Fatalf("event 6 is %s(%s, OtherDN %s, %s), want EventDestinationBusy(1001, OtherDN 1002, Busy)", ev.ID, ev.ThisDN, ev.OtherDN, ev.CallState)
	}
}

// TestBusyPhoneForwardOnBusy: 1002 forwards on busy to 1003; 1002's phone
// answers 486, so the call goes to 1003's phone, which answers (5.11).
func TestBusyPhoneForwardOnBusy(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb, pc := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	f.register("1003", pc, 3600)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	fwd := engine.SetForward{DN: "1002", To: "1003", Mode: engine.ForwardOnBusy}
	if _, err := f.rt.Do(t.Context(), fwd); err != nil {
		t.Fatal(err)
	}
	b := f.startSipp("uas_busy.xml", pb)
	c := f.startSipp("uas.xml", pc)
	f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	b.wait(t)
	c.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		fwd,
		engine.MakeCall{From: "1001", To: "1002"},
		engine.DestinationBusy{ConnID: "$1", DN: "1002"},
		engine.Answer{ConnID: "$1", DN: "1003"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestUnavailablePhone: the called phone answers 480 and 1002 has no
// forwarding: the call ends at once, Released(B, NoAnswer) and
// Released(A, NoAnswer), and the SIP caller gets 480.
func TestUnavailablePhone(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_unavailable.xml", pb)
	f.startSipp("uac_unavailable.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.NoAnswer{ConnID: "$1", DN: "1002"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestUnavailablePhoneForward: 1002 forwards on no answer to 1003 (with a
// long timer); its phone answers 480, so the call is forwarded at once
// and 1003's phone answers.
func TestUnavailablePhoneForward(t *testing.T) {
	f := newFixtureTenant(t, nil, func(tn *config.Tenant) {
		tn.DN("1002").NoAnswerTimeout = config.D(time.Hour)
	})
	pa, pb, pc := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	f.register("1003", pc, 3600)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	fwd := engine.SetForward{DN: "1002", To: "1003", Mode: engine.ForwardOnNoAnswer}
	if _, err := f.rt.Do(t.Context(), fwd); err != nil {
		t.Fatal(err)
	}
	b := f.startSipp("uas_unavailable.xml", pb)
	c := f.startSipp("uas.xml", pc)
	f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	b.wait(t)
	c.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		fwd,
		engine.MakeCall{From: "1001", To: "1002"},
		engine.NoAnswer{ConnID: "$1", DN: "1002"},
		engine.Answer{ConnID: "$1", DN: "1003"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestCancelWhileRinging: 1001 hangs up while 1002's phone rings: the
// phone gets CANCEL, and the flow is 5.5 (Released(A), Abandoned(B)).
func TestCancelWhileRinging(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_ring.xml", pb)
	f.startSipp("uac_cancel.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	got := f.events(len(want))
	sameFlow(t, got, want)
	f.noLeftovers()
	if got[6].ID != event.EventAbandoned || got[6].ThisDN != "1002" {
		t.Fatalf("event 6 is %s(%s), want EventAbandoned(1002)", got[6].ID, got[6].ThisDN)
	}
}

// TestCalleeHangsUp: 1002 answers and hangs up (BYE); the caller gets a
// BYE. Flow 5.1 with the release by B.
func TestCalleeHangsUp(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_bye.xml", pb, "-key", "service", "1002")
	f.startSipp("uac_wait_bye.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1002"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestUnacknowledged200: 1001 calls 1002, which answers, but 1001's
// phone never ACKs the 200 (it crashed). After AckTimeout the dialog ends
// with a BYE to 1001 and the call is released as if 1001 hung up (flow
// 5.1), so 1002 gets its BYE too and both extensions are free again.
func TestUnacknowledged200(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.AckTimeout = time.Second })
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas.xml", pb, "-key", "user", "1002")
	f.startSipp("uac_no_ack.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
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

// TestUnacknowledgedHold200: as TestUnacknowledged200, but the 200 never
// ACKed is the answer to the phone's hold re-INVITE: flow 5.6's Held(A),
// then the release as if 1001 hung up.
func TestUnacknowledgedHold200(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.AckTimeout = time.Second })
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas.xml", pb)
	f.startSipp("uac_hold_no_ack.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Hold{ConnID: "$1", DN: "1001"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestSubscribeRefer: a SUBSCRIBE to the refer event in a call's dialog
// (a phone refreshing its REFER's subscription) gets 200 and a NOTIFY
// ending the subscription, another event package 489; the call is flow
// 5.1 all the same.
func TestSubscribeRefer(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas.xml", pb)
	f.startSipp("uac_subscribe.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
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

// TestRegistrationExpiry: a binding of 1 s ends by itself: back in
// service, then out of service.
func TestRegistrationExpiry(t *testing.T) {
	f := newFixture(t, nil)
	f.register("1003", freeUDPPort(t), 1)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1003", InService: false},
	)
	sameFlow(t, f.events(len(want)), want)
}

// TestUnregister: Expires 0 ends the binding at once.
func TestUnregister(t *testing.T) {
	f := newFixture(t, nil)
	p := freeUDPPort(t)
	f.register("1003", p, 3600)
	f.register("1003", p, 0)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1003", InService: false},
	)
	sameFlow(t, f.events(len(want)), want)
}

// TestRegisterBadPassword: 401, then 403 for the wrong password, and no
// event (a sentinel command's event is the only one).
func TestRegisterBadPassword(t *testing.T) {
	f := newFixture(t, nil)
	f.startSipp("register_badauth.xml", freeUDPPort(t), "-au", "1003", "-ap", "wrong", "-key", "user", "1003").wait(t)
	if _, err := f.rt.Do(t.Context(), engine.SetDND{DN: "1004", On: true}); err != nil {
		t.Fatal(err)
	}
	want := expected(t, f.tenant, engine.SetDND{DN: "1004", On: true})
	sameFlow(t, f.events(len(want)), want)
}

// TestHoldRetrieve: the caller's phone holds (re-INVITE a=sendonly) and
// retrieves (a=sendrecv): flow 5.6, Held(A) and Retrieved(A).
func TestHoldRetrieve(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas.xml", pb)
	f.startSipp("uac_hold.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Hold{ConnID: "$1", DN: "1001"},
		engine.Retrieve{ConnID: "$1", DN: "1001"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestRefreshReInvite: a re-INVITE that asks for the state the call is in
// already (a session refresh: sendrecv while talking, sendonly while
// held) is answered 200 and changes nothing; only the real hold is an
// event.
func TestRefreshReInvite(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas.xml", pb)
	f.startSipp("uac_refresh.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Hold{ConnID: "$1", DN: "1001"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// waitEstablished waits until the engine has a call with two established
// parties and returns its ConnID.
func (f *fixture) waitEstablished() string {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var conn string
		f.rt.Query(context.Background(), func(m tenant.Machine) {
			for _, c := range m.(*engine.Engine).Calls() {
				n := 0
				for _, p := range c.Parties {
					if p.State == "Established" {
						n++
					}
				}
				if n == 2 {
					conn = c.ConnID
				}
			}
		})
		if conn != "" {
			return conn
		}
		time.Sleep(10 * time.Millisecond)
	}
	var calls []engine.CallView
	f.rt.Query(context.Background(), func(m tenant.Machine) { calls = m.(*engine.Engine).Calls() })
	f.t.Fatalf("no established call: %+v", calls)
	return ""
}

// TestAPIHoldOnSIPCall: one engine, two drivers. A hold and a retrieve
// through the API (CTI) on a SIP call send re-INVITEs (sendonly, then
// sendrecv) to the phone.
func TestAPIHoldOnSIPCall(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	uas := f.startSipp("uas_held.xml", pb)
	uac := f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002", "-d", "1500")
	conn := f.waitEstablished()
	for _, cmd := range []engine.Command{engine.Hold{ConnID: conn, DN: "1002"}, engine.Retrieve{ConnID: conn, DN: "1002"}} {
		if _, err := f.rt.Do(t.Context(), cmd); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	uac.wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Hold{ConnID: "$1", DN: "1002"},
		engine.Retrieve{ConnID: "$1", DN: "1002"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestBlindTransfer: A calls B; B answers and REFERs A to C; B gets a BYE,
// C's phone rings with A's SDP and answers; A hangs up and C gets a BYE.
// Flow 5.7.
// Once 1003 answers, 1001 is re-INVITEd with its SDP (no one-way audio).
// B's scenario checks the NOTIFYs of the REFER's progress (RFC 3515).
// Over each transport (overTransports).
func TestBlindTransfer(t *testing.T) {
	overTransports(t, nil, nil, blindTransfer)
}

func blindTransfer(t *testing.T, p *phones) {
	f := p.f
	pa, pb, pc := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	p.register("1003", pc)
	p.register("1002", pb)
	p.registerCaller("1001", pa)
	mc := freeUDPPort(t)
	c := p.callee("uas.xml", pc, "-mp", strconv.Itoa(mc))
	b := p.callee("uas_refer.xml", pb, "-key", "target", "1003", "-key", "service", "1002")
	// 1001 is re-INVITEd with 1003's SDP once 1003 answers.
	p.call(repointed(t, "uac_repointed.xml", mc), pa, "-key", "user", "1001", "-s", "1002", "-d", "1500").wait(t)
	b.wait(t)
	c.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.SingleStepTransfer{ConnID: "$1", DN: "1002", To: "1003"},
		engine.Answer{ConnID: "$1", DN: "1003"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// repointed writes testdata/<scenario> with PEERPORT set to port (the
// media port of the party whose SDP the re-INVITE must carry) and returns
// its path.
func repointed(t *testing.T, scenario string, port int) string {
	return scenarioWith(t, scenario, "PEERPORT", strconv.Itoa(port))
}

// TestInboundFromTrunk: the carrier (a sipp at the trunk's address) calls
// 1002, which answers; the carrier hangs up. Flow 5.2.
func TestInboundFromTrunk(t *testing.T) {
	f := newFixture(t, nil)
	pb := freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.inboundFromTrunk(f.sip.Addr(), pb)
}

// inboundFromTrunk: the carrier (a sipp on the trunk's address) calls
// 1002 (registered from 127.0.0.1:pb) through server; 1002 answers; the
// carrier hangs up. Flow 5.2 after 1002's registration.
func (f *fixture) inboundFromTrunk(server string, pb int) {
	f.t.Helper()
	trunkPort := f.trunkPort()
	uas := f.startSipp("uas.xml", pb)
	startSippAt(f.t, server, "trunk_uac.xml", trunkPort, "-key", "user", "+33140000000", "-s", "1002").wait(f.t)
	uas.wait(f.t)
	want := expected(f.t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.NetworkCall{Trunk: "pstn", ANI: "+33140000000", DNIS: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.NetworkRelease{ConnID: "$1"},
	)
	sameFlow(f.t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestInboundFromTrunkBusyPhone: a call from the trunk to 1002, whose
// phone answers 486: no DN waits for the answer, so the call ends
// (Released(1002, Busy)) and the trunk gets 486.
func TestInboundFromTrunkBusyPhone(t *testing.T) {
	f := newFixture(t, nil)
	pb := freeUDPPort(t)
	trunkPort := f.trunkPort()
	f.register("1002", pb, 3600)
	uas := f.startSipp("uas_busy.xml", pb)
	f.startSipp("trunk_uac_busy.xml", trunkPort, "-key", "user", "+33140000000", "-s", "1002").wait(t)
	uas.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1002", InService: true},
		engine.NetworkCall{Trunk: "pstn", ANI: "+33140000000", DNIS: "1002"},
		engine.DestinationBusy{ConnID: "$1", DN: "1002"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestOutboundToTrunk: 1001 dials an external number: the INVITE leaves
// through the trunk (a sipp at its address), which answers; 1001 hangs up
// and the trunk gets the BYE. Flow 5.3.
func TestOutboundToTrunk(t *testing.T) {
	newFixture(t, nil).outboundCall("uas.xml") // carrier_test.go
}

// TestAttendedTransfer: A calls B; B's phone holds A (re-INVITE sendonly)
// and calls C from a second dialog (a consultation: InitiateTransfer), C
// answers, B REFERs A to C with Replaces of the consultation dialog
// (CompleteTransfer): B gets BYEs on both dialogs, A and C talk on A's call
// until A hangs up. Flow 5.8 (transfer).
func TestAttendedTransfer(t *testing.T) {
	f := newFixture(t, nil)
	pa, pb, pb2, pc := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	f.register("1003", pc, 3600)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	// Once the transfer completes, A and C are re-INVITEd with each
	// other's SDP (C was given B's consultation SDP).
	ma, mc := freeUDPPort(t), freeUDPPort(t)
	c := f.startSipp(repointed(t, "uas_repointed.xml", ma), pc, "-mp", strconv.Itoa(mc))
	b := f.startSipp("uas_attended.xml", pb, "-key", "target", "1003", "-key", "service", "1002", "-key", "consult", "consult-1")
	a := f.startSipp(repointed(t, "uac_repointed.xml", mc), pa, "-key", "user", "1001", "-s", "1002", "-d", "3000", "-mp", strconv.Itoa(ma))
	conn := f.waitEstablished()
	// The consultation starts once B's phone has held the call.
	deadline := time.Now().Add(10 * time.Second)
	for held := false; !held; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("B did not hold")
		}
		f.rt.Query(context.Background(), func(m tenant.Machine) {
			if v, err := m.(*engine.Engine).Call(conn); err == nil {
				for _, p := range v.Parties {
					held = held || (p.DN == "1002" && p.State == "Held")
				}
			}
		})
	}
	consult := f.startSipp("uac_consult.xml", pb2, "-key", "user", "1002", "-s", "1003", "-au", "1002", "-ap", testPassword,
		"-cid_str", "consult-%u")
	b.wait(t)
	consult.wait(t)
	a.wait(t)
	c.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "1002"},
		engine.Answer{ConnID: "$1", DN: "1002"},
		engine.Hold{ConnID: "$1", DN: "1002"},
		engine.InitiateTransfer{ConnID: "$1", DN: "1002", To: "1003"},
		engine.Answer{ConnID: "$2", DN: "1003"},
		engine.CompleteTransfer{ConnID: "$1", DN: "1002", ConsultConnID: "$2"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestNoAnswerForward: 1002 forwards on no answer (1 s) to 1003. 1002's
// phone rings and never answers; when the engine's no-answer timer fires
// the call is diverted: 1002's phone gets CANCEL and 1003's phone rings and
// answers. Flow 5.11.
func TestNoAnswerForward(t *testing.T) {
	f := newFixtureTenant(t, nil, func(tn *config.Tenant) {
		tn.DN("1002").NoAnswerTimeout = config.D(time.Second)
	})
	pa, pb, pc := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	f.register("1003", pc, 3600)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	fwd := engine.SetForward{DN: "1002", To: "1003", Mode: engine.ForwardOnNoAnswer}
	if _, err := f.rt.Do(t.Context(), fwd); err != nil {
		t.Fatal(err)
	}
	b := f.startSipp("uas_ring.xml", pb)
	c := f.startSipp("uas.xml", pc)
	f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "1002").wait(t)
	b.wait(t)
	c.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1002", InService: true},
		engine.SetService{DN: "1001", InService: true},
		fwd,
		engine.MakeCall{From: "1001", To: "1002"},
		fireTimers{},
		engine.Answer{ConnID: "$1", DN: "1003"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

package sipfront

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/event"
	"github.com/switchboard-cc/switchboard/internal/config"
	"github.com/switchboard-cc/switchboard/internal/engine"
)

// withCarrier sets the fixture's trunk up with switchboard's account at
// the carrier (acct, carrier-secret), registering when register is true.
func withCarrier(register bool, expires time.Duration) func(*config.Tenant) {
	return func(ct *config.Tenant) {
		for i := range ct.DNs {
			if tr := ct.DNs[i].Trunk; tr != nil {
				tr.Account = &config.CarrierAccount{User: "acct", Password: "carrier-secret", Register: register,
					Domain: "carrier.example", Expires: config.D(expires)}
			}
		}
	}
}

// TestTrunkRegisters: a trunk with register: true registers to its
// carrier (a sipp registrar that challenges with 401 and checks the
// digest), is granted 4 s and refreshes before they run out (challenged
// and checked again); TrunkStatus says registered, until a time within
// the grant. At Close it un-registers (Expires: 0, checked by the
// registrar, challenged too).
func TestTrunkRegisters(t *testing.T) {
	trunk := "127.0.0.1:" + strconv.Itoa(freeUDPPort(t))
	_, tp, _ := net.SplitHostPort(trunk)
	port, _ := strconv.Atoi(tp)
	// The registrar listens before switchboard starts.
	registrar := startSippAt(t, "127.0.0.1:9", "carrier_register.xml", port, "-key", "expires", "4")
	f := newFixtureTenant(t, nil, func(ct *config.Tenant) {
		withCarrier(true, time.Hour)(ct)
		for i := range ct.DNs {
			if tr := ct.DNs[i].Trunk; tr != nil {
				tr.Address = trunk
			}
		}
	})
	var first time.Time
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := f.sip.TrunkStatus("demo", "pstn")
		if st.Registration == "registered" {
			if left := time.Until(st.RegisteredUntil); left <= 0 || left > 4*time.Second {
				t.Fatalf("registered for %v more, want within the 4 s granted", left)
			}
			if first.IsZero() {
				first = st.RegisteredUntil
			} else if st.RegisteredUntil.After(first) {
				break // refreshed
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v: not registered and refreshed", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Until(first); d < 0 {
		t.Errorf("refreshed %v after the registration ran out", -d)
	}
	f.sip.Close()
	registrar.wait(t) // the three rounds, digests and the un-registration checked
}

// TestTrunkRegistrationFails: a carrier that refuses the registration
// (403) leaves the trunk not registered, its status saying why.
func TestTrunkRegistrationFails(t *testing.T) {
	trunk := "127.0.0.1:" + strconv.Itoa(freeUDPPort(t))
	_, tp, _ := net.SplitHostPort(trunk)
	port, _ := strconv.Atoi(tp)
	registrar := startSippAt(t, "127.0.0.1:9", "carrier_register_refuse.xml", port)
	f := newFixtureTenant(t, nil, func(ct *config.Tenant) {
		withCarrier(true, time.Hour)(ct)
		for i := range ct.DNs {
			if tr := ct.DNs[i].Trunk; tr != nil {
				tr.Address = trunk
			}
		}
	})
	registrar.wait(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := f.sip.TrunkStatus("demo", "pstn")
		if st.Registration == "failed" && strings.Contains(st.RegistrationError, "403") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v, want failed with 403", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTrunkOutboundChallenge: the carrier challenges our INVITE (401,
// checking the digest; 407 as a proxy, checking the credentials' user);
// switchboard answers with the account's credentials and the call goes on
// as flow 5.3.
func TestTrunkOutboundChallenge(t *testing.T) {
	for _, scenario := range []string{"carrier_uas_auth.xml", "carrier_uas_proxyauth.xml"} {
		t.Run(scenario, func(t *testing.T) {
			newFixtureTenant(t, nil, withCarrier(false, 0)).outboundCall(scenario)
		})
	}
}

// outboundCall: 1001 registers and calls 0140000000 through the trunk,
// whose carrier (a sipp at the trunk's address) runs scenario, answers,
// and gets the BYE when 1001 hangs up: flow 5.3.
func (f *fixture) outboundCall(scenario string) {
	t := f.t
	t.Helper()
	pa := freeUDPPort(t)
	trunkPort := f.trunkPort()
	f.register("1001", pa, 3600)
	carrier := f.startSipp(scenario, trunkPort)
	uac := f.startSipp("uac.xml", pa, "-key", "user", "1001", "-s", "0140000000")
	carrier.wait(t)
	uac.wait(t)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1001", InService: true},
		engine.MakeCall{From: "1001", To: "0140000000"},
		engine.NetworkAnswer{ConnID: "$1"},
		engine.Release{ConnID: "$1", DN: "1001"},
	)
	sameFlow(t, f.events(len(want)), want)
	f.noLeftovers()
}

// TestTrunkCallToRegisteredContact: a carrier we register to calls the
// contact it knows (Request-URI user = the account's user); the number
// called is the To header's. 1003 is on DND: the INVITE from the trunk's
// address for it gets 486, where without the registration the account's
// user is no DN (404).
func TestTrunkCallToRegisteredContact(t *testing.T) {
	for _, register := range []bool{true, false} {
		f := newFixtureTenant(t, nil, withCarrier(register, time.Hour)) // nobody registers it: the address is the test's
		if _, err := f.rt.Do(t.Context(), engine.SetDND{DN: "1003", On: true}); err != nil {
			t.Fatal(err)
		}
		tr := newUDPPhoneAt(t, f.sip.Addr(), f.trunk)
		res := tr.request("INVITE", "sip:acct@"+f.sip.Addr(), "+33140000000", "1003")
		want := 404
		if register {
			want = 486
		}
		if res == nil || res.StatusCode != want {
			t.Fatalf("register %v: %v, want %d", register, res, want)
		}
	}
}

// TestTrunkInboundByCredentials: a trunk with inbound: credentials takes
// calls from any address that authenticates as its sip-user, and none by
// address alone: from its own address without credentials, the INVITE is
// challenged like a phone's.
func TestTrunkInboundByCredentials(t *testing.T) {
	f := newFixtureTenant(t, nil, func(ct *config.Tenant) {
		for i := range ct.DNs {
			if tr := ct.DNs[i].Trunk; tr != nil {
				tr.SIPUser, tr.SIPPassword, tr.Inbound = "carrier", "trunk-secret", "credentials"
			}
		}
	})
	other := "127.0.0.1:" + strconv.Itoa(freeUDPPort(t))
	for _, from := range []string{f.trunk, other} {
		tr := newUDPPhoneAt(t, f.sip.Addr(), from)
		chal := tr.first(tr.send("INVITE", "sip:8888@demo", "+33140000000", "demo", "8888"))
		if chal == nil || chal.StatusCode != 407 {
			t.Fatalf("from %s without credentials: %v, want 407", from, chal)
		}
		res := tr.first(tr.send("INVITE", "sip:8888@demo", "+33140000000", "demo", "8888", answer(t, "INVITE", "sip:8888@demo", chal, "carrier", "trunk-secret", 1)))
		if res == nil || res.StatusCode != 404 {
			t.Fatalf("from %s with the trunk's credentials: %v, want 404 (a trunk call to a number that is no DN)", from, res)
		}
	}
	f.noLeftovers()
}

// TestTrunkInboundOverTCP: a trunk whose address names a transport
// (host:port;transport=tcp) is recognised by that host:port: an INVITE
// over TCP from the trunk's address is the trunk's (a call to a number
// that is no DN: 404), while one from another port, or from the trunk's
// address over UDP (where a source is easily forged), is challenged like
// a phone's (407).
func TestTrunkInboundOverTCP(t *testing.T) {
	trunk := "127.0.0.1:" + strconv.Itoa(freeUDPPort(t))
	f := newFixtureTenant(t, nil, func(ct *config.Tenant) {
		for i := range ct.DNs {
			if tr := ct.DNs[i].Trunk; tr != nil {
				tr.Address = trunk + ";transport=tcp"
			}
		}
	})
	invite := func(p *streamPhone) int {
		res := p.first(p.send("INVITE", "sip:8888@demo", "+33140000000", "demo", "8888"))
		if res == nil {
			t.Fatal("no final response")
		}
		return res.StatusCode
	}
	local, err := net.ResolveTCPAddr("tcp", trunk)
	if err != nil {
		t.Fatal(err)
	}
	c, err := (&net.Dialer{LocalAddr: local}).Dial("tcp", f.sip.TCPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if got := invite(&streamPhone{t: t, network: "TCP", conn: c, r: bufio.NewReader(c)}); got != 404 {
		t.Fatalf("over TCP from the trunk's address %s: %d, want 404 (the trunk's call to a number that is no DN)", trunk, got)
	}
	if got := invite(dialStream(t, "TCP", f.sip.TCPAddr(), nil)); got != 407 {
		t.Fatalf("over TCP from another port: %d, want 407 (a phone's challenge)", got)
	}
	udp := newUDPPhoneAt(t, f.sip.Addr(), trunk)
	if res := udp.first(udp.send("INVITE", "sip:8888@demo", "+33140000000", "demo", "8888")); res == nil || res.StatusCode != 407 {
		t.Fatalf("over UDP from the trunk's address: %v, want 407 (the trunk is reached over TCP)", res)
	}
	f.noLeftovers()
}

// TestTrunkKeepalive: OPTIONS every 100 ms to the trunk, each waiting 200
// ms, two misses take it out of service. The carrier (sipp) answers three
// and exits: the trunk goes out of service (EventDNOutOfService, ThisDN
// pstn); a new carrier answering puts it back (EventDNBackInService). The
// time from the carrier's exit to the event is logged: the time to notice
// a dead trunk. Over UDP, and over TCP (the trunk's address with
// ;transport=tcp, the carrier a sipp -t t1).
func TestTrunkKeepalive(t *testing.T) {
	for _, c := range []struct{ name, param string }{{"UDP", ""}, {"TCP", ";transport=tcp"}} {
		t.Run(c.name, func(t *testing.T) { trunkKeepalive(t, c.param) })
	}
}

// trunkKeepalive is TestTrunkKeepalive with param after the trunk's
// address (its transport), the carrier's sipp over that transport.
func trunkKeepalive(t *testing.T, param string) {
	trunk := "127.0.0.1:" + strconv.Itoa(freeUDPPort(t))
	_, tp, _ := net.SplitHostPort(trunk)
	port, _ := strconv.Atoi(tp)
	var args []string
	if param != "" {
		args = []string{"-t", "t1"}
	}
	carrier := startSippAt(t, "127.0.0.1:9", "carrier_options.xml", port, append([]string{"-m", "3"}, args...)...)
	f := newFixtureTenant(t, func(c *Config) {
		c.KeepaliveTimeout, c.KeepaliveMisses = 200*time.Millisecond, 2
	}, func(ct *config.Tenant) {
		for i := range ct.DNs {
			if tr := ct.DNs[i].Trunk; tr != nil {
				tr.Address, tr.Keepalive = trunk+param, config.Keepalive{Duration: config.D(100 * time.Millisecond)}
			}
		}
	})
	carrier.wait(t)
	dead := time.Now()
	if st, _ := f.sip.TrunkStatus("demo", "pstn"); st.LastAnswer.IsZero() {
		t.Fatalf("status %+v: no answer seen", st)
	}
	out := f.events(1)
	noticed := time.Since(dead)
	if out[0].ID != event.EventDNOutOfService || out[0].ThisDN != "pstn" {
		t.Fatalf("got %s(%s), want EventDNOutOfService(pstn)", out[0].ID, out[0].ThisDN)
	}
	t.Logf("dead trunk noticed %v after its last answer (keepalive 100ms, timeout 200ms, 2 misses)", noticed.Round(time.Millisecond))
	if st, _ := f.sip.TrunkStatus("demo", "pstn"); st.Keepalive != "down" {
		t.Errorf("status %+v, want keepalive down", st)
	}
	back := startSippAt(t, "127.0.0.1:9", "carrier_options.xml", port, append([]string{"-m", "1"}, args...)...)
	back.wait(t)
	in := f.events(1)
	if in[0].ID != event.EventDNBackInService || in[0].ThisDN != "pstn" {
		t.Fatalf("got %s(%s), want EventDNBackInService(pstn)", in[0].ID, in[0].ThisDN)
	}
	want := expected(t, f.tenant,
		engine.SetService{DN: "pstn", InService: false},
		engine.SetService{DN: "pstn", InService: true},
	)
	sameFlow(t, append(out, in...), want)
}

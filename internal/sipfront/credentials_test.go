package sipfront

import (
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// parseCredentials reads what digest.ParseCredentials reads: the same
// fields, and an error for the same input.
func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{
		`Digest username="1001", realm="switchboard", nonce="abc", uri="sip:demo", response="0123", algorithm=SHA-256, cnonce="x", qop=auth, nc=0000000a, opaque="o"`,
		`digest username = "a\"b" ,realm="r",userhash=TRUE`,
		`Digest username="\xff\xfe", nc=zz`,
		`Digest username="unterminated`,
		`Digest , x=y`,
		`Digest a=b c=d`,
		`Digest a=`,
		`Basic dXNlcjpwYXNz`,
		`Digest `,
		`Digest x="é\\"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := digest.ParseCredentials(s)
		got, err := parseCredentials(s)
		if (werr == nil) != (err == nil) {
			t.Fatalf("%q: error %v, digest's %v", s, err, werr)
		}
		if werr == nil && *got != *want {
			t.Fatalf("%q:\n got %+v\nwant %+v", s, *got, *want)
		}
	})
}

func BenchmarkParseCredentials(b *testing.B) {
	h := `Digest username="10001", realm="switchboard", nonce="MTcwMDAwMDAwMC4xMjcuMC4wLjE6NTA2MC5hYmNkZWY", uri="sip:20001@127.0.0.1:5060", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseCredentials(h); err != nil {
			b.Fatal(err)
		}
	}
}

// challenge formats what digest.Challenge formats.
func TestChallenge(t *testing.T) {
	for _, realm := range []string{"switchboard", `odd "realm"\`, "é"} {
		for _, alg := range []string{"MD5", "SHA-256"} {
			for _, stale := range []bool{false, true} {
				want := (&digest.Challenge{Realm: realm, Nonce: "6570a1b2.0011223344556677.abcdef", Algorithm: alg, QOP: []string{"auth"}, Stale: stale}).String()
				if got := challenge(realm, "6570a1b2.0011223344556677.abcdef", alg, stale); got != want {
					t.Errorf("got  %s\nwant %s", got, want)
				}
			}
		}
	}
}

// trunkByCredentials reads a phone's credentials (every INVITE answering
// its challenge) only when a trunk takes calls by credentials.
func BenchmarkTrunkByCredentials(b *testing.B) {
	h := `Digest username="10001", realm="switchboard", nonce="MTcwMDAwMDAwMC4xMjcuMC4wLjE6NTA2MC5hYmNkZWY", uri="sip:20001@127.0.0.1:5060", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001`
	req := sip.NewRequest(sip.INVITE, sip.Uri{User: "20001", Host: "127.0.0.1", Port: 5060})
	req.AppendHeader(sip.NewHeader("Proxy-Authorization", h))
	for _, c := range []struct {
		name   string
		trunks []trunk
	}{
		{"phones-only", nil},
		{"credentials-trunk", []trunk{{dn: "9000", user: "carrier", carrier: carrier{inbound: "credentials"}}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := &Server{}
			st := &sipTenant{}
			st.trunks = c.trunks
			served := map[string]*sipTenant{"bench": st}
			s.tenants.Store(&served)
			b.ReportAllocs()
			for b.Loop() {
				if _, tr := s.trunkByCredentials(req); tr != nil {
					b.Fatal("a phone's credentials matched a trunk")
				}
			}
		})
	}
}

// TestTrunkByCredentials: the trunk is found by the user its credentials
// name, only among trunks taking calls by credentials alone.
func TestTrunkByCredentials(t *testing.T) {
	req := func(user string) *sip.Request {
		r := sip.NewRequest(sip.INVITE, sip.Uri{User: "20001", Host: "127.0.0.1"})
		r.AppendHeader(sip.NewHeader("Proxy-Authorization", `Digest username="`+user+`", realm="r", nonce="n"`))
		return r
	}
	s := &Server{}
	st := &sipTenant{}
	st.trunks = []trunk{
		{dn: "9000", user: "both", carrier: carrier{inbound: "both"}},
		{dn: "9001", user: "carrier", carrier: carrier{inbound: "credentials"}},
	}
	served := map[string]*sipTenant{"t": st}
	s.tenants.Store(&served)
	if _, tr := s.trunkByCredentials(req("carrier")); tr == nil || tr.dn != "9001" {
		t.Errorf("carrier: got %+v, want trunk 9001", tr)
	}
	for _, u := range []string{"both", "10001"} {
		if _, tr := s.trunkByCredentials(req(u)); tr != nil {
			t.Errorf("%s: got trunk %s, want none", u, tr.dn)
		}
	}
	bad := sip.NewRequest(sip.INVITE, sip.Uri{User: "20001", Host: "127.0.0.1"})
	bad.AppendHeader(sip.NewHeader("Proxy-Authorization", `Digest username="carrier`))
	if _, tr := s.trunkByCredentials(bad); tr != nil {
		t.Errorf("malformed credentials: got trunk %s, want none", tr.dn)
	}
}

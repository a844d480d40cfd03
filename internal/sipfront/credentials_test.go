package sipfront

import (
	"testing"

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

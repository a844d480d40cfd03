package sipfront

import (
	"slices"
	"testing"

	"github.com/icholy/digest"
)

// TestDigestAlgorithmsMD5Only: with Config.DigestAlgorithms MD5, a
// REGISTER's challenge offers MD5 alone (what baresip on libre 1.x can
// answer: any other challenge fails its registration), an answer with
// SHA-256 on that nonce is refused, and one with MD5 registers.
func TestDigestAlgorithmsMD5Only(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.DigestAlgorithms = []string{"MD5"} })
	p := newUDPPhone(t, f.sip.Addr())
	const ruri = "sip:demo"
	res := p.first(p.send("REGISTER", ruri, "1003", "demo", "1003"))
	if res == nil {
		t.Fatal("REGISTER: no answer")
	}
	if got, want := challengeShape(t, res), `401 WWW-Authenticate: Digest realm="switchboard", nonce="", algorithm=MD5, qop="auth"`; got != want {
		t.Fatalf("challenge %s, want %s", got, want)
	}
	chal, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	if err != nil {
		t.Fatal(err)
	}
	respond := func(alg string, nc int) int {
		c := *chal
		c.Algorithm = alg
		cred, err := digest.Digest(&c, digest.Options{Method: "REGISTER", URI: ruri, Username: "1003", Password: testPassword, Cnonce: "0a4f113b", Count: nc})
		if err != nil {
			t.Fatal(err)
		}
		res := p.first(p.send("REGISTER", ruri, "1003", "demo", "1003", "Authorization: "+cred.String()+"\r\n"))
		if res == nil {
			t.Fatalf("REGISTER with %s: no answer", alg)
		}
		return res.StatusCode
	}
	if code := respond("SHA-256", 1); code != 403 {
		t.Errorf("SHA-256 answer to an MD5-only challenge: %d, want 403", code)
	}
	if code := respond("MD5", 2); code != 200 {
		t.Errorf("MD5 answer: %d, want 200", code)
	}
}

func TestParseDigestAlgorithms(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string // nil: an error
	}{
		{"MD5", []string{"MD5"}},
		{"sha-256, md5", []string{"SHA-256", "MD5"}},
		{"MD5,SHA-256", []string{"MD5", "SHA-256"}},
		{"", nil},
		{"MD5,MD5", nil},
		{"SHA-512", nil},
	} {
		got, err := ParseDigestAlgorithms(c.in)
		if (err == nil) != (c.want != nil) || !slices.Equal(got, c.want) {
			t.Errorf("ParseDigestAlgorithms(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// TokenHashPrefix starts a token hash: "sha256:" and the 64 lowercase hex
// digits of the SHA-256 of the token (the form ctiapi.TokenHash prints).
const TokenHashPrefix = "sha256:"

// HashToken returns the token hash of a token, as token-hashes holds it.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return TokenHashPrefix + hex.EncodeToString(h[:])
}

// ParseTokenHash returns the 32 bytes of a token hash.
func ParseTokenHash(s string) ([32]byte, error) {
	var h [32]byte
	hx, ok := strings.CutPrefix(s, TokenHashPrefix)
	if !ok {
		return h, fmt.Errorf("token hash %q does not start with %q (make one with `switchboard hash-token`)", short(s), TokenHashPrefix)
	}
	if len(hx) != 64 || strings.ToLower(hx) != hx {
		return h, fmt.Errorf("want %q and 64 lowercase hex digits", TokenHashPrefix)
	}
	if _, err := hex.Decode(h[:], []byte(hx)); err != nil {
		return h, fmt.Errorf("want %q and 64 lowercase hex digits", TokenHashPrefix)
	}
	return h, nil
}

// short keeps an error message from echoing a long value (which could be
// a token pasted in the wrong place).
func short(s string) string {
	if len(s) > 12 {
		return s[:12] + "..."
	}
	return s
}

// RateLimit is a per-token request limit: Rate requests per second on
// average, bursts of Burst (default: Rate rounded up). Rate 0 means no
// limit.
type RateLimit struct {
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

// tokenOrigin is where a token hash came from.
type tokenOrigin struct {
	tenant string
	plain  bool // the hash of a plain token
}

// tokenHashes checks t's token-hashes and rate-limit: every hash well
// formed, and no token given twice, whether as plain tokens and hashes
// (two plain tokens are checked in file()).
func (v *validator) tokenHashes(p string, t *Tenant) {
	if v.hashOf == nil {
		v.hashOf = map[string]tokenOrigin{}
	}
	for j, tok := range t.Tokens {
		h := HashToken(tok)
		if o, dup := v.hashOf[h]; dup && !o.plain {
			v.add(fmt.Sprintf("%s.tokens[%d]", p, j), "token already given by its hash for tenant %q (a token belongs to one tenant)", o.tenant)
		} else if !dup {
			v.hashOf[h] = tokenOrigin{t.ID, true}
		}
	}
	for j, hs := range t.TokenHashes {
		hp := fmt.Sprintf("%s.token-hashes[%d]", p, j)
		if _, err := ParseTokenHash(hs); err != nil {
			v.add(hp, "%v", err)
			continue
		}
		if o, dup := v.hashOf[hs]; dup {
			v.add(hp, "token already used by tenant %q (a token belongs to one tenant)", o.tenant)
			continue
		}
		v.hashOf[hs] = tokenOrigin{t.ID, false}
	}
	if l := t.RateLimit; l != nil {
		if l.Rate < 0 || l.Rate > 1e6 {
			v.add(p+".rate-limit.rate", "%v is not between 0 and 1000000 requests per second", l.Rate)
		}
		if l.Burst < 0 {
			v.add(p+".rate-limit.burst", "%d is negative", l.Burst)
		}
	}
}

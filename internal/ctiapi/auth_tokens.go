package ctiapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// TokenHash is the SHA-256 of an API bearer token. The server keeps only
// hashes (Config.Tenants' plain Tokens are hashed at New) and compares a
// presented token's hash with every known hash in constant time.
//
// SHA-256 without salt or stretching is enough here because API tokens are
// random (128 bits or more, see HashToken's caller, `switchboard
// hash-token`), not passwords: a stolen configuration's hashes cannot be
// brute-forced back into tokens.
type TokenHash [32]byte

// TokenHashPrefix starts the text form of a TokenHash: "sha256:" and 64
// lowercase hex digits.
const TokenHashPrefix = "sha256:"

// ErrTokenHash is wrapped by ParseTokenHash's errors.
var ErrTokenHash = errors.New("ctiapi: bad token hash")

// HashToken returns the hash of a token, as the server stores it.
func HashToken(token string) TokenHash { return sha256.Sum256([]byte(token)) }

// String is the text form, "sha256:<64 hex digits>".
func (h TokenHash) String() string { return TokenHashPrefix + hex.EncodeToString(h[:]) }

// ParseTokenHash parses the text form of a hash.
func ParseTokenHash(s string) (TokenHash, error) {
	var h TokenHash
	hx, ok := strings.CutPrefix(s, TokenHashPrefix)
	if !ok {
		return h, fmt.Errorf("%w: %q does not start with %q", ErrTokenHash, s, TokenHashPrefix)
	}
	if len(hx) != 64 || strings.ToLower(hx) != hx {
		return h, fmt.Errorf("%w: want 64 lowercase hex digits after %q", ErrTokenHash, TokenHashPrefix)
	}
	if _, err := hex.Decode(h[:], []byte(hx)); err != nil {
		return h, fmt.Errorf("%w: %v", ErrTokenHash, err)
	}
	return h, nil
}

// AddTokenHashes adds accepted token hashes to a tenant (tokens kept only as
// hashes: the configuration's token-hashes, a token from the environment).
// Call it after New and before serving; it is not safe for use while
// requests are served. A hash already given to any tenant is refused (a
// token belongs to one tenant).
func (s *Server) AddTokenHashes(tenant string, hs ...TokenHash) error {
	if _, ok := s.cfg.Tenants[tenant]; !ok {
		return fmt.Errorf("ctiapi: AddTokenHashes: unknown tenant %q", tenant)
	}
	for i, h := range hs {
		for _, e := range s.tokens {
			if e.hash == h {
				return fmt.Errorf("ctiapi: AddTokenHashes: hash %d of tenant %q is already a token of tenant %q", i, tenant, e.tenant)
			}
		}
		s.tokens = append(s.tokens, tokenEntry{h, tenant})
	}
	return nil
}

// lookupToken finds a bearer token among the known hashes in constant time
// (every entry is compared), returning its index in s.tokens.
func (s *Server) lookupToken(tok string) (int, bool) {
	sum := HashToken(tok)
	idx, found := 0, 0
	for i, e := range s.tokens {
		eq := subtle.ConstantTimeCompare(sum[:], e.hash[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		found |= eq
	}
	return idx, found == 1
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

package sipfront

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/icholy/digest"
)

// errCredentials is any malformed digest credentials header.
var errCredentials = errors.New("sipfront: malformed digest credentials")

// parseCredentials reads an Authorization or Proxy-Authorization header
// value as digest.ParseCredentials does (the same grammar, the same
// fields, the same errors for the same input), without its allocations:
// that one reads through a 4 KiB bufio.Reader per header and builds
// every value rune by rune, a tenth of the bytes allocated per call under
// load (every call and registration carries credentials). Values are
// substrings of s unless a quoted one has escapes or invalid UTF-8.
func parseCredentials(s string) (*digest.Credentials, error) {
	s, ok := digest.CutPrefix(s)
	if !ok {
		return nil, errCredentials
	}
	var c digest.Credentials
	for i := 0; ; i++ {
		s = skipSpaces(s)
		if s == "" {
			return &c, nil
		}
		if i > 0 {
			if s[0] != ',' {
				return nil, errCredentials
			}
			s = skipSpaces(s[1:])
		}
		var key, value string
		key, s = ident(s)
		s = skipSpaces(s)
		if s == "" || s[0] != '=' {
			return nil, errCredentials
		}
		s = skipSpaces(s[1:])
		if s != "" && s[0] == '"' {
			var err error
			if value, s, err = quoted(s[1:]); err != nil {
				return nil, err
			}
		} else {
			value, s = ident(s)
		}
		switch key {
		case "username":
			c.Username = value
		case "realm":
			c.Realm = value
		case "nonce":
			c.Nonce = value
		case "uri":
			c.URI = value
		case "response":
			c.Response = value
		case "algorithm":
			c.Algorithm = value
		case "cnonce":
			c.Cnonce = value
		case "opaque":
			c.Opaque = value
		case "qop":
			c.QOP = value
		case "nc":
			nc, err := strconv.ParseInt(value, 16, 32)
			if err != nil {
				return nil, errCredentials
			}
			c.Nc = int(nc)
		case "userhash":
			c.Userhash = strings.ToLower(value) == "true"
		}
	}
}

func skipSpaces(s string) string {
	return strings.TrimLeft(s, " ")
}

// ident is the longest prefix of letters, digits and '-', and the rest.
func ident(s string) (string, string) {
	i := 0
	for i < len(s) {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-') {
			break
		}
		i++
	}
	return s[:i], s[i:]
}

// quoted reads a quoted string's content up to its closing quote (s
// starts after the opening one), a backslash escaping the next character;
// it returns the content and the rest after the quote.
func quoted(s string) (string, string, error) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			if utf8.ValidString(s[:i]) {
				return s[:i], s[i+1:], nil
			}
			return slowQuoted(s)
		case '\\':
			return slowQuoted(s)
		}
	}
	return "", "", errCredentials
}

// slowQuoted is quoted for content with escapes or invalid UTF-8 (each
// invalid byte becomes U+FFFD, as digest's rune reader makes it).
func slowQuoted(s string) (string, string, error) {
	var b strings.Builder
	escaped := false
	for i, r := range s {
		switch {
		case escaped:
			b.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == '"':
			return b.String(), s[i+1:], nil
		default:
			b.WriteRune(r)
		}
	}
	return "", "", errCredentials
}

// challenge is digest.Challenge{Realm: realm, Nonce: nonce, Algorithm:
// alg, QOP: []string{"auth"}, Stale: stale}.String() in one string
// building, not through a slice of parameters each quoted on its own.
func challenge(realm, nonce, alg string, stale bool) string {
	var b strings.Builder
	b.Grow(len(realm) + len(nonce) + 64)
	b.WriteString("Digest realm=")
	b.WriteString(strconv.Quote(realm))
	b.WriteString(", nonce=")
	b.WriteString(strconv.Quote(nonce))
	if stale {
		b.WriteString(", stale=true")
	}
	b.WriteString(", algorithm=")
	b.WriteString(alg)
	b.WriteString(`, qop="auth"`)
	return b.String()
}

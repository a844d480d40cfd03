package config

import (
	"strings"
	"testing"
)

func TestTokenHashes(t *testing.T) {
	h := HashToken("tok-a")
	if b, err := ParseTokenHash(h); err != nil || b[0] == 0 && b[1] == 0 {
		t.Fatalf("ParseTokenHash(%s): %v", h, err)
	}
	base := "tenants:\n  - id: a\n%s    dns:\n      - {number: \"1001\", type: extension}\n  - id: b\n%s    dns:\n      - {number: \"1001\", type: extension}\n"
	for _, tc := range []struct {
		name, a, b string
		want       string // "" = valid
	}{
		{"hashes only", "    token-hashes: [" + h + "]\n", "    tokens: [tok-b]\n", ""},
		{"plain and hash", "    tokens: [tok-x]\n    token-hashes: [" + h + "]\n", "    token-hashes: [" + HashToken("tok-b") + "]\n", ""},
		{"rate limit", "    tokens: [tok-x]\n    rate-limit: {rate: 20, burst: 40}\n", "    tokens: [tok-b]\n    rate-limit: {rate: 0.5}\n", ""},
		{"neither", "", "    tokens: [tok-b]\n", "tenants[0].tokens: at least one API token is required"},
		{"bad prefix", "    token-hashes: [md5:abc]\n", "    tokens: [tok-b]\n", "tenants[0].token-hashes[0]: token hash \"md5:abc\" does not start"},
		{"short", "    token-hashes: [\"sha256:abcd\"]\n", "    tokens: [tok-b]\n", "tenants[0].token-hashes[0]: want"},
		{"upper case", "    token-hashes: [" + strings.ToUpper(h) + "]\n", "    tokens: [tok-b]\n", "tenants[0].token-hashes[0]"},
		{"a token pasted as a hash is not echoed", "    token-hashes: [very-secret-token-value]\n", "    tokens: [tok-b]\n", "\"very-secret-...\""},
		{"hash twice", "    token-hashes: [" + h + "]\n", "    token-hashes: [" + h + "]\n", "tenants[1].token-hashes[0]: token already used by tenant \"a\""},
		{"plain after hash", "    token-hashes: [" + h + "]\n", "    tokens: [tok-a]\n", "tenants[1].tokens[0]: token already given by its hash for tenant \"a\""},
		{"hash after plain", "    tokens: [tok-a]\n", "    token-hashes: [" + h + "]\n", "tenants[1].token-hashes[0]: token already used by tenant \"a\""},
		{"negative rate", "    tokens: [tok-x]\n    rate-limit: {rate: -1}\n", "    tokens: [tok-b]\n", "tenants[0].rate-limit.rate"},
		{"negative burst", "    tokens: [tok-x]\n    rate-limit: {rate: 1, burst: -1}\n", "    tokens: [tok-b]\n", "tenants[0].rate-limit.burst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(strings.Replace(base, "%s", tc.a, 1), "%s", tc.b, 1)
			f, err := Parse("t.yaml", []byte(src))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("%v\n%s", err, src)
				}
				if len(f.Tenants[0].TokenHashes)+len(f.Tenants[0].Tokens) == 0 {
					t.Fatal("no tokens decoded")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q\n%s", err, tc.want, src)
			}
			if strings.Contains(err.Error(), "very-secret-token-value") {
				t.Fatalf("the error echoes the value: %v", err)
			}
		})
	}
	f, err := Parse("t.yaml", []byte(strings.Replace(strings.Replace(base, "%s", "    tokens: [x]\n    rate-limit: {rate: 20, burst: 40}\n", 1), "%s", "    tokens: [y]\n", 1)))
	if err != nil || f.Tenants[0].RateLimit == nil || *f.Tenants[0].RateLimit != (RateLimit{20, 40}) || f.Tenants[1].RateLimit != nil {
		t.Fatalf("rate limits: %v %+v", err, f)
	}
}

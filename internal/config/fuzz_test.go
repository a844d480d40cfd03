package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics; it either refuses with an error naming the
// file, or returns a File that validates.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	if ex, err := os.ReadFile(filepath.Join("..", "..", "examples", "switchboard.yaml")); err == nil {
		f.Add(ex)
	}
	f.Add([]byte("tenants: [{id: a, tokens: [t], dns: [{number: '1', type: trunk, trunk: {prefixes: ['+']}}]}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse("f.yaml", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := file.Validate(); err != nil {
			t.Fatalf("parsed but invalid: %v", err)
		}
	})
}

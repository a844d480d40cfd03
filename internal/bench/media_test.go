package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
)

// TestMediaOnly: --media-only measures the four media rows and nothing
// else; with --sip-only too it is refused.
func TestMediaOnly(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"--duration", "200ms", "--media-calls", "20", "--media-only", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range res.Rows {
		names = append(names, r.Name)
	}
	if want := []string{RowMediaCalls, RowMediaP999, RowMediaCPU, RowMediaHeap}; !slices.Equal(names, want) {
		t.Fatalf("rows %q, want %q", names, want)
	}
	if code := Main(context.Background(), []string{"--media-only", "--sip-only"}, &out, &errb); code != 2 {
		t.Fatalf("--media-only --sip-only: exit %d, want 2", code)
	}
}

package media

import (
	"context"
	"testing"
	"time"
)

// TestLoadSmall runs the bench harness on a few calls: every packet sent
// arrives and deviations are measured (no timing is asserted).
func TestLoadSmall(t *testing.T) {
	r, err := Load(context.Background(), 20, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.Sent == 0 || r.Intervals == 0 {
		t.Fatalf("nothing measured: %v", r)
	}
	if r.Lost != 0 {
		t.Fatalf("loopback lost packets: %v", r)
	}
}

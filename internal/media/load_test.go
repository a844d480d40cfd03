package media

import (
	"context"
	"testing"
	"time"
)

// TestLoadSmall runs the bench harness on a few calls, one way and two
// ways: every packet sent arrives and deviations are measured (no timing
// is asserted); the sessions hear what the receivers say.
func TestLoadSmall(t *testing.T) {
	for _, twoWay := range []bool{false, true} {
		r, err := Load(context.Background(), 20, 500*time.Millisecond, twoWay)
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
		if twoWay && (r.Talked == 0 || r.Heard == 0) || !twoWay && (r.Talked != 0 || r.Heard != 0) {
			t.Fatalf("two-way %v: talked %d, heard %d", twoWay, r.Talked, r.Heard)
		}
	}
}

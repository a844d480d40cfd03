package publisher

import (
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboard-cc/switchboard/event"
)

// The partitioner the publisher configures places every keyed record where
// event.Partition says.
func TestPartitionMatchesConfiguredPartitioner(t *testing.T) {
	tp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		key := make([]byte, rng.IntN(64))
		for j := range key {
			key[j] = byte(rng.UintN(256))
		}
		n := int32(1 + rng.IntN(200))
		r := &kgo.Record{Key: key}
		if got, want := int32(tp.Partition(r, int(n))), event.Partition(key, n); got != want {
			t.Fatalf("case %d: partitioner put key %x (n=%d) on %d, event.Partition says %d", i, key, n, got, want)
		}
	}
}

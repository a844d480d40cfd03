package event

import "testing"

// Kafka's own murmur2 vectors: org.apache.kafka.common.utils.UtilsTest
// .testMurmur2 (the same table is in franz-go's partitioner_test.go).
func TestMurmur2KafkaUtilsTestVectors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	} {
		if got := int32(murmur2([]byte(tc.in))); got != tc.want {
			t.Errorf("murmur2(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// Partitions as the Java client computes them: these rows were printed by
// testdata/java/Vec.java run against kafka-clients 4.1.1
// (Utils.murmur2 and BuiltInPartitioner.partitionForKey), for keys shaped
// like switchboard's and a few edge cases (empty, non-ASCII UTF-8).
func TestPartitionJavaVectors(t *testing.T) {
	ns := [5]int32{1, 3, 12, 50, 1000}
	for _, tc := range []struct {
		key    string
		murmur int32
		want   [5]int32
	}{
		{"21", -973932308, [5]int32{0, 0, 0, 40, 340}},
		{"foobar", -790332482, [5]int32{0, 0, 6, 16, 166}},
		{"abc", 479470107, [5]int32{0, 0, 3, 7, 107}},
		{"t1:agent-0001", -1147070709, [5]int32{0, 2, 11, 39, 939}},
		{"t1:5001", -566167664, [5]int32{0, 0, 0, 34, 984}},
		{"acme:7f3a9c2e4b1d0a68", -537166686, [5]int32{0, 2, 2, 12, 962}},
		{"tenant-42:agent.smith", -1568456231, [5]int32{0, 0, 9, 17, 417}},
		{"t9:", 1173697819, [5]int32{0, 1, 7, 19, 819}},
		{"", 275646681, [5]int32{0, 0, 9, 31, 681}},
		{"ütf8:ключ", 1791033366, [5]int32{0, 0, 6, 16, 366}},
	} {
		if got := int32(murmur2([]byte(tc.key))); got != tc.murmur {
			t.Errorf("murmur2(%q) = %d, want %d", tc.key, got, tc.murmur)
		}
		for i, n := range ns {
			if got := Partition([]byte(tc.key), n); got != tc.want[i] {
				t.Errorf("Partition(%q, %d) = %d, want %d", tc.key, n, got, tc.want[i])
			}
		}
	}
}

func BenchmarkPartition(b *testing.B) {
	key := []byte("tenant-42:7f3a9c2e4b1d0a68")
	for b.Loop() {
		Partition(key, 12)
	}
}

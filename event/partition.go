package event

// Partition returns the partition, of n, that Kafka's Java producer chooses
// for a record with this key: Utils.toPositive(Utils.murmur2(key)) % n, as in
// org.apache.kafka.clients.producer.internals.BuiltInPartitioner
// .partitionForKey. It is where the publisher puts every record keyed by
// Key (franz-go's StickyKeyPartitioner with its default hasher computes the
// same), so every consumer in every language agrees on where a key lives.
// n must be > 0.
func Partition(key []byte, n int32) int32 {
	return int32(murmur2(key)&0x7fffffff) % n
}

// murmur2 is Kafka's Utils.murmur2: MurmurHash2, 32 bits, seed 0x9747b28c,
// little-endian 4-byte blocks.
func murmur2(b []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		b = b[4:]
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

package engine

// Identifiers of calls and call threads. They are deterministic functions of
// engine state (counters) and of Options.Seed, so replaying the journal into
// a fresh engine, or restoring a snapshot, gives the same ids byte for byte;
// no global random source is read.
//
// ConnID: the n-th call of the tenant (n = 1, 2, ...) gets ConnID
// perm(n), perm a bijection of 64-bit integers keyed by the seed, written as
// 16 lowercase hex digits. Distinct counters give distinct ConnIDs, so they
// are unique within the tenant as long as the counter is kept (journal,
// snapshots), and they look random. perm can be inverted, so a ConnID the
// engine no longer holds can be told apart as "released" (counter already
// handed out) or "unknown", without remembering released calls.
//
// CallThreadID: a UUID version 7 (RFC 9562): the step time in
// milliseconds in the first 48 bits, then 74 bits from a seeded counter mix.

// mixers of perm: odd multipliers (invertible modulo 2^64).
const (
	permK1 = 0xbf58476d1ce4e5b9
	permK2 = 0x94d049bb133111eb
)

var (
	permK1Inv = inverseOdd(permK1)
	permK2Inv = inverseOdd(permK2)
)

// inverseOdd returns the multiplicative inverse of odd k modulo 2^64
// (Newton's iteration: each step doubles the correct low bits).
func inverseOdd(k uint64) uint64 {
	x := k // correct to 3 bits for odd k
	for i := 0; i < 5; i++ {
		x *= 2 - k*x
	}
	return x
}

// ids holds the seeds of the generators.
type ids struct {
	s1, s2, s3 uint64
}

func newIDs(seed uint64, tenant string) ids {
	if seed == 0 {
		// FNV-1a of the tenant id.
		seed = 0xcbf29ce484222325
		for i := 0; i < len(tenant); i++ {
			seed ^= uint64(tenant[i])
			seed *= 0x100000001b3
		}
	}
	return ids{s1: splitmix(seed), s2: splitmix(seed + 1), s3: splitmix(seed + 2)}
}

// splitmix is the SplitMix64 output function of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * permK1
	x = (x ^ x>>27) * permK2
	return x ^ x>>31
}

// perm maps a call counter to its ConnID value; unperm inverts it.
func (g ids) perm(n uint64) uint64 {
	x := n + g.s1
	x *= permK1
	x ^= x >> 32
	x *= permK2
	x ^= x >> 32
	return x ^ g.s2
}

func (g ids) unperm(x uint64) uint64 {
	x ^= g.s2
	x ^= x >> 32
	x *= permK2Inv
	x ^= x >> 32
	x *= permK1Inv
	return x - g.s1
}

const hexDigits = "0123456789abcdef"

// connString writes a ConnID value as 16 lowercase hex digits.
func connString(x uint64) string {
	var b [16]byte
	putConn(b[:], x)
	return string(b[:])
}

// parseConn reads 16 lowercase hex digits.
func parseConn(s string) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	var x uint64
	for i := 0; i < 16; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			x = x<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			x = x<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return x, true
}

// connAndThread returns the ConnID of call counter c and the UUIDv7 of
// the n-th call thread, started at unix microsecond at, from one
// allocation.
func (g ids) connAndThread(c, n uint64, at int64) (string, string) {
	var b [16 + 36]byte
	putConn(b[:16], g.perm(c))
	g.putThread(b[16:], n, at)
	s := string(b[:])
	return s[:16], s[16:]
}

// threadID returns the UUIDv7 of the n-th call thread, started at unix
// microsecond at.
func (g ids) threadID(n uint64, at int64) string {
	var b [36]byte
	g.putThread(b[:], n, at)
	return string(b[:])
}

func putConn(b []byte, x uint64) {
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[x&15]
		x >>= 4
	}
}

func (g ids) putThread(b []byte, n uint64, at int64) {
	ms := uint64(at / 1000)
	r1 := splitmix(g.s3 ^ n)
	r2 := splitmix(r1 ^ g.s1)
	var u [16]byte
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 | byte(r1>>60)&0x0f // version 7, rand_a high nibble
	u[7] = byte(r1 >> 52)
	u[8] = 0x80 | byte(r2>>58)&0x3f // variant 10
	for i := 9; i < 16; i++ {
		u[i] = byte(r2 >> (8 * (15 - i)))
	}
	j := 0
	for i := 0; i < 16; i++ {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j] = hexDigits[u[i]>>4]
		b[j+1] = hexDigits[u[i]&15]
		j += 2
	}
}

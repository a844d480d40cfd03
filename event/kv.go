package event

// KV is a T-Library key-value list (TKVList): UserData, Reasons, Extensions,
// TreatmentParms, CallHistory. It is written as a JSON object whose members
// keep the list's order. Values are strings, integers or nested lists.
// A nil or empty KV is absent.
type KV []Pair

// Pair is one member of a KV. Exactly one of the value fields is meaningful,
// chosen by Kind.
type Pair struct {
	Key  string
	Kind ValueKind
	Str  string
	Int  int64
	List KV
}

// ValueKind says which value a Pair holds.
type ValueKind uint8

const (
	KindString ValueKind = iota
	KindInt
	KindList
)

// S returns a string pair.
func S(key, v string) Pair { return Pair{Key: key, Kind: KindString, Str: v} }

// I returns an integer pair.
func I(key string, v int64) Pair { return Pair{Key: key, Kind: KindInt, Int: v} }

// L returns a nested-list pair.
func L(key string, v KV) Pair { return Pair{Key: key, Kind: KindList, List: v} }

// Get returns the pair with the given key, and whether it is there.
func (kv KV) Get(key string) (Pair, bool) {
	for _, p := range kv {
		if p.Key == key {
			return p, true
		}
	}
	return Pair{}, false
}

// Merge returns kv with the pairs of add set: a key already in kv takes the
// new value in its place, a new key is appended. kv is not modified.
func (kv KV) Merge(add KV) KV {
	if len(add) == 0 {
		return kv
	}
	out := make(KV, len(kv), len(kv)+len(add))
	copy(out, kv)
outer:
	for _, p := range add {
		for i := range out {
			if out[i].Key == p.Key {
				out[i] = p
				continue outer
			}
		}
		out = append(out, p)
	}
	return out
}

package engine

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"unsafe"

	"github.com/switchboard-cc/switchboard/internal/config"
)

// stateGenerators are the property tests' random command sequences: the
// agent, call and ACD generators, each with its tenant.
var stateGenerators = []struct {
	name   string
	tenant func(*rand.Rand) *config.Tenant
	gen    func(*rand.Rand) func(*Engine) Command
}{
	{"agents", func(*rand.Rand) *config.Tenant { return goldenTenant() },
		func(r *rand.Rand) func(*Engine) Command { g := &gen{rng: r}; return g.command }},
	{"calls", func(*rand.Rand) *config.Tenant { return goldenTenant() },
		func(r *rand.Rand) func(*Engine) Command { g := &callGen{gen: gen{rng: r}}; return g.command }},
	{"acd", acdTenant,
		func(r *rand.Rand) func(*Engine) Command { return func(e *Engine) Command { return acdCommand(r, e) } }},
}

// TestSnapshotRestore: random command sequences (stateGenerators) run on an
// engine; every 200 steps a snapshot is restored into a fresh engine of the
// same configuration, which must have the same state (stateText: every
// field of the state structs, so a field Snapshot or Restore leaves out
// fails here once a generator sets it), give the same snapshot back, and
// then answer the next 200 commands exactly as the original: the same
// refusals, events byte for byte, effects, replies and state after each
// step (digest).
func TestSnapshotRestore(t *testing.T) {
	for _, tc := range stateGenerators {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 3; seed++ {
				rng := rand.New(rand.NewPCG(seed, 0x5a9))
				ten := tc.tenant(rng)
				newEngine := func() *Engine {
					e, err := New(ten, Options{Server: "n"})
					if err != nil {
						t.Fatal(err)
					}
					return e
				}
				a := newEngine()
				next := tc.gen(rng)
				at := goldenStart
				var b *Engine
				for step := 0; step < 3000; step++ {
					if step%200 == 0 {
						if b != nil {
							if sa, sb := stateText(a), stateText(b); sa != sb {
								t.Fatalf("seed %d step %d: the restored engine's state drifted:\n%s", seed, step, textDiff(sa, sb))
							}
						}
						snap, err := a.Snapshot()
						if err != nil {
							t.Fatalf("seed %d step %d: %v", seed, step, err)
						}
						b = newEngine()
						if err := b.Restore(snap); err != nil {
							t.Fatalf("seed %d step %d: %v", seed, step, err)
						}
						if sa, sb := stateText(a), stateText(b); sa != sb {
							t.Fatalf("seed %d step %d: restored state differs:\n%s", seed, step, textDiff(sa, sb))
						}
						again, err := b.Snapshot()
						if err != nil || !bytes.Equal(again, snap) {
							t.Fatalf("seed %d step %d: the restored engine's snapshot differs (%v)", seed, step, err)
						}
					}
					at += int64(rng.IntN(3_000_000))
					cmd := next(a)
					ra, ea := a.Step(at, cmd)
					rb, eb := b.Step(at, cmd)
					if fmt.Sprint(ea) != fmt.Sprint(eb) {
						t.Fatalf("seed %d step %d %s: error %v, restored %v", seed, step, cmd.Kind(), ea, eb)
					}
					if len(ra.Events) != len(rb.Events) {
						t.Fatalf("seed %d step %d %s: %d events, restored %d", seed, step, cmd.Kind(), len(ra.Events), len(rb.Events))
					}
					for i := range ra.Events {
						ja, jb := ra.Events[i].AppendJSON(nil), rb.Events[i].AppendJSON(nil)
						if !bytes.Equal(ja, jb) {
							t.Fatalf("seed %d step %d %s: event %d\n%s\nrestored\n%s", seed, step, cmd.Kind(), i, ja, jb)
						}
					}
					if fmt.Sprint(ra.Effects, ra.Reply) != fmt.Sprint(rb.Effects, rb.Reply) {
						t.Fatalf("seed %d step %d %s: effects/reply %v %v, restored %v %v", seed, step, cmd.Kind(), ra.Effects, ra.Reply, rb.Effects, rb.Reply)
					}
					if da, db := digest(a), digest(b); da != db {
						t.Fatalf("seed %d step %d %s: state differs after the step:\n%s\n---\n%s", seed, step, cmd.Kind(), da, db)
					}
				}
			}
		})
	}
}

// generate runs stateGenerators[i] drawing from rng for steps steps and
// calls fn with the engine every every steps.
func generate(t testing.TB, i int, rng *rand.Rand, steps, every int, fn func(*Engine)) {
	t.Helper()
	tc := stateGenerators[i]
	e, err := New(tc.tenant(rng), Options{Server: "n"})
	if err != nil {
		t.Fatal(err)
	}
	next := tc.gen(rng)
	at := goldenStart
	for step := 1; step <= steps; step++ {
		at += int64(rng.IntN(3_000_000))
		e.Step(at, next(e))
		if step%every == 0 {
			fn(e)
		}
	}
}

// textDiff shows where two state texts first differ.
func textDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-300)
	return fmt.Sprintf("original ...%s\nrestored ...%s", a[from:min(len(a), i+200)], b[from:min(len(b), i+200)])
}

// fromConfig are the state structs' fields that New sets from the
// configuration and no step changes: digest and Snapshot need not carry
// them (Restore gets them from New; Snapshot writes some anyway), and the
// fields inside them are not checked.
var fromConfig = map[string]bool{
	"Engine.tenant": true, "Engine.server": true, "Engine.noAnswer": true, "Engine.wrapUp": true, "Engine.ronaDef": true,
	"Engine.ids":  true,
	"dnState.typ": true, "dnState.name": true, "dnState.callWaiting": true, "dnState.noAnswer": true,
	"dnState.rp":            true,
	"agentState.supervisor": true, "agentState.skills": true, "agentState.noAnswer": true, "agentState.rona": true,
	"queueState.noAnswer": true, "queueState.rona": true, "queueState.maxSize": true, "queueState.overflowAfter": true,
	"queueState.overflowTo": true, "queueState.treatments": true, "queueState.skills": true,
}

// inert are fields whose change need not show: a Pair's value fields
// other than the one its Kind picks mean nothing, and a KV is written out
// by its own encoder (its Key and Kind stand for it here).
var inert = map[string]bool{"Pair.Str": true, "Pair.Int": true}

// rebuilt are fields that Restore rebuilds from the rest of the snapshot
// (the queue indexes, see reindex): not in the Snapshot, but in digest.
var rebuilt = map[string]bool{
	"qlink.in": true, "qlink.eligible": true, "queueState.waiting": true,
}

// TestStateFieldsCovered: on engine states the generators reach, every
// number, string and bool field of the state structs is changed in turn;
// the change must show in digest and in the Snapshot (unless the field is
// fromConfig), and every such field must be met at least once. A field
// added to a state struct and left out of digest or Snapshot fails here.
func TestStateFieldsCovered(t *testing.T) {
	met := map[string]bool{}
	missing := map[string]bool{}
	for i := range stateGenerators {
		generate(t, i, rand.New(rand.NewPCG(7, 0x5a9)), 2000, 250, func(e *Engine) {
			baseDigest := digest(e)
			baseSnap, err := e.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			forEachLeaf(reflect.ValueOf(e).Elem(), map[seenKey]bool{}, nop, func(name string, v reflect.Value, commit func()) {
				met[name] = true
				old := reflect.New(v.Type()).Elem()
				old.Set(v)
				bump(v)
				commit()
				if !shows(func() bool { return digest(e) != baseDigest }) {
					missing[name+" (digest)"] = true
				}
				if !rebuilt[name] && !shows(func() bool { snap, err := e.Snapshot(); return err != nil || !bytes.Equal(snap, baseSnap) }) {
					missing[name+" (Snapshot)"] = true
				}
				v.Set(old)
				commit()
			})
			if digest(e) != baseDigest {
				t.Fatal("the fields were not put back")
			}
		})
	}
	for _, m := range slices.Sorted(maps.Keys(missing)) {
		t.Errorf("%s: changing the field does not show", m)
	}
	for _, name := range leafFields(reflect.TypeFor[Engine](), map[reflect.Type]bool{}) {
		if !met[name] {
			t.Errorf("%s: no generator state reaches the field", name)
		}
	}
}

func nop() {}

// forEachLeaf calls fn with every number, string and bool field reached
// from v (each pointer followed once, fromConfig fields left out), made
// settable. Where the field lies in a map's value, fn changes a copy and
// calls commit to store it in the map; elsewhere commit is nop.
func forEachLeaf(v reflect.Value, seen map[seenKey]bool, commit func(), fn func(string, reflect.Value, func())) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[seenKey{v.Type(), v.Pointer()}] {
			return
		}
		seen[seenKey{v.Type(), v.Pointer()}] = true
		forEachLeaf(v.Elem(), seen, nop, fn)
	case reflect.Struct:
		t := v.Type()
		for _, sf := range stateFields(t) {
			name := t.Name() + "." + sf.name
			if fromConfig[name] {
				continue
			}
			f := v.Field(sf.i)
			f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
			if isLeaf(f.Kind()) {
				if !inert[name] {
					fn(name, f, commit)
				}
			} else {
				forEachLeaf(f, seen, commit, fn)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			forEachLeaf(v.Index(i), seen, commit, fn)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			c := reflect.New(v.Type().Elem()).Elem()
			c.Set(v.MapIndex(k))
			forEachLeaf(c, seen, func() { v.SetMapIndex(k, c) }, fn)
		}
	}
}

// leafFields lists the number, string and bool fields (Type.field) of the
// state structs reachable from t.
func leafFields(t reflect.Type, seen map[reflect.Type]bool) []string {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return leafFields(t.Elem(), seen)
	case reflect.Map:
		return leafFields(t.Elem(), seen)
	case reflect.Struct:
		if seen[t] {
			return nil
		}
		seen[t] = true
		var out []string
		for _, sf := range stateFields(t) {
			if fromConfig[t.Name()+"."+sf.name] {
				continue
			}
			ft := t.Field(sf.i).Type
			if isLeaf(ft.Kind()) && !inert[t.Name()+"."+sf.name] {
				out = append(out, t.Name()+"."+sf.name)
			} else {
				out = append(out, leafFields(ft, seen)...)
			}
		}
		return out
	}
	return nil
}

func isLeaf(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// shows reports whether changed says a change shows; a panic (the changed
// value is out of its type's range, say) shows it too.
func shows(changed func() bool) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = true
		}
	}()
	return changed()
}

// bump changes v, keeping a number within its type's range (one less,
// or one more at zero).
func bump(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() != 0 {
			v.SetInt(v.Int() - 1)
		} else {
			v.SetInt(1)
		}
	default:
		if v.Uint() != 0 {
			v.SetUint(v.Uint() - 1)
		} else {
			v.SetUint(1)
		}
	}
}

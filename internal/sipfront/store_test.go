package sipfront

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

// withState keeps the fixture's bindings in dir.
func withState(dir string) func(*Config) {
	return func(c *Config) { c.StateDir = dir }
}

// restartSIP stops the fixture's SIP front end and starts a new one on the
// same runtime and state directory (a new port): a restart of sipfront
// with the engine recovered as it was.
func (f *fixture) restartSIP(dir string) {
	f.t.Helper()
	f.sip.Close()
	s, err := Start(Config{
		Listen:   "127.0.0.1:0",
		Tenants:  []Tenant{{Config: f.tenant, Runtime: f.rt}},
		Logger:   testLogger(f.t),
		StateDir: dir,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.sip = s
	f.t.Cleanup(func() { s.Close() })
}

// readBindings reads the bindings on disk (the snapshot and the log
// replayed on it), sorted by tenant and DN.
func readBindings(t *testing.T, dir string) storedState {
	t.Helper()
	state, bad, err := loadBindings(dir)
	if err != nil || bad != 0 {
		t.Fatalf("bindings on disk: %v, %d unreadable log records", err, bad)
	}
	st := storedState{Version: stateVersion}
	for _, b := range state {
		st.Bindings = append(st.Bindings, b)
	}
	slices.SortFunc(st.Bindings, func(a, b storedBinding) int { return strings.Compare(a.Tenant+"\x00"+a.DN, b.Tenant+"\x00"+b.DN) })
	return st
}

// TestBindingsSurviveRestart: 1001 and 1002 register; sipfront restarts;
// a call from 1001 to 1002 reaches 1002's phone (sipp UAS) at its stored
// contact. No service event at the restart: the bindings are still valid
// and the engine has both DNs in service.
func TestBindingsSurviveRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sip") // created on the first write
	f := newFixture(t, withState(dir))
	pa, pb := freeUDPPort(t), freeUDPPort(t)
	f.register("1002", pb, 3600)
	f.register("1001", pa, 3600)
	if st := readBindings(t, dir); len(st.Bindings) != 2 || st.Bindings[0].DN != "1001" || st.Bindings[1].DN != "1002" {
		t.Fatalf("bindings file: %+v", st)
	}
	f.restartSIP(dir)
	f.sip.single.mu.Lock()
	bs := f.sip.single.bindings["1002"]
	f.sip.single.mu.Unlock()
	if len(bs) != 1 {
		t.Fatalf("1002's bindings after the restart: %d, want 1", len(bs))
	}
	b := bs[0]
	if b.contact.Port != pb || time.Until(b.expires) < 3500*time.Second {
		t.Fatalf("1002's binding after the restart: %+v", b)
	}
	f.basicCall(f.sip.Addr(), pa, pb)
}

// TestBindingExpiredWhileStopped: 1003's binding ends while sipfront is
// stopped (its expiry in the file is in the past); the next start takes
// the DN out of service through the runtime and drops the binding from
// the file.
func TestBindingExpiredWhileStopped(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, withState(dir))
	f.register("1003", freeUDPPort(t), 3600)
	f.sip.Close()
	st := readBindings(t, dir)
	if len(st.Bindings) != 1 {
		t.Fatalf("bindings file: %+v", st)
	}
	st.Bindings[0].Expires = time.Now().Add(-time.Second)
	if err := writeState(dir, st); err != nil {
		t.Fatal(err)
	}
	f.restartSIP(dir)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1003", InService: false},
	)
	sameFlow(t, f.events(len(want)), want)
	if st := readBindings(t, dir); len(st.Bindings) != 0 {
		t.Fatalf("expired binding still in the file: %+v", st)
	}
	f.sip.single.mu.Lock()
	n := len(f.sip.single.bindings)
	f.sip.single.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d bindings after the restart, want none", n)
	}
}

// TestBindingRestoredPutsDNInService: the binding was saved but the DN is
// out of service in the engine (the process stopped between the two); the
// restart puts it in service. A binding restored with little time left
// expires by its restored timer.
func TestBindingRestoredPutsDNInService(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, withState(dir))
	f.register("1003", freeUDPPort(t), 3600)
	f.sip.Close()
	if _, err := f.rt.Do(context.Background(), engine.SetService{DN: "1003", InService: false}); err != nil {
		t.Fatal(err)
	}
	st := readBindings(t, dir)
	st.Bindings[0].Expires = time.Now().Add(1500 * time.Millisecond)
	if err := writeState(dir, st); err != nil {
		t.Fatal(err)
	}
	f.restartSIP(dir)
	want := expected(t, f.tenant,
		engine.SetService{DN: "1003", InService: true},
		engine.SetService{DN: "1003", InService: false},
		engine.SetService{DN: "1003", InService: true},  // restored
		engine.SetService{DN: "1003", InService: false}, // its timer
	)
	sameFlow(t, f.events(len(want)), want)
}

// TestBindingsFileBad: an unreadable bindings file is kept aside and
// treated as no bindings (no event, no crash); a file of another version
// likewise; a missing file is no bindings. Registering afterwards works
// and writes a good file.
func TestBindingsFileBad(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":   "{not json",
		"truncated": `{"version":1,"bindings":[{"tenant":"demo","dn":"1003","contact":"sip:1003@127.0.0.1:5`,
		"version":   `{"version":99,"bindings":[]}`,
		"missing":   "",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if content != "" {
				if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			f := newFixture(t, withState(dir))
			if content != "" {
				aside, _ := filepath.Glob(filepath.Join(dir, StateFile+".bad-*"))
				if len(aside) != 1 {
					t.Fatalf("bad file not kept aside: %v", aside)
				}
			}
			f.register("1003", freeUDPPort(t), 3600)
			want := expected(t, f.tenant, engine.SetService{DN: "1003", InService: true})
			sameFlow(t, f.events(len(want)), want)
			st := readBindings(t, dir)
			if len(st.Bindings) != 1 || st.Bindings[0].DN != "1003" || st.Bindings[0].Tenant != f.tenant.ID {
				b, _ := json.Marshal(st)
				t.Fatalf("bindings file: %s", b)
			}
		})
	}
}

// TestBindingsFileUnknownDN: a stored binding of a DN that is not a
// configured phone is dropped, with no event.
func TestBindingsFileUnknownDN(t *testing.T) {
	dir := t.TempDir()
	st := storedState{Version: stateVersion, Bindings: []storedBinding{
		{Tenant: "demo", DN: "9999", Contact: "sip:9999@127.0.0.1:5060", Expires: time.Now().Add(time.Hour)},
		{Tenant: "nowhere", DN: "1003", Contact: "sip:1003@127.0.0.1:5060", Expires: time.Now().Add(time.Hour)},
	}}
	if err := writeState(dir, st); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, withState(dir))
	if st := readBindings(t, dir); len(st.Bindings) != 0 {
		t.Fatalf("bindings file: %+v", st)
	}
	if _, err := f.rt.Do(context.Background(), engine.SetDND{DN: "1004", On: true}); err != nil {
		t.Fatal(err)
	}
	want := expected(t, f.tenant, engine.SetDND{DN: "1004", On: true})
	sameFlow(t, f.events(len(want)), want)
}

// TestBindStoreLog: changes are appended to the log (the snapshot is not
// rewritten per change), a stop without close (a crash) with a torn last
// line replays to the same bindings, the log is compacted once it holds
// more than compactAfter records and twice the bindings, and close leaves
// the whole state in the snapshot with an empty log.
func TestBindStoreLog(t *testing.T) {
	dir := t.TempDir()
	st := openStore(dir, testLogger(t), []storedBinding{{Tenant: "a", DN: "1", Contact: "sip:1@h", Expires: time.Unix(100, 0).UTC()}})
	snap0, err := os.Stat(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	saved(st.set(storedBinding{Tenant: "a", DN: "2", Contact: "sip:2@h", Source: "h:2", Expires: time.Unix(200, 0).UTC()}))
	saved(st.del("a", "1", ""))
	if snap1, _ := os.Stat(filepath.Join(dir, StateFile)); !snap1.ModTime().Equal(snap0.ModTime()) || snap1.Size() != snap0.Size() {
		t.Fatal("a change rewrote the snapshot")
	}
	logb, _ := os.ReadFile(filepath.Join(dir, LogFile))
	if n := strings.Count(string(logb), "\n"); n != 2 {
		t.Fatalf("log has %d records, want 2:\n%s", n, logb)
	}
	// A crash: a torn record at the end, the store never closed.
	f, _ := os.OpenFile(filepath.Join(dir, LogFile), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"op":"set","tenant":"a","dn":"3","con`)
	f.Close()
	state, bad, err := loadBindings(dir)
	if err != nil || bad != 1 || len(state) != 1 || state[bindKey("a", "2", "sip:2@h")].Source != "h:2" {
		t.Fatalf("replayed %v, %d bad, %v; want only a/2, 1 bad record", state, bad, err)
	}

	// Many refreshes of few bindings: compacted on the way. (DN 2 has
	// two: its contact sip:2@h stays.)
	saved(st.del("a", "2", "sip:2@h"))
	for i := 0; i < compactAfter+10; i++ {
		saved(st.set(storedBinding{Tenant: "a", DN: strconv.Itoa(i % 3), Contact: "sip:x@h", Expires: time.Unix(int64(i), 0).UTC()}))
	}
	st.mu.Lock()
	records := st.records
	st.mu.Unlock()
	if records > compactAfter {
		t.Fatalf("%d records in the log after %d changes of 3 bindings: not compacted", records, compactAfter+10)
	}
	st.close()
	if b, _ := os.ReadFile(filepath.Join(dir, LogFile)); len(b) != 0 {
		t.Fatalf("log after close: %q", b)
	}
	snap := readBindings(t, dir)
	if len(snap.Bindings) != 3 || snap.Bindings[1].DN != "1" || !snap.Bindings[1].Expires.Equal(time.Unix(compactAfter+9, 0)) {
		t.Fatalf("snapshot after close: %+v", snap.Bindings)
	}
	if ch := st.set(storedBinding{Tenant: "a", DN: "9"}); <-ch == nil {
		t.Fatal("a change after close was accepted")
	}
}

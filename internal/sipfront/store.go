package sipfront

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-cc/switchboard/internal/engine"
	"github.com/switchboard-cc/switchboard/internal/tenant"
)

// StateFile is the name of the bindings file in Config.StateDir.
const StateFile = "bindings.json"

// stateVersion is the format of the bindings file.
const stateVersion = 1

// storedBinding is one binding in the bindings file.
type storedBinding struct {
	Tenant  string    `json:"tenant"`
	DN      string    `json:"dn"`
	Contact string    `json:"contact"`
	Source  string    `json:"source"`
	Expires time.Time `json:"expires"`
	Device  string    `json:"device,omitempty"` // deviceOf (contacts.go)
	// Path, in a cluster, is the Route to the node holding the phone's
	// connection (cluster_stream.go): the tenant's next owner reaches
	// the phone through it.
	Path string `json:"path,omitempty"`
}

type storedState struct {
	Version  int             `json:"version"`
	Bindings []storedBinding `json:"bindings"`
}

// LogFile is the bindings log in Config.StateDir: the changes since
// StateFile was written, one JSON record a line, appended.
const LogFile = "bindings.log"

// logRecord is a line of the bindings log: a binding set (added or
// refreshed) or deleted (Source and Expires empty; Contact empty: every
// binding of the DN). A binding is a tenant's DN and one of its contacts.
type logRecord struct {
	Op      string    `json:"op"` // "set" or "del"
	Tenant  string    `json:"tenant"`
	DN      string    `json:"dn"`
	Contact string    `json:"contact,omitempty"`
	Source  string    `json:"source,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	Device  string    `json:"device,omitempty"`
}

// compactAfter is the fewest log records before the log is compacted
// (when it also holds more than twice as many records as bindings).
const compactAfter = 1024

// bindStore keeps the bindings on disk: StateFile, a snapshot written
// atomically, and LogFile, each change since appended. A change costs an
// append, and the appends waiting together share one fsync (a single
// writer goroutine takes whatever is pending). When the log holds more
// than compactAfter records and more than twice as many as there are
// bindings, the writer writes a new snapshot of its own copy of the
// bindings (state, updated as changes are queued) and empties the log; a
// stop in between leaves a snapshot and a log whose replay on it gives
// the same bindings.
type bindStore struct {
	dir string
	log *slog.Logger

	mu      sync.Mutex // guards the fields below
	state   map[[3]string]storedBinding
	pending []byte
	waiters []chan error
	records int  // in the log file
	closed  bool // no more changes are taken

	f     *os.File // the log, written by the writer goroutine only
	kick  chan struct{}
	quit  chan struct{}
	ended chan struct{}
}

func bindKey(tenant, dn, contact string) [3]string { return [3]string{tenant, dn, contact} }

// apply changes state by log record r (a del without Contact ends every
// binding of the DN); false for an unknown operation.
func apply(state map[[3]string]storedBinding, r logRecord) bool {
	switch {
	case r.Op == "set":
		state[bindKey(r.Tenant, r.DN, r.Contact)] = storedBinding{Tenant: r.Tenant, DN: r.DN, Contact: r.Contact, Source: r.Source, Expires: r.Expires, Device: r.Device}
	case r.Op == "del" && r.Contact != "":
		delete(state, bindKey(r.Tenant, r.DN, r.Contact))
	case r.Op == "del":
		for k := range state {
			if k[0] == r.Tenant && k[1] == r.DN {
				delete(state, k)
			}
		}
	default:
		return false
	}
	return true
}

// loadBindings reads the snapshot and replays the log on it. A missing
// snapshot is no bindings; an unreadable one is errBadState. A log line
// that cannot be read (the last one, torn by a crash) is skipped and
// counted.
func loadBindings(dir string) (map[[3]string]storedBinding, int, error) {
	state := map[[3]string]storedBinding{}
	st, err := readState(filepath.Join(dir, StateFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, 0, err
	}
	for _, b := range st.Bindings {
		state[bindKey(b.Tenant, b.DN, b.Contact)] = b
	}
	f, err := os.Open(filepath.Join(dir, LogFile))
	if errors.Is(err, fs.ErrNotExist) {
		return state, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	bad := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var r logRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Tenant == "" || r.DN == "" {
			bad++
			continue
		}
		if !apply(state, r) {
			bad++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	return state, bad, nil
}

// openStore starts the store's writer with bindings as its state, written
// at once as the snapshot (the log emptied).
func openStore(dir string, log *slog.Logger, bindings []storedBinding) *bindStore {
	st := &bindStore{dir: dir, log: log, state: make(map[[3]string]storedBinding, len(bindings)),
		kick: make(chan struct{}, 1), quit: make(chan struct{}), ended: make(chan struct{})}
	for _, b := range bindings {
		st.state[bindKey(b.Tenant, b.DN, b.Contact)] = b
	}
	if err := st.compact(); err != nil {
		log.Error("SIP bindings not saved: a restart would lose them", "dir", dir, "err", err)
	}
	go st.run()
	return st
}

// set queues a binding's change; wait for the returned channel to know it
// is on disk. Changes are logged in the order set and del are called, so
// a caller holding the tenant's lock logs in the order of its changes.
func (st *bindStore) set(b storedBinding) chan error {
	return st.queue(logRecord{Op: "set", Tenant: b.Tenant, DN: b.DN, Contact: b.Contact, Source: b.Source, Expires: b.Expires, Device: b.Device})
}

// del queues the end of DN dn's binding of contact, or of every binding
// of the DN when contact is empty (see set).
func (st *bindStore) del(tenant, dn, contact string) chan error {
	return st.queue(logRecord{Op: "del", Tenant: tenant, DN: dn, Contact: contact})
}

func (st *bindStore) queue(r logRecord) chan error {
	line, err := json.Marshal(r)
	ch := make(chan error, 1)
	if err != nil {
		ch <- err
		return ch
	}
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		ch <- errStoreClosed
		return ch
	}
	apply(st.state, r)
	st.pending = append(append(st.pending, line...), '\n')
	st.waiters = append(st.waiters, ch)
	st.mu.Unlock()
	select {
	case st.kick <- struct{}{}:
	default:
	}
	return ch
}

// run is the writer: it appends what is pending (one write, one fsync)
// and compacts when the log has grown.
func (st *bindStore) run() {
	defer close(st.ended)
	for {
		select {
		case <-st.kick:
		case <-st.quit:
			st.flush()
			if err := st.compact(); err != nil {
				st.log.Error("SIP bindings not compacted at stop", "dir", st.dir, "err", err)
			}
			if st.f != nil {
				st.f.Close()
			}
			return
		}
		st.flush()
		st.mu.Lock()
		grown := st.records > compactAfter && st.records > 2*len(st.state)
		st.mu.Unlock()
		if grown {
			if err := st.compact(); err != nil {
				st.log.Error("SIP bindings log not compacted (it keeps growing)", "dir", st.dir, "err", err)
			}
		}
	}
}

func (st *bindStore) flush() {
	st.mu.Lock()
	buf, ws, n := st.pending, st.waiters, len(st.waiters)
	st.pending, st.waiters = nil, nil
	st.mu.Unlock()
	if n == 0 {
		return
	}
	err := st.appendLog(buf)
	if err != nil {
		st.log.Error("SIP bindings not saved: a restart would lose them", "dir", st.dir, "err", err)
	} else {
		st.mu.Lock()
		st.records += n
		st.mu.Unlock()
	}
	for _, w := range ws {
		w <- err
	}
}

func (st *bindStore) appendLog(buf []byte) error {
	if st.f == nil {
		if err := os.MkdirAll(st.dir, 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(filepath.Join(st.dir, LogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		st.f = f
	}
	if _, err := st.f.Write(buf); err != nil {
		return err
	}
	return st.f.Sync()
}

// compact writes the state as the snapshot, then empties the log.
func (st *bindStore) compact() error {
	st.mu.Lock()
	snap := storedState{Version: stateVersion, Bindings: make([]storedBinding, 0, len(st.state))}
	for _, b := range st.state {
		snap.Bindings = append(snap.Bindings, b)
	}
	st.mu.Unlock()
	slices.SortFunc(snap.Bindings, func(a, b storedBinding) int {
		return strings.Compare(a.Tenant+"\x00"+a.DN+"\x00"+a.Contact, b.Tenant+"\x00"+b.DN+"\x00"+b.Contact)
	})
	if err := writeState(st.dir, snap); err != nil {
		return err
	}
	// Changes queued since the state was copied are in the snapshot and
	// still pending: they go to the emptied log next, and replaying them
	// on the snapshot gives the same bindings.
	if st.f != nil {
		st.f.Close()
		st.f = nil
	}
	f, err := os.OpenFile(filepath.Join(st.dir, LogFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	st.f = f
	st.mu.Lock()
	st.records = 0
	st.mu.Unlock()
	return nil
}

// close writes what is pending, compacts and stops the writer.
func (st *bindStore) close() {
	st.mu.Lock()
	was := st.closed
	st.closed = true
	st.mu.Unlock()
	if !was {
		close(st.quit)
	}
	<-st.ended
}

// errStoreClosed answers a change after the server closed.
var errStoreClosed = errors.New("sipfront: bindings store closed")

// saved waits for a queued change to be on disk; a failure was logged by
// the writer (the binding still works until the next restart).
func saved(ch chan error) {
	if ch != nil {
		<-ch
	}
}

func writeState(dir string, st storedState) error {
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, StateFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// errBadState marks a bindings file that cannot be read as bindings.
var errBadState = errors.New("sipfront: bindings file unreadable")

func readState(path string) (storedState, error) {
	var st storedState
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return storedState{}, fmt.Errorf("%w: %v", errBadState, err)
	}
	if st.Version != stateVersion {
		return storedState{}, fmt.Errorf("%w: version %d, want %d", errBadState, st.Version, stateVersion)
	}
	return st, nil
}

// restore brings back the bindings of the bindings files (StateFile and
// LogFile replayed on it) at start: those still valid with their
// remaining time (and expiry timers), the DN put in service if the engine
// has it out of service; those that expired while the process was down
// end now, through the runtime (EventDNOutOfService, unless the DN is
// already out of service). No files means no bindings; an unreadable
// snapshot is logged, kept aside (with the log) as
// bindings.json.bad-<unix time> and treated as no bindings. Bindings of
// tenants or DNs no longer configured as phones are dropped. Then the
// store starts with the bindings restored as its snapshot.
func (s *Server) restore() {
	if s.cfg.StateDir == "" {
		return
	}
	defer func() { s.store = openStore(s.cfg.StateDir, s.log, s.currentBindings()) }()
	path := filepath.Join(s.cfg.StateDir, StateFile)
	state, bad, err := loadBindings(s.cfg.StateDir)
	switch {
	case errors.Is(err, errBadState):
		suffix := ".bad-" + strconv.FormatInt(time.Now().Unix(), 10)
		aside := path + suffix
		if rerr := os.Rename(path, aside); rerr != nil {
			aside = ""
		}
		logPath := filepath.Join(s.cfg.StateDir, LogFile)
		if rerr := os.Rename(logPath, logPath+suffix); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			s.log.Warn("SIP bindings log not kept aside", "file", logPath, "err", rerr)
		}
		s.log.Error("SIP bindings not restored: starting with none (phones registered before the restart are in service without a contact until they register again)",
			"file", path, "kept_as", aside, "err", err)
		return
	case err != nil:
		s.log.Error("SIP bindings not restored: starting with none", "file", path, "err", err)
		return
	}
	if bad > 0 {
		s.log.Warn("SIP bindings log: unreadable records skipped (a write cut short by a stop)", "file", filepath.Join(s.cfg.StateDir, LogFile), "records", bad)
	}
	st := storedState{Version: stateVersion}
	for _, b := range state {
		st.Bindings = append(st.Bindings, b)
	}
	slices.SortFunc(st.Bindings, func(a, b storedBinding) int {
		return strings.Compare(a.Tenant+"\x00"+a.DN+"\x00"+a.Contact, b.Tenant+"\x00"+b.DN+"\x00"+b.Contact)
	})
	dns, expired, dropped := s.restoreBindings(st.Bindings, func(id string) *sipTenant { return s.served()[id] })
	if dns+expired > 0 || dropped > 0 {
		s.log.Info("SIP bindings restored", "file", path, "dns", dns, "expired", expired, "dropped", dropped)
	}
}

// restoreBindings brings back bindings: those still valid with the time
// they have left and their expiry timers (and the DN put in service if
// the engine has it out of service); a DN whose bindings all expired is
// taken out of service if the engine has it in service; bindings of DNs
// no longer configured as phones, or beyond a DN's contacts, are
// dropped. tenant finds a binding's tenant. It returns how many DNs have
// a valid binding, and how many bindings expired or were dropped.
func (s *Server) restoreBindings(bs []storedBinding, tenant func(id string) *sipTenant) (dns, expired, dropped int) {
	now := time.Now()
	type restored struct {
		t     *sipTenant
		dn    string
		valid bool // the DN has a binding still valid
	}
	var done []*restored
	byDN := map[[2]string]*restored{}
	for _, sb := range bs {
		t := tenant(sb.Tenant)
		if t == nil || t.dns[sb.DN] == nil || !t.dns[sb.DN].Type.IsPhone() {
			s.log.Warn("SIP binding not restored: tenant or phone DN no longer configured", "tenant", sb.Tenant, "dn", sb.DN)
			dropped++
			continue
		}
		var contact sip.Uri
		if err := sip.ParseUri(sb.Contact, &contact); err != nil {
			s.log.Warn("SIP binding not restored: bad contact", "tenant", sb.Tenant, "dn", sb.DN, "contact", sb.Contact, "err", err)
			dropped++
			continue
		}
		r := byDN[[2]string{sb.Tenant, sb.DN}]
		if r == nil {
			r = &restored{t: t, dn: sb.DN}
			byDN[[2]string{sb.Tenant, sb.DN}] = r
			done = append(done, r)
		}
		left := sb.Expires.Sub(now)
		if left <= 0 {
			expired++
			continue
		}
		t.mu.Lock()
		if len(t.bindings[sb.DN]) >= t.maxContacts(sb.DN) {
			t.mu.Unlock()
			dropped++
			continue
		}
		t.gen++
		gen, dn := t.gen, sb.DN
		t.bindings[dn] = append(t.bindings[dn], &binding{contact: contact, source: sb.Source, expires: sb.Expires, gen: gen, device: sb.Device,
			timer: time.AfterFunc(left, func() { t.unregister(dn, gen) })})
		t.mu.Unlock()
		if f, ok := flowThrough(sb.Path); ok {
			s.tr.flows.Store(contact.String(), f)
		}
		r.valid = true
	}
	for _, r := range done {
		in, known := r.t.inService(r.dn)
		switch {
		case r.valid && known && !in:
			// Registered, but the engine has it out of service (the
			// process stopped between saving the binding and the
			// SetService): put it back.
			if _, err := r.t.do(engine.SetService{DN: r.dn, InService: true}); err != nil {
				s.log.Warn("restored SIP binding: DN not put in service", "tenant", r.t.id, "dn", r.dn, "err", err)
			}
		case !r.valid && (!known || in):
			if _, err := r.t.do(engine.SetService{DN: r.dn, InService: false}); err != nil {
				s.log.Warn("SIP binding expired while stopped: DN not taken out of service", "tenant", r.t.id, "dn", r.dn, "err", err)
			}
		}
	}
	return countValid(done, func(r *restored) bool { return r.valid }), expired, dropped
}

// currentBindings are every tenant's bindings, for the store's snapshot.
func (s *Server) currentBindings() []storedBinding {
	var out []storedBinding
	for _, t := range s.served() {
		t.mu.Lock()
		for dn, bs := range t.bindings {
			for _, b := range bs {
				out = append(out, storedBinding{Tenant: t.id, DN: dn, Contact: b.contact.String(), Source: b.source, Expires: b.expires, Device: b.device})
			}
		}
		t.mu.Unlock()
	}
	return out
}

func countValid[T any](xs []T, f func(T) bool) int {
	n := 0
	for _, x := range xs {
		if f(x) {
			n++
		}
	}
	return n
}

// querier is the runtime's read-only access to the engine
// (*tenant.Tenant has it); without it restore cannot check a DN's service
// state and acts as if it did not match the file.
type querier interface {
	Query(ctx context.Context, f func(tenant.Machine)) error
}

// inService reports whether the engine has dn in service; known is false
// when that cannot be found out.
func (t *sipTenant) inService(dn string) (in, known bool) {
	q, ok := t.rt.(querier)
	if !ok {
		return false, false
	}
	ctx, cancel := context.WithTimeout(t.s.ctx, t.s.cfg.CommandTimeout)
	defer cancel()
	err := q.Query(ctx, func(m tenant.Machine) {
		e, ok := m.(*engine.Engine)
		if !ok {
			return
		}
		v, err := e.DN(dn)
		if err != nil {
			return
		}
		in, known = v.InService, true
	})
	if err != nil {
		return false, false
	}
	return in, known
}

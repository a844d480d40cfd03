package sipfront

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
}

type storedState struct {
	Version  int             `json:"version"`
	Bindings []storedBinding `json:"bindings"`
}

// persist writes every tenant's bindings to the bindings file, atomically
// (temporary file, fsync, rename, fsync of the directory). Writers are
// serialized and each writes the state as it is when it holds the lock,
// so the last write has the newest state. A failure is logged: the
// binding still works until the next restart.
func (s *Server) persist() {
	if s.cfg.StateDir == "" {
		return
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	st := storedState{Version: stateVersion, Bindings: []storedBinding{}}
	for _, t := range s.tenants {
		t.mu.Lock()
		for dn, b := range t.bindings {
			st.Bindings = append(st.Bindings, storedBinding{Tenant: t.id, DN: dn,
				Contact: b.contact.String(), Source: b.source, Expires: b.expires})
		}
		t.mu.Unlock()
	}
	slices.SortFunc(st.Bindings, func(a, b storedBinding) int {
		return strings.Compare(a.Tenant+"\x00"+a.DN, b.Tenant+"\x00"+b.DN)
	})
	if err := writeState(s.cfg.StateDir, st); err != nil {
		s.log.Error("SIP bindings not saved: a restart would lose them", "dir", s.cfg.StateDir, "err", err)
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

// restore brings back the bindings of the bindings file at start: those
// still valid with their remaining time (and expiry timers), the DN put in
// service if the engine has it out of service; those that expired while
// the process was down end now, through the runtime (EventDNOutOfService,
// unless the DN is already out of service). A missing file means no
// bindings; an unreadable one is logged, kept aside as
// bindings.json.bad-<unix time> and treated as no bindings. Bindings of
// tenants or DNs no longer configured as phones are dropped.
func (s *Server) restore() {
	if s.cfg.StateDir == "" {
		return
	}
	path := filepath.Join(s.cfg.StateDir, StateFile)
	st, err := readState(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case errors.Is(err, errBadState):
		aside := path + ".bad-" + strconv.FormatInt(time.Now().Unix(), 10)
		if rerr := os.Rename(path, aside); rerr != nil {
			aside = ""
		}
		s.log.Error("SIP bindings not restored: starting with none (phones registered before the restart are in service without a contact until they register again)",
			"file", path, "kept_as", aside, "err", err)
		return
	case err != nil:
		s.log.Error("SIP bindings not restored: starting with none", "file", path, "err", err)
		return
	}
	now := time.Now()
	type restored struct {
		t     *sipTenant
		dn    string
		valid bool
	}
	var done []restored
	dropped := 0
	for _, sb := range st.Bindings {
		t := s.tenants[sb.Tenant]
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
		left := sb.Expires.Sub(now)
		if left <= 0 {
			done = append(done, restored{t, sb.DN, false})
			continue
		}
		t.mu.Lock()
		if _, dup := t.bindings[sb.DN]; dup {
			t.mu.Unlock()
			continue
		}
		t.gen++
		gen, dn := t.gen, sb.DN
		t.bindings[dn] = &binding{contact: contact, source: sb.Source, expires: sb.Expires, gen: gen,
			timer: time.AfterFunc(left, func() { t.unregister(dn, gen) })}
		t.mu.Unlock()
		done = append(done, restored{t, sb.DN, true})
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
	if len(done) > 0 || dropped > 0 {
		s.log.Info("SIP bindings restored", "file", path, "valid", countValid(done, func(r restored) bool { return r.valid }),
			"expired", countValid(done, func(r restored) bool { return !r.valid }), "dropped", dropped)
	}
	s.persist()
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

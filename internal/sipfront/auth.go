package sipfront

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Digest authentication (RFC 3261 section 22, RFC 7616, RFC 8760).
//
// A challenge offers MD5 and SHA-256 (in that order; Config.DigestAlgorithms)
// with qop=auth. Its nonce is
// stateless: the issue time, 64 random bits and an HMAC over them, the
// realm and the source address the challenged request came from, so a
// nonce is good only from that address and for NonceTTL. What is kept is
// the highest nonce count used with each nonce that authenticated a
// request: a (nonce, nc) seen before is a replay and gets a new challenge.
// A response without qop (RFC 2069) counts as nc 0: its nonce is good once.
//
// The challenge is the same whether the user exists or not, in any tenant
// or none: credentials for an unknown user are checked against a password
// nobody has, and fail like a wrong one (403). Failures are counted per
// source address and per user: past Config.AuthSlowAfter the answers to
// failures are delayed, past Config.AuthBlockAfter the address (or user)
// is blocked for Config.AuthBlockFor: its requests get no answer at all
// (an address) or 403 (a user). Every answer to a request that is not
// authenticated is sent statelessly (no retransmission) and within a rate
// per source address (Config.UnauthRate), so the server is no amplifier.

// guard holds what digest authentication remembers. Each map forgets in
// generations (gens), so nothing is ever scanned: an attacker with many
// addresses costs memory for a while, not CPU.
type guard struct {
	mu    sync.Mutex
	used  gens[string, uint64]         // nonce -> highest nc authenticated
	fails gens[string, *failCount]     // "addr "+ip or "user "+tenant/user
	resp  gens[netip.Addr, *respQuota] // unauthenticated answers per address
}

// gens is a map that forgets entries not touched for two of its windows:
// entries live in the current generation, the previous one is looked up
// too (and what is found there moves back), and at each window's end the
// previous generation is dropped whole. An entry touched at t lives at
// least one window after t.
type gens[K comparable, V any] struct {
	cur, prev map[K]V
	started   time.Time
}

func (g *gens[K, V]) rotate(now time.Time, window time.Duration) {
	if g.cur == nil {
		g.cur, g.started = map[K]V{}, now
	}
	if age := now.Sub(g.started); age >= window {
		g.prev, g.cur, g.started = g.cur, map[K]V{}, now
		if age >= 2*window {
			g.prev = nil // the current generation was stale too
		}
	}
}

// get returns k's value (moving it to the current generation).
func (g *gens[K, V]) get(k K, now time.Time, window time.Duration) (V, bool) {
	g.rotate(now, window)
	if v, ok := g.cur[k]; ok {
		return v, true
	}
	if v, ok := g.prev[k]; ok {
		delete(g.prev, k)
		g.cur[k] = v
		return v, true
	}
	var zero V
	return zero, false
}

func (g *gens[K, V]) set(k K, v V, now time.Time, window time.Duration) {
	g.rotate(now, window)
	delete(g.prev, k)
	g.cur[k] = v
}

type failCount struct {
	n       int
	last    time.Time
	blocked time.Time // blocked until
}

type respQuota struct {
	tokens float64
	last   time.Time
}

var errAuth = errors.New("sipfront: authentication failed")

// nonce makes a stateless nonce bound to the source address.
func (s *Server) nonce(now time.Time, source string) string {
	var r [8]byte
	rand.Read(r[:])
	ts := strconv.FormatInt(now.Unix(), 16) + "." + hex.EncodeToString(r[:])
	return ts + "." + s.nonceMAC(ts, source)
}

func (s *Server) nonceMAC(ts, source string) string {
	m := hmac.New(sha256.New, s.secret[:])
	m.Write([]byte(ts + "\x00" + s.cfg.Realm + "\x00" + source))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// nonceValid checks a nonce's HMAC (for this source) and age; it returns
// the issue time.
func (s *Server) nonceValid(n, source string, now time.Time) (time.Time, bool) {
	i := strings.LastIndexByte(n, '.')
	if i < 0 {
		return time.Time{}, false
	}
	ts, mac := n[:i], n[i+1:]
	if subtle.ConstantTimeCompare([]byte(mac), []byte(s.nonceMAC(ts, source))) != 1 {
		return time.Time{}, false
	}
	hexSec, _, _ := strings.Cut(ts, ".")
	sec, err := strconv.ParseInt(hexSec, 16, 64)
	if err != nil {
		return time.Time{}, false
	}
	at := time.Unix(sec, 0)
	age := now.Sub(at)
	return at, age >= -time.Minute && age <= s.cfg.NonceTTL
}

// sourceAddr is the address part of a request's source.
func sourceAddr(source string) netip.Addr {
	ap, err := netip.ParseAddrPort(source)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// authKind is what a request authenticates with: REGISTER with
// Authorization after a 401, the rest (INVITE) with Proxy-Authorization
// after a 407, as proxies do.
func authKind(req *sip.Request) (code int, reason, challenge, credentials string) {
	if req.Method == sip.REGISTER {
		return 401, "Unauthorized", "WWW-Authenticate", "Authorization"
	}
	return 407, "Proxy Authentication Required", "Proxy-Authenticate", "Proxy-Authorization"
}

// authenticate checks the request's digest credentials for user (of
// tenant t; t nil or known false: a user nobody can be). It returns nil
// when they are right; otherwise it has answered (challenge, 403, or
// nothing for a blocked address) and counted the failure.
func (s *Server) authenticate(req *sip.Request, tx sip.ServerTransaction, t *sipTenant, user, password string, known bool) error {
	now := time.Now()
	source := s.origin(req)
	addr := sourceAddr(source)
	userKey := "user " + user
	if t != nil {
		userKey = "user " + t.id + "/" + user
	}
	if s.blocked("addr "+addr.String(), now) {
		s.cfg.Metrics.SIPRefused("blocked")
		s.refusals.Warn("SIP request from a blocked address dropped", "addr", addr.String(), "method", string(req.Method))
		tx.Terminate()
		return errAuth
	}
	code, reason, chalName, credName := authKind(req)
	h := req.GetHeader(credName)
	stale := false
	if h != nil {
		cred, err := parseCredentials(h.Value())
		if err != nil {
			s.unauthenticated(req, tx, 400, "Bad "+credName, 0)
			return errAuth
		}
		_, fresh := s.nonceValid(cred.Nonce, source, now)
		switch {
		case !fresh:
			stale = true
		case cred.Username != user || cred.Realm != s.cfg.Realm || !known || password == "" ||
			!s.digestOK(req, cred, password):
			s.failed(req, tx, addr, userKey, user, now)
			return errAuth
		case s.blocked(userKey, now):
			s.cfg.Metrics.SIPRefused("blocked")
			s.refusals.Warn("SIP authentication of a blocked user refused", "user", user, "addr", addr.String())
			s.unauthenticated(req, tx, 403, "Forbidden", 0)
			return errAuth
		case !s.fresh(cred, now):
			s.cfg.Metrics.SIPRefused("replay")
			s.refusals.Warn("SIP digest replayed", "user", user, "addr", addr.String(), "nc", cred.Nc)
			stale = true
		default:
			return nil
		}
	}
	n := s.nonce(now, source)
	hdrs := []sip.Header{}
	// MD5 first: many phones (and sipp) read only the first challenge and
	// know only MD5; a phone that knows SHA-256 finds it in the second.
	for _, alg := range s.cfg.DigestAlgorithms {
		hdrs = append(hdrs, sip.NewHeader(chalName, challenge(s.cfg.Realm, n, alg, stale)))
	}
	s.unauthenticated(req, tx, code, reason, 0, hdrs...)
	return errAuth
}

// ParseDigestAlgorithms reads a comma-separated list of digest
// algorithms for Config.DigestAlgorithms: MD5 and SHA-256 (any case),
// each once, at least one.
func ParseDigestAlgorithms(list string) ([]string, error) {
	var algs []string
	for _, a := range strings.Split(list, ",") {
		a = strings.ToUpper(strings.TrimSpace(a))
		switch {
		case a != "MD5" && a != "SHA-256":
			return nil, fmt.Errorf("digest algorithm %q: want MD5 or SHA-256", a)
		case slices.Contains(algs, a):
			return nil, fmt.Errorf("digest algorithm %s given twice", a)
		}
		algs = append(algs, a)
	}
	return algs, nil
}

// digestOK compares the response with the one password gives.
func (s *Server) digestOK(req *sip.Request, cred *digest.Credentials, password string) bool {
	alg := cred.Algorithm
	if !slices.Contains(s.cfg.DigestAlgorithms, cmp.Or(alg, "MD5")) {
		return false // not offered
	}
	if cred.QOP != "" && cred.QOP != "auth" {
		return false
	}
	chal := &digest.Challenge{Realm: s.cfg.Realm, Nonce: cred.Nonce, Algorithm: alg}
	if cred.QOP != "" {
		chal.QOP = []string{cred.QOP}
	}
	want, err := digest.Digest(chal, digest.Options{
		Method: string(req.Method), URI: cred.URI, Username: cred.Username, Password: password,
		Cnonce: cred.Cnonce, Count: cred.Nc,
	})
	return err == nil && subtle.ConstantTimeCompare([]byte(strings.ToLower(cred.Response)), []byte(want.Response)) == 1
}

// fresh records (nonce, nc) as used; false if it was used before (a
// replay: nc not above the highest seen with the nonce).
func (s *Server) fresh(cred *digest.Credentials, now time.Time) bool {
	nc := uint64(cred.Nc)
	if cred.QOP == "" {
		nc = 0
	}
	s.guard.mu.Lock()
	defer s.guard.mu.Unlock()
	window := s.cfg.NonceTTL + time.Minute // a nonce is used within NonceTTL of its issue
	if last, ok := s.guard.used.get(cred.Nonce, now, window); ok && nc <= last {
		return false
	}
	// A copy: the nonce is a slice of the request's Authorization value,
	// which the map would keep whole for the window.
	s.guard.used.set(strings.Clone(cred.Nonce), nc, now, window)
	return true
}

// blocked reports whether key is blocked at now.
func (s *Server) blocked(key string, now time.Time) bool {
	s.guard.mu.Lock()
	defer s.guard.mu.Unlock()
	f, _ := s.guard.fails.get(key, now, s.cfg.AuthBlockFor)
	return f != nil && now.Before(f.blocked)
}

// failed counts a failed authentication for the address and the user,
// blocks them past the threshold, and answers 403, delayed past
// AuthSlowAfter failures of the address.
func (s *Server) failed(req *sip.Request, tx sip.ServerTransaction, addr netip.Addr, userKey, user string, now time.Time) {
	s.cfg.Metrics.SIPAuthFailure()
	na := s.countFailure("addr "+addr.String(), s.cfg.AuthBlockAfter, now)
	nu := s.countFailure(userKey, s.cfg.AuthBlockAfter*3, now)
	s.refusals.Warn("SIP authentication failed", "user", user, "addr", addr.String(), "method", string(req.Method),
		"failures_addr", na, "failures_user", nu)
	var delay time.Duration
	if n := max(na, nu/3); n > s.cfg.AuthSlowAfter {
		delay = min(time.Duration(n-s.cfg.AuthSlowAfter)*250*time.Millisecond, 4*time.Second)
	}
	s.unauthenticated(req, tx, 403, "Forbidden", delay)
}

// countFailure adds one failure to key (forgetting failures older than
// AuthBlockFor) and blocks it at limit; it returns the count.
func (s *Server) countFailure(key string, limit int, now time.Time) int {
	s.guard.mu.Lock()
	defer s.guard.mu.Unlock()
	f, _ := s.guard.fails.get(key, now, s.cfg.AuthBlockFor)
	if f == nil || now.Sub(f.last) > s.cfg.AuthBlockFor {
		f = &failCount{}
		s.guard.fails.set(key, f, now, s.cfg.AuthBlockFor)
	}
	f.n++
	f.last = now
	if f.n >= limit && !now.Before(f.blocked) {
		f.blocked = now.Add(s.cfg.AuthBlockFor)
		s.cfg.Logger.Warn("SIP authentication blocked after repeated failures", "key", key, "failures", f.n, "for", s.cfg.AuthBlockFor)
	}
	return f.n
}

// unauthenticated answers a request that is not authenticated: without a
// transaction (the answer is sent once, never retransmitted), after delay,
// and over UDP only within the source address's quota of such answers.
func (s *Server) unauthenticated(req *sip.Request, tx sip.ServerTransaction, code int, reason string, delay time.Duration, hdrs ...sip.Header) {
	// Ended before the answer goes out: a retransmission that arrives
	// after the answer is a new request answered anew, not one swallowed
	// by a transaction about to end that has nothing to resend.
	tx.Terminate()
	// The quota is against reflection, which needs a forged source
	// address: over TCP, TLS or WebSocket the source has answered a
	// handshake (and a phone there does not retransmit what goes
	// unanswered). A request another cluster node forwarded from a
	// phone's connection counts as over that connection: the node writes
	// the answer only on an open connection (cluster_stream.go: deliver).
	if !sip.IsReliable(s.originTransport(req)) && !s.respQuota(sourceAddr(s.origin(req)), time.Now()) {
		s.cfg.Metrics.SIPRefused("response_rate")
		s.refusals.Warn("SIP answers to an address over its rate dropped", "addr", s.origin(req), "method", string(req.Method))
		return
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if to := res.To(); to != nil && req.To() != nil && !req.To().Params.Has("tag") {
		to.Params.Add("tag", s.statelessTag())
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	s.cfg.Metrics.SIPResponse(string(req.Method), code)
	send := func() {
		if err := s.srv.WriteResponse(res); err != nil {
			s.log.Debug("SIP stateless respond", "code", code, "err", err)
		}
	}
	if delay <= 0 {
		send()
		return
	}
	time.AfterFunc(delay, send)
}

// statelessTag is the To tag of a stateless answer (unauthenticated):
// the server's random prefix (slTag) and a count, unique as RFC 3261
// section 19.3 asks. The ACK of such an answer (a failure: no dialog, no
// transaction to end) is known by that prefix in the read filter and
// dropped there, before sipgo parses it (ack.go: divertAck), as RFC 3261
// section 8.2.7 has a stateless UAS ignore it; Kamailio's sl module does
// the same.
func (s *Server) statelessTag() string {
	return s.slTag + strconv.FormatUint(s.slCount.Add(1), 36)
}

// respQuota takes one answer from addr's quota: a token bucket of
// UnauthBurst refilled at UnauthRate per second.
func (s *Server) respQuota(addr netip.Addr, now time.Time) bool {
	s.guard.mu.Lock()
	defer s.guard.mu.Unlock()
	burst := float64(s.cfg.UnauthBurst)
	// A bucket untouched for this long has refilled: forgetting it
	// changes nothing.
	window := time.Duration(burst/s.cfg.UnauthRate*float64(time.Second)) + time.Second
	q, _ := s.guard.resp.get(addr, now, window)
	if q == nil {
		q = &respQuota{tokens: burst, last: now}
		s.guard.resp.set(addr, q, now, window)
	} else if d := now.Sub(q.last); d > 0 {
		q.tokens = math.Min(burst, q.tokens+d.Seconds()*s.cfg.UnauthRate)
		q.last = now
	}
	if q.tokens < 1 {
		return false
	}
	q.tokens--
	return true
}

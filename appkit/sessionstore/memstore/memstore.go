// Package memstore is the in-memory sessionstore.Store: sessions live in the
// process's heap and die with it. It is meant for tests and single-process
// deployments, and is built to be fast enough that a page behind the session
// middleware stays close to plain net/http.
//
// It owns the in-memory layout (sharded maps, per-user index, janitor). It
// does not own policy (timeouts, when to extend), which is package appkit's,
// and it does not share sessions between processes: use the SQLite, Redis or
// PostgreSQL store for that.
//
// Layout: sessions are spread over 32 shards by a hash of the key, each a
// map under its own RWMutex, so concurrent Gets on different keys do not
// contend. Each session is two heap objects: a compact entry (offsets,
// times as Unix microseconds, two links) and one string holding all its
// string fields, with no second copy of the claims when they are the access
// token's payload (see entry). It is threaded onto a per-user doubly linked
// list, held in 32 user shards, so ListByUser and DeleteByUser do not scan and cost no extra
// allocation per session. A janitor goroutine removes expired sessions and
// refresh records; Close stops it.
//
// Lock order: a session shard's lock may be held while taking a user
// shard's lock, never the other way round.
package memstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
)

const (
	shardCount = 32 // power of two: the shard index is hash & (shardCount-1)

	// DefaultCleanupInterval is how often the janitor runs when
	// Config.CleanupInterval is zero.
	DefaultCleanupInterval = time.Minute
)

// Config configures a Store. The zero value of every field means its
// documented default (design §7).
type Config struct {
	// CleanupInterval is how often the janitor removes expired sessions
	// and refresh records. Default DefaultCleanupInterval.
	CleanupInterval time.Duration
	// DisableCleanup runs no janitor (DeleteExpired can still be called
	// directly); CleanupInterval must then be zero.
	DisableCleanup bool
	// Now is the store's clock (tests move time by hand). Default
	// time.Now.
	Now func() time.Time
}

// entry is one stored session, in a compact form of two heap objects: the
// entry itself and one string, strs, holding every string field back to
// back (key, user id, refresh-token id, IP, user agent, access token, then
// the claims when they are stored). Substrings of strs are handed out
// without copying. The claims are usually the access token's payload
// (idpclient passes the verified token's payload as the claims), so they
// are then not stored a second time but decoded from the token on Get.
// Times are Unix microseconds. Together this takes a session with the
// IdP's 826-byte token from 1,971 B to about 1.3 KB at 1M sessions
// (BENCHMARKS.md, storebench), under the 1.5 KB goal.
//
// The session fields are guarded by the lock of the session shard holding
// the entry; prev and next link the entries of one user and are guarded by
// that user's user-shard lock. strs and the offsets never change once the
// entry is stored (Put stores a new entry instead), so key and userID may
// be read under either lock.
type entry struct {
	strs string
	// End offsets in strs of the key, user id, refresh-token id, IP, user
	// agent and access token; the stored claims, if any, follow.
	keyEnd, userEnd, rtEnd, ipEnd, uaEnd, tokEnd uint32
	claims                                       claimsForm

	accessTokenExpiry, authTime, createdAt, lastSeen, expiresAt, absoluteExpiry int64

	prev, next *entry
}

// claimsForm says where an entry's claims are.
type claimsForm uint8

const (
	claimsNil     claimsForm = iota // nil claims
	claimsStored                    // strs[tokEnd:], possibly empty
	claimsInToken                   // the access token's payload segment, base64url
)

// micros encodes t for an entry. Microseconds cover year 1 to 9999, so the
// zero time and far-future "never" values survive the round trip.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros decodes an entry time, in UTC; the zero time stays zero.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// tokenPayload returns the payload segment of a compact JWS (the text
// between its two dots), or false when tok has not three segments.
func tokenPayload(tok string) (string, bool) {
	_, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return "", false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") {
		return "", false
	}
	return payload, true
}

// claimsAreToken reports whether claims are exactly what decoding tok's
// payload segment gives, so the entry need not keep them.
func claimsAreToken(claims []byte, tok string) bool {
	seg, ok := tokenPayload(tok)
	if !ok || base64.RawURLEncoding.DecodedLen(len(seg)) != len(claims) {
		return false
	}
	dec, err := base64.RawURLEncoding.DecodeString(seg)
	return err == nil && bytes.Equal(dec, claims)
}

func newEntry(s *sessionstore.Session) (*entry, error) {
	form := claimsNil
	switch {
	case s.Claims == nil:
	case claimsAreToken(s.Claims, s.AccessToken):
		form = claimsInToken
	default:
		form = claimsStored
	}
	n := len(s.Key) + len(s.UserID) + len(s.RefreshTokenID) + len(s.IP) + len(s.UserAgent) + len(s.AccessToken)
	if form == claimsStored {
		n += len(s.Claims)
	}
	if n > math.MaxUint32 {
		return nil, fmt.Errorf("memstore: put: session of %d bytes is too large", n)
	}
	var b strings.Builder
	b.Grow(n)
	e := &entry{claims: form}
	end := func(s string) uint32 {
		b.WriteString(s)
		return uint32(b.Len())
	}
	e.keyEnd = end(s.Key)
	e.userEnd = end(s.UserID)
	e.rtEnd = end(s.RefreshTokenID)
	e.ipEnd = end(s.IP)
	e.uaEnd = end(s.UserAgent)
	e.tokEnd = end(s.AccessToken)
	if form == claimsStored {
		b.Write(s.Claims)
	}
	e.strs = b.String()
	e.accessTokenExpiry = micros(s.AccessTokenExpiry)
	e.authTime = micros(s.AuthTime)
	e.createdAt = micros(s.CreatedAt)
	e.lastSeen = micros(s.LastSeen)
	e.expiresAt = micros(s.ExpiresAt)
	e.absoluteExpiry = micros(s.AbsoluteExpiry)
	return e, nil
}

func (e *entry) key() string    { return e.strs[:e.keyEnd] }
func (e *entry) userID() string { return e.strs[e.keyEnd:e.userEnd] }

// claimsCopy returns a new copy of e's claims.
func (e *entry) claimsCopy() json.RawMessage {
	switch e.claims {
	case claimsStored:
		return json.RawMessage(e.strs[e.tokEnd:])
	case claimsInToken:
		seg, _ := tokenPayload(e.strs[e.uaEnd:e.tokEnd])
		// Put checked that this decodes to the claims.
		c, _ := base64.RawURLEncoding.DecodeString(seg)
		return c
	}
	return nil
}

// session returns a new Session holding e's fields. The caller holds e's
// shard lock.
func (e *entry) session() *sessionstore.Session {
	return &sessionstore.Session{
		Key:               e.key(),
		UserID:            e.userID(),
		Claims:            e.claimsCopy(),
		AccessToken:       e.strs[e.uaEnd:e.tokEnd],
		AccessTokenExpiry: fromMicros(e.accessTokenExpiry),
		RefreshTokenID:    e.strs[e.userEnd:e.rtEnd],
		AuthTime:          fromMicros(e.authTime),
		CreatedAt:         fromMicros(e.createdAt),
		LastSeen:          fromMicros(e.lastSeen),
		ExpiresAt:         fromMicros(e.expiresAt),
		AbsoluteExpiry:    fromMicros(e.absoluteExpiry),
		IP:                e.strs[e.rtEnd:e.ipEnd],
		UserAgent:         e.strs[e.ipEnd:e.uaEnd],
	}
}

// liveAt reports whether e has not expired at now (Unix microseconds).
// The caller holds e's shard lock.
func (e *entry) liveAt(now int64) bool { return now < e.expiresAt }

type shard struct {
	mu sync.RWMutex
	m  map[string]*entry
	_  [64 - 32]byte // keep hot shard locks on separate cache lines
}

type userShard struct {
	mu    sync.RWMutex
	heads map[string]*entry // user id -> first entry of the user's list
	_     [64 - 32]byte
}

// refreshRec is the refresh-coordination state of one refresh token.
type refreshRec struct {
	claimUntil  time.Time
	owner       string // who holds the claim (meaningful until claimUntil)
	result      []byte
	resultUntil time.Time // meaningful only when result != nil
}

// Store is the in-memory session store. It is safe for concurrent use.
// Create it with New and stop its janitor with Close.
type Store struct {
	seed     maphash.Seed
	shards   [shardCount]shard
	users    [shardCount]userShard
	now      func() time.Time
	interval time.Duration

	refreshMu sync.Mutex
	refresh   map[string]*refreshRec

	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

var _ sessionstore.Store = (*Store)(nil)

// New returns an empty store and starts its janitor. It panics on a
// negative CleanupInterval or one set beside DisableCleanup (a programming
// error: New has no error to return).
func New(cfg Config) *Store {
	if cfg.CleanupInterval < 0 || (cfg.DisableCleanup && cfg.CleanupInterval != 0) {
		panic("memstore: Config.CleanupInterval must be zero (default) or positive, and zero with DisableCleanup")
	}
	s := &Store{
		seed:     maphash.MakeSeed(),
		now:      cfg.Now,
		interval: cfg.CleanupInterval,
		refresh:  make(map[string]*refreshRec),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case cfg.DisableCleanup:
		s.interval = 0
	case s.interval == 0:
		s.interval = DefaultCleanupInterval
	}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*entry)
		s.users[i].heads = make(map[string]*entry)
	}
	if s.interval > 0 {
		go s.janitor()
	} else {
		close(s.done)
	}
	return s
}

func (s *Store) shardOf(key string) *shard {
	return &s.shards[maphash.String(s.seed, key)&(shardCount-1)]
}

func (s *Store) userShardOf(userID string) *userShard {
	return &s.users[maphash.String(s.seed, userID)&(shardCount-1)]
}

// link adds e to its user's list. The caller holds e's session-shard lock.
func (s *Store) link(e *entry) {
	uid := e.userID()
	u := s.userShardOf(uid)
	u.mu.Lock()
	if head := u.heads[uid]; head != nil {
		e.next = head
		head.prev = e
	}
	// The map key is a substring of the head's strs (a string key is
	// replaced on assignment), so it keeps no removed entry's strs alive.
	u.heads[uid] = e
	u.mu.Unlock()
}

// unlink removes e from its user's list. The caller holds e's session-shard
// lock.
func (s *Store) unlink(e *entry) {
	uid := e.userID()
	u := s.userShardOf(uid)
	u.mu.Lock()
	if e.prev != nil {
		e.prev.next = e.next
	} else if e.next != nil {
		u.heads[e.next.userID()] = e.next // the new head's string: see link
	} else {
		delete(u.heads, uid)
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.prev, e.next = nil, nil
	u.mu.Unlock()
}

// Put stores a copy of *sess under sess.Key, replacing any session there.
// The store copies the field values, strings and sess.Claims into its own
// compact entry, so the caller may reuse them afterwards. Times are kept to
// the microsecond.
func (s *Store) Put(_ context.Context, sess *sessionstore.Session) error {
	if sess == nil {
		return errors.New("memstore: put: nil session")
	}
	if sess.Key == "" {
		return errors.New("memstore: put: empty key")
	}
	e, err := newEntry(sess)
	if err != nil {
		return err
	}
	key := e.key()
	sh := s.shardOf(key)
	sh.mu.Lock()
	if old := sh.m[key]; old != nil {
		s.unlink(old)
	}
	sh.m[key] = e
	s.link(e)
	sh.mu.Unlock()
	return nil
}

// Get returns a new Session built from the live session under key, or
// sessionstore.ErrNotFound. The caller may change the returned Session's
// fields freely, Claims included (a new copy, decoded from the access
// token when they are its payload). Times come back in UTC.
func (s *Store) Get(_ context.Context, key string) (*sessionstore.Session, error) {
	now := micros(s.now())
	sh := s.shardOf(key)
	sh.mu.RLock()
	e := sh.m[key]
	if e == nil || !e.liveAt(now) {
		sh.mu.RUnlock()
		return nil, sessionstore.ErrNotFound
	}
	out := e.session()
	sh.mu.RUnlock()
	return out, nil
}

// Touch sets LastSeen and ExpiresAt of the live session under key, or
// returns sessionstore.ErrNotFound.
func (s *Store) Touch(_ context.Context, key string, lastSeen, expiresAt time.Time) error {
	now := micros(s.now())
	sh := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[key]
	if e == nil || !e.liveAt(now) {
		return sessionstore.ErrNotFound
	}
	e.lastSeen, e.expiresAt = micros(lastSeen), micros(expiresAt)
	return nil
}

// Delete removes the session under key; a missing key is not an error.
func (s *Store) Delete(_ context.Context, key string) error {
	sh := s.shardOf(key)
	sh.mu.Lock()
	if e := sh.m[key]; e != nil {
		delete(sh.m, key)
		s.unlink(e)
	}
	sh.mu.Unlock()
	return nil
}

// userEntries snapshots the user's list. The entries are only identities
// here: their Session fields must be read under their shard lock.
func (s *Store) userEntries(userID string) []*entry {
	u := s.userShardOf(userID)
	u.mu.RLock()
	defer u.mu.RUnlock()
	var out []*entry
	for e := u.heads[userID]; e != nil; e = e.next {
		out = append(out, e)
	}
	return out
}

// ListByUser returns the user's live sessions as new Sessions, most
// recently seen first (ties broken by key), each as Get returns it.
func (s *Store) ListByUser(_ context.Context, userID string) ([]*sessionstore.Session, error) {
	now := micros(s.now())
	entries := s.userEntries(userID)
	out := make([]*sessionstore.Session, 0, len(entries))
	for _, e := range entries {
		// e's key is immutable, so reading it without the shard lock is
		// safe; everything else is read under it.
		key := e.key()
		sh := s.shardOf(key)
		sh.mu.RLock()
		if sh.m[key] == e && e.liveAt(now) {
			out = append(out, e.session())
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b *sessionstore.Session) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return out, nil
}

// DeleteByUser removes all the user's sessions, live or expired, and
// returns how many were live. A session Put for the user while this runs
// may survive it.
func (s *Store) DeleteByUser(_ context.Context, userID string) (int, error) {
	now := micros(s.now())
	n := 0
	for _, e := range s.userEntries(userID) {
		key := e.key()
		sh := s.shardOf(key)
		sh.mu.Lock()
		if sh.m[key] == e {
			if e.liveAt(now) {
				n++
			}
			delete(sh.m, key)
			s.unlink(e)
		}
		sh.mu.Unlock()
	}
	return n, nil
}

// ClaimRefresh claims the right to refresh the token whose hash is key for
// owner, for ttl, or renews owner's own live claim. It returns false while
// another owner's claim or a stored result for key is alive: a result means
// the token has already been used.
func (s *Store) ClaimRefresh(_ context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if key == "" {
		return false, errors.New("memstore: claim refresh: empty key")
	}
	if owner == "" {
		return false, errors.New("memstore: claim refresh: empty owner")
	}
	if ttl <= 0 {
		return false, fmt.Errorf("memstore: claim refresh: ttl %v is not positive", ttl)
	}
	now := s.now()
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	r := s.refresh[key]
	if r == nil {
		r = &refreshRec{}
		s.refresh[key] = r
	}
	if (now.Before(r.claimUntil) && r.owner != owner) || (r.result != nil && now.Before(r.resultUntil)) {
		return false, nil
	}
	r.claimUntil, r.owner = now.Add(ttl), owner
	r.result = nil
	return true, nil
}

// SetRefreshResult stores a copy of result under key for ttl.
func (s *Store) SetRefreshResult(_ context.Context, key string, result []byte, ttl time.Duration) error {
	if key == "" {
		return errors.New("memstore: set refresh result: empty key")
	}
	if ttl <= 0 {
		return fmt.Errorf("memstore: set refresh result: ttl %v is not positive", ttl)
	}
	now := s.now()
	c := make([]byte, len(result)) // non-nil even when empty: nil means "no result"
	copy(c, result)
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	r := s.refresh[key]
	if r == nil {
		r = &refreshRec{}
		s.refresh[key] = r
	}
	r.result, r.resultUntil = c, now.Add(ttl)
	return nil
}

// GetRefreshResult returns a copy of the live result under key, or
// sessionstore.ErrNotFound.
func (s *Store) GetRefreshResult(_ context.Context, key string) ([]byte, error) {
	now := s.now()
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	r := s.refresh[key]
	if r == nil || r.result == nil || !now.Before(r.resultUntil) {
		return nil, sessionstore.ErrNotFound
	}
	return slices.Clone(r.result), nil
}

// CountAll returns how many sessions are stored, including expired ones the
// janitor has not removed yet (sessionstoretest.Counter).
func (s *Store) CountAll(_ context.Context) (int, error) {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n, nil
}

// DeleteExpired removes every session whose ExpiresAt is at or before now,
// and every refresh record whose claim and result have both ended, and
// returns how many sessions it removed (sessionstoretest.Collector). The
// janitor calls it with the store's clock.
func (s *Store) DeleteExpired(_ context.Context, now time.Time) (int, error) {
	nowUS := micros(now)
	n := 0
	var due []string
	for i := range s.shards {
		sh := &s.shards[i]
		// Find under the read lock so Gets on this shard keep flowing
		// during the scan; remove under the write lock, checking again
		// because a Touch or Put may have come in between.
		due = due[:0]
		sh.mu.RLock()
		for k, e := range sh.m {
			if !e.liveAt(nowUS) {
				due = append(due, k)
			}
		}
		sh.mu.RUnlock()
		if len(due) == 0 {
			continue
		}
		sh.mu.Lock()
		for _, k := range due {
			if e := sh.m[k]; e != nil && !e.liveAt(nowUS) {
				delete(sh.m, k)
				s.unlink(e)
				n++
			}
		}
		sh.mu.Unlock()
	}

	s.refreshMu.Lock()
	for k, r := range s.refresh {
		if r.result != nil && !now.Before(r.resultUntil) {
			r.result = nil
		}
		if r.result == nil && !now.Before(r.claimUntil) {
			delete(s.refresh, k)
		}
	}
	s.refreshMu.Unlock()
	return n, nil
}

func (s *Store) janitor() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// DeleteExpired cannot fail for this store.
			_, _ = s.DeleteExpired(context.Background(), s.now())
		}
	}
}

// Close stops the janitor and waits for it. The stored sessions stay
// readable; calling Close more than once is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

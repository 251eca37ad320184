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
// contend. Each session is one compact heap object (its fields, times as
// Unix microseconds, plus two links) referring to the caller's strings and a
// copy of the claims, and is threaded onto a per-user doubly linked list, held in 32 user
// shards, so ListByUser and DeleteByUser do not scan and cost no extra
// allocation per session. A janitor goroutine removes expired sessions and
// refresh records; Close stops it.
//
// Lock order: a session shard's lock may be held while taking a user
// shard's lock, never the other way round.
package memstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
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

// entry is one stored session, in a compact form: times are Unix
// microseconds (48 bytes instead of 144 for six time.Time values), which
// keeps a typical session under the 1.5 KB goal. The session fields are
// guarded by the lock of the session shard holding the entry; prev and next
// link the entries of one user and are guarded by that user's user-shard
// lock. key and userID never change once the entry is stored (Put stores a
// new entry instead).
type entry struct {
	key, userID, accessToken, refreshTokenID, ip, userAgent string

	claims json.RawMessage

	accessTokenExpiry, authTime, createdAt, lastSeen, expiresAt, absoluteExpiry int64

	prev, next *entry
}

// micros encodes t for an entry. Microseconds cover year 1 to 9999, so the
// zero time and far-future "never" values survive the round trip.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros decodes an entry time, in UTC; the zero time stays zero.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func newEntry(s *sessionstore.Session) *entry {
	return &entry{
		key:               s.Key,
		userID:            s.UserID,
		accessToken:       s.AccessToken,
		refreshTokenID:    s.RefreshTokenID,
		ip:                s.IP,
		userAgent:         s.UserAgent,
		claims:            slices.Clone(s.Claims),
		accessTokenExpiry: micros(s.AccessTokenExpiry),
		authTime:          micros(s.AuthTime),
		createdAt:         micros(s.CreatedAt),
		lastSeen:          micros(s.LastSeen),
		expiresAt:         micros(s.ExpiresAt),
		absoluteExpiry:    micros(s.AbsoluteExpiry),
	}
}

// session returns a new Session holding e's fields. The caller holds e's
// shard lock.
func (e *entry) session() *sessionstore.Session {
	return &sessionstore.Session{
		Key:               e.key,
		UserID:            e.userID,
		Claims:            e.claims,
		AccessToken:       e.accessToken,
		AccessTokenExpiry: fromMicros(e.accessTokenExpiry),
		RefreshTokenID:    e.refreshTokenID,
		AuthTime:          fromMicros(e.authTime),
		CreatedAt:         fromMicros(e.createdAt),
		LastSeen:          fromMicros(e.lastSeen),
		ExpiresAt:         fromMicros(e.expiresAt),
		AbsoluteExpiry:    fromMicros(e.absoluteExpiry),
		IP:                e.ip,
		UserAgent:         e.userAgent,
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
	u := s.userShardOf(e.userID)
	u.mu.Lock()
	if head := u.heads[e.userID]; head != nil {
		e.next = head
		head.prev = e
	}
	u.heads[e.userID] = e
	u.mu.Unlock()
}

// unlink removes e from its user's list. The caller holds e's session-shard
// lock.
func (s *Store) unlink(e *entry) {
	u := s.userShardOf(e.userID)
	u.mu.Lock()
	if e.prev != nil {
		e.prev.next = e.next
	} else if e.next != nil {
		u.heads[e.userID] = e.next
	} else {
		delete(u.heads, e.userID)
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.prev, e.next = nil, nil
	u.mu.Unlock()
}

// Put stores a copy of *sess under sess.Key, replacing any session there.
// The store copies the field values and sess.Claims, so the caller may
// reuse both afterwards; strings are immutable and shared, not copied.
// Times are kept to the microsecond.
func (s *Store) Put(_ context.Context, sess *sessionstore.Session) error {
	if sess == nil {
		return errors.New("memstore: put: nil session")
	}
	if sess.Key == "" {
		return errors.New("memstore: put: empty key")
	}
	e := newEntry(sess)
	sh := s.shardOf(e.key)
	sh.mu.Lock()
	if old := sh.m[e.key]; old != nil {
		s.unlink(old)
	}
	sh.m[e.key] = e
	s.link(e)
	sh.mu.Unlock()
	return nil
}

// Get returns a new Session built from the live session under key, or
// sessionstore.ErrNotFound. The caller may change the returned Session's
// fields freely; its Claims bytes are shared with the store and must be
// treated as read-only. Times come back in UTC.
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
// recently seen first (ties broken by key). Claims are shared, as in Get.
func (s *Store) ListByUser(_ context.Context, userID string) ([]*sessionstore.Session, error) {
	now := micros(s.now())
	entries := s.userEntries(userID)
	out := make([]*sessionstore.Session, 0, len(entries))
	for _, e := range entries {
		// e.key is immutable, so reading it without the shard lock is
		// safe; everything else is read under it.
		sh := s.shardOf(e.key)
		sh.mu.RLock()
		if sh.m[e.key] == e && e.liveAt(now) {
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
		sh := s.shardOf(e.key)
		sh.mu.Lock()
		if sh.m[e.key] == e {
			if e.liveAt(now) {
				n++
			}
			delete(sh.m, e.key)
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

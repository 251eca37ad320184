// Package redisstore is the Redis backend of sessionstore.Store, for running
// any number of app processes on one Redis (standalone, or a Sentinel-managed
// primary).
//
// It owns the key layout, the compact session encoding and the Lua scripts
// that keep a session and its user's index consistent. It does not own
// policy (timeouts, when to extend): package appkit decides, this package
// stores.
//
// Layout, under a configurable prefix (default "gh:"):
//
//	<prefix>s:<key>   one session, one binary value (see codec.go), expiring
//	                  at ExpiresAt by Redis itself (PEXPIREAT), so Redis
//	                  collects expired sessions without any scan;
//	<prefix>u:<user>  sorted set of the user's session keys scored by their
//	                  expiry in Unix milliseconds. Every write and read of it
//	                  trims members whose score has passed, and its own TTL
//	                  is set to its latest member's expiry, so it cannot
//	                  outlive its sessions nor grow without bound;
//	<prefix>r:<key>   refresh coordination: "c"+owner while claimed,
//	                  "r"+result once a result is stored, with a PX
//	                  lifetime. A claim is taken only when the key is free
//	                  (or renewed by its owner), so one record serves both:
//	                  a live result keeps the token claimed.
//
// Every operation that touches a session and its index is one Lua script,
// so concurrent processes never see them disagree. Because a script touches
// the session key and the index of the user found inside it, both must live
// on one node: Redis Cluster is not supported. Requires Redis 6.2 or later
// (SET … PXAT). With replication, a claim or session written just before a
// failover can be lost like any unreplicated write; the IdP's grace period
// absorbs the duplicate refresh that may follow.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
)

// DefaultPrefix is the key prefix used when Config.Prefix is empty.
const DefaultPrefix = "gh:"

// Store is the Redis session store. It is safe for concurrent use.
type Store struct {
	client    redis.UniversalClient
	ownClient bool // Close closes the client (Open made it)
	prefix    string
	now       func() time.Time
}

var _ sessionstore.Store = (*Store)(nil)

// Config configures a Store. Exactly one of URL and Client is required;
// the zero value of every other field means its documented default
// (design §7).
type Config struct {
	// URL names the Redis: redis://[user:password@]host:port/db, or
	// rediss:// for TLS, as parsed by redis.ParseURL. Open creates the
	// client and Close closes it.
	URL string
	// Client is an existing client to use instead of URL; Close leaves it
	// open.
	Client redis.UniversalClient
	// Prefix is the prefix of every key the store writes, so several apps
	// (or tests) can share one Redis database. Default DefaultPrefix.
	Prefix string
	// Now is the store's clock (used to hide sessions whose ExpiresAt has
	// passed before Redis has expired them). Default time.Now.
	Now func() time.Time
}

// Open connects to the Redis cfg names and checks that it answers, so a
// wrong address or password is reported at startup. Close releases what
// Open created.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if (cfg.URL == "") == (cfg.Client == nil) {
		return nil, errors.New("redisstore: set exactly one of Config.URL and Config.Client")
	}
	s := &Store{client: cfg.Client, prefix: cfg.Prefix, now: cfg.Now}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.URL != "" {
		o, err := redis.ParseURL(cfg.URL)
		if err != nil {
			// The parse error may quote the URL, password included.
			return nil, errors.New("redisstore: invalid Redis URL")
		}
		s.client, s.ownClient = redis.NewClient(o), true
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Ping reports whether Redis answers (for readiness checks).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// Close closes the client if Open created it.
func (s *Store) Close() error {
	if s.ownClient {
		if err := s.client.Close(); err != nil {
			return fmt.Errorf("redisstore: close: %w", err)
		}
	}
	return nil
}

func (s *Store) sessionKey(key string) string { return s.prefix + "s:" + key }
func (s *Store) indexPrefix() string          { return s.prefix + "u:" }
func (s *Store) refreshKey(key string) string { return s.prefix + "r:" + key }

// ceilMillis returns t in Unix milliseconds, rounded up, so Redis never
// expires a key before the session's own ExpiresAt.
func ceilMillis(t time.Time) int64 {
	ns := t.UnixNano()
	ms := ns / 1e6
	if ns%1e6 > 0 {
		ms++
	}
	return ms
}

// Put creates or replaces the session under s.Key, moving it between user
// indexes if its owner changed. A session already expired is removed.
func (s *Store) Put(ctx context.Context, sess *sessionstore.Session) error {
	if sess == nil {
		return errors.New("redisstore: put: nil session")
	}
	if sess.Key == "" {
		return errors.New("redisstore: put: empty key")
	}
	v, err := encode(sess)
	if err != nil {
		return fmt.Errorf("redisstore: put: %w", err)
	}
	now := s.now()
	dead := "0"
	if !sess.ExpiresAt.After(now) {
		dead = "1"
	}
	err = putScript.Run(ctx, s.client, []string{s.sessionKey(sess.Key)},
		v, ceilMillis(sess.ExpiresAt), now.UnixMilli(), sess.Key, s.indexPrefix(), sess.UserID, dead).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: put: %w", err)
	}
	return nil
}

// Get returns the live session under key, or ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (*sessionstore.Session, error) {
	if key == "" {
		return nil, fmt.Errorf("redisstore: get: %w", sessionstore.ErrNotFound)
	}
	v, err := s.client.Get(ctx, s.sessionKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: get: %w", sessionstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get: %w", err)
	}
	sess, err := decode(key, v)
	if err != nil {
		return nil, fmt.Errorf("redisstore: get: %w", err)
	}
	if !sess.ExpiresAt.After(s.now()) {
		return nil, fmt.Errorf("redisstore: get: %w", sessionstore.ErrNotFound)
	}
	return sess, nil
}

// Touch rewrites LastSeen and ExpiresAt of a live session in place and
// moves its Redis expiry and index score with them.
func (s *Store) Touch(ctx context.Context, key string, lastSeen, expiresAt time.Time) error {
	if key == "" {
		return fmt.Errorf("redisstore: touch: %w", sessionstore.ErrNotFound)
	}
	now := s.now()
	dead := "0"
	if !expiresAt.After(now) {
		dead = "1"
	}
	n, err := touchScript.Run(ctx, s.client, []string{s.sessionKey(key)},
		now.UnixNano(), header(expiresAt, lastSeen), ceilMillis(expiresAt), now.UnixMilli(),
		key, s.indexPrefix(), dead).Int()
	if err != nil {
		return fmt.Errorf("redisstore: touch: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: touch: %w", sessionstore.ErrNotFound)
	}
	return nil
}

// Delete removes the session and its index entry.
func (s *Store) Delete(ctx context.Context, key string) error {
	if key == "" {
		return nil
	}
	err := deleteScript.Run(ctx, s.client, []string{s.sessionKey(key)},
		key, s.indexPrefix(), s.now().UnixMilli()).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	return nil
}

// ListByUser returns the user's live sessions, most recently seen first.
// It reads the user's index (trimming what has expired) and the sessions
// it names in one script.
func (s *Store) ListByUser(ctx context.Context, userID string) ([]*sessionstore.Session, error) {
	now := s.now()
	res, err := listScript.Run(ctx, s.client, []string{s.indexPrefix() + userID},
		now.UnixMilli(), s.prefix+"s:").StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: list by user: %w", err)
	}
	out := make([]*sessionstore.Session, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		sess, err := decode(res[i], []byte(res[i+1]))
		if err != nil {
			return nil, fmt.Errorf("redisstore: list by user: %w", err)
		}
		if sess.UserID != userID || !sess.ExpiresAt.After(now) {
			continue
		}
		out = append(out, sess)
	}
	slices.SortStableFunc(out, func(a, b *sessionstore.Session) int { return b.LastSeen.Compare(a.LastSeen) })
	return out, nil
}

// DeleteByUser removes every session of the user (expired ones too) and
// the user's index, in one script, and returns how many were live.
func (s *Store) DeleteByUser(ctx context.Context, userID string) (int, error) {
	n, err := deleteByUserScript.Run(ctx, s.client, []string{s.indexPrefix() + userID},
		s.now().UnixNano(), s.prefix+"s:", userID).Int()
	if err != nil {
		return 0, fmt.Errorf("redisstore: delete by user: %w", err)
	}
	return n, nil
}

// pxMillis converts a positive ttl to whole milliseconds, at least 1.
func pxMillis(ttl time.Duration) int64 {
	ms := int64(math.Ceil(float64(ttl) / float64(time.Millisecond)))
	return max(ms, 1)
}

// ClaimRefresh sets the token's coordination record to "claimed by owner"
// when the key is free, or renews owner's own claim, in one script: exactly
// one owner holds it while a claim or result lives.
func (s *Store) ClaimRefresh(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if key == "" {
		return false, errors.New("redisstore: claim refresh: empty key")
	}
	if owner == "" {
		return false, errors.New("redisstore: claim refresh: empty owner")
	}
	if ttl <= 0 {
		return false, fmt.Errorf("redisstore: claim refresh: ttl %v is not positive", ttl)
	}
	n, err := claimScript.Run(ctx, s.client, []string{s.refreshKey(key)}, "c"+owner, pxMillis(ttl)).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore: claim refresh: %w", err)
	}
	return n == 1, nil
}

// SetRefreshResult stores result under key for ttl (SET PX), replacing a
// claim or an earlier result.
func (s *Store) SetRefreshResult(ctx context.Context, key string, result []byte, ttl time.Duration) error {
	if key == "" {
		return errors.New("redisstore: set refresh result: empty key")
	}
	if ttl <= 0 {
		return fmt.Errorf("redisstore: set refresh result: ttl %v is not positive", ttl)
	}
	v := make([]byte, 0, len(result)+1)
	v = append(append(v, 'r'), result...)
	if err := s.client.Set(ctx, s.refreshKey(key), v, time.Duration(pxMillis(ttl))*time.Millisecond).Err(); err != nil {
		return fmt.Errorf("redisstore: set refresh result: %w", err)
	}
	return nil
}

// GetRefreshResult returns the stored result, or ErrNotFound (also while
// the token is only claimed).
func (s *Store) GetRefreshResult(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, fmt.Errorf("redisstore: get refresh result: %w", sessionstore.ErrNotFound)
	}
	v, err := s.client.Get(ctx, s.refreshKey(key)).Bytes()
	if errors.Is(err, redis.Nil) || (err == nil && (len(v) == 0 || v[0] != 'r')) {
		return nil, fmt.Errorf("redisstore: get refresh result: %w", sessionstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get refresh result: %w", err)
	}
	return v[1:], nil
}

// globEscape quotes the glob metacharacters of s for SCAN MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// scan calls fn with every batch of keys matching prefix*.
func (s *Store) scan(ctx context.Context, prefix string, fn func(keys []string) error) error {
	var cursor uint64
	for {
		keys, next, err := s.client.Scan(ctx, cursor, globEscape(prefix)+"*", 1000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := fn(keys); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// CountAll returns how many session records are stored (Redis removes
// expired ones itself, so these are live or about to be removed). It scans
// the keyspace: for tests and tools, not for request paths.
func (s *Store) CountAll(ctx context.Context) (int, error) {
	n := 0
	err := s.scan(ctx, s.prefix+"s:", func(keys []string) error { n += len(keys); return nil })
	if err != nil {
		return 0, fmt.Errorf("redisstore: count: %w", err)
	}
	return n, nil
}

// DeleteExpired removes every session whose ExpiresAt is at or before now,
// and every refresh record whose lifetime ends by then; it returns how many
// sessions it removed.
//
// Redis already deletes sessions and refresh records when their own expiry
// passes, so nothing calls this on a request path and the store runs no
// collector of its own. It exists for the conformance suite and for tools
// that want to end sessions ahead of time (now in the future). It scans the
// user indexes (whose scores are the expiries) and the refresh records.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	total := 0
	ip := s.indexPrefix()
	err := s.scan(ctx, ip, func(keys []string) error {
		for _, idx := range keys {
			n, err := collectScript.Run(ctx, s.client, []string{idx},
				now.UnixNano(), ceilMillis(now), s.prefix+"s:", strings.TrimPrefix(idx, ip), now.UnixMilli()).Int()
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("redisstore: delete expired sessions: %w", err)
	}
	// A refresh record is due when its remaining lifetime ends by now.
	horizon := now.Sub(s.now()).Milliseconds()
	err = s.scan(ctx, s.prefix+"r:", func(keys []string) error {
		return expireDueScript.Run(ctx, s.client, keys, horizon).Err()
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return total, fmt.Errorf("redisstore: delete expired refresh records: %w", err)
	}
	return total, nil
}

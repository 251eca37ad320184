// Command storebench measures the app kit's session stores at scale: lookups/s
// with p50 and p99, and memory per session, for N live sessions (issue 6's
// BENCHMARKS.md rows; method of ../../../shared/anchors/RESULTS.md §4).
//
// Every session is what appkit stores after a real login: the claims are
// the access token's payload byte for byte and the token is an ES256 JWS
// (~600 B). The template comes from a real Gatehouse IdP login in this
// process; each session gets its own user, jti, times and a real signature
// from a test key. Store keys are the hex SHA-256 of a random 256-bit id,
// as appkit computes them.
//
// The run: load N sessions through the store's own Put (c workers), measure
// memory (memory store: Go heap after GC; Redis: used_memory; PostgreSQL:
// pg_total_relation_size after VACUUM; SQLite: file size after a WAL
// checkpoint; each minus the value before the load, divided by N), then
// one unmeasured warm-up round and `rounds` rounds of d each, c closed-loop
// goroutines calling Get with uniformly random existing keys. With -store redis, each round also runs a
// raw go-redis GET of the same keys on the same client (same pool) and the
// order alternates between rounds, so the store/raw ratio is taken within a
// round.
//
// Output: Markdown table rows on stdout; progress on stderr. The package
// owns the benchmark program only; it changes nothing in the packages it
// measures.
package main

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/bench/internal/benchenv"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/pgstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/redisstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/sqlitestore"
)

// pgDatabase is the database storebench creates (and drops) on the server
// named by -postgres, so the measured relation sizes are its own.
const pgDatabase = "gatehouse_storebench"

type options struct {
	kind       string
	n, c       int
	d          time.Duration
	rounds     int
	pgURL      string
	redisURL   string
	flushRedis bool
	dir        string
	idle       time.Duration
	small      bool
	quiet      float64
}

func main() {
	var o options
	flag.StringVar(&o.kind, "store", "memory", "memory, sqlite, postgres or redis")
	flag.IntVar(&o.n, "n", 1000000, "live sessions to load")
	flag.IntVar(&o.c, "c", 16, "concurrent goroutines (load and lookups); also the SQLite read pool, PostgreSQL and Redis pool size")
	flag.DurationVar(&o.d, "d", 5*time.Second, "duration of each lookup round")
	flag.IntVar(&o.rounds, "rounds", 5, "lookup rounds")
	flag.StringVar(&o.pgURL, "postgres", os.Getenv("GATEHOUSE_TEST_POSTGRES"), "PostgreSQL superuser URL (-store postgres); a database "+pgDatabase+" is created and dropped on it")
	flag.StringVar(&o.redisURL, "redis", os.Getenv("GATEHOUSE_TEST_REDIS"), "Redis URL (-store redis); its database must be empty unless -flush")
	flag.BoolVar(&o.flushRedis, "flush", false, "FLUSHDB the Redis database before and after the run")
	flag.StringVar(&o.dir, "dir", "", "directory for the SQLite file (default: a temporary directory, removed afterwards)")
	flag.DurationVar(&o.idle, "idle", 2*time.Hour, "sessions' ExpiresAt is this far after their creation (long enough that none expires during the run)")
	flag.BoolVar(&o.small, "small-token", false, "drop the optional claims (applicationId, authenticationType, sid, roles, header gty) from the IdP's token: ~600 B instead of ~830 B")
	flag.Float64Var(&o.quiet, "wait-load", 0, "before the lookup rounds, wait (30 s polls, at most 10 min) until the 1-minute load average is below this (0: do not wait)")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		log.Fatal(err)
	}
}

// target is one store under test plus what the run needs to measure it.
type target struct {
	st sessionstore.Store
	// footprint returns the bytes the store occupies now (see package doc).
	footprint func(ctx context.Context) (int64, string, error)
	// raw is a baseline lookup for the same key (Redis only), or nil.
	raw     func(ctx context.Context, key string) error
	cleanup func()
}

func run(ctx context.Context, o options) error {
	if o.n <= 0 || o.c <= 0 || o.rounds <= 0 {
		return errors.New("-n, -c and -rounds must be positive")
	}
	benchenv.Logf("storebench: %s, %d sessions, %d goroutines, %d×%v; load average %s", o.kind, o.n, o.c, o.rounds, o.d, benchenv.LoadAvg())
	tok, err := realToken(ctx)
	if err != nil {
		return fmt.Errorf("template token: %w", err)
	}
	f, err := newFactory(tok, o.idle, o.small)
	if err != nil {
		return err
	}
	benchenv.Logf("template: IdP access token %d B (real login, ES256); generated claims %d B", len(tok), len(f.payload))

	t, err := open(ctx, o)
	if err != nil {
		return err
	}
	defer t.cleanup()

	// Allocated before the "before" measurement: the digests are the
	// benchmark's, not the store's.
	digests := make([][32]byte, o.n)
	before, _, err := t.footprint(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	var tokenBytes, claimBytes atomic.Int64
	if err := parallel(o.c, o.n, func(i int) error {
		s, d, err := f.make(i, time.Now())
		if err != nil {
			return err
		}
		digests[i] = d
		if i < 1000 {
			tokenBytes.Add(int64(len(s.AccessToken)))
			claimBytes.Add(int64(len(s.Claims)))
		}
		if err := t.st.Put(ctx, s); err != nil {
			return fmt.Errorf("put session %d: %w", i, err)
		}
		if i > 0 && i%100000 == 0 {
			benchenv.Logf("loaded %d (%.0f/s)", i, float64(i)/time.Since(start).Seconds())
		}
		return nil
	}); err != nil {
		return err
	}
	loadTime := time.Since(start)
	sample := min(o.n, 1000)
	benchenv.Logf("loaded %d sessions in %v (%.0f/s, token signing included); access token %.0f B, claims %.0f B on average",
		o.n, loadTime.Round(time.Second), float64(o.n)/loadTime.Seconds(),
		float64(tokenBytes.Load())/float64(sample), float64(claimBytes.Load())/float64(sample))
	if c, ok := t.st.(interface {
		CountAll(context.Context) (int, error)
	}); ok {
		n, err := c.CountAll(ctx)
		if err != nil {
			return fmt.Errorf("count: %w", err)
		}
		if n != o.n {
			return fmt.Errorf("store holds %d sessions after loading %d", n, o.n)
		}
	}
	after, detail, err := t.footprint(ctx)
	if err != nil {
		return err
	}
	perSession := float64(after-before) / float64(o.n)
	benchenv.Logf("memory: %.0f B per session (%s)", perSession, detail)
	runtime.KeepAlive(digests)

	get := func(ctx context.Context, key string) error {
		s, err := t.st.Get(ctx, key)
		if err != nil {
			return err
		}
		if s.Key != key || s.AccessToken == "" {
			return fmt.Errorf("get %s: wrong session", key)
		}
		return nil
	}
	benchenv.WaitQuiet(o.quiet, 10*time.Minute)
	// One unmeasured round first: it brings the stores' pages into the
	// caches (SQLite's and PostgreSQL's files, pools' connections).
	if w := lookups(ctx, o, digests, get); w.errors > 0 {
		return fmt.Errorf("warm-up: %d lookup errors", w.errors)
	}
	var rates, p50s, p99s, rawRates, rawP50s, rawP99s, ratios []float64
	loadStart := benchenv.LoadAvg()
	for r := range o.rounds {
		var res, raw result
		if t.raw != nil && r%2 == 0 {
			raw = lookups(ctx, o, digests, t.raw)
		}
		res = lookups(ctx, o, digests, get)
		if t.raw != nil && r%2 == 1 {
			raw = lookups(ctx, o, digests, t.raw)
		}
		if res.errors > 0 || raw.errors > 0 {
			return fmt.Errorf("round %d: %d lookup errors (raw: %d)", r+1, res.errors, raw.errors)
		}
		rates, p50s, p99s = append(rates, res.rate), append(p50s, res.p50), append(p99s, res.p99)
		msg := fmt.Sprintf("round %d: store %.0f/s p50 %.1f µs p99 %.1f µs", r+1, res.rate, res.p50, res.p99)
		if t.raw != nil {
			rawRates, rawP50s, rawP99s = append(rawRates, raw.rate), append(rawP50s, raw.p50), append(rawP99s, raw.p99)
			ratios = append(ratios, res.rate/raw.rate)
			msg += fmt.Sprintf("; raw GET %.0f/s p50 %.1f µs p99 %.1f µs; store/raw %.3f", raw.rate, raw.p50, raw.p99, res.rate/raw.rate)
		}
		benchenv.Logf("%s", msg)
	}
	la := loadStart + " → " + benchenv.LoadAvg()
	fmt.Printf("| store | sessions | lookups/s | p50 µs | p99 µs | bytes per session | load | load average |\n|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %s | %d | %s | %s | %s | %.0f | %v | %s |\n", o.kind, o.n, stat(rates, "%.0f"), stat(p50s, "%.1f"), stat(p99s, "%.1f"),
		perSession, loadTime.Round(time.Second), la)
	if t.raw != nil {
		fmt.Printf("| raw go-redis GET (same run, same client) | %d | %s | %s | %s | — | — | |\n", o.n, stat(rawRates, "%.0f"), stat(rawP50s, "%.1f"), stat(rawP99s, "%.1f"))
		fmt.Printf("\nstore/raw lookups/s, per round: %s\n", stat(ratios, "%.3f"))
	}
	fmt.Printf("\nmemory: %s\n", detail)
	return nil
}

// stat formats the median (min–max) of xs.
func stat(xs []float64, f string) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s[len(s)/2], s[0], s[len(s)-1])
}

// parallel calls fn(i) for i in [0,n) from c goroutines and returns the
// first error.
func parallel(c, n int, fn func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

type result struct {
	rate, p50, p99 float64 // per second; microseconds
	errors         int64
}

// lookups runs o.c closed-loop goroutines for o.d, each calling get with
// the key of a uniformly random loaded session.
func lookups(ctx context.Context, o options, digests [][32]byte, get func(context.Context, string) error) result {
	hs := make([]hist, o.c)
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(o.d)
	for w := range o.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			h := &hs[w]
			var buf [64]byte
			for {
				t := time.Now()
				if !t.Before(stop) {
					return
				}
				hex.Encode(buf[:], digests[rng.IntN(len(digests))][:])
				if err := get(ctx, string(buf[:])); err != nil {
					if errs.Add(1) == 1 {
						benchenv.Logf("lookup error: %v", err)
					}
					continue
				}
				h.record(time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all hist
	for i := range hs {
		all.merge(&hs[i])
	}
	return result{rate: float64(all.n) / elapsed.Seconds(), p50: float64(all.quantile(0.5)) / 1e3,
		p99: float64(all.quantile(0.99)) / 1e3, errors: errs.Load()}
}

func open(ctx context.Context, o options) (*target, error) {
	switch o.kind {
	case "memory":
		st := memstore.New(memstore.Config{})
		return &target{st: st, footprint: heapBytes, cleanup: func() { st.Close() }}, nil
	case "sqlite":
		return openSQLite(ctx, o)
	case "postgres":
		return openPostgres(ctx, o)
	case "redis":
		return openRedis(ctx, o)
	}
	return nil, fmt.Errorf("unknown -store %q", o.kind)
}

// heapBytes is the live Go heap after two full collections.
func heapBytes(context.Context) (int64, string, error) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc), fmt.Sprintf("Go heap after GC %d MB, heap objects %d, process Sys %d MB",
		m.HeapAlloc>>20, m.HeapObjects, m.Sys>>20), nil
}

func openSQLite(ctx context.Context, o options) (*target, error) {
	dir, cleanup := o.dir, func() {}
	if dir == "" {
		d, err := os.MkdirTemp("", "storebench")
		if err != nil {
			return nil, err
		}
		dir, cleanup = d, func() { os.RemoveAll(d) }
	}
	path := filepath.Join(dir, "sessions.db")
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
	st, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path, ReadConns: o.c})
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	// A connection of our own, for checkpoints and sizes only.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		st.Close()
		cleanup()
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &target{st: st, cleanup: func() { db.Close(); st.Close(); cleanup() },
		footprint: func(ctx context.Context) (int64, string, error) {
			if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				return 0, "", fmt.Errorf("checkpoint: %w", err)
			}
			var pages, size, free int64
			for q, dst := range map[string]*int64{"PRAGMA page_count": &pages, "PRAGMA page_size": &size, "PRAGMA freelist_count": &free} {
				if err := db.QueryRowContext(ctx, q).Scan(dst); err != nil {
					return 0, "", fmt.Errorf("%s: %w", q, err)
				}
			}
			var total int64
			for _, p := range []string{path, path + "-wal"} {
				if fi, err := os.Stat(p); err == nil {
					total += fi.Size()
				}
			}
			return total, fmt.Sprintf("SQLite file %d MB after wal_checkpoint(TRUNCATE) (%d pages of %d B, %d free)",
				total>>20, pages, size, free), nil
		}}, nil
}

func openPostgres(ctx context.Context, o options) (*target, error) {
	if o.pgURL == "" {
		return nil, errors.New("-store postgres needs -postgres or GATEHOUSE_TEST_POSTGRES")
	}
	admin, err := pgx.Connect(ctx, o.pgURL)
	if err != nil {
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{"DROP DATABASE IF EXISTS " + pgDatabase, "CREATE DATABASE " + pgDatabase} {
		if _, err := admin.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	var version string
	_ = admin.QueryRow(ctx, "SHOW server_version").Scan(&version)
	var sb string
	_ = admin.QueryRow(ctx, "SHOW shared_buffers").Scan(&sb)
	benchenv.Logf("PostgreSQL %s, shared_buffers %s", version, sb)
	u, err := url.Parse(o.pgURL)
	if err != nil {
		return nil, errors.New("invalid -postgres URL")
	}
	u.Path = "/" + pgDatabase
	connURL := u.String() // for our own connection: pgx.Connect refuses pool settings
	q := u.Query()
	q.Set("pool_max_conns", strconv.Itoa(o.c))
	u.RawQuery = q.Encode()
	dbURL := u.String()
	drop := func() {
		c, err := pgx.Connect(context.Background(), o.pgURL)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgDatabase+" WITH (FORCE)")
			c.Close(context.Background())
		}
	}
	st, err := pgstore.Open(ctx, pgstore.Config{URL: dbURL})
	if err != nil {
		drop()
		return nil, fmt.Errorf("open pgstore: %w", err)
	}
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		st.Close()
		drop()
		return nil, err
	}
	return &target{st: st, cleanup: func() { conn.Close(context.Background()); st.Close(); drop() },
		footprint: func(ctx context.Context) (int64, string, error) {
			if _, err := conn.Exec(ctx, "VACUUM ANALYZE gatehouse_sessions"); err != nil {
				return 0, "", fmt.Errorf("vacuum: %w", err)
			}
			var total, heap, toast, idx int64
			err := conn.QueryRow(ctx, `SELECT pg_total_relation_size('gatehouse_sessions'),
				pg_relation_size('gatehouse_sessions'),
				COALESCE(pg_total_relation_size(NULLIF(reltoastrelid, 0)), 0),
				pg_indexes_size('gatehouse_sessions')
				FROM pg_class WHERE oid = 'gatehouse_sessions'::regclass`).Scan(&total, &heap, &toast, &idx)
			if err != nil {
				return 0, "", fmt.Errorf("relation sizes: %w", err)
			}
			var pk, user, exp int64
			err = conn.QueryRow(ctx, `SELECT pg_relation_size('gatehouse_sessions_pkey'),
				pg_relation_size('gatehouse_sessions_user'), pg_relation_size('gatehouse_sessions_expires')`).Scan(&pk, &user, &exp)
			if err != nil {
				return 0, "", fmt.Errorf("index sizes: %w", err)
			}
			return total, fmt.Sprintf("pg_total_relation_size %d MB after VACUUM ANALYZE: heap %d MB, TOAST %d MB, indexes %d MB (primary key %d MB, user %d MB, expiry %d MB)",
				total>>20, heap>>20, toast>>20, idx>>20, pk>>20, user>>20, exp>>20), nil
		}}, nil
}

func openRedis(ctx context.Context, o options) (*target, error) {
	if o.redisURL == "" {
		return nil, errors.New("-store redis needs -redis or GATEHOUSE_TEST_REDIS")
	}
	ro, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return nil, errors.New("invalid -redis URL")
	}
	ro.PoolSize = o.c
	ro.MinIdleConns = o.c
	client := redis.NewClient(ro)
	if o.flushRedis {
		if err := client.FlushDB(ctx).Err(); err != nil {
			client.Close()
			return nil, fmt.Errorf("flushdb: %w", err)
		}
	}
	if n, err := client.DBSize(ctx).Result(); err != nil || n != 0 {
		client.Close()
		return nil, fmt.Errorf("redis database not empty (%d keys, err %v): use an empty one or -flush", n, err)
	}
	info, _ := client.Info(ctx, "server").Result()
	benchenv.Logf("Redis %s, pool %d", infoField(info, "redis_version"), ro.PoolSize)
	st, err := redisstore.Open(ctx, redisstore.Config{Client: client})
	if err != nil {
		client.Close()
		return nil, err
	}
	prefix := redisstore.DefaultPrefix + "s:"
	cleanup := func() {
		if o.flushRedis {
			client.FlushDB(context.Background())
		}
		client.Close()
	}
	return &target{st: st, cleanup: cleanup,
		raw: func(ctx context.Context, key string) error {
			_, err := client.Get(ctx, prefix+key).Bytes()
			return err
		},
		footprint: func(ctx context.Context) (int64, string, error) {
			info, err := client.Info(ctx, "memory").Result()
			if err != nil {
				return 0, "", fmt.Errorf("INFO memory: %w", err)
			}
			used, err := strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
			if err != nil {
				return 0, "", fmt.Errorf("used_memory: %w", err)
			}
			keys, _ := client.DBSize(ctx).Result()
			var sample string
			if k, err := client.RandomKey(ctx).Result(); err == nil && strings.HasPrefix(k, prefix) {
				n, _ := client.StrLen(ctx, k).Result()
				u, _ := client.MemoryUsage(ctx, k).Result()
				sample = fmt.Sprintf(", a session value: %d B (MEMORY USAGE of its key %d B)", n, u)
			}
			return used, fmt.Sprintf("Redis used_memory %d MB, used_memory_rss %s MB, %d keys (session + per-user index)%s",
				used>>20, mb(infoField(info, "used_memory_rss")), keys, sample), nil
		}}, nil
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return v
		}
	}
	return ""
}

func mb(s string) string {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return "?"
	}
	return strconv.FormatInt(n>>20, 10)
}

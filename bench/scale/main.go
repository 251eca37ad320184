// Command scale measures whether a refresh gets slower as the IdP store
// fills up: the p99 of refresh grants over loopback HTTP with a large number
// of refresh tokens stored (default 10,000,000) against the same with a
// small number (default 10,000), in one run with alternating rounds (issue
// 6's goal: large p99 at most 2× small p99).
//
// Each size gets its own database, built in two steps:
//
//  1. The real code path: sqlite.Open (or postgres.Open) creates the
//     schema; an in-process IdP creates the application, the benchmark
//     users and one template user, who logs in and refreshes once over
//     HTTP, so the database holds one real family and one real rotation
//     record written by the IdP itself.
//  2. Bulk load, directly through SQL: copies of those template rows with
//     fresh random ids (uuid v4), 32-byte random token hashes and times
//     spread over the last 29 days (within the 30-day refresh lifetime, so
//     none expires), one user (and registration) per -per-user families,
//     one rotation record per family (-rotations), as prepared multi-row
//     INSERTs of -stmt-rows rows in transactions of -tx-rows rows.
//
// Then both IdPs run in this process, each on its own loopback port over
// its own database, the benchmark users log in through the password grant
// (these are the families the load refreshes), and -c closed-loop clients
// per round refresh with one-time-use rotation, as bench/idpbench does.
// Rounds alternate small, large, small, large, ... and the p99 ratio is
// taken within each round.
//
// With -dir and -keep the databases (and a small JSON file describing each)
// stay, and -reuse measures them again without loading. -load-only stops
// after loading, to time a load. -load-budget ends a load early (at a
// transaction boundary): the database then holds the largest number of
// families that loaded in that time, and every report says how many.
//
// The package owns the benchmark program only; it changes nothing in the
// packages it measures.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/bench/internal/benchenv"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the bulk loader
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", for the bulk loader

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/postgres"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/password"
)

type options struct {
	kind         string
	pgURL        string
	dir          string
	keep, reuse  bool
	loadOnly     bool
	small, large int
	c            int
	d            time.Duration
	rounds       int
	perUser      int
	rotations    bool
	txRows       int
	stmtRows     int
	cacheMB      int
	cpuprofile   string
	quiet        float64
	budget       time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.kind, "store", "sqlite", "sqlite or postgres")
	flag.StringVar(&o.pgURL, "postgres", os.Getenv("GATEHOUSE_TEST_POSTGRES"), "PostgreSQL superuser URL (-store postgres); databases gatehouse_scale_<N> are created on it")
	flag.StringVar(&o.dir, "dir", "", "directory for the SQLite files and the description files (default: a temporary directory)")
	flag.BoolVar(&o.keep, "keep", false, "keep the databases after the run (with -dir)")
	flag.BoolVar(&o.reuse, "reuse", false, "measure databases a previous -keep run left, without loading")
	flag.BoolVar(&o.loadOnly, "load-only", false, "load the databases and stop")
	flag.IntVar(&o.small, "small", 10000, "refresh-token families stored in the small database (0: none)")
	flag.IntVar(&o.large, "large", 10000000, "refresh-token families stored in the large database (0: none)")
	flag.IntVar(&o.c, "c", 16, "concurrent refresh clients (each its own user and family)")
	flag.DurationVar(&o.d, "d", 10*time.Second, "duration of each round, per database")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds")
	flag.IntVar(&o.perUser, "per-user", 10, "bulk families per bulk user")
	flag.BoolVar(&o.rotations, "rotations", true, "one rotation record (a retired token) per bulk family")
	flag.IntVar(&o.txRows, "tx-rows", 50000, "rows per bulk-load transaction")
	flag.IntVar(&o.stmtRows, "stmt-rows", 100, "rows per bulk INSERT statement")
	flag.IntVar(&o.cacheMB, "cache-mb", 2048, "SQLite page cache of the bulk loader's connection, MB")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.DurationVar(&o.budget, "load-budget", 0, "stop a bulk load at the first transaction boundary after this long (0: no limit); the database then holds fewer families, as reported")
	flag.Float64Var(&o.quiet, "wait-load", 0, "before the measured rounds, wait (30 s polls, at most 10 min) until the 1-minute load average is below this (0: do not wait)")
	flag.Parse()
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), o); err != nil {
		pprof.StopCPUProfile()
		log.Fatal(err)
	}
}

const benchPassword = "benchmark user passphrase"

// meta describes a loaded database, so -reuse can measure it again.
type meta struct {
	Families    int      `json:"families"`
	Rows        int64    `json:"refreshTokenRows"`
	AppID       string   `json:"appId"`
	Secret      string   `json:"secret"`
	Emails      []string `json:"emails"`
	LoadSeconds float64  `json:"loadSeconds"`
	Bytes       int64    `json:"bytes"`
}

// db is one database under test.
type db struct {
	o    options
	n    int
	path string // SQLite file
	url  string // PostgreSQL database URL
	name string // PostgreSQL database name
}

func (d *db) metaPath() string {
	return filepath.Join(d.o.dir, fmt.Sprintf("%s-%d.json", d.o.kind, d.n))
}

func (d *db) openStore(ctx context.Context) (store.Store, error) {
	quiet := slog.New(slog.DiscardHandler)
	if d.o.kind == "postgres" {
		return postgres.Open(ctx, postgres.Config{URL: d.url + "&pool_max_conns=16", Logger: quiet})
	}
	return sqlite.Open(ctx, sqlite.Config{Path: d.path, Logger: quiet})
}

// sqlDB opens a plain database/sql handle for the bulk loader.
func (d *db) sqlDB() (*sql.DB, dialect, error) {
	if d.o.kind == "postgres" {
		h, err := sql.Open("pgx", d.url)
		return h, postgresDialect, err
	}
	dsn := fmt.Sprintf("%s?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=cache_size(%d)", d.path, -d.o.cacheMB*1024)
	h, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, sqliteDialect, err
	}
	h.SetMaxOpenConns(1) // pragmas below are per connection
	h.SetConnMaxIdleTime(0)
	h.SetConnMaxLifetime(0)
	return h, sqliteDialect, nil
}

// size is the database's size on disk.
func (d *db) size(ctx context.Context) int64 {
	if d.o.kind == "postgres" {
		c, err := pgx.Connect(ctx, d.url)
		if err != nil {
			return 0
		}
		defer c.Close(ctx)
		var n int64
		_ = c.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
		return n
	}
	var n int64
	for _, p := range []string{d.path, d.path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// server is an IdP running on a database.
type server struct {
	st   store.Store
	srv  *idp.Server
	hs   *http.Server
	base string
}

func startServer(ctx context.Context, st store.Store) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	base := "http://" + ln.Addr().String()
	srv, err := idp.New(ctx, idp.Config{Store: st, Issuer: base, Hasher: password.NewHasher(password.Params{}),
		Logger: slog.New(slog.DiscardHandler), SigningAlgorithm: "ES256",
		Throttle: idp.ThrottlePolicy{Disabled: true}, Lockout: idp.LockoutPolicy{Disabled: true}})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("start idp: %w", err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	return &server{st: st, srv: srv, hs: hs, base: base}, nil
}

func (s *server) close() {
	s.hs.Close()
	s.st.Close()
}

// client posts to the token endpoint of one server.
type client struct {
	hc          *http.Client
	base        string
	app, secret string
}

func (c *client) token(v url.Values) (map[string]any, error) {
	v.Set("client_id", c.app)
	v.Set("client_secret", c.secret)
	resp, err := c.hc.PostForm(c.base+"/oauth2/token", v)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func (c *client) login(email string) (string, error) {
	m, err := c.token(url.Values{"grant_type": {"password"}, "username": {email}, "password": {benchPassword}, "scope": {"offline_access"}})
	if err != nil {
		return "", fmt.Errorf("login %s: %w", email, err)
	}
	rt, _ := m["refresh_token"].(string)
	if rt == "" {
		return "", fmt.Errorf("login %s: no refresh token", email)
	}
	return rt, nil
}

func (c *client) refresh(rt string) (string, error) {
	m, err := c.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if err != nil {
		return "", err
	}
	next, _ := m["refresh_token"].(string)
	if next == "" {
		return "", errors.New("refresh: no refresh token in the answer")
	}
	return next, nil
}

func newClient(base, app, secret string, c int) *client {
	return &client{hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c * 2}, Timeout: 30 * time.Second},
		base: base, app: app, secret: secret}
}

func run(ctx context.Context, o options) error {
	if o.c <= 0 || o.rounds <= 0 || o.perUser <= 0 || o.txRows <= 0 || o.stmtRows <= 0 {
		return errors.New("-c, -rounds, -per-user, -tx-rows and -stmt-rows must be positive")
	}
	if o.kind != "sqlite" && o.kind != "postgres" {
		return fmt.Errorf("unknown -store %q", o.kind)
	}
	if o.kind == "postgres" && o.pgURL == "" {
		return errors.New("-store postgres needs -postgres or GATEHOUSE_TEST_POSTGRES")
	}
	if o.dir == "" {
		if o.reuse || o.keep {
			return errors.New("-reuse and -keep need -dir")
		}
		d, err := os.MkdirTemp("", "scalebench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	benchenv.Logf("scale: %s, families %d and %d, %d clients, %d rounds × %v per size; load average %s", o.kind, o.small, o.large, o.c, o.rounds, o.d, benchenv.LoadAvg())
	var dbs []*db
	for _, n := range []int{o.small, o.large} {
		if n <= 0 {
			continue
		}
		d := &db{o: o, n: n, path: filepath.Join(o.dir, fmt.Sprintf("idp-%d.db", n)), name: fmt.Sprintf("gatehouse_scale_%d", n)}
		if o.kind == "postgres" {
			u, err := url.Parse(o.pgURL)
			if err != nil {
				return errors.New("invalid -postgres URL")
			}
			u.Path = "/" + d.name
			q := u.Query()
			if q.Get("sslmode") == "" {
				q.Set("sslmode", "disable")
			}
			u.RawQuery = q.Encode()
			d.url = u.String()
		}
		dbs = append(dbs, d)
	}
	metas := make([]*meta, len(dbs))
	for i, d := range dbs {
		var err error
		if o.reuse {
			metas[i], err = readMeta(d.metaPath())
		} else {
			metas[i], err = prepare(ctx, d)
		}
		if err != nil {
			return fmt.Errorf("%d families: %w", d.n, err)
		}
		if !o.keep && !o.reuse {
			defer d.remove()
		}
		benchenv.Logf("database for -%d: %d bulk families, %d refresh_tokens rows, %d MB, loaded in %.0f s",
			d.n, metas[i].Families, metas[i].Rows, metas[i].Bytes>>20, metas[i].LoadSeconds)
	}
	if o.loadOnly {
		printMeta(dbs, metas)
		return nil
	}

	// Start an IdP on every database and log the benchmark users in
	// through the password grant: the families the load refreshes.
	var targets []*target
	for i, d := range dbs {
		st, err := d.openStore(ctx)
		if err != nil {
			return fmt.Errorf("%d families: open store: %w", d.n, err)
		}
		srv, err := startServer(ctx, st)
		if err != nil {
			st.Close()
			return err
		}
		defer srv.close()
		t := &target{d: d, srv: srv, cl: newClient(srv.base, metas[i].AppID, metas[i].Secret, o.c)}
		for w := range o.c {
			rt, err := t.cl.login(metas[i].Emails[w])
			if err != nil {
				return fmt.Errorf("%d families: %w", d.n, err)
			}
			t.rts = append(t.rts, rt)
		}
		// One warm-up second, not measured.
		load(o.c, time.Second, func(w int) error { return t.step(w) })
		targets = append(targets, t)
	}

	benchenv.WaitQuiet(o.quiet, 10*time.Minute)
	benchenv.Logf("measuring; load average %s", benchenv.LoadAvg())
	type stats struct{ rate, p50, p99 []float64 }
	res := make([]stats, len(targets))
	var ratios []float64
	for r := range o.rounds {
		var p99 [2]float64
		for i, t := range targets {
			s := load(o.c, o.d, t.step)
			if s.errors > 0 {
				return fmt.Errorf("round %d, %d families: %d refresh errors", r+1, t.d.n, s.errors)
			}
			res[i].rate = append(res[i].rate, s.rate)
			res[i].p50 = append(res[i].p50, s.p50)
			res[i].p99 = append(res[i].p99, s.p99)
			if i < 2 {
				p99[i] = s.p99
			}
			benchenv.Logf("round %d, %d families: %.0f refreshes/s, p50 %.2f ms, p99 %.2f ms", r+1, t.d.n, s.rate, s.p50, s.p99)
		}
		if len(targets) == 2 {
			ratios = append(ratios, p99[1]/p99[0])
			benchenv.Logf("round %d: p99 ratio large/small %.2f", r+1, p99[1]/p99[0])
		}
	}
	fmt.Printf("| store | families stored | refreshes/s | p50 ms | p99 ms | database size |\n|---|---|---|---|---|---|\n")
	for i, t := range targets {
		fmt.Printf("| %s | %d | %s | %s | %s | %d MB |\n", o.kind, metas[i].Rows, stat(res[i].rate, "%.0f"), stat(res[i].p50, "%.2f"),
			stat(res[i].p99, "%.2f"), t.d.size(ctx)>>20)
	}
	if len(ratios) > 0 {
		fmt.Printf("\np99 large/small, per round: %s\n", stat(ratios, "%.2f"))
	}
	printMeta(dbs, metas)
	fmt.Printf("load average at the end: %s\n", benchenv.LoadAvg())
	return nil
}

func printMeta(dbs []*db, metas []*meta) {
	for i, d := range dbs {
		fmt.Printf("load of %d bulk families (asked: %d): %.0f s (%.0f families/s), %d refresh_tokens rows, %d MB\n",
			metas[i].Families, d.n, metas[i].LoadSeconds, float64(metas[i].Families)/max(metas[i].LoadSeconds, 1e-9), metas[i].Rows, metas[i].Bytes>>20)
	}
}

// prepare builds one database (see the package doc) and describes it.
func prepare(ctx context.Context, d *db) (*meta, error) {
	if err := d.remove(); err != nil {
		return nil, err
	}
	if d.o.kind == "postgres" {
		c, err := pgx.Connect(ctx, d.o.pgURL)
		if err != nil {
			return nil, fmt.Errorf("connect postgres: %w", err)
		}
		_, err = c.Exec(ctx, "CREATE DATABASE "+d.name)
		c.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("create database: %w", err)
		}
	}
	// Step 1: the real code path.
	st, err := d.openStore(ctx)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	srv, err := startServer(ctx, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	m := &meta{Families: d.n}
	adm := srv.srv.Admin()
	app, secret, err := adm.CreateApplication(ctx, idp.ApplicationSpec{Name: "bench", Config: store.ApplicationConfig{Roles: []string{"customer"}}})
	if err != nil {
		srv.close()
		return nil, fmt.Errorf("create application: %w", err)
	}
	m.AppID, m.Secret = app.ID, secret
	const templateEmail = "template@example.com"
	emails := []string{templateEmail}
	for i := range d.o.c {
		emails = append(emails, fmt.Sprintf("bench%d@example.com", i))
	}
	var templateUser string
	for _, e := range emails {
		u, err := adm.CreateUser(ctx, idp.UserSpec{Email: e, Password: benchPassword, FirstName: "Bench", LastName: "User"})
		if err != nil {
			srv.close()
			return nil, fmt.Errorf("create user: %w", err)
		}
		if _, err := adm.Register(ctx, u.ID, app.ID, []string{"customer"}); err != nil {
			srv.close()
			return nil, fmt.Errorf("register: %w", err)
		}
		if e == templateEmail {
			templateUser = u.ID
		}
	}
	m.Emails = emails[1:]
	cl := newClient(srv.base, app.ID, secret, 1)
	rt, err := cl.login(templateEmail)
	if err == nil {
		_, err = cl.refresh(rt)
	}
	srv.close()
	if err != nil {
		return nil, fmt.Errorf("template login: %w", err)
	}

	// Step 2: bulk load through SQL.
	h, dl, err := d.sqlDB()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if dl.name == "sqlite" {
		// No rollback journal while loading (the file is thrown away if
		// the load fails); back to WAL, the store's mode, afterwards.
		for _, p := range []string{"PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF"} {
			if _, err := h.ExecContext(ctx, p); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
		}
	}
	ph := dl.placeholder(1)
	spec := bulkSpec{families: d.n, perUser: d.o.perUser, rotations: d.o.rotations, txRows: d.o.txRows,
		perStmt: d.o.stmtRows, spread: 29 * 24 * time.Hour}
	if spec.user, err = readTemplate(ctx, h, dl, "users", "id = "+ph, templateUser); err != nil {
		return nil, err
	}
	if spec.reg, err = readTemplate(ctx, h, dl, "registrations", "user_id = "+ph, templateUser); err != nil {
		return nil, err
	}
	if spec.family, err = readTemplate(ctx, h, dl, "refresh_tokens", "user_id = "+ph, templateUser); err != nil {
		return nil, err
	}
	rotTable := map[string]string{"sqlite": "refresh_token_rotations", "postgres": "rotations"}[dl.name]
	famID := spec.family.vals[spec.family.index("id")]
	if spec.rotation, err = readTemplate(ctx, h, dl, rotTable, "family_id = "+ph, famID); err != nil {
		return nil, err
	}
	userBase, _ := dl.timeOf(spec.user.vals[spec.user.index("created_at")])
	famBase, ok := dl.timeOf(spec.family.vals[spec.family.index("created_at")])
	famExp, ok2 := dl.timeOf(spec.family.vals[spec.family.index("expires_at")])
	if !ok || !ok2 || famExp.Sub(famBase) <= spec.spread {
		return nil, fmt.Errorf("template family lives %v, want more than %v", famExp.Sub(famBase), spec.spread)
	}
	spec.user.base, spec.reg.base, spec.family.base, spec.rotation.base = userBase, userBase, famBase, famBase
	start := time.Now()
	spec.progress = func(done int) {
		if step := max(d.n/20, 1); done%step < d.o.txRows {
			el := time.Since(start).Seconds()
			benchenv.Logf("%d families: loaded %d (%.0f/s, %.0f s)", d.n, done, float64(done)/el, el)
		}
	}
	if d.o.budget > 0 {
		spec.deadline = start.Add(d.o.budget)
	}
	loaded, err := bulkLoad(ctx, h, dl, spec)
	if err != nil {
		return nil, fmt.Errorf("bulk load: %w", err)
	}
	if loaded < d.n {
		benchenv.Logf("%d families: load budget %v spent after %d families; measuring with those", d.n, d.o.budget, loaded)
	}
	m.Families = loaded
	if dl.name == "sqlite" {
		if _, err := h.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
			return nil, fmt.Errorf("back to WAL: %w", err)
		}
	} else if _, err := h.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		return nil, fmt.Errorf("vacuum: %w", err)
	}
	m.LoadSeconds = time.Since(start).Seconds()
	if err := h.QueryRowContext(ctx, "SELECT count(*) FROM refresh_tokens").Scan(&m.Rows); err != nil {
		return nil, fmt.Errorf("count: %w", err)
	}
	h.Close()
	m.Bytes = d.size(ctx)
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(d.metaPath(), b, 0o600); err != nil {
		return nil, err
	}
	return m, nil
}

func readMeta(path string) (*meta, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-reuse: %w", err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("-reuse: %s: %w", path, err)
	}
	return &m, nil
}

// remove deletes the database and its description.
func (d *db) remove() error {
	os.Remove(d.metaPath())
	if d.o.kind == "postgres" {
		c, err := pgx.Connect(context.Background(), d.o.pgURL)
		if err != nil {
			return fmt.Errorf("connect postgres: %w", err)
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database: %w", err)
		}
		return nil
	}
	for _, p := range []string{d.path, d.path + "-wal", d.path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// target is one database with its IdP and the benchmark clients' current
// refresh tokens (client w owns rts[w]).
type target struct {
	d   *db
	srv *server
	cl  *client
	rts []string
}

// step is one refresh by client w with its current token.
func (t *target) step(w int) error {
	next, err := t.cl.refresh(t.rts[w])
	if err != nil {
		return err
	}
	t.rts[w] = next
	return nil
}

type result struct {
	rate, p50, p99 float64 // per second; milliseconds
	errors         int64
}

// load runs f from c workers for d and reports throughput and latency (as
// bench/idpbench does).
func load(c int, d time.Duration, f func(worker int) error) result {
	var wg sync.WaitGroup
	var errs atomic.Int64
	lat := make([][]time.Duration, c)
	start := time.Now()
	stop := start.Add(d)
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				t := time.Now()
				if err := f(w); err != nil {
					if errs.Add(1) == 1 {
						benchenv.Logf("error: %s", strings.TrimSpace(err.Error()))
					}
					continue
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return result{errors: max(errs.Load(), 1)}
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(float64(len(all)-1)*p)]) / 1e6 }
	return result{rate: float64(len(all)) / elapsed.Seconds(), p50: pct(0.5), p99: pct(0.99), errors: errs.Load()}
}

// stat formats the median (min–max) of xs.
func stat(xs []float64, f string) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s[len(s)/2], s[0], s[len(s)-1])
}

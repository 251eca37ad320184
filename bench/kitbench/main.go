// Command kitbench measures what the app kit's session middleware costs
// per request, against a same-run baseline (issue 3's BENCHMARKS.md rows).
//
// One process serves the same small HTML page (PageSize bytes) on four
// loopback ports:
//
//	plain       plain net/http
//	scs         alexedwards/scs/v2 LoadAndSave with its memstore, reading one
//	            value from a session created beforehand
//	kit-mem     appkit.RequireLogin with a live session in appkit's memstore
//	kit-sqlite  the same on appkit's SQLite store
//
// The kit's sessions are made by the real flow: a Gatehouse IdP runs in
// this process on a SQLite file, and each kit app logs in once through its
// own login handler (DevMode, plain http on loopback); the cookies it sets
// are then replayed. The load is wrk (a separate process, on the same
// cores, as in ../../../shared/anchors/RESULTS.md): `wrk -t1 -c32 -d10s
// --latency` with a Cookie header per mode, modes alternated within each
// round, so drift hits every mode of a round alike and ratios are taken
// within a round.
//
// Output: a Markdown report on stdout (tables, ratios, goals); progress on
// stderr. With -profile DIR, one extra wrk run per mode after the measured
// rounds writes DIR/<mode>.pprof, a CPU profile of this process (the
// server side only: wrk is another process).
//
// The package owns the benchmark program only; it changes nothing in the
// packages it measures.
package main

import (
	"bufio"
	"bytes"
	"context"
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
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alexedwards/scs/v2"
	scsmem "github.com/alexedwards/scs/v2/memstore"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/sqlitestore"
	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/idpclient"
	"github.com/gatehouse-auth/gatehouse/password"
)

// The benchmark user. The e-mail is what every mode writes into the page,
// so every mode's page has the same size.
const (
	userEmail    = "ann@example.com"
	userPassword = "a long enough benchmark passphrase"
)

// PageSize is the size in bytes of the page every mode serves (as in the
// anchors' HTTP baseline).
const PageSize = 390

func main() {
	rounds := flag.Int("rounds", 5, "rounds; each runs every mode once, in order")
	dur := flag.Duration("d", 10*time.Second, "wrk duration per mode and round")
	conns := flag.Int("c", 32, "wrk connections")
	threads := flag.Int("t", 1, "wrk threads")
	modesFlag := flag.String("modes", "plain,scs,kit-mem,kit-sqlite", "modes to run, in round order (plain must be among them)")
	wrkPath := flag.String("wrk", "wrk", "wrk binary")
	profDir := flag.String("profile", "", "after the rounds, profile one extra run per mode into DIR/<mode>.pprof")
	serveOnly := flag.Bool("serve", false, "set up the servers, print their URLs and Cookie headers, and serve until interrupted (for manual load tests)")
	flag.Parse()

	modes := strings.Split(*modesFlag, ",")
	if !slices.Contains(modes, "plain") {
		log.Fatal("kitbench: -modes must include plain (the baseline)")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kitbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	env, err := setup(ctx, dir, modes)
	if err != nil {
		log.Fatal(err)
	}
	defer env.close()
	if *serveOnly {
		for _, m := range modes {
			t := env.targets[m]
			fmt.Printf("%s\t%s\tCookie: %s\n", m, t.url, t.cookie)
		}
		select {}
	}
	if _, err := exec.LookPath(*wrkPath); err != nil {
		log.Fatalf("kitbench: wrk not found (apt-get install -y wrk): %v", err)
	}

	res := map[string][]wrkResult{}
	var loads []string
	for r := range *rounds {
		loads = append(loads, loadAvg())
		for _, m := range modes {
			wr, err := env.run(*wrkPath, m, *threads, *conns, *dur)
			if err != nil {
				log.Fatalf("kitbench: round %d, %s: %v", r+1, m, err)
			}
			res[m] = append(res[m], wr)
			fmt.Fprintf(os.Stderr, "round %d %-10s %8.0f rps  p50 %.2f ms  p99 %.2f ms  server CPU %.1f µs/request\n", r+1, m, wr.rps, wr.p50, wr.p99, wr.cpuUS)
		}
	}
	loads = append(loads, loadAvg())

	if *rounds > 0 {
		report(os.Stdout, reportInput{
			modes: modes, res: res, loads: loads,
			cmd: fmt.Sprintf("wrk -t%d -c%d -d%s --latency -H 'Cookie: …' URL", *threads, *conns, *dur),
		})
	}

	if *profDir != "" {
		if err := os.MkdirAll(*profDir, 0o755); err != nil {
			log.Fatal(err)
		}
		for _, m := range modes {
			path := filepath.Join(*profDir, m+".pprof")
			if err := env.profile(*wrkPath, m, *threads, *conns, *dur, path); err != nil {
				log.Fatalf("kitbench: profile %s: %v", m, err)
			}
			fmt.Fprintf(os.Stderr, "profile of %s: %s\n", m, path)
		}
	}
}

// target is one mode's server as wrk sees it.
type target struct {
	url    string
	cookie string
	served *atomic.Int64 // pages actually rendered, to catch redirects
}

// env holds every server of one benchmark process.
type env struct {
	targets map[string]target
	closers []func()
}

func (e *env) close() {
	for _, c := range slices.Backward(e.closers) {
		c()
	}
}

// serve starts h on a fresh loopback port and returns its base URL.
func (e *env) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(ln) }()
	e.closers = append(e.closers, func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

// pageHandler writes the benchmark page with name in it and counts it.
func pageHandler(served *atomic.Int64, name func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(renderPage(name(r)))
	})
}

// renderPage returns the PageSize-byte page greeting name (padded or cut
// so that every mode's body is exactly PageSize bytes).
func renderPage(name string) []byte {
	var b bytes.Buffer
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shopping cart</title></head><body><main><h1>Shopping cart</h1><p>Signed in as `)
	b.WriteString(name)
	b.WriteString(`.</p><ul><li>Kettle, 1 × 24.00</li><li>Tea, 2 × 6.50</li></ul><p>Total: 37.00</p>`)
	const tail = `</main></body></html>` + "\n"
	pad := PageSize - b.Len() - len(tail) - len("<!---->")
	if pad >= 0 {
		b.WriteString("<!--" + strings.Repeat(" ", pad) + "-->")
	}
	b.WriteString(tail)
	return b.Bytes()[:min(b.Len(), PageSize)]
}

// setup starts the servers of the requested modes. Every mode gets a
// Cookie header: plain gets the kit's cookies (the same bytes on the wire
// as kit-mem), scs its own session cookie.
func setup(ctx context.Context, dir string, modes []string) (*env, error) {
	e := &env{targets: map[string]target{}}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	quiet := slog.New(slog.DiscardHandler)

	// The identity server, only for the kit modes' logins.
	var ic *idpclient.Client
	needKit := slices.ContainsFunc(modes, func(m string) bool { return strings.HasPrefix(m, "kit-") })
	if needKit {
		var err error
		ic, err = startIdP(ctx, e, dir, quiet)
		if err != nil {
			return nil, err
		}
	}

	for _, m := range modes {
		served := new(atomic.Int64)
		var cookie string
		var afterStart func(base string) (string, error)
		// Every mode routes through a ServeMux, as an app would; the kit
		// modes also mount the login handler on it.
		mux := http.NewServeMux()
		switch m {
		case "plain":
			mux.Handle("GET /{$}", pageHandler(served, func(*http.Request) string { return userEmail }))
		case "scs":
			sm := scs.New()
			sm.Store = scsmem.New()
			// A session created beforehand, as a login would have left it.
			sctx, err := sm.Load(ctx, "")
			if err != nil {
				return nil, fmt.Errorf("scs load: %w", err)
			}
			sm.Put(sctx, "email", userEmail)
			tok, _, err := sm.Commit(sctx)
			if err != nil {
				return nil, fmt.Errorf("scs commit: %w", err)
			}
			cookie = sm.Cookie.Name + "=" + tok
			mux.Handle("GET /{$}", sm.LoadAndSave(pageHandler(served, func(r *http.Request) string { return sm.GetString(r.Context(), "email") })))
		case "kit-mem", "kit-sqlite", "kit-mem-nouser", "kit-sqlite-cache":
			var st sessionstore.Store
			if !strings.HasPrefix(m, "kit-sqlite") {
				st = memstore.New(memstore.Config{})
			} else {
				var err error
				st, err = sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(dir, m+".db"), Logger: quiet})
				if err != nil {
					return nil, fmt.Errorf("sqlite session store: %w", err)
				}
				if m == "kit-sqlite-cache" {
					st = newCachedStore(st, time.Second)
				}
			}
			e.closers = append(e.closers, func() { _ = st.Close() })
			kit, err := appkit.New(appkit.Config{IdP: ic, Store: st, SealKey: bytes.Repeat([]byte{0x5a}, 32),
				DevMode: true, HomePath: "/", Logger: quiet})
			if err != nil {
				return nil, fmt.Errorf("appkit: %w", err)
			}
			name := func(r *http.Request) string { return appkit.User(r.Context()).Email }
			if m == "kit-mem-nouser" {
				// Diagnostic: the page does not decode the user's claims.
				name = func(r *http.Request) string {
					if appkit.Session(r.Context()) == nil {
						return ""
					}
					return userEmail
				}
			}
			mux.Handle("/login", kit.LoginHandler())
			mux.Handle("GET /{$}", kit.RequireLogin(pageHandler(served, name)))
			afterStart = func(base string) (string, error) { return login(base) }
		default:
			return nil, fmt.Errorf("unknown mode %q (plain, scs, kit-mem, kit-sqlite; diagnostics: kit-mem-nouser, kit-sqlite-cache)", m)
		}
		base, err := e.serve(mux)
		if err != nil {
			return nil, err
		}
		if afterStart != nil {
			if cookie, err = afterStart(base); err != nil {
				return nil, fmt.Errorf("%s: %w", m, err)
			}
		}
		e.targets[m] = target{url: base + "/", cookie: cookie, served: served}
	}
	// plain carries a cookie header of the same shape as the kit's.
	if t, ok := e.targets["plain"]; ok {
		for _, k := range []string{"kit-mem", "kit-sqlite", "scs"} {
			if kt, found := e.targets[k]; found {
				t.cookie = kt.cookie
				break
			}
		}
		e.targets["plain"] = t
	}
	for _, m := range modes {
		if err := e.check(m); err != nil {
			return nil, err
		}
	}
	ok = true
	return e, nil
}

// startIdP runs a Gatehouse IdP on a SQLite file with one application and
// one user, and returns an idpclient for that application.
func startIdP(ctx context.Context, e *env, dir string, quiet *slog.Logger) (*idpclient.Client, error) {
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "idp.db"), Logger: quiet})
	if err != nil {
		return nil, fmt.Errorf("idp store: %w", err)
	}
	e.closers = append(e.closers, func() { _ = st.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("idp listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	srv, err := idp.New(ctx, idp.Config{Store: st, Issuer: base, Logger: quiet, Hasher: password.NewHasher(password.Params{})})
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("idp: %w", err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	e.closers = append(e.closers, func() { _ = hs.Close() })
	app, secret, err := srv.Admin().CreateApplication(ctx, idp.ApplicationSpec{Name: "kitbench", Config: store.ApplicationConfig{
		EnabledGrants: []string{"password", "refresh_token"}, GenerateRefreshTokens: true, AllowTokenRefresh: true}})
	if err != nil {
		return nil, fmt.Errorf("create application: %w", err)
	}
	u, err := srv.Admin().CreateUser(ctx, idp.UserSpec{Email: userEmail, Password: userPassword, Verified: true})
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	if _, err := srv.Admin().Register(ctx, u.ID, app.ID, nil); err != nil {
		return nil, fmt.Errorf("register user: %w", err)
	}
	ic, err := idpclient.New(idpclient.Config{BaseURL: base, ClientID: app.ID, ClientSecret: secret, Logger: quiet})
	if err != nil {
		return nil, fmt.Errorf("idpclient: %w", err)
	}
	return ic, nil
}

// login posts the login form of the kit app at base, as a browser would,
// and returns the Cookie header a browser would then send.
func login(base string) (string, error) {
	c := &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(base+"/login", url.Values{"email": {userEmail}, "password": {userPassword}, "next": {"/"}})
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("login: status %d, want 303", resp.StatusCode)
	}
	var parts []string
	for _, ck := range resp.Cookies() {
		if ck.Value != "" && ck.MaxAge >= 0 {
			parts = append(parts, ck.Name+"="+ck.Value)
		}
	}
	if len(parts) < 2 {
		return "", fmt.Errorf("login: got %d cookies, want session and refresh", len(parts))
	}
	return strings.Join(parts, "; "), nil
}

// check fetches mode m's page once with its cookie: 200, the full page, and
// no Set-Cookie (a live session, read only; no refresh happened).
func (e *env) check(m string) error {
	t := e.targets[m]
	req, _ := http.NewRequest(http.MethodGet, t.url, nil)
	if t.cookie != "" {
		req.Header.Set("Cookie", t.cookie)
	}
	c := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("check %s: %w", m, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("check %s: status %d", m, resp.StatusCode)
	case len(body) != PageSize || !bytes.Contains(body, []byte(userEmail)):
		return fmt.Errorf("check %s: body of %d bytes, want %d with the user's e-mail", m, len(body), PageSize)
	case len(resp.Header.Values("Set-Cookie")) > 0:
		return fmt.Errorf("check %s: unexpected Set-Cookie %q", m, resp.Header.Values("Set-Cookie"))
	}
	return nil
}

// run loads mode m with wrk and checks that every request wrk counted was
// a rendered page (wrk counts 3xx redirects as successes).
func (e *env) run(wrk, m string, threads, conns int, d time.Duration) (wrkResult, error) {
	t := e.targets[m]
	before := t.served.Load()
	cpu0 := processCPU()
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + wrkDuration(d), "--latency"}
	if t.cookie != "" {
		args = append(args, "-H", "Cookie: "+t.cookie)
	}
	out, err := exec.Command(wrk, append(args, t.url)...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	cpu := processCPU() - cpu0
	wr, err := parseWrk(out)
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk output: %w\n%s", err, out)
	}
	if wr.requests > 0 {
		wr.cpuUS = float64(cpu.Nanoseconds()) / 1e3 / float64(wr.requests)
	}
	served := t.served.Load() - before
	// wrk stops mid-request on some connections: allow that many extra.
	if wr.non2xx > 0 || served < wr.requests-int64(conns) {
		return wr, fmt.Errorf("%d pages rendered for %d requests (%d non-2xx/3xx): not every request reached the page", served, wr.requests, wr.non2xx)
	}
	return wr, nil
}

// profile runs one extra wrk run of mode m with this process's CPU profile on.
func (e *env) profile(wrk, m string, threads, conns int, d time.Duration, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create profile: %w", err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return fmt.Errorf("start profile: %w", err)
	}
	wr, err := e.run(wrk, m, threads, conns, d)
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "profile %-10s %8.0f rps  server CPU %.1f µs/request (with the profiler on)\n", m, wr.rps, wr.cpuUS)
	return nil
}

// processCPU is this process's user+system CPU time so far. Only one
// mode is loaded at a time, so its difference over a run is that mode's
// server cost (plus the idle background goroutines of the others).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func wrkDuration(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s"
}

// loadAvg returns /proc/loadavg's 1-, 5- and 15-minute averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// wrkResult is what one wrk run reported.
type wrkResult struct {
	rps      float64
	p50, p99 float64 // ms
	requests int64
	non2xx   int64
	cpuUS    float64 // server CPU per request, µs (from getrusage)
}

var (
	reRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	reRequests = regexp.MustCompile(`(?m)^\s*([0-9]+) requests in `)
	reNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+([0-9]+)`)
	rePct      = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s)\s*$`)
)

// parseWrk reads wrk --latency output.
func parseWrk(out []byte) (wrkResult, error) {
	var r wrkResult
	m := reRPS.FindSubmatch(out)
	if m == nil {
		return r, errors.New("no Requests/sec line")
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	if m = reRequests.FindSubmatch(out); m == nil {
		return r, errors.New("no request count")
	}
	r.requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	if m = reNon2xx.FindSubmatch(out); m != nil {
		r.non2xx, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		pm := rePct.FindStringSubmatch(sc.Text())
		if pm == nil {
			continue
		}
		v, _ := strconv.ParseFloat(pm[2], 64)
		switch pm[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if pm[1] == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
		found++
	}
	if found != 2 {
		return r, errors.New("no 50%/99% latency lines (run wrk with --latency)")
	}
	return r, nil
}

// median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// stat formats median (min–max).
func stat(xs []float64, format string) string {
	return fmt.Sprintf(format+" ("+format+"–"+format+")", median(xs), slices.Min(xs), slices.Max(xs))
}

type reportInput struct {
	modes []string
	res   map[string][]wrkResult
	loads []string
	cmd   string
}

// describe names each mode in the report.
var describe = map[string]string{
	"plain":            "plain net/http",
	"scs":              "scs v2.9.0 LoadAndSave + memstore, read one value",
	"kit-mem":          "appkit.RequireLogin, live session, memstore",
	"kit-sqlite":       "appkit.RequireLogin, live session, sqlitestore",
	"kit-mem-nouser":   "appkit.RequireLogin, memstore, page does not call appkit.User (diagnostic)",
	"kit-sqlite-cache": "appkit.RequireLogin, sqlitestore behind a 1 s per-process Get cache (diagnostic)",
}

// ratios returns a/b per round.
func ratios(a, b []wrkResult) []float64 {
	out := make([]float64, min(len(a), len(b)))
	for i := range out {
		out[i] = a[i].rps / b[i].rps
	}
	return out
}

// cpuRatios returns a's server CPU per request over b's, per round: the
// throughput ratio b/a would reach if the server had the cores to itself.
func cpuRatios(a, b []wrkResult) []float64 {
	out := make([]float64, min(len(a), len(b)))
	for i := range out {
		out[i] = a[i].cpuUS / b[i].cpuUS
	}
	return out
}

func report(w io.Writer, in reportInput) {
	fmt.Fprintf(w, "Command per mode: `%s`, %d rounds, modes in the order %s within each round.\n",
		in.cmd, len(in.res["plain"]), strings.Join(in.modes, ", "))
	fmt.Fprintf(w, "Load average (1/5/15 min) before each round and at the end: %s.\n\n", strings.Join(in.loads, "; "))
	fmt.Fprintln(w, "| mode | rps | p50 ms | p99 ms | rps / plain (same round) | server CPU µs/request | plain CPU / mode CPU (same round) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	plain := in.res["plain"]
	for _, m := range in.modes {
		rs := in.res[m]
		var rps, p50, p99, cpu []float64
		for _, r := range rs {
			rps, p50, p99, cpu = append(rps, r.rps), append(p50, r.p50), append(p99, r.p99), append(cpu, r.cpuUS)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", describe[m], stat(rps, "%.0f"), stat(p50, "%.2f"), stat(p99, "%.2f"),
			stat(ratios(rs, plain), "%.3f"), stat(cpu, "%.1f"), stat(cpuRatios(plain, rs), "%.3f"))
	}
	fmt.Fprintln(w)
	type goal struct {
		num, den string
		min      float64
	}
	goals := []goal{{"kit-mem", "plain", 0.9}, {"kit-mem", "scs", 1.6}, {"kit-sqlite", "plain", 0.6}, {"kit-sqlite", "scs", 0}, {"scs", "plain", 0}}
	fmt.Fprintln(w, "| ratio (same round) | rps ratio, median (min–max) | goal | met | CPU-per-request ratio, median (min–max) |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, g := range goals {
		a, b := in.res[g.num], in.res[g.den]
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		rs := ratios(a, b)
		goalS, met := "—", "—"
		if g.min > 0 {
			goalS = fmt.Sprintf("≥ %.1f", g.min)
			met = "yes"
			if median(rs) < g.min {
				met = "**no**"
			} else if slices.Min(rs) < g.min {
				met = "yes (median; not every round)"
			}
		}
		fmt.Fprintf(w, "| %s / %s | %s | %s | %s | %s |\n", g.num, g.den, stat(rs, "%.3f"), goalS, met, stat(cpuRatios(b, a), "%.3f"))
	}
}

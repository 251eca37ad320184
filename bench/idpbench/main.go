// Command idpbench measures the identity server over loopback HTTP with a
// closed-loop load of concurrent clients, against a same-run baseline:
//
//	login:   password-grant logins/s vs raw argon2id verifications/s
//	refresh: refresh grants/s (one-time-use rotation) on SQLite or PostgreSQL
//
// The server runs in this process (as `gatehouse idp` would, on a SQLite
// file in a temporary directory); clients and server share the machine's
// cores, as they do in the anchors. Rounds alternate so drift hits both
// sides of a ratio alike. Results go to stdout as a Markdown table row.
package main

import (
	"context"
	"encoding/json"
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

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/postgres"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/password"
)

func main() {
	mode := flag.String("mode", "refresh", "login or refresh")
	alg := flag.String("alg", "ES256", "signing algorithm: ES256, RS256, EdDSA")
	conc := flag.Int("c", 16, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "duration of each round")
	rounds := flag.Int("rounds", 3, "rounds (each: baseline then server)")
	pg := flag.String("postgres", "", "PostgreSQL URL (refresh mode): use the postgres store instead of SQLite")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the server rounds to this file")
	flag.Parse()
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "idpbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.DiscardHandler)
	var st store.Store
	if *pg != "" {
		st, err = postgres.Open(ctx, postgres.Config{URL: *pg, Logger: quiet})
	} else {
		st, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "idp.db"), Logger: quiet})
	}
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	hasher := password.NewHasher(password.Params{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	srv, err := idp.New(ctx, idp.Config{Store: st, Issuer: base, Hasher: hasher, Logger: quiet, SigningAlgorithm: *alg,
		Throttle: idp.ThrottlePolicy{Disabled: true}, Lockout: idp.LockoutPolicy{Disabled: true}})
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, srv.Handler())
	app, secret, err := srv.Admin().CreateApplication(ctx, idp.ApplicationSpec{Name: "bench"})
	if err != nil {
		log.Fatal(err)
	}
	const pw = "benchmark user passphrase"
	var emails []string
	for i := range *conc {
		// A run-unique address, so a second run against the same
		// PostgreSQL database does not collide with the first.
		email := fmt.Sprintf("user%d-%d@example.com", i, time.Now().UnixNano())
		u, err := srv.Admin().CreateUser(ctx, idp.UserSpec{Email: email, Password: pw})
		if err != nil {
			log.Fatal(err)
		}
		if _, err := srv.Admin().Register(ctx, u.ID, app.ID, nil); err != nil {
			log.Fatal(err)
		}
		emails = append(emails, email)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc * 2}, Timeout: 30 * time.Second}
	post := func(v url.Values) (map[string]any, error) {
		resp, err := client.PostForm(base+"/oauth2/token", v)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		var m map[string]any
		return m, json.Unmarshal(b, &m)
	}
	login := func(i int) (map[string]any, error) {
		return post(url.Values{"grant_type": {"password"}, "username": {emails[i]}, "password": {pw},
			"client_id": {app.ID}, "client_secret": {secret}, "scope": {"offline_access"}})
	}

	var hashEnc string
	if hashEnc, err = hasher.Hash(ctx, pw); err != nil {
		log.Fatal(err)
	}
	var baseName string
	var baseline, server func(worker int) error
	switch *mode {
	case "login":
		baseName = "raw argon2id Verify"
		baseline = func(int) error {
			ok, _, err := hasher.Verify(ctx, hashEnc, pw)
			if !ok {
				return fmt.Errorf("verify failed: %v", err)
			}
			return err
		}
		server = func(i int) error { _, err := login(i); return err }
	case "refresh":
		rts := make([]string, *conc)
		for i := range rts {
			m, err := login(i)
			if err != nil {
				log.Fatal(err)
			}
			rts[i] = m["refresh_token"].(string)
		}
		baseName = "none (absolute)"
		server = func(i int) error {
			m, err := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rts[i]},
				"client_id": {app.ID}, "client_secret": {secret}})
			if err != nil {
				return err
			}
			rts[i] = m["refresh_token"].(string)
			return nil
		}
	default:
		log.Fatalf("unknown mode %q", *mode)
	}

	var ratios, rates, p50s, p99s, baseRates []float64
	for r := range *rounds {
		if baseline != nil {
			b := load(*conc, *dur, baseline)
			baseRates = append(baseRates, b.rate)
			fmt.Fprintf(os.Stderr, "round %d baseline: %.1f/s\n", r+1, b.rate)
		}
		if *cpuprofile != "" && r == 0 {
			f, err := os.Create(*cpuprofile)
			if err != nil {
				log.Fatal(err)
			}
			_ = pprof.StartCPUProfile(f)
		}
		s := load(*conc, *dur, server)
		if *cpuprofile != "" && r == 0 {
			pprof.StopCPUProfile()
		}
		rates, p50s, p99s = append(rates, s.rate), append(p50s, s.p50), append(p99s, s.p99)
		fmt.Fprintf(os.Stderr, "round %d server: %.1f/s p50 %.2f ms p99 %.2f ms errors %d\n", r+1, s.rate, s.p50, s.p99, s.errors)
		if baseline != nil {
			ratios = append(ratios, s.rate/baseRates[len(baseRates)-1])
		}
	}
	fmt.Printf("| %s | %s | %d | %.0f (%.0f–%.0f) | %.2f | %.2f |", *mode, *alg, *conc, median(rates), slices.Min(rates), slices.Max(rates), median(p50s), median(p99s))
	if baseline != nil {
		fmt.Printf(" %s %.1f/s | %.3f (%.3f–%.3f) |\n", baseName, median(baseRates), median(ratios), slices.Min(ratios), slices.Max(ratios))
	} else {
		fmt.Printf(" %s | — |\n", baseName)
	}
}

type result struct {
	rate, p50, p99 float64
	errors         int64
}

// load runs f from c workers for d and reports throughput and latency.
func load(c int, d time.Duration, f func(worker int) error) result {
	var wg sync.WaitGroup
	var errs atomic.Int64
	lat := make([][]time.Duration, c)
	stop := time.Now().Add(d)
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				t := time.Now()
				if err := f(w); err != nil {
					if errs.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "error:", strings.TrimSpace(err.Error()))
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
	slices.Sort(all)
	if len(all) == 0 {
		return result{errors: errs.Load()}
	}
	pct := func(p float64) float64 { return float64(all[int(float64(len(all)-1)*p)]) / 1e6 }
	return result{rate: float64(len(all)) / elapsed.Seconds(), p50: pct(0.5), p99: pct(0.99), errors: errs.Load()}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

package postgres_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/postgres"
	"github.com/gatehouse-auth/gatehouse/internal/childproc"
	"github.com/gatehouse-auth/gatehouse/internal/pgtest"
)

// The multi-process tests re-run this test binary as child processes
// (internal/childproc). Each opens its own store, as an IdP process would,
// so all they share is the database: nothing in-process can make them
// agree.
func TestMain(m *testing.M) {
	childproc.Main(m, map[string]func() error{
		"race": func() error { return storeChild("race") },
		"load": func() error { return storeChild("load") },
		"idp":  func() error { return idpChild(context.Background()) },
	})
}

// hash is the token hash of family f at generation g in these tests: every
// process proposes the same successor, so the hashes alone tell which
// generation is live.
func hash(f string, g int) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", f, g))
	return h[:]
}

func familyID(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i) }

// raceResult is what a race child reports: the new hashes it installed.
type raceResult struct {
	Won    map[string]string `json:"won"` // family -> hex of the winning new hash
	Errors []string          `json:"errors"`
}

// storeChild opens its own store, says it is ready, and on the release
// runs the race or the load.
func storeChild(role string) error {
	ctx := context.Background()
	s, err := postgres.Open(ctx, postgres.Config{URL: os.Getenv("GATEHOUSE_CHILD_URL")})
	if err != nil {
		return err
	}
	defer s.Close()
	families, _ := strconv.Atoi(os.Getenv("GATEHOUSE_CHILD_FAMILIES"))
	workers, _ := strconv.Atoi(os.Getenv("GATEHOUSE_CHILD_WORKERS"))
	childproc.Ready("")
	if err := childproc.AwaitRelease(); err != nil {
		return err
	}
	switch role {
	case "race":
		return raceChild(ctx, s, families, workers, os.Getenv("GATEHOUSE_CHILD_NAME"))
	case "load":
		return loadChild(ctx, s, families, workers)
	}
	return fmt.Errorf("unknown role %q", role)
}

// raceChild: every worker tries to rotate every family from generation 0
// to a hash of its own.
func raceChild(ctx context.Context, s *postgres.Store, families, workers int, name string) error {
	res := raceResult{Won: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range families {
				f := familyID(i)
				nh := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d", f, name, w))
				err := s.RotateRefreshToken(ctx, store.RotateParams{
					FamilyID: f, OldHash: hash(f, 0), NewHash: nh[:], Successor: nh[:],
					Now: time.Now(), StartAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
					Grants: []string{"refresh_token"}, IP: name,
				})
				mu.Lock()
				switch {
				case err == nil:
					res.Won[f] = hex.EncodeToString(nh[:])
				case !errors.Is(err, store.ErrConflict):
					res.Errors = append(res.Errors, err.Error())
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// loadChild rotates the families forward generation by generation until
// it is killed (or a bound is reached), printing "ok" after each committed
// rotation.
func loadChild(ctx context.Context, s *postgres.Store, families, workers int) error {
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(2 * time.Minute)
	var wg sync.WaitGroup
	var firstErr error
	for w := range workers {
		wg.Go(func() {
			for n := 0; n < 20000 && time.Now().Before(deadline); n++ {
				f := familyID((w + n) % families)
				t, err := s.GetRefreshToken(ctx, f)
				if err == nil {
					err = s.RotateRefreshToken(ctx, store.RotateParams{
						FamilyID: f, OldHash: hash(f, t.Generation), NewHash: hash(f, t.Generation+1),
						Successor: []byte("sealed"), Now: time.Now(), StartAt: time.Now(),
						ExpiresAt: time.Now().Add(time.Hour), Grants: []string{"refresh_token"}, IP: "load",
					})
				}
				mu.Lock()
				switch {
				case err == nil:
					out.WriteString("ok\n")
					out.Flush()
				case !errors.Is(err, store.ErrConflict) && firstErr == nil:
					firstErr = err
				}
				mu.Unlock()
				if firstErr != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// startChildren starts n children in role and waits until all are ready
// (each has opened its store, migrations included), then releases them
// together.
func startChildren(t *testing.T, n int, role string, env ...string) []*childproc.Child {
	t.Helper()
	var cs []*childproc.Child
	for i := range n {
		name := fmt.Sprintf("GATEHOUSE_CHILD_NAME=child-%d", i)
		cs = append(cs, childproc.Start(t, role, append([]string{name}, env...)...))
	}
	for _, c := range cs {
		c.Release()
	}
	return cs
}

// seed opens a store on a fresh database and creates n families at
// generation 0.
func seed(t *testing.T, n int) (url string, s *postgres.Store) {
	t.Helper()
	url = pgtest.NewDatabase(t)
	s, err := postgres.Open(t.Context(), postgres.Config{URL: url})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	u := &store.User{ID: uuid.NewString(), Email: "load@example.com", Active: true, CreatedAt: time.Now()}
	a := &store.Application{ID: uuid.NewString(), Name: "load", Active: true, CreatedAt: time.Now()}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateApplication(ctx, a); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		f := familyID(i)
		if err := s.CreateRefreshToken(ctx, &store.RefreshToken{
			ID: f, UserID: u.ID, ApplicationID: a.ID, TokenHash: hash(f, 0),
			CreatedAt: time.Now(), StartAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
	}
	return url, s
}

// TestRotateAcrossProcesses (IDP-RT-5 across processes): two IdP processes
// on one database, 8 goroutines each, all present generation 0 of the same
// 40 families at once. Each family is rotated exactly once, and the live
// hash and the rotation record are the winner's.
func TestRotateAcrossProcesses(t *testing.T) {
	const families, workers = 40, 8
	url, s := seed(t, families)
	cs := startChildren(t, 2, "race", "GATEHOUSE_CHILD_URL="+url,
		"GATEHOUSE_CHILD_FAMILIES="+strconv.Itoa(families), "GATEHOUSE_CHILD_WORKERS="+strconv.Itoa(workers))
	won := map[string][]string{}
	for i, c := range cs {
		var r raceResult
		if err := c.JSON(&r); err != nil {
			t.Fatalf("child %d result: %v", i, err)
		}
		for _, e := range r.Errors {
			t.Errorf("child %d: RotateRefreshToken: %s", i, e)
		}
		for f, h := range r.Won {
			won[f] = append(won[f], h)
		}
		if err := c.Wait(); err != nil {
			t.Errorf("child %d: %v", i, err)
		}
	}
	ctx := t.Context()
	for i := range families {
		f := familyID(i)
		if len(won[f]) != 1 {
			t.Errorf("family %s rotated %d times from generation 0, want exactly 1", f, len(won[f]))
			continue
		}
		got, err := s.GetRefreshToken(ctx, f)
		if err != nil {
			t.Fatalf("GetRefreshToken: %v", err)
		}
		if hex.EncodeToString(got.TokenHash) != won[f][0] || got.Generation != 1 {
			t.Errorf("family %s: live hash %x generation %d, want the winner's %s at 1", f, got.TokenHash, got.Generation, won[f][0])
		}
		rot, err := s.GetRotation(ctx, hash(f, 0))
		if err != nil || hex.EncodeToString(rot.Successor) != won[f][0] {
			t.Errorf("family %s: rotation record %+v, %v; want the winner's successor", f, rot, err)
		}
	}
}

// TestKillDuringRotationLoad: an IdP process rotating refresh tokens under
// load is killed with SIGKILL mid-flight. Afterwards every family has
// exactly one live token, its rotation history matches its generation (the
// rotation and the history record committed together or not at all), and
// nothing is left locked: the next rotation of every family succeeds.
func TestKillDuringRotationLoad(t *testing.T) {
	const families, workers = 16, 8
	url, s := seed(t, families)
	cs := startChildren(t, 1, "load", "GATEHOUSE_CHILD_URL="+url,
		"GATEHOUSE_CHILD_FAMILIES="+strconv.Itoa(families), "GATEHOUSE_CHILD_WORKERS="+strconv.Itoa(workers))
	// Kill once the load is well under way (by progress, not by time).
	for n := 0; n < 300; n++ {
		if _, err := cs[0].Line(); err != nil {
			t.Fatalf("load child stopped after %d rotations: %v", n, err)
		}
	}
	cs[0].Kill()

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	total := 0
	for i := range families {
		f := familyID(i)
		got, err := s.GetRefreshToken(ctx, f)
		if err != nil {
			t.Fatalf("GetRefreshToken(%s): %v", f, err)
		}
		g := got.Generation
		total += g
		if string(got.TokenHash) != string(hash(f, g)) {
			t.Errorf("family %s: live hash is not generation %d's", f, g)
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens WHERE token_hash = ANY($1)`,
			[][]byte{hash(f, g-1), hash(f, g+1)}).Scan(&n); err != nil || n != 0 {
			t.Errorf("family %s: %d other generations live (%v), want none", f, n, err)
		}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM rotations WHERE family_id = $1`, f).Scan(&n); err != nil || n != g {
			t.Errorf("family %s: %d rotation records at generation %d (%v); want one per rotation", f, n, g, err)
		}
		for k := range g {
			if _, err := s.GetRotation(ctx, hash(f, k)); err != nil {
				t.Errorf("family %s: generation %d retired without a rotation record: %v", f, k, err)
			}
		}
		// Nothing held by the dead process blocks the next rotation.
		if err := s.RotateRefreshToken(ctx, store.RotateParams{
			FamilyID: f, OldHash: hash(f, g), NewHash: hash(f, g+1), Now: time.Now(),
			StartAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
		}); err != nil {
			t.Errorf("family %s: rotation after the kill: %v", f, err)
		}
	}
	if total < 300 {
		t.Errorf("only %d rotations committed, but the child reported 300", total)
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/lockedbuf"

	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/webhooksender"
)

// started is a command running in the background.
type started struct {
	stdout, stderr *lockedbuf.Buffer
	cancel         context.CancelFunc
	done           chan error
}

func start(t *testing.T, env map[string]string, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{stdout: &lockedbuf.Buffer{}, stderr: &lockedbuf.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	ce := &cliEnv{stdout: s.stdout, stderr: s.stderr, getenv: func(k string) string { return env[k] }}
	go func() { s.done <- run(ctx, ce, args) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop interrupts the command and waits for it to return.
func (s *started) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err, ok := <-s.done:
		if ok {
			close(s.done)
		}
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("command did not stop within 15 s of the interrupt")
		return nil
	}
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func status(t *testing.T, c *http.Client, method, u string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// `gatehouse demo` starts the three servers, prints URLs and credentials,
// writes demo.json, stops on interrupt, and comes back with the same
// users and secrets.
func TestDemoCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	args := []string{"demo", "--dir", dir, "--idp-addr", "127.0.0.1:0", "--store-addr", "127.0.0.1:0", "--mailbox-addr", "127.0.0.1:0",
		"--session-idle", "20s", "--refresh-ttl", "2m", "--log-level", "warn"}
	// Flags can come from the environment too.
	env := map[string]string{"GATEHOUSE_FORUMS_ADDR": "127.0.0.1:0"}
	s := start(t, env, args...)
	infoPath := filepath.Join(dir, demo.InfoFile)
	var info demo.Info
	waitFor(t, "the banner", func() bool { return strings.Contains(s.stdout.String(), "Press Ctrl+C") })
	raw, err := os.ReadFile(infoPath)
	if err != nil || json.Unmarshal(raw, &info) != nil {
		t.Fatalf("demo.json: %v", err)
	}
	out := s.stdout.String()
	if !strings.HasPrefix(info.Mailbox, "http://127.0.0.1:") {
		t.Errorf("demo.json mailbox %q", info.Mailbox)
	}
	for _, want := range []string{info.Store, info.Forums, info.IdP, info.Mailbox, info.Users[0].Email, info.Users[0].Password, info.APIKey, "session idle 20s", "refresh token 2m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	c := httpClient()
	for _, base := range []string{info.IdP, info.Store, info.Forums, info.Mailbox} {
		if code, _ := status(t, c, "GET", base+"/healthz", nil); code != 200 {
			t.Fatalf("%s/healthz: %d", base, code)
		}
	}
	if code, _ := status(t, c, "GET", info.Mailbox+"/messages.json", nil); code != 200 {
		t.Fatalf("mailbox messages.json: %d", code)
	}
	u := info.Users[0]
	if code, loc := status(t, c, "POST", info.Store+"/login", url.Values{"email": {u.Email}, "password": {u.Password}}); code != 303 || loc != "/shopping-cart" {
		t.Fatalf("store login: %d %q", code, loc)
	}
	if code, loc := status(t, c, "GET", info.Forums+"/posts", nil); code != 303 || loc != "/login?next=%2Fposts" {
		t.Fatalf("forums without its own login: %d %q", code, loc)
	}
	if err := s.stop(t); err != nil {
		t.Fatalf("demo returned %v on interrupt", err)
	}
	if strings.Contains(s.stderr.String(), u.Password) {
		t.Fatal("a password reached the logs")
	}

	// Second run: same users, keys and applications.
	s2 := start(t, env, args...)
	waitFor(t, "the second banner", func() bool { return strings.Contains(s2.stdout.String(), "Press Ctrl+C") })
	var info2 demo.Info
	raw, _ = os.ReadFile(infoPath)
	if err := json.Unmarshal(raw, &info2); err != nil {
		t.Fatal(err)
	}
	if info2.APIKey != info.APIKey || info2.Applications != info.Applications || info2.Users[0] != info.Users[0] {
		t.Fatal("demo.json credentials changed across restarts")
	}
	if code, _ := status(t, httpClient(), "POST", info2.Store+"/login", url.Values{"email": {u.Email}, "password": {u.Password}}); code != 303 {
		t.Fatalf("login after restart: %d", code)
	}
}

func TestDemoCommandRejectsBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"demo", "--dir", dir, "--session-idle", "0s"},
		{"demo", "--dir", dir, "--refresh-method", "carrier-pigeon"},
		{"demo", "--dir", dir, "--store-addr", "0.0.0.0:0", "--idp-addr", "127.0.0.1:0", "--forums-addr", "127.0.0.1:0"},
		{"demo", "--dir", dir, "--mailbox-addr", "0.0.0.0:0", "--idp-addr", "127.0.0.1:0", "--store-addr", "127.0.0.1:0", "--forums-addr", "127.0.0.1:0"},
		{"demo", "--dir", dir, "extra"},
	} {
		if _, err := runCLI(t, filepath.Join(dir, "unused.db"), args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, demo.InfoFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused demo wrote demo.json")
	}
}

var listening = regexp.MustCompile(`forums listening"? url=(http://127\.0\.0\.1:\d+)`)

// `gatehouse app forums` runs the Forums alone against an IdP from flags
// and environment, with a persistent seal key and the revocation webhook.
func TestAppCommand(t *testing.T) {
	i := idptest.Start(t)
	// The sender polls the IdP store's outbox, where revocations land.
	sender, err := webhooksender.New(webhooksender.Config{Store: i.Store, Logger: slog.New(slog.DiscardHandler),
		PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sender.Close(context.Background()) })
	id, secret := i.CreateApp(t, idptest.AppOptions{Name: "Forums"})
	const pw = "her own long enough passphrase"
	uid := i.CreateUser(t, "carol@example.com", pw, id)
	dir := t.TempDir()
	hookSecret := "a webhook secret of enough length"

	s := start(t, map[string]string{"GATEHOUSE_CLIENT_SECRET": secret},
		"app", "forums", "--addr", "127.0.0.1:0", "--idp-url", i.URL, "--client-id", id,
		"--db", filepath.Join(dir, "forums.db"), "--webhook-secret", hookSecret, "--api-key", i.APIKey)
	var base string
	waitFor(t, "the app to listen", func() bool {
		m := listening.FindStringSubmatch(s.stderr.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	// Point the application's webhook at the running app.
	app, err := i.Store.GetApplication(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	app.Config.WebhookURLs, app.Config.WebhookSecret = []string{base + "/webhooks/gatehouse"}, hookSecret
	if err := i.Store.UpdateApplication(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	c := httpClient()
	if code, _ := status(t, c, "GET", base+"/healthz", nil); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	if code, loc := status(t, c, "POST", base+"/login", url.Values{"email": {"carol@example.com"}, "password": {pw}}); code != 303 || loc != "/posts" {
		t.Fatalf("login: %d %q\n%s", code, loc, s.stderr.String())
	}
	if code, _ := status(t, c, "GET", base+"/posts", nil); code != 200 {
		t.Fatalf("posts: %d", code)
	}
	st, err := os.Stat(filepath.Join(dir, "forums-seal.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seal key file: %v %v", st, err)
	}
	if _, err := i.Server.Admin().RevokeUserTokens(context.Background(), uid, ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		code, loc := status(t, c, "GET", base+"/posts", nil)
		if code == 303 && loc == "/login?next=%2Fposts" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session still served (%d) a second after the IdP revoked the user", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.stop(t); err != nil {
		t.Fatalf("app returned %v on interrupt", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = sender.Close(ctx)
}

func TestAppCommandRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "x.db")
	ok := []string{"--client-id", "00000000-0000-0000-0000-000000000001", "--client-secret", "s", "--db", db}
	for _, args := range [][]string{
		{"app"},
		{"app", "wiki"},
		{"app", "store", "--db", db},
		append([]string{"app", "store", "--addr", "0.0.0.0:0"}, ok...),
		append([]string{"app", "store", "--idp-url", "http://idp.example.com"}, ok...),
		append([]string{"app", "store", "--refresh-method", "nope"}, ok...),
		append([]string{"app", "store", "--seal-key", "tooshort"}, ok...),
		append([]string{"app", "store", "--tls-cert", "c.pem"}, ok...),
	} {
		if _, err := runCLI(t, db, args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

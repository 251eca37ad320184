package idp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/password"
)

// Helpers of the issue-11 account tests (ACC-n).

// recMailer records the mails the IdP asks for (delivery is the mail
// package's job, tested there over real SMTP).
type recMailer struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (m *recMailer) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	m.msgs = append(m.msgs, msg)
	m.mu.Unlock()
	return nil
}

// take returns the mails asked for since the last take.
func (m *recMailer) take() []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.msgs
	m.msgs = nil
	return out
}

// workHasher counts the password work done.
type workHasher struct {
	*password.Hasher
	hashes, verifies, dummies atomic.Int64
	// onHash, when set, runs at the start of every Hash (a test's way
	// into the middle of a request).
	onHash atomic.Value // func()
}

func (h *workHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.hashes.Add(1)
	if f, _ := h.onHash.Load().(func()); f != nil {
		f()
	}
	return h.Hasher.Hash(ctx, pw)
}

func (h *workHasher) Verify(ctx context.Context, encoded, pw string) (bool, bool, error) {
	h.verifies.Add(1)
	return h.Hasher.Verify(ctx, encoded, pw)
}

func (h *workHasher) VerifyDummy(ctx context.Context, pw string) {
	h.dummies.Add(1)
	h.Hasher.VerifyDummy(ctx, pw)
}

// work returns and resets (hashes, verifications incl. dummies).
func (h *workHasher) work() [2]int64 {
	return [2]int64{h.hashes.Swap(0), h.verifies.Swap(0) + h.dummies.Swap(0)}
}

const (
	shopBase  = "https://shop.example"
	newPW     = "a brand new passphrase for the shop"
	otherPW   = "yet another quite long passphrase"
	testCtxIP = "203.0.113.7"
)

// accFixture is a fixture whose IdP has a recording Mailer and a second
// application, "Pinewood Shop", with a BaseURL (mail links point under it);
// the user is registered to both.
type accFixture struct {
	*fixture
	mail       *recMailer
	hasher     *workHasher
	logs       *syncBuffer
	shopID     string
	shopSecret string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newAccFixture(t *testing.T, more ...func(*idp.Config)) *accFixture {
	t.Helper()
	a := &accFixture{mail: &recMailer{}, logs: &syncBuffer{},
		hasher: &workHasher{Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1})}}
	c := idp.Config{Hasher: a.hasher, Mailer: a.mail, Throttle: idp.ThrottlePolicy{Disabled: true},
		Logger: slog.New(slog.NewTextHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	for _, m := range more {
		m(&c)
	}
	a.fixture = newFixture(t, idptest.AppOptions{}, c)
	app, secret, err := a.idp.Server.Admin().CreateApplication(t.Context(), idp.ApplicationSpec{Name: "Pinewood Shop",
		Config: store.ApplicationConfig{BaseURL: shopBase, Roles: []string{"user"}}})
	if err != nil {
		t.Fatalf("create shop: %v", err)
	}
	a.shopID, a.shopSecret = app.ID, secret
	if _, err := a.idp.Server.Admin().Register(t.Context(), a.userID, a.shopID, []string{"user"}); err != nil {
		t.Fatal(err)
	}
	a.hasher.work()
	return a
}

// call sends a JSON request with the API key and header pairs.
func (a *accFixture) call(method, path, body string, header ...string) *response {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.idp.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", a.idp.APIKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return a.do(req)
}

// anon sends a JSON request without an API key.
func (a *accFixture) anon(method, path, body string) *response {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.idp.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return a.do(req)
}

func jsonStr(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// forgot calls POST /api/user/forgot-password for the shop.
func (a *accFixture) forgot(login string, send bool, header ...string) *response {
	a.t.Helper()
	s := "true"
	if !send {
		s = "false"
	}
	return a.call("POST", "/api/user/forgot-password", `{"loginId":`+jsonStr(login)+`,"applicationId":"`+a.shopID+
		`","sendForgotPasswordEmail":`+s+`}`, header...)
}

// resetID asks for a changePasswordId without a mail.
func (a *accFixture) resetID(login string) string {
	a.t.Helper()
	r := a.forgot(login, false)
	if r.status != http.StatusOK {
		a.t.Fatalf("forgot-password: %d %s", r.status, r.body)
	}
	id, _ := r.json(a.t)["changePasswordId"].(string)
	if id == "" {
		a.t.Fatalf("no changePasswordId in %s", r.body)
	}
	return id
}

// reset posts a new password for a changePasswordId, without a key (as
// FusionAuth's clients do).
func (a *accFixture) reset(id, pw string) *response {
	a.t.Helper()
	return a.anon("POST", "/api/user/change-password/"+url.PathEscape(id), `{"password":`+jsonStr(pw)+`}`)
}

func (a *accFixture) changePassword(login, current, pw string, header ...string) *response {
	a.t.Helper()
	return a.call("POST", "/api/user/change-password", `{"loginId":`+jsonStr(login)+`,"currentPassword":`+jsonStr(current)+
		`,"password":`+jsonStr(pw)+`,"applicationId":"`+a.shopID+`"}`, header...)
}

func (a *accFixture) changeEmail(login, current, email string, header ...string) *response {
	a.t.Helper()
	return a.call("POST", "/api/user/change-email", `{"loginId":`+jsonStr(login)+`,"currentPassword":`+jsonStr(current)+
		`,"email":`+jsonStr(email)+`,"applicationId":"`+a.shopID+`"}`, header...)
}

func (a *accFixture) verifyEmail(id string) *response {
	a.t.Helper()
	return a.anon("POST", "/api/user/verify-email", `{"verificationId":`+jsonStr(id)+`}`)
}

func (a *accFixture) signup(email, pw string) *response {
	a.t.Helper()
	return a.call("POST", "/api/user/registration", `{"user":{"email":`+jsonStr(email)+`,"password":`+jsonStr(pw)+
		`},"registration":{"applicationId":"`+a.shopID+`"}}`)
}

// user reads the user with that id from the store.
func (a *accFixture) user(id string) *store.User {
	a.t.Helper()
	u, err := a.idp.Store.GetUser(context.Background(), id)
	if err != nil {
		a.t.Fatalf("get user: %v", err)
	}
	return u
}

// oneMail asserts that exactly one mail was asked for since the last take,
// with that template and recipient, and returns it.
func (a *accFixture) oneMail(template, to string) mail.Message {
	a.t.Helper()
	got := a.mail.take()
	if len(got) != 1 || got[0].Template != template || got[0].To != to {
		a.t.Fatalf("mails = %+v, want one %s to %s", got, template, to)
	}
	return got[0]
}

// noMail asserts that no mail was asked for since the last take.
func (a *accFixture) noMail(what string) {
	a.t.Helper()
	if got := a.mail.take(); len(got) != 0 {
		a.t.Fatalf("%s: mails = %+v, want none", what, got)
	}
}

// linkID checks that m's link is {shopBase}/{page}?id=… and returns the id.
func linkID(t testing.TB, m mail.Message, page string) string {
	t.Helper()
	u, err := url.Parse(m.Data.Link)
	if err != nil || u.Scheme+"://"+u.Host != shopBase || u.Path != "/"+page {
		t.Fatalf("link %q, want %s/%s?id=…", m.Data.Link, shopBase, page)
	}
	id := u.Query().Get("id")
	if len(id) != 43 {
		t.Fatalf("link id %q is not 43 characters", id)
	}
	return id
}

// wantFieldError asserts a 400 with the FusionAuth error shape and the
// field error code.
func wantFieldCode(t testing.TB, what string, r *response, field, code string) {
	t.Helper()
	if r.status != http.StatusBadRequest {
		t.Fatalf("%s: %d %s, want 400 %s", what, r.status, r.body, code)
	}
	m := r.json(t)
	fe, _ := m["fieldErrors"].(map[string]any)
	list, _ := fe[field].([]any)
	for _, e := range list {
		if e.(map[string]any)["code"] == code {
			return
		}
	}
	t.Fatalf("%s: body %s, want fieldErrors.%s with %s", what, r.body, field, code)
}

func wantStatus(t testing.TB, what string, r *response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: %d %s, want %d", what, r.status, r.body, status)
	}
}

func sum256(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// shopLogin runs the password grant at the shop application.
func (a *accFixture) shopLogin(email, pw string) *response {
	a.t.Helper()
	return a.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {email}, "password": {pw},
		"client_id": {a.shopID}, "client_secret": {a.shopSecret}, "scope": {"offline_access"}})
}

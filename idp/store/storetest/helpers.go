package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// at returns a fixed instant plus sec seconds. The base carries a
// millisecond part, so round trips prove millisecond precision; it has no
// finer part, so a backend with exactly millisecond precision passes.
func at(sec int) time.Time {
	base := time.Date(2031, time.March, 4, 5, 6, 7, 891_000_000, time.UTC)
	return base.Add(time.Duration(sec) * time.Second)
}

// digest is SHA-256 of s: what the IdP stores for tokens, secrets and keys.
func digest(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// short returns 8 unique characters for readable unique names.
func short() string { return uuid.NewString()[:8] }

// newUser returns a valid user with unique id, email and username.
func newUser() *store.User {
	n := short()
	return &store.User{
		ID:           uuid.NewString(),
		Email:        "user-" + n + "@example.com",
		Username:     "user-" + n,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo",
		Active:       true,
		CreatedAt:    at(0),
	}
}

// newApp returns a valid confidential application.
func newApp() *store.Application {
	return &store.Application{
		ID:               uuid.NewString(),
		Name:             "app-" + short(),
		Active:           true,
		ClientSecretHash: digest("secret-" + short()),
		Config: store.ApplicationConfig{
			EnabledGrants:         []string{"password", "refresh_token"},
			GenerateRefreshTokens: true,
		},
		CreatedAt: at(0),
	}
}

// newToken returns a valid refresh-token family of u at app.
func newToken(u *store.User, a *store.Application) *store.RefreshToken {
	return &store.RefreshToken{
		ID:            uuid.NewString(),
		UserID:        u.ID,
		ApplicationID: a.ID,
		TokenHash:     digest("rt-" + uuid.NewString()),
		Scopes:        []string{"offline_access"},
		CreatedAt:     at(0),
		StartAt:       at(0),
		ExpiresAt:     at(3600),
		AuthTime:      at(0),
		Grants:        []string{"password"},
	}
}

func createUser(t *testing.T, s store.Store, u *store.User) *store.User {
	t.Helper()
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", u.ID, err)
	}
	return u
}

func createApp(t *testing.T, s store.Store, a *store.Application) *store.Application {
	t.Helper()
	if err := s.CreateApplication(t.Context(), a); err != nil {
		t.Fatalf("CreateApplication(%s): %v", a.ID, err)
	}
	return a
}

func createToken(t *testing.T, s store.Store, rt *store.RefreshToken) *store.RefreshToken {
	t.Helper()
	if err := s.CreateRefreshToken(t.Context(), rt); err != nil {
		t.Fatalf("CreateRefreshToken(%s): %v", rt.ID, err)
	}
	return rt
}

func createReg(t *testing.T, s store.Store, u *store.User, a *store.Application, created time.Time) *store.Registration {
	t.Helper()
	r := &store.Registration{ID: uuid.NewString(), UserID: u.ID, ApplicationID: a.ID, Roles: []string{"user"}, CreatedAt: created}
	if err := s.CreateRegistration(t.Context(), r); err != nil {
		t.Fatalf("CreateRegistration: %v", err)
	}
	return r
}

// userAppToken creates a user, an application and one family between them.
func userAppToken(t *testing.T, s store.Store) (*store.User, *store.Application, *store.RefreshToken) {
	t.Helper()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	return u, a, createToken(t, s, newToken(u, a))
}

// rotate rotates rt's family from its current hash to a fresh one at
// instant now and returns the params used. It updates rt.TokenHash.
func rotate(t *testing.T, s store.Store, rt *store.RefreshToken, now time.Time) store.RotateParams {
	t.Helper()
	p := store.RotateParams{
		FamilyID:  rt.ID,
		OldHash:   rt.TokenHash,
		NewHash:   digest("rt-" + uuid.NewString()),
		Successor: []byte("sealed:" + uuid.NewString()),
		Now:       now,
		StartAt:   now,
		ExpiresAt: now.Add(time.Hour),
		Grants:    []string{"password", "refresh_token"},
		IP:        "198.51.100.7",
	}
	if err := s.RotateRefreshToken(t.Context(), p); err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	rt.TokenHash = p.NewHash
	return p
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// noErr fails the test now on an unexpected error.
func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// same reports every field where got differs from want (see diff).
func same(t *testing.T, what string, want, got any) {
	t.Helper()
	for _, d := range diff(want, got) {
		t.Errorf("%s: %s", what, d)
	}
}

// wantIDs fails unless got lists exactly want, in order.
func wantIDs(t *testing.T, what string, want, got []string) {
	t.Helper()
	if !slices.Equal(want, got) {
		t.Errorf("%s: got ids %v, want %v", what, got, want)
	}
}

// sorted returns a sorted copy, for results whose order is unspecified.
func sorted(ids []string) []string {
	c := slices.Clone(ids)
	slices.Sort(c)
	return c
}

// ids extracts the ID field of every element of a slice of pointers to
// store records.
func ids[T any](recs []*T) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, reflect.ValueOf(r).Elem().FieldByName("ID").String())
	}
	return out
}

// concurrently runs fn(0..n-1) in n goroutines released at the same moment
// and returns their errors by index.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// diff compares two values of the same type field by field and describes
// each difference. It is deliberately lenient where backends legitimately
// differ and strict elsewhere:
//   - time.Time compares with Equal (location and monotonic reading ignored);
//   - json.RawMessage compares by meaning (whitespace, key order);
//   - nil and empty slices are equal;
//   - pointers compare by pointee, but nil differs from a pointer to zero.
func diff(want, got any) []string {
	var out []string
	diffValue(&out, "", reflect.ValueOf(want), reflect.ValueOf(got))
	return out
}

func diffValue(out *[]string, path string, w, g reflect.Value) {
	report := func() {
		*out = append(*out, fmt.Sprintf("%s: got %s, want %s", orRoot(path), show(g), show(w)))
	}
	switch w.Type() {
	case reflect.TypeFor[time.Time]():
		if !w.Interface().(time.Time).Equal(g.Interface().(time.Time)) {
			report()
		}
		return
	case reflect.TypeFor[json.RawMessage]():
		if !jsonEqual(w.Bytes(), g.Bytes()) {
			report()
		}
		return
	}
	switch w.Kind() {
	case reflect.Pointer:
		if w.IsNil() || g.IsNil() {
			if w.IsNil() != g.IsNil() {
				report()
			}
			return
		}
		diffValue(out, path, w.Elem(), g.Elem())
	case reflect.Struct:
		for i := range w.NumField() {
			f := w.Type().Field(i)
			diffValue(out, strings.TrimPrefix(path+"."+f.Name, "."), w.Field(i), g.Field(i))
		}
	case reflect.Slice:
		if w.Len() == 0 && g.Len() == 0 {
			return
		}
		if !reflect.DeepEqual(w.Interface(), g.Interface()) {
			report()
		}
	case reflect.Map: // nil and empty maps are equal, like slices
		if w.Len() == 0 && g.Len() == 0 {
			return
		}
		if !reflect.DeepEqual(w.Interface(), g.Interface()) {
			report()
		}
	default:
		if w.Interface() != g.Interface() {
			report()
		}
	}
}

func orRoot(path string) string {
	if path == "" {
		return "value"
	}
	return path
}

// show formats a value for a failure message.
func show(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case time.Time:
		if x.IsZero() {
			return "zero time"
		}
		return x.UTC().Format(time.RFC3339Nano)
	case json.RawMessage:
		if x == nil {
			return "nil"
		}
		return "`" + string(x) + "`"
	case []byte:
		if x == nil {
			return "nil"
		}
		return fmt.Sprintf("%x", x)
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "nil"
		}
		return "&" + show(v.Elem())
	}
	return fmt.Sprintf("%#v", v.Interface())
}

// jsonEqual compares two JSON documents by meaning; empty equals empty.
func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

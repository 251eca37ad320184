package storetest

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

func importReg(u *store.User, appID string) *store.Registration {
	return &store.Registration{ID: uuid.NewString(), UserID: u.ID, ApplicationID: appID, Roles: []string{"r"}, Verified: true, CreatedAt: at(1)}
}

// testImportUsersCommits: a valid batch lands whole, registrations
// included.
func testImportUsersCommits(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createApp(t, s, newApp())
	u1, u2 := newUser(), newUser()
	r1 := importReg(u1, a.ID)
	noErr(t, "ImportUsers", s.ImportUsers(ctx, []*store.User{u1, u2}, []*store.Registration{r1}))
	for _, u := range []*store.User{u1, u2} {
		got, err := s.GetUser(ctx, u.ID)
		noErr(t, "GetUser(imported)", err)
		same(t, "imported user", u, got)
	}
	got, err := s.GetRegistration(ctx, u1.ID, a.ID)
	noErr(t, "GetRegistration(imported)", err)
	same(t, "imported registration", r1, got)
}

// testImportUsersAllOrNothing: a duplicate against the store, a duplicate
// inside the batch or a registration for an unknown application leaves
// nothing behind (AUD-15).
func testImportUsersAllOrNothing(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createApp(t, s, newApp())
	existing := createUser(t, s, newUser())

	cases := []struct {
		name  string
		batch func() ([]*store.User, []*store.Registration)
		want  error
	}{
		{"email taken in the store", func() ([]*store.User, []*store.Registration) {
			ok, dup := newUser(), newUser()
			dup.Email = strings.ToUpper(existing.Email)
			return []*store.User{ok, dup}, []*store.Registration{importReg(ok, a.ID)}
		}, store.ErrDuplicate},
		{"username twice in the batch", func() ([]*store.User, []*store.Registration) {
			one, two := newUser(), newUser()
			two.Username = one.Username
			return []*store.User{one, two}, nil
		}, store.ErrDuplicate},
		{"unknown application", func() ([]*store.User, []*store.Registration) {
			one := newUser()
			return []*store.User{one}, []*store.Registration{importReg(one, uuid.NewString())}
		}, store.ErrNotFound},
	}
	for _, c := range cases {
		users, regs := c.batch()
		err := s.ImportUsers(ctx, users, regs)
		wantErr(t, "ImportUsers("+c.name+")", err, c.want)
		for _, u := range users {
			if got, err := s.GetUser(ctx, u.ID); err == nil && got.ID != existing.ID {
				t.Errorf("%s: user %s was kept from a refused batch", c.name, u.Email)
			}
		}
	}
	list, err := s.ListUsers(ctx, 0)
	noErr(t, "ListUsers", err)
	wantIDs(t, "users after refused imports", []string{existing.ID}, ids(list))
}

package forums

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/internal/exampletest"
	"github.com/gatehouse-auth/gatehouse/internal/sitetest"
)

// TestUnverifiedMembersReadButDoNotPost: a member whose address is not
// confirmed (email_verified false in the access token) reads threads, sees
// a notice with a resend button instead of the forms, and a post is
// refused with 403 and stores nothing (README, "Accounts").
func TestUnverifiedMembersReadButDoNotPost(t *testing.T) {
	ctx := context.Background()
	i := idptest.Start(t)
	id, secret := i.CreateApp(t, idptest.AppOptions{Name: "forums"})
	const email, pw = "new.member@example.com", "rainy harbour lantern puzzle"
	u, err := i.Server.Admin().CreateUser(ctx, idp.UserSpec{Email: email, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := i.Server.Admin().Register(ctx, u.ID, id, []string{"user"}); err != nil {
		t.Fatal(err)
	}
	a, err := New(ctx, exampletest.Config(t, i.URL, id, secret, filepath.Join(t.TempDir(), "forums.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cookies := sitetest.Login(t, a, email, pw)
	before, _ := a.Stats(ctx)

	page := sitetest.Serve(a, sitetest.In("GET", "/posts", ""), cookies)
	if page.Code != http.StatusOK || strings.Contains(page.Body.String(), `action="/posts"`) ||
		!strings.Contains(page.Body.String(), `action="/account/verify-email"`) {
		t.Fatalf("threads page for an unconfirmed member: %d\n%s", page.Code, page.Body)
	}
	if rec := sitetest.Serve(a, sitetest.In("GET", "/posts/1", ""), cookies); rec.Code != http.StatusOK {
		t.Fatalf("reading a thread: %d", rec.Code)
	}
	for _, p := range []string{"/posts", "/posts/1/replies"} {
		rec := sitetest.Serve(a, sitetest.In("POST", p, "title=Hi&body=spam"), cookies)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "Confirm your email address") {
			t.Errorf("POST %s: %d", p, rec.Code)
		}
	}
	if after, _ := a.Stats(ctx); after != before {
		t.Errorf("posts stored: %+v -> %+v", before, after)
	}
}

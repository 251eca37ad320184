package idp_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
)

// AUD-17, IDP-HASH-6 (NIST SP 800-63B §5.1.1.2): every place the IdP
// takes a new plain-text password refuses common breached passwords and
// passwords built from the user's email or the application's name with a
// FusionAuth fieldErrors 400, and accepts a good passphrase.
func TestAUD17_AdminAPIRefusesBreachedAndContextPasswords(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{Name: "Pinecone Forums"})
	const good = "plum tractor whispers at dawn"
	type call struct {
		name, method, path, body, want string
	}
	create := func(email, pw string) string {
		return `{"user":{"email":"` + email + `","password":"` + pw + `"},"skipVerification":true}`
	}
	register := func(email, pw string) string {
		return `{"registration":{"applicationId":"` + f.clientID + `"},"user":{"email":"` + email + `","password":"` + pw + `"}}`
	}
	calls := []call{
		{"create: common", "POST", "/api/user", create("zed@example.com", "PasswordPassword"), "[breachedCommonPassword]user.password"},
		{"create: padded common", "POST", "/api/user", create("zed@example.com", "dragon123456789!"), "[breachedCommonPassword]user.password"},
		{"create: email local part", "POST", "/api/user", create("zelda.fitz@example.com", "Zelda.Fitz rules the world"), "[contextSpecific]user.password"},
		{"create: email parts dominate", "POST", "/api/user", create("zed@wombat-mail.org", "wombat mail 2024 zed!"), "[contextSpecific]user.password"},
		{"create: service name", "POST", "/api/user", create("zed@example.com", "my gatehouse password"), "[contextSpecific]user.password"},
		{"create for app: app name", "POST", "/api/user", `{"applicationId":"` + f.clientID + `","user":{"email":"zed@example.com","password":"pinecone forums forever"}}`, "[contextSpecific]user.password"},
		{"register with user: app name", "POST", "/api/user/registration", register("zed@example.com", "PineconeForums-2024-06"), "[contextSpecific]user.password"},
		{"register with user: common", "POST", "/api/user/registration", register("zed@example.com", "1qaz2wsx3edc4rfv"), "[breachedCommonPassword]user.password"},
		{"update: common", "PATCH", "/api/user/" + f.userID, `{"user":{"password":"qwertyuiop12345"}}`, "[breachedCommonPassword]user.password"},
		{"update: email local part", "PUT", "/api/user/" + f.userID, `{"user":{"email":"alice@example.com","password":"alice in wonderland"}}`, "[contextSpecific]user.password"},
		// The user is registered for the app: its name is context at a change.
		{"update: registered app's name", "PATCH", "/api/user/" + f.userID, `{"user":{"password":"pinecone forums forever"}}`, "[contextSpecific]user.password"},
	}
	for _, c := range calls {
		r := f.api(c.method, c.path, c.body)
		if r.status != 400 || !strings.Contains(string(r.body), c.want) {
			t.Errorf("%s: %d %s, want 400 %s", c.name, r.status, r.body, c.want)
		}
	}
	// The refused change left the user's password as it was.
	if r, _ := f.login(); r.status != 200 {
		t.Fatalf("login with the old password after refused changes: %d %s", r.status, r.body)
	}
	for _, c := range []call{
		{"create: good passphrase", "POST", "/api/user", create("zed@example.com", good), ""},
		{"register with user: good passphrase", "POST", "/api/user/registration", register("zoe@example.com", good), ""},
		{"update: good passphrase", "PATCH", "/api/user/" + f.userID, `{"user":{"password":"` + good + `"}}`, ""},
	} {
		if r := f.api(c.method, c.path, c.body); r.status != 200 {
			t.Errorf("%s: %d %s, want 200", c.name, r.status, r.body)
		}
	}
}

// The admin operations the CLI uses (gatehouse user create / set-password)
// apply the same check and report it as a ValidationError.
func TestAUD17_AdminOperationsRefuseBreachedAndContextPasswords(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	adm := f.idp.Server.Admin()
	ctx := context.Background()
	var ve *idp.ValidationError
	_, err := adm.CreateUser(ctx, idp.UserSpec{Email: "yann@example.com", Password: "passwordpassword"})
	if !errors.As(err, &ve) || ve.Field != "password" || ve.Kind != "breachedCommonPassword" {
		t.Errorf("CreateUser(common) = %v, want [breachedCommonPassword]password", err)
	}
	err = adm.SetPassword(ctx, f.userID, "ALICE-example-1999")
	if !errors.As(err, &ve) || ve.Field != "password" || ve.Kind != "contextSpecific" {
		t.Errorf("SetPassword(email parts) = %v, want [contextSpecific]password", err)
	}
	if err := adm.SetPassword(ctx, f.userID, "plum tractor whispers at dawn"); err != nil {
		t.Errorf("SetPassword(good passphrase) = %v", err)
	}
}

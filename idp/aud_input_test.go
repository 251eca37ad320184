package idp_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp/idptest"
)

// wantFieldError asserts a 400 in FusionAuth's shape:
// {"fieldErrors":{field:[{"code":"[kind]field","message":...}]}}.
func wantFieldError(t *testing.T, what string, r *response, field, kind string) {
	t.Helper()
	if r.status != http.StatusBadRequest {
		t.Errorf("%s: status %d, want 400; body %s", what, r.status, r.body)
		return
	}
	var body struct {
		FieldErrors map[string][]struct{ Code, Message string } `json:"fieldErrors"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Errorf("%s: body %q is not JSON", what, r.body)
		return
	}
	errs := body.FieldErrors[field]
	if len(errs) == 0 || errs[0].Code != "["+kind+"]"+field || errs[0].Message == "" {
		t.Errorf("%s: fieldErrors %s, want %s with code [%s]%s", what, r.body, field, kind, field)
	}
}

func (f *fixture) createUserAPI(email string) string {
	f.t.Helper()
	r := f.api("POST", "/api/user", `{"user":{"email":"`+email+`","password":"a long enough passphrase"}}`)
	if r.status != http.StatusOK {
		f.t.Fatalf("create %s: %d %s", email, r.status, r.body)
	}
	return r.json(f.t)["user"].(map[string]any)["id"].(string)
}

func (f *fixture) userCount() int {
	f.t.Helper()
	l, err := f.idp.Store.ListUsers(f.t.(*testing.T).Context(), 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return len(l)
}

// TestAUD15_UpdateRefusesInvalidEmail: PUT and PATCH /api/user/{id} refuse
// anything but one bare address, and the stored email stays.
func TestAUD15_UpdateRefusesInvalidEmail(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	for _, email := range []string{
		"not-an-email",
		"<script>alert(1)</script>@example.com",
		`\"<script>\"@example.com`,
		"Eve <eve@example.com>",
		"eve@example.com, carol@example.com",
		"eve@example.com\\nBcc: x@example.com",
		"eve@@example.com",
	} {
		for _, method := range []string{"PUT", "PATCH"} {
			r := f.api(method, "/api/user/"+f.userID, `{"user":{"email":"`+email+`"}}`)
			wantFieldError(t, method+" "+email, r, "user.email", "notEmail")
		}
	}
	if u, _ := f.idp.Store.GetUser(t.Context(), f.userID); u.Email != f.email {
		t.Fatalf("email changed to %q", u.Email)
	}
	if r := f.api("PUT", "/api/user/"+f.userID, `{"user":{"email":"Alice.New@Example.com"}}`); r.status != http.StatusOK {
		t.Fatalf("a valid new email: %d %s", r.status, r.body)
	}
}

// TestAUD15_CreateRefusesMarkupEmail: POST /api/user refuses markup in the
// address.
func TestAUD15_CreateRefusesMarkupEmail(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	before := f.userCount()
	for _, email := range []string{"<script>alert(1)</script>@example.com", `\"<b>\"@example.com`, "a@exa<mple.com"} {
		r := f.api("POST", "/api/user", `{"user":{"email":"`+email+`","password":"a long enough passphrase"}}`)
		wantFieldError(t, email, r, "user.email", "notEmail")
	}
	if n := f.userCount(); n != before {
		t.Fatalf("%d users created", n-before)
	}
}

// TestAUD15_NamesRefuseMarkupAndControlCharacters: names and usernames
// refuse < >, control and invisible format characters (and, for
// usernames, spaces), on create and update.
func TestAUD15_NamesRefuseMarkupAndControlCharacters(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	cases := []struct{ field, value string }{
		{"firstName", "<script>alert(1)</script>"},
		{"lastName", `Smith\nSet-Cookie: x=y`},
		{"fullName", `Eve \u202egnp.exe`},
		{"username", "eve smith"},
		{"username", "<img src=x>"},
		{"firstName", strings.Repeat("a", 256)},
	}
	for _, c := range cases {
		r := f.api("POST", "/api/user", `{"user":{"email":"new@example.com","password":"a long enough passphrase","`+c.field+`":"`+c.value+`"}}`)
		wantFieldError(t, "create "+c.field+"="+c.value, r, "user."+c.field, "invalid")
		r = f.api("PATCH", "/api/user/"+f.userID, `{"user":{"`+c.field+`":"`+c.value+`"}}`)
		wantFieldError(t, "update "+c.field+"="+c.value, r, "user."+c.field, "invalid")
	}
	if r := f.api("POST", "/api/user", `{"user":{"email":"zoe@example.com","password":"a long enough passphrase","firstName":"Zoë","lastName":"O'Brien-Łukasz","fullName":"Zoë O'Brien"}}`); r.status != http.StatusOK {
		t.Fatalf("ordinary names refused: %d %s", r.status, r.body)
	}
}

// TestAUD15_ShortClientSecretRefused: a caller-chosen client secret needs
// at least 32 characters.
func TestAUD15_ShortClientSecretRefused(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	for _, secret := range []string{"x", strings.Repeat("s", 31)} {
		r := f.api("POST", "/api/application", `{"application":{"name":"Billing","oauthConfiguration":{"clientSecret":"`+secret+`"}}}`)
		wantFieldError(t, "secret of "+itoa(len(secret)), r, "application.oauthConfiguration.clientSecret", "tooShort")
	}
	if r := f.api("POST", "/api/application", `{"application":{"name":"Billing","oauthConfiguration":{"clientSecret":"`+strings.Repeat("s", 32)+`"}}}`); r.status != http.StatusOK {
		t.Fatalf("32-character secret: %d %s", r.status, r.body)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func (f *fixture) createAppWithHook(hook string, optIn bool) *response {
	f.t.Helper()
	b, _ := json.Marshal(map[string]any{"application": map[string]any{"name": "Hooked", "webhookURLs": []string{hook}, "webhookAllowLinkLocal": optIn}})
	return f.api("POST", "/api/application", string(b))
}

// TestAUD15_WebhookURLMustBeHTTP: file:, gopher:, javascript: and relative
// webhook URLs are refused.
func TestAUD15_WebhookURLMustBeHTTP(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	for _, hook := range []string{"file:///etc/passwd", "gopher://x", "javascript:alert(1)", "ftp://example.com/x", "/webhooks/gatehouse", "http://"} {
		wantFieldError(t, hook, f.createAppWithHook(hook, false), "application.webhookURLs[0]", "invalid")
		wantFieldError(t, hook+" (opt-in)", f.createAppWithHook(hook, true), "application.webhookURLs[0]", "invalid")
	}
}

// TestAUD15_WebhookLinkLocalNeedsOptIn: link-local and cloud-metadata
// targets (and numeric host names that could hide one) are refused unless
// the application sets webhookAllowLinkLocal; loopback and private
// addresses stay allowed (apps often run next to the IdP, as in the demo).
func TestAUD15_WebhookLinkLocalNeedsOptIn(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	for _, hook := range []string{
		"http://169.254.169.254/latest/meta-data/",
		"https://169.254.0.1/",
		"http://[fe80::1]/hook",
		"http://[fe80::1%25eth0]/hook",
		"http://[::ffff:169.254.169.254]/",
		"http://100.100.100.200/latest/meta-data/",
		"http://[fd00:ec2::254]/",
		"http://metadata.google.internal/computeMetadata/v1/",
		"http://2852039166/",
		"http://0xa9fea9fe/",
		"http://0.0.0.0:8080/",
		"http://224.0.0.1/",
	} {
		wantFieldError(t, hook, f.createAppWithHook(hook, false), "application.webhookURLs[0]", "linkLocal")
		if r := f.createAppWithHook(hook, true); r.status != http.StatusOK {
			t.Errorf("%s with webhookAllowLinkLocal: %d %s", hook, r.status, r.body)
		}
	}
	for _, hook := range []string{"http://127.0.0.1:8081/webhooks/gatehouse", "http://localhost/hook", "https://10.0.0.5/hook", "https://hooks.example.com/gatehouse"} {
		if r := f.createAppWithHook(hook, false); r.status != http.StatusOK {
			t.Errorf("%s: %d %s", hook, r.status, r.body)
		}
	}
}

// TestAUD15_RegistrationRolesMustBeDefined: a registration may only carry
// roles its application defines.
func TestAUD15_RegistrationRolesMustBeDefined(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{Roles: []string{"buyer", "user"}})
	id := f.createUserAPI("carol@example.com")
	r := f.api("POST", "/api/user/registration/"+id, `{"registration":{"applicationId":"`+f.clientID+`","roles":["buyer","superadmin"]}}`)
	wantFieldError(t, "undefined role", r, "registration.roles", "invalid")
	if _, err := f.idp.Store.GetRegistration(t.Context(), id, f.clientID); err == nil {
		t.Fatal("registration created with an undefined role")
	}
	if r := f.api("POST", "/api/user/registration/"+id, `{"registration":{"applicationId":"`+f.clientID+`","roles":["buyer"]}}`); r.status != http.StatusOK {
		t.Fatalf("defined role: %d %s", r.status, r.body)
	}
}

func importUser(email string, extra string) string {
	return `{"email":"` + email + `","password":"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy","encryptionScheme":"bcrypt","factor":10` + extra + `}`
}

// TestAUD15_ImportIsAllOrNothing: a batch with one bad user (a duplicate
// inside the batch, a duplicate of a stored user, a bad email, an undefined
// role, an unknown application) answers 400 and creates nobody.
func TestAUD15_ImportIsAllOrNothing(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{Roles: []string{"buyer", "user"}})
	good := importUser("good@example.com", `,"registrations":[{"applicationId":"`+f.clientID+`","roles":["buyer"]}]`)
	cases := []struct{ name, bad, field, kind string }{
		{"duplicate in the batch", importUser("GOOD@example.com", ""), "users[1].email", "duplicate"},
		{"duplicate of a stored user", importUser(f.email, ""), "users[1].email", "duplicate"},
		{"invalid email", importUser("<script>@example.com", ""), "users[1].email", "notEmail"},
		{"undefined role", importUser("other@example.com", `,"registrations":[{"applicationId":"`+f.clientID+`","roles":["root"]}]`), "users[1].registrations[0].roles", "invalid"},
		{"unknown application", importUser("other@example.com", `,"registrations":[{"applicationId":"00000000-0000-4000-8000-000000000000"}]`), "users[1].registrations[0].applicationId", "invalid"},
		{"markup in a name", importUser("other@example.com", `,"firstName":"<b>x</b>"`), "users[1].firstName", "invalid"},
	}
	before := f.userCount()
	for _, c := range cases {
		r := f.api("POST", "/api/user/import", `{"users":[`+good+`,`+c.bad+`]}`)
		wantFieldError(t, c.name, r, c.field, c.kind)
		if n := f.userCount(); n != before {
			t.Fatalf("%s: %d users created by a refused batch", c.name, n-before)
		}
	}
	if r := f.api("POST", "/api/user/import", `{"users":[`+good+`,`+importUser("other@example.com", "")+`]}`); r.status != http.StatusOK {
		t.Fatalf("valid batch: %d %s", r.status, r.body)
	}
	if n := f.userCount(); n != before+2 {
		t.Fatalf("valid batch created %d users", n-before)
	}
}

// TestAUD16_GoClientRegistrationBodyRegistersExistingUser: the body
// FusionAuth's Go client sends for Register(userId, request) always carries
// a user object (active:false, twoFactor:{}, verified:false,...) with no
// email, username or password. Empty values are absent, so that user is
// absent: the call registers the existing user and changes nothing else.
func TestAUD16_GoClientRegistrationBodyRegistersExistingUser(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	id := f.createUserAPI("carol@example.com")
	body := `{"eventInfo":{"location":{}},"disableDomainBlock":false,"generateAuthenticationToken":false,` +
		`"registration":{"applicationId":"` + f.clientID + `","roles":["user"],"verified":false},` +
		`"sendSetPasswordEmail":false,"skipRegistrationVerification":false,"skipVerification":false,` +
		`"user":{"active":false,"passwordChangeRequired":false,"twoFactor":{},"verified":false}}`
	r := f.api("POST", "/api/user/registration/"+id, body)
	if r.status != http.StatusOK {
		t.Fatalf("register existing user with the Go client's body: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if u := m["user"].(map[string]any); u["id"] != id || u["email"] != "carol@example.com" || u["active"] != true {
		t.Fatalf("user in answer: %v", u)
	}
	if reg, err := f.idp.Store.GetRegistration(t.Context(), id, f.clientID); err != nil || len(reg.Roles) != 1 || reg.Roles[0] != "user" {
		t.Fatalf("registration: %+v %v", reg, err)
	}
	if u, err := f.idp.Store.GetUser(t.Context(), id); err != nil || !u.Active || u.Email != "carol@example.com" {
		t.Fatalf("stored user changed: %+v %v", u, err)
	}
	// "null" strings from other clients are absent too; an unknown user id
	// is still a field error, never a user created without identity.
	r = f.api("POST", "/api/user/registration/00000000-0000-4000-8000-000000000000",
		`{"registration":{"applicationId":"`+f.clientID+`"},"user":{"email":"null","active":false,"twoFactor":{}}}`)
	wantFieldError(t, "unknown user", r, "userId", "invalid")
}

// TestAUD15_RegistrationWithNewUserChecksRolesFirst: creating a user
// through POST /api/user/registration with an undefined role creates
// neither the registration nor the user.
func TestAUD15_RegistrationWithNewUserChecksRolesFirst(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{Roles: []string{"user"}})
	before := f.userCount()
	r := f.api("POST", "/api/user/registration", `{"registration":{"applicationId":"`+f.clientID+`","roles":["root"]},`+
		`"user":{"email":"dan@example.com","password":"a long enough passphrase"}}`)
	wantFieldError(t, "undefined role", r, "registration.roles", "invalid")
	if n := f.userCount(); n != before {
		t.Fatal("the user was created although the registration was refused")
	}
}

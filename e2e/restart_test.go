package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/examples/demo"
)

func readInfo(t *testing.T, dir string) demo.Info {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, demo.InfoFile))
	if err != nil {
		t.Fatal(err)
	}
	var info demo.Info
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// Restarting the demo keeps users, carts, posts and live sessions; the
// refresh cookies still open (the seal keys persist) and revocation still
// reaches the apps.
func TestDemoRestartKeepsState(t *testing.T) {
	e := newEnv(t)
	b := e.browser("alice-laptop")
	alice, aliceID := e.user(0)
	bob, _ := e.user(1)
	b.login(e.info.Store, alice, "/shopping-cart")
	b.post(e.store("/shopping-cart/items"), url.Values{"productId": {"7"}, "quantity": {"4"}})
	b.login(e.info.Forums, alice, "/posts")
	r := b.post(e.forums("/posts"), url.Values{"title": {"Before the restart"}, "body": {"This post must survive."}})
	if r.Status != 303 {
		t.Fatalf("new thread: %d", r.Status)
	}
	thread := r.Location
	before := readInfo(t, e.opts.Dir)

	e.restart()

	if after := readInfo(t, e.opts.Dir); !reflect.DeepEqual(before, after) {
		t.Fatalf("demo.json changed across a restart on the same addresses:\n%+v\n%+v", before, after)
	}
	mark := e.rec.mark()
	if p := b.get(e.store("/shopping-cart")); p.Status != 200 || !strings.Contains(p.Body, "Guest book") || !strings.Contains(p.Body, "Total (4 items)") {
		t.Fatalf("cart after restart: %d", p.Status)
	}
	if p := b.get(e.forums(thread)); p.Status != 200 || !strings.Contains(p.Body, "This post must survive.") {
		t.Fatalf("thread after restart: %d", p.Status)
	}
	if c := refreshCalls(e.rec.since(mark)); len(c) != 0 {
		t.Fatalf("live sessions did not survive: %d refreshes", len(c))
	}
	// Refresh cookies written before the restart still open.
	e.clock.Advance(idle + time.Minute)
	mark = e.rec.mark()
	if p := b.get(e.store("/shopping-cart")); p.Status != 200 || len(refreshCalls(e.rec.since(mark))) != 1 {
		t.Fatalf("refresh after restart: %d", p.Status)
	}
	e.browser("bob").login(e.info.Store, bob, "/shopping-cart")
	// Webhooks still reach the apps.
	if _, err := e.admin().RevokeUserTokens(e.ctx, aliceID, ""); err != nil {
		t.Fatal(err)
	}
	if !within(propagation, func() bool { return len(e.forumSessions(aliceID)) == 0 }) {
		t.Fatal("revocation did not reach the forums after a restart")
	}
}

// Restarting on other ports rewrites the URLs in demo.json and the
// applications' webhook URLs; nothing else changes.
func TestDemoRestartOnNewPorts(t *testing.T) {
	e := newEnv(t)
	b := e.browser("alice-laptop")
	alice, aliceID := e.user(0)
	b.login(e.info.Forums, alice, "/posts")
	before := readInfo(t, e.opts.Dir)
	e.stop()
	e.opts.IdPAddr, e.opts.StoreAddr, e.opts.ForumsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	e.start()
	after := readInfo(t, e.opts.Dir)
	if after.Forums == before.Forums || after.APIKey != before.APIKey ||
		!reflect.DeepEqual(after.Applications, before.Applications) || !reflect.DeepEqual(after.Users, before.Users) {
		t.Fatalf("demo.json after moving ports:\n%+v\n%+v", before, after)
	}
	app, err := e.d.IdPStore.GetApplication(e.ctx, after.Applications.Forums.ID)
	if err != nil || len(app.Config.WebhookURLs) != 1 || app.Config.WebhookURLs[0] != after.Forums+"/webhooks/gatehouse" {
		t.Fatalf("forums webhook URLs %v (%v)", app.Config.WebhookURLs, err)
	}
	// Cookies are per host, not per port: the session carries over.
	if p := b.get(e.forums("/posts")); p.Status != 200 {
		t.Fatalf("forum session after moving ports: %d", p.Status)
	}
	if _, err := e.admin().RevokeUserTokens(e.ctx, aliceID, ""); err != nil {
		t.Fatal(err)
	}
	if !within(propagation, func() bool { return len(e.forumSessions(aliceID)) == 0 }) {
		t.Fatal("revocation did not reach the forums on its new port")
	}
}

// demo.json is written 0600 with exactly the design §6 fields.
func TestDemoJSONContract(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.opts.Dir, demo.InfoFile)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("demo.json mode %v (%v), want 0600", st.Mode(), err)
	}
	raw, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string {
		var out []string
		for k := range v.(map[string]any) {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if got := keys(m); !reflect.DeepEqual(got, []string{"apiKey", "applications", "forums", "idp", "mailbox", "store", "users"}) {
		t.Fatalf("top-level keys %v", got)
	}
	apps := m["applications"].(map[string]any)
	if got := keys(apps); !reflect.DeepEqual(got, []string{"forums", "store"}) {
		t.Fatalf("applications keys %v", got)
	}
	for _, name := range []string{"store", "forums"} {
		if got := keys(apps[name]); !reflect.DeepEqual(got, []string{"id", "secret"}) {
			t.Fatalf("%s keys %v", name, got)
		}
	}
	users := m["users"].([]any)
	if len(users) < 2 {
		t.Fatalf("%d users", len(users))
	}
	for _, u := range users {
		if got := keys(u); !reflect.DeepEqual(got, []string{"email", "password"}) {
			t.Fatalf("user keys %v", got)
		}
		if pw := u.(map[string]any)["password"].(string); len([]rune(pw)) < 15 {
			t.Fatalf("demo password %q shorter than 15", pw)
		}
	}
	for _, k := range []string{"idp", "store", "forums", "mailbox"} {
		if u := m[k].(string); !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Fatalf("%s URL %q", k, u)
		}
	}
	// Every server answers /healthz.
	b := e.browser("probe")
	for _, base := range []string{e.info.IdP, e.info.Store, e.info.Forums, e.info.Mailbox} {
		if r := b.get(base + "/healthz"); r.Status != 200 {
			t.Fatalf("%s/healthz: %d", base, r.Status)
		}
	}
	// The mailbox lists its mail as a JSON array.
	if r := b.get(e.info.Mailbox + "/messages.json"); r.Status != 200 || !strings.HasPrefix(strings.TrimSpace(r.Body), "[") {
		t.Fatalf("messages.json: %d %q", r.Status, r.Body)
	}
}

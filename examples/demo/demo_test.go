package demo

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/password"
)

func startTest(t *testing.T, dir string) *Demo {
	t.Helper()
	d, err := Start(context.Background(), Options{Dir: dir, IdPAddr: "127.0.0.1:0", StoreAddr: "127.0.0.1:0", ForumsAddr: "127.0.0.1:0", MailboxAddr: "127.0.0.1:0",
		Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1}), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func stop(t *testing.T, d *Demo) {
	t.Helper()
	// A generous bound: Close itself limits each phase; this only keeps a
	// hung shutdown from hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// If the IdP database is lost but demo.json remains, the next start
// recreates the applications, API keys and users with the recorded ids,
// secrets and passwords, so scripts that read demo.json keep working.
func TestLostIdPDatabaseIsRebuiltFromDemoJSON(t *testing.T) {
	dir := t.TempDir()
	d := startTest(t, dir)
	info := d.Info
	stop(t, d)
	for _, f := range []string{"idp.db", "idp.db-wal", "idp.db-shm"} {
		os.Remove(filepath.Join(dir, f))
	}
	d = startTest(t, dir)
	defer stop(t, d)
	if d.Info.APIKey != info.APIKey || d.Info.Applications != info.Applications || d.Info.Users[1] != info.Users[1] {
		t.Fatal("credentials changed")
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u := info.Users[1]
	resp, err := c.PostForm(d.Info.Forums+"/login", url.Values{"email": {u.Email}, "password": {u.Password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 {
		t.Fatalf("login with the recorded password: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", d.Info.IdP+"/api/user?email="+url.QueryEscape(u.Email), nil)
	req.Header.Set("Authorization", info.APIKey)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("recorded API key: %d", resp.StatusCode)
	}
}

func TestRefusesNonLoopbackAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Start(context.Background(), Options{Dir: dir, IdPAddr: "0.0.0.0:0", Logger: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("non-loopback address: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, InfoFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{Dir: dir, IdPAddr: "127.0.0.1:0", StoreAddr: "127.0.0.1:0", ForumsAddr: "127.0.0.1:0", MailboxAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("malformed demo.json: %v", err)
	}
	if p := passphrase(); len(p) < 15 || strings.Count(p, "-") != 4 {
		t.Fatalf("passphrase %q", p)
	}
}

// If demo.json is lost but the databases remain, the next start writes a
// new demo.json whose passwords work (the existing accounts get them).
func TestLostDemoJSONGivesWorkingPasswords(t *testing.T) {
	dir := t.TempDir()
	d := startTest(t, dir)
	stop(t, d)
	if err := os.Remove(filepath.Join(dir, InfoFile)); err != nil {
		t.Fatal(err)
	}
	d = startTest(t, dir)
	defer stop(t, d)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, u := range d.Info.Users {
		resp, err := c.PostForm(d.Info.Store+"/login", url.Values{"email": {u.Email}, "password": {u.Password}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 303 {
			t.Fatalf("%s with the new demo.json password: %d", u.Email, resp.StatusCode)
		}
	}
}

// The demo runs a mailbox: demo.json names its page, a mail sent
// through the IdP's Sender lands in messages.json, and both apps have
// their BaseURL (where mail links point), also after a restart.
func TestMailbox(t *testing.T) {
	dir := t.TempDir()
	d := startTest(t, dir)
	var info Info
	if _, err := readJSON(filepath.Join(dir, InfoFile), &info); err != nil {
		t.Fatal(err)
	}
	if info.Mailbox == "" || info.Mailbox != d.Info.Mailbox || !strings.HasPrefix(info.Mailbox, "http://127.0.0.1:") {
		t.Fatalf("demo.json mailbox %q", info.Mailbox)
	}
	link := d.Info.Store + "/reset-password?id=abc"
	err := d.Mailer.Send(context.Background(), mail.Message{To: "alice@example.com", Template: mail.TemplatePasswordReset,
		Data: mail.Data{AppName: "Gatehouse Store", Email: "alice@example.com", Link: link, ValidFor: "15 minutes"}})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []struct {
		ID, To, Subject, Text string
		Links                 []string
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(msgs) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the mail never reached messages.json")
		}
		time.Sleep(10 * time.Millisecond)
		resp, err := http.Get(info.Mailbox + "/messages.json")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&msgs)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if m := msgs[0]; m.To != "alice@example.com" || len(m.Links) != 1 || m.Links[0] != link {
		t.Errorf("message %+v", m)
	}
	checkBaseURLs := func(d *Demo) {
		t.Helper()
		for id, want := range map[string]string{d.Info.Applications.Store.ID: d.Info.Store, d.Info.Applications.Forums.ID: d.Info.Forums} {
			app, err := d.IdPStore.GetApplication(context.Background(), id)
			if err != nil || app.Config.BaseURL != want {
				t.Errorf("application %s BaseURL %q, want %q (%v)", id, app.Config.BaseURL, want, err)
			}
		}
	}
	checkBaseURLs(d)
	stop(t, d)

	// On new ports the BaseURLs follow; the mail is still there.
	d = startTest(t, dir)
	defer stop(t, d)
	checkBaseURLs(d)
	if got, err := d.Mailbox.Messages(); err != nil || len(got) != 1 {
		t.Errorf("after restart: %d messages, %v", len(got), err)
	}
}

package mailbox_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mailbox"
)

// start serves a mailbox on loopback and returns it, its SMTP address
// and its web page.
func start(t *testing.T, dir string) (*mailbox.Mailbox, string, *httptest.Server) {
	t.Helper()
	mb, err := mailbox.New(mailbox.Config{Dir: dir, MaxMessageBytes: 64 << 10, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mb.ServeSMTP(ln) }()
	web := httptest.NewServer(mb.Handler())
	t.Cleanup(func() { web.Close(); _ = mb.Close() })
	return mb, ln.Addr().String(), web
}

func send(t *testing.T, addr, to, raw string) error {
	t.Helper()
	return smtp.SendMail(addr, nil, "idp@example.com", []string{to}, []byte(strings.ReplaceAll(raw, "\n", "\r\n")))
}

const multipartMail = `From: Gatehouse <idp@example.com>
To: alice@example.com
Subject: =?UTF-8?q?R=C3=A9set_your_password?=
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=XYZ

--XYZ
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Open https://store.example/reset-password?id=3Dabc_DEF-123 within 15 minut=
es.
Or http://127.0.0.1:8081/verify-email?id=3Dxyz.
--XYZ
Content-Type: text/html; charset=UTF-8

<p><a href="https://evil.example/">html only</a></p>
--XYZ--
`

func TestMessagesJSON(t *testing.T) {
	_, addr, web := start(t, t.TempDir())
	if err := send(t, addr, "alice@example.com", multipartMail); err != nil {
		t.Fatal(err)
	}
	htmlOnly := "To: bob@example.com\nSubject: html\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n" +
		"PHA+PGEgaHJlZj0iaHR0cHM6Ly9mb3J1bXMuZXhhbXBsZS9hIj5nbzwvYT4gaHR0cHM6Ly9mb3J1bXMuZXhhbXBsZS9hPC9wPg==\n"
	if err := send(t, addr, "bob@example.com", htmlOnly); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(web.URL + mailbox.JSONPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var raw []map[string]any
	body, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if len(raw) != 2 {
		t.Fatalf("got %d messages: %s", len(raw), body)
	}
	for _, m := range raw {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		if len(keys) != 5 || m["id"] == nil || m["to"] == nil || m["subject"] == nil || m["text"] == nil || m["links"] == nil {
			t.Errorf("keys %v, want exactly id, to, subject, text, links", keys)
		}
	}
	var msgs []mailbox.Message
	_ = json.Unmarshal(body, &msgs)
	first := msgs[0] // oldest first
	if first.To != "alice@example.com" || first.Subject != "Réset your password" {
		t.Errorf("to %q subject %q", first.To, first.Subject)
	}
	wantLinks := []string{"https://store.example/reset-password?id=abc_DEF-123", "http://127.0.0.1:8081/verify-email?id=xyz"}
	if !reflect.DeepEqual(first.Links, wantLinks) {
		t.Errorf("links %q, want %q (the text part's, QP decoded, no trailing dot)", first.Links, wantLinks)
	}
	if !strings.Contains(first.Text, "within 15 minutes.") {
		t.Errorf("text %q", first.Text)
	}
	if second := msgs[1]; second.To != "bob@example.com" || !reflect.DeepEqual(second.Links, []string{"https://forums.example/a"}) {
		t.Errorf("HTML-only mail: to %q links %q text %q", second.To, second.Links, second.Text)
	}
}

func TestEmptyMailboxIsEmptyList(t *testing.T) {
	_, _, web := start(t, t.TempDir())
	res, err := http.Get(web.URL + mailbox.JSONPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("empty mailbox: %s", body)
	}
}

// The pages: a language and a title, the CSP, no script or inline
// style; a message's links are anchors, its text escaped.
func TestPages(t *testing.T) {
	mb, addr, web := start(t, t.TempDir())
	evil := "To: alice@example.com\nSubject: <script>alert(1)</script>\n\n<img src=x onerror=alert(1)> see https://store.example/verify-email?id=abc\"onmouseover=x and javascript:alert(1)\n"
	if err := send(t, addr, "alice@example.com", evil); err != nil {
		t.Fatal(err)
	}
	msgs, err := mb.Messages()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%v %v", msgs, err)
	}
	get := func(path string, wantStatus int) string {
		t.Helper()
		res, err := http.Get(web.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != wantStatus {
			t.Errorf("%s: %d, want %d", path, res.StatusCode, wantStatus)
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'none'") || !strings.Contains(csp, "style-src 'self'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, res.Header)
		}
		return string(b)
	}
	for _, path := range []string{"/", mailbox.MessagePath + msgs[0].ID, mailbox.MessagePath + "nope", "/other"} {
		want := http.StatusOK
		if strings.Contains(path, "nope") || path == "/other" {
			want = http.StatusNotFound
		}
		page := get(path, want)
		if !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, "<title>") {
			t.Errorf("%s: no lang or title:\n%s", path, page)
		}
		if strings.Contains(page, "<script") || strings.Contains(page, "style=") || strings.Contains(page, "<img") {
			t.Errorf("%s: script, inline style or unescaped mail:\n%s", path, page)
		}
	}
	one := get(mailbox.MessagePath+msgs[0].ID, http.StatusOK)
	if !strings.Contains(one, `<a href="https://store.example/verify-email?id=abc">`) || !strings.Contains(one, "&lt;img") {
		t.Errorf("the link is not an escaped anchor:\n%s", one)
	}
	if strings.Contains(one, `href="javascript`) {
		t.Errorf("a javascript: URL became a link:\n%s", one)
	}
	if list := get("/", http.StatusOK); !strings.Contains(list, mailbox.MessagePath+msgs[0].ID) {
		t.Errorf("the list does not link the message:\n%s", list)
	}
	if css := get("/mailbox.css", http.StatusOK); !strings.Contains(css, "body") {
		t.Errorf("stylesheet: %s", css)
	}
	res, err := http.Post(web.URL+"/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", res.StatusCode)
	}
}

// Messages are files: a new Mailbox on the same directory has them.
func TestSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	mb, addr, _ := start(t, dir)
	if err := send(t, addr, "alice@example.com", multipartMail); err != nil {
		t.Fatal(err)
	}
	if err := mb.Close(); err != nil {
		t.Fatal(err)
	}
	mb2, _, _ := start(t, dir)
	msgs, err := mb2.Messages()
	if err != nil || len(msgs) != 1 || msgs[0].To != "alice@example.com" {
		t.Fatalf("after restart: %+v %v", msgs, err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".eml" {
			t.Errorf("stray file %s", e.Name())
		}
	}
}

// A message over MaxMessageBytes is refused and not stored; a mail that
// does not parse is stored and shown, never a crash.
func TestSizeBoundAndBadMail(t *testing.T) {
	mb, addr, web := start(t, t.TempDir())
	big := "To: a@example.com\nSubject: big\n\n" + strings.Repeat("x", 70<<10) + "\n"
	if err := send(t, addr, "a@example.com", big); err == nil {
		t.Error("an oversized message was accepted")
	}
	bad := "To: a@example.com\nSubject: bad\nContent-Type: multipart/mixed\n\nno boundary\n"
	if err := send(t, addr, "a@example.com", bad); err != nil {
		t.Fatal(err)
	}
	msgs, err := mb.Messages()
	if err != nil || len(msgs) != 1 || msgs[0].Subject != "bad" {
		t.Fatalf("%+v %v", msgs, err)
	}
	res, err := http.Get(web.URL + mailbox.MessagePath + msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("bad mail's page: %d", res.StatusCode)
	}
}

// With a clock that stands still, and across a restart, the mail still
// lists in order of arrival.
func TestOrderWithAStoppedClock(t *testing.T) {
	dir := t.TempDir()
	now := func() time.Time { return time.Unix(1700000000, 0) }
	serve := func() (*mailbox.Mailbox, string) {
		mb, err := mailbox.New(mailbox.Config{Dir: dir, Now: now, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = mb.ServeSMTP(ln) }()
		t.Cleanup(func() { _ = mb.Close() })
		return mb, ln.Addr().String()
	}
	var want []string
	mb, addr := serve()
	for i := range 20 {
		if i == 10 {
			_ = mb.Close()
			mb, addr = serve()
		}
		subj := fmt.Sprintf("mail %02d", i)
		want = append(want, subj)
		if err := send(t, addr, "a@example.com", "Subject: "+subj+"\n\nhi\n"); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := mb.Messages()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Subject)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order %v", got)
	}
}

func TestConfig(t *testing.T) {
	if _, err := mailbox.New(mailbox.Config{}); err == nil {
		t.Error("no Dir accepted")
	}
	if _, err := mailbox.New(mailbox.Config{Dir: t.TempDir(), MaxMessageBytes: -1}); err == nil {
		t.Error("negative size accepted")
	}
}

package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// `gatehouse idp` takes its mail settings from --smtp-url, --mail-from
// and --mail-templates: without a URL it says no mail is sent; a bad URL
// or template directory stops it; the password in the URL never reaches
// the log.
func TestIdPCommandMailFlags(t *testing.T) {
	dir := t.TempDir()
	kek := writeKEK(t)
	vars := map[string]string{"GATEHOUSE_DB": filepath.Join(dir, "idp.db"), "GATEHOUSE_ADDR": "127.0.0.1:0", "GATEHOUSE_KEK_FILE": kek}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no --smtp-url"},
		{[]string{"--smtp-url", "smtps://mailer:hunter2-secret@mail.example.com", "--mail-from", "Shop <shop@example.com>"}, "account mail"},
	} {
		s := start(t, vars, append([]string{"idp"}, c.args...)...)
		waitFor(t, "the IdP", func() bool { return strings.Contains(s.stderr.String(), "identity server listening") })
		if err := s.stop(t); err != nil {
			t.Fatal(err)
		}
		if out := s.stderr.String(); !strings.Contains(out, c.want) || strings.Contains(out, "hunter2-secret") {
			t.Errorf("%v: log lacks %q or shows the SMTP password:\n%s", c.args, c.want, out)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a refused flag stops the command before anything runs
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--smtp-url", "smtp://mail.example.com?tls=none"}, "loopback"},
		{[]string{"--smtp-url", "http://mail.example.com"}, "scheme"},
		{[]string{"--smtp-url", "smtp://127.0.0.1:25?tls=none", "--mail-from", "nobody"}, "From"},
		{[]string{"--smtp-url", "smtp://127.0.0.1:25?tls=none", "--mail-templates", filepath.Join(dir, "missing")}, "template"},
	} {
		var out strings.Builder
		env := &cliEnv{stdout: &out, stderr: &out, getenv: func(k string) string { return vars[k] }}
		if err := run(ctx, env, append([]string{"idp"}, c.args...)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error about %q", c.args, err, c.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// helpDefaults runs `gatehouse ARGS -h` and returns each flag's default as
// the help prints it (flags whose default is the zero value print none).
func helpDefaults(t *testing.T, args ...string) map[string]string {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	if err := run(context.Background(), env, append(args, "-h")); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("%v -h: %v", args, err)
	}
	flagLine := regexp.MustCompile(`^  -(\S+)`)
	def := regexp.MustCompile(`\(default "?([^")]*)"?\)$`)
	got := map[string]string{}
	name := ""
	for _, line := range strings.Split(errOut.String(), "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			name = m[1]
		}
		if m := def.FindStringSubmatch(strings.TrimSpace(line)); m != nil && name != "" {
			got[name] = m[1]
		}
	}
	if len(got) == 0 {
		t.Fatalf("%v -h printed no defaults:\n%s", args, errOut.String())
	}
	return got
}

// The CLI's flag defaults are the libraries' defaults, read from where the
// libraries declare them (design §7), not literals repeated in the CLI.
func TestFlagDefaultsAreTheLibraries(t *testing.T) {
	idpDefaults := map[string]string{
		"access-ttl":  idp.DefaultAccessTokenTTL.String(),
		"refresh-ttl": idp.DefaultRefreshTokenTTL.String(),
		"grace":       idp.DefaultGracePeriod.String(),
		"alg":         idp.DefaultSigningAlgorithm,
	}
	kitDefaults := map[string]string{
		"session-idle":     appkit.DefaultIdleTimeout.String(),
		"session-absolute": appkit.DefaultAbsoluteLifetime.String(),
		"refresh-method":   string(idpclient.DefaultRefreshMethod),
	}
	merge := func(ms ...map[string]string) map[string]string {
		all := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				all[k] = v
			}
		}
		return all
	}
	for _, c := range []struct {
		args []string
		want map[string]string
	}{
		{[]string{"idp"}, merge(idpDefaults, map[string]string{"addr": demo.DefaultIdPAddr, "mail-from": mail.DefaultFrom})},
		{[]string{"demo"}, merge(idpDefaults, kitDefaults, map[string]string{
			"idp-addr": demo.DefaultIdPAddr, "store-addr": demo.DefaultStoreAddr, "forums-addr": demo.DefaultForumsAddr,
			"mailbox-addr": demo.DefaultMailboxAddr,
		})},
		{[]string{"app", "store"}, merge(kitDefaults, map[string]string{
			"addr":                   demo.DefaultStoreAddr,
			"idp-url":                "http://" + demo.DefaultIdPAddr,
			"revoke-method":          string(idpclient.DefaultRevokeMethod),
			"refresh-cookie-max-age": appkit.DefaultRefreshCookieMaxAge.String(),
		})},
		{[]string{"app", "forums"}, map[string]string{"addr": demo.DefaultForumsAddr}},
	} {
		got := helpDefaults(t, c.args...)
		for name, want := range c.want {
			if got[name] != want {
				t.Errorf("gatehouse %s --%s default %q, library default %q", strings.Join(c.args, " "), name, got[name], want)
			}
		}
	}
}

// --grace 0 (the README's "none") becomes idp.Config.DisableGracePeriod,
// the library's one way to say it; other values pass through.
func TestGraceFlagZeroDisables(t *testing.T) {
	for _, c := range []struct {
		flag    string
		disable bool
	}{{"0", true}, {"0s", true}, {"10s", false}, {"3m", false}} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		var f idpFlags
		f.register(fs)
		if err := fs.Parse([]string{"--grace", c.flag}); err != nil {
			t.Fatal(err)
		}
		cfg := f.config(nil, "http://127.0.0.1", nil)
		if cfg.DisableGracePeriod != c.disable || (c.disable && cfg.GracePeriod != 0) || (!c.disable && cfg.GracePeriod != f.grace) {
			t.Errorf("--grace %s: GracePeriod %v, DisableGracePeriod %v", c.flag, cfg.GracePeriod, cfg.DisableGracePeriod)
		}
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// defaultDemoDir is where the demo keeps its files unless --dir says
// otherwise.
func defaultDemoDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "gatehouse", "demo")
}

// runDemo runs the IdP, Store and Forums on loopback with demo data
// (design §6) until interrupted.
func runDemo(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "demo")
	var ifl idpFlags
	ifl.register(fs)
	dir := fs.String("dir", defaultDemoDir(), "data directory (databases, demo.json, secrets.json)")
	idpAddr := fs.String("idp-addr", demo.DefaultIdPAddr, "identity server listen address (loopback)")
	storeAddr := fs.String("store-addr", demo.DefaultStoreAddr, "Store listen address (loopback)")
	forumsAddr := fs.String("forums-addr", demo.DefaultForumsAddr, "Forums listen address (loopback)")
	mailboxAddr := fs.String("mailbox-addr", demo.DefaultMailboxAddr, "Mailbox page listen address (loopback): the mail the IdP sends")
	idle := fs.Duration("session-idle", appkit.DefaultIdleTimeout, "apps' session idle timeout")
	absolute := fs.Duration("session-absolute", appkit.DefaultAbsoluteLifetime, "apps' absolute session lifetime")
	method := fs.String("refresh-method", string(idpclient.DefaultRefreshMethod), "how the apps refresh: oauth2 or jwt-refresh")
	pgURL := fs.String("postgres", "", "PostgreSQL URL for the IdP store instead of DIR/idp.db")
	sessionsURL := fs.String("sessions", "", "Redis URL (redis://…) for both apps' sessions instead of SQLite files in DIR")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected argument %q", fs.Arg(0))
	}
	if *sessionsURL != "" && !strings.HasPrefix(*sessionsURL, "redis") {
		// Two apps in one PostgreSQL sessions table would see each other's
		// sessions; give each app its own database with `gatehouse app`.
		return errors.New("demo: --sessions takes a redis:// URL")
	}
	if err := checkRefreshMethod(*method); err != nil {
		return err
	}
	for name, d := range map[string]time.Duration{"session-idle": *idle, "session-absolute": *absolute, "access-ttl": ifl.accessTTL, "refresh-ttl": ifl.refreshTTL} {
		if d <= 0 {
			return fmt.Errorf("demo: --%s must be positive", name)
		}
	}
	log := newLogger(env.stderr, *logFormat, *logLevel)
	opts := demo.Options{
		Dir: *dir, IdPAddr: *idpAddr, StoreAddr: *storeAddr, ForumsAddr: *forumsAddr, MailboxAddr: *mailboxAddr,
		SessionIdle: *idle, SessionAbsolute: *absolute,
		AccessTTL: ifl.accessTTL, RefreshTTL: ifl.refreshTTL, GracePeriod: ifl.grace, SigningAlgorithm: ifl.alg,
		RefreshMethod: idpclient.RefreshMethod(*method), Logger: log,
	}
	if ifl.noGrace() {
		opts.GracePeriod, opts.DisableGracePeriod = 0, true
	}
	if *pgURL != "" {
		sf := storeFlags{postgres: *pgURL}
		st, err := sf.open(ctx, log)
		if err != nil {
			return err
		}
		defer st.Close()
		opts.IdPStore = st
	}
	for app, dst := range map[string]*sessionstore.Store{"store": &opts.StoreSessions, "forums": &opts.ForumsSessions} {
		st, err := openSessions(ctx, *sessionsURL, app, log)
		if err != nil {
			return err
		}
		if st != nil {
			defer st.Close()
			*dst = st
		}
	}
	d, err := demo.Start(ctx, opts)
	if err != nil {
		return err
	}
	printBanner(env, d, *idle, ifl.accessTTL, ifl.refreshTTL)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-d.Err():
	}
	fmt.Fprintln(env.stderr, "gatehouse demo: stopping")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(runErr, d.Close(shutdown))
}

func checkRefreshMethod(m string) error {
	switch idpclient.RefreshMethod(m) {
	case idpclient.RefreshOAuth2, idpclient.RefreshJWT:
		return nil
	}
	return fmt.Errorf("--refresh-method %q: want %s or %s", m, idpclient.RefreshOAuth2, idpclient.RefreshJWT)
}

// printBanner tells a newcomer where to click and how to sign in.
func printBanner(env *cliEnv, d *demo.Demo, idle, access, refresh time.Duration) {
	w := env.stdout
	fmt.Fprintf(w, "\nGatehouse demo is running. Data: %s\n\n", d.Dir)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  Store\t%s\n", d.Info.Store)
	fmt.Fprintf(tw, "  Forums\t%s\n", d.Info.Forums)
	fmt.Fprintf(tw, "  Identity server\t%s\n", d.Info.IdP)
	fmt.Fprintf(tw, "  Mailbox\t%s\n", d.Info.Mailbox)
	_ = tw.Flush()
	fmt.Fprintln(w, "\n  Sign in with:")
	for _, u := range d.Info.Users {
		fmt.Fprintf(w, "    %-20s  %s\n", u.Email, u.Password)
	}
	fmt.Fprintf(w, "\n  Admin API key:   %s\n", d.Info.APIKey)
	fmt.Fprintf(w, "  Everything above, with client ids and secrets: %s\n", filepath.Join(d.Dir, demo.InfoFile))
	fmt.Fprintf(w, "  Lifetimes: session idle %s, access token %s, refresh token %s\n", idle, access, refresh)
	fmt.Fprintln(w, "\n  Open the Store, add something to the cart, then open the Forums: it asks you to sign in again.")
	fmt.Fprintln(w, "  Press Ctrl+C to stop; data and sessions persist.")
	fmt.Fprintln(w)
}

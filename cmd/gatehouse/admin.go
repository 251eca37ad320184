package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// adminLogger is the admin commands' logger: warnings and errors only.
func adminLogger(env *cliEnv) *slog.Logger {
	return slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// withAdmin opens the IdP store and runs f with the admin operations. It
// builds no idp.Server: an admin command touches only what it changes, and
// never a signing key (AUD-14).
func withAdmin(ctx context.Context, env *cliEnv, sf *storeFlags, f func(*idp.Admin, store.Store) error) error {
	log := adminLogger(env)
	st, err := sf.open(ctx, log)
	if err != nil {
		return err
	}
	defer st.Close()
	// Revocations made here (password change, deactivation) enter the
	// store's outbox with the change; the running IdP's sender delivers
	// them to the apps (AUD-8), so no sender runs here.
	adm, err := idp.NewAdmin(idp.AdminConfig{Store: st, Logger: log})
	if err != nil {
		return err
	}
	return f(adm, st)
}

// sub splits "verb flags..." and reports a usage error for unknown verbs.
func sub(args []string, verbs ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, fmt.Errorf("missing subcommand: one of %s", strings.Join(verbs, ", "))
	}
	for _, v := range verbs {
		if args[0] == v {
			return v, args[1:], nil
		}
	}
	return "", nil, fmt.Errorf("unknown subcommand %q: one of %s", args[0], strings.Join(verbs, ", "))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runApplication(ctx context.Context, env *cliEnv, args []string) error {
	verb, args, err := sub(args, "create", "list")
	if err != nil {
		return err
	}
	fs := newFlagSet(env, "application "+verb)
	var sf storeFlags
	sf.register(fs)
	name := fs.String("name", "", "application name (create)")
	id := fs.String("id", "", "application id / client_id, a UUID (create; default random)")
	secret := fs.String("secret", "", "client secret (create; default 256 random bits)")
	webhook := fs.String("webhook", "", "comma-separated webhook URLs for revocation events (create)")
	webhookSecret := fs.String("webhook-secret", "", "HMAC key for webhook signatures (create)")
	webhookLinkLocal := fs.Bool("webhook-allow-link-local", false, "allow --webhook URLs at link-local or cloud-metadata addresses (create)")
	roles := fs.String("roles", "", "comma-separated roles the application defines; registrations may only use these (create)")
	baseURL := fs.String("base-url", "", "the app's public base URL: account mails link to its pages under it, and its passkeys' relying party defaults from it (create)")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	return withAdmin(ctx, env, &sf, func(a *idp.Admin, st store.Store) error {
		if verb == "list" {
			apps, err := st.ListApplications(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tGRANTS")
			for _, a := range apps {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", a.ID, a.Name, strings.Join(a.Config.EnabledGrants, ","))
			}
			return tw.Flush()
		}
		spec := idp.ApplicationSpec{ID: *id, Name: *name, Secret: *secret}
		if *webhook != "" {
			spec.Config = store.ApplicationConfig{EnabledGrants: []string{"password", "refresh_token"},
				GenerateRefreshTokens: true, AllowTokenRefresh: true, WebhookURLs: strings.Split(*webhook, ","), WebhookSecret: *webhookSecret,
				WebhookAllowLinkLocal: *webhookLinkLocal}
		}
		spec.Config.Roles = splitList(*roles)
		spec.Config.BaseURL = *baseURL
		app, sec, err := a.CreateApplication(ctx, spec)
		if err != nil {
			return err
		}
		return printJSON(env.stdout, map[string]string{"id": app.ID, "name": app.Name, "secret": sec})
	})
}

func runUser(ctx context.Context, env *cliEnv, args []string) error {
	verb, args, err := sub(args, "create", "list", "password", "deactivate", "unlock")
	if err != nil {
		return err
	}
	fs := newFlagSet(env, "user "+verb)
	var sf storeFlags
	sf.register(fs)
	email := fs.String("email", "", "email (create) or the user to change (password, deactivate, unlock)")
	password := fs.String("password", "", "password, at least 15 characters (create, password)")
	app := fs.String("app", "", "register the new user for this application id (create)")
	roles := fs.String("roles", "", "comma-separated roles for --app (create)")
	first := fs.String("first-name", "", "first name (create)")
	last := fs.String("last-name", "", "last name (create)")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	return withAdmin(ctx, env, &sf, func(a *idp.Admin, st store.Store) error {
		switch verb {
		case "list":
			users, err := st.ListUsers(ctx, 0)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEMAIL\tACTIVE")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%v\n", u.ID, u.Email, u.Active)
			}
			return tw.Flush()
		case "create":
			if *app != "" { // a refused registration must not leave the user behind
				if _, err := a.CheckRegistration(ctx, *app, splitList(*roles)); err != nil {
					return err
				}
			}
			u, err := a.CreateUser(ctx, idp.UserSpec{Email: *email, Password: *password, FirstName: *first, LastName: *last, Verified: true,
				ApplicationID: *app})
			if err != nil {
				return err
			}
			if *app != "" {
				if _, err := a.Register(ctx, u.ID, *app, splitList(*roles)); err != nil {
					return err
				}
			}
			return printJSON(env.stdout, map[string]string{"id": u.ID, "email": u.Email})
		}
		u, err := st.GetUserByLogin(ctx, *email)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no user %q", *email)
			}
			return err
		}
		switch verb {
		case "password":
			return a.SetPassword(ctx, u.ID, *password)
		case "unlock": // clear the brute-force delay or hard stop (AUD-1)
			return a.UnlockUser(ctx, u.ID)
		}
		return a.SetActive(ctx, u.ID, false)
	})
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runRegistration(ctx context.Context, env *cliEnv, args []string) error {
	_, args, err := sub(args, "create")
	if err != nil {
		return err
	}
	fs := newFlagSet(env, "registration create")
	var sf storeFlags
	sf.register(fs)
	user := fs.String("user", "", "user id or email")
	app := fs.String("app", "", "application id")
	roles := fs.String("roles", "", "comma-separated roles")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	return withAdmin(ctx, env, &sf, func(a *idp.Admin, st store.Store) error {
		u, err := st.GetUser(ctx, *user)
		if err != nil {
			if u, err = st.GetUserByLogin(ctx, *user); err != nil {
				return fmt.Errorf("no user %q", *user)
			}
		}
		reg, err := a.Register(ctx, u.ID, *app, splitList(*roles))
		if err != nil {
			return err
		}
		return printJSON(env.stdout, map[string]any{"id": reg.ID, "userId": reg.UserID, "applicationId": reg.ApplicationID, "roles": reg.Roles})
	})
}

func runAPIKey(ctx context.Context, env *cliEnv, args []string) error {
	verb, args, err := sub(args, "create", "list")
	if err != nil {
		return err
	}
	fs := newFlagSet(env, "apikey "+verb)
	var sf storeFlags
	sf.register(fs)
	desc := fs.String("description", "", "what the key is for (create)")
	// --endpoint limits the key (AUD-13); without it the key is a super key
	// for operators. Repeatable: --endpoint /api/jwt/refresh:DELETE
	// --endpoint /api/user:GET,POST.
	perms := store.APIKeyPermissions{}
	fs.Func("endpoint", "allow `/api/path:METHOD[,METHOD...]` only (create; repeatable; none = super key). /api/user covers /api/user/{id}", func(v string) error {
		ep, methods, err := idp.ParseEndpointPermission(v)
		if err != nil {
			return err
		}
		if perms.Endpoints == nil {
			perms.Endpoints = map[string][]string{}
		}
		perms.Endpoints[ep] = append(perms.Endpoints[ep], methods...)
		return nil
	})
	// --app grants exactly what the app kit's IdP client calls, so an
	// operator never has to copy the list (it grows with the kit).
	forApp := fs.Bool("app", false, "limit the key to what an app built on the app kit calls: idpclient.APIKeyPermissions() (create)")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	if *forApp {
		if perms.Endpoints == nil {
			perms.Endpoints = map[string][]string{}
		}
		for ep, methods := range idpclient.APIKeyPermissions() {
			perms.Endpoints[ep] = append(perms.Endpoints[ep], methods...)
		}
	}
	return withAdmin(ctx, env, &sf, func(a *idp.Admin, st store.Store) error {
		if verb == "list" {
			keys, err := st.ListAPIKeys(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDESCRIPTION\tCREATED\tPERMISSIONS")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Description, k.CreatedAt.Format("2006-01-02 15:04"), idp.FormatPermissions(k.Permissions))
			}
			return tw.Flush()
		}
		key, rec, err := a.CreateScopedAPIKey(ctx, *desc, perms)
		if err != nil {
			return err
		}
		return printJSON(env.stdout, map[string]any{"id": rec.ID, "key": key, "permissions": rec.Permissions})
	})
}

func runKey(ctx context.Context, env *cliEnv, args []string) error {
	verb, args, err := sub(args, "rotate", "rewrap")
	if err != nil {
		return err
	}
	fs := newFlagSet(env, "key "+verb)
	var sf storeFlags
	var kf kekFlags
	sf.register(fs)
	kf.register(fs)
	alg := fs.String("alg", "", "algorithm of the new key: ES256, RS256 or EdDSA (rotate; default: ES256)")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	keks, err := kf.load()
	if err != nil {
		return err
	}
	st, err := sf.open(ctx, adminLogger(env))
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := idp.SigningKeysConfig{Store: st, KEKs: keks}
	if verb == "rewrap" {
		// KEK rotation: every key re-sealed with --kek-file, opened with
		// whichever of --kek-file and --old-kek-file sealed it.
		n, err := idp.RewrapSigningKeys(ctx, cfg)
		if err != nil {
			return err
		}
		return printJSON(env.stdout, map[string]any{"kekId": keks[0].ID(), "rewrapped": n})
	}
	kid, err := idp.RotateSigningKey(ctx, cfg, *alg)
	if err != nil {
		return err
	}
	return printJSON(env.stdout, map[string]string{"kid": kid})
}

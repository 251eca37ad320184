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
)

// withAdmin opens the IdP store and runs f with the admin operations.
func withAdmin(ctx context.Context, env *cliEnv, sf *storeFlags, f func(*idp.Server, store.Store) error) error {
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := sf.open(ctx, log)
	if err != nil {
		return err
	}
	defer st.Close()
	// Revocations made here (password change, deactivation) enter the
	// store's outbox with the change; the running IdP's sender delivers
	// them to the apps (AUD-8), so no sender runs here.
	srv, err := idp.New(ctx, idp.Config{Store: st, Issuer: "gatehouse-cli", Logger: log})
	if err != nil {
		return err
	}
	return f(srv, st)
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
	if err := parse(env, fs, args); err != nil {
		return err
	}
	return withAdmin(ctx, env, &sf, func(srv *idp.Server, st store.Store) error {
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
				GenerateRefreshTokens: true, AllowTokenRefresh: true, WebhookURLs: strings.Split(*webhook, ","), WebhookSecret: *webhookSecret}
		}
		app, sec, err := srv.Admin().CreateApplication(ctx, spec)
		if err != nil {
			return err
		}
		return printJSON(env.stdout, map[string]string{"id": app.ID, "name": app.Name, "secret": sec})
	})
}

func runUser(ctx context.Context, env *cliEnv, args []string) error {
	verb, args, err := sub(args, "create", "list", "password", "deactivate")
	if err != nil {
		return err
	}
	fs := newFlagSet(env, "user "+verb)
	var sf storeFlags
	sf.register(fs)
	email := fs.String("email", "", "email (create) or the user to change")
	password := fs.String("password", "", "password, at least 15 characters (create, password)")
	app := fs.String("app", "", "register the new user for this application id (create)")
	roles := fs.String("roles", "", "comma-separated roles for --app (create)")
	first := fs.String("first-name", "", "first name (create)")
	last := fs.String("last-name", "", "last name (create)")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	return withAdmin(ctx, env, &sf, func(srv *idp.Server, st store.Store) error {
		a := srv.Admin()
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
			u, err := a.CreateUser(ctx, idp.UserSpec{Email: *email, Password: *password, FirstName: *first, LastName: *last, Verified: true})
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
		if verb == "password" {
			return a.SetPassword(ctx, u.ID, *password)
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
	return withAdmin(ctx, env, &sf, func(srv *idp.Server, st store.Store) error {
		u, err := st.GetUser(ctx, *user)
		if err != nil {
			if u, err = st.GetUserByLogin(ctx, *user); err != nil {
				return fmt.Errorf("no user %q", *user)
			}
		}
		reg, err := srv.Admin().Register(ctx, u.ID, *app, splitList(*roles))
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
	if err := parse(env, fs, args); err != nil {
		return err
	}
	return withAdmin(ctx, env, &sf, func(srv *idp.Server, st store.Store) error {
		if verb == "list" {
			keys, err := st.ListAPIKeys(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDESCRIPTION\tCREATED")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.Description, k.CreatedAt.Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		}
		key, rec, err := srv.Admin().CreateAPIKey(ctx, *desc)
		if err != nil {
			return err
		}
		return printJSON(env.stdout, map[string]string{"id": rec.ID, "key": key})
	})
}

func runKey(ctx context.Context, env *cliEnv, args []string) error {
	_, args, err := sub(args, "rotate")
	if err != nil {
		return err
	}
	fs := newFlagSet(env, "key rotate")
	var sf storeFlags
	sf.register(fs)
	alg := fs.String("alg", "", "algorithm of the new key: ES256, RS256 or EdDSA (default: ES256)")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	return withAdmin(ctx, env, &sf, func(srv *idp.Server, _ store.Store) error {
		kid, err := srv.RotateSigningKey(ctx, *alg)
		if err != nil {
			return err
		}
		return printJSON(env.stdout, map[string]string{"kid": kid})
	})
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/pgstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/redisstore"
)

// openSessions opens the session store a URL names: redis:// or rediss://
// (keys prefixed with the app's name, so several apps share one Redis) or
// postgres:// / postgresql:// (one database per app: the sessions table
// is not namespaced). Empty means nil: the app's embedded SQLite store.
func openSessions(ctx context.Context, url, app string, log *slog.Logger) (sessionstore.Store, error) {
	switch {
	case url == "":
		return nil, nil
	case strings.HasPrefix(url, "redis://"), strings.HasPrefix(url, "rediss://"):
		st, err := redisstore.Open(ctx, redisstore.Config{URL: url, Prefix: "gatehouse:" + app + ":"})
		if err != nil {
			return nil, fmt.Errorf("sessions: %w", err)
		}
		return st, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		st, err := pgstore.Open(ctx, pgstore.Config{URL: url, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("sessions: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("sessions: %q: want redis://, rediss://, postgres:// or postgresql://", url)
}

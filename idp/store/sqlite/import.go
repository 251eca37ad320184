package sqlite

import (
	"context"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// ImportUsers inserts the users and registrations in one transaction on the
// writer connection: a duplicate or unknown reference rolls back the whole
// batch.
func (s *Store) ImportUsers(ctx context.Context, users []*store.User, regs []*store.Registration) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap("import users: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	for _, u := range users {
		if _, err := tx.ExecContext(ctx, qInsertUser, append([]any{u.ID}, userArgs(u)...)...); err != nil {
			return wrap("import users: user "+u.ID, err)
		}
	}
	for _, r := range regs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO registrations (`+regCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			r.ID, r.UserID, r.ApplicationID, strs(r.Roles), r.Verified, ms(r.CreatedAt)); err != nil {
			return wrap("import users: registration", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return wrap("import users: commit", err)
	}
	return nil
}

package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// ImportUsers inserts the users and registrations in one transaction: a
// duplicate or unknown reference rolls back the whole batch.
func (s *Store) ImportUsers(ctx context.Context, users []*store.User, regs []*store.Registration) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, u := range users {
			args := userArgs(u)
			if _, err := tx.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES (`+placeholders(len(args))+`)`, args...); err != nil {
				return err
			}
		}
		for _, r := range regs {
			if _, err := tx.Exec(ctx, `INSERT INTO registrations (`+regColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
				r.ID, r.UserID, r.ApplicationID, r.Roles, r.Verified, ts(r.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("import users", err)
}

// placeholders returns "$1, $2, ..., $n" (sized from userArgs, so the
// import follows CreateUser's columns).
func placeholders(n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = "$" + strconv.Itoa(i+1)
	}
	return strings.Join(p, ", ")
}

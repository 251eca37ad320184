package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// --- applications ---

const appColumns = `id, name, active, client_secret_hash, config, created_at`

func scanApp(row pgx.Row) (*store.Application, error) {
	var a store.Application
	var cfg []byte
	if err := row.Scan(&a.ID, &a.Name, &a.Active, &a.ClientSecretHash, &cfg, (*zt)(&a.CreatedAt)); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(cfg, &a.Config); err != nil {
		return nil, fmt.Errorf("decode application config: %w", err)
	}
	return &a, nil
}

func appArgs(a *store.Application) ([]any, error) {
	cfg, err := json.Marshal(a.Config)
	if err != nil {
		return nil, fmt.Errorf("encode application config: %w", err)
	}
	return []any{a.ID, a.Name, a.Active, a.ClientSecretHash, string(cfg), ts(a.CreatedAt)}, nil
}

// CreateApplication inserts a; ErrDuplicate on its id.
func (s *Store) CreateApplication(ctx context.Context, a *store.Application) error {
	args, err := appArgs(a)
	if err != nil {
		return wrap("create application", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO applications (`+appColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`, args...)
	return wrap("create application", err)
}

// GetApplication returns the application by id, or ErrNotFound.
func (s *Store) GetApplication(ctx context.Context, id string) (*store.Application, error) {
	a, err := scanApp(s.pool.QueryRow(ctx, `SELECT `+appColumns+` FROM applications WHERE id = $1`, id))
	return a, wrap("get application", err)
}

// UpdateApplication replaces every field of the application keyed by a.ID.
func (s *Store) UpdateApplication(ctx context.Context, a *store.Application) error {
	args, err := appArgs(a)
	if err != nil {
		return wrap("update application", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE applications SET (`+appColumns+`) = ($1, $2, $3, $4, $5, $6) WHERE id = $1`, args...)
	if err != nil {
		return wrap("update application", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("update application")
	}
	return nil
}

// DeleteApplication removes the application; the foreign keys cascade to
// its registrations, refresh-token families and their rotation records.
func (s *Store) DeleteApplication(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM applications WHERE id = $1`, id)
	if err != nil {
		return wrap("delete application", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("delete application")
	}
	return nil
}

// ListApplications returns every application, oldest first.
func (s *Store) ListApplications(ctx context.Context) ([]*store.Application, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+appColumns+` FROM applications ORDER BY created_at NULLS FIRST, seq`)
	if err != nil {
		return nil, wrap("list applications", err)
	}
	apps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Application, error) { return scanApp(r) })
	return apps, wrap("list applications", err)
}

// --- registrations ---

const regColumns = `id, user_id, application_id, roles, verified, created_at`

func scanReg(row pgx.Row) (*store.Registration, error) {
	var r store.Registration
	if err := row.Scan(&r.ID, &r.UserID, &r.ApplicationID, &r.Roles, &r.Verified, (*zt)(&r.CreatedAt)); err != nil {
		return nil, err
	}
	return &r, nil
}

// CreateRegistration inserts r; ErrDuplicate if the (user, application)
// pair or the id is taken, ErrNotFound if the user or application is not.
func (s *Store) CreateRegistration(ctx context.Context, r *store.Registration) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO registrations (`+regColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		r.ID, r.UserID, r.ApplicationID, r.Roles, r.Verified, ts(r.CreatedAt))
	return wrap("create registration", err)
}

// GetRegistration returns the registration of the pair, or ErrNotFound.
func (s *Store) GetRegistration(ctx context.Context, userID, applicationID string) (*store.Registration, error) {
	r, err := scanReg(s.pool.QueryRow(ctx, `SELECT `+regColumns+` FROM registrations
		WHERE user_id = $1 AND application_id = $2`, userID, applicationID))
	return r, wrap("get registration", err)
}

// UpdateRegistration replaces the id, roles, verified flag and creation
// time of the registration keyed by (r.UserID, r.ApplicationID).
func (s *Store) UpdateRegistration(ctx context.Context, r *store.Registration) error {
	tag, err := s.pool.Exec(ctx, `UPDATE registrations SET id = $3, roles = $4, verified = $5, created_at = $6
		WHERE user_id = $1 AND application_id = $2`,
		r.UserID, r.ApplicationID, r.ID, r.Roles, r.Verified, ts(r.CreatedAt))
	if err != nil {
		return wrap("update registration", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("update registration")
	}
	return nil
}

// DeleteRegistration removes the registration of the pair.
func (s *Store) DeleteRegistration(ctx context.Context, userID, applicationID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM registrations WHERE user_id = $1 AND application_id = $2`, userID, applicationID)
	if err != nil {
		return wrap("delete registration", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("delete registration")
	}
	return nil
}

// ListRegistrations returns the user's registrations, oldest first.
func (s *Store) ListRegistrations(ctx context.Context, userID string) ([]*store.Registration, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+regColumns+` FROM registrations WHERE user_id = $1
		ORDER BY created_at NULLS FIRST, seq`, userID)
	if err != nil {
		return nil, wrap("list registrations", err)
	}
	regs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Registration, error) { return scanReg(r) })
	return regs, wrap("list registrations", err)
}

// --- API keys ---

const apiKeyColumns = `id, key_hash, description, created_at, permissions`

func scanAPIKey(row pgx.Row) (*store.APIKey, error) {
	var k store.APIKey
	var perms string
	if err := row.Scan(&k.ID, &k.KeyHash, &k.Description, (*zt)(&k.CreatedAt), &perms); err != nil {
		return nil, err
	}
	if perms != "" {
		if err := json.Unmarshal([]byte(perms), &k.Permissions); err != nil {
			return nil, fmt.Errorf("decode API key permissions: %w", err)
		}
	}
	return &k, nil
}

// apiKeyPerms encodes permissions as JSON text; "" for a super key.
func apiKeyPerms(p store.APIKeyPermissions) (string, error) {
	if len(p.Endpoints) == 0 {
		return "", nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode API key permissions: %w", err)
	}
	return string(b), nil
}

// CreateAPIKey inserts k; ErrDuplicate on its id or hash.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	perms, err := apiKeyPerms(k.Permissions)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.KeyHash, k.Description, ts(k.CreatedAt), perms)
	return wrap("create API key", err)
}

// GetAPIKeyByHash returns the key whose SHA-256 is hash, or ErrNotFound.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE key_hash = $1`, hash))
	return k, wrap("get API key", err)
}

// ListAPIKeys returns every API key, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*store.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at NULLS FIRST, seq`)
	if err != nil {
		return nil, wrap("list API keys", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.APIKey, error) { return scanAPIKey(r) })
	return keys, wrap("list API keys", err)
}

// DeleteAPIKey removes the key by id.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_keys WHERE id = $1`, id)
	if err != nil {
		return wrap("delete API key", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("delete API key")
	}
	return nil
}

// --- signing keys ---

const signingKeyColumns = `id, algorithm, private_key, created_at, retired_at`

func scanSigningKey(row pgx.Row) (*store.SigningKey, error) {
	var k store.SigningKey
	if err := row.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, (*zt)(&k.CreatedAt), (*zt)(&k.RetiredAt)); err != nil {
		return nil, err
	}
	return &k, nil
}

// CreateSigningKey inserts k; ErrDuplicate on its id.
func (s *Store) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.Algorithm, k.PrivateKey, ts(k.CreatedAt), ts(k.RetiredAt))
	return wrap("create signing key", err)
}

// ListSigningKeys returns every signing key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys
		ORDER BY created_at DESC NULLS LAST, seq DESC`)
	if err != nil {
		return nil, wrap("list signing keys", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.SigningKey, error) { return scanSigningKey(r) })
	return keys, wrap("list signing keys", err)
}

// RetireSigningKey sets RetiredAt to at unless the key is already retired.
func (s *Store) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE signing_keys SET retired_at = coalesce(retired_at, $2) WHERE id = $1`, id, at)
	if err != nil {
		return wrap("retire signing key", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("retire signing key")
	}
	return nil
}

// SwapSigningKeyPrivateKey replaces the key bytes if they still equal prev.
func (s *Store) SwapSigningKeyPrivateKey(ctx context.Context, id string, prev, next []byte) error {
	var swapped bool
	err := s.pool.QueryRow(ctx, `WITH u AS (UPDATE signing_keys SET private_key = $3 WHERE id = $1 AND private_key = $2 RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u) FROM signing_keys WHERE id = $1`, id, prev, next).Scan(&swapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("swap signing key")
	}
	if err != nil {
		return wrap("swap signing key", err)
	}
	if !swapped {
		return fmt.Errorf("postgres: swap signing key: %w", store.ErrConflict)
	}
	return nil
}

// DeleteSigningKey removes the key by id.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id)
	if err != nil {
		return wrap("delete signing key", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("delete signing key")
	}
	return nil
}

package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

const (
	appCols         = `id, name, active, client_secret_hash, config, created_at`
	qGetApplication = `SELECT ` + appCols + ` FROM applications WHERE id = ?`
	regCols         = `id, user_id, application_id, roles, verified, created_at`
	// Read on every token issue: prepared once.
	qGetRegistration = `SELECT ` + regCols + ` FROM registrations WHERE user_id = ? AND application_id = ?`
	apiKeyCols       = `id, key_hash, description, created_at, permissions`
	signingKeyCols   = `id, algorithm, private_key, created_at, retired_at`
)

// --- applications ---

func scanApp(sc scanner) (*store.Application, error) {
	var a store.Application
	var secret []byte
	var config string
	var created int64
	if err := sc.Scan(&a.ID, &a.Name, &a.Active, &secret, &config, &created); err != nil {
		return nil, err
	}
	if len(secret) > 0 {
		a.ClientSecretHash = secret
	}
	if err := json.Unmarshal([]byte(config), &a.Config); err != nil {
		return nil, fmt.Errorf("decode application %s config: %w", a.ID, err)
	}
	a.CreatedAt = fromMS(created)
	return &a, nil
}

func appConfig(a *store.Application) (string, error) {
	b, err := json.Marshal(a.Config)
	if err != nil {
		return "", fmt.Errorf("encode config: %w", err)
	}
	return string(b), nil
}

// CreateApplication inserts a; ErrDuplicate on a taken id.
func (s *Store) CreateApplication(ctx context.Context, a *store.Application) error {
	cfg, err := appConfig(a)
	if err != nil {
		return fmt.Errorf("sqlite store: create application: %w", err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO applications (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, a.Active, nilIfEmpty(a.ClientSecretHash), cfg, ms(a.CreatedAt))
	if err != nil {
		return wrap("create application", err)
	}
	return nil
}

// GetApplication returns the application by id (its client_id).
func (s *Store) GetApplication(ctx context.Context, id string) (*store.Application, error) {
	a, err := scanApp(s.st.getApplication.QueryRowContext(ctx, id))
	if err != nil {
		return nil, wrap("get application", err)
	}
	return a, nil
}

// UpdateApplication replaces every field of the stored application.
func (s *Store) UpdateApplication(ctx context.Context, a *store.Application) error {
	cfg, err := appConfig(a)
	if err != nil {
		return fmt.Errorf("sqlite store: update application: %w", err)
	}
	res, err := s.w.ExecContext(ctx,
		`UPDATE applications SET name = ?, active = ?, client_secret_hash = ?, config = ?, created_at = ? WHERE id = ?`,
		a.Name, a.Active, nilIfEmpty(a.ClientSecretHash), cfg, ms(a.CreatedAt), a.ID)
	if err != nil {
		return wrap("update application", err)
	}
	return mustAffect("update application", res)
}

// DeleteApplication removes the application; foreign keys cascade to its
// registrations and refresh-token families.
func (s *Store) DeleteApplication(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM applications WHERE id = ?`, id)
	if err != nil {
		return wrap("delete application", err)
	}
	return mustAffect("delete application", res)
}

// ListApplications returns every application, oldest first.
func (s *Store) ListApplications(ctx context.Context) ([]*store.Application, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+appCols+` FROM applications ORDER BY created_at, rowid`)
	if err != nil {
		return nil, wrap("list applications", err)
	}
	return collect(rows, "list applications", scanApp)
}

// --- registrations ---

func scanReg(sc scanner) (*store.Registration, error) {
	var r store.Registration
	var roles string
	var created int64
	if err := sc.Scan(&r.ID, &r.UserID, &r.ApplicationID, &roles, &r.Verified, &created); err != nil {
		return nil, err
	}
	var err error
	if r.Roles, err = fromStrs("roles", roles); err != nil {
		return nil, err
	}
	r.CreatedAt = fromMS(created)
	return &r, nil
}

// CreateRegistration inserts r. ErrDuplicate on a taken id or (user,
// application) pair; ErrNotFound if the user or application does not exist.
func (s *Store) CreateRegistration(ctx context.Context, r *store.Registration) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO registrations (`+regCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		r.ID, r.UserID, r.ApplicationID, strs(r.Roles), r.Verified, ms(r.CreatedAt))
	if err != nil {
		return wrap("create registration", err)
	}
	return nil
}

// GetRegistration returns the registration of the pair.
func (s *Store) GetRegistration(ctx context.Context, userID, applicationID string) (*store.Registration, error) {
	r, err := scanReg(s.st.getRegistration.QueryRowContext(ctx, userID, applicationID))
	if err != nil {
		return nil, wrap("get registration", err)
	}
	return r, nil
}

// UpdateRegistration replaces the roles and verified flag of the pair's
// registration; its id and creation time stay.
func (s *Store) UpdateRegistration(ctx context.Context, r *store.Registration) error {
	res, err := s.w.ExecContext(ctx,
		`UPDATE registrations SET roles = ?, verified = ? WHERE user_id = ? AND application_id = ?`,
		strs(r.Roles), r.Verified, r.UserID, r.ApplicationID)
	if err != nil {
		return wrap("update registration", err)
	}
	return mustAffect("update registration", res)
}

// DeleteRegistration removes the pair's registration.
func (s *Store) DeleteRegistration(ctx context.Context, userID, applicationID string) error {
	res, err := s.w.ExecContext(ctx,
		`DELETE FROM registrations WHERE user_id = ? AND application_id = ?`, userID, applicationID)
	if err != nil {
		return wrap("delete registration", err)
	}
	return mustAffect("delete registration", res)
}

// ListRegistrations returns the user's registrations, oldest first.
func (s *Store) ListRegistrations(ctx context.Context, userID string) ([]*store.Registration, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+regCols+` FROM registrations WHERE user_id = ? ORDER BY created_at, rowid`, userID)
	if err != nil {
		return nil, wrap("list registrations", err)
	}
	return collect(rows, "list registrations", scanReg)
}

// --- API keys ---

func scanAPIKey(sc scanner) (*store.APIKey, error) {
	var k store.APIKey
	var created int64
	var perms string
	if err := sc.Scan(&k.ID, &k.KeyHash, &k.Description, &created, &perms); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMS(created)
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

// CreateAPIKey inserts k; ErrDuplicate on a taken id or hash.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	perms, err := apiKeyPerms(k.Permissions)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES (?, ?, ?, ?, ?)`,
		k.ID, k.KeyHash, k.Description, ms(k.CreatedAt), perms)
	if err != nil {
		return wrap("create API key", err)
	}
	return nil
}

// GetAPIKeyByHash returns the key whose SHA-256 is hash.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	k, err := scanAPIKey(s.r.QueryRowContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE key_hash = ?`, hash))
	if err != nil {
		return nil, wrap("get API key", err)
	}
	return k, nil
}

// ListAPIKeys returns every API key, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*store.APIKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys ORDER BY created_at, rowid`)
	if err != nil {
		return nil, wrap("list API keys", err)
	}
	return collect(rows, "list API keys", scanAPIKey)
}

// DeleteAPIKey removes the key.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM api_keys WHERE id = ?`, id)
	if err != nil {
		return wrap("delete API key", err)
	}
	return mustAffect("delete API key", res)
}

// --- signing keys ---

func scanSigningKey(sc scanner) (*store.SigningKey, error) {
	var k store.SigningKey
	var created, retired int64
	if err := sc.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &created, &retired); err != nil {
		return nil, err
	}
	k.CreatedAt, k.RetiredAt = fromMS(created), fromMS(retired)
	return &k, nil
}

// CreateSigningKey inserts k; ErrDuplicate on a taken id.
func (s *Store) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyCols+`) VALUES (?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, k.PrivateKey, ms(k.CreatedAt), ms(k.RetiredAt))
	if err != nil {
		return wrap("create signing key", err)
	}
	return nil
}

// ListSigningKeys returns every key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+signingKeyCols+` FROM signing_keys ORDER BY created_at DESC, rowid DESC`)
	if err != nil {
		return nil, wrap("list signing keys", err)
	}
	return collect(rows, "list signing keys", scanSigningKey)
}

// RetireSigningKey sets RetiredAt unless it is already set.
func (s *Store) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx,
		`UPDATE signing_keys SET retired_at = CASE WHEN retired_at = 0 THEN ? ELSE retired_at END WHERE id = ?`,
		ms(at), id)
	if err != nil {
		return wrap("retire signing key", err)
	}
	return mustAffect("retire signing key", res)
}

// SwapSigningKeyPrivateKey replaces the key bytes if they still equal prev.
func (s *Store) SwapSigningKeyPrivateKey(ctx context.Context, id string, prev, next []byte) error {
	res, err := s.w.ExecContext(ctx, `UPDATE signing_keys SET private_key = ? WHERE id = ? AND private_key = ?`, next, id, prev)
	if err != nil {
		return wrap("swap signing key", err)
	}
	if err := mustAffect("swap signing key", res); !errors.Is(err, store.ErrNotFound) {
		return err
	}
	var one int
	if err := s.w.QueryRowContext(ctx, `SELECT 1 FROM signing_keys WHERE id = ?`, id).Scan(&one); err != nil {
		return wrap("swap signing key", err) // ErrNotFound for an unknown id
	}
	return fmt.Errorf("sqlite store: swap signing key: %w", store.ErrConflict)
}

// DeleteSigningKey removes the key.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM signing_keys WHERE id = ?`, id)
	if err != nil {
		return wrap("delete signing key", err)
	}
	return mustAffect("delete signing key", res)
}

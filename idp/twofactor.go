package idp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// The second factor (issue 12, compat §16): an authenticator app (TOTP,
// RFC 6238) with recovery codes. A user with a second factor gets no
// tokens from the password grant: it answers two_factor_required with a
// twoFactorId, and POST /api/two-factor/login completes the login with a
// code. The state lives in store.User.MultiFactor (multiFactor below), so
// every code check is one UpdateUser transaction: a code is used once
// (MFA-3) and the wrong-code counter cannot be raced (MFA-5).

// TOTP parameters: RFC 6238's defaults, what every authenticator app
// understands (FusionAuth's "HmacSHA1", 6 digits, 30 s).
const (
	totpPeriod      = 30
	totpSkew        = 1 // one step either side: clock drift and typing time
	totpDigits      = otp.DigitsSix
	totpSecretBytes = 20 // 160 bits, RFC 4226's recommendation
	// totpMinSecretBytes: RFC 4226 §4 R6 requires at least 128 bits.
	totpMinSecretBytes = 16

	methodAuthenticator = "authenticator"
	// recoveryCodeCount codes of recoveryCodeLen base32 characters (80
	// bits each: a fast hash is safe, as for refresh tokens).
	recoveryCodeCount = 10
	recoveryCodeLen   = 16

	twoFactorIDTTL       = 5 * time.Minute     // MFA-1
	twoFactorMaxAttempts = 5                   // MFA-2
	twoFactorTrustTTL    = 30 * 24 * time.Hour // FusionAuth's default trust
	// twoFactorSealAlg is the "algorithm" label sealed secrets are bound
	// to (with the user id), so a sealed TOTP secret cannot be passed off
	// as a signing key or moved to another user.
	twoFactorSealAlg = "totp"
)

// amr values (RFC 8176) of the access and id tokens of a login.
var (
	amrPassword    = []string{"pwd"}
	amrPasswordOTP = []string{"pwd", "otp", "mfa"}
)

// multiFactor is the JSON document in store.User.MultiFactor.
type multiFactor struct {
	// Authenticator is the TOTP method, nil when none is enabled.
	Authenticator *authenticatorMethod `json:"authenticator,omitempty"`
	// RecoveryCodes are hex SHA-256 digests (recoveryCodeHash) of the
	// unused recovery codes; a used one is removed.
	RecoveryCodes []string `json:"recoveryCodes,omitempty"`
	// LastStep is the last accepted TOTP time step: a code of that step
	// or an earlier one is refused (no replay inside its window, MFA-3).
	LastStep int64 `json:"lastStep,omitempty"`
	// Failures counts consecutive wrong codes of any flow, LastFailureAt
	// the last one; the lockout policy's delay applies to them (MFA-5).
	Failures      int       `json:"failures,omitempty"`
	LastFailureAt time.Time `json:"lastFailureAt,omitzero"`
	// Passkeys are the user's WebAuthn credentials (webauthn.go).
	Passkeys []passkey `json:"passkeys,omitempty"`
}

// authenticatorMethod is an enabled authenticator app.
type authenticatorMethod struct {
	ID     string `json:"id"`
	Method string `json:"method"` // "authenticator"
	// SealedSecret is the TOTP secret sealed with the first KEK (kek.go's
	// format, bound to the user id), like the signing keys (MFA-8).
	// Secret holds it in plaintext instead when the server has no KEK,
	// as the signing keys are then stored (a warning is logged at New).
	SealedSecret []byte    `json:"sealedSecret,omitempty"`
	Secret       []byte    `json:"secret,omitempty"`
	EnabledAt    time.Time `json:"enabledAt"`
}

func parseMultiFactor(raw json.RawMessage) (multiFactor, error) {
	var m multiFactor
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("multi-factor state: %w", err)
	}
	return m, nil
}

// updateMultiFactor reads the user's second-factor state, lets fn change
// it and writes it back, in one store.UpdateUser transaction: a code's
// single use, a passkey's counter and the limits are checked against the
// state they change (AUD-6). An error from fn aborts without writing and
// is returned wrapped; fn may run more than once (UpdateUser's retries).
func updateMultiFactor(ctx context.Context, st store.UserStore, userID string, fn func(m *multiFactor) error) error {
	return st.UpdateUser(ctx, userID, func(u store.User) (store.User, error) {
		m, err := parseMultiFactor(u.MultiFactor)
		if err != nil {
			return u, err
		}
		if err := fn(&m); err != nil {
			return u, err
		}
		u.MultiFactor, err = m.encode()
		return u, err
	})
}

// encode returns the document to store; nil when nothing is left.
func (m multiFactor) encode() (json.RawMessage, error) {
	if m.Authenticator == nil && len(m.RecoveryCodes) == 0 && len(m.Passkeys) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("multi-factor state: %w", err)
	}
	return b, nil
}

// enabled reports whether the user has a second factor the password
// grant must ask for.
func (m multiFactor) enabled() bool { return m.Authenticator != nil }

// twoFactorMethodJSON is FusionAuth's TwoFactorMethod.
type twoFactorMethodJSON struct {
	ID            string `json:"id"`
	Method        string `json:"method"`
	Authenticator *struct {
		Algorithm  string `json:"algorithm"`
		CodeLength int    `json:"codeLength"`
		TimeStep   int    `json:"timeStep"`
	} `json:"authenticator,omitempty"`
}

// userTwoFactorJSON is FusionAuth's user.twoFactor (without its
// recovery codes, which are never shown again).
type userTwoFactorJSON struct {
	Methods []twoFactorMethodJSON `json:"methods,omitempty"`
}

// methods lists the enabled methods as FusionAuth shows them.
func (m multiFactor) methods() []twoFactorMethodJSON {
	var out []twoFactorMethodJSON
	if a := m.Authenticator; a != nil {
		j := twoFactorMethodJSON{ID: a.ID, Method: methodAuthenticator}
		j.Authenticator = &struct {
			Algorithm  string `json:"algorithm"`
			CodeLength int    `json:"codeLength"`
			TimeStep   int    `json:"timeStep"`
		}{"HmacSHA1", int(totpDigits), totpPeriod}
		out = append(out, j)
	}
	return out
}

// throttled reports whether wrong codes have put the user's second factor
// in its delay: after the lockout policy's FreeFailures consecutive wrong
// codes, one attempt per delay (MFA-5). A throttled attempt is refused
// without being checked, so guessing during the delay learns nothing.
func (m multiFactor) throttled(pol LockoutPolicy, now time.Time) bool {
	if pol.Disabled || m.Failures < pol.FreeFailures {
		return false
	}
	return now.Before(m.LastFailureAt.Add(pol.delay(m.Failures)))
}

// sealTOTPSecret seals a new secret for userID with the first KEK, or
// keeps it in plaintext when there is none.
func (s *Server) sealTOTPSecret(userID string, secret []byte) (*authenticatorMethod, error) {
	a := &authenticatorMethod{ID: uuid.NewString(), Method: methodAuthenticator, EnabledAt: s.now()}
	if len(s.cfg.KEKs) == 0 {
		a.Secret = append([]byte(nil), secret...)
		return a, nil
	}
	sealed, err := s.cfg.KEKs[0].seal(secret, userID, twoFactorSealAlg)
	if err != nil {
		return nil, fmt.Errorf("seal authenticator secret: %w", err)
	}
	a.SealedSecret = sealed
	return a, nil
}

// totpSecret opens the user's authenticator secret.
func (s *Server) totpSecret(userID string, a *authenticatorMethod) ([]byte, error) {
	return openTOTPSecret(s.cfg.KEKs, userID, a)
}

func openTOTPSecret(keks []*KEK, userID string, a *authenticatorMethod) ([]byte, error) {
	if len(a.SealedSecret) == 0 {
		if len(a.Secret) == 0 {
			return nil, errors.New("authenticator has no secret")
		}
		return a.Secret, nil
	}
	id, sealed := sealedKEKID(a.SealedSecret)
	if !sealed || id == "" {
		return nil, errors.New("malformed sealed authenticator secret")
	}
	for _, k := range keks {
		if k.id == id {
			return k.open(a.SealedSecret, userID, twoFactorSealAlg)
		}
	}
	return nil, fmt.Errorf("authenticator secret sealed with key-encryption key %s, which was not given (given: %s)", id, kekSet(keks).ids())
}

// resealTOTPSecret re-seals a's secret with the first KEK when another
// KEK sealed it or it is stored in plaintext and a KEK is configured
// (KEK rotation, MFA-8); it reports whether it changed a.
func (s *Server) resealTOTPSecret(userID string, a *authenticatorMethod) (bool, error) {
	return resealTOTPSecret(s.cfg.KEKs, userID, a)
}

func resealTOTPSecret(keks []*KEK, userID string, a *authenticatorMethod) (bool, error) {
	if len(keks) == 0 {
		return false, nil
	}
	if id, sealed := sealedKEKID(a.SealedSecret); sealed && id == keks[0].id {
		return false, nil
	}
	secret, err := openTOTPSecret(keks, userID, a)
	if err != nil {
		return false, err
	}
	sealed, err := keks[0].seal(secret, userID, twoFactorSealAlg)
	if err != nil {
		return false, fmt.Errorf("seal authenticator secret: %w", err)
	}
	a.SealedSecret, a.Secret = sealed, nil
	return true, nil
}

// RewrapTOTPSecrets re-seals every user's authenticator secret with
// keks[0] (rotation of the key-encryption key, with the signing keys:
// RewrapSigningKeys calls it when its store is a full store.Store). It
// returns how many it re-sealed.
func RewrapTOTPSecrets(ctx context.Context, st store.UserStore, keks []*KEK) (int, error) {
	if len(keks) == 0 {
		return 0, errors.New("idp: no key-encryption key given")
	}
	users, err := st.ListUsers(ctx, 0)
	if err != nil {
		return 0, fmt.Errorf("idp: re-seal authenticator secrets: %w", err)
	}
	n := 0
	for _, u := range users {
		if len(u.MultiFactor) == 0 {
			continue
		}
		changed := false
		err := st.UpdateUser(ctx, u.ID, func(u store.User) (store.User, error) {
			m, err := parseMultiFactor(u.MultiFactor)
			if err != nil || m.Authenticator == nil {
				changed = false
				return u, errCodeDone
			}
			if changed, err = resealTOTPSecret(keks, u.ID, m.Authenticator); err != nil || !changed {
				if err == nil {
					err = errCodeDone
				}
				return u, err
			}
			u.MultiFactor, err = m.encode()
			return u, err
		})
		if errors.Is(err, errCodeDone) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("idp: re-seal authenticator secret of user %s: %w", u.ID, err)
		}
		if changed {
			n++
		}
	}
	return n, nil
}

// base32NoPad is the encoding authenticator apps take secrets in.
var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// totpStep returns the time step (> after) whose code is code, checking
// the current step and totpSkew steps either side, or -1.
func totpStep(secret []byte, code string, now time.Time, after int64) (int64, error) {
	if len(code) != int(totpDigits) {
		return -1, nil
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return -1, nil
		}
	}
	b32 := base32NoPad.EncodeToString(secret)
	cur := now.Unix() / totpPeriod
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		want, err := totp.GenerateCodeCustom(b32, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return -1, fmt.Errorf("totp: %w", err)
		}
		// Every candidate is compared, in constant time, so the answer's
		// timing does not tell which step matched.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > after {
			return step, nil
		}
	}
	return -1, nil
}

// normalizeCode strips what people type around a code: spaces, dashes,
// case.
func normalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, code)
}

// recoveryCodeAlphabet is RFC 4648 base32: no 0/1/8/9, so no O/I/B/g mix-ups.
const recoveryCodeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// newRecoveryCodes returns recoveryCodeCount fresh codes (shown once, as
// XXXX-XXXX-XXXX-XXXX) and their digests for userID.
func newRecoveryCodes(userID string) (codes, hashes []string) {
	for range recoveryCodeCount {
		var b [recoveryCodeLen]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		var sb strings.Builder
		for i, x := range b {
			if i > 0 && i%4 == 0 {
				sb.WriteByte('-')
			}
			sb.WriteByte(recoveryCodeAlphabet[x&31]) // 256 is a multiple of 32: unbiased
		}
		c := sb.String()
		codes = append(codes, c)
		hashes = append(hashes, recoveryCodeHash(userID, normalizeCode(c)))
	}
	return codes, hashes
}

// recoveryCodeHash is the stored digest of a normalised recovery code;
// the user id keeps equal codes of two users apart.
func recoveryCodeHash(userID, code string) string {
	h := sha256.Sum256([]byte("gatehouse recovery code\x00" + userID + "\x00" + code))
	return hex.EncodeToString(h[:])
}

// codeUse is the outcome of a code check.
type codeUse int

const (
	codeWrong     codeUse = iota // wrong, replayed, or refused by the delay
	codeTOTP                     // a fresh authenticator code
	codeRecovery                 // an unused recovery code (now used)
	codeNoFactor                 // the user has no second factor
	codeThrottled                // refused unchecked: the user is in its delay
)

// errCodeDone aborts UpdateUser without a write.
var errCodeDone = errors.New("code check: nothing to write")

// useCode checks code (an authenticator code or, when recovery is true, a
// recovery code) against the user's second factor and, if it is right,
// uses it up and applies then (may be nil) to the state, all in one
// UpdateUser transaction: of two requests with one code only one
// succeeds (MFA-3, MFA-4). A wrong code is counted (MFA-5).
func (s *Server) useCode(ctx context.Context, userID, code string, recovery bool, then func(*multiFactor)) (codeUse, error) {
	code = normalizeCode(code)
	now := s.now()
	var out codeUse
	err := updateMultiFactor(ctx, s.store, userID, func(m *multiFactor) error {
		if !m.enabled() {
			out = codeNoFactor
			return errCodeDone
		}
		if m.throttled(s.cfg.Lockout, now) {
			out = codeThrottled
			return errCodeDone
		}
		out = codeWrong
		secret, err := s.totpSecret(userID, m.Authenticator)
		if err != nil {
			return err
		}
		step, err := totpStep(secret, code, now, m.LastStep)
		if err != nil {
			return err
		}
		// A secret another KEK sealed moves to the current one on use, so
		// the old KEK can go once every user has signed in or
		// RewrapTOTPSecrets ran.
		if _, err := s.resealTOTPSecret(userID, m.Authenticator); err != nil {
			return err
		}
		switch {
		case step >= 0:
			out, m.LastStep = codeTOTP, step
		case recovery && len(code) == recoveryCodeLen:
			h := recoveryCodeHash(userID, code)
			for i, c := range m.RecoveryCodes {
				if subtle.ConstantTimeCompare([]byte(c), []byte(h)) == 1 {
					out = codeRecovery
					m.RecoveryCodes = append(m.RecoveryCodes[:i:i], m.RecoveryCodes[i+1:]...)
					break
				}
			}
		}
		if out == codeWrong {
			m.Failures++
			m.LastFailureAt = now
		} else {
			m.Failures, m.LastFailureAt = 0, time.Time{}
			if then != nil {
				then(m)
			}
		}
		return nil
	})
	if errors.Is(err, errCodeDone) {
		return out, nil
	}
	if err != nil {
		return codeWrong, fmt.Errorf("check second-factor code: %w", err)
	}
	return out, nil
}

// pendingLogin is the Data of a TicketTwoFactor: the first step of a
// password login, waiting for its code. It carries what the password
// grant would have written, so the second step completes exactly that
// login (completeLogin).
type pendingLogin struct {
	Scopes   []string `json:"scopes,omitempty"`
	Offline  bool     `json:"offline,omitempty"`
	IP       string   `json:"ip,omitempty"`
	DevName  string   `json:"deviceName,omitempty"`
	DevType  string   `json:"deviceType,omitempty"`
	DevDesc  string   `json:"deviceDescription,omitempty"`
	DeviceID string   `json:"deviceId,omitempty"`
	Trusted  bool     `json:"trustedDevice,omitempty"`
	// OldHash is the password hash the first step verified: a password
	// changed since makes the second step fail (RecordLogin's condition).
	OldHash string `json:"oldHash"`
	NewHash string `json:"newHash,omitempty"`
}

// secondFactorGate runs after a right password: a user with a second
// factor and no valid trust id for this application gets no tokens, but
// a twoFactorId (MFA-6).
func (s *Server) secondFactorGate(ctx context.Context, att loginAttempt, v *passedPassword) *oauthError {
	m, err := parseMultiFactor(v.user.MultiFactor)
	if err != nil {
		s.log.Error("read multi-factor state", "userId", v.user.ID, "err", err)
		return errServer()
	}
	if !m.enabled() {
		return nil
	}
	if att.trustID != "" {
		if h := ticketSecretHash(att.trustID); h != nil {
			t, err := s.store.GetTicket(ctx, store.TicketTrust, h, s.now())
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return errServer()
			}
			if t != nil && t.UserID == v.user.ID && t.ApplicationID == att.app.ID {
				return nil
			}
		}
	}
	data, err := json.Marshal(pendingLogin{Scopes: att.scopes, Offline: att.offline, IP: att.ip,
		DevName: att.dev.Name, DevType: att.dev.Type, DevDesc: att.dev.Description,
		DeviceID: v.deviceID, Trusted: v.trusted, OldHash: v.user.PasswordHash, NewHash: v.newHash})
	if err != nil {
		return errServer()
	}
	id, hash := newTicketSecret()
	now := s.now()
	if err := s.store.CreateTicket(ctx, &store.Ticket{Hash: hash, Kind: store.TicketTwoFactor, UserID: v.user.ID,
		ApplicationID: att.app.ID, Data: data, CreatedAt: now, ExpiresAt: now.Add(twoFactorIDTTL)}); err != nil {
		s.log.Error("create two-factor ticket", "userId", v.user.ID, "err", err)
		return errServer()
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "second factor required", slog.String("event", "two_factor_required"),
		slog.String("userId", v.user.ID), slog.String("applicationId", att.app.ID), slog.String("ip", att.ip))
	e := oauthErr(http.StatusBadRequest, "two_factor_required", "", "Two-factor authentication is required to complete the login.")
	e.TwoFactorID, e.TwoFactorMethods = id, m.methods()
	return e
}

// forgetTrustedBrowsers ends every twoFactorTrustId of the user: after a
// new password, a reset or "sign out everywhere" the next password login
// asks for the second factor again (MFA-7).
func (s *core) forgetTrustedBrowsers(ctx context.Context, userID string) error {
	if _, err := s.store.DeleteTickets(ctx, userID, store.TicketTrust); err != nil {
		return fmt.Errorf("forget trusted browsers: %w", err)
	}
	return nil
}

package idp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// The password grant (compat §1): the Login API semantics, the
// consecutive-failure delay and hard stop, device tokens and the answers a
// stranger cannot tell apart (AUD-1, AUD-2, AUD-6; IDP-BF-1..5).

func (s *Server) passwordGrant(r *http.Request, app *store.Application, secretOK bool) (*tokenResponse, *oauthError) {
	ctx := r.Context()
	// C-1, IDP-CLI-2 (AUD-3): only a client that proved its secret in this
	// request, whatever its configuration says.
	if !secretOK {
		return nil, oauthErr(http.StatusBadRequest, "unauthorized_client", "grant_type_disabled",
			"The password grant is only available to clients that authenticate with their secret.")
	}
	f := r.PostForm
	scopes, e := parseScopes(param(f.Get("scope")))
	if e != nil {
		return nil, e
	}
	login := param(f.Get("username"))
	if login == "" {
		login = param(f.Get("loginId"))
	}
	pw := f.Get("password")
	if login == "" || pw == "" {
		return nil, errInvalidGrant("unknown", "The username and password parameters are required (status 400).")
	}
	// The client authenticated above, so its X-Forwarded-For names the
	// browser (IDP-BF-3); the password bucket is keyed by it (AUD-4).
	ip := clientIP(r, true)
	// twoFactorTrustId: the Login API's field, as a form parameter (compat §16).
	att := loginAttempt{login: login, pw: pw, app: app, ip: ip, trustID: param(f.Get("twoFactorTrustId")), amr: amrPassword,
		device:  s.parseDeviceToken(ctx, param(f.Get("device_token")), app.ID),
		offline: slices.Contains(scopes, "offline_access") && app.Config.GenerateRefreshTokens, scopes: scopes,
		dev: deviceInfo{Name: f.Get("metaData.device.name"), Type: f.Get("metaData.device.type"), Description: f.Get("metaData.device.description")}}
	user, deviceID, fam, e := s.checkPassword(ctx, att)
	if e != nil {
		return nil, e
	}
	return s.loginResponse(ctx, user, app, scopes, deviceID, fam, att.amr)
}

// loginResponse answers a completed login (password grant, or its second
// step): the tokens and the browser's renewed device token.
func (s *Server) loginResponse(ctx context.Context, user *store.User, app *store.Application, scopes []string, deviceID string, fam *loginFamily, amr []string) (*tokenResponse, *oauthError) {
	resp, e := s.loginTokens(ctx, user, app, scopes, fam, amr)
	if e != nil {
		return nil, e
	}
	var err error
	if resp.DeviceToken, err = s.signDeviceToken(user.ID, app.ID, deviceID); err != nil {
		// The login stands; the browser just gets no device token.
		s.log.Warn("sign device token", "err", err)
	}
	return resp, nil
}

// loginAttempt is one password check.
type loginAttempt struct {
	login, pw, ip string
	app           *store.Application
	device        *deviceClaims // a well-signed device token for app, or nil
	// offline: a successful login starts a refresh-token family for
	// scopes, with device metadata dev.
	offline bool
	scopes  []string
	dev     deviceInfo
	// trustID is a twoFactorTrustId presented with the password: valid
	// for this user and application, it skips the second step.
	trustID string
	// amr is how the login authenticated (RFC 8176): its tokens say so, and
	// so do those its refresh-token family mints (compat §16).
	amr []string
}

// passedPassword is a login whose password was right, before its record
// is written (completeLogin).
type passedPassword struct {
	user     *store.User // as read; its PasswordHash is the one verified
	deviceID string      // the presented device token's id, if it counts
	trusted  bool        // that device token bypassed the account's delay
	newHash  string      // rehash of the password, or ""
}

// loginFamily is the refresh token of a successful login and its stored
// family.
type loginFamily struct {
	token  string
	family *store.RefreshToken
}

// checkPassword runs the Login API semantics of compat §1/§12 with the
// lockout of LockoutPolicy. It returns the user, the device id to bind
// the browser's next device token to and, when att.offline, the new
// refresh-token family, which it writes with the login record (one write
// transaction per login).
//
// AUD-2 (IDP-BF-4): unknown account, wrong password, an account in its
// delay or hard stop and a deactivated account all answer
// invalid_user_credentials for one password-hash's cost to anyone without
// the right password; only the right password learns user_locked (and
// expiry or a required password change). An attempt the lockout refuses is
// never checked against the real hash (AUD-1), so a guess during a delay
// learns nothing: it costs a dummy verification instead.
//
// A user with a second factor gets no tokens here: unless att.trustID is a
// valid trust id for the user and application, the answer is
// two_factor_required and nothing is recorded until the second step
// (secondFactorGate, MFA-6).
func (s *Server) checkPassword(ctx context.Context, att loginAttempt) (*store.User, string, *loginFamily, *oauthError) {
	v, e := s.verifyPassword(ctx, att)
	if e != nil {
		return nil, "", nil, e
	}
	if e := s.secondFactorGate(ctx, att, v); e != nil {
		return nil, "", nil, e
	}
	return s.completeLogin(ctx, att, v)
}

// verifyPassword is checkPassword's password check: the lockout, the hash,
// and the refusals only the right password may learn.
func (s *Server) verifyPassword(ctx context.Context, att loginAttempt) (*passedPassword, *oauthError) {
	now := s.now()
	v, rehash, e := s.matchPassword(ctx, att, now)
	if e != nil {
		return nil, e
	}
	// The right password: from here on the answer may say why.
	if e := loginRefusal(v.user, now); e != nil {
		return nil, e
	}
	if rehash { // IDP-HASH-2: upgrade imported or outdated hashes on login
		if h, err := s.hasher.Hash(ctx, att.pw); err == nil {
			v.newHash = h
		}
	}
	return v, nil
}

// matchPassword is every password check's guard: the per-IP bucket (a
// trusted device's own guesses excepted), the account's delay and hard
// stop (refused attempts cost a dummy hash), the hash, and the failure
// counting; unknown accounts, refused attempts and wrong passwords all
// answer invalid_user_credentials. rehash reports an outdated hash. The
// login (verifyPassword) and the current-password check of the account
// flows (ACC-7) share it, so guessing either is the same failed login.
func (s *Server) matchPassword(ctx context.Context, att loginAttempt, now time.Time) (v *passedPassword, rehash bool, e *oauthError) {
	pol := s.cfg.Lockout
	user, err := s.store.GetUserByLogin(ctx, att.login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, false, errServer()
	}
	// A device token counts only for the account it was issued for;
	// anything else is treated as none.
	deviceID := ""
	if att.device != nil && user != nil && att.device.Subject == user.ID {
		deviceID = att.device.ID
	}
	trusted := false
	if deviceID != "" {
		df, err := s.store.GetLoginFailures(ctx, user.ID, deviceID)
		if err != nil {
			return nil, false, errServer()
		}
		trusted = pol.Disabled || df.Count < pol.DeviceFailures
	}
	// The per-IP bucket (IDP-BF-3) is for strangers; a trusted browser's
	// own guesses are bounded by DeviceFailures.
	if !trusted && !s.pwLimit.allowed(att.ip) {
		return nil, false, &oauthError{Status: http.StatusTooManyRequests}
	}
	if user == nil {
		s.hasher.VerifyDummy(ctx, att.pw)
		s.loginFailed(ctx, nil, "", att, "unknown_user")
		return nil, false, errInvalidCredentials()
	}
	if !trusted && !pol.Disabled {
		af, err := s.store.GetLoginFailures(ctx, user.ID, "")
		if err != nil {
			return nil, false, errServer()
		}
		if pol.refuses(af, now) {
			s.hasher.VerifyDummy(ctx, att.pw)
			s.loginFailed(ctx, user, "", att, "locked")
			return nil, false, errInvalidCredentials()
		}
	}
	ok, rehash, err := s.hasher.Verify(ctx, user.PasswordHash, att.pw)
	if err != nil && ctx.Err() != nil {
		return nil, false, errServer()
	}
	if !ok {
		counter := "" // the account's counter, or only the trusted device's
		if trusted {
			counter = deviceID
		}
		s.loginFailed(ctx, user, counter, att, "bad_password")
		return nil, false, errInvalidCredentials()
	}
	return &passedPassword{user: user, deviceID: deviceID, trusted: trusted}, rehash, nil
}

// completeLogin writes a verified login (its record and, when
// att.offline, its new refresh-token family) and returns the user as
// written, the device id for the browser's next device token and the
// family. The second step of a two-factor login completes its password
// login here too, so both answer the same (compat §16).
func (s *Server) completeLogin(ctx context.Context, att loginAttempt, v *passedPassword) (*store.User, string, *loginFamily, *oauthError) {
	now := s.now()
	user, deviceID, trusted := v.user, v.deviceID, v.trusted
	var fam *loginFamily
	if att.offline {
		fam = &loginFamily{}
		fam.token, fam.family = s.newLoginFamily(user.ID, att.app, att.scopes, s.now(), att.dev, att.ip)
		fam.family.AMR = att.amr
	}
	// AUD-6: one conditional write of the fields a login owns, with the
	// login's refresh-token family. A deactivation or password change that
	// landed since the read wins.
	rec := store.LoginRecord{UserID: user.ID, At: now, OldHash: user.PasswordHash,
		NewHash: v.newHash, ResetAccount: !trusted, DeviceID: deviceID}
	if fam != nil {
		rec.Family = fam.family
	}
	fresh, err := s.store.RecordLogin(ctx, rec)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return nil, "", nil, s.loginLostRace(ctx, user)
	}
	if err != nil {
		s.log.Error("record login", "userId", user.ID, "err", err)
		return nil, "", nil, errServer()
	}
	if e := loginRefusal(fresh, now); e != nil {
		// A change the read missed (expiry, required password change)
		// refuses the login after its write: remove the family nobody
		// received.
		if fam != nil {
			if err := s.store.DeleteRefreshToken(ctx, fam.family.ID, nil); err != nil {
				s.log.Warn("remove refused login's refresh token", "userId", user.ID, "err", err)
			}
		}
		return nil, "", nil, e
	}
	if deviceID == "" {
		deviceID = uuid.NewString()
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "login succeeded", slog.String("event", "login"),
		slog.String("userId", user.ID), slog.String("applicationId", att.app.ID), slog.String("ip", att.ip),
		slog.Bool("trustedDevice", trusted))
	return fresh, deviceID, fam, nil
}

// loginRefusal is why a user who presented the right password still may
// not log in, or nil.
func loginRefusal(u *store.User, now time.Time) *oauthError {
	switch {
	case !u.Active:
		return errInvalidGrant("user_locked", "The user is locked.")
	case !u.Expiry.IsZero() && !now.Before(u.Expiry):
		return errInvalidGrant("user_expired", "The user has expired.")
	case u.PasswordChangeRequired:
		return oauthErr(http.StatusBadRequest, "change_password_required", "change_password_administrative", "The user must change their password.")
	}
	return nil
}

// loginLostRace answers a login whose write lost to a concurrent change
// of the user: deactivated (the password was right for the row read, so
// user_locked may be said) or a new password (the old one no longer is).
func (s *Server) loginLostRace(ctx context.Context, read *store.User) *oauthError {
	cur, err := s.store.GetUser(ctx, read.ID)
	if err != nil || cur.PasswordHash != read.PasswordHash {
		return errInvalidCredentials()
	}
	if e := loginRefusal(cur, s.now()); e != nil {
		return e
	}
	return errInvalidCredentials()
}

// loginFailed counts a failed or refused attempt against the end-user IP
// (IDP-BF-3) and, for a real wrong password, against the account's
// consecutive counter or the trusted device's (IDP-BF-1, IDP-BF-5). It
// never revokes tokens or ends sessions (AUD-1).
func (s *Server) loginFailed(ctx context.Context, user *store.User, deviceID string, att loginAttempt, reason string) {
	s.metrics.loginFailures.Inc()
	s.pwLimit.fail(att.ip)
	uid, appID := "", ""
	if user != nil {
		uid = user.ID
	}
	if att.app != nil { // nil for a current-password check (ACC-7)
		appID = att.app.ID
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "login failed", slog.String("event", "login_failed"),
		slog.String("reason", reason), slog.String("userId", uid), slog.String("applicationId", appID),
		slog.String("ip", att.ip), slog.Bool("device", deviceID != ""))
	// A refused attempt tested no password, so it does not count: the
	// counter is the number of guesses actually checked.
	if user == nil || s.cfg.Lockout.Disabled || reason == "locked" {
		return
	}
	f, err := s.store.RecordLoginFailure(ctx, user.ID, deviceID, s.now())
	if err != nil {
		s.log.Warn("record login failure", "userId", user.ID, "err", err)
		return
	}
	pol := s.cfg.Lockout
	switch {
	case deviceID != "" && f.Count == pol.DeviceFailures:
		s.log.LogAttrs(ctx, slog.LevelWarn, "device token no longer trusted", slog.String("event", "device_untrusted"), slog.String("userId", user.ID))
	case deviceID == "" && f.Count == pol.HardStop:
		s.log.LogAttrs(ctx, slog.LevelWarn, "account locked until unlocked by an admin", slog.String("event", "account_locked"),
			slog.String("userId", user.ID), slog.Int("failures", f.Count))
	case deviceID == "" && f.Count >= pol.FreeFailures:
		s.log.LogAttrs(ctx, slog.LevelWarn, "account login delayed", slog.String("event", "account_delayed"),
			slog.String("userId", user.ID), slog.Int("failures", f.Count), slog.Duration("delay", pol.delay(f.Count)))
	}
}

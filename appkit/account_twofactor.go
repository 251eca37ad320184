package appkit

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"

	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// The account page's authenticator app (issue 12): set it up (the IdP
// makes the secret; the kit keeps the pending secret in the session store,
// sealed, never in a hidden field, and shows it as a QR code drawn on the
// server as inline SVG plus the text), confirm it with a first code (the
// ten recovery codes are shown once), regenerate the recovery codes, and
// turn it off with a code or a recovery code.

const (
	// TOTPSetupLifetime is how long a pending authenticator secret waits
	// for its first code.
	TOTPSetupLifetime = 15 * time.Minute

	infoTOTPSetup   = "gatehouse appkit v1 totp setup"
	setupKeyPrefix  = "gatehouse appkit v1 totp setup key\x00"
	maxSecretBase32 = 256
)

// Messages of the authenticator forms.
const (
	MsgCodeRequired = "Enter the 6-digit code from your authenticator app."
	// MsgDisableNeedsProof asks for what turning the authenticator off
	// needs.
	MsgDisableNeedsProof = "Enter a code from your authenticator app, a recovery code, or your current password."
	MsgSetupExpired      = "The setup expired. Start again to get a new QR code."
	MsgTwoFactorOn       = "Your authenticator app is set up. Keep your recovery codes somewhere safe: each works once, and you will not see them again."
	MsgTwoFactorOff      = "The authenticator app is turned off. Signing in needs only your password now."
	MsgRecoveryNewSet    = "New recovery codes are ready; the old ones no longer work. Keep them somewhere safe: you will not see them again."
)

// TwoFactorView is the authenticator part of the account page.
type TwoFactorView struct {
	// Available is false when the kit cannot reach the IdP's two-factor
	// calls (no API key, IdP down): the section shows nothing to do.
	Available bool
	// Enabled is true when the user has an authenticator app.
	Enabled bool
	// NeedsConfirmedEmail is true when the user's address is not confirmed:
	// the IdP adds no second factor to such an account (ACC-13), so the
	// page asks for the confirmation instead of offering a setup.
	NeedsConfirmedEmail bool
	// MethodID is the IdP's id of the authenticator method.
	MethodID string
	// RecoveryCodesLeft counts the unused recovery codes.
	RecoveryCodesLeft int
	// Setup is the pending setup (after SetupAction), else nil.
	Setup *AuthenticatorSetup
	// RecoveryCodes are shown once: right after enabling or regenerating.
	RecoveryCodes []string
	// Where the forms post: setup (no fields), enable (code), disable
	// (code), recovery codes (no fields).
	SetupAction, EnableAction, DisableAction, RecoveryCodesAction string
}

// AuthenticatorSetup is a pending authenticator secret as the page shows
// it.
type AuthenticatorSetup struct {
	// QR is an inline <svg> of URI (no script, no style attribute).
	QR template.HTML
	// Secret is the base32 secret for typing into the app, in groups of
	// four; URI is the otpauth:// URI the QR code holds.
	Secret, URI string
}

// twoFactorRoutes mounts the authenticator forms under AccountPath.
func (k *Kit) twoFactorRoutes(mux Mux) {
	base := k.cfg.AccountPath + "/two-factor"
	mux.Handle(base+"/setup", k.accountAction(k.totpSetup))
	mux.Handle(base+"/enable", k.accountAction(k.totpEnable))
	mux.Handle(base+"/disable", k.accountAction(k.totpDisable))
	mux.Handle(base+"/recovery-codes", k.accountAction(k.totpRegenerate))
}

// twoFactorView reads the user's second factor for the account page.
func (k *Kit) twoFactorView(r *http.Request) TwoFactorView {
	base := k.cfg.AccountPath + "/two-factor"
	v := TwoFactorView{SetupAction: base + "/setup", EnableAction: base + "/enable",
		DisableAction: base + "/disable", RecoveryCodesAction: base + "/recovery-codes"}
	if !k.idp.HasAPIKey() {
		return v
	}
	u := User(r.Context())
	st, err := k.idp.TwoFactorStatus(r.Context(), u.ID)
	if err != nil {
		k.log.Warn("appkit: read second factor", "user", u.ID, "err", err)
		return v
	}
	v.Available = true
	for _, m := range st.Methods {
		if m.Method == "authenticator" {
			v.Enabled, v.MethodID = true, m.ID
		}
	}
	v.RecoveryCodesLeft = st.RecoveryCodesLeft
	v.NeedsConfirmedEmail = !v.Enabled && !u.EmailVerified
	if !v.Enabled && !v.NeedsConfirmedEmail {
		if secret, ok := k.pendingSecret(r); ok {
			v.Setup = k.authenticatorSetup(u, secret)
		}
	}
	return v
}

// setupKey is the store key of the session's pending secret.
func setupKey(sessionKey string) string { return labelledKey(setupKeyPrefix, sessionKey) }

func (k *Kit) setupAEAD() (cipher.AEAD, error) { return newAEAD(k.cfg.SealKey, infoTOTPSetup) }

// pendingSecret is the current session's pending authenticator secret.
func (k *Kit) pendingSecret(r *http.Request) (string, bool) {
	s := Session(r.Context())
	if s == nil {
		return "", false
	}
	a, err := k.setupAEAD()
	if err != nil {
		return "", false
	}
	pt, err := k.getSealed(r.Context(), a, setupKey(s.Key))
	if err != nil {
		k.log.Warn("appkit: read pending authenticator secret", "err", err)
	}
	if len(pt) == 0 {
		return "", false
	}
	return string(pt), true
}

func (k *Kit) putPendingSecret(ctx context.Context, secret string) error {
	s := Session(ctx)
	if s == nil {
		return ErrNoSession
	}
	a, err := k.setupAEAD()
	if err != nil {
		return err
	}
	return k.putSealed(ctx, a, setupKey(s.Key), []byte(secret), TOTPSetupLifetime)
}

// authenticatorSetup builds the page's view of secret for u.
func (k *Kit) authenticatorSetup(u *UserInfo, secret string) *AuthenticatorSetup {
	uri := OTPAuthURI(k.cfg.AppName, loginID(u), secret)
	svg, err := QRCodeSVG(uri)
	if err != nil {
		k.log.Warn("appkit: QR code", "err", err)
	}
	var groups []string
	for s := secret; len(s) > 0; {
		n := min(4, len(s))
		groups = append(groups, s[:n])
		s = s[n:]
	}
	return &AuthenticatorSetup{QR: svg, Secret: strings.Join(groups, " "), URI: uri}
}

// OTPAuthURI is the otpauth:// URI authenticator apps read from a QR
// code (Google Authenticator's Key Uri Format): TOTP, SHA-1, 6 digits,
// 30 s, the Gatehouse IdP's parameters.
func OTPAuthURI(issuer, account, secretBase32 string) string {
	q := url.Values{"secret": {secretBase32}, "issuer": {issuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	return "otpauth://totp/" + url.PathEscape(issuer+":"+account) + "?" + q.Encode()
}

// QRCodeSVG draws text as a QR code in an inline SVG: one path of unit
// squares with a four-module quiet zone, presentation attributes only
// (the apps' CSP allows neither data: images nor inline styles).
func QRCodeSVG(text string) (template.HTML, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("appkit: QR code: %w", err)
	}
	b := code.Bounds()
	n := b.Dx()
	const quiet = 4
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="200" height="200" shape-rendering="crispEdges" role="img" aria-label="QR code for your authenticator app">`, n+2*quiet, n+2*quiet)
	fmt.Fprintf(&sb, `<rect width="%d" height="%d" fill="#ffffff"/><path fill="#000000" d="`, n+2*quiet, n+2*quiet)
	for y := 0; y < b.Dy(); y++ {
		dark := func(x int) bool { r, _, _, _ := code.At(b.Min.X+x, b.Min.Y+y).RGBA(); return r == 0 }
		for x := 0; x < n; x++ {
			if !dark(x) {
				continue
			}
			run := 1 // one rectangle per horizontal run of dark modules
			for x+run < n && dark(x+run) {
				run++
			}
			fmt.Fprintf(&sb, "M%d %dh%dv1h-%dz", x+quiet, y+quiet, run, run)
			x += run - 1
		}
	}
	sb.WriteString(`"/></svg>`)
	// The SVG is built from numbers only: nothing of text reaches it
	// except through the QR modules.
	return template.HTML(sb.String()), nil //nolint:gosec // numbers only
}

// renderTwoFactor renders the account page with the authenticator form's
// outcome.
func (k *Kit) renderTwoFactor(w http.ResponseWriter, r *http.Request, status int, edit func(p *AccountPage)) {
	p := k.accountPage(r)
	edit(p)
	k.render(w, k.accountTmpl, status, p)
}

// totpSetup asks the IdP for a new secret, keeps it for this session and
// answers 303 to the account page, which shows it.
func (k *Kit) totpSetup(w http.ResponseWriter, r *http.Request) {
	secret, err := k.idp.GenerateTwoFactorSecret(r.Context())
	if err == nil && (secret == "" || len(secret) > maxSecretBase32) {
		err = errors.New("implausible secret")
	}
	if err == nil {
		err = k.putPendingSecret(r.Context(), secret)
	}
	if err != nil {
		status, msg := k.idpFailure("authenticator setup", err)
		k.renderTwoFactor(w, r, status, func(p *AccountPage) { p.Form, p.Error = "two-factor", msg })
		return
	}
	http.Redirect(w, r, k.cfg.AccountPath+"#two-factor", http.StatusSeeOther)
}

// formCode is the form's code field without spaces, "" when too long.
func formCode(r *http.Request) string {
	c := strings.Join(strings.Fields(r.PostForm.Get("code")), "")
	if len(c) > maxCode {
		return ""
	}
	return c
}

// totpEnable turns the pending secret on with the first code and shows the
// recovery codes once (200, no-store).
func (k *Kit) totpEnable(w http.ResponseWriter, r *http.Request) {
	u := User(r.Context())
	fail := func(status int, field, msg string) {
		k.renderTwoFactor(w, r, status, func(p *AccountPage) {
			p.Form = "two-factor"
			if field != "" {
				p.Errors = FieldErrors{field: msg}
			} else {
				p.Error = msg
			}
		})
	}
	secret, ok := k.pendingSecret(r)
	if !ok {
		// A repeated POST (a reload of the recovery-code page) finds the
		// authenticator on: show the account page, not an error.
		if st, err := k.idp.TwoFactorStatus(r.Context(), u.ID); err == nil && len(st.Methods) > 0 {
			http.Redirect(w, r, k.cfg.AccountPath+"#two-factor", http.StatusSeeOther)
			return
		}
		fail(http.StatusBadRequest, "", MsgSetupExpired)
		return
	}
	code := formCode(r)
	if code == "" {
		fail(http.StatusBadRequest, "code", MsgCodeRequired)
		return
	}
	codes, err := k.idp.EnableTwoFactor(r.Context(), u.ID, secret, code)
	if err != nil {
		if errors.Is(err, idpclient.ErrInvalidCode) || errors.Is(err, idpclient.ErrInvalidInput) {
			fail(http.StatusBadRequest, "code", MsgInvalidCode)
			return
		}
		status, msg := k.idpFailure("enable authenticator", err)
		fail(status, "", msg)
		return
	}
	if err := k.putPendingSecret(r.Context(), ""); err != nil {
		k.log.Warn("appkit: forget pending authenticator secret", "err", err)
	}
	k.log.Info("appkit: authenticator enabled", "user", u.ID, "ip", k.clientIP(r))
	k.renderTwoFactor(w, r, http.StatusOK, func(p *AccountPage) {
		p.Message, p.TwoFactor.RecoveryCodes = MsgTwoFactorOn, codes
	})
}

// totpDisable turns the authenticator off with a current code or a
// recovery code (field code) or, without a code, the current password
// (field current_password; Gatehouse IdP only) and answers 303 to
// AccountPath?done=two-factor-off.
func (k *Kit) totpDisable(w http.ResponseWriter, r *http.Request) {
	u := User(r.Context())
	fail := func(status int, field, msg string) {
		k.renderTwoFactor(w, r, status, func(p *AccountPage) {
			p.Form = "two-factor-off"
			if field != "" {
				p.Errors = FieldErrors{field: msg}
			} else {
				p.Error = msg
			}
		})
	}
	code, current := formCode(r), r.PostForm.Get("current_password")
	if code == "" && (current == "" || len(current) > maxPasswordLen) {
		fail(http.StatusBadRequest, "code", MsgDisableNeedsProof)
		return
	}
	if code == "" {
		// GH: the current password instead of a code, checked by the IdP
		// like a login (a wrong one counts as a failed login).
		err := k.idp.DisableTwoFactorWithPassword(r.Context(), u.ID, current, k.clientIP(r))
		switch {
		case err == nil:
			k.log.Info("appkit: authenticator disabled with the password", "user", u.ID, "ip", k.clientIP(r))
			http.Redirect(w, r, k.cfg.AccountPath+"?done=two-factor-off", http.StatusSeeOther)
		case errors.Is(err, idpclient.ErrInvalidCredentials):
			k.log.Info("appkit: authenticator disable refused: wrong current password", "user", u.ID)
			fail(http.StatusForbidden, "current_password", MsgCurrentPasswordWrong)
		default:
			status, msg := k.idpFailure("disable authenticator", err)
			fail(status, "", msg)
		}
		return
	}
	methodID := ""
	if st, err := k.idp.TwoFactorStatus(r.Context(), u.ID); err == nil {
		for _, m := range st.Methods {
			if m.Method == "authenticator" {
				methodID = m.ID
			}
		}
	}
	if err := k.idp.DisableTwoFactor(r.Context(), u.ID, methodID, code); err != nil {
		if errors.Is(err, idpclient.ErrInvalidCode) || errors.Is(err, idpclient.ErrInvalidInput) {
			k.log.Info("appkit: authenticator disable refused: code rejected", "user", u.ID)
			fail(http.StatusForbidden, "code", MsgInvalidCode)
			return
		}
		status, msg := k.idpFailure("disable authenticator", err)
		fail(status, "", msg)
		return
	}
	k.log.Info("appkit: authenticator disabled", "user", u.ID, "ip", k.clientIP(r))
	http.Redirect(w, r, k.cfg.AccountPath+"?done=two-factor-off", http.StatusSeeOther)
}

// totpRegenerate replaces the recovery codes and shows the new ones once.
func (k *Kit) totpRegenerate(w http.ResponseWriter, r *http.Request) {
	u := User(r.Context())
	codes, err := k.idp.RegenerateRecoveryCodes(r.Context(), u.ID)
	if err != nil {
		status, msg := k.idpFailure("regenerate recovery codes", err)
		k.renderTwoFactor(w, r, status, func(p *AccountPage) { p.Form, p.Error = "two-factor", msg })
		return
	}
	k.log.Info("appkit: recovery codes regenerated", "user", u.ID)
	k.renderTwoFactor(w, r, http.StatusOK, func(p *AccountPage) {
		p.Message, p.TwoFactor.RecoveryCodes = MsgRecoveryNewSet, codes
		p.TwoFactor.RecoveryCodesLeft = len(codes)
	})
}

// signInMethods describes the session's amr claim for people.
func signInMethods(amr []string) string {
	var parts []string
	for _, m := range amr {
		switch m {
		case "pwd":
			parts = append(parts, "password")
		case "otp":
			parts = append(parts, "authenticator app")
		case "mfa":
		case "hwk", "swk", "user", "pop":
			if !slices.Contains(parts, "passkey") {
				parts = append(parts, "passkey")
			}
		default:
			if !slices.Contains(parts, m) {
				parts = append(parts, m)
			}
		}
	}
	return strings.Join(parts, " and ")
}

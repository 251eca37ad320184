package appkit

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// Messages shown on the login form. They are deliberately generic: an
// unknown account, a wrong password and an account in its brute-force
// delay read the same (APP-LOGIN-4, AUD-2), and the IdP's
// error_description is never shown. MsgLocked is shown only to someone
// who gave the right password of a deactivated account (the IdP tells
// nobody else).
const (
	MsgInvalidCredentials = "Invalid email or password."
	MsgLocked             = "This account has been deactivated. Please contact support."
	MsgThrottled          = "Too many attempts. Wait a moment and try again."
	MsgUnavailable        = "Sign-in is temporarily unavailable. Please try again in a moment."
)

// Input bounds: a larger form is refused without calling the IdP.
const (
	maxLoginForm   = 16 << 10
	maxEmailLen    = 320
	maxPasswordLen = 1024 // IDP-HASH-5
)

// LoginPage is the data the login template is executed with.
type LoginPage struct {
	// Action is the URL the form posts to (Config.LoginPath).
	Action string
	// Email is the address typed before a failed attempt, for convenience.
	Email string
	// Next is the safe page to go to after login (hidden field "next").
	Next string
	// Error is the message to show, empty on a fresh form.
	Error string
	// Locked is true when Error says the account is deactivated.
	Locked bool
	// Passkey, when the kit offers passkeys (Config.PublicOrigin), is
	// where the passkey script posts; show the passkey button (hidden
	// until the script reveals it) and autocomplete="username webauthn"
	// on the email field.
	Passkey *PasskeyForm
}

// DefaultLoginTemplate returns the built-in login form. Apps normally
// supply their own with an error slot ({{.Error}}), fields email, password
// and next, and no autocomplete=off (APP-LOGIN-3).
func DefaultLoginTemplate() *template.Template {
	return template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><main>
<h1>Sign in</h1>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<label>Email <input type="email" name="email" value="{{.Email}}" autocomplete="username{{if .Passkey}} webauthn{{end}}" required autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{{.Next}}">
<button type="submit">Sign in</button>
</form>
{{with .Passkey}}<div id="passkey-login" data-options="{{.OptionsAction}}" data-action="{{.Action}}" data-origin="{{.Origin}}" hidden>
<button type="button">Sign in with a passkey</button>
<p id="passkey-error" role="alert" hidden></p>
</div>
<p id="passkey-elsewhere" hidden>Passkeys work at <a href="{{.Origin}}">{{.Origin}}</a>.</p>
<script src="{{.Script}}" defer></script>{{end}}
</main></body></html>
`))
}

// LoginHandler serves the login form (GET) and logs in (POST, scenarios
// S1 and S2):
//   - POST is cross-origin checked (login CSRF, APP-LOGIN-1), reads email,
//     password and next from the form body only, and calls the IdP's
//     password grant with the app's client credentials, offline_access and
//     the browser's IP;
//   - on success the JWT is verified, any earlier session of this browser
//     is destroyed (APP-SID-2), a new session is created, the session and
//     sealed refresh cookies are set, and the answer is 303 to the safe
//     next or HomePath (APP-RED-1, APP-RED-2);
//   - wrong credentials, an unknown account and an account in its
//     brute-force delay re-render the form (401) with one generic message;
//     a deactivated account (403) says so only to the right password;
//     throttling 429, an unreachable IdP 503;
//   - the browser's device cookie (the IdP's device token, sealed) is sent
//     with the password grant and renewed on success, so a browser that
//     signed in before is not locked out by strangers' guesses (AUD-1).
//
// The password is passed to the IdP and dropped: never logged, stored or
// rendered back (APP-LOGIN-2).
func (k *Kit) LoginHandler() http.Handler {
	return k.loginForm(func(w http.ResponseWriter, r *http.Request) {
		k.renderLogin(w, http.StatusOK, LoginPage{Next: SafeNext(r.URL.Query().Get("next"), "")})
	}, k.login)
}

// loginForm is publicForm with show for GET and HEAD and post for POST.
func (k *Kit) loginForm(show, post http.HandlerFunc) http.Handler {
	return k.publicForm(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			post(w, r)
			return
		}
		show(w, r)
	})
}

// publicForm is the frame of the form pages a signed-out browser uses
// (login, second step, sign-up, forgotten password): the kit's guard
// (cross-origin checked: login CSRF, APP-LOGIN-1), never cached, 405 for
// anything but GET, HEAD and POST.
func (k *Kit) publicForm(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !k.guard(w, r) {
			return
		}
		k.noStore(w.Header())
		if !formMethods(w, r, true) {
			return
		}
		h(w, r)
	})
}

func (k *Kit) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		k.renderLogin(w, http.StatusBadRequest, LoginPage{Error: MsgInvalidCredentials})
		return
	}
	// Only the body counts: a password in the URL would end up in logs.
	email := strings.TrimSpace(r.PostForm.Get("email"))
	password := r.PostForm.Get("password")
	page := LoginPage{Email: email, Next: SafeNext(r.PostForm.Get("next"), "")}
	if email == "" || password == "" || len(email) > maxEmailLen || len(password) > maxPasswordLen {
		page.Error = MsgInvalidCredentials
		if len(email) > maxEmailLen {
			page.Email = ""
		}
		k.renderLogin(w, http.StatusBadRequest, page)
		return
	}
	if f := k.signIn(w, r, email, password); f != nil {
		if f.twoFactor != nil {
			k.startSecondStep(w, r, f.twoFactor, email, SafeNext(page.Next, k.cfg.HomePath))
			return
		}
		page.Error, page.Locked = f.msg, f.locked
		k.renderLogin(w, f.status, page)
		return
	}
	http.Redirect(w, r, SafeNext(page.Next, k.cfg.HomePath), http.StatusSeeOther)
}

// loginFailure is why signIn failed: the status and the generic message
// the form shows.
type loginFailure struct {
	status int
	msg    string
	locked bool
	// twoFactor is set when the password was right and the user has a
	// second factor: the caller shows the second step (startSecondStep).
	twoFactor *idpclient.TwoFactorRequired
}

// signIn is every sign-in's second half, shared by the login form, sign-up,
// a password reset and a password change: it runs the password grant for
// email and password from r's browser (with its IP and device cookie) and,
// on success, destroys whatever session this browser had (APP-SID-2),
// creates a new one and sets the session, refresh and device cookies on w.
// It returns nil on success; on failure nothing is set and the failure
// says what to show. The browser's trust cookie is presented too
// (APP-MFA-3); a user with a second factor and no valid trust gets a
// failure with twoFactor set (APP-MFA-1).
func (k *Kit) signIn(w http.ResponseWriter, r *http.Request, email, password string) *loginFailure {
	ip := k.clientIP(r)
	tok, err := k.idp.PasswordLoginWith(r.Context(), email, password, ip, idpclient.PasswordLoginOptions{
		DeviceToken: k.openDevice(cookieValue(r, k.devName)), TwoFactorTrustID: k.openTrust(cookieValue(r, k.trustName)),
	})
	if err != nil {
		f := &loginFailure{status: http.StatusServiceUnavailable, msg: MsgUnavailable}
		var tf *idpclient.TwoFactorRequired
		switch {
		case errors.Is(err, idpclient.ErrTwoFactorRequired) && errors.As(err, &tf):
			f.status, f.msg, f.twoFactor = http.StatusOK, "", tf
			k.log.Info("appkit: password accepted, second factor required", "ip", ip)
		case errors.Is(err, idpclient.ErrInvalidCredentials):
			f.status, f.msg = http.StatusUnauthorized, MsgInvalidCredentials
			k.log.Info("appkit: login failed", "ip", ip, "err", err)
		case errors.Is(err, idpclient.ErrLocked) && errorReason(err) == "login_prevented":
			// A FusionAuth-style lockout answer would tell a stranger the
			// account exists: read it as a failed login (AUD-2).
			f.status, f.msg = http.StatusUnauthorized, MsgInvalidCredentials
			k.log.Info("appkit: login failed", "ip", ip, "err", err)
		case errors.Is(err, idpclient.ErrLocked):
			f.status, f.msg, f.locked = http.StatusForbidden, MsgLocked, true
			k.log.Info("appkit: login refused, account locked", "ip", ip, "err", err)
		case errors.Is(err, idpclient.ErrThrottled):
			f.status, f.msg = http.StatusTooManyRequests, MsgThrottled
			k.log.Warn("appkit: login throttled by the identity server", "ip", ip, "err", err)
		default:
			k.log.Error("appkit: login failed; identity server unavailable or misconfigured", "ip", ip, "err", err)
		}
		return f
	}
	return k.startSession(w, r, tok, ip)
}

// startSession is what every sign-in does with the tokens the IdP
// answered (password grant, passkey): it destroys whatever session this
// browser had (APP-SID-2), creates a new one and sets the session,
// refresh and device cookies on w. nil means success.
func (k *Kit) startSession(w http.ResponseWriter, r *http.Request, tok *idpclient.Tokens, ip string) *loginFailure {
	// APP-SID-2: whatever this browser had before dies now.
	if key, ok := keyForCookie(cookieValue(r, k.sidName)); ok {
		_ = k.store.Delete(r.Context(), key)
	}
	if old, err := k.openRefresh(cookieValue(r, k.rtName)); err == nil && old.token != tok.RefreshToken {
		k.revokeBestEffort(r.Context(), old.token)
	}
	authTime := tok.Claims.AuthTime
	if authTime.IsZero() {
		authTime = k.now()
	}
	id, sess, err := k.createSession(r.Context(), r, tok, authTime)
	if err != nil {
		k.log.Error("appkit: create session", "err", err)
		k.revokeBestEffort(context.WithoutCancel(r.Context()), tok.RefreshToken)
		return &loginFailure{status: http.StatusServiceUnavailable, msg: MsgUnavailable}
	}
	k.setSessionCookie(w, id)
	if tok.DeviceToken != "" {
		if sealed, err := k.sealDevice(tok.DeviceToken); err != nil {
			k.log.Warn("appkit: seal device cookie", "err", err)
		} else {
			k.setDeviceCookie(w, sealed)
		}
	}
	if tok.RefreshToken != "" {
		sealed, err := k.sealRefresh(refreshCookie{token: tok.RefreshToken, authTime: authTime, issued: k.now()})
		if err != nil {
			k.log.Error("appkit: seal refresh cookie", "err", err)
		} else {
			k.setRefreshCookie(w, sealed)
		}
	} else {
		k.clearCookie(w, k.rtName, k.cfg.RefreshCookieSameSite)
	}
	k.log.Info("appkit: login", "user", sess.UserID, "ip", ip)
	return nil
}

// errorReason is the IdP's error_reason carried by err, if any.
func errorReason(err error) string {
	var e *idpclient.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// renderLogin executes the login template into a buffer first, so a
// template error is a clean 500 rather than half a page.
func (k *Kit) renderLogin(w http.ResponseWriter, status int, p LoginPage) {
	p.Action = k.cfg.LoginPath
	p.Passkey = k.PasskeyLoginForm()
	var buf bytes.Buffer
	if err := k.loginTmpl.Execute(&buf, &p); err != nil {
		k.log.Error("appkit: login template", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// defaultUnavailable is the built-in 503 page.
func defaultUnavailable(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Retry-After", "5")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title></head>` +
		`<body><h1>Temporarily unavailable</h1><p>Sign-in is temporarily unavailable. You are still signed in; please try again in a moment.</p></body></html>`))
}

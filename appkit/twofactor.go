package appkit

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// The second login step (issue 12): when the password grant answers
// two_factor_required, the login handler keeps the IdP's twoFactorId on
// the server, in a short-lived record of the session store keyed by a hash
// of a random value that only the browser's "<app>-2fa" cookie holds and
// sealed with a key derived from that value (a store dump yields neither
// the twoFactorId nor a usable cookie), and renders the code form. The
// page never carries the twoFactorId (APP-MFA-2). The code completes the
// login through the IdP's two-factor login and then exactly the path of a
// password-only login (startSession).

const (
	// DefaultSecondStepPath is where the second step's form posts.
	DefaultSecondStepPath = "/login/two-factor"
	// SecondStepLifetime is how long the second step's cookie and record
	// live: the IdP's twoFactorId lives five minutes.
	SecondStepLifetime = 5 * time.Minute
	// DefaultTrustCookieMaxAge is the Max-Age of the "trust this browser"
	// cookie: the IdP's twoFactorTrustId lives 30 days.
	DefaultTrustCookieMaxAge = 30 * 24 * time.Hour
	// TrustDays is DefaultTrustCookieMaxAge in days, for the pages.
	TrustDays = 30

	infoSecondStep  = "gatehouse appkit v1 two-factor step"
	infoTrustCookie = "gatehouse appkit v1 two-factor trust cookie"
	stepKeyPrefix   = "gatehouse appkit v1 two-factor step key\x00"
	maxCode         = 64
	maxTrustID      = 512
)

// Messages of the second step.
const (
	// MsgInvalidCode is shown for any rejected code: wrong, already used,
	// or a recovery code that is not one of the user's.
	MsgInvalidCode = "That code did not work. Enter the current code from your authenticator app, or a recovery code."
	// MsgSecondStepExpired is shown on the login form when the second
	// step ended: too slow, too many wrong codes, or already used.
	MsgSecondStepExpired = "Your sign-in expired or had too many wrong codes. Please sign in again."
)

// SecondStepPage is the data the second-step template is executed with.
type SecondStepPage struct {
	// Action is the URL the form posts to (fields code and, optional,
	// trust="yes").
	Action string
	// Email is the account being signed in to, for display.
	Email string
	// Error is the message to show, empty on a fresh form.
	Error string
	// TrustDays is how long "trust this browser" lasts.
	TrustDays int
	// LoginPath is where to start over.
	LoginPath string
}

// DefaultSecondStepTemplate returns the built-in second-step form. Apps
// supply their own (Config.SecondStepTemplate) with an error slot, a field
// code (autocomplete="one-time-code") and an optional checkbox trust.
func DefaultSecondStepTemplate() *template.Template {
	return template.Must(template.New("second-step").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Enter your code</title></head>
<body><main>
<h1>Enter your code</h1>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<label>Code from your authenticator app, or a recovery code <input name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus></label>
<label><input type="checkbox" name="trust" value="yes"> Trust this browser for {{.TrustDays}} days</label>
<button type="submit">Continue</button>
</form>
<p><a href="{{.LoginPath}}">Start over</a></p>
</main></body></html>
`))
}

// pendingStep is what the server keeps for a second step.
type pendingStep struct {
	TwoFactorID string `json:"t"`
	Email       string `json:"e"`
	Next        string `json:"n"`
}

// stepKey is the store key of a second step's record: a labelled hash of
// the cookie value, so the store never holds the value itself.
func stepKey(cookie string) string { return labelledKey(stepKeyPrefix, cookie) }

// startSecondStep keeps tf's twoFactorId, email and next on the server,
// sets the browser's second-step cookie and renders the code form (200).
// When the record cannot be stored the login form says sign-in is
// unavailable.
func (k *Kit) startSecondStep(w http.ResponseWriter, r *http.Request, tf *idpclient.TwoFactorRequired, email, next string) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		k.log.Error("appkit: second step: random", "err", err)
		k.renderLogin(w, http.StatusServiceUnavailable, LoginPage{Email: email, Error: MsgUnavailable})
		return
	}
	val := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := k.putStep(r, val, pendingStep{TwoFactorID: tf.TwoFactorID, Email: email, Next: next}); err != nil {
		k.log.Error("appkit: second step: store", "err", err)
		k.renderLogin(w, http.StatusServiceUnavailable, LoginPage{Email: email, Error: MsgUnavailable})
		return
	}
	k.noStore(w.Header())
	http.SetCookie(w, &http.Cookie{
		Name: k.stepName, Value: val, Path: "/", MaxAge: int(SecondStepLifetime / time.Second),
		HttpOnly: true, Secure: !k.cfg.DevMode, SameSite: http.SameSiteStrictMode,
	})
	k.renderSecondStep(w, http.StatusOK, SecondStepPage{Email: email})
}

func (k *Kit) putStep(r *http.Request, val string, p pendingStep) error {
	a, err := newAEAD([]byte(val), infoSecondStep)
	if err != nil {
		return err
	}
	pt, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return k.putSealed(r.Context(), a, stepKey(val), pt, SecondStepLifetime)
}

// getStep opens the browser's second-step record; ok is false when there
// is none (no cookie, expired, used).
func (k *Kit) getStep(r *http.Request) (val string, p pendingStep, ok bool, err error) {
	val = cookieValue(r, k.stepName)
	if len(val) != 43 {
		return "", p, false, nil
	}
	a, err := newAEAD([]byte(val), infoSecondStep)
	if err != nil {
		return "", p, false, err
	}
	pt, err := k.getSealed(r.Context(), a, stepKey(val))
	if err != nil {
		return "", p, false, err
	}
	if pt == nil || json.Unmarshal(pt, &p) != nil || p.TwoFactorID == "" {
		return "", p, false, nil
	}
	return val, p, true, nil
}

// endStep makes the browser's second step unusable: the record becomes
// empty and the cookie is expired.
func (k *Kit) endStep(w http.ResponseWriter, r *http.Request, val string) {
	if val != "" {
		if err := k.putSealed(r.Context(), nil, stepKey(val), nil, SecondStepLifetime); err != nil {
			k.log.Warn("appkit: second step: end record", "err", err)
		}
	}
	k.clearCookie(w, k.stepName, http.SameSiteStrictMode)
}

// SecondStepHandler serves the second login step's POST (field code, a
// TOTP or a recovery code; optional trust="yes"), cross-origin checked
// and size-bounded:
//   - a right code signs the browser in exactly like a password-only login
//     (startSession: session, refresh and device cookies) and answers 303
//     to the next page kept with the step; with trust, the IdP's
//     twoFactorTrustId goes into the sealed trust cookie;
//   - a wrong code re-renders the form (401) with MsgInvalidCode;
//   - a step that expired, was used or had five wrong codes, or no step
//     at all, shows the login form (401) with MsgSecondStepExpired.
//
// GET shows the form while a step is pending, else the login form.
func (k *Kit) SecondStepHandler() http.Handler {
	return k.loginForm(func(w http.ResponseWriter, r *http.Request) {
		if _, p, ok, _ := k.getStep(r); ok {
			k.renderSecondStep(w, http.StatusOK, SecondStepPage{Email: p.Email})
			return
		}
		http.Redirect(w, r, k.cfg.LoginPath, http.StatusSeeOther)
	}, k.secondStep)
}

func (k *Kit) secondStep(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	formErr := r.ParseForm()
	val, p, ok, err := k.getStep(r)
	if err != nil {
		k.log.Error("appkit: second step: read record", "err", err)
		k.renderSecondStep(w, http.StatusServiceUnavailable, SecondStepPage{Error: MsgUnavailable})
		return
	}
	if !ok {
		k.clearCookie(w, k.stepName, http.SameSiteStrictMode)
		k.renderLogin(w, http.StatusUnauthorized, LoginPage{Error: MsgSecondStepExpired})
		return
	}
	page := SecondStepPage{Email: p.Email}
	code := strings.Join(strings.Fields(r.PostForm.Get("code")), "")
	if formErr != nil || code == "" || len(code) > maxCode {
		page.Error = MsgInvalidCode
		k.renderSecondStep(w, http.StatusBadRequest, page)
		return
	}
	trust := r.PostForm.Get("trust") != ""
	ip := k.clientIP(r)
	tok, trustID, err := k.idp.TwoFactorLogin(r.Context(), p.TwoFactorID, code, trust, ip)
	if err != nil {
		switch {
		case errors.Is(err, idpclient.ErrInvalidCode):
			k.log.Info("appkit: second step: code rejected", "ip", ip)
			page.Error = MsgInvalidCode
			k.renderSecondStep(w, http.StatusUnauthorized, page)
		case errors.Is(err, idpclient.ErrTwoFactorExpired):
			k.log.Info("appkit: second step expired or used up", "ip", ip)
			k.endStep(w, r, val)
			k.renderLogin(w, http.StatusUnauthorized, LoginPage{Email: p.Email, Next: p.Next, Error: MsgSecondStepExpired})
		case errors.Is(err, idpclient.ErrLocked):
			k.endStep(w, r, val)
			k.renderLogin(w, http.StatusForbidden, LoginPage{Email: p.Email, Error: MsgLocked, Locked: true})
		case errors.Is(err, idpclient.ErrThrottled):
			k.log.Warn("appkit: second step throttled by the identity server", "ip", ip, "err", err)
			page.Error = MsgThrottled
			k.renderSecondStep(w, http.StatusTooManyRequests, page)
		default:
			k.log.Error("appkit: second step failed; identity server unavailable or misconfigured", "ip", ip, "err", err)
			page.Error = MsgUnavailable
			k.renderSecondStep(w, http.StatusServiceUnavailable, page)
		}
		return
	}
	k.endStep(w, r, val)
	if f := k.startSession(w, r, tok, ip); f != nil {
		k.renderLogin(w, f.status, LoginPage{Email: p.Email, Error: f.msg})
		return
	}
	if trust && trustID != "" {
		if sealed, err := k.sealTrust(trustID); err != nil {
			k.log.Warn("appkit: seal trust cookie", "err", err)
		} else {
			k.setTrustCookie(w, sealed)
		}
	}
	http.Redirect(w, r, SafeNext(p.Next, k.cfg.HomePath), http.StatusSeeOther)
}

// renderSecondStep executes the second-step template.
func (k *Kit) renderSecondStep(w http.ResponseWriter, status int, p SecondStepPage) {
	p.Action, p.LoginPath, p.TrustDays = k.cfg.SecondStepPath, k.cfg.LoginPath, TrustDays
	k.render(w, k.secondStepTmpl, status, &p)
}

// sealTrust seals a twoFactorTrustId for the trust cookie, with its own
// derived key and the cookie's name bound in.
func (k *Kit) sealTrust(id string) (string, error) {
	if len(id) > maxTrustID {
		return "", errors.New("twoFactorTrustId too long for a cookie")
	}
	return seal(k.trustAEAD[0], []byte(id), []byte(k.trustName))
}

// openTrust opens a trust cookie with the current or an old key; any
// failure yields "" (no trust: the IdP asks for the second factor).
func (k *Kit) openTrust(v string) string { return openAny(k.trustAEAD, v, 2048, k.trustName) }

// setTrustCookie sets the sealed trust cookie: HttpOnly, Secure unless in
// development mode, SameSite=Lax, persistent for 30 days. Logout keeps it
// (it trusts the browser, not a session); sign-out everywhere clears it.
func (k *Kit) setTrustCookie(w http.ResponseWriter, sealed string) {
	k.noStore(w.Header())
	http.SetCookie(w, &http.Cookie{
		Name: k.trustName, Value: sealed, Path: "/", MaxAge: int(DefaultTrustCookieMaxAge / time.Second),
		HttpOnly: true, Secure: !k.cfg.DevMode, SameSite: http.SameSiteLaxMode,
	})
}

// TrustCookieName returns the "trust this browser" cookie's name.
func (k *Kit) TrustCookieName() string { return k.trustName }

// SecondStepCookieName returns the second step's cookie's name.
func (k *Kit) SecondStepCookieName() string { return k.stepName }

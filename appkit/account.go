package appkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// The account pages (issue 11): sign-up, forgotten password, the reset and
// verification links the IdP mails, and the signed-in user's account page
// (email, verification, change password, change email). The app keeps its
// own forms; the kit calls the IdP's FusionAuth-compatible user API with
// the app's scoped API key (idpclient.APIKeyPermissions) and signs the
// browser in through the same path as the login form (signIn).
//
// Every page answers the same way whether an address has an account or
// not: sign-up of a taken address shows the same "check your email" page
// with the same status as a new one (the IdP mails the owner instead), and
// a forgotten-password request always shows the same page. GET of a link
// page (reset, verify) never changes anything: mail scanners fetch links,
// so the page shows a button that POSTs.

// MinPasswordLength is the Gatehouse IdP's default minimum password
// length in characters (IDP-HASH-4), shown on the forms. The IdP decides;
// a server with another policy answers with its own codes.
const MinPasswordLength = 15

// Messages of the account forms, next to the field they concern.
const (
	MsgEmailRequired           = "Enter your email address."
	MsgEmailInvalid            = "Enter an email address like name@example.com."
	MsgPasswordRequired        = "Enter a password."
	MsgPasswordTooShort        = "Use at least 15 characters. A few unrelated words make a good password."
	MsgPasswordTooLong         = "Use at most 1024 characters."
	MsgPasswordBreached        = "This password is too common or has appeared in a data breach. Choose another one."
	MsgPasswordContext         = "Don't use your email address or the name of this site in your password."
	MsgPasswordRejected        = "This password cannot be used. Choose another one."
	MsgCurrentPasswordRequired = "Enter your current password."
	MsgCurrentPasswordWrong    = "That is not your current password."
	MsgLinkInvalid             = "This link has expired or has already been used."
)

// maxAccountForm bounds every account form body; maxLinkID bounds a reset
// or verification id (the IdP's are 43 characters).
const (
	maxAccountForm = 16 << 10
	maxLinkID      = 128
)

// FieldErrors maps a form field's name ("email", "password",
// "current_password") to the message shown next to it.
type FieldErrors map[string]string

// FormPage is the data the sign-up, forgotten-password, reset-password and
// verify-email templates are executed with.
type FormPage struct {
	// Form names the page: "signup", "forgot-password", "reset-password"
	// or "verify-email".
	Form string
	// User is the signed-in user on the verify-email page (which runs
	// behind OptionalLogin), else nil.
	User *UserInfo
	// Action is the URL the form posts to.
	Action string
	// Email is the address typed before (sign-up, forgotten password) or
	// the account's (reset: for the password manager's hidden username).
	Email string
	// Next is the safe page to continue to after sign-up (field "next").
	Next string
	// ID is the link's id (reset, verify), posted back in hidden field "id".
	ID string
	// Done is true when the action happened: show the outcome, not the
	// form. For sign-up and forgotten password it reads the same whether
	// the address has an account or not ("check your email").
	Done bool
	// Invalid is true when the link is unknown, expired or used.
	Invalid bool
	// Error is a message about the whole form; Errors are per field.
	Error  string
	Errors FieldErrors
	// Links to the other pages.
	LoginPath, SignupPath, ForgotPasswordPath, AccountPath, HomePath string
	// MinPasswordLength is the policy's minimum, for the hint.
	MinPasswordLength int
}

// AccountPage is the data the account template is executed with.
type AccountPage struct {
	User *UserInfo
	// Email and Verified are the account's, read from the IdP when the kit
	// has an API key (else from the access token).
	Email    string
	Verified bool
	// Where the three forms post: fields current_password and password;
	// current_password and email; none.
	PasswordAction, EmailAction, ResendAction string
	SessionsPath                              string
	// Message reports the last action ("Your password was changed.").
	Message string
	// Form is the form ("password", "email" or "passkeys") that Error and Errors
	// belong to; NewEmail is the address typed into the email form.
	Form     string
	Error    string
	Errors   FieldErrors
	NewEmail string
	// MinPasswordLength is the policy's minimum, for the hint.
	MinPasswordLength int
	// Passkeys is the passkeys part (list, add, rename, remove); nil when
	// the kit offers no passkeys (Config.PublicOrigin empty).
	Passkeys *PasskeySection
	// SignedInWith says how this session signed in ("password and
	// authenticator app"; UserInfo.SignedInWith).
	SignedInWith string
	// TwoFactor is the authenticator app section; Form "two-factor" or
	// "two-factor-off" marks its forms' Error and Errors (field "code").
	TwoFactor TwoFactorView
}

// Mux is what AccountRoutes mounts on: *http.ServeMux and most routers.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// AccountRoutes mounts the account pages on mux at the Config paths:
// SignupPath, ForgotPasswordPath, ResetPasswordPath, VerifyEmailPath and
// AccountPath (GET) with its actions AccountPath+"/password",
// "/email" and "/verify-email" (POST). They need the kit's idpclient to
// have an API key with idpclient.APIKeyPermissions.
func (k *Kit) AccountRoutes(mux Mux) {
	mux.Handle(k.cfg.SignupPath, k.SignupHandler())
	mux.Handle(k.cfg.ForgotPasswordPath, k.ForgotPasswordHandler())
	mux.Handle(k.cfg.ResetPasswordPath, k.ResetPasswordHandler())
	mux.Handle(k.cfg.VerifyEmailPath, k.VerifyEmailHandler())
	mux.Handle(k.cfg.AccountPath, k.AccountHandler())
	mux.Handle(k.cfg.AccountPath+"/password", k.ChangePasswordHandler())
	mux.Handle(k.cfg.AccountPath+"/email", k.ChangeEmailHandler())
	mux.Handle(k.cfg.AccountPath+"/verify-email", k.ResendVerificationHandler())
	mux.Handle(k.cfg.SecondStepPath, k.SecondStepHandler())
	k.twoFactorRoutes(mux)
}

func (k *Kit) formPage(form, action string) FormPage {
	return FormPage{Form: form, Action: action, LoginPath: k.cfg.LoginPath, SignupPath: k.cfg.SignupPath,
		ForgotPasswordPath: k.cfg.ForgotPasswordPath, AccountPath: k.cfg.AccountPath, HomePath: k.cfg.HomePath,
		MinPasswordLength: MinPasswordLength}
}

// formMethods answers 405 to anything but GET, HEAD and POST; false means
// it did.
func formMethods(w http.ResponseWriter, r *http.Request, post bool) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPost:
		if post {
			return true
		}
	}
	if post {
		w.Header().Set("Allow", "GET, HEAD, POST")
	} else {
		w.Header().Set("Allow", "POST")
	}
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// parseForm reads a bounded form body; only the body counts (a password in
// the URL would end up in logs).
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxAccountForm)
	return r.ParseForm() == nil
}

// checkEmail returns the message for a malformed address, "" if it will do.
func checkEmail(email string) string {
	switch {
	case email == "":
		return MsgEmailRequired
	case len(email) > maxEmailLen || strings.ContainsAny(email, " \t\r\n<>") || strings.Count(email, "@") != 1 ||
		strings.HasPrefix(email, "@") || strings.HasSuffix(email, "@"):
		return MsgEmailInvalid
	}
	return ""
}

// checkNewPassword returns the message for a password the kit refuses
// before asking the IdP, "" if the IdP should decide.
func checkNewPassword(pw string) string {
	switch {
	case pw == "":
		return MsgPasswordRequired
	case len(pw) > maxPasswordLen:
		return MsgPasswordTooLong
	}
	return ""
}

// policyErrors maps the IdP's field-error codes to form messages:
// password codes ("[tooShort]user.password", "[breachedCommonPassword]
// password", "[contextSpecific]password") to field "password", email
// codes ("[invalid]email", "[blank]user.email") to "email". It returns
// nil when err carries none of them.
func policyErrors(err error) FieldErrors {
	var e *idpclient.Error
	if !errors.As(err, &e) {
		return nil
	}
	out := FieldErrors{}
	for _, code := range e.Fields {
		kind, field, ok := strings.Cut(strings.TrimPrefix(code, "["), "]")
		if !ok {
			continue
		}
		switch field {
		case "password", "user.password":
			msg := MsgPasswordRejected
			switch kind {
			case "tooShort":
				msg = MsgPasswordTooShort
			case "tooLong":
				msg = MsgPasswordTooLong
			case "breachedCommonPassword", "breached", "breachedExactMatch", "breachedSubAddressMatch", "breachedPasswordOnly":
				msg = MsgPasswordBreached
			case "contextSpecific":
				msg = MsgPasswordContext
			}
			if _, seen := out["password"]; !seen || kind == "tooShort" {
				out["password"] = msg
			}
		case "email", "user.email":
			if kind != "duplicate" {
				out["email"] = MsgEmailInvalid
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// idpFailure logs err and returns the status and message for a call that
// failed for a reason the user cannot fix in the form.
func (k *Kit) idpFailure(what string, err error) (int, string) {
	if errors.Is(err, idpclient.ErrThrottled) {
		k.log.Warn("appkit: "+what+" throttled by the identity server", "err", err)
		return http.StatusTooManyRequests, MsgThrottled
	}
	if errors.Is(err, idpclient.ErrNoAPIKey) {
		k.log.Error("appkit: "+what+" needs an IdP API key (idpclient.Config.APIKey with idpclient.APIKeyPermissions)", "err", err)
	} else {
		k.log.Error("appkit: "+what+" failed; identity server unavailable or misconfigured", "err", err)
	}
	return http.StatusServiceUnavailable, MsgUnavailable
}

// render executes t with data into a buffer first, so a template error is
// a clean 500 rather than half a page.
func (k *Kit) render(w http.ResponseWriter, t *template.Template, status int, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		k.log.Error("appkit: account template", "template", t.Name(), "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// SignupHandler serves the sign-up form (GET) and creates an account
// (POST: email, password, next; cross-origin checked, bounded form). The
// account is created and registered for this app through the IdP
// (idpclient.Register), which mails a verification link, and the browser
// is signed in exactly as by the login form (unless
// Config.DisableSignupSignIn). A taken address answers with the same page
// and status ("check your email") and signs nobody in: the IdP mails that
// address's owner instead. A password the policy refuses
// re-renders the form (400) with the reason next to the field; the IdP
// checks the password before the address, so that answer does not tell
// whether the address has an account.
func (k *Kit) SignupHandler() http.Handler {
	return k.publicForm(func(w http.ResponseWriter, r *http.Request) {
		page := k.formPage("signup", k.cfg.SignupPath)
		if r.Method != http.MethodPost {
			page.Next = SafeNext(r.URL.Query().Get("next"), "")
			k.render(w, k.signupTmpl, http.StatusOK, &page)
			return
		}
		if !parseForm(w, r) {
			page.Error = MsgEmailInvalid
			k.render(w, k.signupTmpl, http.StatusBadRequest, &page)
			return
		}
		email := strings.TrimSpace(r.PostForm.Get("email"))
		password := r.PostForm.Get("password")
		page.Next = SafeNext(r.PostForm.Get("next"), "")
		page.Email = email
		page.Errors = FieldErrors{}
		if msg := checkEmail(email); msg != "" {
			page.Errors["email"] = msg
		}
		if msg := checkNewPassword(password); msg != "" {
			page.Errors["password"] = msg
		}
		if len(page.Errors) > 0 {
			if len(email) > maxEmailLen {
				page.Email = ""
			}
			k.render(w, k.signupTmpl, http.StatusBadRequest, &page)
			return
		}
		ip := k.clientIP(r)
		_, err := k.idp.Register(r.Context(), email, password, ip)
		switch {
		case err == nil && k.cfg.DisableSignupSignIn:
		case err == nil:
			if f := k.signIn(w, r, email, password); f != nil {
				// The account exists; the user signs in later.
				k.log.Warn("appkit: sign-in after sign-up failed", "status", f.status)
			}
		case errors.Is(err, idpclient.ErrDuplicate) && policyErrors(err) == nil:
			// No enumeration: the same page as a new account.
			k.log.Info("appkit: sign-up with an address that has an account", "ip", ip)
		case (errors.Is(err, idpclient.ErrInvalidInput) || errors.Is(err, idpclient.ErrDuplicate)) && policyErrors(err) != nil:
			page.Errors = policyErrors(err)
			k.render(w, k.signupTmpl, http.StatusBadRequest, &page)
			return
		default:
			status, msg := k.idpFailure("sign-up", err)
			page.Error = msg
			k.render(w, k.signupTmpl, status, &page)
			return
		}
		page.Done, page.Errors = true, nil
		if page.Next == "" {
			page.Next = k.cfg.HomePath
		}
		k.render(w, k.signupTmpl, http.StatusOK, &page)
	})
}

// ForgotPasswordHandler serves the forgotten-password form (GET) and asks
// the IdP to mail a reset link (POST: email). The answer is the same page
// ("if an account uses that address, we sent a link") whether the address
// has an account or not; only a malformed address, throttling (429) and an
// unreachable IdP (503) answer differently.
func (k *Kit) ForgotPasswordHandler() http.Handler {
	return k.publicForm(func(w http.ResponseWriter, r *http.Request) {
		page := k.formPage("forgot-password", k.cfg.ForgotPasswordPath)
		if r.Method != http.MethodPost {
			k.render(w, k.forgotTmpl, http.StatusOK, &page)
			return
		}
		if !parseForm(w, r) {
			page.Errors = FieldErrors{"email": MsgEmailInvalid}
			k.render(w, k.forgotTmpl, http.StatusBadRequest, &page)
			return
		}
		email := strings.TrimSpace(r.PostForm.Get("email"))
		page.Email = email
		if msg := checkEmail(email); msg != "" {
			if len(email) > maxEmailLen {
				page.Email = ""
			}
			page.Errors = FieldErrors{"email": msg}
			k.render(w, k.forgotTmpl, http.StatusBadRequest, &page)
			return
		}
		err := k.idp.ForgotPassword(r.Context(), email, k.clientIP(r))
		switch {
		case err == nil, errors.Is(err, idpclient.ErrNotFound):
		case errors.Is(err, idpclient.ErrInvalidInput):
			page.Errors = FieldErrors{"email": MsgEmailInvalid}
			k.render(w, k.forgotTmpl, http.StatusBadRequest, &page)
			return
		default:
			status, msg := k.idpFailure("forgot password", err)
			page.Error = msg
			k.render(w, k.forgotTmpl, status, &page)
			return
		}
		page.Done = true
		k.render(w, k.forgotTmpl, http.StatusOK, &page)
	})
}

// linkID returns the id of a reset or verification link from the query
// (GET) or the form (POST), "" when missing or implausibly long.
func linkID(r *http.Request) string {
	id := r.URL.Query().Get("id")
	if r.Method == http.MethodPost {
		id = r.PostForm.Get("id")
	}
	if len(id) > maxLinkID {
		return ""
	}
	return id
}

// linkPage sets what every link page shares: no Referer carrying the id
// anywhere.
func linkPage(w http.ResponseWriter) {
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// ResetPasswordHandler serves the page a reset mail links to. GET ?id=
// checks the link (a read at the IdP, nothing used up) and shows the new-
// password form with the id in a hidden field; POST (id, password) sets
// the password (idpclient.ResetPassword: the IdP uses the id up and ends
// every session of the user in every app), ends the user's sessions in
// this app's store at once (the webhooks may come later), signs this
// browser in with the new password through the login path and answers 303
// to AccountPath (a user with an authenticator gets the second step,
// APP-MFA-5). An unknown, expired or used id answers 404 with
// MsgLinkInvalid; a password the policy refuses re-renders the form (400)
// and changes nothing.
func (k *Kit) ResetPasswordHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !k.guard(w, r) {
			return
		}
		k.noStore(w.Header())
		linkPage(w)
		if !formMethods(w, r, true) {
			return
		}
		page := k.formPage("reset-password", k.cfg.ResetPasswordPath)
		if r.Method == http.MethodPost && !parseForm(w, r) {
			page.Invalid = true
			k.render(w, k.resetTmpl, http.StatusBadRequest, &page)
			return
		}
		id := linkID(r)
		user, err := k.idp.UserByChangePasswordID(r.Context(), id)
		if err != nil {
			status, msg := http.StatusNotFound, ""
			if !errors.Is(err, idpclient.ErrNotFound) {
				status, msg = k.idpFailure("reset password", err)
			}
			page.Invalid, page.Error = msg == "", msg
			k.render(w, k.resetTmpl, status, &page)
			return
		}
		page.ID, page.Email = id, user.Email
		if r.Method != http.MethodPost {
			k.render(w, k.resetTmpl, http.StatusOK, &page)
			return
		}
		password := r.PostForm.Get("password")
		if msg := checkNewPassword(password); msg != "" {
			page.Errors = FieldErrors{"password": msg}
			k.render(w, k.resetTmpl, http.StatusBadRequest, &page)
			return
		}
		ip := k.clientIP(r)
		if err := k.idp.ResetPassword(r.Context(), id, password, ip); err != nil {
			switch {
			case errors.Is(err, idpclient.ErrNotFound):
				page.Invalid, page.ID = true, ""
				k.render(w, k.resetTmpl, http.StatusNotFound, &page)
			case errors.Is(err, idpclient.ErrInvalidInput):
				if page.Errors = policyErrors(err); page.Errors == nil {
					page.Errors = FieldErrors{"password": MsgPasswordRejected}
				}
				k.render(w, k.resetTmpl, http.StatusBadRequest, &page)
			default:
				status, msg := k.idpFailure("reset password", err)
				page.Error = msg
				k.render(w, k.resetTmpl, status, &page)
			}
			return
		}
		k.log.Info("appkit: password reset", "user", user.ID, "ip", ip)
		// The IdP revoked every refresh token; the sessions made from them
		// end here now rather than at the webhook or the next refresh.
		if _, err := k.EndUserSessions(context.WithoutCancel(r.Context()), user.ID); err != nil {
			k.log.Error("appkit: end sessions after password reset", "user", user.ID, "err", err)
		}
		target := k.cfg.AccountPath + "?done=reset"
		if f := k.signIn(w, r, user.Email, password); f != nil {
			if f.twoFactor != nil {
				// The second factor still guards the account (APP-MFA-5).
				k.startSecondStep(w, r, f.twoFactor, user.Email, target)
				return
			}
			k.log.Warn("appkit: sign-in after password reset failed", "status", f.status)
			target = k.cfg.LoginPath
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// VerifyEmailHandler serves the page a verification mail links to (a new
// account's, or an email change's confirmation). GET ?id= only shows a
// button; POST (id) verifies (idpclient.VerifyEmail) and shows the
// outcome: done, or 404 with MsgLinkInvalid. When the browser is signed
// in, its session's access token is marked expired, so the next request
// refreshes it through the kit's normal refresh path and the session
// carries the IdP's new email_verified and email claims (the kit never
// edits signed claims itself).
func (k *Kit) VerifyEmailHandler() http.Handler {
	return k.OptionalLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.noStore(w.Header())
		linkPage(w)
		if !formMethods(w, r, true) {
			return
		}
		page := k.formPage("verify-email", k.cfg.VerifyEmailPath)
		page.User = User(r.Context())
		if r.Method == http.MethodPost && !parseForm(w, r) {
			page.Invalid = true
			k.render(w, k.verifyTmpl, http.StatusBadRequest, &page)
			return
		}
		page.ID = linkID(r)
		if page.ID == "" {
			page.Invalid = true
			k.render(w, k.verifyTmpl, http.StatusNotFound, &page)
			return
		}
		if r.Method != http.MethodPost {
			k.render(w, k.verifyTmpl, http.StatusOK, &page)
			return
		}
		if err := k.idp.VerifyEmail(r.Context(), page.ID); err != nil {
			if errors.Is(err, idpclient.ErrNotFound) {
				page.Invalid, page.ID = true, ""
				k.render(w, k.verifyTmpl, http.StatusNotFound, &page)
				return
			}
			status, msg := k.idpFailure("verify email", err)
			page.Error = msg
			k.render(w, k.verifyTmpl, status, &page)
			return
		}
		k.revalidate(r.Context())
		page.Done, page.ID = true, ""
		k.render(w, k.verifyTmpl, http.StatusOK, &page)
	}))
}

// revalidate marks the current session's access token expired, so the
// next request re-validates it by a refresh (the AUD-9 path) and picks up
// the IdP's current claims.
func (k *Kit) revalidate(ctx context.Context) {
	s := Session(ctx)
	if s == nil {
		return
	}
	c := *s
	c.AccessTokenExpiry = k.now()
	if err := k.store.Put(context.WithoutCancel(ctx), &c); err != nil {
		k.log.Warn("appkit: mark session for re-validation", "err", err)
	}
}

// accountMessage is the AccountPage.Message of AccountPath?done=.
func accountMessage(done string) string {
	switch done {
	case "password":
		return "Your password was changed. Your other sessions were signed out."
	case "reset":
		return "Your password was reset and you are signed in. Every other session was signed out."
	case "email":
		return "We sent a confirmation link to the new address. Your email changes when you follow it."
	case "verification":
		return "We sent you a new verification link."
	case "passkey-added":
		return "Your passkey was added. You can sign in with it now."
	case "passkey-renamed":
		return "Your passkey was renamed."
	case "passkey-removed":
		return "Your passkey was removed. It can no longer sign in."
	case "two-factor-off":
		return MsgTwoFactorOff
	}
	return ""
}

// AccountHandler serves the account page (GET, behind RequireLogin): the
// account's email and whether it is verified, and the forms of
// ChangePasswordHandler, ChangeEmailHandler and
// ResendVerificationHandler.
func (k *Kit) AccountHandler() http.Handler {
	return k.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !formMethods(w, r, false) {
			return
		}
		page := k.accountPage(r)
		page.Message = accountMessage(r.URL.Query().Get("done"))
		k.render(w, k.accountTmpl, http.StatusOK, page)
	}))
}

// accountPage is the account page's data for r's user: email and
// verification from the IdP when the kit has an API key (fresh after an
// email change), else from the access token.
func (k *Kit) accountPage(r *http.Request) *AccountPage {
	u := User(r.Context())
	p := &AccountPage{User: u, Email: u.Email, Verified: u.EmailVerified,
		PasswordAction: k.cfg.AccountPath + "/password", EmailAction: k.cfg.AccountPath + "/email",
		ResendAction: k.cfg.AccountPath + "/verify-email", SessionsPath: k.cfg.SessionsPath,
		MinPasswordLength: MinPasswordLength, SignedInWith: u.SignedInWith()}
	p.TwoFactor = k.twoFactorView(r)
	if k.idp.HasAPIKey() {
		if a, err := k.idp.GetUser(r.Context(), u.ID); err == nil {
			p.Email, p.Verified = a.Email, a.Verified
		} else {
			k.log.Warn("appkit: read account", "user", u.ID, "err", err)
		}
	}
	p.Passkeys = k.passkeySection(r, u.ID)
	return p
}

// loginID is what the IdP knows the user by.
func loginID(u *UserInfo) string {
	if u.Email != "" {
		return u.Email
	}
	return u.PreferredUsername
}

// accountAction wraps a POST action of the account page: RequireLogin
// (which cross-origin checks it), POST only, a bounded form.
func (k *Kit) accountAction(h func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return k.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			formMethods(w, r, false)
			return
		}
		if !parseForm(w, r) {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		h(w, r)
	}))
}

// guardedChange is one account change the current password guards: the
// current password given, the new value's field, value and check (a
// message or ""), the names for log lines ("password change") and
// idpFailure ("change password"), the IdP call, and refused, which maps
// an IdP refusal of the value to field errors (nil when err is not one).
type guardedChange struct {
	current      string
	field, value string
	check        func(string) string
	what, op     string
	call         func(ip string) error
	refused      func(err error) FieldErrors
}

// currentPasswordChange is what the password and email changes share: the
// current password is required beside the new value's own check (400),
// then the IdP call, where a wrong current password is 403 on
// current_password (it counts as a failed login at the IdP), a refused
// value 400 and anything else the IdP failure message. fail renders the
// account page; ok is false when it has answered.
func (k *Kit) currentPasswordChange(r *http.Request, fail func(status int, errs FieldErrors, msg string), c guardedChange) (ip string, ok bool) {
	errs := FieldErrors{}
	if c.current == "" || len(c.current) > maxPasswordLen {
		errs["current_password"] = MsgCurrentPasswordRequired
	}
	if msg := c.check(c.value); msg != "" {
		errs[c.field] = msg
	}
	if len(errs) > 0 {
		fail(http.StatusBadRequest, errs, "")
		return "", false
	}
	ip = k.clientIP(r)
	err := c.call(ip)
	if err == nil {
		return ip, true
	}
	if errors.Is(err, idpclient.ErrInvalidCredentials) {
		k.log.Info("appkit: "+c.what+" refused: wrong current password", "user", User(r.Context()).ID, "ip", ip)
		fail(http.StatusForbidden, FieldErrors{"current_password": MsgCurrentPasswordWrong}, "")
	} else if errs := c.refused(err); errs != nil {
		fail(http.StatusBadRequest, errs, "")
	} else {
		status, msg := k.idpFailure(c.op, err)
		fail(status, nil, msg)
	}
	return "", false
}

// ChangePasswordHandler changes the signed-in user's password (POST
// current_password, password; APP-LIFE-4). Without the current password,
// or with a wrong one (403; it counts as a failed login at the IdP),
// nothing changes and the account page shows the error. On success the
// IdP has revoked every refresh token of the user: the user's other
// sessions in this app end at once, this browser is signed in again with
// the new password (a new session and refresh family, through the login
// path) and the answer is 303 to AccountPath?done=password; a user with
// an authenticator gets the second step instead (APP-MFA-5).
func (k *Kit) ChangePasswordHandler() http.Handler {
	return k.accountAction(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		u := User(ctx)
		current, password := r.PostForm.Get("current_password"), r.PostForm.Get("password")
		fail := func(status int, errs FieldErrors, msg string) {
			p := k.accountPage(r)
			p.Form, p.Errors, p.Error = "password", errs, msg
			k.render(w, k.accountTmpl, status, p)
		}
		ip, ok := k.currentPasswordChange(r, fail, guardedChange{
			current: current,
			field:   "password",
			value:   password,
			check:   checkNewPassword,
			what:    "password change",
			op:      "change password",
			call:    func(ip string) error { return k.idp.ChangePassword(ctx, loginID(u), current, password, ip) },
			refused: func(err error) FieldErrors {
				if !errors.Is(err, idpclient.ErrInvalidInput) {
					return nil
				}
				if errs := policyErrors(err); errs != nil {
					return errs
				}
				return FieldErrors{"password": MsgPasswordRejected}
			},
		})
		if !ok {
			return
		}
		k.log.Info("appkit: password changed", "user", u.ID, "ip", ip)
		if _, err := k.endOthersLocal(ctx); err != nil {
			k.log.Error("appkit: end other sessions after password change", "user", u.ID, "err", err)
		}
		target := k.cfg.AccountPath + "?done=password"
		if f := k.signIn(w, r, loginID(u), password); f != nil {
			k.endBrowserSession(context.WithoutCancel(ctx), r)
			k.clearCookies(w)
			if f.twoFactor != nil {
				// The IdP ended the trust of every browser: this one
				// passes the second step again (APP-MFA-5).
				k.startSecondStep(w, r, f.twoFactor, loginID(u), target)
				return
			}
			k.log.Warn("appkit: sign-in after password change failed", "status", f.status)
			target = k.cfg.LoginPath
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// endOthersLocal deletes every session of the current user in this app's
// store except the current one, without calling the IdP (whose tokens of
// them are already revoked).
func (k *Kit) endOthersLocal(ctx context.Context) (int, error) {
	cur := Session(ctx)
	if cur == nil {
		return 0, ErrNoSession
	}
	ctx = context.WithoutCancel(ctx)
	list, err := k.store.ListByUser(ctx, cur.UserID)
	if err != nil {
		return 0, fmt.Errorf("appkit: list sessions: %w", err)
	}
	n := 0
	for _, s := range list {
		if s.Key == cur.Key {
			continue
		}
		if err := k.store.Delete(ctx, s.Key); err != nil {
			return n, fmt.Errorf("appkit: delete session: %w", err)
		}
		n++
	}
	return n, nil
}

// ChangeEmailHandler asks to move the signed-in user's account to a new
// address (POST current_password, email). The IdP mails a confirmation
// link to the new address and changes nothing until it is followed (then
// the old address is told); a taken address answers the same. Without
// the current password or with a wrong one (403) nothing happens. Success
// is 303 to AccountPath?done=email.
func (k *Kit) ChangeEmailHandler() http.Handler {
	return k.accountAction(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		u := User(ctx)
		current, email := r.PostForm.Get("current_password"), strings.TrimSpace(r.PostForm.Get("email"))
		fail := func(status int, errs FieldErrors, msg string) {
			p := k.accountPage(r)
			p.Form, p.Errors, p.Error = "email", errs, msg
			if len(email) <= maxEmailLen {
				p.NewEmail = email
			}
			k.render(w, k.accountTmpl, status, p)
		}
		ip, ok := k.currentPasswordChange(r, fail, guardedChange{
			current: current,
			field:   "email",
			value:   email,
			check:   checkEmail,
			what:    "email change",
			op:      "change email",
			call: func(ip string) error {
				err := k.idp.ChangeEmail(ctx, loginID(u), current, email, ip)
				if errors.Is(err, idpclient.ErrDuplicate) {
					// An IdP that says the address is taken (FusionAuth
					// may) must not tell the user so: the answer is the
					// one a free address gets (APP-ACC-7, no enumeration).
					k.log.Info("appkit: email change to an address the identity server says is taken", "user", u.ID)
					return nil
				}
				return err
			},
			refused: func(err error) FieldErrors {
				if errors.Is(err, idpclient.ErrInvalidInput) {
					return FieldErrors{"email": MsgEmailInvalid}
				}
				return nil
			},
		})
		if !ok {
			return
		}
		k.log.Info("appkit: email change requested", "user", u.ID, "ip", ip)
		http.Redirect(w, r, k.cfg.AccountPath+"?done=email", http.StatusSeeOther)
	})
}

// ResendVerificationHandler asks the IdP to mail the signed-in user a new
// verification link (POST) and answers 303 to AccountPath?done=verification.
func (k *Kit) ResendVerificationHandler() http.Handler {
	return k.accountAction(func(w http.ResponseWriter, r *http.Request) {
		u := User(r.Context())
		if err := k.idp.ResendVerification(r.Context(), u.Email); err != nil && !errors.Is(err, idpclient.ErrNotFound) {
			status, msg := k.idpFailure("resend verification", err)
			p := k.accountPage(r)
			p.Error = msg
			k.render(w, k.accountTmpl, status, p)
			return
		}
		http.Redirect(w, r, k.cfg.AccountPath+"?done=verification", http.StatusSeeOther)
	})
}

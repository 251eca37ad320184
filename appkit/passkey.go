package appkit

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// Passkeys (issue 12): the app relays WebAuthn ceremonies between the
// browser and the IdP (idpclient's passkey calls, compat §17). The page's
// script (PasskeyScript) fetches options from the kit, runs
// navigator.credentials.create / get and posts the credential back; the
// kit completes the ceremony at the IdP naming Config.PublicOrigin, and a
// passkey login then takes exactly the password login's path to a session
// (startSession). Without the script the pages stay password-only.

// Messages of the passkey endpoints (JSON {"error": …}). Like the login
// form's, they do not say why a passkey was refused.
const (
	MsgPasskeyFailed   = "That passkey did not work. Try again, or sign in with your password."
	MsgPasskeyNotAdded = "The passkey was not added. Try again."
	MsgPasskeyName     = "Give the passkey a name of at most 100 characters."
	MsgPasskeyGone     = "That passkey no longer exists."
	MsgPasskeyTooMany  = "You have the most passkeys allowed. Remove one before adding another."
)

// Bounds of the passkey endpoints' bodies and names.
const (
	maxPasskeyJSON = 64 << 10
	maxPasskeyName = 100
)

//go:embed passkey.js
var passkeyScript []byte

// PasskeyScript returns the passkey script PasskeyRoutes serves at
// Config.PasskeyScriptPath: on a page with an element #passkey-login it
// offers "Sign in with a passkey" and passkey autofill, on one with
// #passkey-register "Add a passkey" (the elements' data-options,
// data-action and data-origin attributes say where to post). It runs
// under a CSP of script-src 'self' and connect-src 'self' and uses no
// inline code.
func PasskeyScript() []byte { return append([]byte(nil), passkeyScript...) }

// PasskeyForm is what a page needs to offer passkeys; nil when the kit
// has none (no Config.PublicOrigin).
type PasskeyForm struct {
	// Origin is Config.PublicOrigin: the script offers passkeys only on a
	// page at this origin and otherwise shows a link to it.
	Origin string
	// Script is Config.PasskeyScriptPath.
	Script string
	// OptionsAction and Action are where the script posts (JSON) for the
	// ceremony's options and with the credential.
	OptionsAction, Action string
}

// PasskeySection is the account page's passkeys part (AccountPage.Passkeys).
type PasskeySection struct {
	PasskeyForm
	// List is the user's passkeys, oldest first.
	List []idpclient.Passkey
	// RenameAction (fields id, name) and RemoveAction (field id) are the
	// POST forms of each listed passkey.
	RenameAction, RemoveAction string
	// Unavailable is true when the list could not be read.
	Unavailable bool
	// NeedsConfirmedEmail is true when the user's address is not confirmed:
	// the IdP registers no passkey for such an account (ACC-13), so the
	// page offers no "Add a passkey".
	NeedsConfirmedEmail bool
}

// publicOrigin checks and normalises Config.PublicOrigin.
func publicOrigin(s string, dev bool) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") ||
		(u.Scheme != "https" && !(u.Scheme == "http" && dev)) {
		return "", fmt.Errorf("appkit: PublicOrigin %q must be https://host[:port] (http only in DevMode)", s)
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// passkeysOn reports whether the kit offers passkeys.
func (k *Kit) passkeysOn() bool { return k.cfg.PublicOrigin != "" }

// PasskeyLoginForm is LoginPage.Passkey, for an app that renders the
// login template itself; nil when the kit offers no passkeys.
func (k *Kit) PasskeyLoginForm() *PasskeyForm {
	if !k.passkeysOn() {
		return nil
	}
	return &PasskeyForm{Origin: k.cfg.PublicOrigin, Script: k.cfg.PasskeyScriptPath,
		OptionsAction: k.cfg.LoginPath + "/passkey/options", Action: k.cfg.LoginPath + "/passkey"}
}

// PasskeyRoutes mounts the passkey endpoints on mux when
// Config.PublicOrigin is set (else nothing):
//   - GET PasskeyScriptPath: the script (PasskeyScript);
//   - POST LoginPath+"/passkey/options": the IdP's request options of a
//     discoverable login (JSON);
//   - POST LoginPath+"/passkey" ({"credential": toJSON(), "next"}): signs
//     in exactly like the login form and answers {"redirect": safe next};
//   - behind RequireLogin, for the signed-in user: POST
//     AccountPath+"/passkeys/options" ({"name"}) answers creation options,
//     POST AccountPath+"/passkeys" ({"credential"}) adds the passkey,
//     POST AccountPath+"/passkeys/rename" (form: id, name) and
//     "/passkeys/remove" (form: id) answer 303 to the account page.
//
// Every POST is cross-origin checked; the JSON ones take only
// Content-Type application/json and at most 64 KiB, and answer errors as
// {"error": message} with a generic message. The kit's idpclient needs an
// API key with idpclient.APIKeyPermissions.
func (k *Kit) PasskeyRoutes(mux Mux) {
	if !k.passkeysOn() {
		return
	}
	mux.Handle("GET "+k.cfg.PasskeyScriptPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(passkeyScript)
	}))
	mux.Handle(k.cfg.LoginPath+"/passkey/options", k.passkeyJSON(false, k.passkeyLoginOptions))
	mux.Handle(k.cfg.LoginPath+"/passkey", k.passkeyJSON(false, k.passkeyLogin))
	mux.Handle(k.cfg.AccountPath+"/passkeys/options", k.passkeyJSON(true, k.passkeyRegisterOptions))
	mux.Handle(k.cfg.AccountPath+"/passkeys", k.passkeyJSON(true, k.passkeyRegister))
	mux.Handle(k.cfg.AccountPath+"/passkeys/rename", k.accountAction(k.passkeyRename))
	mux.Handle(k.cfg.AccountPath+"/passkeys/remove", k.accountAction(k.passkeyRemove))
}

// passkeyIn is the JSON the script posts.
type passkeyIn struct {
	Credential json.RawMessage `json:"credential"`
	Next       string          `json:"next"`
	Name       string          `json:"name"`
}

// passkeyJSON wraps a JSON endpoint: the kit's guard (cross-origin
// check; behind RequireLogin when login is true), POST with
// application/json only, a bounded body, no-store.
func (k *Kit) passkeyJSON(login bool, h func(w http.ResponseWriter, r *http.Request, in *passkeyIn)) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.noStore(w.Header())
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			jsonError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		// JSON only: a cross-site form cannot send it without a CORS
		// preflight, a second layer under the cross-origin check.
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			jsonError(w, http.StatusUnsupportedMediaType, "JSON expected")
			return
		}
		var in passkeyIn
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPasskeyJSON))
		if err := dec.Decode(&in); err != nil {
			jsonError(w, http.StatusBadRequest, MsgPasskeyFailed)
			return
		}
		h(w, r, &in)
	})
	if login {
		return k.RequireLogin(inner)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k.guard(w, r) {
			inner.ServeHTTP(w, r)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// writeRawJSON answers 200 with JSON the IdP made (ceremony options).
func writeRawJSON(w http.ResponseWriter, raw []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}

// passkeyAnswered answers a failed passkey call as {"error"} with
// passkeyFailure's status and message; false means it did (err != nil).
func (k *Kit) passkeyAnswered(w http.ResponseWriter, what string, err error, generic string) bool {
	if err == nil {
		return true
	}
	status, msg := k.passkeyFailure(what, err, generic)
	jsonError(w, status, msg)
	return false
}

// passkeyFailure maps a failed passkey call to a status and message.
func (k *Kit) passkeyFailure(what string, err error, generic string) (int, string) {
	var e *idpclient.Error
	if errors.As(err, &e) && e.Code == "[TooManyPasskeys]" {
		k.log.Info("appkit: "+what+" refused: too many passkeys", "err", err)
		return http.StatusConflict, MsgPasskeyTooMany
	}
	switch {
	case errors.Is(err, idpclient.ErrPasskeyRejected), errors.Is(err, idpclient.ErrPasskeyExpired),
		errors.Is(err, idpclient.ErrPasskeyNotFound), errors.Is(err, idpclient.ErrRejected):
		k.log.Info("appkit: "+what+" refused", "err", err)
		return http.StatusBadRequest, generic
	case errors.Is(err, idpclient.ErrLocked):
		k.log.Info("appkit: "+what+" refused, account locked", "err", err)
		return http.StatusForbidden, MsgLocked
	}
	return k.idpFailure(what, err)
}

// isObject reports whether raw is a JSON object.
func isObject(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return len(s) > 1 && s[0] == '{'
}

func (k *Kit) passkeyLoginOptions(w http.ResponseWriter, r *http.Request, _ *passkeyIn) {
	// Discoverable only: naming an account here would tell who has
	// passkeys.
	opts, err := k.idp.StartPasskeyLogin(r.Context(), "", k.clientIP(r))
	if !k.passkeyAnswered(w, "passkey login start", err, MsgPasskeyFailed) {
		return
	}
	writeRawJSON(w, opts)
}

func (k *Kit) passkeyLogin(w http.ResponseWriter, r *http.Request, in *passkeyIn) {
	if !isObject(in.Credential) {
		jsonError(w, http.StatusBadRequest, MsgPasskeyFailed)
		return
	}
	ip := k.clientIP(r)
	tok, err := k.idp.PasskeyLogin(r.Context(), in.Credential, k.cfg.PublicOrigin, ip)
	if !k.passkeyAnswered(w, "passkey login", err, MsgPasskeyFailed) {
		return
	}
	if f := k.startSession(w, r, tok, ip); f != nil {
		jsonError(w, f.status, f.msg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": SafeNext(in.Next, k.cfg.HomePath)})
}

// passkeyName checks a passkey's name: trimmed, 1–100 characters.
func passkeyName(s string) (string, bool) {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	return s, n > 0 && n <= maxPasskeyName && utf8.ValidString(s)
}

func (k *Kit) passkeyRegisterOptions(w http.ResponseWriter, r *http.Request, in *passkeyIn) {
	name := "Passkey"
	if strings.TrimSpace(in.Name) != "" {
		var ok bool
		if name, ok = passkeyName(in.Name); !ok {
			jsonError(w, http.StatusBadRequest, MsgPasskeyName)
			return
		}
	}
	opts, err := k.idp.StartPasskeyRegistration(r.Context(), User(r.Context()).ID, name, k.clientIP(r))
	if !k.passkeyAnswered(w, "passkey registration start", err, MsgPasskeyNotAdded) {
		return
	}
	writeRawJSON(w, opts)
}

func (k *Kit) passkeyRegister(w http.ResponseWriter, r *http.Request, in *passkeyIn) {
	if !isObject(in.Credential) {
		jsonError(w, http.StatusBadRequest, MsgPasskeyNotAdded)
		return
	}
	u := User(r.Context())
	err := k.idp.CompletePasskeyRegistration(r.Context(), u.ID, in.Credential, k.cfg.PublicOrigin)
	if !k.passkeyAnswered(w, "passkey registration", err, MsgPasskeyNotAdded) {
		return
	}
	k.log.Info("appkit: passkey added", "user", u.ID, "ip", k.clientIP(r))
	writeJSON(w, http.StatusOK, map[string]string{"redirect": k.cfg.AccountPath + "?done=passkey-added"})
}

// passkeyFail re-renders the account page with msg.
func (k *Kit) passkeyFail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p := k.accountPage(r)
	p.Form, p.Error = "passkeys", msg
	k.render(w, k.accountTmpl, status, p)
}

func (k *Kit) passkeyRename(w http.ResponseWriter, r *http.Request) {
	u := User(r.Context())
	id := r.PostForm.Get("id")
	name, ok := passkeyName(r.PostForm.Get("name"))
	if !ok {
		k.passkeyFail(w, r, http.StatusBadRequest, MsgPasskeyName)
		return
	}
	if id == "" || len(id) > maxLinkID {
		k.passkeyFail(w, r, http.StatusNotFound, MsgPasskeyGone)
		return
	}
	if err := k.idp.RenamePasskey(r.Context(), u.ID, id, name); err != nil {
		switch {
		case errors.Is(err, idpclient.ErrPasskeyNotFound):
			k.passkeyFail(w, r, http.StatusNotFound, MsgPasskeyGone)
		case errors.Is(err, idpclient.ErrPasskeyRejected):
			k.passkeyFail(w, r, http.StatusBadRequest, MsgPasskeyName)
		default:
			status, msg := k.idpFailure("rename passkey", err)
			k.passkeyFail(w, r, status, msg)
		}
		return
	}
	http.Redirect(w, r, k.cfg.AccountPath+"?done=passkey-renamed", http.StatusSeeOther)
}

func (k *Kit) passkeyRemove(w http.ResponseWriter, r *http.Request) {
	u := User(r.Context())
	id := r.PostForm.Get("id")
	if id == "" || len(id) > maxLinkID {
		k.passkeyFail(w, r, http.StatusNotFound, MsgPasskeyGone)
		return
	}
	if err := k.idp.DeletePasskey(r.Context(), u.ID, id); err != nil {
		if errors.Is(err, idpclient.ErrPasskeyNotFound) {
			k.passkeyFail(w, r, http.StatusNotFound, MsgPasskeyGone)
			return
		}
		status, msg := k.idpFailure("remove passkey", err)
		k.passkeyFail(w, r, status, msg)
		return
	}
	k.log.Info("appkit: passkey removed", "user", u.ID, "ip", k.clientIP(r))
	http.Redirect(w, r, k.cfg.AccountPath+"?done=passkey-removed", http.StatusSeeOther)
}

// passkeySection is the account page's passkeys part for the user.
func (k *Kit) passkeySection(r *http.Request, userID string) *PasskeySection {
	f := k.PasskeyLoginForm()
	if f == nil {
		return nil
	}
	s := &PasskeySection{PasskeyForm: *f, RenameAction: k.cfg.AccountPath + "/passkeys/rename",
		RemoveAction: k.cfg.AccountPath + "/passkeys/remove"}
	s.OptionsAction, s.Action = k.cfg.AccountPath+"/passkeys/options", k.cfg.AccountPath+"/passkeys"
	list, err := k.idp.ListPasskeys(r.Context(), userID)
	if err != nil {
		k.log.Warn("appkit: list passkeys", "user", userID, "err", err)
		s.Unavailable = true
	}
	s.List = list
	if u := User(r.Context()); u != nil && !u.EmailVerified {
		s.NeedsConfirmedEmail = true
	}
	return s
}

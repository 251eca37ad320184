package appkit

import "html/template"

// The built-in account pages: minimal, unstyled and script-free. Apps
// normally supply their own through Config (SignupTemplate, …) with the
// same fields; errors are tied to their inputs with aria-describedby.

// DefaultSignupTemplate returns the built-in sign-up page (a *FormPage).
func DefaultSignupTemplate() *template.Template {
	return template.Must(template.New("signup").Parse(head("Create an account") + `
<h1>Create an account</h1>
{{if .Done}}<p role="status">Check your email: we sent a message to {{.Email}}. Follow its link to confirm the address.</p>
<p><a href="{{.Next}}">Continue</a></p>
{{else}}{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<label for="email">Email</label> <input id="email" type="email" name="email" value="{{.Email}}" autocomplete="email" required{{with .Errors.email}} aria-invalid="true" aria-describedby="email-error"{{end}}>
{{with .Errors.email}}<p id="email-error">{{.}}</p>{{end}}
<label for="password">Password</label> <input id="password" type="password" name="password" autocomplete="new-password" minlength="{{.MinPasswordLength}}" required aria-describedby="password-hint{{with .Errors.password}} password-error{{end}}"{{with .Errors.password}} aria-invalid="true"{{end}}>
<p id="password-hint">At least {{.MinPasswordLength}} characters; common or breached passwords and your email address are refused.</p>
{{with .Errors.password}}<p id="password-error">{{.}}</p>{{end}}
<input type="hidden" name="next" value="{{.Next}}">
<button type="submit">Create account</button>
</form>
<p>Already have an account? <a href="{{.LoginPath}}">Sign in</a></p>{{end}}
` + foot))
}

// DefaultForgotPasswordTemplate returns the built-in forgotten-password
// page (a *FormPage).
func DefaultForgotPasswordTemplate() *template.Template {
	return template.Must(template.New("forgot-password").Parse(head("Forgot your password?") + `
<h1>Forgot your password?</h1>
{{if .Done}}<p role="status">If an account uses {{.Email}}, we sent it a link to choose a new password. The link works for 15 minutes.</p>
<p><a href="{{.LoginPath}}">Back to sign in</a></p>
{{else}}{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<label for="email">Email</label> <input id="email" type="email" name="email" value="{{.Email}}" autocomplete="email" required{{with .Errors.email}} aria-invalid="true" aria-describedby="email-error"{{end}}>
{{with .Errors.email}}<p id="email-error">{{.}}</p>{{end}}
<button type="submit">Send me a link</button>
</form>{{end}}
` + foot))
}

// DefaultResetPasswordTemplate returns the built-in reset-password page
// (a *FormPage).
func DefaultResetPasswordTemplate() *template.Template {
	return template.Must(template.New("reset-password").Parse(head("Choose a new password") + `
<h1>Choose a new password</h1>
{{if .Invalid}}<p role="alert">This link has expired or has already been used.</p>
<p><a href="{{.ForgotPasswordPath}}">Ask for a new link</a></p>
{{else if .Error}}<p role="alert">{{.Error}}</p>
{{else}}<form method="post" action="{{.Action}}">
<input type="hidden" name="id" value="{{.ID}}">
<input type="email" name="username" value="{{.Email}}" autocomplete="username" hidden>
<label for="password">New password</label> <input id="password" type="password" name="password" autocomplete="new-password" minlength="{{.MinPasswordLength}}" required aria-describedby="password-hint{{with .Errors.password}} password-error{{end}}"{{with .Errors.password}} aria-invalid="true"{{end}}>
<p id="password-hint">At least {{.MinPasswordLength}} characters; common or breached passwords and your email address are refused.</p>
{{with .Errors.password}}<p id="password-error">{{.}}</p>{{end}}
<button type="submit">Set password and sign in</button>
</form>{{end}}
` + foot))
}

// DefaultVerifyEmailTemplate returns the built-in verify-email page (a
// *FormPage).
func DefaultVerifyEmailTemplate() *template.Template {
	return template.Must(template.New("verify-email").Parse(head("Confirm your email address") + `
<h1>Confirm your email address</h1>
{{if .Invalid}}<p role="alert">This link has expired or has already been used.</p>
{{else if .Done}}<p role="status">Your email address is confirmed.</p>
<p><a href="{{.HomePath}}">Continue</a></p>
{{else}}{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="id" value="{{.ID}}">
<button type="submit">Confirm my email address</button>
</form>{{end}}
` + foot))
}

// DefaultAccountTemplate returns the built-in account page (an
// *AccountPage).
func DefaultAccountTemplate() *template.Template {
	return template.Must(template.New("account").Parse(head("Your account") + `
<h1>Your account</h1>
{{if .Message}}<p role="status">{{.Message}}</p>{{end}}
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<p>Email: {{.Email}} ({{if .Verified}}confirmed{{else}}not confirmed{{end}})</p>
{{if not .Verified}}<form method="post" action="{{.ResendAction}}"><button type="submit">Send a new confirmation link</button></form>{{end}}
<h2>Change password</h2>
<form method="post" action="{{.PasswordAction}}">
<input type="email" name="username" value="{{.Email}}" autocomplete="username" hidden>
<label for="pw-current">Current password</label> <input id="pw-current" type="password" name="current_password" autocomplete="current-password" required{{if eq .Form "password"}}{{with .Errors.current_password}} aria-invalid="true" aria-describedby="pw-current-error"{{end}}{{end}}>
{{if eq .Form "password"}}{{with .Errors.current_password}}<p id="pw-current-error">{{.}}</p>{{end}}{{end}}
<label for="pw-new">New password</label> <input id="pw-new" type="password" name="password" autocomplete="new-password" minlength="{{.MinPasswordLength}}" required aria-describedby="pw-new-hint{{if eq .Form "password"}}{{with .Errors.password}} pw-new-error{{end}}{{end}}">
<p id="pw-new-hint">At least {{.MinPasswordLength}} characters.</p>
{{if eq .Form "password"}}{{with .Errors.password}}<p id="pw-new-error">{{.}}</p>{{end}}{{end}}
<button type="submit">Change password</button>
</form>
<h2>Change email</h2>
<form method="post" action="{{.EmailAction}}">
<label for="em-new">New email</label> <input id="em-new" type="email" name="email" value="{{.NewEmail}}" autocomplete="email" required{{if eq .Form "email"}}{{with .Errors.email}} aria-invalid="true" aria-describedby="em-new-error"{{end}}{{end}}>
{{if eq .Form "email"}}{{with .Errors.email}}<p id="em-new-error">{{.}}</p>{{end}}{{end}}
<label for="em-current">Current password</label> <input id="em-current" type="password" name="current_password" autocomplete="current-password" required{{if eq .Form "email"}}{{with .Errors.current_password}} aria-invalid="true" aria-describedby="em-current-error"{{end}}{{end}}>
{{if eq .Form "email"}}{{with .Errors.current_password}}<p id="em-current-error">{{.}}</p>{{end}}{{end}}
<button type="submit">Change email</button>
</form>
{{with .Passkeys}}<h2>Passkeys</h2>
{{if .Unavailable}}<p>Your passkeys cannot be listed right now.</p>{{end}}
<ul>{{range .List}}<li>{{.Name}} (added {{.CreatedAt.UTC.Format "2006-01-02"}}, last used {{.LastUsedAt.UTC.Format "2006-01-02"}})
<form method="post" action="{{$.Passkeys.RenameAction}}"><input type="hidden" name="id" value="{{.ID}}"><label>New name <input name="name" value="{{.Name}}" maxlength="100" required></label> <button type="submit">Rename</button></form>
<form method="post" action="{{$.Passkeys.RemoveAction}}"><input type="hidden" name="id" value="{{.ID}}"><button type="submit">Remove</button></form></li>
{{else}}<li>No passkeys yet.</li>{{end}}</ul>
{{if .NeedsConfirmedEmail}}<p>Confirm your email address to add a passkey.</p>{{else}}<div id="passkey-register" data-options="{{.OptionsAction}}" data-action="{{.Action}}" data-origin="{{.Origin}}" hidden>
<label for="passkey-name">Name</label> <input id="passkey-name" name="name" maxlength="100" placeholder="Laptop">
<button type="button">Add a passkey</button>
<p id="passkey-error" role="alert" hidden></p>
</div>{{end}}
<p id="passkey-elsewhere" hidden>Passkeys work at <a href="{{.Origin}}">{{.Origin}}</a>.</p>
<script src="{{.Script}}" defer></script>{{end}}
<h2 id="two-factor">Authenticator app</h2>
{{with .SignedInWith}}<p id="signed-in-with">Signed in with {{.}}.</p>{{end}}
{{with .TwoFactor}}{{if .RecoveryCodes}}<p>Your recovery codes (each works once; you will not see them again):</p>
<ul id="recovery-codes">{{range .RecoveryCodes}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
{{if .Enabled}}<p>On. <span id="recovery-left">{{.RecoveryCodesLeft}}</span> recovery codes left.</p>
<form method="post" action="{{.RecoveryCodesAction}}"><button type="submit">Make new recovery codes</button></form>
<form method="post" action="{{.DisableAction}}">
<label for="tf-off-code">Code or recovery code</label> <input id="tf-off-code" name="code" autocomplete="one-time-code"{{if eq $.Form "two-factor-off"}}{{with $.Errors.code}} aria-invalid="true" aria-describedby="tf-off-error"{{end}}{{end}}>
{{if eq $.Form "two-factor-off"}}{{with $.Errors.code}}<p id="tf-off-error">{{.}}</p>{{end}}{{end}}
<label for="tf-off-pw">or your current password</label> <input id="tf-off-pw" type="password" name="current_password" autocomplete="current-password"{{if eq $.Form "two-factor-off"}}{{with $.Errors.current_password}} aria-invalid="true" aria-describedby="tf-off-pw-error"{{end}}{{end}}>
{{if eq $.Form "two-factor-off"}}{{with $.Errors.current_password}}<p id="tf-off-pw-error">{{.}}</p>{{end}}{{end}}
<button type="submit">Turn off</button>
</form>
{{else if .Setup}}<p>Scan this QR code with your authenticator app, or type the key.</p>
{{.Setup.QR}}
<p>Key: <code id="totp-secret">{{.Setup.Secret}}</code></p>
<form method="post" action="{{.EnableAction}}">
<label for="tf-code">Code from the app</label> <input id="tf-code" name="code" inputmode="numeric" autocomplete="one-time-code" required{{if eq $.Form "two-factor"}}{{with $.Errors.code}} aria-invalid="true" aria-describedby="tf-error"{{end}}{{end}}>
{{if eq $.Form "two-factor"}}{{with $.Errors.code}}<p id="tf-error">{{.}}</p>{{end}}{{end}}
<button type="submit">Turn on</button>
</form>
{{else if .NeedsConfirmedEmail}}<p>Confirm your email address to set up an authenticator app.</p>
{{else if .Available}}<p>Off.</p>
<form method="post" action="{{.SetupAction}}"><button type="submit">Set up an authenticator app</button></form>{{end}}{{end}}
<p><a href="{{.SessionsPath}}">Your sessions</a></p>
` + foot))
}

func head(title string) string {
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>` + title + `</title></head>
<body><main>`
}

const foot = `</main></body></html>
`

// Package mail sends the identity server's mail: account verification,
// password reset, notices of a changed password or email. It renders each
// message from a template (a text and an HTML part; the built-in ones can
// be replaced by an operator's directory) and delivers it over SMTP with
// retries in the background, so a slow or broken mail server never holds
// up the request that caused the mail.
//
// It owns templates, SMTP settings and delivery; it does not own which
// mail a flow sends or the links in it (package idp decides both).
package mail

// Template names: the mails the IdP sends. Each is a pair of files
// NAME.txt and NAME.html (the subject is the text part's first line,
// "Subject: …").
const (
	TemplateVerifyEmail       = "verify-email"        // Link verifies the new account's address
	TemplateSignupExisting    = "signup-existing"     // someone tried to sign up with this address
	TemplatePasswordReset     = "password-reset"      // Link opens the app's reset page
	TemplatePasswordChanged   = "password-changed"    // notice: the password was changed
	TemplateEmailChangeVerify = "email-change-verify" // to NewEmail; Link confirms the change
	TemplateEmailChanged      = "email-changed"       // notice to the old address
)

// Message is one mail to send.
type Message struct {
	// To is the recipient address.
	To string
	// Template is one of the Template* names.
	Template string
	// Data is what the template is executed with.
	Data Data
}

// Data is what every template sees.
type Data struct {
	// AppName is the application the flow started in ("Gatehouse Store").
	AppName string
	// Email is the account's current address.
	Email string
	// NewEmail is the requested address of an email change.
	NewEmail string
	// Link is the action link (verify, reset, confirm); empty for notices.
	Link string
	// ValidFor says how long Link works, in words ("15 minutes").
	ValidFor string
}

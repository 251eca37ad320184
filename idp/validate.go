package idp

import (
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Admin input rules (AUD-15). Every refusal is a ValidationError, which the
// admin API answers as a FusionAuth field error.
//
//   - Emails: one bare address as net/mail parses it (no display name, no
//     angle brackets, no comments), at most 254 bytes, and none of
//     < > " ' ( ) [ ] \ , ; : whitespace or control characters, so an
//     address can never carry markup or a second recipient.
//   - Names (first, last, full, username, application name): valid UTF-8,
//     at most 255 characters, no control or invisible format characters
//     (newlines, bidi overrides) and no < or >. Apps escape what they
//     render, but names also travel in tokens to apps we do not know, so
//     markup is refused at the source. Usernames also have no whitespace.
//   - Client secrets and API keys chosen by the caller: at least
//     minSecretLength characters.
//   - Webhook URLs: absolute http or https URLs with a host. Link-local
//     addresses (169.254.0.0/16, fe80::/10, which hold the cloud metadata
//     services), other metadata addresses (100.100.100.200, fd00:ec2::254,
//     metadata.google.internal), unspecified and multicast addresses, and
//     numeric host names that are not plain IP literals (2852039166,
//     0xa9fea9fe) are refused unless the application sets
//     webhookAllowLinkLocal. Loopback and private addresses are allowed:
//     apps often run on the IdP's host or network (the demo does).

const maxNameLength = 255

func validateEmail(field, email string) error {
	bad := func() error { return invalid(field, "notEmail", "The email address is invalid.") }
	if len(email) > 254 || strings.ContainsAny(email, "<>\"'()[]\\,;: \t") || strings.Count(email, "@") != 1 {
		return bad()
	}
	for _, r := range email {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			return bad()
		}
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return bad()
	}
	return nil
}

func validateName(field, v string, username bool) error {
	if v == "" {
		return nil
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxNameLength {
		return invalid(field, "invalid", fmt.Sprintf("%s must be valid text of at most %d characters.", field, maxNameLength))
	}
	for _, r := range v {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return invalid(field, "invalid", field+" must not contain control or invisible characters.")
		case r == '<' || r == '>':
			return invalid(field, "invalid", field+" must not contain < or >.")
		case username && unicode.IsSpace(r):
			return invalid(field, "invalid", field+" must not contain spaces.")
		}
	}
	return nil
}

// validateProfile checks the identity and name fields a caller set (empty
// ones are absent); field names are relative to the user object.
func validateProfile(email, username, first, last, full string) error {
	if email != "" {
		if err := validateEmail("email", email); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		field, v string
		user     bool
	}{{"username", username, true}, {"firstName", first, false}, {"lastName", last, false}, {"fullName", full, false}} {
		if err := validateName(f.field, f.v, f.user); err != nil {
			return err
		}
	}
	return nil
}

// metadataHosts are cloud metadata services reached by name.
func isMetadataHost(h string) bool {
	switch strings.TrimSuffix(strings.ToLower(h), ".") {
	case "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal":
		return true
	}
	return false
}

// internalAddr reports whether an IP is link-local, a cloud metadata
// address, unspecified or multicast: never a webhook receiver without the
// opt-in.
func internalAddr(a netip.Addr) bool {
	a = a.Unmap()
	switch {
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(), a.IsUnspecified(), a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return true
	case a == netip.MustParseAddr("100.100.100.200"), a == netip.MustParseAddr("fd00:ec2::254"):
		return true
	}
	return false
}

// numericHost reports a host name whose last label is numeric or hex
// (2852039166, 0xa9fea9fe, 0251.0376.0251.0376): some resolvers read it as
// an IP address, so it could hide a link-local one. No real DNS name ends
// in a numeric label.
func numericHost(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if i := strings.LastIndexByte(h, '.'); i >= 0 {
		h = h[i+1:]
	}
	if h == "" {
		return false
	}
	if strings.HasPrefix(strings.ToLower(h), "0x") {
		return true
	}
	return strings.Trim(h, "0123456789") == ""
}

func validateWebhookURL(field, raw string, allowLinkLocal bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return invalid(field, "invalid", "A webhook URL must be an absolute http or https URL.")
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return invalid(field, "invalid", "A webhook URL must use http or https.")
	}
	host := u.Hostname()
	if host == "" {
		return invalid(field, "invalid", "A webhook URL needs a host.")
	}
	if allowLinkLocal {
		return nil
	}
	internal := isMetadataHost(host)
	if a, err := netip.ParseAddr(host); err == nil {
		internal = internal || internalAddr(a.WithZone(""))
	} else if numericHost(host) {
		internal = true
	}
	if internal {
		return invalid(field, "linkLocal", "Webhook URLs may not point at link-local, metadata, unspecified or multicast addresses (set webhookAllowLinkLocal to allow).")
	}
	return nil
}

// validateBaseURL checks an application's BaseURL, the prefix of the
// links in its users' mails (compat §18): an absolute https URL (http only
// on a loopback host, for development), without user info, query or
// fragment, so a link built from it points where the operator meant.
func validateBaseURL(field, raw string) error {
	bad := func(msg string) error { return invalid(field, "invalid", msg) }
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return bad("baseURL must be an absolute http(s) URL.")
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, " \t\r\n<>\"") {
		return bad("baseURL must not carry user info, a query or a fragment.")
	}
	switch u.Scheme {
	case "https":
	case "http":
		h := u.Hostname()
		if a, err := netip.ParseAddr(h); (err != nil || !a.IsLoopback()) && h != "localhost" {
			return bad("baseURL must use https (http only on a loopback host).")
		}
	default:
		return bad("baseURL must be an absolute http(s) URL.")
	}
	return nil
}

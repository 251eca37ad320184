package idp

import (
	"strings"
	"testing"
)

// AUD-15: an email address may have 254 bytes (RFC 5321's path limit),
// not 255.
func TestAUD15_EmailLengthBoundary(t *testing.T) {
	const domain = "@example.com"
	if err := validateEmail("email", strings.Repeat("a", 254-len(domain))+domain); err != nil {
		t.Errorf("254-byte address refused: %v", err)
	}
	if err := validateEmail("email", strings.Repeat("a", 255-len(domain))+domain); err == nil {
		t.Error("255-byte address accepted")
	}
}

// AUD-15: names may have 255 characters, not 256.
func TestAUD15_NameLengthBoundary(t *testing.T) {
	if err := validateName("firstName", strings.Repeat("é", 255), false); err != nil {
		t.Errorf("255-character name refused: %v", err)
	}
	if err := validateName("firstName", strings.Repeat("é", 256), false); err == nil {
		t.Error("256-character name accepted")
	}
}

// AUD-15: a host name whose last label is numeric may be read as an IP
// address by some resolvers, so it is refused as a webhook target
// wherever that label is (after other labels, or after a leading dot).
func TestAUD15_NumericLastLabelRefused(t *testing.T) {
	for _, hook := range []string{"http://hooks.2852039166/", "http://a.b.0xa9fea9fe/", "http://.2852039166/"} {
		if err := validateWebhookURL("webhookURLs[0]", hook, false); err == nil {
			t.Errorf("%s accepted", hook)
		}
	}
	if err := validateWebhookURL("webhookURLs[0]", "https://hooks.example.com/gatehouse", false); err != nil {
		t.Errorf("an ordinary host refused: %v", err)
	}
}

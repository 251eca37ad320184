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

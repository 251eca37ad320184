package idp

import (
	"strings"
	"testing"
)

// TestIDP_RT_1_WellFormedRefreshToken pins the refresh-token shape check at
// every edge of its alphabet (base64url, 43 characters), so a token is
// never refused, or a foreign string let through to the store, by chance
// of which characters a random token holds (IDP-RT-1).
func TestIDP_RT_1_WellFormedRefreshToken(t *testing.T) {
	pad := func(s string) string { return s + strings.Repeat("x", refreshTokenLen-len(s)) }
	for _, ok := range []string{"A", "Z", "a", "z", "0", "9", "-", "_", "AZaz09-_"} {
		if tok := pad(ok); !wellFormedRefreshToken(tok) {
			t.Errorf("%q refused", tok)
		}
	}
	// The neighbours of each range, and characters of other encodings.
	for _, bad := range []string{"@", "[", "`", "{", "/", ":", ",", ".", "+", "=", " ", "\x00", "\xff"} {
		if tok := pad(bad); wellFormedRefreshToken(tok) {
			t.Errorf("%q accepted", tok)
		}
	}
	for _, n := range []int{0, refreshTokenLen - 1, refreshTokenLen + 1} {
		if wellFormedRefreshToken(strings.Repeat("A", n)) {
			t.Errorf("length %d accepted", n)
		}
	}
	if tok, _ := newRefreshToken(); !wellFormedRefreshToken(tok) {
		t.Errorf("a minted token %q is refused", tok)
	}
}

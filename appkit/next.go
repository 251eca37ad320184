package appkit

import (
	"net/url"
	"strings"
)

// maxNext bounds a next parameter; longer values are replaced.
const maxNext = 2048

// SafeNext returns next if it is a same-origin relative path, and fallback
// otherwise (APP-RED-1). Accepted: one leading "/", not followed by "/" or
// "\", no backslash or control character anywhere, no scheme or host when
// parsed, and the same after one more round of percent-decoding (so
// "%2F%2Fevil" style values cannot become "//evil" in a later decode).
func SafeNext(next, fallback string) string {
	if isSafePath(next) {
		if dec, err := url.PathUnescape(next); err == nil && isSafePath(dec) {
			return next
		}
	}
	return fallback
}

func isSafePath(p string) bool {
	if len(p) == 0 || len(p) > maxNext || p[0] != '/' {
		return false
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return false
	}
	for i := 0; i < len(p); i++ {
		// Browsers drop tab and newline from URLs ("/\t/evil" is "//evil")
		// and treat "\" like "/".
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	return !strings.HasPrefix(u.Path, "//")
}

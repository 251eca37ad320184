package appkit

import (
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// cookieValue returns the value of the first cookie called name in r's
// Cookie headers, without allocating (http.Request.Cookie parses every
// cookie into a new slice). Quoted values are not used by the kit and are
// returned as they are, which makes them fail validation.
func cookieValue(r *http.Request, name string) string {
	for _, line := range r.Header["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			n, v, ok := strings.Cut(part, "=")
			if ok && n == name {
				return v
			}
		}
	}
	return ""
}

// Every cookie setter also marks the response Cache-Control: no-store
// (APP-CK-5), so no code path can set a cookie on a cacheable response.

// setSessionCookie sets the session-id cookie: HttpOnly, host-only,
// Path=/, SameSite=Lax, Secure unless in development mode, and
// non-persistent (APP-CK-1..4): the server enforces the timeouts.
func (k *Kit) setSessionCookie(w http.ResponseWriter, id string) {
	k.noStore(w.Header())
	http.SetCookie(w, &http.Cookie{
		Name: k.sidName, Value: id, Path: "/",
		HttpOnly: true, Secure: !k.cfg.DevMode, SameSite: http.SameSiteLaxMode,
	})
}

// setRefreshCookie sets the sealed refresh cookie: like the session cookie
// but SameSite per config (Strict by default) and persistent for
// RefreshCookieMaxAge.
func (k *Kit) setRefreshCookie(w http.ResponseWriter, sealed string) {
	k.noStore(w.Header())
	http.SetCookie(w, &http.Cookie{
		Name: k.rtName, Value: sealed, Path: "/",
		MaxAge:   int(k.cfg.RefreshCookieMaxAge / time.Second),
		HttpOnly: true, Secure: !k.cfg.DevMode, SameSite: k.cfg.RefreshCookieSameSite,
	})
}

// setDeviceCookie sets the sealed device-token cookie: HttpOnly, Secure
// unless in development mode, SameSite=Lax, persistent for
// DeviceCookieMaxAge. Logout leaves it: it identifies the browser, not a
// session.
func (k *Kit) setDeviceCookie(w http.ResponseWriter, sealed string) {
	k.noStore(w.Header())
	http.SetCookie(w, &http.Cookie{
		Name: k.devName, Value: sealed, Path: "/",
		MaxAge:   int(k.cfg.DeviceCookieMaxAge / time.Second),
		HttpOnly: true, Secure: !k.cfg.DevMode, SameSite: http.SameSiteLaxMode,
	})
}

// clearCookies expires both cookies with the attributes they were set
// with (APP-OUT-1).
func (k *Kit) clearCookies(w http.ResponseWriter) {
	k.clearCookie(w, k.sidName, http.SameSiteLaxMode)
	k.clearCookie(w, k.rtName, k.cfg.RefreshCookieSameSite)
}

func (k *Kit) clearCookie(w http.ResponseWriter, name string, ss http.SameSite) {
	k.noStore(w.Header())
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: !k.cfg.DevMode, SameSite: ss,
	})
}

// clientIP is the browser's address: the connection's peer, or, when the
// peer is a configured trusted proxy, the right-most X-Forwarded-For entry
// that is not itself a trusted proxy (APP-HDR-3).
func (k *Kit) clientIP(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	peer := ap.Addr().Unmap()
	if !k.trusted(peer) {
		return peer.String()
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer.String()
			}
			a = a.Unmap()
			if !k.trusted(a) {
				return a.String()
			}
		}
	}
	return peer.String()
}

func (k *Kit) trusted(a netip.Addr) bool {
	for _, p := range k.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// securityHeaders sets the headers every kit response carries
// (APP-HDR-1/2). Keys are pre-canonicalized; each response gets its own
// copy of the values: a slice shared between responses would let one
// handler writing h[k][0] change that header of every later response.
func (k *Kit) securityHeaders(h http.Header) {
	if k.cfg.DisableSecurityHeaders {
		return
	}
	h["X-Content-Type-Options"] = own(k.hdrNosniff)
	h["Referrer-Policy"] = own(k.hdrReferrer)
	h["Content-Security-Policy"] = own(k.hdrCSP)
	if !k.cfg.DevMode {
		h["Strict-Transport-Security"] = own(k.hdrHSTS)
	}
}

// noStore marks a response that sets cookies or shows account data as not
// cacheable (APP-CK-5).
func (k *Kit) noStore(h http.Header) {
	h["Cache-Control"] = own(k.hdrNoStore)
}

// own returns a copy of a prebuilt header value for one response.
func own(v []string) []string { return append([]string(nil), v...) }

// isLoopbackPeer reports whether r came from a loopback address; the only
// peers development mode serves.
func isLoopbackPeer(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

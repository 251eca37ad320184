package site

import (
	"net/http"
	"strings"
)

// Security headers of every response of an example app (APP-HDR-1/2,
// AUD-17): pages, static files, health checks, error pages, redirects and
// the webhook route alike. The only script is the app kit's passkey file
// (/static/passkey.js, issue 12), so script-src is 'self' rather than a
// nonce: no template has an inline <script> or handler, and inline or
// injected script never runs; connect-src 'self' lets it fetch the
// passkey options. Styles come only from /static/style.css (no inline
// style attributes either).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// secure is the outermost middleware of an app. It sets the security
// headers before anything else runs (so a redirect, a 404 from the mux or
// a panic-free early return carries them too) and turns the plain-text or
// JSON 404 and 405 answers of inner handlers (the app kit's http.Error,
// the webhook receiver) into the site's error page, keeping their status
// and Allow header. The kit's own copies of these headers are switched off
// (appkit.Config.DisableSecurityHeaders): its CSP has no script-src.
func (s *Site) secure(next http.Handler) http.Handler {
	// Built once, assigned without canonicalising or allocating per
	// request (a handler's later Add copies the full slice).
	var (
		csp      = []string{contentSecurityPolicy}
		nosniff  = []string{"nosniff"}
		referrer = []string{"strict-origin-when-cross-origin"}
		hsts     = []string{"max-age=31536000; includeSubDomains"}
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Security-Policy"] = csp
		h["X-Content-Type-Options"] = nosniff
		h["Referrer-Policy"] = referrer
		if !s.devMode {
			h["Strict-Transport-Security"] = hsts
		}
		next.ServeHTTP(&pageWriter{ResponseWriter: w, s: s, r: r}, r)
	})
}

// pageWriter replaces the body of a 404 or 405 that is not already an
// HTML page with the site's error page.
type pageWriter struct {
	http.ResponseWriter
	s       *Site
	r       *http.Request
	started bool // WriteHeader has been called (or implied by Write)
	swallow bool // the error page was written: drop the handler's body
}

// WriteHeader writes the error page instead of a non-HTML 404 or 405.
func (p *pageWriter) WriteHeader(code int) {
	if p.started {
		p.ResponseWriter.WriteHeader(code) // superfluous: net/http logs it
		return
	}
	p.started = true
	if (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) &&
		!strings.HasPrefix(p.Header().Get("Content-Type"), "text/html") {
		p.swallow = true
		p.Header().Del("Content-Length")
		p.s.errorPage(p.ResponseWriter, p.r, code)
		return
	}
	p.ResponseWriter.WriteHeader(code)
}

// Write drops the handler's own body after an error page.
func (p *pageWriter) Write(b []byte) (int, error) {
	if !p.started {
		p.WriteHeader(http.StatusOK)
	}
	if p.swallow {
		return len(b), nil
	}
	return p.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (p *pageWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// errorPage renders the site's 404 or 405 page.
func (s *Site) errorPage(w http.ResponseWriter, r *http.Request, code int) {
	msg := "There is no page at this address."
	if code == http.StatusMethodNotAllowed {
		msg = "This address does not accept that kind of request."
	}
	s.Error(w, r, code, msg)
}

// notFound is the catch-all route ("/"): 405 with an Allow header when the
// path has routes for other methods (POST /healthz), the 404 page
// otherwise.
func (s *Site) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.Mux.Handler(probe); pattern != "" && pattern != catchAllPattern {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.errorPage(w, r, http.StatusMethodNotAllowed)
		return
	}
	s.errorPage(w, r, http.StatusNotFound)
}

// catchAllPattern is the pattern notFound is registered under.
const catchAllPattern = "/"

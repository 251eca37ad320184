package browser

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// cspWatch is evaluated in every new document before the page's own
// content: it records each Content-Security-Policy violation the page
// causes (DevTools-injected, so the page's CSP does not stop it).
const cspWatch = `window.__cspListening = true; window.__csp = [];
document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.effectiveDirective + " " + (e.blockedURI || "inline")));`

// AUD-17, APP-HDR-2, in a real browser: the apps' CSP is in force, so a
// script injected into a page (what an XSS would do) does not run, while
// the kit's passkey file (script-src 'self') does; and it costs the apps
// nothing: the pages, the 404 and the 405 page included,
// are laid out by the stylesheet and cause no CSP violation at all.
func TestAUD17_CSPBlocksInjectedScriptAndBreaksNoPage(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	ctx, cancel := b.step()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		cancel()
		t.Fatalf("install the CSP watcher: %v", err)
	}
	cancel()
	e.loginStore(b)

	pages := []struct {
		url, title string
		status     int64
	}{
		{e.store + "/", "Catalog", 200},
		{e.store + "/shopping-cart", "", 200},
		{e.store + "/sessions", "Your sessions", 200},
		{e.store + "/no-such-page", "Not Found", 404},
		{e.store + "/logout", "Method Not Allowed", 405}, // GET: the kit's 405, as the site's page
		{e.forums + "/login", "Sign in", 200},
		{e.forums + "/posts/1/replies", "Method Not Allowed", 405}, // the mux's 405
	}
	for _, p := range pages {
		resp := b.open(p.url, "aud17-"+strings.NewReplacer("http://", "", "/", "_", ":", "_").Replace(p.url))
		if resp.Status != p.status {
			t.Errorf("%s: status %d, want %d", p.url, resp.Status, p.status)
		}
		if !eval[bool](b, `window.__cspListening === true`) {
			t.Fatalf("%s: the CSP watcher did not run", p.url)
		}
		if v := eval[[]string](b, `window.__csp`); len(v) != 0 {
			t.Errorf("%s: CSP violations %q", p.url, v)
		}
		if lang := eval[string](b, `document.documentElement.lang`); lang != "en" {
			t.Errorf("%s: html lang %q", p.url, lang)
		}
		if title := eval[string](b, `document.title`); !strings.Contains(title, p.title) {
			t.Errorf("%s: title %q, want %q in it", p.url, title, p.title)
		}
		// The layout's stylesheet applies (header bar border from base.css).
		if s := eval[string](b, `getComputedStyle(document.querySelector("header.top")).borderBottomStyle`); s != "solid" {
			t.Errorf("%s: stylesheet not applied (header border %q)", p.url, s)
		}
		if b.count(`a[href="/"]`) == 0 {
			t.Errorf("%s: no link to the start page", p.url)
		}
	}
	// The sessions page's spacing moved from an inline style to a class.
	b.open(e.store+"/sessions", "aud17-sessions")
	if m := eval[string](b, `getComputedStyle(document.querySelector(".gap-above")).marginTop`); m != "16px" {
		t.Errorf("sessions: .gap-above margin-top %q, want 16px", m)
	}

	// The one script the apps have, the kit's passkey file, runs under
	// script-src 'self': at this address (not the passkey origin) it
	// shows where passkeys work, and causes no violation.
	b.open(e.store+"/login", "aud17-store-login")
	b.waitFor("the passkey script's note", `!document.querySelector("#passkey-elsewhere").hidden`)
	if v := eval[[]string](b, `window.__csp`); len(v) != 0 {
		t.Errorf("login page with the passkey script: CSP violations %q", v)
	}

	// An injected inline script and an injected event handler do not run.
	ran := eval[bool](b, `(() => {
		const s = document.createElement("script");
		s.textContent = "window.__pwned = true";
		document.body.appendChild(s);
		return window.__pwned === true;
	})()`)
	if ran {
		t.Error("an injected inline script ran: the CSP does not stop XSS")
	}
	if v := eval[[]string](b, `window.__csp`); len(v) == 0 || !strings.HasPrefix(v[0], "script-src") {
		t.Errorf("the blocked script was not reported as a script-src violation: %q", v)
	}
}

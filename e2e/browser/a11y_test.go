package browser

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-auth/gatehouse/internal/testneeds"
)

// axeVersion is the axe-core release scripts/test.sh installs (pinned:
// the same rules on every machine); keep the two in step.
const axeVersion = "4.14.1"

// envAxe names axe-core's axe.min.js; scripts/test.sh sets it.
const envAxe = "GATEHOUSE_AXE"

// Viewports every page is checked at: desktop and a 390-px phone.
var (
	desktop = viewport{1280, 900, "desktop", false}
	phone   = viewport{390, 844, "phone", true}
)

type viewport struct {
	w, h   int64
	name   string
	mobile bool // a phone: overlay scrollbars, touch, the viewport meta tag
}

// axeSource reads axe-core: $GATEHOUSE_AXE, or where scripts/test.sh
// installs it in the user's cache. Without it the accessibility checks
// are off (logged), except under GATEHOUSE_CI=1, where the test fails.
func axeSource(t *testing.T) string {
	t.Helper()
	p := os.Getenv(envAxe)
	if p == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		p = filepath.Join(cache, "gatehouse", "axe-core-"+axeVersion, "node_modules", "axe-core", "axe.min.js")
	}
	src, err := os.ReadFile(p)
	if err != nil || len(src) == 0 {
		msg := fmt.Sprintf("accessibility checks need axe-core %s (%s=%s: %v); scripts/test.sh installs it with npm", axeVersion, envAxe, p, err)
		if os.Getenv(testneeds.EnvCI) == "1" {
			t.Fatalf("%s; %s=1 forbids going without", msg, testneeds.EnvCI)
		}
		t.Log(msg + "; accessibility checks are off")
		return ""
	}
	return string(src)
}

// axeRun runs axe-core on the document and returns its serious and
// critical violations. It is a DevTools evaluation, which the page's CSP
// (script-src 'self') does not govern.
const axeRun = `(async () => {
	const r = await axe.run(document, {resultTypes: ["violations"]});
	return r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({
		id: v.id, impact: v.impact, help: v.help,
		targets: v.nodes.map(n => JSON.stringify(n.target)),
	}));
})()`

// axeViolation is one rule axe-core found broken, with the nodes.
type axeViolation struct {
	ID, Impact, Help string
	Targets          []string
}

func (v axeViolation) String() string {
	return fmt.Sprintf("%s (%s: %s) at %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "))
}

// checkA11y injects axe-core into the app page the tab shows and fails
// the test on any serious or critical violation, at desktop and at phone
// width; the viewport is put back afterwards. Pages of other origins
// (an attacker's) and non-HTML answers are not the apps' and are left
// alone. open and navigate call it after each page.
func (b *browser) checkA11y() {
	b.t.Helper()
	if b.e.axe == "" {
		return
	}
	href := b.location()
	if !strings.HasPrefix(href, b.e.store+"/") && !strings.HasPrefix(href, b.e.forums+"/") {
		return
	}
	if ct := eval[string](b, `document.contentType`); ct != "text/html" {
		return
	}
	if !eval[bool](b, `typeof axe !== "undefined"`) {
		ctx, cancel := b.step()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](b.e.axe+"\n;typeof axe !== \"undefined\""))
		cancel()
		if err != nil || !ok {
			b.t.Fatalf("inject axe-core into %s: defined %v, %v", href, ok, err)
		}
	}
	was := b.vp
	for _, vp := range []viewport{desktop, phone} {
		b.setViewport(vp)
		ctx, cancel := b.step()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](axeRun, chromedp.EvalAwaitPromise))
		cancel()
		if err != nil {
			b.t.Fatalf("run axe-core on %s (%s): %v", href, vp.name, err)
		}
		var vs []axeViolation
		if err := json.Unmarshal(raw, &vs); err != nil {
			b.t.Fatalf("axe-core result on %s: %v", href, err)
		}
		for _, v := range vs {
			b.t.Errorf("accessibility (axe-core %s), %s at %s width: %s", axeVersion, href, vp.name, v)
		}
	}
	b.setViewport(was)
}

// setViewport sizes the tab's viewport (a desktop window or a phone).
func (b *browser) setViewport(vp viewport) {
	b.t.Helper()
	if b.vp == vp {
		return
	}
	opts := []chromedp.EmulateViewportOption{}
	if vp.mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	b.do("set the viewport to "+vp.name, chromedp.EmulateViewport(vp.w, vp.h, opts...))
	b.vp = vp
}

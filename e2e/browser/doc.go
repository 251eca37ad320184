// Package browser is Gatehouse's browser suite: the login scenarios of
// design §2 (S1-S6, S9, the wrong-password form and a cross-site form
// post) driven in a real headless Chromium through the DevTools protocol
// (chromedp), against the real demo — identity server, Store and Forums
// with their SQLite databases and session stores — started in the test
// process on free loopback ports.
//
// The browser reaches the apps as http://store.localhost:PORT and
// http://forums.localhost:PORT: Chromium resolves every *.localhost name
// to loopback itself, and the two host names keep the apps' cookies apart
// the way two real hosts do. Every part of the demo shares one settable
// clock, so idle timeouts and token expiry (S4, S5) are reached by moving
// time, never by sleeping; every browser step is bounded by a timeout.
//
// Each test writes a full-page PNG of every page it visits to
// $GATEHOUSE_SCREENSHOTS/<test>/ or, when that is unset,
// e2e/browser/screenshots/<test>/ (ignored by git), and names the folder
// in its log when it fails.
//
// Every app page a test opens or clicks to is also checked with axe-core
// (a11y_test.go): injected through DevTools, which the apps' CSP
// (script-src 'self') does not govern, and run at desktop (1280 px) and
// phone (390 px) width; a serious or critical violation fails the test
// with its rule, impact and nodes. axe-core comes from npm, pinned, via
// $GATEHOUSE_AXE or scripts/test.sh's cache folder; without it the checks
// are off, except under GATEHOUSE_CI=1, where the test fails.
//
// Chromium is found through $GATEHOUSE_CHROMIUM or as `chromium` on PATH
// (Debian's package). Without it the tests skip with a message, except
// when GATEHOUSE_CI=1, where they fail. scripts/test.sh installs it.
//
// The package owns only these tests; it has no non-test code. The HTTP
// scenario tests (cookie jars, no browser) are package e2e's; the demo
// wiring is package examples/demo's.
package browser

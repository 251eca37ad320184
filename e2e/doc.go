// Package e2e holds Gatehouse's end-to-end scenario tests: one test per
// scenario ID of design §2 (TestS1_… to TestS12_…), plus restart and
// demo-contract tests. Each test starts the real demo — the identity
// server on SQLite, the Store and Forums apps with their SQLite databases
// and session stores, and the revocation webhooks between them — on free
// loopback ports in the test process, and drives it over HTTP with one
// cookie jar per browser (and one for the attacker).
//
// Every part shares one settable clock, so idle timeouts, token expiry
// and lockouts are reached by moving time instead of sleeping; only the
// webhook deliveries of S10 are waited for, with a one-second deadline.
//
// The package has no non-test code.
package e2e

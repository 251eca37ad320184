package idp

import (
	"testing"
	"time"
)

// IDP-BF-3: the per-IP table is bounded (MaxIPs) by dropping the least
// recently failing address, never one that failed more recently; and the
// periodic sweep drops only buckets that have refilled, so it never
// forgives an address that is still throttled.
func TestIDP_BF_3_ThrottleTableEvictsLeastRecentAndSweepsOnlyRefilled(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tick := func() { now = now.Add(time.Second) } // far below one refill (an hour)
	th := newThrottle(ThrottlePolicy{Burst: 2, Every: time.Hour, MaxIPs: 2}.withDefaults(), clock)
	const a, b, c = "198.51.100.1", "198.51.100.2", "198.51.100.3"
	th.fail(a)
	tick()
	th.fail(b)
	tick()
	th.fail(b)
	tick()
	th.fail(a) // a and b are both empty now; a failed last
	tick()
	if th.allowed(a) || th.allowed(b) {
		t.Fatal("two failures with burst 2 did not throttle")
	}
	th.fail(c) // the table is full: b, the least recent, goes
	if !th.allowed(b) {
		t.Error("the least recently failing address was kept beyond MaxIPs")
	}
	if th.allowed(a) {
		t.Error("a more recently failing address was evicted instead of the oldest")
	}
	if len(th.ips) > 2 {
		t.Errorf("table holds %d addresses, MaxIPs 2", len(th.ips))
	}

	// The sweep keeps throttled buckets ...
	th.sweep()
	if th.allowed(a) {
		t.Error("the sweep forgave an address that is still throttled")
	}
	// ... and drops those that refilled.
	now = now.Add(3 * time.Hour)
	th.sweep()
	if len(th.ips) != 0 {
		t.Errorf("after refilling, the sweep kept %d addresses", len(th.ips))
	}
}

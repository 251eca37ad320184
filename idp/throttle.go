package idp

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ThrottlePolicy limits failures per client IP (IDP-BF-3, IDP-CLI-3): each
// failed login or failed client authentication takes a token from the IP's
// bucket; with the bucket empty, further attempts from that IP answer 429
// before any password is hashed. Defaults: burst 20, one token back every 6 s.
type ThrottlePolicy struct {
	Burst    int
	Every    time.Duration
	Disabled bool
	// MaxIPs bounds the table; the least recently used IP is dropped
	// beyond it. Default 100,000.
	MaxIPs int
	// CeremonyBurst and CeremonyEvery size the bucket of WebAuthn
	// ceremony starts per end-user IP (WA-9): every start stores a
	// challenge for five minutes, so each one takes a token, failed or
	// not. Defaults DefaultCeremonyBurst and DefaultCeremonyEvery: at
	// most 50 + 150 live challenges per IP. Disabled turns it off too.
	CeremonyBurst int
	CeremonyEvery time.Duration
}

// Defaults of ThrottlePolicy's ceremony bucket (WA-9): a login page
// asks for passkey options on every view, so the burst is larger than
// the password bucket's.
const (
	DefaultCeremonyBurst = 50
	DefaultCeremonyEvery = 2 * time.Second
)

func (p ThrottlePolicy) negative() bool {
	return p.Burst < 0 || p.Every < 0 || p.MaxIPs < 0 || p.CeremonyBurst < 0 || p.CeremonyEvery < 0
}

// ceremony is the policy of the ceremony bucket: the ceremony sizes with
// the table bound and Disabled of p.
func (p ThrottlePolicy) ceremony() ThrottlePolicy {
	return ThrottlePolicy{Burst: p.CeremonyBurst, Every: p.CeremonyEvery, Disabled: p.Disabled, MaxIPs: p.MaxIPs}
}

// withDefaults applies the documented defaults to the zero fields.
func (p ThrottlePolicy) withDefaults() ThrottlePolicy {
	if p.Burst <= 0 {
		p.Burst = 20
	}
	if p.Every <= 0 {
		p.Every = 6 * time.Second
	}
	if p.MaxIPs <= 0 {
		p.MaxIPs = 100_000
	}
	if p.CeremonyBurst <= 0 {
		p.CeremonyBurst = DefaultCeremonyBurst
	}
	if p.CeremonyEvery <= 0 {
		p.CeremonyEvery = DefaultCeremonyEvery
	}
	return p
}

type throttle struct {
	p   ThrottlePolicy
	now func() time.Time

	mu  sync.Mutex
	ips map[string]*ipEntry
}

type ipEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newThrottle(p ThrottlePolicy, now func() time.Time) *throttle {
	return &throttle{p: p, now: now, ips: map[string]*ipEntry{}}
}

// allowed reports whether ip may make another attempt (without taking a
// token: only failures take tokens).
func (t *throttle) allowed(ip string) bool {
	if t.p.Disabled || ip == "" {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.ips[ip]
	return e == nil || e.lim.TokensAt(t.now()) >= 1
}

// fail records one failure for ip.
func (t *throttle) fail(ip string) {
	if t.p.Disabled || ip == "" {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.ips[ip]
	if e == nil {
		if len(t.ips) >= t.p.MaxIPs {
			t.evictOldest()
		}
		e = &ipEntry{lim: rate.NewLimiter(rate.Every(t.p.Every), t.p.Burst)}
		t.ips[ip] = e
	}
	e.seen = now
	e.lim.AllowN(now, 1)
}

func (t *throttle) evictOldest() {
	var oldest string
	var at time.Time
	for ip, e := range t.ips {
		if oldest == "" || e.seen.Before(at) {
			oldest, at = ip, e.seen
		}
	}
	delete(t.ips, oldest)
}

// sweep drops IPs whose bucket has refilled: they carry no state worth
// keeping.
func (t *throttle) sweep() {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for ip, e := range t.ips {
		if e.lim.TokensAt(now) >= float64(t.p.Burst) {
			delete(t.ips, ip)
		}
	}
}

// clientIP returns the end user's IP: the first X-Forwarded-For entry when
// the request comes from an authenticated confidential client (the app
// forwards its browser's IP), else the TCP peer. A browser or an
// unauthenticated caller cannot choose its own throttling key (IDP-BF-3).
func clientIP(r *http.Request, trustForwarded bool) string {
	if trustForwarded {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

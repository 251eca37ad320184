package webhooksender

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// releases records when retry makes a message available again; every other
// Store method is unused (nil).
type releases struct {
	Store
	at        time.Time
	completed int
}

func (r *releases) ReleaseOutbox(_ context.Context, _ *store.OutboxMessage, at time.Time) error {
	r.at = at
	return nil
}

func (r *releases) CompleteOutbox(context.Context, string, string) error {
	r.completed++
	return nil
}

// TestAUD8_RetryBackoffDoublesWithinBounds: after the n-th failed round a
// message waits a time drawn from [b/2, b] with b = InitialBackoff·2^(n-1)
// capped at MaxBackoff, so a failing receiver is neither hammered nor left
// waiting longer than MaxBackoff; the MaxAttempts-th failure gives the
// message up (AUD-8).
func TestAUD8_RetryBackoffDoublesWithinBounds(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &releases{}
	s := &Sender{
		cfg: Config{Store: st, MaxAttempts: 12, InitialBackoff: time.Second, MaxBackoff: 100 * time.Second,
			Schedule: func() time.Time { return now }},
		log: slog.New(slog.DiscardHandler), ctx: context.Background(),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x"}, []string{"outcome"}),
	}
	m := &store.OutboxMessage{ID: "m"}
	for round := 1; round < s.cfg.MaxAttempts; round++ {
		b := min(time.Second<<(round-1), 100*time.Second)
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for range 200 { // the draw is random: its range shows over many
			m.Attempts = round - 1
			s.retry(m, webhook.Event{}, "test", 503, nil)
			if m.Attempts != round {
				t.Fatalf("round %d: attempts %d", round, m.Attempts)
			}
			wait := st.at.Sub(now)
			lo, hi = min(lo, wait), max(hi, wait)
		}
		if lo < b/2 || hi > b || hi-lo < b/4 {
			t.Errorf("round %d: waits in [%v, %v], want within [%v, %v] and spread", round, lo, hi, b/2, b)
		}
	}
	if st.completed != 0 {
		t.Fatal("a message was given up before MaxAttempts rounds")
	}
	m.Attempts = s.cfg.MaxAttempts - 1
	s.retry(m, webhook.Event{}, "test", 503, nil)
	if st.completed != 1 || s.gaveUp.Load() != 1 {
		t.Fatalf("the MaxAttempts-th failure: completed %d, gave up %d; want the message given up", st.completed, s.gaveUp.Load())
	}
}

// TestAUD8_RedactKeepsOnlySchemeHostPath: delivery logs name a webhook URL
// without its user info, query or fragment, which may carry credentials.
func TestAUD8_RedactKeepsOnlySchemeHostPath(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@hooks.example:8443/a/b?token=secret#frag": "https://hooks.example:8443/a/b",
		"http://hooks.example/hook":                                "http://hooks.example/hook",
		"http://[::1]:namedport/%zz":                               "(unparsable URL)",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

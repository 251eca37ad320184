package webhooksender

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
)

// TestAUD8_ConfigDefaultsAndRefusals pins New's handling of Config: zero
// means the documented default, a positive value is kept, a negative one is
// refused. A zero Timeout kept as is would be an http.Client without a
// timeout (one stuck receiver holds a worker for the whole lease); zero
// Workers would deadlock every round, so no revocation would ever be
// delivered (AUD-8).
func TestAUD8_ConfigDefaultsAndRefusals(t *testing.T) {
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "idp.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	start := func(c Config) (*Sender, error) {
		t.Helper()
		c.Store, c.Logger = st, slog.New(slog.DiscardHandler)
		s, err := New(c)
		if err == nil {
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = s.Close(ctx)
			})
		}
		return s, err
	}

	s, err := start(Config{})
	if err != nil {
		t.Fatalf("zero Config refused: %v", err)
	}
	want := pick(Config{Timeout: DefaultTimeout, Workers: DefaultWorkers, Batch: DefaultBatch, MaxAttempts: DefaultMaxAttempts,
		InitialBackoff: DefaultInitialBackoff, MaxBackoff: DefaultMaxBackoff, Lease: DefaultLease, PollInterval: DefaultPollInterval})
	if got := pick(s.cfg); got != want {
		t.Errorf("defaults: %+v, want %+v", got, want)
	}
	if s.client.Timeout != DefaultTimeout {
		t.Errorf("default client timeout %v, want %v", s.client.Timeout, DefaultTimeout)
	}

	set := Config{Timeout: 2 * time.Second, Workers: 3, Batch: 7, MaxAttempts: 9, InitialBackoff: 3 * time.Millisecond,
		MaxBackoff: 40 * time.Millisecond, Lease: 50 * time.Second, PollInterval: 60 * time.Millisecond}
	if s, err = start(set); err != nil {
		t.Fatalf("positive Config refused: %v", err)
	}
	if got := pick(s.cfg); got != pick(set) {
		t.Errorf("set values: %+v, want %+v", got, set)
	}
	if s.client.Timeout != set.Timeout {
		t.Errorf("client timeout %v, want %v", s.client.Timeout, set.Timeout)
	}

	// MaxBackoff is never below InitialBackoff.
	if s, err = start(Config{InitialBackoff: time.Hour}); err != nil || s.cfg.MaxBackoff != time.Hour {
		t.Errorf("InitialBackoff above the default MaxBackoff: MaxBackoff %v, %v", s.cfg.MaxBackoff, err)
	}

	for name, mod := range map[string]func(*Config){
		"Timeout":        func(c *Config) { c.Timeout = -1 },
		"Workers":        func(c *Config) { c.Workers = -1 },
		"Batch":          func(c *Config) { c.Batch = -1 },
		"MaxAttempts":    func(c *Config) { c.MaxAttempts = -1 },
		"InitialBackoff": func(c *Config) { c.InitialBackoff = -1 },
		"MaxBackoff":     func(c *Config) { c.MaxBackoff = -1 },
		"Lease":          func(c *Config) { c.Lease = -1 },
		"PollInterval":   func(c *Config) { c.PollInterval = -1 },
	} {
		var c Config
		mod(&c)
		if _, err := start(c); err == nil {
			t.Errorf("negative %s accepted", name)
		}
	}
}

// numbers are the numeric fields of a Config, comparable with ==.
type numbers struct {
	Timeout, InitialBackoff, MaxBackoff, Lease, PollInterval time.Duration
	Workers, Batch, MaxAttempts                              int
}

func pick(c Config) numbers {
	return numbers{Timeout: c.Timeout, Workers: c.Workers, Batch: c.Batch, MaxAttempts: c.MaxAttempts,
		InitialBackoff: c.InitialBackoff, MaxBackoff: c.MaxBackoff, Lease: c.Lease, PollInterval: c.PollInterval}
}

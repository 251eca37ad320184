package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Receiver defaults.
const (
	DefaultTolerance    = 5 * time.Minute
	DefaultMaxBodyBytes = 64 << 10
	// DefaultMaxRemembered bounds the replay cache.
	DefaultMaxRemembered = 100_000
	// MinSecretLen is the least accepted secret length in bytes.
	MinSecretLen = 16
)

// HandlerFunc is what a Receiver calls for each authentic, fresh, first
// delivery of an event. An error makes the Receiver answer 500 so the
// sender retries.
type HandlerFunc func(ctx context.Context, e Event) error

// ReceiverConfig configures a Receiver. Secret and Handle are required.
type ReceiverConfig struct {
	// Secret is the application's webhook secret (the HMAC key).
	Secret []byte
	// Handle acts on an event (typically: end the user's sessions).
	Handle HandlerFunc
	// Tolerance is how far a delivery's timestamp may be from now.
	// Default 5 min.
	Tolerance time.Duration
	// MaxBodyBytes bounds the body; larger gets 413. Default 64 KiB.
	MaxBodyBytes int64
	// Seen remembers handled event ids to refuse replays. Default: in
	// memory (NewMemorySeen(MaxRemembered)), which a restart forgets; an
	// app that must refuse a replay after a restart (AUD-10) passes one
	// kept in its own database.
	Seen SeenStore
	// MaxRemembered bounds the default in-memory Seen. Default 100,000.
	MaxRemembered int
	// Logger receives one line per delivery (never the secret or the
	// signature). Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Receiver is the http.Handler an app mounts (for example at POST
// /webhooks/gatehouse). Answers:
//
//	200  handled, or a repeat of an event already handled (not handled again)
//	400  not a signed delivery: missing/malformed headers, bad JSON, no event id
//	401  signature mismatch or timestamp outside the window
//	405  not POST
//	413  body too large
//	500  the handler failed; the sender retries
type Receiver struct {
	cfg ReceiverConfig
	log *slog.Logger
}

// NewReceiver validates cfg and returns a Receiver.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, errors.New("webhook: ReceiverConfig.Secret must be at least 16 bytes")
	}
	if cfg.Handle == nil {
		return nil, errors.New("webhook: ReceiverConfig.Handle is required")
	}
	if cfg.Tolerance < 0 || cfg.MaxBodyBytes < 0 || cfg.MaxRemembered < 0 {
		return nil, errors.New("webhook: ReceiverConfig values must not be negative (zero means the default)")
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxRemembered <= 0 {
		cfg.MaxRemembered = DefaultMaxRemembered
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Seen == nil {
		cfg.Seen = NewMemorySeen(cfg.MaxRemembered, cfg.Now)
	}
	return &Receiver{cfg: cfg, log: cfg.Logger}, nil
}

// ServeHTTP verifies and handles one delivery.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		reply(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rc.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			reply(w, http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		reply(w, http.StatusBadRequest, "unreadable body")
		return
	}
	now := rc.cfg.Now()
	err = Verify(rc.cfg.Secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, now, rc.cfg.Tolerance)
	switch {
	case errors.Is(err, ErrMalformed):
		rc.log.Warn("webhook: delivery without a valid signature header", "remote", r.RemoteAddr)
		reply(w, http.StatusBadRequest, "missing or malformed signature")
		return
	case err != nil:
		rc.log.Warn("webhook: delivery refused", "remote", r.RemoteAddr, "err", err)
		reply(w, http.StatusUnauthorized, "signature refused")
		return
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Event.ID == "" || p.Event.Type == "" || len(p.Event.ID) > 128 {
		reply(w, http.StatusBadRequest, "malformed event")
		return
	}
	e := p.Event
	if e.UserID == "" && e.User != nil {
		e.UserID = e.User.ID
	}
	// Ids are kept for twice the tolerance: a replay of an older delivery
	// fails the timestamp check anyway.
	seen, err := rc.cfg.Seen.MarkSeen(r.Context(), e.ID, now.Add(2*rc.cfg.Tolerance))
	if err != nil {
		rc.log.Error("webhook: cannot record event id", "type", e.Type, "eventId", e.ID, "err", err)
		reply(w, http.StatusInternalServerError, "cannot record event")
		return
	}
	if seen {
		rc.log.Info("webhook: repeated event ignored", "type", e.Type, "eventId", e.ID)
		reply(w, http.StatusOK, "already handled")
		return
	}
	if err := rc.cfg.Handle(r.Context(), e); err != nil {
		// Forget the id so the sender's retry runs the handler again.
		if ferr := rc.cfg.Seen.Forget(context.WithoutCancel(r.Context()), e.ID); ferr != nil {
			rc.log.Error("webhook: cannot forget event id", "eventId", e.ID, "err", ferr)
		}
		rc.log.Error("webhook: handler failed", "type", e.Type, "eventId", e.ID, "userId", e.UserID, "err", err)
		reply(w, http.StatusInternalServerError, "handler failed")
		return
	}
	rc.log.Info("webhook: event handled", "type", e.Type, "eventId", e.ID, "userId", e.UserID, "reason", e.Reason)
	reply(w, http.StatusOK, "ok")
}

func reply(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"status": msg})
	_, _ = w.Write(b)
}

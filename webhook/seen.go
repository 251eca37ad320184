package webhook

import (
	"context"
	"sync"
	"time"
)

// SeenStore remembers the ids of events a Receiver has handled, so a
// captured delivery replayed within the timestamp window is refused. A
// store kept in the app's database makes that hold across restarts
// (AUD-10); the in-memory default forgets at restart.
type SeenStore interface {
	// MarkSeen records id as handled, to be kept at least until until, and
	// reports whether it was recorded already. It must be atomic: of two
	// concurrent calls with one id, exactly one gets false. An expired id
	// may be pruned at any time after until.
	MarkSeen(ctx context.Context, id string, until time.Time) (alreadySeen bool, err error)
	// Forget removes id, so a retry of an event whose handler failed runs
	// it again.
	Forget(ctx context.Context, id string) error
}

// MemorySeen is the in-memory SeenStore: bounded, pruned of expired ids as
// it goes, forgotten at restart.
type MemorySeen struct {
	max int
	now func() time.Time

	mu    sync.Mutex
	seen  map[string]time.Time // event id -> keep until
	order []seenEntry          // insertion order, for eviction
}

type seenEntry struct {
	id    string
	until time.Time
}

var _ SeenStore = (*MemorySeen)(nil)

// NewMemorySeen returns an in-memory SeenStore keeping at most max ids
// (default DefaultMaxRemembered when max <= 0; the oldest go first) and
// dropping each after its until on the clock now (default time.Now).
func NewMemorySeen(max int, now func() time.Time) *MemorySeen {
	if max <= 0 {
		max = DefaultMaxRemembered
	}
	if now == nil {
		now = time.Now
	}
	return &MemorySeen{max: max, now: now, seen: map[string]time.Time{}}
}

// MarkSeen implements SeenStore.
func (m *MemorySeen) MarkSeen(_ context.Context, id string, until time.Time) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	// Callers pass until = now + a fixed window, so insertion order is
	// expiry order.
	for len(m.order) > 0 && !now.Before(m.order[0].until) {
		m.evictOldest()
	}
	if u, ok := m.seen[id]; ok && now.Before(u) {
		return true, nil
	}
	for len(m.order) > 0 && len(m.order) >= m.max {
		m.evictOldest()
	}
	m.seen[id] = until
	m.order = append(m.order, seenEntry{id: id, until: until})
	return false, nil
}

func (m *MemorySeen) evictOldest() {
	old := m.order[0]
	m.order = m.order[1:]
	if until, ok := m.seen[old.id]; ok && until.Equal(old.until) {
		delete(m.seen, old.id)
	}
}

// Forget implements SeenStore.
func (m *MemorySeen) Forget(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.seen, id)
	return nil
}

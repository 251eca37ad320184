package main

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
)

// cachedStore is a diagnostic only (mode kit-sqlite-cache): it answers Get
// from a per-process copy for up to ttl, to show how much of the SQLite
// mode's cost is the per-request lookup. It is not a proposal as is: a
// session ended by another process stays usable here for up to ttl.
type cachedStore struct {
	sessionstore.Store
	ttl time.Duration

	mu sync.RWMutex
	m  map[string]cached
}

type cached struct {
	s  sessionstore.Session
	at time.Time
}

func newCachedStore(st sessionstore.Store, ttl time.Duration) *cachedStore {
	return &cachedStore{Store: st, ttl: ttl, m: map[string]cached{}}
}

// Get returns a copy (callers own and modify the result).
func (c *cachedStore) Get(ctx context.Context, key string) (*sessionstore.Session, error) {
	now := time.Now()
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if ok && now.Sub(e.at) < c.ttl && now.Before(e.s.ExpiresAt) {
		s := e.s
		return &s, nil
	}
	s, err := c.Store.Get(ctx, key)
	if err != nil {
		c.forget(key)
		return nil, err
	}
	c.mu.Lock()
	c.m[key] = cached{s: *s, at: now}
	c.mu.Unlock()
	return s, nil
}

func (c *cachedStore) forget(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// Put, Touch, Delete and DeleteByUser drop this process's copies.
func (c *cachedStore) Put(ctx context.Context, s *sessionstore.Session) error {
	c.forget(s.Key)
	return c.Store.Put(ctx, s)
}

func (c *cachedStore) Touch(ctx context.Context, key string, lastSeen, expiresAt time.Time) error {
	c.forget(key)
	return c.Store.Touch(ctx, key, lastSeen, expiresAt)
}

func (c *cachedStore) Delete(ctx context.Context, key string) error {
	c.forget(key)
	return c.Store.Delete(ctx, key)
}

func (c *cachedStore) DeleteByUser(ctx context.Context, userID string) (int, error) {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
	return c.Store.DeleteByUser(ctx, userID)
}

package appkit

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
)

type ctxKey struct{}

// reqState is what the middleware attaches to a request's context: the
// session and, decoded only when User is called, the user.
type reqState struct {
	sess     *sessionstore.Session
	userOnce sync.Once
	user     *UserInfo
}

// UserInfo is the logged-in user, decoded from the verified access-token
// claims kept in the session.
type UserInfo struct {
	ID                string    `json:"sub"`
	Email             string    `json:"email,omitempty"`
	PreferredUsername string    `json:"preferred_username,omitempty"`
	Roles             []string  `json:"roles,omitempty"`
	ApplicationID     string    `json:"applicationId,omitempty"`
	AuthTime          time.Time `json:"-"`
	// Claims are all the access-token claims, as the IdP signed them.
	Claims json.RawMessage `json:"-"`
}

// HasRole reports whether the user has role in this app.
func (u *UserInfo) HasRole(role string) bool {
	for _, r := range u.Roles {
		if r == role {
			return true
		}
	}
	return false
}

func withState(ctx context.Context, st *reqState) context.Context {
	return context.WithValue(ctx, ctxKey{}, st)
}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(ctxKey{}).(*reqState)
	return st
}

// Session returns the session of the request that ctx belongs to, or nil
// when nobody is logged in. It is set by RequireLogin and OptionalLogin.
// The returned value is shared: treat it as read-only.
func Session(ctx context.Context) *sessionstore.Session {
	if st := stateFrom(ctx); st != nil {
		return st.sess
	}
	return nil
}

// User returns the logged-in user of the request that ctx belongs to, or
// nil. The claims are decoded on the first call per request only, so pages
// that do not ask pay nothing.
func User(ctx context.Context) *UserInfo {
	st := stateFrom(ctx)
	if st == nil || st.sess == nil {
		return nil
	}
	st.userOnce.Do(func() {
		u := &UserInfo{ID: st.sess.UserID, AuthTime: st.sess.AuthTime, Claims: st.sess.Claims}
		if len(st.sess.Claims) > 0 {
			// The claims were verified and stored by the kit; a decode
			// failure leaves only the id, which is always present.
			_ = json.Unmarshal(st.sess.Claims, u)
			u.ID = st.sess.UserID
		}
		st.user = u
	})
	return st.user
}

package appkit

import (
	"context"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// outcomeKind is how a refresh ended.
type outcomeKind uint8

const (
	outOK          outcomeKind = 1
	outDead        outcomeKind = 2
	outUnavailable outcomeKind = 3
)

// refreshOutcome is shared by every request that presented one refresh
// token at about the same time. It is read-only once made.
type refreshOutcome struct {
	kind     outcomeKind
	sid, key string                // the new session (outOK)
	sess     *sessionstore.Session // set when this process created it
	sealed   string                // new refresh cookie value; "" = leave it
	next     refreshCookie         // what sealed holds (token "" when none)
}

// refreshRecord is the sealed form of an outcome in the store, for other
// processes holding the same refresh cookie.
type refreshRecord struct {
	Kind     outcomeKind `json:"k"`
	SID      string      `json:"s,omitempty"`
	RT       string      `json:"r,omitempty"`
	AuthTime int64       `json:"a,omitempty"`
}

// refresh redeems rc's refresh token once for all concurrent requests
// carrying it: in this process through singleflight, across processes
// through the store's claim and result records (S11, APP-REF-4).
func (k *Kit) refresh(r *http.Request, rc refreshCookie) *refreshOutcome {
	if k.now().Sub(rc.authTime) > k.cfg.ReauthAfter {
		// APP-LIFE-3: the password is due; end the grant instead of using it.
		k.revokeBestEffort(r.Context(), rc.token)
		return &refreshOutcome{kind: outDead}
	}
	ckey := claimKey(rc.token)
	v, _, _ := k.sf.Do(ckey, func() (any, error) {
		// Not tied to the first request: if its browser goes away, the
		// others still need the answer.
		ctx := context.WithoutCancel(r.Context())
		return k.coordinate(ctx, r, rc, ckey), nil
	})
	return v.(*refreshOutcome)
}

// coordinate returns a result another process stored, or claims the right
// to call the IdP, or waits for the process that holds the claim.
func (k *Kit) coordinate(ctx context.Context, r *http.Request, rc refreshCookie, ckey string) *refreshOutcome {
	aead, err := resultAEAD(rc.token)
	if err != nil {
		k.log.Error("appkit: refresh result key", "err", err)
		return &refreshOutcome{kind: outUnavailable}
	}
	// Deadlines on the kit's clock; waited bounds the real time slept too,
	// so a clock that does not move (tests) cannot keep a request here.
	deadline := k.now().Add(k.waitMax)
	delay, waited := 5*time.Millisecond, time.Duration(0)
	for {
		held := k.holdsClaim(ckey)
		if out := k.loadResult(ctx, aead, ckey); out != nil {
			// Our own "IdP unavailable" record is no reason not to try
			// again: we still hold the claim.
			if !(held && out.kind == outUnavailable && out.sealed == "") {
				return out
			}
		}
		if !held {
			got, err := k.store.ClaimRefresh(ctx, ckey, k.instance, k.claimTTL)
			if err != nil {
				k.log.Error("appkit: refresh claim failed", "err", err)
				return &refreshOutcome{kind: outUnavailable}
			}
			if got {
				k.holdClaim(ckey)
				held = true
				// A result may have landed between our read and our claim.
				if out := k.loadResult(ctx, aead, ckey); out != nil && out.kind != outUnavailable {
					k.releaseClaim(ckey)
					return out
				}
			}
		}
		if held {
			return k.redeem(ctx, r, rc, ckey, aead)
		}
		// Another process is refreshing this token: wait for its result.
		if k.now().Add(delay).After(deadline) || waited+delay > k.waitMax {
			k.log.Warn("appkit: gave up waiting for another process's refresh")
			return &refreshOutcome{kind: outUnavailable}
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return &refreshOutcome{kind: outUnavailable}
		}
		waited += delay
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// redeem presents the refresh token to the IdP, creates the new session
// and shares the outcome through the store.
func (k *Kit) redeem(ctx context.Context, r *http.Request, rc refreshCookie, ckey string, aead cipher.AEAD) *refreshOutcome {
	ip := k.clientIP(r)
	// Keep the claim a short lease for as long as this process works on
	// it, so if the process dies the claim lapses within claimTTL and
	// another (or the restarted) process presents the token inside the
	// IdP's grace period (AUD-18).
	stopRenew := k.renewClaim(ctx, ckey)
	tok, err := k.idp.Refresh(ctx, rc.token, ip)
	now := k.now()
	var rec refreshRecord
	out := &refreshOutcome{}
	switch {
	case err == nil:
		authTime := tok.Claims.AuthTime
		if authTime.IsZero() {
			authTime = rc.authTime // APP-REF-5: a refresh is not a login
		}
		if now.Sub(authTime) > k.cfg.ReauthAfter {
			k.revokeBestEffort(ctx, tok.RefreshToken)
			rec, out = refreshRecord{Kind: outDead}, &refreshOutcome{kind: outDead}
			break
		}
		sealed, serr := k.sealRefresh(refreshCookie{token: tok.RefreshToken, authTime: authTime, issued: now})
		if serr != nil {
			k.log.Error("appkit: seal refresh cookie", "err", serr)
			rec, out = refreshRecord{Kind: outUnavailable}, &refreshOutcome{kind: outUnavailable}
			break
		}
		next := refreshCookie{token: tok.RefreshToken, authTime: authTime, issued: now}
		id, sess, cerr := k.createSession(ctx, r, tok, authTime)
		if cerr != nil {
			// The token has rotated: keep the new one even without a session.
			k.log.Error("appkit: create session after refresh", "err", cerr)
			rec = refreshRecord{Kind: outUnavailable, RT: tok.RefreshToken, AuthTime: authTime.Unix()}
			out = &refreshOutcome{kind: outUnavailable, sealed: sealed, next: next}
			break
		}
		k.log.Info("appkit: session refreshed", "user", sess.UserID, "ip", ip)
		rec = refreshRecord{Kind: outOK, SID: id, RT: tok.RefreshToken, AuthTime: authTime.Unix()}
		out = &refreshOutcome{kind: outOK, sid: id, key: sess.Key, sess: sess, sealed: sealed, next: next}
	case errors.Is(err, idpclient.ErrRefreshTokenDead):
		k.log.Info("appkit: refresh token rejected; logging out", "ip", ip, "err", err)
		rec, out = refreshRecord{Kind: outDead}, &refreshOutcome{kind: outDead}
	case errors.Is(err, idpclient.ErrInvalidToken) && tok != nil && tok.RefreshToken != "":
		k.log.Error("appkit: refreshed access token failed verification", "err", err)
		authTime := rc.authTime
		// The rotated token goes into the shared record (the old one is
		// spent); a token too long for a cookie is reported, not dropped
		// silently.
		rec = refreshRecord{Kind: outUnavailable, RT: tok.RefreshToken, AuthTime: authTime.Unix()}
		next := refreshCookie{token: tok.RefreshToken, authTime: authTime, issued: now}
		sealed, serr := k.sealRefresh(next)
		if serr != nil {
			k.log.Error("appkit: seal refresh cookie", "err", serr)
			out = &refreshOutcome{kind: outUnavailable}
			break
		}
		out = &refreshOutcome{kind: outUnavailable, sealed: sealed, next: next}
	default:
		k.log.Warn("appkit: refresh failed; identity server unavailable", "err", err)
		rec, out = refreshRecord{Kind: outUnavailable}, &refreshOutcome{kind: outUnavailable}
	}

	stopRenew()
	ttl := k.cfg.RefreshResultTTL
	if rec.Kind == outUnavailable && rec.RT == "" {
		// Tell other processes for as long as we hold the claim; we keep
		// it and retry ourselves on the next request.
		ttl = max(k.claimRemaining(ckey), time.Second)
	} else {
		defer k.releaseClaim(ckey)
	}
	if blob, err := k.sealRecord(aead, ckey, rec); err != nil {
		k.log.Error("appkit: seal refresh result", "err", err)
	} else if err := k.store.SetRefreshResult(ctx, ckey, blob, ttl); err != nil {
		k.log.Error("appkit: store refresh result", "err", err)
	}
	return out
}

func (k *Kit) sealRecord(aead cipher.AEAD, ckey string, rec refreshRecord) ([]byte, error) {
	pt, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	s, err := seal(aead, pt, []byte(ckey))
	return []byte(s), err
}

// loadResult reads and opens a stored outcome; nil if there is none (or
// it cannot be opened, which only a store fault or forgery causes).
func (k *Kit) loadResult(ctx context.Context, aead cipher.AEAD, ckey string) *refreshOutcome {
	blob, err := k.store.GetRefreshResult(ctx, ckey)
	if err != nil {
		if !errors.Is(err, sessionstore.ErrNotFound) {
			k.log.Warn("appkit: read refresh result", "err", err)
		}
		return nil
	}
	pt, err := open(aead, string(blob), []byte(ckey))
	if err != nil {
		k.log.Warn("appkit: refresh result does not open")
		return nil
	}
	var rec refreshRecord
	if err := json.Unmarshal(pt, &rec); err != nil {
		return nil
	}
	out := &refreshOutcome{kind: rec.Kind}
	if rec.RT != "" {
		out.next = refreshCookie{token: rec.RT, authTime: time.Unix(rec.AuthTime, 0), issued: k.now()}
		s, err := k.sealRefresh(out.next)
		if err != nil {
			k.log.Error("appkit: seal refresh cookie from a stored result", "err", err)
			return nil
		}
		out.sealed = s
	}
	switch rec.Kind {
	case outOK:
		raw, err := base64.RawURLEncoding.DecodeString(rec.SID)
		if err != nil || len(raw) != sidBytes || out.sealed == "" {
			return nil
		}
		out.sid, out.key = rec.SID, storeKey((*[sidBytes]byte)(raw))
	case outDead, outUnavailable:
	default:
		return nil
	}
	return out
}

// holdClaim records that this process holds the store claim for ckey.
func (k *Kit) holdClaim(ckey string) {
	k.heldMu.Lock()
	defer k.heldMu.Unlock()
	now := k.now()
	for c, until := range k.heldClaims { // drop stale entries as we go
		if !now.Before(until) {
			delete(k.heldClaims, c)
		}
	}
	// Stop using the claim a little before the store lets it go.
	k.heldClaims[ckey] = now.Add(k.claimTTL - k.claimTTL/3)
}

// renewClaim renews this process's claim on ckey every claimTTL/3 until
// the returned stop is called. A renewal the store refuses (the lease
// lapsed and another process took it) is only logged: both then present
// the same token inside the IdP's grace period, which answers both.
func (k *Kit) renewClaim(ctx context.Context, ckey string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(k.claimTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ok, err := k.store.ClaimRefresh(ctx, ckey, k.instance, k.claimTTL)
			switch {
			case err != nil:
				k.log.Warn("appkit: renewing the refresh claim failed", "err", err)
			case !ok:
				k.log.Warn("appkit: refresh claim lapsed while refreshing")
			default:
				k.holdClaim(ckey)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func (k *Kit) holdsClaim(ckey string) bool {
	k.heldMu.Lock()
	defer k.heldMu.Unlock()
	until, ok := k.heldClaims[ckey]
	return ok && k.now().Before(until)
}

func (k *Kit) claimRemaining(ckey string) time.Duration {
	k.heldMu.Lock()
	defer k.heldMu.Unlock()
	return k.heldClaims[ckey].Sub(k.now())
}

func (k *Kit) releaseClaim(ckey string) {
	k.heldMu.Lock()
	defer k.heldMu.Unlock()
	delete(k.heldClaims, ckey)
}

// revokeBestEffort revokes a refresh token at the IdP, logging failures.
func (k *Kit) revokeBestEffort(ctx context.Context, rt string) {
	if rt == "" {
		return
	}
	if err := k.idp.Revoke(context.WithoutCancel(ctx), rt); err != nil {
		k.log.Warn("appkit: refresh token revocation failed", "err", err)
	}
}

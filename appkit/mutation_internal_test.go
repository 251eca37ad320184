package appkit

// Internal tests added from mutation testing (gremlins) of the app kit.

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
)

// APP-RED-1: the next-path length cap is inclusive at maxNext.
func TestSafeNextLengthCap_APP_RED_1(t *testing.T) {
	at := "/" + strings.Repeat("a", maxNext-1)
	if got := SafeNext(at, "/"); got != at {
		t.Errorf("SafeNext(%d bytes) = %d bytes, want it kept", len(at), len(got))
	}
	if got := SafeNext(at+"a", "/"); got != "/" {
		t.Errorf("SafeNext(%d bytes) = %d bytes, want the fallback", len(at)+1, len(got))
	}
}

// lateResultStore is a store where another process's refresh result lands
// right after this process wins the claim.
type lateResultStore struct {
	sessionstore.Store
	land func(ctx context.Context, key string)
}

func (s *lateResultStore) ClaimRefresh(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	got, err := s.Store.ClaimRefresh(ctx, key, owner, ttl)
	if got && err == nil {
		s.land(ctx, key)
	}
	return got, err
}

// S11, APP-REF-4, AUD-18: a result another process stored between this
// process's read and its claim is used as it is: the token it names is
// spent, presenting it again would be reuse (the IdP revokes the family).
// Here that result is "dead", and the IdP (unreachable) must not be asked.
func TestRefreshUsesResultThatLandedBeforeTheClaim_APP_REF_4(t *testing.T) {
	ms := memstore.New(memstore.Config{})
	defer ms.Close()
	st := &lateResultStore{Store: ms}
	k, err := New(Config{IdP: benchIdP(t), Store: st, SealKey: make([]byte, 32), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	st.land = func(ctx context.Context, key string) {
		aead, err := resultAEAD("rt")
		if err != nil {
			t.Fatal(err)
		}
		blob, err := k.sealRecord(aead, key, refreshRecord{Kind: outDead})
		if err != nil {
			t.Fatal(err)
		}
		if err := ms.SetRefreshResult(ctx, key, blob, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	out := k.refresh(httptest.NewRequest("GET", "/", nil), refreshCookie{token: "rt", authTime: now, issued: now})
	if out.kind != outDead {
		t.Fatalf("outcome %v, want the stored dead result (%v)", out.kind, outDead)
	}
}

// APP-CK-2: the refresh-token bound for the sealed cookie is inclusive: a
// 2,048-byte token seals (and opens again, under 4,096 bytes of cookie),
// one byte more is refused.
func TestSealRefreshTokenBound_APP_CK_2(t *testing.T) {
	ms := memstore.New(memstore.Config{})
	defer ms.Close()
	k, err := New(Config{IdP: benchIdP(t), Store: ms, SealKey: make([]byte, 32), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok := strings.Repeat("r", maxRefreshToken)
	v, err := k.sealRefresh(refreshCookie{token: tok, authTime: now, issued: now})
	if err != nil {
		t.Fatalf("seal %d-byte token: %v", len(tok), err)
	}
	if rc, err := k.openRefresh(v); err != nil || rc.token != tok || len(v) >= 4096 {
		t.Fatalf("open: %v, token kept %v, cookie %d bytes", err, rc.token == tok, len(v))
	}
	if _, err := k.sealRefresh(refreshCookie{token: tok + "r", authTime: now, issued: now}); err == nil {
		t.Fatalf("sealed a %d-byte token", len(tok)+1)
	}
	// The device token's bound is the same, inclusive.
	dev := strings.Repeat("d", maxDeviceToken)
	if dv, err := k.sealDevice(dev); err != nil || k.openDevice(dv) != dev {
		t.Fatalf("seal %d-byte device token: %v", len(dev), err)
	}
	if _, err := k.sealDevice(dev + "d"); err == nil {
		t.Fatalf("sealed a %d-byte device token", len(dev)+1)
	}
	// An authentic cookie that carries no token opens as invalid, so
	// nothing presents an empty refresh token.
	v, err = k.sealRefresh(refreshCookie{authTime: now, issued: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.openRefresh(v); err == nil {
		t.Fatal("a sealed cookie without a token opened")
	}
}

// APP-CK-4: the server-side refresh-cookie age limit is inclusive: a
// cookie exactly RefreshCookieMaxAge old opens, one second older does not.
func TestRefreshCookieMaxAgeBoundary_APP_CK_4(t *testing.T) {
	ms := memstore.New(memstore.Config{})
	defer ms.Close()
	t0 := time.Unix(1_700_000_000, 0)
	now := t0
	k, err := New(Config{IdP: benchIdP(t), Store: ms, SealKey: make([]byte, 32), Logger: discardLogger(),
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	v, err := k.sealRefresh(refreshCookie{token: "rt", authTime: t0, issued: t0})
	if err != nil {
		t.Fatal(err)
	}
	now = t0.Add(k.cfg.RefreshCookieMaxAge)
	if _, err := k.openRefresh(v); err != nil {
		t.Fatalf("cookie exactly RefreshCookieMaxAge old: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := k.openRefresh(v); err == nil {
		t.Fatal("cookie RefreshCookieMaxAge + 1 s old opened")
	}
}

// Sealed cookies (C-2): open refuses any value shorter than version, nonce and tag
// with errSealed (a forged short cookie must not panic the handler), and
// opens an authentic value of exactly that length (empty plaintext).
func TestOpenShortForgedValues(t *testing.T) {
	a, err := newAEAD(make([]byte, 32), "test")
	if err != nil {
		t.Fatal(err)
	}
	n, o := a.NonceSize(), a.Overhead()
	for _, l := range []int{1, 2, n, 1 + n, 1 + n + o - 1} {
		raw := make([]byte, l)
		raw[0] = sealVersion
		if _, err := open(a, base64.RawURLEncoding.EncodeToString(raw), nil); err != errSealed {
			t.Errorf("%d-byte value: %v, want errSealed", l, err)
		}
	}
	v, err := seal(a, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := open(a, v, nil); err != nil || len(pt) != 0 {
		t.Errorf("authentic empty value: %q, %v", pt, err)
	}
}

package main

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestHistQuantiles(t *testing.T) {
	var h hist
	// 1..1000 µs, one each: p50 ≈ 500 µs, p99 ≈ 990 µs.
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {0, time.Microsecond}} {
		got := h.quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d < -0.02 || d > 0.02 {
			t.Errorf("quantile(%v) = %v, want %v ± 2%%", c.q, got, c.want)
		}
	}
	// Every bucket's lower bound maps back to that bucket.
	for b := range len(h.counts) - 1 {
		if got := bucketOf(lowerBound(b)); got != b {
			t.Fatalf("bucketOf(lowerBound(%d)) = %d", b, got)
		}
		if lowerBound(b+1) <= lowerBound(b) {
			t.Fatalf("bounds not increasing at %d", b)
		}
	}
}

// A token shaped like the IdP's (header and claim names as it issues them).
const idpLikeToken = `{"alg":"ES256","gty":["password"],"kid":"6b494514-088b-4e3a-8c1a-ffdf604581ac","typ":"at+jwt"}` +
	`|{"iss":"http://127.0.0.1:33911","sub":"c43df543-9f1c-4309-a26f-5eec6fee71fc","aud":"c083c563-3dc3-4367-8b9d-9b7c2fb6c49e","exp":1795649695,"iat":1795648795,"jti":"717b472c-9eff-4178-9f75-58ec42948eaf","applicationId":"c083c563-3dc3-4367-8b9d-9b7c2fb6c49e","authenticationType":"PASSWORD","auth_time":1795648795,"email":"jane.doe123@example.com","email_verified":false,"roles":["customer"],"scope":"offline_access","sid":"2b32f7b6-2f6f-4902-a5ff-25f0f1cdf97c"}`

func encodeToken(t *testing.T) string {
	t.Helper()
	h, p, _ := strings.Cut(idpLikeToken, "|")
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(h)) + "." + enc.EncodeToString([]byte(p)) + "." + enc.EncodeToString(make([]byte, 64))
}

func TestFactoryMakesAppkitSessions(t *testing.T) {
	for _, small := range []bool{false, true} {
		f, err := newFactory(encodeToken(t), time.Hour, small)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		s1, d1, err := f.make(1, now)
		if err != nil {
			t.Fatal(err)
		}
		s2, _, err := f.make(2, now)
		if err != nil {
			t.Fatal(err)
		}
		if s1.Key != hex.EncodeToString(d1[:]) || len(s1.Key) != 2*sha256.Size {
			t.Errorf("key %q is not the hex digest", s1.Key)
		}
		if s1.Key == s2.Key || s1.UserID == s2.UserID || s1.AccessToken == s2.AccessToken {
			t.Error("two sessions share a key, user or token")
		}
		parts := strings.Split(s1.AccessToken, ".")
		if len(parts) != 3 {
			t.Fatalf("token %q is not a compact JWS", s1.AccessToken)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if string(payload) != string(s1.Claims) {
			t.Error("claims are not the token's payload byte for byte")
		}
		var c map[string]any
		if err := json.Unmarshal(s1.Claims, &c); err != nil {
			t.Fatal(err)
		}
		if c["sub"] != s1.UserID || c["email"] != "user0000001@example.com" || c["jti"] == "717b472c-9eff-4178-9f75-58ec42948eaf" {
			t.Errorf("claims not substituted: %s", s1.Claims)
		}
		if exp := int64(c["exp"].(float64)); exp != s1.AccessTokenExpiry.Unix() || exp <= now.Unix() {
			t.Errorf("exp %d, AccessTokenExpiry %v", exp, s1.AccessTokenExpiry)
		}
		_, hasApp := c["applicationId"]
		if hasApp == small {
			t.Errorf("small=%v: applicationId present=%v", small, hasApp)
		}
		// The signature is a real ES256 signature by the factory's key.
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(&f.key.PublicKey, sum[:], r, s) {
			t.Error("signature does not verify")
		}
		n := len(s1.AccessToken)
		if small && (n < 560 || n > 640) || !small && (n < 780 || n > 860) {
			t.Errorf("small=%v: token is %d B", small, n)
		}
	}
}

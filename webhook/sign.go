package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Header names of a delivery.
const (
	HeaderTimestamp = "X-Gatehouse-Timestamp"
	HeaderSignature = "X-Gatehouse-Signature"
	// signaturePrefix names the MAC algorithm in the signature header.
	signaturePrefix = "sha256="
)

// Verification errors. ErrMalformed means the request is not a signed
// delivery at all (400); ErrBadSignature and ErrStale mean it is not
// authentic or not fresh (401).
var (
	ErrMalformed    = errors.New("webhook: missing or malformed signature headers")
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: timestamp outside the accepted window")
)

// mac computes HMAC-SHA256(secret, ts + "." + body).
func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the timestamp and signature header values for body sent at
// t under secret.
func Sign(secret []byte, t time.Time, body []byte) (timestamp, signature string) {
	ts := strconv.FormatInt(t.Unix(), 10)
	return ts, signaturePrefix + hex.EncodeToString(mac(secret, ts, body))
}

// Verify checks a delivery's headers against body: the MAC must match
// under secret (compared in constant time) and the timestamp must lie
// within tolerance of now, in either direction.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if timestamp == "" || len(timestamp) > 20 || signature == "" {
		return ErrMalformed
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || sec <= 0 {
		return ErrMalformed
	}
	hexSig, ok := strings.CutPrefix(signature, signaturePrefix)
	if !ok || len(hexSig) != 2*sha256.Size {
		return ErrMalformed
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrMalformed
	}
	if !hmac.Equal(got, mac(secret, timestamp, body)) {
		return ErrBadSignature
	}
	d := now.Sub(time.Unix(sec, 0))
	if d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

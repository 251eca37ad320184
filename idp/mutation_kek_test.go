package idp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// TestAUD12_ParseKEKBothAlphabets: a KEK file in standard base64 (with
// '+' and '/') and the same key in URL-safe base64 (with '-' and '_')
// name the same KEK, so the operator's key opens the signing keys whichever
// tool wrote the file (AUD-12).
func TestAUD12_ParseKEKBothAlphabets(t *testing.T) {
	key := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:idp.KEKSize] // encodes to "+/+/" and "-_-_"
	want, err := idp.NewKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	std, url := base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key)
	if !strings.ContainsAny(std, "+/") || !strings.ContainsAny(url, "-_") {
		t.Fatalf("setup: %q %q", std, url)
	}
	for _, text := range []string{std, url, strings.TrimRight(std, "="), url + "=\n"} {
		k, err := idp.ParseKEK(text)
		if err != nil || k.ID() != want.ID() {
			t.Errorf("ParseKEK(%q): %v, %v; want KEK %s", text, k, err, want.ID())
		}
	}
}

// TestAUD12_DamagedSealedKeysRefused: a stored key that starts like a
// sealed one but is cut short or names a KEK id longer than itself makes
// the IdP refuse to start with an error, never panic and never treat it
// as a plaintext key (AUD-12).
func TestAUD12_DamagedSealedKeysRefused(t *testing.T) {
	for _, damaged := range []string{"GHKEK", "GHKEK\x01", "GHKEK\x01\x05ab", "GHKEK\x01\x10" + strings.Repeat("k", 15)} {
		st := openSQLite(t)
		kek := newKEK(t)
		if err := st.CreateSigningKey(context.Background(), &store.SigningKey{ID: "damaged", Algorithm: idp.AlgES256,
			PrivateKey: []byte(damaged), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%q: panic %v", damaged, p)
				}
			}()
			if _, err := newServer(t, st, kek); err == nil {
				t.Errorf("%q: the IdP started on a damaged key", damaged)
			}
		}()
	}
}

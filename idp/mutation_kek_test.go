package idp_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp"
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

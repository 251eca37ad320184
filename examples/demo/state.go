package demo

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

// Info is the content of DIR/demo.json, in the shape design §6 fixes.
type Info struct {
	IdP    string `json:"idp"`
	Store  string `json:"store"`
	Forums string `json:"forums"`
	// Mailbox is the web page of the demo's mailbox: every mail the IdP
	// sent (GET {mailbox}/messages.json for scripts).
	Mailbox      string       `json:"mailbox"`
	APIKey       string       `json:"apiKey"`
	Applications Applications `json:"applications"`
	Users        []User       `json:"users"`
}

// Applications are the two OAuth clients.
type Applications struct {
	Store  Credentials `json:"store"`
	Forums Credentials `json:"forums"`
}

// Credentials are an application's client id and secret.
type Credentials struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// User is a demo account.
type User struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// appSecrets are what an app needs besides its client credentials; they
// live in DIR/secrets.json so restarts keep refresh cookies and webhooks
// working.
type appSecrets struct {
	// SealKey seals the app's refresh cookie (base64url of 32 bytes).
	SealKey string `json:"sealKey"`
	// WebhookSecret is the HMAC key of the app's revocation webhook.
	WebhookSecret string `json:"webhookSecret"`
	// APIKey lets the app revoke a user's tokens at the IdP ("sign out
	// everywhere").
	APIKey string `json:"apiKey"`
}

type secrets struct {
	Store  appSecrets `json:"store"`
	Forums appSecrets `json:"forums"`
}

// File names inside the demo directory.
const (
	InfoFile    = "demo.json"
	secretsFile = "secrets.json"
	// KEKFile is the IdP's key-encryption key (base64, mode 0600).
	KEKFile = "kek"
)

// readJSON reads path into v; false when the file does not exist.
func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s is not valid JSON (delete it to start over): %w", path, err)
	}
	return true, nil
}

// writeJSON writes v to path atomically (temp file, fsync, rename), 0600:
// the files hold passwords and secrets.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// randomKey returns n random bytes, base64url.
func randomKey(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// words make the demo passphrases: four words and two digits, e.g.
// "amber-otter-violet-canyon-42" (about 30 bits; the demo is loopback-only).
var words = strings.Fields(`amber anchor aspen badger beacon birch bison bramble canyon cedar cobalt comet
coral cricket dune ember falcon fern fjord garnet glacier harbor hazel heron indigo iris juniper kestrel
lagoon lantern maple meadow nectar oak orchid otter pebble pine plum quartz raven river saffron sage
spruce summit thistle tide topaz tundra umber velvet violet walnut willow wren yarrow zephyr zinnia`)

// passphrase returns a random passphrase of at least 15 characters.
func passphrase() string {
	pick := func(n int) int {
		v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
		return int(v.Int64())
	}
	parts := make([]string, 0, 5)
	for i := 0; i < 4; i++ {
		parts = append(parts, words[pick(len(words))])
	}
	parts = append(parts, fmt.Sprintf("%02d", pick(100)))
	return strings.Join(parts, "-")
}

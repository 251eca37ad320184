package idp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KEKSize is the size of a key-encryption key: 32 bytes, AES-256.
const KEKSize = 32

// KEK is a key-encryption key: the operator's secret that seals the
// private signing keys in the database (AUD-12, IDP-TOK-7: the key that
// protects them stays outside the database), so a copy of the database
// or of a backup alone cannot sign tokens. Create one with NewKEK,
// ParseKEK or LoadKEKFile; it is safe for concurrent use.
type KEK struct {
	id   string
	aead cipher.AEAD
}

// NewKEK makes a KEK from 32 secret random bytes.
func NewKEK(key []byte) (*KEK, error) {
	if len(key) != KEKSize {
		return nil, fmt.Errorf("key-encryption key: %d bytes, want %d", len(key), KEKSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	// The id names the KEK in sealed keys and error messages without
	// revealing it: a domain-separated hash, 64 bits, hex.
	sum := sha256.Sum256(append([]byte("gatehouse kek id\x00"), key...))
	return &KEK{id: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// GenerateKEK returns a new random KEK and its text form (base64).
func GenerateKEK() (*KEK, string, error) {
	key := make([]byte, KEKSize)
	if _, err := rand.Read(key); err != nil {
		return nil, "", fmt.Errorf("key-encryption key: %w", err)
	}
	k, err := NewKEK(key)
	if err != nil {
		return nil, "", err
	}
	return k, base64.StdEncoding.EncodeToString(key), nil
}

// ParseKEK reads a KEK's text form: 32 bytes in standard or URL base64
// (padding optional), surrounding white space ignored. This is the format
// of a KEK file, e.g. made with `head -c 32 /dev/urandom | base64`.
func ParseKEK(text string) (*KEK, error) {
	s := strings.TrimRight(strings.TrimSpace(text), "=")
	var key []byte
	var err error
	if strings.ContainsAny(s, "-_") {
		key, err = base64.RawURLEncoding.DecodeString(s)
	} else {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New("key-encryption key: not base64 of 32 bytes")
	}
	return NewKEK(key)
}

// LoadKEKFile reads a KEK file (see ParseKEK).
func LoadKEKFile(path string) (*KEK, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key-encryption key: %w", err)
	}
	k, err := ParseKEK(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateKEKFile reads the KEK file at path, or creates it (mode
// 0600, never overwriting a file that appeared meanwhile) with a new
// random KEK when it does not exist. created reports which happened.
func LoadOrCreateKEKFile(path string) (k *KEK, created bool, err error) {
	k, err = LoadKEKFile(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return k, false, err
	}
	k, text, err := GenerateKEK()
	if err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("create key-encryption key file: %w", err)
	}
	// Chmod: the umask could have taken away the owner's read bit.
	_, err = f.WriteString(text + "\n")
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, false, fmt.Errorf("write key-encryption key file: %w", err)
	}
	return k, true, nil
}

// ID is the KEK's fingerprint: 16 hex digits derived from the key, recorded
// in every key it seals.
func (k *KEK) ID() string { return k.id }

// Sealed private keys have this layout (all of it authenticated):
//
//	"GHKEK" version(1 byte, = 1) len(kekID)(1 byte) kekID nonce(12) ciphertext||tag
//
// with AES-256-GCM over the PKCS#8 DER and, as additional data, the header
// above followed by the signing key's id and algorithm, so a sealed key
// cannot be moved to another row or relabelled. PKCS#8 DER starts with
// 0x30, so sealed and legacy plaintext keys cannot be confused.
const (
	sealMagic   = "GHKEK"
	sealVersion = 1
)

// sealedKEKID returns the id of the KEK that sealed b, and whether b is a
// sealed key at all.
func sealedKEKID(b []byte) (string, bool) {
	if len(b) < len(sealMagic)+2 || !bytes.HasPrefix(b, []byte(sealMagic)) {
		return "", false
	}
	n := int(b[len(sealMagic)+1])
	if len(b) < len(sealMagic)+2+n {
		return "", true
	}
	return string(b[len(sealMagic)+2 : len(sealMagic)+2+n]), true
}

func sealAAD(header []byte, kid, alg string) []byte {
	aad := append([]byte(nil), header...)
	aad = append(aad, kid...)
	aad = append(aad, 0)
	return append(aad, alg...)
}

// seal encrypts a signing key's PKCS#8 DER for storage.
func (k *KEK) seal(der []byte, kid, alg string) ([]byte, error) {
	header := append([]byte(sealMagic), sealVersion, byte(len(k.id)))
	header = append(header, k.id...)
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal signing key: %w", err)
	}
	out := append(append([]byte(nil), header...), nonce...)
	return k.aead.Seal(out, nonce, der, sealAAD(header, kid, alg)), nil
}

// open decrypts a sealed key written by seal.
func (k *KEK) open(b []byte, kid, alg string) ([]byte, error) {
	hl := len(sealMagic) + 2 + len(k.id)
	if len(b) < hl+k.aead.NonceSize()+k.aead.Overhead() {
		return nil, errors.New("sealed key too short")
	}
	if b[len(sealMagic)] != sealVersion {
		return nil, fmt.Errorf("sealed key format version %d not supported", b[len(sealMagic)])
	}
	header, rest := b[:hl], b[hl:]
	nonce, ct := rest[:k.aead.NonceSize()], rest[k.aead.NonceSize():]
	der, err := k.aead.Open(nil, nonce, ct, sealAAD(header, kid, alg))
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt with key-encryption key %s (wrong key or damaged data)", k.id)
	}
	return der, nil
}

// kekSet is the configured KEKs: the first seals, all of them open.
type kekSet []*KEK

// ids lists the KEK ids for error messages.
func (ks kekSet) ids() string {
	if len(ks) == 0 {
		return "none"
	}
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.id
	}
	return strings.Join(out, ", ")
}

// privateKeyDER returns the PKCS#8 DER of a stored key: opened with the
// KEK whose id it records, or as is for a legacy plaintext key.
func (ks kekSet) privateKeyDER(stored []byte, kid, alg string) (der []byte, sealed bool, err error) {
	id, sealed := sealedKEKID(stored)
	if !sealed {
		return stored, false, nil
	}
	if id == "" {
		return nil, true, errors.New("malformed sealed key")
	}
	for _, k := range ks {
		if k.id == id {
			der, err := k.open(stored, kid, alg)
			return der, true, err
		}
	}
	return nil, true, fmt.Errorf("encrypted with key-encryption key %s, which was not given (given: %s); pass its KEK file", id, ks.ids())
}

// Package password owns password hashing, verification and the password
// policy of the Gatehouse identity server.
//
// New passwords are hashed with argon2id (OWASP parameters by default) and
// stored as PHC strings. Verify also understands hashes imported from
// FusionAuth (salted-pbkdf2-hmac-sha256 and bcrypt, see ImportFusionAuth) and
// reports when a stored hash should be replaced on a successful login.
// Every hashing operation goes through a bounded semaphore so that a flood
// of logins queues instead of allocating argon2id's memory many times over.
//
// Check refuses new passwords that are common or built from the account's
// context (NIST SP 800-63B; IDP-HASH-6): the most common breached passwords
// from a list compiled into the binary (common_passwords.txt: 49,233
// passwords of the xato.net ten-million-password corpus, as shipped by the
// zxcvbn-ts project in the npm package @zxcvbn-ts/language-common 4.1.3,
// MIT License) and passwords made of the service name or the user's email.
// It never calls out to a breach service.
//
// The package does not know about users, accounts or storage: callers look
// the encoded hash up, pass it in, and store whatever Hash returns. It
// applies no pepper (IDP-HASH-3).
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Default parameters. The argon2id ones are OWASP's first recommendation
// (m=19 MiB, t=2, p=1), which IDP-HASH-1 requires as a minimum.
const (
	DefaultMemory    uint32 = 19456 // KiB
	DefaultTime      uint32 = 2
	DefaultThreads   uint8  = 1
	DefaultMinLength        = 15   // code points (IDP-HASH-4, C-4)
	DefaultMaxBytes         = 1024 // bytes (IDP-HASH-5)
)

// Sizes of what Hash generates (IDP-HASH-2: 16-byte random salt per hash).
const (
	saltLen = 16
	keyLen  = 32
)

// Sentinel errors. Returned errors wrap them, so test with errors.Is.
var (
	// ErrTooShort means the password has fewer code points than MinLength.
	ErrTooShort = errors.New("password: too short")
	// ErrTooLong means the password has more bytes than MaxBytes.
	ErrTooLong = errors.New("password: too long")
	// ErrUnknownScheme means an encoded hash or an import names a hashing
	// scheme this package does not support.
	ErrUnknownScheme = errors.New("password: unknown hash scheme")
	// ErrMalformedHash means an encoded hash of a supported scheme could not
	// be parsed, or asks for more work than this package is willing to do.
	ErrMalformedHash = errors.New("password: malformed hash encoding")
)

// Params configures a Hasher. Zero (or negative) fields take the defaults.
type Params struct {
	Memory  uint32 // argon2id memory in KiB; default 19456 (OWASP)
	Time    uint32 // argon2id passes; default 2
	Threads uint8  // argon2id lanes; default 1

	MinLength     int // minimum length in Unicode code points; default 15 (IDP-HASH-4, C-4)
	MaxBytes      int // maximum accepted input in bytes; default 1024 (IDP-HASH-5)
	MaxConcurrent int // hashing operations allowed at once; default runtime.GOMAXPROCS(0)
}

// withDefaults returns p with every unset field filled in.
func (p Params) withDefaults() Params {
	if p.Memory == 0 {
		p.Memory = DefaultMemory
	}
	if p.Time == 0 {
		p.Time = DefaultTime
	}
	if p.Threads == 0 {
		p.Threads = DefaultThreads
	}
	// argon2 needs 8 KiB per lane; other implementations reject less, so
	// never write a PHC string they could not verify.
	if min := 8 * uint32(p.Threads); p.Memory < min {
		p.Memory = min
	}
	if p.MinLength <= 0 {
		p.MinLength = DefaultMinLength
	}
	if p.MaxBytes <= 0 {
		p.MaxBytes = DefaultMaxBytes
	}
	if p.MaxConcurrent <= 0 {
		p.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	return p
}

// Hasher hashes and verifies passwords and applies the password policy.
// It is safe for concurrent use; create one per process and share it, since
// the concurrency bound only holds among callers of the same Hasher.
type Hasher struct {
	p Params
	// sem bounds the hashing operations in flight: argon2id at default
	// parameters allocates 19 MiB each, so unbounded parallel logins could
	// exhaust memory. A buffered channel lets waiters honour ctx.
	sem chan struct{}
	// dummy is an argon2id encoding with the current parameters and a
	// random key nobody's password derives, verified by VerifyDummy.
	dummy string
	// onWait, when set (tests only), runs when an operation is about to
	// block because every slot is taken.
	onWait func()
}

// NewHasher returns a Hasher with p's parameters; zero fields take defaults.
func NewHasher(p Params) *Hasher {
	p = p.withDefaults()
	h := &Hasher{p: p, sem: make(chan struct{}, p.MaxConcurrent)}
	salt := make([]byte, saltLen)
	key := make([]byte, keyLen)
	rand.Read(salt) // crypto/rand.Read never fails (it crashes the program instead)
	rand.Read(key)
	h.dummy = encodeArgon2id(p.Memory, p.Time, p.Threads, salt, key)
	return h
}

// Params returns the effective parameters (defaults filled in).
func (h *Hasher) Params() Params { return h.p }

// Validate applies the password policy (IDP-HASH-4, IDP-HASH-5): it returns
// an error wrapping ErrTooLong when pw has more than MaxBytes bytes and one
// wrapping ErrTooShort when it has fewer than MinLength Unicode code points.
// There are no composition rules and any character is allowed; the password
// is not normalised, trimmed or case-folded.
func (h *Hasher) Validate(pw string) error {
	if len(pw) > h.p.MaxBytes {
		return fmt.Errorf("%w: at most %d bytes allowed", ErrTooLong, h.p.MaxBytes)
	}
	if utf8.RuneCountInString(pw) < h.p.MinLength {
		return fmt.Errorf("%w: at least %d characters required", ErrTooShort, h.p.MinLength)
	}
	return nil
}

// Hash derives an argon2id hash of pw with the hasher's parameters, a fresh
// 16-byte random salt and a 32-byte key, and returns it as a PHC string:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt, base64 raw std>$<key, base64 raw std>
//
// Hash does not apply the length policy (call Validate for that) except that
// it refuses inputs over MaxBytes with an error wrapping ErrTooLong, so no
// caller can be made to hash megabytes. If ctx ends while waiting for a
// hashing slot, Hash returns an error wrapping ctx.Err(); once hashing has
// started it runs to completion.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if len(pw) > h.p.MaxBytes {
		return "", fmt.Errorf("password: hash: %w: at most %d bytes allowed", ErrTooLong, h.p.MaxBytes)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: hash: reading salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", fmt.Errorf("password: hash: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, h.p.Time, h.p.Memory, h.p.Threads, keyLen)
	h.release()
	return encodeArgon2id(h.p.Memory, h.p.Time, h.p.Threads, salt, key), nil
}

// Verify checks pw against encoded, a hash of any supported scheme
// (argon2id PHC strings, bcrypt, and FusionAuth pbkdf2 encodings made by
// ImportFusionAuth), comparing derived keys in constant time. The password
// is used exactly as given: no truncation, trimming or case folding.
//
// err is non-nil only when encoded cannot be used (it wraps ErrUnknownScheme
// or ErrMalformedHash) or ctx ended while waiting for a hashing slot (it
// wraps ctx.Err()); in both cases ok is false. A wrong password is ok=false
// with a nil error.
//
// A pw longer than MaxBytes returns ok=false and a nil error at once,
// without hashing (IDP-HASH-5: nobody can make the server hash megabytes);
// so does a pw over 72 bytes against a bcrypt hash, because bcrypt would
// silently ignore everything after byte 72.
//
// needsRehash is true when ok and the encoding is not argon2id with the
// hasher's current parameters (m, t, p, 16-byte salt, 32-byte key): the
// caller should then store Hash(pw) (rehash on login, IDP-HASH-2). It is
// always false when ok is false.
//
// To bound the work a corrupt or hostile stored hash can cause, argon2id
// encodings asking for more than 16 times the hasher's memory or time are
// refused with ErrMalformedHash, as are bcrypt costs over 16 and pbkdf2
// iteration counts over 5,000,000.
func (h *Hasher) Verify(ctx context.Context, encoded, pw string) (ok, needsRehash bool, err error) {
	d, err := parse(encoded)
	if err != nil {
		return false, false, fmt.Errorf("password: verify: %w", err)
	}
	if d.scheme == SchemeArgon2id {
		if uint64(d.memory) > maxArgon2Factor*uint64(h.p.Memory) || uint64(d.time) > maxArgon2Factor*uint64(h.p.Time) {
			return false, false, fmt.Errorf("password: verify: %w: argon2id cost m=%d,t=%d exceeds %d times the configured m=%d,t=%d",
				ErrMalformedHash, d.memory, d.time, maxArgon2Factor, h.p.Memory, h.p.Time)
		}
	}
	if len(pw) > h.p.MaxBytes {
		return false, false, nil
	}
	if d.scheme == SchemeBcrypt && len(pw) > bcryptMaxBytes {
		return false, false, nil
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, fmt.Errorf("password: verify: %w", err)
	}
	ok, err = d.check(pw)
	h.release()
	if err != nil || !ok {
		return false, false, err
	}
	return true, !h.isCurrent(d), nil
}

// VerifyDummy does the same work as Verify of pw against an argon2id hash
// with the hasher's current parameters, and discards the result. Call it
// when the account does not exist, so that unknown and known users take
// the same time and the same hashing slot (IDP-BF-4). Like Verify it does
// nothing for a pw longer than MaxBytes, and returns early if ctx ends while
// waiting for a slot.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) {
	// The error can only be the ctx one, and the result is meaningless.
	_, _, _ = h.Verify(ctx, h.dummy, pw)
}

// isCurrent reports whether d is what Hash would produce today.
func (h *Hasher) isCurrent(d *decoded) bool {
	return d.scheme == SchemeArgon2id &&
		d.memory == h.p.Memory && d.time == h.p.Time && d.threads == h.p.Threads &&
		len(d.salt) == saltLen && len(d.key) == keyLen
}

// acquire takes a hashing slot, waiting until one is free or ctx ends.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("waiting for a hashing slot: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	if h.onWait != nil {
		h.onWait()
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for a hashing slot: %w", ctx.Err())
	}
}

// release frees a slot taken by acquire.
func (h *Hasher) release() { <-h.sem }

// constantTimeEqual compares two digests without leaking where they differ.
func constantTimeEqual(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

// b64 returns the PHC encoding of salts and keys: standard alphabet, no
// padding, unused bits must be zero.
func b64() *base64.Encoding { return base64.RawStdEncoding.Strict() }

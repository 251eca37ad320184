package password

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Scheme names reported by Inspect. They are also the identifiers between
// the first two '$' of an encoding, except bcrypt ("$2a$", "$2b$", "$2y$").
const (
	SchemeArgon2id = "argon2id"
	SchemeBcrypt   = "bcrypt"
	// SchemeFAPBKDF2SHA256 is FusionAuth's salted-pbkdf2-hmac-sha256,
	// encoded by ImportFusionAuth as
	//
	//	$fa-pbkdf2-sha256$i=<factor>$<salt as exported>$<hash as exported>
	//
	// where salt and hash are FusionAuth's standard (padded) base64 strings,
	// kept byte for byte so the encoding can be traced back to the export.
	SchemeFAPBKDF2SHA256 = "fa-pbkdf2-sha256"
)

// Limits on what an encoding may ask for. Stored hashes are trusted more
// than request input, but a corrupt row or a hostile import must not be
// able to make a login take minutes or allocate gigabytes, nor panic.
const (
	bcryptMaxBytes      = 72 // bcrypt ignores input past this (IDP-HASH-5)
	maxBcryptCost       = 16 // ~5 s per check on the reference machine
	maxPBKDF2Iterations = 5_000_000
	maxPBKDF2SaltBytes  = 1024
	pbkdf2KeyLen        = 32 // FusionAuth salted-pbkdf2-hmac-sha256 is a 256-bit key
	minArgon2SaltBytes  = 8  // RFC 9106 §3.1
	maxArgon2SaltBytes  = 64
	minArgon2KeyBytes   = 16
	maxArgon2KeyBytes   = 128
	maxArgon2Factor     = 16 // Verify: encoded m and t at most 16× the hasher's
)

// Info describes an encoded hash, as returned by Inspect. Only the fields
// of its scheme are set.
type Info struct {
	Scheme string // SchemeArgon2id, SchemeBcrypt or SchemeFAPBKDF2SHA256

	Memory  uint32 // argon2id memory in KiB
	Time    uint32 // argon2id passes
	Threads uint8  // argon2id lanes

	Iterations int // pbkdf2 iterations (FusionAuth factor)
	Cost       int // bcrypt cost

	SaltLen int // decoded salt bytes (argon2id, pbkdf2)
	KeyLen  int // decoded key bytes (argon2id, pbkdf2)
}

// Inspect parses an encoded hash without verifying anything, for callers
// that want to know its scheme and parameters (audits, tests of IDP-HASH-1).
// Errors wrap ErrUnknownScheme or ErrMalformedHash.
func Inspect(encoded string) (Info, error) {
	d, err := parse(encoded)
	if err != nil {
		return Info{}, fmt.Errorf("password: inspect: %w", err)
	}
	return Info{
		Scheme: d.scheme, Memory: d.memory, Time: d.time, Threads: d.threads,
		Iterations: d.iterations, Cost: d.cost, SaltLen: len(d.salt), KeyLen: len(d.key),
	}, nil
}

// decoded is a parsed encoding of any supported scheme.
type decoded struct {
	scheme string

	memory, time uint32 // argon2id
	threads      uint8  // argon2id
	iterations   int    // pbkdf2
	cost         int    // bcrypt
	salt, key    []byte // argon2id, pbkdf2
	bcrypt       []byte // bcrypt: the whole encoding, as x/crypto/bcrypt wants it
}

// parse recognises the scheme of s and decodes it. It never panics and never
// includes hash material in its errors.
func parse(s string) (*decoded, error) {
	switch {
	case s == "":
		return nil, fmt.Errorf("%w: empty", ErrMalformedHash)
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return parseBcrypt(s)
	case strings.HasPrefix(s, "$"+SchemeFAPBKDF2SHA256+"$"):
		return parsePBKDF2(s)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownScheme, schemeID(s))
}

// schemeID names the scheme of an unsupported encoding for error messages.
func schemeID(s string) string {
	rest, ok := strings.CutPrefix(s, "$")
	if !ok {
		return "no $scheme$ prefix"
	}
	id, _, _ := strings.Cut(rest, "$")
	if id == "" || len(id) > 32 {
		return "unrecognised identifier"
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "unrecognised identifier"
		}
	}
	return strconv.Quote(id)
}

// malformed builds an ErrMalformedHash error for scheme.
func malformed(scheme, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformedHash, scheme, fmt.Sprintf(format, args...))
}

// parseArgon2id decodes "$argon2id$v=19$m=M,t=T,p=P$salt$key".
func parseArgon2id(s string) (*decoded, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 {
		return nil, malformed(SchemeArgon2id, "want 5 '$'-separated fields, got %d", len(parts)-1)
	}
	if parts[2] != "v=19" {
		return nil, malformed(SchemeArgon2id, "unsupported version field (want v=19)")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return nil, malformed(SchemeArgon2id, "want parameters m=,t=,p=")
	}
	m, err := parseParam(params[0], "m=", 32)
	if err != nil {
		return nil, malformed(SchemeArgon2id, "%v", err)
	}
	t, err := parseParam(params[1], "t=", 32)
	if err != nil {
		return nil, malformed(SchemeArgon2id, "%v", err)
	}
	p, err := parseParam(params[2], "p=", 8)
	if err != nil {
		return nil, malformed(SchemeArgon2id, "%v", err)
	}
	// argon2.IDKey panics on t or p of 0; m below 8p is invalid in RFC 9106.
	if t < 1 || p < 1 || m < 8*p {
		return nil, malformed(SchemeArgon2id, "parameters out of range (need t>=1, p>=1, m>=8p)")
	}
	salt, err := decodeB64(b64(), parts[4])
	if err != nil || len(salt) < minArgon2SaltBytes || len(salt) > maxArgon2SaltBytes {
		return nil, malformed(SchemeArgon2id, "salt must be %d..%d bytes of unpadded base64", minArgon2SaltBytes, maxArgon2SaltBytes)
	}
	key, err := decodeB64(b64(), parts[5])
	if err != nil || len(key) < minArgon2KeyBytes || len(key) > maxArgon2KeyBytes {
		return nil, malformed(SchemeArgon2id, "key must be %d..%d bytes of unpadded base64", minArgon2KeyBytes, maxArgon2KeyBytes)
	}
	return &decoded{scheme: SchemeArgon2id, memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, key: key}, nil
}

// parseParam parses "<prefix><decimal>" into an unsigned integer of bits bits.
func parseParam(s, prefix string, bits int) (uint64, error) {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, fmt.Errorf("want %s<number>", prefix)
	}
	// ParseUint refuses signs, spaces and empty input, and checks the range.
	n, err := strconv.ParseUint(digits, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("bad %s<number>", prefix)
	}
	return n, nil
}

// decodeB64 decodes s with enc, refusing the CR and LF that Go's decoder
// would otherwise skip silently.
func decodeB64(enc *base64.Encoding, s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line breaks in base64")
	}
	return enc.DecodeString(s)
}

// parseBcrypt checks the modular crypt format "$2b$CC$<53 chars>" strictly,
// since x/crypto/bcrypt's own parser accepts oddities.
func parseBcrypt(s string) (*decoded, error) {
	if len(s) != 60 {
		return nil, malformed(SchemeBcrypt, "want 60 characters, got %d", len(s))
	}
	if s[6] != '$' || !isDigit(s[4]) || !isDigit(s[5]) {
		return nil, malformed(SchemeBcrypt, "want $2x$NN$ prefix")
	}
	cost := int(s[4]-'0')*10 + int(s[5]-'0')
	if cost < bcrypt.MinCost || cost > maxBcryptCost {
		return nil, malformed(SchemeBcrypt, "cost %d outside %d..%d", cost, bcrypt.MinCost, maxBcryptCost)
	}
	for i := 7; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '/' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || isDigit(c)) {
			return nil, malformed(SchemeBcrypt, "character outside the bcrypt alphabet")
		}
	}
	return &decoded{scheme: SchemeBcrypt, cost: cost, bcrypt: []byte(s)}, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parsePBKDF2 decodes "$fa-pbkdf2-sha256$i=N$<std b64 salt>$<std b64 key>".
func parsePBKDF2(s string) (*decoded, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 {
		return nil, malformed(SchemeFAPBKDF2SHA256, "want 4 '$'-separated fields, got %d", len(parts)-1)
	}
	i, err := parseParam(parts[2], "i=", 32)
	if err != nil {
		return nil, malformed(SchemeFAPBKDF2SHA256, "%v", err)
	}
	if i < 1 || i > maxPBKDF2Iterations {
		return nil, malformed(SchemeFAPBKDF2SHA256, "iterations outside 1..%d", maxPBKDF2Iterations)
	}
	salt, err := decodeStdB64(parts[3])
	if err != nil || len(salt) < 1 || len(salt) > maxPBKDF2SaltBytes {
		return nil, malformed(SchemeFAPBKDF2SHA256, "salt must be 1..%d bytes of standard base64", maxPBKDF2SaltBytes)
	}
	key, err := decodeStdB64(parts[4])
	if err != nil || len(key) != pbkdf2KeyLen {
		return nil, malformed(SchemeFAPBKDF2SHA256, "hash must be %d bytes of standard base64", pbkdf2KeyLen)
	}
	return &decoded{scheme: SchemeFAPBKDF2SHA256, iterations: int(i), salt: salt, key: key}, nil
}

// decodeStdB64 decodes FusionAuth's standard base64, padded as Java writes
// it, or unpadded if an export tool stripped the '='.
func decodeStdB64(s string) ([]byte, error) {
	if len(s)%4 == 0 {
		return decodeB64(base64.StdEncoding.Strict(), s)
	}
	return decodeB64(base64.RawStdEncoding.Strict(), s)
}

// check derives pw's key the way d was made and compares in constant time.
// A false result with a nil error is a wrong password.
func (d *decoded) check(pw string) (bool, error) {
	switch d.scheme {
	case SchemeArgon2id:
		k := argon2.IDKey([]byte(pw), d.salt, d.time, d.memory, d.threads, uint32(len(d.key)))
		return constantTimeEqual(k, d.key), nil
	case SchemeFAPBKDF2SHA256:
		k, err := pbkdf2.Key(sha256.New, pw, d.salt, d.iterations, len(d.key))
		if err != nil {
			return false, fmt.Errorf("%w: %s: %w", ErrMalformedHash, d.scheme, err)
		}
		return constantTimeEqual(k, d.key), nil
	case SchemeBcrypt:
		// CompareHashAndPassword compares with crypto/subtle itself.
		err := bcrypt.CompareHashAndPassword(d.bcrypt, []byte(pw))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, nil
		default:
			return false, fmt.Errorf("%w: %s: %w", ErrMalformedHash, d.scheme, err)
		}
	}
	return false, fmt.Errorf("%w: %s", ErrUnknownScheme, d.scheme)
}

// encodeArgon2id writes the PHC string for an argon2id key.
func encodeArgon2id(m, t uint32, p uint8, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, m, t, p, b64().EncodeToString(salt), b64().EncodeToString(key))
}

package password

import (
	"fmt"
	"strings"
)

// FusionAuth encryptionScheme values accepted by ImportFusionAuth.
const (
	FusionAuthPBKDF2SHA256 = "salted-pbkdf2-hmac-sha256"
	FusionAuthBcrypt       = "bcrypt"
)

// ImportFusionAuth turns the password fields of a FusionAuth user export
// (encryptionScheme, factor, salt, password) into an encoding Verify
// understands. Nothing is hashed; the result is checked to parse.
//
// For "salted-pbkdf2-hmac-sha256" (PBKDF2-HMAC-SHA256, iterations = factor,
// salt = base64-decoded salt, 32-byte key in standard base64; compat §14) the
// result is
//
//	$fa-pbkdf2-sha256$i=<factor>$<salt as given>$<hash as given>
//
// For "bcrypt" factor is the cost and hash is either the whole bcrypt string
// ("$2a$10$<22-char salt><31-char hash>"; salt may then be empty) or, as
// FusionAuth itself stores bcrypt, the 31-character hash with the
// 22-character bcrypt salt in salt; the result is the whole bcrypt string.
// A factor of 0 with a whole bcrypt string means "take the cost from it".
//
// An unknown scheme returns an error wrapping ErrUnknownScheme; fields that
// do not form a usable hash return one wrapping ErrMalformedHash.
func ImportFusionAuth(scheme string, factor int, salt, hash string) (string, error) {
	switch scheme {
	case FusionAuthPBKDF2SHA256:
		if factor < 1 || factor > maxPBKDF2Iterations {
			return "", fmt.Errorf("password: import %s: %w: factor %d outside 1..%d",
				scheme, ErrMalformedHash, factor, maxPBKDF2Iterations)
		}
		enc := fmt.Sprintf("$%s$i=%d$%s$%s", SchemeFAPBKDF2SHA256, factor, salt, hash)
		if _, err := parsePBKDF2(enc); err != nil {
			return "", fmt.Errorf("password: import %s: %w", scheme, err)
		}
		return enc, nil

	case FusionAuthBcrypt:
		enc := hash
		if !strings.HasPrefix(hash, "$") {
			// FusionAuth splits "$2a$CC$<22-char salt><31-char hash>".
			if len(salt) != 22 || len(hash) != 31 {
				return "", fmt.Errorf("password: import %s: %w: want a 22-character salt and a 31-character hash, or a whole bcrypt string",
					scheme, ErrMalformedHash)
			}
			if factor < 0 || factor > 99 {
				return "", fmt.Errorf("password: import %s: %w: factor %d is not a bcrypt cost", scheme, ErrMalformedHash, factor)
			}
			enc = fmt.Sprintf("$2a$%02d$%s%s", factor, salt, hash)
		}
		d, err := parseBcrypt(enc)
		if err != nil {
			return "", fmt.Errorf("password: import %s: %w", scheme, err)
		}
		if factor != 0 && factor != d.cost {
			return "", fmt.Errorf("password: import %s: %w: factor %d does not match the hash's cost %d",
				scheme, ErrMalformedHash, factor, d.cost)
		}
		if strings.HasPrefix(hash, "$") && salt != "" && salt != enc[7:29] {
			return "", fmt.Errorf("password: import %s: %w: salt does not match the hash's salt", scheme, ErrMalformedHash)
		}
		return enc, nil
	}
	return "", fmt.Errorf("password: import: %w: %q", ErrUnknownScheme, scheme)
}

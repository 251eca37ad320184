package password_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-auth/gatehouse/password"
)

// Registration validates and hashes; login verifies and, when asked to,
// stores a fresh hash.
func Example() {
	ctx := context.Background()
	h := password.NewHasher(password.Params{}) // OWASP argon2id defaults

	pw := "correct horse battery staple"
	if err := h.Validate(pw); err != nil {
		fmt.Println("rejected:", err)
		return
	}
	encoded, err := h.Hash(ctx, pw)
	if err != nil {
		fmt.Println("hash:", err)
		return
	}
	fmt.Println(strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$"))

	ok, needsRehash, err := h.Verify(ctx, encoded, pw)
	fmt.Println(ok, needsRehash, err)

	ok, _, _ = h.Verify(ctx, encoded, "wrong password, same length")
	fmt.Println(ok)

	fmt.Println(h.Validate("too short"))
	// Output:
	// true
	// true false <nil>
	// false
	// password: too short: at least 15 characters required
}

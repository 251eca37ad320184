package password

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// fast are argon2id parameters for tests where the cost does not matter.
var fast = Params{Memory: 64, Time: 1, Threads: 1}

const goodPW = "correct horse battery staple"

// phcRE parses an argon2id PHC string independently of the package's parser.
var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

func atou(t *testing.T, s string) uint32 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return uint32(n)
}

// makeArgon2id builds an argon2id PHC string without using the package.
func makeArgon2id(pw string, m, t uint32, p uint8, salt []byte, keyLen uint32) string {
	key := argon2.IDKey([]byte(pw), salt, t, m, p, keyLen)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// IDP-HASH-1: stored hashes are argon2id PHC strings with m>=19456, t>=2, p=1.
func TestHashPHCDefaults_IDPHASH1(t *testing.T) {
	h := NewHasher(Params{})
	enc, err := h.Hash(context.Background(), goodPW)
	if err != nil {
		t.Fatal(err)
	}
	m := phcRE.FindStringSubmatch(enc)
	if m == nil {
		t.Fatalf("not an argon2id PHC string: %q", enc)
	}
	mem, tm, p := atou(t, m[1]), atou(t, m[2]), atou(t, m[3])
	if mem < 19456 || tm < 2 || p != 1 {
		t.Errorf("params m=%d t=%d p=%d, want m>=19456 t>=2 p=1", mem, tm, p)
	}
	salt, err := base64.RawStdEncoding.DecodeString(m[4])
	if err != nil || len(salt) != 16 {
		t.Errorf("salt: %d bytes, err %v; want 16", len(salt), err)
	}
	key, err := base64.RawStdEncoding.DecodeString(m[5])
	if err != nil || len(key) != 32 {
		t.Errorf("key: %d bytes, err %v; want 32", len(key), err)
	}
	// The encoding must mean what it says: recompute it with x/crypto directly.
	if want := argon2.IDKey([]byte(goodPW), salt, tm, mem, uint8(p), 32); !bytes.Equal(key, want) {
		t.Error("stored key is not argon2id(password, salt, params)")
	}
	info, err := Inspect(enc)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Scheme: SchemeArgon2id, Memory: mem, Time: tm, Threads: uint8(p), SaltLen: 16, KeyLen: 32}
	if info != want {
		t.Errorf("Inspect = %+v, want %+v", info, want)
	}
	ok, rehash, err := h.Verify(context.Background(), enc, goodPW)
	if !ok || rehash || err != nil {
		t.Errorf("Verify(own hash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestDefaults(t *testing.T) {
	got := NewHasher(Params{}).Params()
	want := Params{Memory: 19456, Time: 2, Threads: 1, MinLength: 15, MaxBytes: 1024, MaxConcurrent: runtime.GOMAXPROCS(0)}
	if got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	h := NewHasher(Params{Memory: 1, Threads: 4, MaxConcurrent: 3})
	if h.Params().Memory != 32 {
		t.Errorf("memory below 8 KiB per lane not raised: %d", h.Params().Memory)
	}
	if cap(h.sem) != 3 {
		t.Errorf("semaphore size %d, want 3", cap(h.sem))
	}
}

// IDP-HASH-2: equal passwords hash differently (unique random salt).
func TestEqualPasswordsHashDifferently_IDPHASH2(t *testing.T) {
	h := NewHasher(fast)
	ctx := context.Background()
	a, err := h.Hash(ctx, goodPW)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Hash(ctx, goodPW)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two hashes of the same password are identical")
	}
	if phcRE.FindStringSubmatch(a)[4] == phcRE.FindStringSubmatch(b)[4] {
		t.Error("two hashes share a salt")
	}
	for _, enc := range []string{a, b} {
		if ok, _, err := h.Verify(ctx, enc, goodPW); !ok || err != nil {
			t.Errorf("Verify = %v, %v; want true, nil", ok, err)
		}
	}
}

// IDP-HASH-2: a hash with outdated parameters (t=1) verifies and asks for a
// rehash; the rehash is current.
func TestOutdatedHashNeedsRehash_IDPHASH2(t *testing.T) {
	h := NewHasher(Params{Memory: 64, Time: 2, Threads: 1})
	ctx := context.Background()
	old := makeArgon2id(goodPW, 64, 1, 1, bytes.Repeat([]byte{7}, 16), 32)

	ok, rehash, err := h.Verify(ctx, old, goodPW)
	if !ok || !rehash || err != nil {
		t.Fatalf("Verify(t=1 hash) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	ok, rehash, err = h.Verify(ctx, old, goodPW+"x")
	if ok || rehash || err != nil {
		t.Errorf("Verify(t=1 hash, wrong pw) = %v, %v, %v; want false, false, nil", ok, rehash, err)
	}
	fresh, err := h.Hash(ctx, goodPW)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := Inspect(fresh); info.Time != 2 {
		t.Errorf("rehash has t=%d, want 2", info.Time)
	}
	if ok, rehash, err := h.Verify(ctx, fresh, goodPW); !ok || rehash || err != nil {
		t.Errorf("Verify(rehash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestNeedsRehash(t *testing.T) {
	h := NewHasher(Params{Memory: 64, Time: 2, Threads: 1})
	salt16 := bytes.Repeat([]byte{1}, 16)
	bc, err := bcrypt.GenerateFromPassword([]byte(goodPW), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := pbkdf2.Key(sha256.New, goodPW, salt16, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	fa, err := ImportFusionAuth(FusionAuthPBKDF2SHA256, 10, base64.StdEncoding.EncodeToString(salt16), base64.StdEncoding.EncodeToString(pb))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		enc  string
		want bool
	}{
		{"current", makeArgon2id(goodPW, 64, 2, 1, salt16, 32), false},
		{"other memory", makeArgon2id(goodPW, 128, 2, 1, salt16, 32), true},
		{"other time", makeArgon2id(goodPW, 64, 3, 1, salt16, 32), true},
		{"other threads", makeArgon2id(goodPW, 64, 2, 2, salt16, 32), true},
		{"short salt", makeArgon2id(goodPW, 64, 2, 1, salt16[:8], 32), true},
		{"other key length", makeArgon2id(goodPW, 64, 2, 1, salt16, 16), true},
		{"bcrypt", string(bc), true},
		{"fusionauth pbkdf2", fa, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), c.enc, goodPW)
			if !ok || err != nil {
				t.Fatalf("Verify = %v, %v; want true, nil", ok, err)
			}
			if rehash != c.want {
				t.Errorf("needsRehash = %v, want %v", rehash, c.want)
			}
		})
	}
}

// IDP-HASH-4: at least 15 code points, at least 64 accepted, any character,
// no composition rules.
func TestValidatePolicy_IDPHASH4(t *testing.T) {
	h := NewHasher(fast)
	passphrase := "the quick brown fox 🦊 jumps over the lazy dog 🐶 and naps 😴 zzz!!"
	if n := utf8.RuneCountInString(passphrase); n != 64 {
		t.Fatalf("test passphrase has %d code points, want 64", n)
	}
	cases := []struct {
		name string
		pw   string
		want error
	}{
		{"empty", "", ErrTooShort},
		{"14 ascii", strings.Repeat("a", 14), ErrTooShort},
		{"14 code points, 28 bytes", strings.Repeat("é", 14), ErrTooShort},
		{"14 emoji, 56 bytes", strings.Repeat("🔑", 14), ErrTooShort},
		{"15 ascii", strings.Repeat("a", 15), nil},
		{"15 code points multibyte", strings.Repeat("é", 15), nil},
		{"64 passphrase with emoji", passphrase, nil},
		{"all lowercase", "allowercaseletters", nil},
		{"spaces and symbols", "   ~!@#$%^&*()   ", nil},
		{"control and NUL characters", "tab\tnul\x00newline\nbell\a", nil},
		{"exactly 1024 bytes", strings.Repeat("x", 1024), nil},
		{"1025 bytes", strings.Repeat("x", 1025), ErrTooLong},
		{"10 KB", strings.Repeat("x", 10<<10), ErrTooLong},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := h.Validate(c.pw)
			if c.want == nil && err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("Validate = %v, want %v", err, c.want)
			}
		})
	}
	custom := NewHasher(Params{MinLength: 20, MaxBytes: 30})
	if err := custom.Validate(strings.Repeat("a", 19)); !errors.Is(err, ErrTooShort) {
		t.Errorf("MinLength 20: 19 chars gave %v", err)
	}
	if err := custom.Validate(strings.Repeat("a", 31)); !errors.Is(err, ErrTooLong) {
		t.Errorf("MaxBytes 30: 31 bytes gave %v", err)
	}
}

// IDP-HASH-5: the password is verified exactly as submitted. A bcrypt hash
// only covers 72 bytes, so an 80-character password must not match a bcrypt
// hash of its first 72 characters; argon2id sees every byte.
func TestNoTruncation_IDPHASH5(t *testing.T) {
	h := NewHasher(fast)
	ctx := context.Background()
	pw80 := strings.Repeat("0123456789", 8)
	pw72 := pw80[:72]

	bc, err := bcrypt.GenerateFromPassword([]byte(pw72), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// Control: the hash is good for the 72-byte password.
	if ok, _, err := h.Verify(ctx, string(bc), pw72); !ok || err != nil {
		t.Fatalf("bcrypt control: Verify(72 chars) = %v, %v", ok, err)
	}
	if ok, rehash, err := h.Verify(ctx, string(bc), pw80); ok || rehash || err != nil {
		t.Errorf("bcrypt: Verify(80 chars) = %v, %v, %v; want false, false, nil", ok, rehash, err)
	}

	a, err := h.Hash(ctx, pw80)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(ctx, a, pw80); !ok || err != nil {
		t.Errorf("argon2id: Verify(80 chars) = %v, %v; want true, nil", ok, err)
	}
	if ok, _, err := h.Verify(ctx, a, pw72); ok || err != nil {
		t.Errorf("argon2id: Verify(first 72 of 80) = %v, %v; want false, nil", ok, err)
	}
	for _, variant := range []string{strings.ToUpper(goodPW), " " + goodPW, goodPW + " "} {
		g, err := h.Hash(ctx, goodPW)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := h.Verify(ctx, g, variant); ok {
			t.Errorf("Verify accepted altered password %q", variant)
		}
	}
}

// IDP-HASH-5: a 10 KB password is refused without any hashing. The only
// hashing slot is held and any attempt to wait for it fails the test, so
// this does not depend on timing.
func TestOversizeNotHashed_IDPHASH5(t *testing.T) {
	h := NewHasher(Params{Memory: 64, Time: 1, MaxConcurrent: 1})
	enc := makeArgon2id(goodPW, 64, 1, 1, bytes.Repeat([]byte{3}, 16), 32)
	bc, err := bcrypt.GenerateFromPassword([]byte(goodPW), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("x", 10<<10)
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer h.release()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tried := 0
	h.onWait = func() { tried++; cancel() }

	if err := h.Validate(huge); !errors.Is(err, ErrTooLong) {
		t.Errorf("Validate(10 KB) = %v, want ErrTooLong", err)
	}
	if _, err := h.Hash(ctx, huge); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash(10 KB) = %v, want ErrTooLong", err)
	}
	for _, e := range []string{enc, string(bc)} {
		if ok, rehash, err := h.Verify(ctx, e, huge); ok || rehash || err != nil {
			t.Errorf("Verify(10 KB) = %v, %v, %v; want false, false, nil", ok, rehash, err)
		}
	}
	// bcrypt cannot see past 72 bytes, so longer inputs are refused unhashed too.
	if ok, _, err := h.Verify(ctx, string(bc), strings.Repeat("y", 73)); ok || err != nil {
		t.Errorf("Verify(bcrypt, 73 bytes) = %v, %v; want false, nil", ok, err)
	}
	h.VerifyDummy(ctx, huge)
	if tried != 0 {
		t.Errorf("%d oversize operations waited for a hashing slot", tried)
	}

	// Control: a normal-size password does try to hash, and so reaches onWait.
	if _, _, err := h.Verify(ctx, enc, goodPW); !errors.Is(err, context.Canceled) || tried != 1 {
		t.Errorf("control: Verify = %v after %d waits; want context.Canceled after 1", err, tried)
	}
}

// fixedSalt32 stands in for FusionAuth's 32-byte salt (two random UUIDs).
func fixedSalt32() []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(i*37 + 11)
	}
	return s
}

func TestFusionAuthPBKDF2(t *testing.T) {
	h := NewHasher(fast)
	ctx := context.Background()

	t.Run("RFC 7914 vector", func(t *testing.T) {
		// RFC 7914 §11: PBKDF2-HMAC-SHA256(P="passwd", S="salt", c=1); the
		// first 32 bytes of the 64-byte output are the 256-bit key.
		want, _ := hex.DecodeString("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc")
		got, err := pbkdf2.Key(sha256.New, "passwd", []byte("salt"), 1, 32)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("crypto/pbkdf2 disagrees with RFC 7914: %x, %v", got, err)
		}
		enc, err := ImportFusionAuth("salted-pbkdf2-hmac-sha256", 1, "c2FsdA==", base64.StdEncoding.EncodeToString(want))
		if err != nil {
			t.Fatal(err)
		}
		if ok, rehash, err := h.Verify(ctx, enc, "passwd"); !ok || !rehash || err != nil {
			t.Errorf("Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
		}
	})

	t.Run("factor 24000", func(t *testing.T) {
		pw := "FusionAuth exported password 1"
		salt := fixedSalt32()
		key, err := pbkdf2.Key(sha256.New, pw, salt, 24000, 32)
		if err != nil {
			t.Fatal(err)
		}
		saltB64, keyB64 := base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(key)
		enc, err := ImportFusionAuth("salted-pbkdf2-hmac-sha256", 24000, saltB64, keyB64)
		if err != nil {
			t.Fatal(err)
		}
		if want := "$fa-pbkdf2-sha256$i=24000$" + saltB64 + "$" + keyB64; enc != want {
			t.Errorf("encoding = %q, want %q", enc, want)
		}
		info, err := Inspect(enc)
		if err != nil || info.Scheme != SchemeFAPBKDF2SHA256 || info.Iterations != 24000 || info.SaltLen != 32 || info.KeyLen != 32 {
			t.Errorf("Inspect = %+v, %v", info, err)
		}
		if ok, rehash, err := h.Verify(ctx, enc, pw); !ok || !rehash || err != nil {
			t.Errorf("Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
		}
		if ok, rehash, err := h.Verify(ctx, enc, pw+"!"); ok || rehash || err != nil {
			t.Errorf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
		}
		// A different iteration count must not verify: the factor is used.
		other, err := ImportFusionAuth("salted-pbkdf2-hmac-sha256", 24001, saltB64, keyB64)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := h.Verify(ctx, other, pw); ok {
			t.Error("Verify ignored the iteration count")
		}
	})
}

func TestFusionAuthBcrypt(t *testing.T) {
	h := NewHasher(fast)
	ctx := context.Background()
	pw := "FusionAuth bcrypt password"
	bc, err := bcrypt.GenerateFromPassword([]byte(pw), 5)
	if err != nil {
		t.Fatal(err)
	}
	full := string(bc)

	whole, err := ImportFusionAuth("bcrypt", 5, "", full)
	if err != nil || whole != full {
		t.Fatalf("import whole string = %q, %v; want it unchanged", whole, err)
	}
	if auto, err := ImportFusionAuth("bcrypt", 0, "", full); err != nil || auto != full {
		t.Errorf("import with factor 0 = %q, %v", auto, err)
	}
	// FusionAuth's own layout: salt = 22 chars after the cost, password = the rest.
	split, err := ImportFusionAuth("bcrypt", 5, full[7:29], full[29:])
	if err != nil {
		t.Fatal(err)
	}
	if info, err := Inspect(split); err != nil || info.Scheme != SchemeBcrypt || info.Cost != 5 {
		t.Errorf("Inspect = %+v, %v", info, err)
	}
	for _, enc := range []string{whole, split} {
		if ok, rehash, err := h.Verify(ctx, enc, pw); !ok || !rehash || err != nil {
			t.Errorf("Verify(%q) = %v, %v, %v; want true, true, nil", enc, ok, rehash, err)
		}
		if ok, rehash, err := h.Verify(ctx, enc, pw[:len(pw)-1]); ok || rehash || err != nil {
			t.Errorf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
		}
	}

	bad := []struct {
		name       string
		factor     int
		salt, hash string
	}{
		{"factor mismatch", 6, "", full},
		{"salt mismatch", 5, strings.Repeat("A", 22), full},
		{"split with wrong lengths", 5, full[7:28], full[28:]},
		{"split with cost 0", 0, full[7:29], full[29:]},
		{"not bcrypt", 5, "", "$2a$05$short"},
		{"cost too high", 31, full[7:29], full[29:]},
	}
	for _, c := range bad {
		if _, err := ImportFusionAuth("bcrypt", c.factor, c.salt, c.hash); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: err = %v, want ErrMalformedHash", c.name, err)
		}
	}
}

func TestImportFusionAuthErrors(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	salt := base64.StdEncoding.EncodeToString(fixedSalt32())
	for _, scheme := range []string{"salted-md5", "salted-sha256", "salted-pbkdf2-hmac-sha256-512", "SALTED-PBKDF2-HMAC-SHA256", ""} {
		if _, err := ImportFusionAuth(scheme, 24000, salt, key); !errors.Is(err, ErrUnknownScheme) {
			t.Errorf("scheme %q: err = %v, want ErrUnknownScheme", scheme, err)
		}
	}
	bad := []struct {
		name       string
		factor     int
		salt, hash string
	}{
		{"factor 0", 0, salt, key},
		{"negative factor", -1, salt, key},
		{"huge factor", 1 << 30, salt, key},
		{"empty salt", 24000, "", key},
		{"salt not base64", 24000, "not base64!", key},
		{"salt with $", 24000, "ab$c", key},
		{"hash too short", 24000, salt, base64.StdEncoding.EncodeToString(make([]byte, 31))},
		{"hash with newline", 24000, salt, key + "\n"},
		{"hash empty", 24000, salt, ""},
	}
	for _, c := range bad {
		if _, err := ImportFusionAuth(FusionAuthPBKDF2SHA256, c.factor, c.salt, c.hash); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: err = %v, want ErrMalformedHash", c.name, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := NewHasher(fast)
	salt := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 16))
	key := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{6}, 32))
	a := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	bc, err := bcrypt.GenerateFromPassword([]byte(goodPW), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	fsalt := base64.StdEncoding.EncodeToString(fixedSalt32())
	fkey := base64.StdEncoding.EncodeToString(make([]byte, 32))

	malformed := map[string]string{
		"empty":                 "",
		"argon2id no fields":    "$argon2id$",
		"argon2id missing key":  "$argon2id$v=19$m=64,t=1,p=1$" + salt,
		"argon2id extra field":  a("m=64,t=1,p=1") + "$x",
		"argon2id no version":   "$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"argon2id version 16":   strings.Replace(a("m=64,t=1,p=1"), "v=19", "v=16", 1),
		"argon2id t=0":          a("m=64,t=0,p=1"),
		"argon2id p=0":          a("m=64,t=1,p=0"),
		"argon2id p=256":        a("m=4096,t=1,p=256"),
		"argon2id m below 8p":   a("m=15,t=1,p=2"),
		"argon2id m overflow":   a("m=4294967296,t=1,p=1"),
		"argon2id m negative":   a("m=-64,t=1,p=1"),
		"argon2id m plus sign":  a("m=+64,t=1,p=1"),
		"argon2id params order": a("t=1,m=64,p=1"),
		"argon2id extra param":  a("m=64,t=1,p=1,keyid=x"),
		"argon2id empty param":  a("m=,t=1,p=1"),
		"argon2id m too costly": a("m=1088,t=1,p=1"), // 17× the hasher's 64 KiB
		"argon2id t too costly": a("m=64,t=17,p=1"),
		"argon2id padded salt":  "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,
		"argon2id salt bad b64": "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key,
		"argon2id salt short":   "$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key,
		"argon2id key short":    "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA",
		"argon2id key newline":  a("m=64,t=1,p=1") + "\n",
		"bcrypt truncated":      string(bc[:59]),
		"bcrypt extended":       string(bc) + "x",
		"bcrypt cost 03":        "$2a$03" + string(bc[6:]),
		"bcrypt cost 32":        "$2a$32" + string(bc[6:]),
		"bcrypt cost 17":        "$2a$17" + string(bc[6:]),
		"bcrypt cost letters":   "$2a$1x" + string(bc[6:]),
		"bcrypt bad alphabet":   string(bc[:59]) + "+",
		"pbkdf2 no fields":      "$fa-pbkdf2-sha256$",
		"pbkdf2 i=0":            "$fa-pbkdf2-sha256$i=0$" + fsalt + "$" + fkey,
		"pbkdf2 i huge":         "$fa-pbkdf2-sha256$i=99999999$" + fsalt + "$" + fkey,
		"pbkdf2 i missing":      "$fa-pbkdf2-sha256$" + fsalt + "$" + fkey,
		"pbkdf2 i letters":      "$fa-pbkdf2-sha256$i=abc$" + fsalt + "$" + fkey,
		"pbkdf2 salt empty":     "$fa-pbkdf2-sha256$i=1$$" + fkey,
		"pbkdf2 key 31 bytes":   "$fa-pbkdf2-sha256$i=1$" + fsalt + "$" + base64.StdEncoding.EncodeToString(make([]byte, 31)),
	}
	unknown := map[string]string{
		"plain text":      "hunter2",
		"argon2i":         "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"argon2d":         "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"scrypt":          "$scrypt$ln=17,r=8,p=1$" + salt + "$" + key,
		"bcrypt 2x":       "$2x$04" + string(bc[6:]),
		"md5crypt":        "$1$saltsalt$hash",
		"just dollars":    "$$$$",
		"one dollar":      "$",
		"argon2id no $":   "argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"upper ARGON2ID":  "$ARGON2ID$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"fa pbkdf2 upper": "$FA-PBKDF2-SHA256$i=1$" + fsalt + "$" + fkey,
	}
	check := func(name, enc string, sentinel error) {
		t.Run(name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), enc, goodPW)
			if ok || rehash {
				t.Errorf("Verify = %v, %v; want false, false", ok, rehash)
			}
			if !errors.Is(err, sentinel) {
				t.Errorf("err = %v, want %v", err, sentinel)
			}
			// Errors end up in logs: they must not carry the hash material.
			if err != nil && (strings.Contains(err.Error(), key) || strings.Contains(err.Error(), string(bc[29:]))) {
				t.Errorf("error leaks hash material: %v", err)
			}
			if _, ierr := Inspect(enc); ierr == nil && sentinel == ErrUnknownScheme {
				t.Errorf("Inspect accepted an unknown scheme")
			}
		})
	}
	for name, enc := range malformed {
		check(name, enc, ErrMalformedHash)
	}
	for name, enc := range unknown {
		check(name, enc, ErrUnknownScheme)
	}

	// The cost cap is 16× the hasher's parameters, inclusive.
	within := makeArgon2id(goodPW, 1024, 16, 1, bytes.Repeat([]byte{5}, 16), 32)
	if ok, _, err := h.Verify(context.Background(), within, goodPW); !ok || err != nil {
		t.Errorf("Verify(m=16×, t=16×) = %v, %v; want true, nil", ok, err)
	}
}

// The semaphore bounds hashing: with MaxConcurrent=1 and the slot taken, a
// Hash call waits, and returns ctx's error once ctx is cancelled. The onWait
// hook tells the test the call is really blocked, so no sleeps are needed.
func TestConcurrencyBound(t *testing.T) {
	h := NewHasher(Params{Memory: 64, Time: 1, MaxConcurrent: 1})
	if err := h.acquire(context.Background()); err != nil { // "another login" holds the slot
		t.Fatal(err)
	}
	waiting := make(chan struct{}, 1)
	h.onWait = func() { waiting <- struct{}{} }

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(ctx, goodPW)
		done <- err
	}()
	<-waiting // Hash found no free slot and is blocked
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("blocked Hash returned %v, want context.Canceled", err)
	}

	// Verify queues the same way.
	ctx2, cancel2 := context.WithCancel(context.Background())
	enc := makeArgon2id(goodPW, 64, 1, 1, bytes.Repeat([]byte{9}, 16), 32)
	vdone := make(chan error, 1)
	go func() {
		ok, _, err := h.Verify(ctx2, enc, goodPW)
		if ok {
			err = errors.New("Verify reported ok without hashing")
		}
		vdone <- err
	}()
	<-waiting
	cancel2()
	if err := <-vdone; !errors.Is(err, context.Canceled) {
		t.Errorf("blocked Verify returned %v, want context.Canceled", err)
	}

	// VerifyDummy waits for the slot too, and gives up with its ctx.
	ctx3, cancel3 := context.WithCancel(context.Background())
	ddone := make(chan struct{})
	go func() { h.VerifyDummy(ctx3, goodPW); close(ddone) }()
	<-waiting
	cancel3()
	<-ddone

	// A waiter that is not cancelled proceeds once the slot is released.
	go func() {
		_, err := h.Hash(context.Background(), goodPW)
		done <- err
	}()
	<-waiting
	h.release()
	if err := <-done; err != nil {
		t.Errorf("queued Hash after release: %v", err)
	}

	// An already-cancelled ctx fails at once, even with a free slot.
	if _, err := h.Hash(ctx, goodPW); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with cancelled ctx = %v, want context.Canceled", err)
	}
	if len(h.sem) != 0 {
		t.Errorf("%d slots still held after all operations returned", len(h.sem))
	}
}

// With MaxConcurrent=2, two operations hold slots and a third must wait.
func TestConcurrencyBoundCapacity(t *testing.T) {
	h := NewHasher(Params{Memory: 64, Time: 1, MaxConcurrent: 2})
	waits := 0
	h.onWait = func() { waits++ }
	for i := 0; i < 2; i++ {
		if err := h.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if waits != 0 {
		t.Fatalf("first two acquisitions waited %d times", waits)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.onWait = func() { waits++; cancel() }
	if err := h.acquire(ctx); !errors.Is(err, context.Canceled) || waits != 1 {
		t.Errorf("third acquisition: err %v after %d waits; want context.Canceled after 1", err, waits)
	}
	h.release()
	h.release()
}

func TestVerifyDummy(t *testing.T) {
	h := NewHasher(fast)
	info, err := Inspect(h.dummy)
	if err != nil {
		t.Fatal(err)
	}
	p := h.Params()
	if info.Scheme != SchemeArgon2id || info.Memory != p.Memory || info.Time != p.Time || info.Threads != p.Threads ||
		info.SaltLen != 16 || info.KeyLen != 32 {
		t.Errorf("dummy hash %+v does not use the current params %+v", info, p)
	}
	h.VerifyDummy(context.Background(), goodPW)
	if len(h.sem) != 0 {
		t.Error("VerifyDummy did not release its slot")
	}
}

// FuzzVerify: no encoded string makes Verify panic, and errors never come
// with ok or needsRehash set.
func FuzzVerify(f *testing.F) {
	h := NewHasher(fast)
	// More seeds (valid and broken encodings of every scheme) are in
	// testdata/fuzz/FuzzVerify.
	f.Add(makeArgon2id(goodPW, 64, 1, 1, bytes.Repeat([]byte{1}, 16), 32))
	f.Fuzz(func(t *testing.T, encoded string) {
		ok, rehash, err := h.Verify(context.Background(), encoded, goodPW)
		if err != nil && (ok || rehash) {
			t.Errorf("Verify = %v, %v with error %v", ok, rehash, err)
		}
		if !ok && rehash {
			t.Error("needsRehash without ok")
		}
		if _, ierr := Inspect(encoded); (ierr == nil) != (err == nil) && !errors.Is(err, ErrMalformedHash) {
			// Inspect and Verify may differ only in Verify's cost caps.
			t.Errorf("Inspect err %v but Verify err %v", ierr, err)
		}
	})
}

// BenchmarkVerifyArgon2id measures verification at the default parameters
// across GOMAXPROCS goroutines: the raw hashing rate a login endpoint is
// compared against.
func BenchmarkVerifyArgon2id(b *testing.B) {
	h := NewHasher(Params{})
	ctx := context.Background()
	enc, err := h.Hash(ctx, goodPW)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ok, _, err := h.Verify(ctx, enc, goodPW)
			if !ok || err != nil {
				b.Errorf("Verify = %v, %v", ok, err)
				return
			}
		}
	})
}

// An unknown scheme's identifier reaches error messages (and so logs) only
// when it is a short [A-Za-z0-9-] name: anything else, such as hash
// material or control characters of a corrupt row, is replaced. The
// boundaries of each range are pinned (found by mutation testing).
func TestSchemeIDNamesOnlySafeIdentifiers(t *testing.T) {
	const unrecognised = "unrecognised identifier"
	for id, want := range map[string]string{
		"a": `"a"`, "z": `"z"`, "A": `"A"`, "Z": `"Z"`, "0": `"0"`, "9": `"9"`, "-": `"-"`,
		"scrypt-2b": `"scrypt-2b"`, strings.Repeat("x", 32): strconv.Quote(strings.Repeat("x", 32)),
		"": unrecognised, strings.Repeat("x", 33): unrecognised,
		"`": unrecognised, "{": unrecognised, "@": unrecognised, "[": unrecognised,
		"/": unrecognised, ":": unrecognised, "_": unrecognised, "a\nb": unrecognised, "ab=": unrecognised,
	} {
		if got := schemeID("$" + id + "$rest"); got != want {
			t.Errorf("schemeID(%q) = %s, want %s", id, got, want)
		}
	}
	if got := schemeID("hunter2"); got != "no $scheme$ prefix" {
		t.Errorf("schemeID without $ = %q", got)
	}
	// The field count in a malformed argon2id message is the number of
	// fields after the scheme's leading '$'.
	if _, err := Inspect("$argon2id$v=19$x"); err == nil || !strings.Contains(err.Error(), "got 3") {
		t.Errorf("Inspect 3 fields: %v, want a message with \"got 3\"", err)
	}
}

// The argon2id parsing bounds are inclusive at their documented minimums:
// m = 8p, an 8-byte salt (RFC 9106 §3.1) and a 16-byte key verify the right
// password and refuse a wrong one; one below each is a malformed hash, never
// a match (found by mutation testing).
func TestArgon2idParseBoundaries(t *testing.T) {
	h := NewHasher(fast)
	ctx := context.Background()
	salt8, salt7 := bytes.Repeat([]byte{5}, 8), bytes.Repeat([]byte{5}, 7)
	for name, enc := range map[string]string{
		"m = 8p":       makeArgon2id(goodPW, 16, 1, 2, bytes.Repeat([]byte{5}, 16), 32),
		"8-byte salt":  makeArgon2id(goodPW, 64, 1, 1, salt8, 32),
		"16-byte key":  makeArgon2id(goodPW, 64, 1, 1, salt8, 16),
		"128-byte key": makeArgon2id(goodPW, 64, 1, 1, salt8, 128),
		"64-byte salt": makeArgon2id(goodPW, 64, 1, 1, bytes.Repeat([]byte{5}, 64), 32),
	} {
		if ok, _, err := h.Verify(ctx, enc, goodPW); !ok || err != nil {
			t.Errorf("%s: Verify(right password) = %v, %v; want true, nil", name, ok, err)
		}
		if ok, _, err := h.Verify(ctx, enc, goodPW+"x"); ok || err != nil {
			t.Errorf("%s: Verify(wrong password) = %v, %v; want false, nil", name, ok, err)
		}
	}
	for name, enc := range map[string]string{
		"m = 8p - 1":   strings.Replace(makeArgon2id(goodPW, 16, 1, 2, bytes.Repeat([]byte{5}, 16), 32), "m=16", "m=15", 1),
		"7-byte salt":  makeArgon2id(goodPW, 64, 1, 1, salt7, 32),
		"15-byte key":  makeArgon2id(goodPW, 64, 1, 1, salt8, 15),
		"129-byte key": makeArgon2id(goodPW, 64, 1, 1, salt8, 129),
		"65-byte salt": makeArgon2id(goodPW, 64, 1, 1, bytes.Repeat([]byte{5}, 65), 32),
	} {
		if ok, _, err := h.Verify(ctx, enc, goodPW); ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: Verify = %v, %v; want false, ErrMalformedHash", name, ok, err)
		}
	}
}

// The pbkdf2 and bcrypt parsing bounds are inclusive: i = 1 and
// i = 5,000,000, a salt of 1 and of 1,024 bytes, bcrypt cost 16; one past
// each is a malformed hash. At i = 1 with a 1-byte salt the right password
// verifies and a wrong one does not (found by mutation testing).
func TestPBKDF2AndBcryptParseBoundaries(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	key := b64(make([]byte, 32))
	pb := func(i int, salt []byte, key string) string {
		return "$fa-pbkdf2-sha256$i=" + strconv.Itoa(i) + "$" + b64(salt) + "$" + key
	}
	bc, err := bcrypt.GenerateFromPassword([]byte(goodPW), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		enc string
		ok  bool
	}{
		"pbkdf2 i=1":            {pb(1, []byte{1}, key), true},
		"pbkdf2 i=5000000":      {pb(5_000_000, []byte{1}, key), true},
		"pbkdf2 i=5000001":      {pb(5_000_001, []byte{1}, key), false},
		"pbkdf2 1-byte salt":    {pb(1, []byte{1}, key), true},
		"pbkdf2 1024-byte salt": {pb(1, bytes.Repeat([]byte{1}, 1024), key), true},
		"pbkdf2 1025-byte salt": {pb(1, bytes.Repeat([]byte{1}, 1025), key), false},
		"bcrypt cost 04":        {"$2a$04" + string(bc[6:]), true},
		"bcrypt cost 16":        {"$2a$16" + string(bc[6:]), true},
		"bcrypt cost 17":        {"$2a$17" + string(bc[6:]), false},
	} {
		_, err := Inspect(c.enc)
		if c.ok && err != nil {
			t.Errorf("%s: Inspect = %v, want no error", name, err)
		}
		if !c.ok && !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: Inspect = %v, want ErrMalformedHash", name, err)
		}
	}
	h := NewHasher(fast)
	k, err := pbkdf2.Key(sha256.New, goodPW, []byte{1}, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	enc := pb(1, []byte{1}, b64(k))
	if ok, _, err := h.Verify(context.Background(), enc, goodPW); !ok || err != nil {
		t.Errorf("pbkdf2 i=1, 1-byte salt: Verify(right) = %v, %v", ok, err)
	}
	if ok, _, err := h.Verify(context.Background(), enc, goodPW+"x"); ok || err != nil {
		t.Errorf("pbkdf2 i=1, 1-byte salt: Verify(wrong) = %v, %v", ok, err)
	}
	// ImportFusionAuth's factor bound is the same, inclusive.
	if _, err := ImportFusionAuth(FusionAuthPBKDF2SHA256, 5_000_000, b64([]byte{1}), key); err != nil {
		t.Errorf("ImportFusionAuth(factor 5,000,000) = %v", err)
	}
	if _, err := ImportFusionAuth(FusionAuthPBKDF2SHA256, 5_000_001, b64([]byte{1}), key); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("ImportFusionAuth(factor 5,000,001) = %v, want ErrMalformedHash", err)
	}
	// The field count in a malformed pbkdf2 message is the number of
	// fields after the leading '$'.
	if _, err := Inspect("$fa-pbkdf2-sha256$i=1$x"); err == nil || !strings.Contains(err.Error(), "got 3") {
		t.Errorf("Inspect 3 pbkdf2 fields: %v, want a message with \"got 3\"", err)
	}
}

// IDP-HASH-5: the MaxBytes cap is inclusive in both Hash and Verify (a
// password of exactly MaxBytes is hashed and verifies, one byte more is
// refused), and the argon2id cost cap scales with the hasher's own t
// (found by mutation testing).
func TestMaxBytesAndCostCapBoundaries_IDPHASH5(t *testing.T) {
	ctx := context.Background()
	p := fast
	p.MaxBytes = 64
	h := NewHasher(p)
	exact := strings.Repeat("x", 64)
	enc, err := h.Hash(ctx, exact)
	if err != nil {
		t.Fatalf("Hash(exactly MaxBytes) = %v", err)
	}
	if ok, _, err := h.Verify(ctx, enc, exact); !ok || err != nil {
		t.Errorf("Verify(exactly MaxBytes) = %v, %v; want true, nil", ok, err)
	}
	if _, err := h.Hash(ctx, exact+"x"); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash(MaxBytes+1) = %v, want ErrTooLong", err)
	}
	// With t=2 configured, a stored t of 32 (16×) is within the cap.
	p2 := fast
	p2.Time = 2
	within := makeArgon2id(goodPW, 64, 32, 1, bytes.Repeat([]byte{5}, 16), 32)
	if ok, _, err := NewHasher(p2).Verify(ctx, within, goodPW); !ok || err != nil {
		t.Errorf("Verify(t=16× of t=2) = %v, %v; want true, nil", ok, err)
	}
}

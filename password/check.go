package password

import (
	_ "embed"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// commonList is the embedded list of common breached passwords: a comment
// header (source and MIT license), a blank line, then one lower-case
// password per line, most common first. See common_passwords.txt.
//
//go:embed common_passwords.txt
var commonList string

// Refusals of Check. Returned errors wrap them; test with errors.Is.
var (
	// ErrCommon means the password is on the embedded list of the most
	// common passwords of public breaches, or is one of them with only
	// digits, punctuation, symbols or spaces around it.
	ErrCommon = errors.New("password: among the most common breached passwords")
	// ErrContextSpecific means the password is made of the context words
	// given to Check (the service or application name, the account's email
	// or username).
	ErrContextSpecific = errors.New("password: made of the service name or the account's own identity")
)

// FusionAuth fieldErrors codes for the password refusals, as in
// "[breachedCommonPassword]user.password". Code maps an error to them.
const (
	CodeTooShort        = "tooShort"
	CodeTooLong         = "tooLong"
	CodeBreachedCommon  = "breachedCommonPassword" // FusionAuth's own code for a common breached password
	CodeContextSpecific = "contextSpecific"        // Gatehouse's; FusionAuth has no context check
)

// Code returns the fieldErrors code for a refusal of Validate or Check
// (CodeTooShort, CodeTooLong, CodeBreachedCommon, CodeContextSpecific), or
// "" for any other error.
func Code(err error) string {
	switch {
	case errors.Is(err, ErrTooShort):
		return CodeTooShort
	case errors.Is(err, ErrTooLong):
		return CodeTooLong
	case errors.Is(err, ErrCommon):
		return CodeBreachedCommon
	case errors.Is(err, ErrContextSpecific):
		return CodeContextSpecific
	}
	return ""
}

// Rules of the context check, in characters after folding (see Check).
const (
	// minContainedRunes: a whole context value (an email's local part, a
	// name) this long must not appear anywhere in the password.
	minContainedRunes = 4
	// minWordRunes: shorter context words ("jo", "io") are ignored.
	minWordRunes = 3
	// minOwnRunes: a password that contains context words must keep at
	// least this many letters of its own once they and all digits are
	// taken out.
	minOwnRunes = 8
)

// Check refuses passwords that are known to attackers or derived from the
// account's context, as NIST SP 800-63B (rev. 3 §5.1.1.2, rev. 4 §3.1.1.2)
// asks of a verifier. It does not check length: call Hasher.Validate first.
//
// Common passwords: pw is refused with ErrCommon when, lower-cased, it is
// on the embedded list (the 49,233 most common passwords of the xato.net
// ten-million-password breach corpus, from the MIT-licensed zxcvbn-ts
// project; see common_passwords.txt for source and license), or when it is
// a listed password with only digits, punctuation, symbols and spaces
// before or after it ("Dragon123456789!" is "dragon").
//
// Context: each context value is a string the password must not be built
// from: the service or application name, the user's email, the username.
// Values and password are compared folded: lower-cased, with everything but
// letters and digits removed ("Alice.Smith" and "alice smith" both fold to
// "alicesmith"). For a value with an '@' (an email) the whole value is its
// local part without any "+tag", and its words are the local part's and
// the domain's letter-and-digit runs ("alice.smith+x@mail.example.com":
// whole "alicesmith", words alice, smith, mail, example, com); for any
// other value the whole value is itself and its words are its runs. pw is
// refused with ErrContextSpecific when
//
//  1. it contains a folded whole value of at least 4 characters (it equals
//     or contains the email's local part, the username, the service or
//     application name), or
//  2. it is dominated by context words: it contains at least one word of at
//     least 3 characters, and once every such word and every digit is taken
//     out of the folded password, fewer than 8 characters remain
//     ("Example-Mail-2024!" for alice@mail.example.com).
//
// Check is safe for concurrent use and allocates no shared state; the list
// is searched in place (a password is set rarely, next to a ~100 ms hash).
func Check(pw string, context ...string) error {
	if isCommon(pw) {
		return fmt.Errorf("%w: choose a password that is not on lists of leaked passwords", ErrCommon)
	}
	if reason := contextReason(pw, context); reason != "" {
		return fmt.Errorf("%w: %s", ErrContextSpecific, reason)
	}
	return nil
}

// commonEntries returns the list's entries as "\n"-separated text that
// starts and ends with "\n", so "\n"+pw+"\n" finds whole entries only.
func commonEntries() string {
	i := strings.Index(commonList, "\n\n")
	if i < 0 {
		return ""
	}
	return commonList[i+1:]
}

// inCommonList reports whether the lower-case s is an entry of the list.
func inCommonList(s string) bool {
	if s == "" || strings.ContainsAny(s, "\r\n") {
		return false // never a single entry; "\n" would join two
	}
	return strings.Contains(commonEntries(), "\n"+s+"\n")
}

// isCommon applies the common-password rule of Check.
func isCommon(pw string) bool {
	l := strings.ToLower(pw)
	if inCommonList(l) {
		return true
	}
	core := strings.TrimFunc(l, func(r rune) bool {
		return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
	})
	return core != l && inCommonList(core)
}

// fold lower-cases s and keeps only its letters and digits.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, s)
}

// words returns the folded letter-and-digit runs of s.
func words(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i := range f {
		f[i] = fold(f[i])
	}
	return f
}

// contextReason applies the context rules of Check; "" means pw passes.
// The reason names the rule, never the password or the context value.
func contextReason(pw string, context []string) string {
	p := fold(pw)
	if p == "" {
		return ""
	}
	var ws []string
	for _, c := range context {
		whole, parts := c, words(c)
		if at := strings.LastIndexByte(c, '@'); at >= 0 {
			local, _, _ := strings.Cut(c[:at], "+")
			whole, parts = local, append(words(local), words(c[at+1:])...)
		}
		if w := fold(whole); utf8.RuneCountInString(w) >= minContainedRunes && strings.Contains(p, w) {
			return "the password contains the account's email name, username or the service's name"
		}
		for _, w := range append(parts, fold(whole)) {
			if utf8.RuneCountInString(w) >= minWordRunes {
				ws = append(ws, w)
			}
		}
	}
	// Longest first, so "examples" goes before "example" can split it.
	sort.Slice(ws, func(i, j int) bool { return len(ws[i]) > len(ws[j]) })
	rest := p
	for _, w := range ws {
		rest = strings.ReplaceAll(rest, w, "")
	}
	if rest == p {
		return "" // no context word in it
	}
	rest = strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return -1
		}
		return r
	}, rest)
	if utf8.RuneCountInString(rest) < minOwnRunes {
		return "the password is mostly the account's email, username or the service's name"
	}
	return ""
}

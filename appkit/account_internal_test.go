package appkit

import (
	"errors"
	"reflect"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// TestPolicyErrors: the IdP's field-error codes become one sentence per
// form field, for FusionAuth's "user.password" and bare "password" fields
// alike; a duplicate address is no form error (no enumeration).
func TestPolicyErrors(t *testing.T) {
	for _, tt := range []struct {
		codes []string
		want  FieldErrors
	}{
		{[]string{"[tooShort]user.password"}, FieldErrors{"password": MsgPasswordTooShort}},
		{[]string{"[breachedCommonPassword]password"}, FieldErrors{"password": MsgPasswordBreached}},
		{[]string{"[contextSpecific]user.password"}, FieldErrors{"password": MsgPasswordContext}},
		{[]string{"[tooLong]password"}, FieldErrors{"password": MsgPasswordTooLong}},
		{[]string{"[singleCase]password"}, FieldErrors{"password": MsgPasswordRejected}},
		{[]string{"[breachedCommonPassword]user.password", "[tooShort]user.password"}, FieldErrors{"password": MsgPasswordTooShort}},
		{[]string{"[invalid]email"}, FieldErrors{"email": MsgEmailInvalid}},
		{[]string{"[duplicate]user.email"}, nil},
		{[]string{"[duplicate]user.email", "[tooShort]user.password"}, FieldErrors{"password": MsgPasswordTooShort}},
		{[]string{"[invalid]registration.applicationId"}, nil},
		{[]string{"garbage"}, nil},
	} {
		err := &idpclient.Error{Op: "x", Kind: idpclient.ErrInvalidInput, Fields: tt.codes}
		if got := policyErrors(err); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v: %v, want %v", tt.codes, got, tt.want)
		}
	}
	if policyErrors(errors.New("plain")) != nil {
		t.Error("a plain error has field errors")
	}
}

// TestCheckEmail: the kit refuses plainly malformed addresses before the
// IdP (which decides the rest).
func TestCheckEmail(t *testing.T) {
	for email, ok := range map[string]bool{
		"ann@example.com": true, "a+b@x.io": true, "": false, "ann": false, "@example.com": false, "ann@": false,
		"a@b@c": false, "ann @example.com": false, "<ann@example.com>": false, string(make([]byte, 400)) + "@x.io": false,
	} {
		if got := checkEmail(email) == ""; got != ok {
			t.Errorf("checkEmail(%.20q) ok = %v", email, got)
		}
	}
}

// Package softpasskey is a software WebAuthn authenticator for tests: it
// answers the creation and request options the IdP hands out
// (/api/webauthn/register/start, /api/webauthn/start) as a browser with a
// platform passkey would — an ES256 key, attestation "none", user presence
// and user verification — and produces the JSON of
// PublicKeyCredential.toJSON(). Tests tamper with an Assertion's fields to
// check every refusal.
package softpasskey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator flags (WebAuthn §6.1).
const (
	FlagUP = 0x01 // user present
	FlagUV = 0x04 // user verified
	FlagBE = 0x08 // backup eligible
	FlagBS = 0x10 // backed up
	FlagAT = 0x40 // attested credential data included
)

var b64 = base64.RawURLEncoding

// Authenticator holds one passkey.
type Authenticator struct {
	// Origin is the origin the client data names (the page's).
	Origin string
	// Flags are the authenticator-data flags (default FlagUP|FlagUV).
	Flags byte
	// Counter is the signature counter: Assert increments it first, unless
	// FixedCounter (then it is sent as is: a clone, or an authenticator
	// without a counter when 0).
	Counter      uint32
	FixedCounter bool

	key          *ecdsa.PrivateKey
	CredentialID []byte
	UserHandle   []byte // from the creation options' user.id
	RPID         string // from the creation options' rp.id
}

// New returns an authenticator for pages at origin with a fresh key and
// credential id.
func New(origin string) *Authenticator {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &Authenticator{Origin: origin, Flags: FlagUP | FlagUV, key: k, CredentialID: id}
}

// unwrap accepts {"options":{…}} (the IdP's answer) or the options.
func unwrap(optionsJSON []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(optionsJSON, &m); err != nil {
		return nil, fmt.Errorf("softpasskey: options: %w", err)
	}
	if o, ok := m["options"].(map[string]any); ok {
		return o, nil
	}
	return m, nil
}

// Register answers creation options with a new credential, as
// PublicKeyCredential.toJSON() of navigator.credentials.create().
func (a *Authenticator) Register(optionsJSON []byte) ([]byte, error) {
	o, err := unwrap(optionsJSON)
	if err != nil {
		return nil, err
	}
	challenge, _ := o["challenge"].(string)
	rp, _ := o["rp"].(map[string]any)
	user, _ := o["user"].(map[string]any)
	rpID, _ := rp["id"].(string)
	uid, _ := user["id"].(string)
	if challenge == "" || rpID == "" || uid == "" {
		return nil, errors.New("softpasskey: creation options lack challenge, rp.id or user.id")
	}
	handle, err := b64.DecodeString(uid)
	if err != nil {
		return nil, fmt.Errorf("softpasskey: user.id: %w", err)
	}
	a.RPID, a.UserHandle = rpID, handle
	cd := a.clientData("webauthn.create", challenge, a.Origin)
	x, y := make([]byte, 32), make([]byte, 32)
	a.key.X.FillBytes(x)
	a.key.Y.FillBytes(y)
	coseKey, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y}) // EC2, ES256, P-256
	if err != nil {
		return nil, err
	}
	ad := a.authData(rpID, a.Flags|FlagAT, a.Counter)
	ad = append(ad, make([]byte, 16)...) // AAGUID: none
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(a.CredentialID)))
	ad = append(ad, a.CredentialID...)
	ad = append(ad, coseKey...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.CredentialID), "rawId": b64.EncodeToString(a.CredentialID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "attestationObject": b64.EncodeToString(att),
			"transports": []string{"internal"}},
	})
}

func (a *Authenticator) clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) authData(rpID string, flags byte, counter uint32) []byte {
	h := sha256.Sum256([]byte(rpID))
	ad := append(h[:0:0], h[:]...)
	ad = append(ad, flags)
	return binary.BigEndian.AppendUint32(ad, counter)
}

// Assertion is an assertion's parts, for tests to tamper with before JSON.
type Assertion struct {
	CredentialID      []byte
	ClientDataJSON    []byte
	AuthenticatorData []byte
	Signature         []byte
	UserHandle        []byte // nil: none sent
}

// Assertion answers request options (their challenge and rpId) with a
// signed assertion.
func (a *Authenticator) Assertion(optionsJSON []byte) (*Assertion, error) {
	o, err := unwrap(optionsJSON)
	if err != nil {
		return nil, err
	}
	challenge, _ := o["challenge"].(string)
	rpID, _ := o["rpId"].(string)
	if challenge == "" || rpID == "" {
		return nil, errors.New("softpasskey: request options lack challenge or rpId")
	}
	if !a.FixedCounter {
		a.Counter++
	}
	as := &Assertion{CredentialID: a.CredentialID, ClientDataJSON: a.clientData("webauthn.get", challenge, a.Origin),
		AuthenticatorData: a.authData(rpID, a.Flags, a.Counter), UserHandle: a.UserHandle}
	as.Signature = a.Sign(as.AuthenticatorData, as.ClientDataJSON)
	return as, nil
}

// Sign signs authenticatorData || SHA-256(clientDataJSON) with the
// passkey's key, as the authenticator does.
func (a *Authenticator) Sign(authData, clientDataJSON []byte) []byte {
	h := sha256.Sum256(clientDataJSON)
	d := sha256.Sum256(append(append([]byte(nil), authData...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, d[:])
	if err != nil {
		panic(err)
	}
	return sig
}

// Assert is Assertion's JSON.
func (a *Authenticator) Assert(optionsJSON []byte) ([]byte, error) {
	as, err := a.Assertion(optionsJSON)
	if err != nil {
		return nil, err
	}
	return as.JSON(), nil
}

// JSON is PublicKeyCredential.toJSON() of navigator.credentials.get().
func (as *Assertion) JSON() []byte {
	resp := map[string]any{"clientDataJSON": b64.EncodeToString(as.ClientDataJSON),
		"authenticatorData": b64.EncodeToString(as.AuthenticatorData), "signature": b64.EncodeToString(as.Signature)}
	if as.UserHandle != nil {
		resp["userHandle"] = b64.EncodeToString(as.UserHandle)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(as.CredentialID), "rawId": b64.EncodeToString(as.CredentialID),
		"type": "public-key", "authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{}, "response": resp})
	return b
}

package idp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Passkeys (WebAuthn, issue 12, compat §17). A user's passkeys live in
// store.User.MultiFactor (multiFactor.Passkeys), so registering one,
// counting a login's signature counter and removing one are each a single
// UpdateUser. A ceremony's challenge is a TicketWebAuthn keyed by the
// SHA-256 of the challenge: it lives webAuthnChallengeTTL and is taken
// (single use) before the response is verified (WA-1). The relying party
// (its id and allowed origins) is per application (WA-2).

const (
	// webAuthnChallengeTTL bounds a ceremony, also sent as the options'
	// timeout.
	webAuthnChallengeTTL = 5 * time.Minute
	// maxPasskeys per user: the MultiFactor document stays small.
	maxPasskeys = 20
	// passkeyNameMax is the longest name a passkey may be given (runes).
	passkeyNameMax = 100

	ceremonyRegister = "register"
	ceremonyLogin    = "login"
)

// passkey is one registered WebAuthn credential (a multiFactor.Passkeys
// element).
type passkey struct {
	// ID is FusionAuth's credential id (a UUID), the one the API names.
	ID string `json:"id"`
	// CredentialID is the authenticator's credential id, base64url.
	CredentialID string `json:"credentialId"`
	// PublicKey is the credential's COSE_Key, Algorithm its COSE alg.
	PublicKey         []byte `json:"publicKey"`
	Algorithm         int64  `json:"algorithm,omitempty"`
	AttestationType   string `json:"attestationType,omitempty"`
	AttestationFormat string `json:"attestationFormat,omitempty"`
	AAGUID            []byte `json:"aaguid,omitempty"`
	// SignCount is the last signature counter seen; CloneWarning marks a
	// credential whose counter went backwards: it is refused (WA-5).
	SignCount      uint32    `json:"signCount"`
	CloneWarning   bool      `json:"cloneWarning,omitempty"`
	Transports     []string  `json:"transports,omitempty"`
	Name           string    `json:"name"`
	DisplayName    string    `json:"displayName,omitempty"`
	RelyingPartyID string    `json:"relyingPartyId"`
	UserVerified   bool      `json:"userVerified,omitempty"`
	BackupEligible bool      `json:"backupEligible,omitempty"`
	BackupState    bool      `json:"backupState,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	LastUsedAt     time.Time `json:"lastUsedAt,omitzero"`
}

// rawCredentialID is the credential id's bytes.
func (p *passkey) rawCredentialID() []byte {
	b, _ := base64.RawURLEncoding.DecodeString(p.CredentialID)
	return b
}

// credential is p as the library's credential record.
func (p *passkey) credential() webauthn.Credential {
	c := webauthn.Credential{ID: p.rawCredentialID(), PublicKey: p.PublicKey, AttestationType: p.AttestationType,
		AttestationFormat: p.AttestationFormat,
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: p.UserVerified,
			BackupEligible: p.BackupEligible, BackupState: p.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount, CloneWarning: p.CloneWarning}}
	for _, t := range p.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// amr is the RFC 8176 amr of a login with p: a key ("hwk" when it cannot
// leave its device, "swk" for a synced passkey, which can), the user
// verification the ceremony required ("user") and, as possession plus
// verification, "mfa".
func (p *passkey) amr() []string {
	key := "hwk"
	if p.BackupEligible {
		key = "swk"
	}
	return []string{key, "user", "mfa"}
}

// findPasskey returns the index of the passkey with that credential id, or -1.
func (m *multiFactor) findPasskey(rawID []byte) int {
	for i := range m.Passkeys {
		if bytes.Equal(m.Passkeys[i].rawCredentialID(), rawID) {
			return i
		}
	}
	return -1
}

func (m *multiFactor) passkeyByID(id string) int {
	for i := range m.Passkeys {
		if m.Passkeys[i].ID == id {
			return i
		}
	}
	return -1
}

// webAuthnUser is a store user as the library's User. The user handle is
// the user id's bytes, so a discoverable credential names its user.
type webAuthnUser struct {
	u    *store.User
	keys []passkey
	// name and display are what the authenticator shows.
	name, display string
}

func newWebAuthnUser(u *store.User) (*webAuthnUser, error) {
	m, err := parseMultiFactor(u.MultiFactor)
	if err != nil {
		return nil, err
	}
	name := u.Email
	if name == "" {
		name = u.Username
	}
	display := u.FullName
	if display == "" {
		display = name
	}
	return &webAuthnUser{u: u, keys: m.Passkeys, name: name, display: display}, nil
}

func (w *webAuthnUser) WebAuthnID() []byte          { return []byte(w.u.ID) }
func (w *webAuthnUser) WebAuthnName() string        { return w.name }
func (w *webAuthnUser) WebAuthnDisplayName() string { return w.display }
func (w *webAuthnUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(w.keys))
	for i := range w.keys {
		out = append(out, w.keys[i].credential())
	}
	return out
}

func (w *webAuthnUser) descriptors() []protocol.CredentialDescriptor {
	return webauthn.Credentials(w.WebAuthnCredentials()).CredentialDescriptors()
}

// appRelyingParty is the application's WebAuthn relying party: its
// webAuthnRelyingPartyId and webAuthnOrigins, each defaulting from its
// BaseURL (the host; scheme://host[:port]). ok is false when the
// application has none (passkeys are then unavailable for it).
func appRelyingParty(c store.ApplicationConfig) (rpID string, origins []string, ok bool) {
	rpID, origins = c.WebAuthnRelyingPartyID, c.WebAuthnOrigins
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http") {
			if rpID == "" && net.ParseIP(u.Hostname()) == nil {
				rpID = strings.ToLower(u.Hostname())
			}
			if len(origins) == 0 {
				origins = []string{u.Scheme + "://" + strings.ToLower(u.Host)}
			}
		}
	}
	return rpID, origins, rpID != "" && len(origins) > 0
}

// validateRelyingParty checks an application's WebAuthn settings as the
// admin API saves them: an id that is a domain, and origins that are
// https (or http on loopback) with no path and a host at or under the id.
func validateRelyingParty(c store.ApplicationConfig) error {
	if c.WebAuthnRelyingPartyID != "" {
		if err := protocol.ValidateRPID(c.WebAuthnRelyingPartyID); err != nil || strings.Contains(c.WebAuthnRelyingPartyID, "/") ||
			strings.Contains(c.WebAuthnRelyingPartyID, ":") || c.WebAuthnRelyingPartyID != strings.ToLower(c.WebAuthnRelyingPartyID) {
			return invalid("webAuthnRelyingPartyId", "invalid", "The relying party id must be a lower-case domain name (no scheme, port or path).")
		}
	}
	for i, o := range c.WebAuthnOrigins {
		if _, problem := webAuthnOrigin(o); problem != "" {
			return invalid("webAuthnOrigins["+itoa(i)+"]", "invalid", problem)
		}
	}
	rpID, origins, ok := appRelyingParty(c)
	if !ok {
		return nil
	}
	for i, o := range origins {
		host, problem := webAuthnOrigin(o)
		if problem != "" {
			return invalid("baseURL", "invalid", problem)
		}
		if host != rpID && !strings.HasSuffix(host, "."+rpID) {
			return invalid("webAuthnOrigins["+itoa(i)+"]", "invalid", "Every origin's host must be the relying party id or under it.")
		}
	}
	return nil
}

// webAuthnOrigin checks one origin and returns its host, or the message
// of a field error.
func webAuthnOrigin(o string) (host, problem string) {
	const notHTTPS = "An origin must be https (http only on loopback)."
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" ||
		u.Opaque != "" || o != strings.ToLower(o) || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return "", "An origin is scheme://host[:port] in lower case, without a path."
	}
	switch u.Scheme {
	case "https":
	case "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", notHTTPS
		}
	default:
		return "", notHTTPS
	}
	return u.Hostname(), ""
}

// relyingParty returns the library's relying party for the application,
// accepting responses collected at origins. Every check the library has
// stays on: challenge, origin, rpIdHash, user presence and user
// verification (required), signature, counter (WA-3).
func relyingParty(app *store.Application, rpID string, origins []string) (*webauthn.WebAuthn, error) {
	name := app.Name
	if name == "" {
		name = rpID
	}
	rk := true
	rp, err := webauthn.New(&webauthn.Config{
		RPID: rpID, RPDisplayName: name, RPOrigins: origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{RequireResidentKey: &rk,
			ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: webAuthnChallengeTTL, TimeoutUVD: webAuthnChallengeTTL},
			Registration: webauthn.TimeoutConfig{Timeout: webAuthnChallengeTTL, TimeoutUVD: webAuthnChallengeTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn relying party %q: %w", rpID, err)
	}
	return rp, nil
}

// ceremony is the Data of a TicketWebAuthn.
type ceremony struct {
	Purpose string               `json:"purpose"` // ceremonyRegister or ceremonyLogin
	Session webauthn.SessionData `json:"session"`
	// Name and DisplayName name the passkey a registration creates.
	Name        string `json:"name,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// challengeHash is the ticket hash of a ceremony's challenge (base64url,
// as in the options and the client data).
func challengeHash(challenge string) []byte { return hashToken("webauthn\x00" + challenge) }

// saveCeremony stores a begun ceremony for userID (may be empty) at app.
func (s *Server) saveCeremony(ctx context.Context, userID, appID string, c ceremony) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("webauthn ceremony: %w", err)
	}
	now := s.now()
	if err := s.store.CreateTicket(ctx, &store.Ticket{Hash: challengeHash(c.Session.Challenge), Kind: store.TicketWebAuthn,
		UserID: userID, ApplicationID: appID, Data: data, CreatedAt: now, ExpiresAt: now.Add(webAuthnChallengeTTL)}); err != nil {
		return fmt.Errorf("webauthn ceremony: %w", err)
	}
	return nil
}

// takeCeremony takes (single use, WA-1) the live ceremony of a challenge
// and purpose; store.ErrNotFound when there is none.
func (s *Server) takeCeremony(ctx context.Context, challenge, purpose string) (*store.Ticket, *ceremony, error) {
	if challenge == "" || len(challenge) > 256 {
		return nil, nil, store.ErrNotFound
	}
	t, err := s.store.TakeTicket(ctx, store.TicketWebAuthn, challengeHash(challenge), s.now())
	if err != nil {
		return nil, nil, err
	}
	var c ceremony
	if err := json.Unmarshal(t.Data, &c); err != nil {
		return nil, nil, fmt.Errorf("webauthn ceremony: %w", err)
	}
	if c.Purpose != purpose || c.Session.Challenge != challenge {
		return nil, nil, store.ErrNotFound
	}
	return t, &c, nil
}

// normalizeCredentialJSON accepts both FusionAuth's credential shape
// (no rawId; transports beside response) and the browser's
// PublicKeyCredential.toJSON() shape, and returns the latter, which the
// library parses.
func normalizeCredentialJSON(raw json.RawMessage) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errors.New("credential is not a JSON object")
	}
	id, _ := m["id"].(string)
	if _, ok := m["rawId"]; !ok && id != "" {
		m["rawId"] = id
	}
	if _, ok := m["type"]; !ok {
		m["type"] = string(protocol.PublicKeyCredentialType)
	}
	if resp, ok := m["response"].(map[string]any); ok {
		if t, ok := m["transports"]; ok {
			if _, has := resp["transports"]; !has {
				resp["transports"] = t
			}
		}
	}
	delete(m, "transports")
	delete(m, "rpId")
	return json.Marshal(m)
}

// newPasskey builds the stored passkey of a verified registration.
func newPasskey(cred *webauthn.Credential, rpID, name, display string, now time.Time) passkey {
	p := passkey{ID: uuid.NewString(), CredentialID: base64.RawURLEncoding.EncodeToString(cred.ID),
		PublicKey: cred.PublicKey, AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		AAGUID: cred.Authenticator.AAGUID, SignCount: cred.Authenticator.SignCount, Name: name, DisplayName: display,
		RelyingPartyID: rpID, UserVerified: cred.Flags.UserVerified, BackupEligible: cred.Flags.BackupEligible,
		BackupState: cred.Flags.BackupState, CreatedAt: now}
	for _, t := range cred.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	var key map[int]any
	if err := cbor.Unmarshal(cred.PublicKey, &key); err == nil {
		switch a := key[3].(type) { // COSE_Key label 3: alg
		case int64:
			p.Algorithm = a
		case uint64:
			p.Algorithm = int64(a)
		}
	}
	return p
}

// webAuthnCredentialJSON is FusionAuth's WebAuthnCredential, plus
// Gatehouse's aaguid, backup flags and cloneWarning.
type webAuthnCredentialJSON struct {
	ID                                    string   `json:"id"`
	Algorithm                             int64    `json:"algorithm,omitempty"`
	AttestationType                       string   `json:"attestationType"`
	AuthenticatorSupportsUserVerification bool     `json:"authenticatorSupportsUserVerification"`
	CredentialID                          string   `json:"credentialId"`
	Discoverable                          bool     `json:"discoverable"`
	DisplayName                           string   `json:"displayName,omitempty"`
	InsertInstant                         int64    `json:"insertInstant"`
	LastUseInstant                        int64    `json:"lastUseInstant"`
	Name                                  string   `json:"name"`
	PublicKey                             string   `json:"publicKey"`
	RelyingPartyID                        string   `json:"relyingPartyId"`
	SignCount                             uint32   `json:"signCount"`
	Transports                            []string `json:"transports"`
	UserID                                string   `json:"userId"`
	AAGUID                                string   `json:"aaguid,omitempty"`
	BackupEligible                        bool     `json:"backupEligible"`
	BackedUp                              bool     `json:"backedUp"`
	CloneWarning                          bool     `json:"cloneWarning,omitempty"`
}

// fusionAuthAttestationType maps the library's attestation types to
// FusionAuth's AttestationType names.
var fusionAuthAttestationType = map[string]string{
	"none": "none", "self": "self", "basic_full": "basic", "basic_surrogate": "self",
	"attca": "attestationCa", "anonca": "anonymizationCa",
}

func (p *passkey) toJSON(userID string) webAuthnCredentialJSON {
	j := webAuthnCredentialJSON{ID: p.ID, Algorithm: p.Algorithm, AttestationType: fusionAuthAttestationType[p.AttestationType],
		AuthenticatorSupportsUserVerification: p.UserVerified, CredentialID: p.CredentialID, Discoverable: true,
		DisplayName: p.DisplayName, InsertInstant: p.CreatedAt.UnixMilli(), LastUseInstant: p.CreatedAt.UnixMilli(),
		Name: p.Name, PublicKey: base64.RawURLEncoding.EncodeToString(p.PublicKey), RelyingPartyID: p.RelyingPartyID,
		SignCount: p.SignCount, Transports: p.Transports, UserID: userID, BackupEligible: p.BackupEligible,
		BackedUp: p.BackupState, CloneWarning: p.CloneWarning}
	if j.AttestationType == "" {
		j.AttestationType = "none"
	}
	if j.Transports == nil {
		j.Transports = []string{}
	}
	if !p.LastUsedAt.IsZero() {
		j.LastUseInstant = p.LastUsedAt.UnixMilli()
	}
	if a, err := uuid.FromBytes(p.AAGUID); err == nil {
		j.AAGUID = a.String()
	}
	return j
}

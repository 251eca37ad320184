package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

func intPtr(i int) *int { return &i }

func testAppRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := &store.Application{
		ID:               uuid.NewString(),
		Name:             "Store — «shop»",
		Active:           true,
		ClientSecretHash: digest("client-secret"),
		// Every config field set, so a backend that drops one fails here.
		Config: store.ApplicationConfig{
			EnabledGrants:                  []string{"password", "refresh_token"},
			GenerateRefreshTokens:          true,
			AllowTokenRefresh:              true,
			ClientAuthenticationPolicy:     "NotRequiredWhenUsingPKCE",
			Roles:                          []string{"admin", "user"},
			AccessTokenTTLSeconds:          300,
			RefreshTokenTTLMinutes:         43200,
			RefreshTokenExpirationPolicy:   "SlidingWindowWithMaximumLifetime",
			RefreshTokenMaxLifetimeMinutes: 86400,
			RefreshTokenUsagePolicy:        "OneTimeUse",
			GracePeriodSeconds:             intPtr(15),
			WebhookURLs:                    []string{"https://store.example/hooks/idp", "https://audit.example/in"},
			WebhookSecret:                  "whsec-123",
		},
		CreatedAt: at(-100),
	}
	noErr(t, "CreateApplication", s.CreateApplication(ctx, a))
	got, err := s.GetApplication(ctx, a.ID)
	noErr(t, "GetApplication", err)
	same(t, "GetApplication", a, got)

	// A public client: no secret, default config.
	pub := &store.Application{ID: uuid.NewString(), Name: "public", CreatedAt: at(0)}
	noErr(t, "CreateApplication(public)", s.CreateApplication(ctx, pub))
	got, err = s.GetApplication(ctx, pub.ID)
	noErr(t, "GetApplication(public)", err)
	same(t, "GetApplication(public)", pub, got)
	if len(got.ClientSecretHash) != 0 {
		t.Errorf("public client: ClientSecretHash %x, want empty", got.ClientSecretHash)
	}
}

// testAppGracePeriod: nil means "IdP default (10 s)", 0 means "no grace";
// confusing them would silently change reuse detection (IDP-RT-4).
func testAppGracePeriod(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, gp := range []*int{nil, intPtr(0), intPtr(7)} {
		a := newApp()
		a.Config.GracePeriodSeconds = gp
		createApp(t, s, a)
		got, err := s.GetApplication(ctx, a.ID)
		noErr(t, "GetApplication", err)
		switch {
		case gp == nil && got.Config.GracePeriodSeconds != nil:
			t.Errorf("GracePeriodSeconds nil came back as &%d", *got.Config.GracePeriodSeconds)
		case gp != nil && got.Config.GracePeriodSeconds == nil:
			t.Errorf("GracePeriodSeconds &%d came back nil", *gp)
		case gp != nil && *got.Config.GracePeriodSeconds != *gp:
			t.Errorf("GracePeriodSeconds &%d came back &%d", *gp, *got.Config.GracePeriodSeconds)
		}
	}
}

func testAppDuplicateMissing(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createApp(t, s, newApp())
	dup := newApp()
	dup.ID = a.ID
	wantErr(t, "CreateApplication(same id)", s.CreateApplication(ctx, dup), store.ErrDuplicate)
	got, err := s.GetApplication(ctx, a.ID)
	noErr(t, "GetApplication", err)
	same(t, "application after duplicate insert", a, got)

	_, err = s.GetApplication(ctx, uuid.NewString())
	wantErr(t, "GetApplication(unknown)", err, store.ErrNotFound)
	wantErr(t, "UpdateApplication(unknown)", s.UpdateApplication(ctx, newApp()), store.ErrNotFound)
	wantErr(t, "DeleteApplication(unknown)", s.DeleteApplication(ctx, uuid.NewString()), store.ErrNotFound)
}

func testAppUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createApp(t, s, newApp())
	upd := *a
	upd.Name = "renamed"
	upd.Active = false
	upd.ClientSecretHash = digest("rotated secret")
	upd.Config = store.ApplicationConfig{
		EnabledGrants:           []string{"password"},
		AllowTokenRefresh:       true,
		RefreshTokenUsagePolicy: "Reusable",
		GracePeriodSeconds:      intPtr(0),
		Roles:                   []string{"moderator"},
	}
	noErr(t, "UpdateApplication", s.UpdateApplication(ctx, &upd))
	got, err := s.GetApplication(ctx, a.ID)
	noErr(t, "GetApplication", err)
	same(t, "after UpdateApplication", &upd, got)
}

func testAppList(t *testing.T, s store.Store) {
	offsets := []int{20, 0, 10}
	byTime := map[int]string{}
	for _, off := range offsets {
		a := newApp()
		a.CreatedAt = at(off)
		createApp(t, s, a)
		byTime[off] = a.ID
	}
	got, err := s.ListApplications(t.Context())
	noErr(t, "ListApplications", err)
	wantIDs(t, "ListApplications", []string{byTime[0], byTime[10], byTime[20]}, ids(got))
}

func testAppDeleteCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, a, rt := userAppToken(t, s)
	old := rt.TokenHash
	rotate(t, s, rt, at(60))
	createReg(t, s, u, a, at(0))
	other := createApp(t, s, newApp())
	otherRT := createToken(t, s, newToken(u, other))
	createReg(t, s, u, other, at(1))

	noErr(t, "DeleteApplication", s.DeleteApplication(ctx, a.ID))

	_, err := s.GetApplication(ctx, a.ID)
	wantErr(t, "GetApplication(deleted)", err, store.ErrNotFound)
	_, err = s.GetRegistration(ctx, u.ID, a.ID)
	wantErr(t, "GetRegistration(deleted app)", err, store.ErrNotFound)
	_, err = s.GetRefreshToken(ctx, rt.ID)
	wantErr(t, "GetRefreshToken(deleted app)", err, store.ErrNotFound)
	_, err = s.GetRotation(ctx, old)
	wantErr(t, "GetRotation(deleted app)", err, store.ErrNotFound)

	// The user and the other application's records are untouched.
	_, err = s.GetUser(ctx, u.ID)
	noErr(t, "GetUser", err)
	_, err = s.GetRefreshToken(ctx, otherRT.ID)
	noErr(t, "other app's token", err)
	regs, err := s.ListRegistrations(ctx, u.ID)
	noErr(t, "ListRegistrations", err)
	if len(regs) != 1 || regs[0].ApplicationID != other.ID {
		t.Errorf("registrations left: %d, want only the other app's", len(regs))
	}
}

func testRegRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	r := &store.Registration{
		ID: uuid.NewString(), UserID: u.ID, ApplicationID: a.ID,
		Roles: []string{"admin", "user", "ünïcode"}, Verified: true, CreatedAt: at(5),
	}
	noErr(t, "CreateRegistration", s.CreateRegistration(ctx, r))
	got, err := s.GetRegistration(ctx, u.ID, a.ID)
	noErr(t, "GetRegistration", err)
	same(t, "GetRegistration", r, got)

	// No roles round-trips as no roles.
	b := createApp(t, s, newApp())
	bare := &store.Registration{ID: uuid.NewString(), UserID: u.ID, ApplicationID: b.ID, CreatedAt: at(6)}
	noErr(t, "CreateRegistration(no roles)", s.CreateRegistration(ctx, bare))
	got, err = s.GetRegistration(ctx, u.ID, b.ID)
	noErr(t, "GetRegistration(no roles)", err)
	same(t, "GetRegistration(no roles)", bare, got)

	c := createApp(t, s, newApp())
	_, err = s.GetRegistration(ctx, u.ID, c.ID)
	wantErr(t, "GetRegistration(not registered)", err, store.ErrNotFound)
}

func testRegPairUnique(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	r := createReg(t, s, u, a, at(0))

	dup := &store.Registration{ID: uuid.NewString(), UserID: u.ID, ApplicationID: a.ID, Roles: []string{"x"}, CreatedAt: at(1)}
	wantErr(t, "CreateRegistration(same pair)", s.CreateRegistration(ctx, dup), store.ErrDuplicate)
	got, err := s.GetRegistration(ctx, u.ID, a.ID)
	noErr(t, "GetRegistration", err)
	same(t, "registration after duplicate", r, got)

	// The same user at another app, and another user at the same app, are fine.
	createReg(t, s, u, createApp(t, s, newApp()), at(2))
	createReg(t, s, createUser(t, s, newUser()), a, at(3))
}

func testRegUnknownRefs(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	r := &store.Registration{ID: uuid.NewString(), UserID: uuid.NewString(), ApplicationID: a.ID}
	wantErr(t, "CreateRegistration(unknown user)", s.CreateRegistration(ctx, r), store.ErrNotFound)
	r = &store.Registration{ID: uuid.NewString(), UserID: u.ID, ApplicationID: uuid.NewString()}
	wantErr(t, "CreateRegistration(unknown app)", s.CreateRegistration(ctx, r), store.ErrNotFound)
}

func testRegUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	r := createReg(t, s, u, a, at(0))
	upd := *r
	upd.Roles = []string{"admin", "editor"}
	upd.Verified = true
	noErr(t, "UpdateRegistration", s.UpdateRegistration(ctx, &upd))
	got, err := s.GetRegistration(ctx, u.ID, a.ID)
	noErr(t, "GetRegistration", err)
	same(t, "after UpdateRegistration", &upd, got)

	upd.Roles = nil
	noErr(t, "UpdateRegistration(no roles)", s.UpdateRegistration(ctx, &upd))
	got, err = s.GetRegistration(ctx, u.ID, a.ID)
	noErr(t, "GetRegistration", err)
	if len(got.Roles) != 0 {
		t.Errorf("roles after clearing: %v", got.Roles)
	}

	other := createApp(t, s, newApp())
	missing := &store.Registration{ID: uuid.NewString(), UserID: u.ID, ApplicationID: other.ID}
	wantErr(t, "UpdateRegistration(unknown pair)", s.UpdateRegistration(ctx, missing), store.ErrNotFound)
}

func testRegList(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	var want []string
	apps := make([]*store.Application, 3)
	for i := range apps {
		apps[i] = createApp(t, s, newApp())
	}
	// Created out of order: the list follows CreatedAt.
	r2 := createReg(t, s, u, apps[0], at(20))
	r0 := createReg(t, s, u, apps[1], at(0))
	r1 := createReg(t, s, u, apps[2], at(10))
	want = []string{r0.ID, r1.ID, r2.ID}
	createReg(t, s, createUser(t, s, newUser()), apps[0], at(5)) // someone else's

	got, err := s.ListRegistrations(ctx, u.ID)
	noErr(t, "ListRegistrations", err)
	wantIDs(t, "ListRegistrations", want, ids(got))

	none, err := s.ListRegistrations(ctx, uuid.NewString())
	noErr(t, "ListRegistrations(unknown user)", err)
	if len(none) != 0 {
		t.Errorf("ListRegistrations(unknown user): %d results", len(none))
	}
}

func testRegDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	b := createApp(t, s, newApp())
	createReg(t, s, u, a, at(0))
	keep := createReg(t, s, u, b, at(1))

	noErr(t, "DeleteRegistration", s.DeleteRegistration(ctx, u.ID, a.ID))
	_, err := s.GetRegistration(ctx, u.ID, a.ID)
	wantErr(t, "GetRegistration(deleted)", err, store.ErrNotFound)
	wantErr(t, "DeleteRegistration(again)", s.DeleteRegistration(ctx, u.ID, a.ID), store.ErrNotFound)

	got, err := s.GetRegistration(ctx, u.ID, b.ID)
	noErr(t, "GetRegistration(kept)", err)
	same(t, "kept registration", keep, got)
	// The user and application themselves stay.
	_, err = s.GetUser(ctx, u.ID)
	noErr(t, "GetUser", err)
	_, err = s.GetApplication(ctx, a.ID)
	noErr(t, "GetApplication", err)
}

func newAPIKey(created time.Time) *store.APIKey {
	return &store.APIKey{ID: uuid.NewString(), KeyHash: digest("key-" + uuid.NewString()), Description: "ci key " + short(), CreatedAt: created}
}

func testAPIKeyLookup(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := newAPIKey(at(3))
	noErr(t, "CreateAPIKey", s.CreateAPIKey(ctx, k))
	noErr(t, "CreateAPIKey(other)", s.CreateAPIKey(ctx, newAPIKey(at(4))))

	_, err := s.GetAPIKeyByHash(ctx, digest("the wrong key"))
	wantErr(t, "GetAPIKeyByHash(unknown)", err, store.ErrNotFound)
	got, err := s.GetAPIKeyByHash(ctx, bytes.Clone(k.KeyHash))
	noErr(t, "GetAPIKeyByHash", err)
	same(t, "GetAPIKeyByHash", k, got)
}

func testAPIKeyDuplicates(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := newAPIKey(at(0))
	noErr(t, "CreateAPIKey", s.CreateAPIKey(ctx, k))
	sameID := newAPIKey(at(1))
	sameID.ID = k.ID
	wantErr(t, "CreateAPIKey(same id)", s.CreateAPIKey(ctx, sameID), store.ErrDuplicate)
	sameHash := newAPIKey(at(1))
	sameHash.KeyHash = k.KeyHash
	wantErr(t, "CreateAPIKey(same hash)", s.CreateAPIKey(ctx, sameHash), store.ErrDuplicate)
	list, err := s.ListAPIKeys(ctx)
	noErr(t, "ListAPIKeys", err)
	wantIDs(t, "ListAPIKeys", []string{k.ID}, ids(list))
}

func testAPIKeyListDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	var all []string
	keys := make([]*store.APIKey, 3)
	for i := range keys {
		keys[i] = newAPIKey(at(i))
		noErr(t, "CreateAPIKey", s.CreateAPIKey(ctx, keys[i]))
		all = append(all, keys[i].ID)
	}
	list, err := s.ListAPIKeys(ctx)
	noErr(t, "ListAPIKeys", err)
	wantIDs(t, "ListAPIKeys (any order)", sorted(all), sorted(ids(list)))
	for _, k := range list {
		i := slices.IndexFunc(keys, func(x *store.APIKey) bool { return x.ID == k.ID })
		if i >= 0 {
			same(t, "listed key", keys[i], k)
		}
	}

	noErr(t, "DeleteAPIKey", s.DeleteAPIKey(ctx, keys[1].ID))
	_, err = s.GetAPIKeyByHash(ctx, keys[1].KeyHash)
	wantErr(t, "GetAPIKeyByHash(deleted)", err, store.ErrNotFound)
	_, err = s.GetAPIKeyByHash(ctx, keys[0].KeyHash)
	noErr(t, "GetAPIKeyByHash(kept)", err)
	wantErr(t, "DeleteAPIKey(again)", s.DeleteAPIKey(ctx, keys[1].ID), store.ErrNotFound)
	list, err = s.ListAPIKeys(ctx)
	noErr(t, "ListAPIKeys", err)
	wantIDs(t, "ListAPIKeys after delete", sorted([]string{keys[0].ID, keys[2].ID}), sorted(ids(list)))
}

func newSigningKey(created time.Time) *store.SigningKey {
	return &store.SigningKey{
		ID: "kid-" + short(), Algorithm: "ES256",
		PrivateKey: digest("not really a PKCS#8 key " + uuid.NewString()), CreatedAt: created,
	}
}

func testSigningKeyList(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Created out of order; listed newest first.
	k1, k3, k2 := newSigningKey(at(100)), newSigningKey(at(300)), newSigningKey(at(200))
	k2.Algorithm, k3.Algorithm = "RS256", "EdDSA"
	k1.RetiredAt = at(250)
	for _, k := range []*store.SigningKey{k1, k3, k2} {
		noErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, k))
	}
	list, err := s.ListSigningKeys(ctx)
	noErr(t, "ListSigningKeys", err)
	wantIDs(t, "ListSigningKeys", []string{k3.ID, k2.ID, k1.ID}, ids(list))
	if len(list) == 3 {
		same(t, "newest key", k3, list[0])
		same(t, "middle key", k2, list[1])
		same(t, "oldest key", k1, list[2])
	}
}

func testSigningKeyRetire(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := newSigningKey(at(0))
	other := newSigningKey(at(1))
	noErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, k))
	noErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, other))

	noErr(t, "RetireSigningKey", s.RetireSigningKey(ctx, k.ID, at(50)))
	// Retiring again keeps the first instant ("if not already set").
	noErr(t, "RetireSigningKey(again)", s.RetireSigningKey(ctx, k.ID, at(90)))

	list, err := s.ListSigningKeys(ctx)
	noErr(t, "ListSigningKeys", err)
	for _, got := range list {
		want := other
		if got.ID == k.ID {
			w := *k
			w.RetiredAt = at(50)
			want = &w
		}
		same(t, "key "+got.ID, want, got)
	}
	wantErr(t, "RetireSigningKey(unknown)", s.RetireSigningKey(ctx, "kid-unknown", at(1)), store.ErrNotFound)
}

func testSigningKeyDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := newSigningKey(at(0))
	keep := newSigningKey(at(1))
	noErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, k))
	noErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, keep))
	dup := newSigningKey(at(2))
	dup.ID = k.ID
	wantErr(t, "CreateSigningKey(same id)", s.CreateSigningKey(ctx, dup), store.ErrDuplicate)

	noErr(t, "DeleteSigningKey", s.DeleteSigningKey(ctx, k.ID))
	wantErr(t, "DeleteSigningKey(again)", s.DeleteSigningKey(ctx, k.ID), store.ErrNotFound)
	list, err := s.ListSigningKeys(ctx)
	noErr(t, "ListSigningKeys", err)
	wantIDs(t, "ListSigningKeys after delete", []string{keep.ID}, ids(list))
}

// testSigningKeySwap: the key bytes change only when the caller saw the
// current ones, so two IdP processes sealing the same plaintext key (or a
// re-wrap racing a start) cannot overwrite each other's result.
func testSigningKeySwap(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := newSigningKey(at(0))
	other := newSigningKey(at(1))
	noErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, k))
	noErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, other))

	sealed := digest("sealed " + uuid.NewString())
	noErr(t, "SwapSigningKeyPrivateKey", s.SwapSigningKeyPrivateKey(ctx, k.ID, k.PrivateKey, sealed))
	// A second swap from the old bytes lost the race.
	wantErr(t, "SwapSigningKeyPrivateKey(stale prev)",
		s.SwapSigningKeyPrivateKey(ctx, k.ID, k.PrivateKey, digest("other")), store.ErrConflict)
	wantErr(t, "SwapSigningKeyPrivateKey(unknown)",
		s.SwapSigningKeyPrivateKey(ctx, "kid-unknown", k.PrivateKey, sealed), store.ErrNotFound)

	list, err := s.ListSigningKeys(ctx)
	noErr(t, "ListSigningKeys", err)
	for _, got := range list {
		want := other
		if got.ID == k.ID {
			w := *k
			w.PrivateKey = sealed
			want = &w
		}
		same(t, "key "+got.ID, want, got)
	}
}

// testAPIKeyPermissions: a key's permissions come back as stored; a key
// without them stays a super key (no endpoints), never an empty-but-set
// map that a caller could mistake for "nothing allowed" (AUD-13).
func testAPIKeyPermissions(t *testing.T, s store.Store) {
	ctx := t.Context()
	scoped := newAPIKey(at(1))
	scoped.Permissions = store.APIKeyPermissions{Endpoints: map[string][]string{
		"/api/jwt/refresh": {"DELETE"},
		"/api/user":        {"GET", "POST"},
	}}
	noErr(t, "CreateAPIKey(scoped)", s.CreateAPIKey(ctx, scoped))
	super := newAPIKey(at(2))
	noErr(t, "CreateAPIKey(super)", s.CreateAPIKey(ctx, super))

	got, err := s.GetAPIKeyByHash(ctx, scoped.KeyHash)
	noErr(t, "GetAPIKeyByHash(scoped)", err)
	same(t, "scoped key", scoped, got)
	got, err = s.GetAPIKeyByHash(ctx, super.KeyHash)
	noErr(t, "GetAPIKeyByHash(super)", err)
	if len(got.Permissions.Endpoints) != 0 {
		t.Errorf("super key came back with endpoints %v", got.Permissions.Endpoints)
	}
	list, err := s.ListAPIKeys(ctx)
	noErr(t, "ListAPIKeys", err)
	for _, k := range list {
		if k.ID == scoped.ID {
			same(t, "listed scoped key", scoped, k)
		}
	}
}

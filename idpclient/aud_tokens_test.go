package idpclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// TestAUD11_VerifyRefusesRealIDToken: the app kit's verifier accepts the
// IdP's access token and refuses the id_token the same token endpoint
// returns with scope openid: same key, same issuer, same audience, but
// typ JWT, not at+jwt (AUD-11, RFC 9068, IDP-TOK-3).
func TestAUD11_VerifyRefusesRealIDToken(t *testing.T) {
	ctx := context.Background()
	i := idptest.Start(t)
	id, secret := i.CreateApp(t, idptest.AppOptions{Name: "store"})
	i.CreateUser(t, "ann@example.com", pw, id)

	form := url.Values{"grant_type": {"password"}, "username": {"ann@example.com"}, "password": {pw},
		"client_id": {id}, "client_secret": {secret}, "scope": {"openid offline_access"}}
	resp, err := http.Post(i.URL+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.IDToken == "" {
		t.Fatalf("login with openid: %d %v %+v", resp.StatusCode, err, tok)
	}

	c := newClient(t, i, id, secret, nil)
	if _, err := c.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatalf("access token: %v", err)
	}
	if cl, err := c.Verify(ctx, tok.IDToken); !errors.Is(err, idpclient.ErrInvalidToken) {
		t.Fatalf("AUD-11: the id_token verified as an access token: %+v %v", cl, err)
	}
}

package idp_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/internal/testneeds"
)

// fusionAuthTSClient is the version of FusionAuth's TypeScript client the
// wire test installs.
const fusionAuthTSClient = "@fusionauth/typescript-client@1.69.0"

// TestFusionAuthTypeScriptClientTwoFactor: FusionAuth's own TypeScript
// client, unchanged, drives the second factor (compat §16):
// generateTwoFactorSecret, enableTwoFactor,
// exchangeUserCredentialsForAccessToken answering two_factor_required,
// twoFactorLogin with trustComputer, exchangeRefreshTokenForJWT,
// retrieveUser's twoFactor.methods and disableTwoFactor with a recovery
// code (testdata/fusionauth-ts/twofactor.cjs). It needs node and npm (the
// client is installed once into the user's cache directory, where
// scripts/test.sh puts it).
func TestFusionAuthTypeScriptClientTwoFactor(t *testing.T) {
	node, modules := fusionAuthTS(t)
	f := newFixture(t, idptest.AppOptions{})
	script, err := filepath.Abs(filepath.Join("testdata", "fusionauth-ts", "twofactor.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules,
		"GH_URL="+f.idp.URL, "GH_API_KEY="+f.idp.APIKey, "GH_CLIENT_ID="+f.clientID, "GH_CLIENT_SECRET="+f.secret,
		"GH_USER_ID="+f.userID, "GH_EMAIL="+f.email, "GH_PASSWORD="+testPassword,
		"GH_NOW_MS="+strconv.FormatInt(f.clock.Now().UnixMilli(), 10))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("FusionAuth's TypeScript client: %v\n%s", err, out)
	}
}

// fusionAuthTS returns node and the node_modules directory holding
// FusionAuth's TypeScript client, installing it once.
func fusionAuthTS(t *testing.T) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testneeds.Missing(t, "node is not installed")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		testneeds.Missing(t, "npm is not installed")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = t.TempDir()
	}
	dir := filepath.Join(cache, "gatehouse", "fusionauth-typescript-client-1.69.0") // as scripts/test.sh
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@fusionauth", "typescript-client", "package.json")); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--prefix", dir, fusionAuthTSClient)
		if out, err := cmd.CombinedOutput(); err != nil {
			testneeds.Missing(t, "npm install "+fusionAuthTSClient+" failed: "+string(out))
		}
	}
	return node, filepath.Join(dir, "node_modules")
}

// TestFusionAuthTypeScriptClientWebAuthn: FusionAuth's own TypeScript
// client, unchanged, drives passkeys (compat §17) with a software
// authenticator (testdata/fusionauth-ts/webauthn.cjs):
// startWebAuthnRegistration, completeWebAuthnRegistration,
// startWebAuthnLogin by loginId and discoverable, completeWebAuthnLogin
// (tokens, refresh, a replay's 404), retrieveWebAuthnCredentialsForUser,
// retrieveWebAuthnCredential and deleteWebAuthnCredential.
func TestFusionAuthTypeScriptClientWebAuthn(t *testing.T) {
	node, modules := fusionAuthTS(t)
	f := newFixture(t, idptest.AppOptions{WebAuthnRelyingPartyID: "shop.example", WebAuthnOrigins: []string{"https://shop.example"}})
	script, err := filepath.Abs(filepath.Join("testdata", "fusionauth-ts", "webauthn.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules,
		"GH_URL="+f.idp.URL, "GH_API_KEY="+f.idp.APIKey, "GH_CLIENT_ID="+f.clientID,
		"GH_USER_ID="+f.userID, "GH_EMAIL="+f.email, "GH_ORIGIN=https://shop.example", "GH_RP_ID=shop.example")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("FusionAuth's TypeScript client: %v\n%s", err, out)
	}
}

package appkit_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// TestAPPACC7_TakenAddressAnswersLikeAFreeOne: an identity server that
// reports the new address as taken (FusionAuth answers [duplicate]email;
// Gatehouse's own IdP answers 200) gets the same answer from the kit as a
// free address, so the account page never tells a user which addresses
// have accounts.
func TestAPPACC7_TakenAddressAnswersLikeAFreeOne(t *testing.T) {
	w, _, key := newAccountWorld(t)
	target, _ := url.Parse(w.idp.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	front := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/user/change-email" {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusBadRequest)
			_, _ = rw.Write([]byte(`{"fieldErrors":{"email":[{"code":"[duplicate]email","message":"taken"}]}}`))
			return
		}
		rp.ServeHTTP(rw, r)
	})
	proxy := httptest.NewServer(front)
	t.Cleanup(proxy.Close)
	a := newApp(t, w, appOpt{apiKeyValue: key, idpURL: proxy.URL})
	b := a.browser()
	b.login("/")
	r := b.post("/account/email", url.Values{"email": {"someone.else@example.com"}, "current_password": {testPassword}})
	if r.status != http.StatusSeeOther || r.location() != "/account?done=email" {
		t.Fatalf("change to a taken address: %d %s, want the 303 of a free one", r.status, r.location())
	}
}

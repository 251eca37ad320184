package appkit

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
)

// BenchmarkSIDDecode: the session cookie's decode, run on every request.
// A hand-written decoder was no faster than base64's Strict decoder in
// the same run, so the kit uses the latter (BENCHMARKS.md, "Speed tricks").
func BenchmarkSIDDecode(b *testing.B) {
	id, _, err := newSessionID()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := decodeSID(id); !ok { // b.Loop keeps the call
			b.Fatal("rejected")
		}
	}
}

// userClaims are the claims of a real IdP access token (459 B, as
// BENCHMARKS.md sizes them).
const userClaims = `{"aud":"85a03867-dccf-4882-adde-1a79aeec50df","exp":1764115200,"iat":1764114300,` +
	`"iss":"http://127.0.0.1:9011","sub":"2fd8e6a1-1c3a-4a5e-9a0f-52b3a7c1d2e4","jti":"c5b0f0d2-7f7e-4d6b-8e55-3f2a1b0c9d8e",` +
	`"authenticationType":"PASSWORD","email":"richard@example.com","email_verified":true,` +
	`"applicationId":"85a03867-dccf-4882-adde-1a79aeec50df","scope":"offline_access","roles":["customer"],` +
	`"sid":"0b7a3c5e-1d2f-4a6b-8c9d-0e1f2a3b4c5d","auth_time":1764114300,"tid":"default"}`

// BenchmarkUserCache: a page behind RequireLogin (memstore, in-process
// ServeHTTP) that writes User(ctx).Email, with the per-session user cache
// (impl=trick) and with a decode of the claims on every request
// (impl=plain), in the same run (BENCHMARKS.md, "Speed tricks"):
//
//	go test ./appkit -run '^$' -bench UserCache -count 6 | benchstat -col /impl -
func BenchmarkUserCache(b *testing.B) {
	userPage := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<html><body>"+User(r.Context()).Email+"</body></html>")
	})
	for _, cached := range []bool{false, true} {
		name := "impl=trick"
		if !cached {
			name = "impl=plain"
		}
		b.Run(name, func(b *testing.B) {
			st := memstore.New(memstore.Config{})
			defer st.Close()
			k := benchKit(b, st)
			if !cached {
				k.users = nil
			}
			id, key, err := newSessionID()
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			if err := st.Put(context.Background(), &sessionstore.Session{
				Key: key, UserID: "2fd8e6a1-1c3a-4a5e-9a0f-52b3a7c1d2e4", Claims: []byte(userClaims),
				AccessToken: "x", AuthTime: now, CreatedAt: now, LastSeen: now,
				ExpiresAt: now.Add(30 * time.Minute), AbsoluteExpiry: now.Add(12 * time.Hour),
			}); err != nil {
				b.Fatal(err)
			}
			h := k.RequireLogin(userPage)
			serveLoop(b, h, k.sidName+"="+id)
		})
	}
}

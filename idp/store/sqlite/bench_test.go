package sqlite

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// benchFamily creates one family per parallel worker, so workers rotate
// distinct families and never conflict: the benchmark measures the write
// path, not CAS losers.
func benchFamily(b *testing.B, s *Store, u *store.User, a *store.Application) *store.RefreshToken {
	now := time.Now()
	rt := &store.RefreshToken{
		ID: uuid.NewString(), UserID: u.ID, ApplicationID: a.ID, TokenHash: digest(uuid.NewString()),
		Scopes: []string{"offline_access"}, CreatedAt: now, StartAt: now, ExpiresAt: now.Add(24 * time.Hour),
		AuthTime: now, Grants: []string{"password"},
	}
	if err := s.CreateRefreshToken(b.Context(), rt); err != nil {
		b.Fatal(err)
	}
	return rt
}

// nextHash derives the n-th token hash of a family without allocating a
// string per rotation.
func nextHash(family string, n uint64) []byte {
	buf := make([]byte, len(family)+8)
	copy(buf, family)
	binary.BigEndian.PutUint64(buf[len(family):], n)
	return digest(string(buf))
}

func rotateOnce(ctx context.Context, b *testing.B, s *Store, rt *store.RefreshToken, n uint64) {
	now := time.Now()
	next := nextHash(rt.ID, n)
	err := s.RotateRefreshToken(ctx, store.RotateParams{
		FamilyID: rt.ID, OldHash: rt.TokenHash, NewHash: next,
		Successor: make([]byte, 76), // about the size of a sealed 43-char token
		Now:       now, StartAt: now, ExpiresAt: now.Add(24 * time.Hour),
		Grants: []string{"password", "refresh_token"}, IP: "127.0.0.1",
	})
	if err != nil {
		b.Fatal(err)
	}
	rt.TokenHash = next
}

// BenchmarkRotate: parallel rotations of distinct families (the store's
// share of a refresh_token grant under OneTimeUse).
//
//	go test -run '^$' -bench BenchmarkRotate -cpu 2 ./idp/store/sqlite/
func BenchmarkRotate(b *testing.B) {
	s := openTemp(b)
	u, a, _ := seed(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rt := benchFamily(b, s, u, a)
		var n uint64
		for pb.Next() {
			n++
			rotateOnce(b.Context(), b, s, rt, n)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rotations/s")
}

// BenchmarkRefresh: what one refresh does in the store: look the family up
// by hash (read pool), then rotate it (writer).
func BenchmarkRefresh(b *testing.B) {
	s := openTemp(b)
	u, a, _ := seed(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rt := benchFamily(b, s, u, a)
		var n uint64
		for pb.Next() {
			n++
			if _, err := s.GetRefreshTokenByHash(b.Context(), rt.TokenHash); err != nil {
				b.Fatal(err)
			}
			rotateOnce(b.Context(), b, s, rt, n)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refreshes/s")
}

// BenchmarkCancel weighs a detached context (context.WithoutCancel, which
// the store once applied to these calls) against the request's cancellable
// one, in the same run (BENCHMARKS.md, "Speed tricks"). With a cancellable
// context, modernc starts an interrupt watcher goroutine per statement and
// database/sql one per Rows and Tx. The ops are the store's share of one
// refresh_token grant: op=reads looks up the client's application, the
// family by hash, the user and the registration (read pool); op=rotate is
// the rotation (the one writer connection); op=refresh is both.
//
//	go test ./idp/store/sqlite -run '^$' -bench Cancel -count 6 | benchstat -col /impl -
func BenchmarkCancel(b *testing.B) {
	for _, op := range []string{"reads", "rotate", "refresh"} {
		for _, impl := range []string{"plain", "trick"} {
			b.Run("op="+op+"/impl="+impl, func(b *testing.B) {
				benchCancel(b, impl == "trick", op != "rotate", op != "reads")
			})
		}
	}
}

func benchCancel(b *testing.B, detach, reads, rotate bool) {
	s := openTemp(b)
	u, a, _ := seed(b, s)
	if err := s.CreateRegistration(b.Context(), &store.Registration{ID: uuid.NewString(), UserID: u.ID,
		ApplicationID: a.ID, Roles: []string{"customer"}, CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rt := benchFamily(b, s, u, a)
		ctx, cancel := context.WithCancel(context.Background()) // as a request's
		defer cancel()
		if detach {
			ctx = context.WithoutCancel(ctx)
		}
		var n uint64
		for pb.Next() {
			n++
			if reads {
				if _, err := s.GetApplication(ctx, a.ID); err != nil {
					b.Fatal(err)
				}
				if _, err := s.GetRefreshTokenByHash(ctx, rt.TokenHash); err != nil {
					b.Fatal(err)
				}
			}
			if rotate {
				rotateOnce(ctx, b, s, rt, n)
			}
			if reads {
				if _, err := s.GetUser(ctx, u.ID); err != nil {
					b.Fatal(err)
				}
				if _, err := s.GetRegistration(ctx, u.ID, a.ID); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

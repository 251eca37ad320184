package forums

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/internal/exampletest"
)

func TestThreadsAndPosts(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "forums.db")
	a := exampletest.Open(t, New, db)
	st, err := a.Stats(ctx)
	if err != nil || st.Threads != 1 || st.Posts != 1 {
		t.Fatalf("seed: %+v %v", st, err)
	}
	carol := &appkit.UserInfo{ID: "u-carol", Email: "carol@example.com"}
	id, err := a.CreateThread(ctx, carol, "Hello", "First post")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reply(ctx, &appkit.UserInfo{ID: "u-dan", PreferredUsername: "dan"}, id, "Second"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reply(ctx, carol, 9999, "lost"); !errors.Is(err, ErrNoThread) {
		t.Fatalf("reply to a missing thread: %v", err)
	}
	th, posts, err := a.Thread(ctx, id)
	if err != nil || th.Posts != 2 || len(posts) != 2 || posts[0].AuthorName != "carol" || posts[1].AuthorName != "dan" {
		t.Fatalf("thread %+v posts %+v %v", th, posts, err)
	}
	if _, _, err := a.Thread(ctx, 9999); !errors.Is(err, ErrNoThread) {
		t.Fatalf("missing thread: %v", err)
	}
	ts, _ := a.Threads(ctx, 10)
	if len(ts) != 2 || ts[0].ID != id {
		t.Fatalf("threads (most recent first): %+v", ts)
	}
	a.Close()
	a = exampletest.Open(t, New, db)
	defer a.Close()
	if st, _ := a.Stats(ctx); st.Threads != 2 || st.Posts != 3 {
		t.Fatalf("after reopen (seeded once): %+v", st)
	}
}

func TestCheckText(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n) }
	cases := []struct {
		title, body string
		ok          bool
	}{
		{"t", "b", true},
		{"", "b", false},
		{"t", "", false},
		{long(MaxTitleLen), long(MaxBodyLen), true},
		{long(MaxTitleLen + 1), "b", false},
		{"t", long(MaxBodyLen + 1), false},
		{"t", "bad \xff utf-8", false},
	}
	for _, c := range cases {
		if got := checkText(c.title, c.body, true) == ""; got != c.ok {
			t.Errorf("checkText(%d runes, %d runes) ok=%v, want %v", len([]rune(c.title)), len([]rune(c.body)), got, c.ok)
		}
	}
}

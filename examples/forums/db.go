package forums

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit"
)

// migrationFiles are the Forums' schema steps, versioned in PRAGMA
// user_version (see site.OpenDB).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Thread is a discussion.
type Thread struct {
	ID         int64
	Title      string
	AuthorName string
	CreatedAt  time.Time
	LastPostAt time.Time
	Posts      int
}

// Post is one message in a thread.
type Post struct {
	ID         int64
	AuthorID   string
	AuthorName string
	Body       string
	CreatedAt  time.Time
}

// Stats counts what the forums hold.
type Stats struct {
	Threads, Posts int
}

// ErrNoThread means the thread does not exist.
var ErrNoThread = errors.New("forums: no such thread")

// seed writes a welcome thread into an empty database.
func (a *App) seed(ctx context.Context) error {
	var n int
	if err := a.db.QueryRowContext(ctx, "SELECT count(*) FROM threads").Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	_, err := a.create(ctx, "gatehouse", "Gatehouse team", "Welcome to the Gatehouse forums",
		"This forum is a separate app from the Store: its own OAuth client, cookies, sessions and database.\n\n"+
			"Try it: sign in to the Store, then come here — you are asked to sign in again (no single sign-on). "+
			"Open \"Sessions\" to see every browser signed in as you, and sign out the ones you do not recognise.")
	return err
}

// authorName is how a user is shown: the local part of the email, or
// the username, or a short id.
func authorName(u *appkit.UserInfo) string {
	if u.Email != "" {
		if at := strings.IndexByte(u.Email, '@'); at > 0 {
			return u.Email[:at]
		}
		return u.Email
	}
	if u.PreferredUsername != "" {
		return u.PreferredUsername
	}
	if len(u.ID) > 8 {
		return "user " + u.ID[:8]
	}
	return "user " + u.ID
}

// CreateThread starts a thread with its first post and returns its id.
func (a *App) CreateThread(ctx context.Context, u *appkit.UserInfo, title, body string) (int64, error) {
	return a.create(ctx, u.ID, authorName(u), title, body)
}

func (a *App) create(ctx context.Context, authorID, author, title, body string) (int64, error) {
	now := a.now().UnixMilli()
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("create thread: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "INSERT INTO threads (title, author_id, author_name, created_at, last_post_at, posts) VALUES (?, ?, ?, ?, ?, 1)",
		title, authorID, author, now, now)
	if err != nil {
		return 0, fmt.Errorf("create thread: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("create thread: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO posts (thread_id, author_id, author_name, body, created_at) VALUES (?, ?, ?, ?, ?)",
		id, authorID, author, body, now); err != nil {
		return 0, fmt.Errorf("create thread: first post: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("create thread: %w", err)
	}
	return id, nil
}

// Reply adds a post to a thread and returns the post id.
func (a *App) Reply(ctx context.Context, u *appkit.UserInfo, threadID int64, body string) (int64, error) {
	now := a.now().UnixMilli()
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("reply: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "UPDATE threads SET last_post_at = ?, posts = posts + 1 WHERE id = ?", now, threadID)
	if err != nil {
		return 0, fmt.Errorf("reply: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, ErrNoThread
	}
	res, err = tx.ExecContext(ctx, "INSERT INTO posts (thread_id, author_id, author_name, body, created_at) VALUES (?, ?, ?, ?, ?)",
		threadID, u.ID, authorName(u), body, now)
	if err != nil {
		return 0, fmt.Errorf("reply: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("reply: %w", err)
	}
	return id, tx.Commit()
}

// Threads returns up to limit threads, most recently active first.
func (a *App) Threads(ctx context.Context, limit int) ([]Thread, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT id, title, author_name, created_at, last_post_at, posts
		FROM threads ORDER BY last_post_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list threads: %w", err)
	}
	defer rows.Close()
	var out []Thread
	for rows.Next() {
		var t Thread
		var c, l int64
		if err := rows.Scan(&t.ID, &t.Title, &t.AuthorName, &c, &l, &t.Posts); err != nil {
			return nil, fmt.Errorf("list threads: %w", err)
		}
		t.CreatedAt, t.LastPostAt = time.UnixMilli(c), time.UnixMilli(l)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Thread returns a thread and its posts, oldest first.
func (a *App) Thread(ctx context.Context, id int64) (Thread, []Post, error) {
	var t Thread
	var c, l int64
	err := a.db.QueryRowContext(ctx, "SELECT id, title, author_name, created_at, last_post_at, posts FROM threads WHERE id = ?", id).
		Scan(&t.ID, &t.Title, &t.AuthorName, &c, &l, &t.Posts)
	if errors.Is(err, sql.ErrNoRows) {
		return t, nil, ErrNoThread
	}
	if err != nil {
		return t, nil, fmt.Errorf("get thread: %w", err)
	}
	t.CreatedAt, t.LastPostAt = time.UnixMilli(c), time.UnixMilli(l)
	rows, err := a.db.QueryContext(ctx, "SELECT id, author_id, author_name, body, created_at FROM posts WHERE thread_id = ? ORDER BY id", id)
	if err != nil {
		return t, nil, fmt.Errorf("get posts: %w", err)
	}
	defer rows.Close()
	var posts []Post
	for rows.Next() {
		var p Post
		var at int64
		if err := rows.Scan(&p.ID, &p.AuthorID, &p.AuthorName, &p.Body, &at); err != nil {
			return t, nil, fmt.Errorf("get posts: %w", err)
		}
		p.CreatedAt = time.UnixMilli(at)
		posts = append(posts, p)
	}
	return t, posts, rows.Err()
}

// Stats counts threads and posts.
func (a *App) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := a.db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM threads), (SELECT count(*) FROM posts)").Scan(&s.Threads, &s.Posts)
	if err != nil {
		return s, fmt.Errorf("stats: %w", err)
	}
	return s, nil
}

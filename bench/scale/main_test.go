package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInsertSQL(t *testing.T) {
	got := insertSQL(postgresDialect, "t", []string{"a", "b"}, 2)
	if want := "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"; got != want {
		t.Errorf("postgres: %q, want %q", got, want)
	}
	got = insertSQL(sqliteDialect, "t", []string{"a"}, 3)
	if want := "INSERT INTO t (a) VALUES (?), (?), (?)"; got != want {
		t.Errorf("sqlite: %q, want %q", got, want)
	}
}

func TestTemplateRowShiftsTimes(t *testing.T) {
	base := time.UnixMilli(1_000_000_000_000)
	tr := &templateRow{
		cols: []string{"id", "created_at", "expires_at", "expiry", "last_used_at"},
		vals: []any{"x", base.UnixMilli(), base.Add(30 * 24 * time.Hour).UnixMilli(), int64(0), int64(0)},
		base: base,
	}
	nb := base.Add(time.Hour)
	row := tr.row(sqliteDialect, nil, nb, map[int]any{0: "y"})
	want := []any{"y", nb.UnixMilli(), nb.Add(30 * 24 * time.Hour).UnixMilli(), int64(0), int64(0)}
	for i := range want {
		if row[i] != want[i] {
			t.Errorf("column %s = %v, want %v", tr.cols[i], row[i], want[i])
		}
	}
}

// TestPrepareSQLite builds a small database the way a 10M one is built and
// checks what the bulk load wrote: counts, foreign keys, live expiries,
// distinct hashes; then runs one short round on it through real HTTP.
func TestPrepareSQLite(t *testing.T) {
	dir := t.TempDir()
	o := options{kind: "sqlite", dir: dir, c: 1, perUser: 10, rotations: true, txRows: 40, stmtRows: 7, cacheMB: 16,
		small: 0, large: 95, d: 300 * time.Millisecond, rounds: 1, keep: true}
	ctx := context.Background()
	d := &db{o: o, n: 95, path: filepath.Join(dir, "idp-95.db")}
	m, err := prepare(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	// 95 bulk families plus the template user's real one.
	if m.Rows != 96 || len(m.Emails) != 1 {
		t.Fatalf("meta %+v", m)
	}
	h, err := sql.Open("sqlite", d.path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	count := func(q string) int {
		var n int
		if err := h.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	for q, want := range map[string]int{
		"SELECT count(*) FROM users":                                                 1 + 1 + 10, // template, bench, bulk
		"SELECT count(*) FROM registrations":                                         12,
		"SELECT count(*) FROM refresh_token_rotations":                               96,
		"SELECT count(DISTINCT token_hash) FROM refresh_tokens":                      96,
		"SELECT count(*) FROM refresh_tokens WHERE length(token_hash) = 32":          96,
		"SELECT count(*) FROM pragma_foreign_key_check":                              0,
		"SELECT count(*) FROM refresh_tokens WHERE expires_at <= unixepoch() * 1000": 0,
	} {
		if got := count(q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	var mode string
	if err := h.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		t.Errorf("journal_mode %q (%v), want wal", mode, err)
	}
	h.Close()
	o.reuse = true
	o.small, o.large = 95, 0
	if err := run(ctx, o); err != nil {
		t.Fatalf("run on the loaded database: %v", err)
	}
}

package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// dialect is what differs between SQLite and PostgreSQL for the bulk
// loader, which otherwise works through database/sql on both.
type dialect struct {
	name string
	// placeholder returns the n-th (1-based) bind parameter.
	placeholder func(n int) string
	// timeVal is how a time is stored: Unix ms (SQLite) or timestamptz.
	timeVal func(t time.Time) any
	// timeOf reads a stored time back; ok is false for the zero time/NULL.
	timeOf func(v any) (t time.Time, ok bool)
	// skip names columns the loader leaves to their defaults.
	skip map[string]bool
}

var sqliteDialect = dialect{
	name:        "sqlite",
	placeholder: func(int) string { return "?" },
	timeVal:     func(t time.Time) any { return t.UnixMilli() },
	timeOf: func(v any) (time.Time, bool) {
		ms, ok := v.(int64)
		return time.UnixMilli(ms), ok && ms != 0
	},
}

var postgresDialect = dialect{
	name:        "postgres",
	placeholder: func(n int) string { return fmt.Sprintf("$%d", n) },
	timeVal:     func(t time.Time) any { return t },
	timeOf: func(v any) (time.Time, bool) {
		t, ok := v.(time.Time)
		return t, ok && !t.IsZero()
	},
	skip: map[string]bool{"seq": true}, // bigserial: insertion order
}

// templateRow is one real row, read back from the database after the IdP
// wrote it through its own code path, with its column names.
type templateRow struct {
	cols []string
	vals []any
	base time.Time // the row's reference time (see shift)
}

// readTemplate reads the first row matching where (with args) from table.
func readTemplate(ctx context.Context, db *sql.DB, d dialect, table, where string, args ...any) (*templateRow, error) {
	rows, err := db.QueryContext(ctx, "SELECT * FROM "+table+" WHERE "+where+" LIMIT 1", args...)
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("read template %s: no row where %s", table, where)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("read template %s: %w", table, err)
	}
	t := &templateRow{}
	for i, c := range cols {
		if d.skip[c] {
			continue
		}
		t.cols = append(t.cols, c)
		v := vals[i]
		if b, ok := v.([]byte); ok {
			v = slices.Clone(b) // the driver may reuse the buffer
		}
		t.vals = append(t.vals, v)
	}
	return t, rows.Err()
}

func (t *templateRow) index(col string) int {
	i := slices.Index(t.cols, col)
	if i < 0 {
		panic("template has no column " + col)
	}
	return i
}

// isTime reports whether column c holds an instant the loader moves.
func isTime(c string) bool { return strings.HasSuffix(c, "_at") || c == "auth_time" }

// row returns a copy of the template's values in which every non-zero time
// column is moved by (base - template base), so the new row keeps the
// template's intervals (creation to expiry, and so on) around its own base
// time, and the columns in set are replaced.
func (t *templateRow) row(d dialect, dst []any, base time.Time, set map[int]any) []any {
	shift := base.Sub(t.base)
	for i, c := range t.cols {
		v := t.vals[i]
		if isTime(c) {
			if tv, ok := d.timeOf(v); ok {
				v = d.timeVal(tv.Add(shift))
			}
		}
		if s, ok := set[i]; ok {
			v = s
		}
		dst = append(dst, v)
	}
	return dst
}

// inserter writes rows into one table with a prepared multi-row INSERT
// (perStmt rows per statement) inside the caller's transaction.
type inserter struct {
	table   string
	cols    int
	perStmt int
	full    *sql.Stmt // prepared for perStmt rows, on the transaction
	db      *sql.DB
	d       dialect
	buf     []any
	pending int
	tx      *sql.Tx
}

func insertSQL(d dialect, table string, cols []string, rows int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
	n := 1
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString(d.placeholder(n))
			n++
		}
		b.WriteByte(')')
	}
	return b.String()
}

func newInserter(ctx context.Context, db *sql.DB, d dialect, table string, cols []string, perStmt int) (*inserter, error) {
	full, err := db.PrepareContext(ctx, insertSQL(d, table, cols, perStmt))
	if err != nil {
		return nil, fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	return &inserter{table: table, cols: len(cols), perStmt: perStmt, full: full, db: db, d: d,
		buf: make([]any, 0, perStmt*len(cols))}, nil
}

func (in *inserter) begin(tx *sql.Tx) { in.tx = tx }

// add queues one row (len(vals) == columns).
func (in *inserter) add(vals []any) {
	in.buf = append(in.buf, vals...)
	in.pending++
}

// flush writes the queued rows: with the prepared statement when they fill
// it, else with a statement of their own.
func (in *inserter) flush(ctx context.Context, cols []string) error {
	var err error
	switch {
	case in.pending == 0:
		return nil
	case in.pending == in.perStmt:
		_, err = in.tx.StmtContext(ctx, in.full).ExecContext(ctx, in.buf...)
	default:
		_, err = in.tx.ExecContext(ctx, insertSQL(in.d, in.table, cols, in.pending), in.buf...)
	}
	if err != nil {
		return fmt.Errorf("insert into %s: %w", in.table, err)
	}
	in.buf, in.pending = in.buf[:0], 0
	return nil
}

func (in *inserter) close() { in.full.Close() }

// bulkSpec says what to load.
type bulkSpec struct {
	families  int  // refresh-token families
	perUser   int  // families per bulk user
	rotations bool // one retired token (rotation record) per family
	txRows    int  // rows per transaction (all tables together)
	perStmt   int  // rows per INSERT statement
	// spread: families were created uniformly over the last spread (so
	// none has expired: spread is below the refresh-token lifetime).
	spread time.Duration
	// template rows written by the IdP itself
	user, reg, family, rotation *templateRow
	progress                    func(done int)
	// deadline, when not zero, ends the load at the first transaction
	// boundary after it: the database then holds fewer families.
	deadline time.Time
}

// bulkLoad inserts spec.families refresh-token families (and their users,
// registrations and rotation records) as copies of the template rows with
// fresh random ids, hashes and times, and returns how many families it
// inserted (fewer when spec.deadline passed).
func bulkLoad(ctx context.Context, db *sql.DB, d dialect, spec bulkSpec) (loaded int, err error) {
	users := (spec.families + spec.perUser - 1) / spec.perUser
	type tab struct {
		name string
		t    *templateRow
		in   *inserter
	}
	rotTable := "refresh_token_rotations"
	if d.name == "postgres" {
		rotTable = "rotations"
	}
	// Parents before children: statements are flushed in this order, so
	// every foreign key holds when its row is inserted.
	tabs := []*tab{{name: "users", t: spec.user}, {name: "registrations", t: spec.reg}, {name: "refresh_tokens", t: spec.family}}
	if spec.rotations {
		tabs = append(tabs, &tab{name: rotTable, t: spec.rotation})
	}
	byName := map[string]*tab{}
	for _, tb := range tabs {
		byName[tb.name] = tb
		in, err := newInserter(ctx, db, d, tb.name, tb.t.cols, spec.perStmt)
		if err != nil {
			return 0, err
		}
		defer in.close()
		tb.in = in
	}
	now := time.Now()
	rng := mrand.New(mrand.NewPCG(uint64(now.UnixNano()), 1))
	uid, uemail := spec.user.index("id"), spec.user.index("email")
	rid, ruser := spec.reg.index("id"), spec.reg.index("user_id")
	fid, fuser, fhash := spec.family.index("id"), spec.family.index("user_id"), spec.family.index("token_hash")
	var oid, ofam, osucc int
	if spec.rotations {
		oid, ofam, osucc = spec.rotation.index("token_hash"), spec.rotation.index("family_id"), spec.rotation.index("successor")
	}
	randHash := func() []byte {
		b := make([]byte, 32)
		rand.Read(b)
		return b
	}
	userIDs := make([]string, 0, users)
	var vals []any
	var tx *sql.Tx
	rowsInTx := 0
	begin := func() error {
		var err error
		if tx, err = db.BeginTx(ctx, nil); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		for _, tb := range tabs {
			tb.in.begin(tx)
		}
		rowsInTx = 0
		return nil
	}
	flushAll := func() error {
		for _, tb := range tabs {
			if err := tb.in.flush(ctx, tb.t.cols); err != nil {
				return err
			}
		}
		return nil
	}
	commit := func() error {
		if err := flushAll(); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
	put := func(name string, base time.Time, set map[int]any) {
		tb := byName[name]
		vals = tb.t.row(d, vals[:0], base, set)
		rowsInTx++
		tb.in.add(vals)
	}
	// groupDone ends one user (with registration) or one family (with
	// rotation): the tables of a group fill up together, so a flush here
	// writes full, prepared statements only.
	groupDone := func() error {
		for _, tb := range tabs {
			if tb.in.pending >= tb.in.perStmt {
				return flushAll()
			}
		}
		return nil
	}
	if err := begin(); err != nil {
		return 0, err
	}
	// Users (and their registrations) first, so every family's foreign
	// keys hold; then the families in random user order.
	for i := range users {
		id := uuid.NewString()
		userIDs = append(userIDs, id)
		base := now.Add(-time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
		put("users", base, map[int]any{uid: id, uemail: fmt.Sprintf("bulk%09d@example.com", i)})
		put("registrations", base, map[int]any{rid: uuid.NewString(), ruser: id})
		if err := groupDone(); err != nil {
			return loaded, err
		}
		if rowsInTx >= spec.txRows {
			if err := commit(); err != nil {
				return loaded, err
			}
			if err := begin(); err != nil {
				return loaded, err
			}
		}
	}
	for i := range spec.families {
		id := uuid.NewString()
		base := now.Add(-time.Duration(rng.Int64N(int64(spec.spread))))
		put("refresh_tokens", base, map[int]any{fid: id, fuser: userIDs[rng.IntN(users)], fhash: randHash()})
		if spec.rotations {
			put(rotTable, base, map[int]any{oid: randHash(), ofam: id, osucc: nil})
		}
		if err := groupDone(); err != nil {
			return loaded, err
		}
		if rowsInTx >= spec.txRows {
			if err := commit(); err != nil {
				return loaded, err
			}
			loaded = i + 1
			if spec.progress != nil {
				spec.progress(loaded)
			}
			if !spec.deadline.IsZero() && time.Now().After(spec.deadline) {
				return loaded, nil
			}
			if err := begin(); err != nil {
				return loaded, err
			}
		}
	}
	if err := commit(); err != nil {
		return loaded, err
	}
	return spec.families, nil
}

package store_test

import (
	"context"
	"database/sql"
	"net"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livedoc/livedoc/store"
	"github.com/livedoc/livedoc/store/storetest"
)

// writeCounter counts the writes to PostgreSQL: pgx writes once per round trip (it buffers a
// request's messages and flushes them together, then waits for the answer).
type writeCounter struct {
	net.Conn
	n *atomic.Int64
}

func (c writeCounter) Write(b []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(b)
}

// openCounting opens the test's PostgreSQL schema with one connection whose writes are counted.
func openCounting(t *testing.T) (*store.DB, *atomic.Int64) {
	t.Helper()
	if !storetest.Postgres() {
		t.Skip("PostgreSQL only (LIVEDOC_TEST_STORE=postgres)")
	}
	cfg, err := pgx.ParseConfig(storetest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	n := &atomic.Int64{}
	var d net.Dialer
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		return writeCounter{Conn: c, n: n}, err
	}
	db, err := store.OpenPostgresConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxConns(1) // one connection, so every statement below is prepared on it
	return db, n
}

func run(t *testing.T, db *store.DB, write bool, fn func(ctx context.Context, tx *store.Tx) error) error {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Begin(ctx, write)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if write {
		return tx.Commit()
	}
	return nil
}

// A save's transaction — lock the row, update it, append to a log at commit — takes three round
// trips (five before BEGIN and COMMIT went out with the first and last statements), a read two,
// an empty one none.
func TestRoundTripsPerTransaction(t *testing.T) {
	db, n := openCounting(t)
	if err := run(t, db, true, func(ctx context.Context, tx *store.Tx) error {
		for _, q := range []string{`CREATE TABLE doc (name TEXT PRIMARY KEY, v BIGINT)`,
			`CREATE TABLE log (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, m TEXT)`,
			`INSERT INTO doc VALUES ('a', 0)`} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var seq int64
	save := func(ctx context.Context, tx *store.Tx) error {
		var v int64
		if err := tx.QueryRow(ctx, `SELECT v FROM doc WHERE name = ? FOR UPDATE`, "a").Scan(&v); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE doc SET v = ? WHERE name = ?`, v+1, "a"); err != nil {
			return err
		}
		tx.AtCommit(`INSERT INTO log (m) VALUES (?) RETURNING seq`, []any{"saved"}, func(rows *sql.Rows) error {
			for rows.Next() {
				if err := rows.Scan(&seq); err != nil {
					return err
				}
			}
			return rows.Err()
		})
		return nil
	}
	read := func(ctx context.Context, tx *store.Tx) error {
		var v int64
		return tx.QueryRow(ctx, `SELECT v FROM doc WHERE name = ?`, "a").Scan(&v)
	}
	// Until the statement cache has prepared them (in the background), statements run unprepared:
	// warm up, then count.
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, write := range []bool{true, false} {
			fn := read
			if write {
				fn = save
			}
			if err := run(t, db, write, fn); err != nil {
				t.Fatal(err)
			}
		}
		if db.CachedStatements() == 5 { // four of the saves, one of the reads
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("statements not cached after 10 s")
		}
	}
	for range 2 { // the second time every statement is prepared on the connection
		for _, c := range []struct {
			name  string
			write bool
			fn    func(context.Context, *store.Tx) error
			want  int64
		}{
			{"save", true, save, 3},
			{"read", false, read, 2},
			{"empty write", true, func(context.Context, *store.Tx) error { return nil }, 0},
			{"empty read", false, func(context.Context, *store.Tx) error { return nil }, 0},
		} {
			before := n.Load()
			if err := run(t, db, c.write, c.fn); err != nil {
				t.Fatal(err)
			}
			if got := n.Load() - before; got != c.want {
				t.Errorf("%s: %d round trips, want %d", c.name, got, c.want)
			}
		}
	}
	var v int64
	if err := run(t, db, false, func(ctx context.Context, tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT v FROM doc WHERE name = 'a'`).Scan(&v)
	}); err != nil || v < 3 {
		t.Fatalf("v = %d, %v: the saves did not commit", v, err)
	}
	if seq < 3 {
		t.Fatalf("the last save's log row is %d: AtCommit's rows were not read", seq)
	}
}

// The transaction a first statement begins is a transaction: rolled back it leaves nothing, a
// failed first statement aborts it (its COMMIT fails), a read is one snapshot and read-only.
func TestBeginWithFirstStatement(t *testing.T) {
	db, _ := openCounting(t)
	if err := run(t, db, true, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE doc (name TEXT PRIMARY KEY, v BIGINT)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var c int
		if err := run(t, db, false, func(ctx context.Context, tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM doc`).Scan(&c)
		}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()

	// Rolled back after its first statement.
	tx, err := db.Begin(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO doc VALUES ('a', 1)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if c := count(); c != 0 {
		t.Fatalf("%d rows after a rollback, want 0", c)
	}

	// A first statement that fails: the transaction is aborted, its COMMIT fails and writes nothing.
	if err := run(t, db, true, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO doc VALUES ('b', 1)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	tx, err = db.Begin(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO doc VALUES ('b', 2)`); !db.Dialect().IsUniqueViolation(err) {
		t.Fatalf("duplicate insert as first statement: %v, want a unique violation", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO doc VALUES ('c', 3)`); err == nil {
		t.Fatal("a statement after a failed one ran: the first one did not begin the transaction")
	}
	if err := tx.Commit(); err == nil {
		t.Fatal("commit of an aborted transaction succeeded")
	}
	if c := count(); c != 1 {
		t.Fatalf("%d rows, want 1", c)
	}

	// A read sees one snapshot from its first statement on, and refuses writes.
	db.SetMaxConns(2) // a write commits while the read holds a connection
	rtx, err := db.Begin(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rtx.Rollback()
	var before, after int
	if err := rtx.QueryRow(ctx, `SELECT count(*) FROM doc`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if err := run(t, db, true, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO doc VALUES ('d', 4)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := rtx.QueryRow(ctx, `SELECT count(*) FROM doc`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Fatalf("a read transaction saw %d rows, then %d: not one snapshot", before, after)
	}
	rtx.Rollback()
	if err := run(t, db, false, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO doc VALUES ('e', 5)`)
		return err
	}); err == nil {
		t.Fatal("a read transaction wrote as its first statement")
	}
}

// Values read by a transaction's first statement (the pipelined path) have the Go types of those
// read by any later statement (pgx's driver).
func TestFirstStatementValuesMatchLater(t *testing.T) {
	db, _ := openCounting(t)
	q := `SELECT 'text'::text, 42::bigint, 7::int, 2::smallint, 1.5::double precision, 2.5::real, true,
		'\x0102'::bytea, '2026-12-06 07:00:00+00'::timestamptz, '2026-12-06'::date, NULL::text,
		'{"a": 1}'::jsonb, 12.50::numeric, current_schema()::name`
	read := func(ctx context.Context, tx *store.Tx, first bool) ([]any, error) {
		if !first {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
				return nil, err
			}
		}
		rows, err := tx.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if !rows.Next() {
			return nil, rows.Err()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		return vals, rows.Err()
	}
	var first, later []any
	for _, f := range []bool{true, false} {
		if err := run(t, db, false, func(ctx context.Context, tx *store.Tx) (err error) {
			if f {
				first, err = read(ctx, tx, true)
			} else {
				later, err = read(ctx, tx, false)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(first) != len(later) || len(first) == 0 {
		t.Fatalf("%d and %d columns", len(first), len(later))
	}
	for i := range first {
		if !reflect.DeepEqual(first[i], later[i]) {
			t.Errorf("column %d: first statement gave %#v (%T), a later one %#v (%T)", i, first[i], first[i], later[i], later[i])
		}
	}
}

// A statement queued with AtCommit runs with the COMMIT: when it fails, or the COMMIT does (a
// deferred constraint checked there), Commit says so and nothing of the transaction is written.
func TestAtCommitFailuresWriteNothing(t *testing.T) {
	db, _ := openCounting(t)
	if err := run(t, db, true, func(ctx context.Context, tx *store.Tx) error {
		for _, q := range []string{`CREATE TABLE doc (name TEXT PRIMARY KEY, v BIGINT)`,
			`CREATE TABLE log (seq BIGINT PRIMARY KEY, m TEXT)`,
			// Checked at COMMIT: a log row must name an existing doc.
			`ALTER TABLE log ADD CONSTRAINT log_doc FOREIGN KEY (m) REFERENCES doc (name) DEFERRABLE INITIALLY DEFERRED`} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	scanned := false
	scan := func(rows *sql.Rows) error {
		for rows.Next() {
			scanned = true
		}
		return rows.Err()
	}
	for _, c := range []struct {
		name, query string
		args        []any
	}{
		{"failing statement", `INSERT INTO log VALUES (?, ?) RETURNING seq`, []any{"not a number", "a"}},
		{"failing commit", `INSERT INTO log VALUES (?, ?) RETURNING seq`, []any{1, "nothing by that name"}},
	} {
		err := run(t, db, true, func(ctx context.Context, tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO doc VALUES (?, ?)`, c.name, 1); err != nil {
				return err
			}
			tx.AtCommit(c.query, c.args, scan)
			return nil
		})
		if err == nil {
			t.Fatalf("%s: committed", c.name)
		}
		var n int
		if err := run(t, db, false, func(ctx context.Context, tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM doc) + (SELECT count(*) FROM log)`).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%s: %d rows written", c.name, n)
		}
	}
	if !scanned {
		t.Fatal("the failing commit's statement returned no row: the case did not reach the COMMIT")
	}
}

// Package store owns the database: connections, transactions, schema changes and the SQL dialect
// differences between SQLite (the embedded default) and PostgreSQL.
//
// Everything above it speaks SQL with `?` placeholders and double-quoted identifiers; the dialect
// rewrites what must differ. Writes go through one transaction at a time on SQLite (BEGIN
// IMMEDIATE on a single writer connection), so writers queue in Go instead of spinning on
// SQLITE_BUSY, while readers use their own pool and never block the writer (WAL).
//
// On SQLite, writers that queue up commit together (group commit): each write transaction is a
// savepoint inside one shared transaction, and a member's Commit returns once the whole group has
// committed — with the group's error if it did not, so a member never reports a commit that did
// not happen. A commit, and the write-ahead log frames of the pages members share (the event
// log's, an index's), are paid once per group instead of once per write.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DB is an open database with a writer and a reader side.
type DB struct {
	write   *sql.DB
	read    *sql.DB
	dialect Dialect
	wstmts  stmtCache
	rstmts  stmtCache
	// writer admits one write transaction at a time, in Go, so writers queue without SQLite's
	// busy-wait and a cancelled request stops waiting. Nil for PostgreSQL.
	writer  chan struct{}
	waiting atomic.Int32          // write transactions waiting for the writer
	group   *group                // the open group commit; guarded by holding writer
	full    atomic.Pointer[error] // DiskFull
	dir     string                // SQLite: the database's directory, whose free space noteWrite checks
}

// group is one SQLite transaction shared by the write transactions that queued up for it.
type group struct {
	tx      *sql.Tx
	members int           // committed savepoints so far
	done    chan struct{} // closed when the group has ended, err set
	err     error
}

// maxGroup bounds the members of a group commit, and so the wait of its first.
const maxGroup = 64

// stmtCache keeps prepared statements by query text. Preparing is a large share of a small
// statement's cost on SQLite; database/sql keeps each statement prepared per connection, so each
// cached statement is prepared once per connection.
//
// A transaction holds its connection, and preparing for the cache needs a connection of the pool:
// a transaction that waited for one could wait forever once every connection belongs to such a
// transaction. So a miss never waits: the statement runs unprepared on the transaction's own
// connection, and is prepared for later uses in the background.
type stmtCache struct {
	mu        sync.Mutex
	m         map[string]*sql.Stmt // nil value: being prepared
	preparing sync.WaitGroup       // Close waits: none may hold a connection past it
}

// maxCachedStmts bounds the cache: list queries with varying filters make new texts, and those
// beyond the bound are simply prepared each time.
const maxCachedStmts = 512

// get returns the cached statement for query, or nil (and starts preparing it) when there is none.
func (c *stmtCache) get(db *sql.DB, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if len(c.m) >= maxCachedStmts {
		return nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = nil
	c.preparing.Go(func() { c.prepare(db, query) })
	return nil
}

func (c *stmtCache) prepare(db *sql.DB, query string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := db.PrepareContext(ctx, query)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, wanted := c.m[query]; !wanted || err != nil {
		delete(c.m, query) // reset meanwhile, or failed: a later use tries again
		if st != nil {
			// Not under c.mu, and not waited for: closing takes the connections it was prepared
			// on, which may be busy preparing for the cache behind a lock of the transaction that
			// waits for c.mu (as in reset).
			go st.Close()
		}
		return
	}
	c.m[query] = st
}

// reset drops every cached statement; schema changes make SQLite re-prepare them anyway. They are
// closed in the background: closing one takes each connection it was prepared on, and one of
// those may be busy preparing another statement for the cache that waits (on PostgreSQL) for the
// very table lock the resetting transaction's DDL holds.
func (c *stmtCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var old []*sql.Stmt
	for _, st := range c.m {
		if st != nil {
			old = append(old, st)
		}
	}
	c.m = nil
	if len(old) > 0 {
		go func() {
			for _, st := range old {
				st.Close()
			}
		}()
	}
}

// Open opens the database named by dsn: postgres://... for PostgreSQL, otherwise a SQLite file
// path (or "sqlite:PATH").
func Open(ctx context.Context, dsn string) (*DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.write.PingContext(ctx) }

// Dialect tells the SQL differences of one database engine.
func (db *DB) Dialect() Dialect { return db.dialect }

// IsUnavailable reports whether err means the database cannot be reached right now (refused,
// reset or closed connections, a server shutting down or starting up): the request may succeed
// later, unchanged. The pool replaces broken connections by itself.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	return isPostgresUnavailable(err)
}

// Close closes every connection.
func (db *DB) Close() error {
	db.wstmts.preparing.Wait()
	db.rstmts.preparing.Wait()
	db.wstmts.reset()
	db.rstmts.reset()
	if db.read == db.write {
		return db.write.Close()
	}
	return errors.Join(db.write.Close(), db.read.Close())
}

// Begin starts a transaction. A write transaction takes the writer (on SQLite: BEGIN IMMEDIATE, so
// the write lock is held from the start and a later upgrade can never fail); a read transaction
// sees one consistent snapshot and refuses writes.
func (db *DB) Begin(ctx context.Context, write bool) (*Tx, error) {
	if !write {
		opts := &sql.TxOptions{ReadOnly: true}
		if db.dialect.Name() == "postgres" {
			// One snapshot for the whole read, as SQLite's: a document and its rows, or a live
			// document and the log offset it is as of, are read as of one moment.
			opts.Isolation = sql.LevelRepeatableRead
		}
		tx, err := db.read.BeginTx(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("begin transaction: %w", err)
		}
		return &Tx{tx: tx, d: db.dialect, db: db, stmts: &db.rstmts}, nil
	}
	if db.writer != nil {
		return db.beginMember(ctx)
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return &Tx{tx: tx, d: db.dialect, write: true, db: db, stmts: &db.wstmts}, nil
}

// beginMember starts a write transaction as a savepoint of the open group, or of a new one.
func (db *DB) beginMember(ctx context.Context) (*Tx, error) {
	db.waiting.Add(1)
	select {
	case db.writer <- struct{}{}:
		db.waiting.Add(-1)
	case <-ctx.Done():
		db.waiting.Add(-1)
		// A member may have left the group open for this one: whoever takes the writer next
		// with nothing to add commits it.
		go db.closeGroup()
		return nil, ctx.Err()
	}
	g := db.group
	if g == nil {
		// Not the request's context: the group outlives the request that opened it.
		tx, err := db.write.BeginTx(context.Background(), nil)
		if err != nil {
			<-db.writer
			return nil, fmt.Errorf("begin transaction: %w", err)
		}
		g = &group{tx: tx, done: make(chan struct{})}
		db.group = g
	}
	if _, err := g.tx.ExecContext(context.Background(), "SAVEPOINT member"); err != nil {
		db.endGroup(false, err)
		<-db.writer
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return &Tx{tx: g.tx, d: db.dialect, write: true, db: db, stmts: &db.wstmts, group: g}, nil
}

// closeGroup commits the open group, if any, once it can take the writer.
func (db *DB) closeGroup() {
	db.writer <- struct{}{}
	if db.group != nil {
		db.endGroup(true, nil)
	}
	<-db.writer
}

// endGroup commits (or, on err, rolls back) the open group and tells its members. Called holding
// the writer.
func (db *DB) endGroup(commit bool, err error) error {
	g := db.group
	db.group = nil
	if commit && err == nil {
		if err = db.noteWrite(g.tx.Commit()); err == nil {
			db.committed()
		}
	} else {
		g.tx.Rollback()
	}
	g.err = err
	close(g.done)
	return err
}

// leaveOpen reports whether a member ending now should leave the group to the writers queued
// behind it rather than commit it. It first lets other goroutines run: a request that holds the
// writer never blocks until its commit, so on one CPU the requests that arrived meanwhile have not
// yet reached Begin, and without this yield no group would ever form.
func (db *DB) leaveOpen(g *group) bool {
	if g.members >= maxGroup {
		return false
	}
	runtime.Gosched()
	return db.waiting.Load() > 0
}

// Tx is one transaction.
type Tx struct {
	tx    *sql.Tx
	d     Dialect
	write bool
	db    *DB
	stmts *stmtCache
	done  bool
	group *group // SQLite: the group commit this transaction is a savepoint of
	last  *lastStatement
}

// lastStatement is a statement queued by AtCommit.
type lastStatement struct {
	query string
	args  []any
	scan  func(*sql.Rows) error
}

// stmt returns the transaction's handle on the cached statement for query, or nil when it is not
// cached (DDL, or the cache is full).
func (t *Tx) stmt(ctx context.Context, query string) *sql.Stmt {
	if !isDML(query) {
		return nil
	}
	db := t.db.read
	if t.write {
		db = t.db.write
	}
	st := t.stmts.get(db, query)
	if st == nil {
		return nil
	}
	return t.tx.StmtContext(ctx, st)
}

func isDML(q string) bool {
	q = strings.TrimSpace(q)
	for _, p := range []string{"SELECT", "INSERT", "UPDATE", "DELETE"} {
		if len(q) >= len(p) && strings.EqualFold(q[:len(p)], p) {
			return true
		}
	}
	return false
}

// statementContext: in a group commit a statement is not interrupted when its request goes away,
// since SQLite answers an interrupted write by rolling back the whole transaction — the other
// members' work too. A cancelled request is noticed between statements instead.
func (t *Tx) statementContext(ctx context.Context) context.Context {
	if t.group == nil {
		return ctx
	}
	if ctx.Err() != nil {
		return ctx // database/sql refuses it before the statement starts
	}
	return context.WithoutCancel(ctx)
}

// Writable reports whether the transaction may write.
func (t *Tx) Writable() bool { return t.write }

// Dialect of the transaction's database.
func (t *Tx) Dialect() Dialect { return t.d }

// Exec runs a statement with `?` placeholders. DDL also drops the cached statements, since it
// may change what they refer to.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = t.statementContext(ctx)
	query = t.d.Rebind(query)
	if st := t.stmt(ctx, query); st != nil {
		res, err := st.ExecContext(ctx, args...)
		return res, t.db.noteWrite(err)
	}
	if !isDML(query) {
		t.db.wstmts.reset()
		t.db.rstmts.reset()
	}
	res, err := t.tx.ExecContext(ctx, query, args...)
	return res, t.db.noteWrite(err)
}

// Query runs a query with `?` placeholders.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = t.statementContext(ctx)
	query = t.d.Rebind(query)
	var rows *sql.Rows
	var err error
	if st := t.stmt(ctx, query); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = t.tx.QueryContext(ctx, query, args...)
	}
	return rows, t.db.noteWrite(err) // INSERT ... RETURNING writes
}

// QueryRow runs a query expected to return at most one row.
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = t.statementContext(ctx)
	query = t.d.Rebind(query)
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// LockSchema serialises schema setup with other transactions (other nodes) doing the same.
func (t *Tx) LockSchema(ctx context.Context) error {
	if q := t.d.SchemaLock(); q != "" {
		if _, err := t.Exec(ctx, q); err != nil {
			return fmt.Errorf("schema lock: %w", err)
		}
	}
	return nil
}

// AtCommit queues a query to run as the transaction's last statement, when it commits; scan reads
// its rows. On PostgreSQL it goes to the server in one round trip with the COMMIT. Its results are
// only known once Commit returns, and only if that succeeds; a second call replaces the first.
// Should scan fail on PostgreSQL the COMMIT has been sent all the same: Commit reports the error,
// though the transaction may have committed.
func (t *Tx) AtCommit(query string, args []any, scan func(*sql.Rows) error) {
	t.last = &lastStatement{query: query, args: args, scan: scan}
}

// Commit makes the transaction's writes durable. In a group commit it returns once the group
// has committed, with its error.
func (t *Tx) Commit() error {
	if l := t.last; l != nil && !t.done {
		t.last = nil
		ctx := context.Background()
		if t.d.Name() == "postgres" {
			// Marked for the driver: the COMMIT goes out after it, its result comes with the rows.
			ctx = context.WithValue(ctx, commitAfter{}, true)
		}
		rows, err := t.Query(ctx, l.query, l.args...)
		if err == nil {
			err = l.scan(rows)
			if cerr := rows.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			t.Rollback()
			return err
		}
	}
	if t.group == nil {
		t.done = true
		err := t.db.noteWrite(t.tx.Commit())
		if err == nil && t.write {
			t.db.committed()
		}
		return err
	}
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	db, g := t.db, t.group
	if _, err := g.tx.ExecContext(context.Background(), "RELEASE member"); err != nil {
		db.endGroup(false, db.noteWrite(err)) // e.g. SQLite rolled the transaction back after an I/O error
		<-db.writer
		return err
	}
	g.members++
	if db.leaveOpen(g) {
		<-db.writer
		<-g.done
		return g.err
	}
	err := db.endGroup(true, nil)
	<-db.writer
	return err
}

// Rollback abandons the transaction; it is harmless after Commit. In a group commit only this
// transaction's savepoint is undone.
func (t *Tx) Rollback() error {
	if t.group == nil {
		t.done = true
		err := t.tx.Rollback()
		if errors.Is(err, sql.ErrTxDone) {
			return nil
		}
		return err
	}
	if t.done {
		return nil
	}
	t.done = true
	db, g := t.db, t.group
	ctx := context.Background()
	_, err := g.tx.ExecContext(ctx, "ROLLBACK TO member")
	if err == nil {
		_, err = g.tx.ExecContext(ctx, "RELEASE member")
	}
	switch {
	case err != nil:
		db.endGroup(false, err)
	case db.leaveOpen(g):
	case g.members == 0:
		db.endGroup(false, nil) // nothing to commit
	default:
		err = db.endGroup(true, nil) // the members before this one
	}
	<-db.writer
	return err
}

// ColumnKind is the storage class of a column, mapped to a type by the dialect.
type ColumnKind int

// Column kinds.
const (
	Text ColumnKind = iota
	Integer
	Real
)

// Column is one column of a table.
type Column struct {
	Name string
	Kind ColumnKind
}

// Dialect is what differs between database engines.
type Dialect interface {
	Name() string
	// Rebind turns `?` placeholders into the engine's own.
	Rebind(query string) string
	// ColumnType is the SQL type for a column kind.
	ColumnType(k ColumnKind) string
	// ForUpdate is the clause that locks the rows a SELECT reads until the transaction ends.
	ForUpdate() string
	// Columns lists the columns a table has now (none when it does not exist).
	Columns(ctx context.Context, tx *Tx, table string) ([]Column, error)
	// ChangeKinds changes the type of existing columns, converting their values.
	ChangeKinds(ctx context.Context, tx *Tx, table, primary string, cols []Column) error
	// IsUniqueViolation reports whether err is a unique or primary key violation.
	IsUniqueViolation(err error) bool
	// SerialPrimaryKey is the column definition of an ever-increasing integer primary key.
	SerialPrimaryKey() string
	// Returning is the clause that makes an INSERT return the serial key col of its rows, "" where
	// the rows of one INSERT are numbered consecutively and LastInsertId gives the last of them
	// (SQLite, one writer at a time: cheaper than its RETURNING).
	Returning(col string) string
	// Like is the operator of a case-insensitive LIKE, as Frappe's MariaDB compares text.
	Like() string
	// SchemaLock is a statement that makes other transactions running it wait until this one
	// ends, so nodes starting together do not create the same tables at once ("" when writes are
	// one at a time anyway).
	SchemaLock() string
	// ConcurrentCommits reports whether write transactions commit concurrently (PostgreSQL), so
	// a serial key taken by one transaction may become visible after a larger one taken later by
	// another; false where writes commit one at a time, so keys become visible in order (SQLite).
	ConcurrentCommits() bool
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_ \-]{0,63}$`)

// ValidIdent reports whether s may be used as a table or column name. Names are still quoted in
// SQL; this check keeps quotes, NULs and control characters out of them altogether.
func ValidIdent(s string) bool { return identRe.MatchString(s) }

// Quote quotes an identifier for SQL. Callers pass only names that passed ValidIdent.
func Quote(ident string) string {
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`
}

// EnsureTable creates the table with its columns, adds the columns it lacks and changes the type of
// those whose kind changed (the caller checks first that the stored values convert). Columns that
// are no longer wanted stay: removing a field never drops its data.
func EnsureTable(ctx context.Context, tx *Tx, table string, primary string, cols []Column) error {
	have, err := tx.d.Columns(ctx, tx, table)
	if err != nil {
		return err
	}
	if len(have) == 0 {
		defs := make([]string, 0, len(cols))
		for _, c := range cols {
			def := Quote(c.Name) + " " + tx.d.ColumnType(c.Kind)
			if c.Name == primary {
				def += " PRIMARY KEY"
			}
			defs = append(defs, def)
		}
		q := fmt.Sprintf("CREATE TABLE %s (%s)", Quote(table), strings.Join(defs, ", "))
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("create table %s: %w", table, err)
		}
		return nil
	}
	kinds := make(map[string]ColumnKind, len(have))
	for _, h := range have {
		kinds[h.Name] = h.Kind
	}
	var changed []Column
	for _, c := range cols {
		k, exists := kinds[c.Name]
		switch {
		case !exists:
			q := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", Quote(table), Quote(c.Name), tx.d.ColumnType(c.Kind))
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("add column %s.%s: %w", table, c.Name, err)
			}
		case k != c.Kind:
			changed = append(changed, c)
		}
	}
	if len(changed) > 0 {
		return tx.d.ChangeKinds(ctx, tx, table, primary, changed)
	}
	return nil
}

// readColumns reads a table's columns from the engine's catalogue: query takes the table name and
// returns (name, type) rows, and kind maps the engine's type names to column kinds.
func readColumns(ctx context.Context, tx *Tx, query, table string, kind func(typ string) ColumnKind) ([]Column, error) {
	rows, err := tx.Query(ctx, query, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []Column
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		cols = append(cols, Column{Name: name, Kind: kind(typ)})
	}
	return cols, rows.Err()
}

// EnsureIndex creates or drops an index on one column of a table.
func EnsureIndex(ctx context.Context, tx *Tx, table, column string, unique, want bool) error {
	suffix := "_idx"
	if unique {
		suffix = "_unique"
	}
	name := Quote(table + "_" + column + suffix)
	var q string
	switch {
	case want && unique:
		q = fmt.Sprintf("CREATE UNIQUE INDEX IF NOT EXISTS %s ON %s (%s)", name, Quote(table), Quote(column))
	case want:
		q = fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s)", name, Quote(table), Quote(column))
	default:
		q = "DROP INDEX IF EXISTS " + name
	}
	_, err := tx.Exec(ctx, q)
	return err
}

package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// A PostgreSQL transaction's BEGIN and COMMIT travel with its first and last statements. pgx's
// database/sql driver sends BEGIN and waits for its answer before the first statement is even
// written, and COMMIT after the last one has been answered: two round trips of their own on every
// transaction (a save's five were BEGIN, SELECT ... FOR UPDATE, UPDATE, the event log's INSERT,
// COMMIT). Here BEGIN is only noted, and goes out in one pipeline (a pgx batch: one write, one
// wait) with the transaction's first statement; and a statement run with commitAfter (Tx.AtCommit)
// goes out in one pipeline with the COMMIT. A save takes three round trips, a read two, and a
// transaction that runs no statement none.
//
// pgConn wraps pgx's driver connection; everything else is pgx's own.
type pgConn struct {
	*stdlib.Conn
	// begin is the BEGIN owed by an open transaction that has not run a statement yet.
	begin *pgx.TxOptions
	// committed is set once a statement's pipeline has committed the open transaction (or failed
	// to): its Commit answers with it.
	committed *error
}

// commitAfter marks the context of a transaction's last statement, to be sent with its COMMIT.
type commitAfter struct{}

// pgConnector makes pgConns from pgx's connector.
type pgConnector struct{ driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgConn{Conn: dc.(*stdlib.Conn)}, nil
}

func (c *pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.Conn.Conn().IsClosed() {
		return nil, driver.ErrBadConn
	}
	var o pgx.TxOptions
	switch sql.IsolationLevel(opts.Isolation) {
	case sql.LevelDefault:
	case sql.LevelReadCommitted:
		o.IsoLevel = pgx.ReadCommitted
	case sql.LevelRepeatableRead:
		o.IsoLevel = pgx.RepeatableRead
	case sql.LevelSerializable:
		o.IsoLevel = pgx.Serializable
	default:
		return nil, fmt.Errorf("unsupported isolation: %v", opts.Isolation)
	}
	if opts.ReadOnly {
		o.AccessMode = pgx.ReadOnly
	}
	c.begin = &o
	return pgTx{c: c, ctx: ctx}, nil
}

// PrepareContext returns statements that run through this connection, so that a statement
// prepared for the cache also carries an owed BEGIN.
func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.Conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &pgStmt{Stmt: st.(*stdlib.Stmt), c: c, query: query}, nil
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.begin == nil {
		return c.Conn.ExecContext(ctx, query, args)
	}
	br, _ := c.send(ctx, query, args, false)
	_, err := br.Exec()
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	commit := ctx.Value(commitAfter{}) != nil
	if c.begin == nil && !commit {
		return c.Conn.QueryContext(ctx, query, args)
	}
	br, begun := c.send(ctx, query, args, commit)
	if begun {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	// The first row is read now, as pgx's driver does: a failing query fails here, and the
	// columns are known.
	r := &pgRows{c: c, rows: rows, br: br, commit: commit, m: c.Conn.Conn().TypeMap(), first: true, more: rows.Next()}
	if err := rows.Err(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// send sends query in one pipeline with the owed BEGIN (begun reports whether there was one: its
// result comes first) and, with commit, the COMMIT after it. From here on the transaction is open
// on the server whatever the query's fate: a failed query leaves it aborted (the server skips the
// COMMIT), for the ROLLBACK that follows.
func (c *pgConn) send(ctx context.Context, query string, args []driver.NamedValue, commit bool) (br pgx.BatchResults, begun bool) {
	b := &pgx.Batch{}
	if c.begin != nil {
		b.BeginTx(*c.begin)
		c.begin, begun = nil, true
	}
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a.Value
	}
	b.Queue(query, vals...)
	if commit {
		b.Queue("commit")
	}
	return c.Conn.Conn().SendBatch(ctx, b), begun
}

type pgStmt struct {
	*stdlib.Stmt
	c     *pgConn
	query string // also the name pgx prepared it under
}

func (s *pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.query, args)
}

func (s *pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.query, args)
}

// pgTx ends a transaction; one that never ran a statement was never begun on the server.
type pgTx struct {
	c   *pgConn
	ctx context.Context
}

func (t pgTx) Commit() error {
	if t.c.begin != nil {
		t.c.begin = nil
		return nil
	}
	if done := t.c.committed; done != nil {
		t.c.committed = nil
		return *done
	}
	tag, err := t.c.Conn.Conn().Exec(t.ctx, "commit")
	return commitResult(tag, err)
}

// commitResult: COMMIT of a transaction a failed statement aborted rolls back, and says only so.
func commitResult(tag pgconn.CommandTag, err error) error {
	if err == nil && tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return err
}

func (t pgTx) Rollback() error {
	if t.c.begin != nil {
		t.c.begin = nil
		return nil
	}
	if t.c.committed != nil {
		// Ended by its last statement's pipeline (store.Tx.Commit rolls back when reading that
		// statement's rows failed): there is nothing left to roll back.
		t.c.committed = nil
		return nil
	}
	_, err := t.c.Conn.Conn().Exec(t.ctx, "rollback")
	return err
}

// pgRows are the rows of a statement sent with its transaction's BEGIN or COMMIT (whose result is
// read once the rows are closed), given to database/sql as
// pgx's driver gives its own: integers as int64, floats as float64, bytea as []byte, dates and
// times as time.Time, booleans as bool, anything else as its text.
type pgRows struct {
	c      *pgConn
	commit bool
	rows   pgx.Rows
	br     pgx.BatchResults
	m      *pgtype.Map
	first  bool // the first row was read ahead and is not consumed yet
	more   bool // whether there was a first row
	conv   []func([]byte) (driver.Value, error)
}

func (r *pgRows) Columns() []string {
	fds := r.rows.FieldDescriptions()
	names := make([]string, len(fds))
	for i, fd := range fds {
		names[i] = fd.Name
	}
	return names
}

func (r *pgRows) Close() error {
	if r.rows == nil {
		return nil
	}
	r.rows.Close()
	err := r.rows.Err()
	if r.commit && err == nil {
		cerr := commitResult(r.br.Exec())
		r.c.committed = &cerr
	}
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	r.rows = nil
	return err
}

func (r *pgRows) Next(dest []driver.Value) error {
	more := r.more
	if r.first {
		r.first = false
	} else {
		more = r.rows.Next()
	}
	if !more {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	if r.conv == nil {
		r.conv = r.converters()
	}
	for i, raw := range r.rows.RawValues() {
		if raw == nil {
			dest[i] = nil
			continue
		}
		v, err := r.conv[i](raw)
		if err != nil {
			return fmt.Errorf("convert column %d: %w", i, err)
		}
		dest[i] = v
	}
	return nil
}

// converters decode each column by its type and wire format (a batch picks binary where pgx can).
func (r *pgRows) converters() []func([]byte) (driver.Value, error) {
	fds := r.rows.FieldDescriptions()
	out := make([]func([]byte) (driver.Value, error), len(fds))
	for i, fd := range fds {
		oid, format := fd.DataTypeOID, fd.Format
		switch oid {
		case pgtype.BoolOID:
			out[i] = decodeAs[bool](r.m, oid, format, nil)
		case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
			out[i] = decodeAs[int64](r.m, oid, format, nil)
		case pgtype.OIDOID, pgtype.XIDOID, pgtype.CIDOID:
			out[i] = decodeAs[uint32](r.m, oid, format, func(n uint32) driver.Value { return int64(n) })
		case pgtype.Float4OID, pgtype.Float8OID:
			out[i] = decodeAs[float64](r.m, oid, format, nil)
		case pgtype.ByteaOID, pgtype.JSONOID, pgtype.JSONBOID:
			out[i] = decodeAs[[]byte](r.m, oid, format, func(b []byte) driver.Value { return append([]byte(nil), b...) })
		case pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID:
			out[i] = decodeAs[time.Time](r.m, oid, format, nil)
		default:
			out[i] = decodeAs[string](r.m, oid, format, nil)
		}
	}
	return out
}

// decodeAs decodes a column into a T, then into a driver value with conv (nil: the T itself).
func decodeAs[T any](m *pgtype.Map, oid uint32, format int16, conv func(T) driver.Value) func([]byte) (driver.Value, error) {
	var v T
	plan := m.PlanScan(oid, format, &v)
	return func(src []byte) (driver.Value, error) {
		if err := plan.Scan(src, &v); err != nil {
			return nil, err
		}
		if conv != nil {
			return conv(v), nil
		}
		return v, nil
	}
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgres opens a PostgreSQL database. PostgreSQL runs concurrent writers itself, so there is
// no Go-side writer queue; rows a save reads are locked with SELECT ... FOR UPDATE instead.
func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return openPostgresConfig(ctx, cfg)
}

func openPostgresConfig(ctx context.Context, cfg *pgx.ConnConfig) (*DB, error) {
	db := sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open PostgreSQL: %w", err)
	}
	return &DB{write: db, read: db, dialect: postgresDialect{}}, nil
}

type postgresDialect struct{}

func (postgresDialect) Name() string      { return "postgres" }
func (postgresDialect) ForUpdate() string { return " FOR UPDATE" }
func (postgresDialect) SerialPrimaryKey() string {
	return "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
}
func (postgresDialect) Like() string                { return "ILIKE" }
func (postgresDialect) Returning(col string) string { return " RETURNING " + col }

// The schema lock is per schema: sites (and tests) in other schemas of one database do not wait
// for each other.
func (postgresDialect) SchemaLock() string {
	return "SELECT pg_advisory_xact_lock(hashtext('livedoc:' || current_schema()), 2)"
}
func (postgresDialect) ConcurrentCommits() bool { return true }
func (postgresDialect) IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func (postgresDialect) ColumnType(k ColumnKind) string {
	switch k {
	case Integer:
		return "BIGINT"
	case Real:
		return "DOUBLE PRECISION"
	default:
		return "TEXT"
	}
}

// Rebind turns `?` into $1, $2, ... outside string literals and quoted identifiers.
func (postgresDialect) Rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		ch := q[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

func (postgresDialect) Columns(ctx context.Context, tx *Tx, table string) ([]Column, error) {
	return readColumns(ctx, tx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`, table, func(typ string) ColumnKind {
		switch typ {
		case "bigint", "integer", "smallint":
			return Integer
		case "double precision", "real", "numeric":
			return Real
		}
		return Text
	})
}

// ChangeKinds alters the columns' types in place; the caller has checked the values convert.
func (d postgresDialect) ChangeKinds(ctx context.Context, tx *Tx, table, primary string, cols []Column) error {
	for _, c := range cols {
		col := Quote(c.Name)
		using := col + "::text"
		switch c.Kind {
		case Integer:
			using = fmt.Sprintf("round(NULLIF(trim(%s::text), '')::double precision)::bigint", col)
		case Real:
			using = fmt.Sprintf("NULLIF(trim(%s::text), '')::double precision", col)
		}
		q := fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s", Quote(table), col, d.ColumnType(c.Kind), using)
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("change type of %s.%s: %w", table, c.Name, err)
		}
	}
	return nil
}

// isPostgresUnavailable recognises pgx's connection failures and the SQLSTATEs of a server that is
// shutting down, starting up or dropped the connection (class 08, 57P01-57P03).
func isPostgresUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}

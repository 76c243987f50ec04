package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver" // registers "sqlite3"
)

// openSQLite opens path with one writer connection and a small reader pool, both in WAL mode.
func openSQLite(ctx context.Context, path string) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	}
	// synchronous(normal) in WAL mode keeps every commit atomic and consistent; a power loss may
	// lose the last commits but never corrupts the file. busy_timeout comes first: a connection
	// opened while another holds a lock (the pools open theirs on demand, under load) would
	// otherwise fail its journal_mode pragma with "database is locked" at once instead of waiting.
	// Inside this process writes already queue on the single writer connection.
	pragmas := "&_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)&_pragma=foreign_keys(on)"
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_txlock="
	write, err := sql.Open("sqlite3", base+"immediate"+pragmas)
	if err != nil {
		return nil, err
	}
	// Two writer connections, but DB.writer lets only one transaction in at a time: the other
	// connection stays free to prepare statements for the cache while a transaction runs.
	write.SetMaxOpenConns(2)
	write.SetMaxIdleConns(2)
	write.SetConnMaxLifetime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, corrupt(err))
	}
	read, err := sql.Open("sqlite3", base+"deferred"+pragmas)
	if err != nil {
		write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(4)
	read.SetMaxIdleConns(4)
	return &DB{write: write, read: read, dialect: sqliteDialect{}, writer: make(chan struct{}, 1), dir: filepath.Dir(path)}, nil
}

type sqliteDialect struct{}

func (sqliteDialect) Name() string               { return "sqlite" }
func (sqliteDialect) Rebind(query string) string { return query }
func (sqliteDialect) ForUpdate() string          { return "" } // the writer lock already serialises
func (sqliteDialect) SerialPrimaryKey() string   { return "INTEGER PRIMARY KEY AUTOINCREMENT" }
func (sqliteDialect) ConcurrentCommits() bool    { return false } // one writer at a time
func (sqliteDialect) Returning(string) string    { return "" }
func (sqliteDialect) Like() string               { return "LIKE" } // case-insensitive for ASCII
func (sqliteDialect) SchemaLock() string         { return "" }

func (sqliteDialect) ColumnType(k ColumnKind) string {
	switch k {
	case Integer:
		return "INTEGER"
	case Real:
		return "REAL"
	default:
		return "TEXT"
	}
}

func (sqliteDialect) Columns(ctx context.Context, tx *Tx, table string) ([]Column, error) {
	return readColumns(ctx, tx, "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", table, func(typ string) ColumnKind {
		switch strings.ToUpper(typ) {
		case "INTEGER":
			return Integer
		case "REAL":
			return Real
		}
		return Text
	})
}

// ChangeKinds rebuilds the table, since SQLite's ALTER TABLE cannot change a column's type: a new
// table with every column (kept ones too), a copy with CAST, then the swap. Indexes go with the
// old table; the caller recreates them.
func (d sqliteDialect) ChangeKinds(ctx context.Context, tx *Tx, table, primary string, changed []Column) error {
	have, err := d.Columns(ctx, tx, table)
	if err != nil {
		return err
	}
	want := map[string]ColumnKind{}
	for _, c := range changed {
		want[c.Name] = c.Kind
	}
	defs := make([]string, 0, len(have))
	sels := make([]string, 0, len(have))
	names := make([]string, 0, len(have))
	for _, c := range have {
		k := c.Kind
		if nk, ok := want[c.Name]; ok {
			k = nk
		}
		def := Quote(c.Name) + " " + d.ColumnType(k)
		if c.Name == primary {
			def += " PRIMARY KEY"
		}
		defs = append(defs, def)
		names = append(names, Quote(c.Name))
		sels = append(sels, fmt.Sprintf("CAST(%s AS %s)", Quote(c.Name), d.ColumnType(k)))
	}
	tmp := table + "__rebuild"
	stmts := []string{
		fmt.Sprintf("CREATE TABLE %s (%s)", Quote(tmp), strings.Join(defs, ", ")),
		fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s", Quote(tmp), strings.Join(names, ", "), strings.Join(sels, ", "), Quote(table)),
		"DROP TABLE " + Quote(table),
		fmt.Sprintf("ALTER TABLE %s RENAME TO %s", Quote(tmp), Quote(table)),
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("change column types of %s: %w", table, err)
		}
	}
	return nil
}

func (sqliteDialect) IsUniqueViolation(err error) bool {
	return errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) || errors.Is(err, sqlite3.CONSTRAINT_PRIMARYKEY)
}

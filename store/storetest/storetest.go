// Package storetest gives each test its own database: SQLite in a temporary directory by default,
// or, with LIVEDOC_TEST_STORE=postgres, a fresh schema in the PostgreSQL named by LIVEDOC_TEST_PG
// (default postgres://postgres@127.0.0.1:5432/test), dropped when the test ends. CI runs the
// whole suite both ways.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"github.com/livedoc/livedoc/store"
)

// Postgres reports whether tests run against PostgreSQL.
func Postgres() bool { return os.Getenv("LIVEDOC_TEST_STORE") == "postgres" }

// DSN returns a database for one test: a SQLite path in a temp dir, or a PostgreSQL URL whose
// search_path is a schema of its own.
func DSN(t testing.TB) string {
	t.Helper()
	if !Postgres() {
		return filepath.Join(t.TempDir(), "livedoc.db")
	}
	base := os.Getenv("LIVEDOC_TEST_PG")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("PostgreSQL at %s: %v", base, err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens a database for one test and closes it when the test ends.
func Open(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

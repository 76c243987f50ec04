package store_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/livedoc/livedoc/store"
	"github.com/ncruces/go-sqlite3"
)

// What each engine says when its disk is full is told apart from other failures, wrapped or not
// (a full SQLite file system is exercised for real in the root package's TestDiskFull...).
func TestIsDiskFull(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{sqlite3.FULL, true},
		{fmt.Errorf("commit: %w", sqlite3.FULL), true},
		{&pgconn.PgError{Code: "53100", Message: "could not extend file: No space left on device"}, true},
		{fmt.Errorf("insert: %w", &pgconn.PgError{Code: "53100"}), true},
		{&pgconn.PgError{Code: "53200"}, false}, // out of memory
		{&pgconn.PgError{Code: "23505"}, false},
		{sqlite3.IOERR_WRITE, false}, // on a disk with space: not taken for a full one
		{sqlite3.CONSTRAINT_UNIQUE, false},
		{errors.New("database or disk is full"), false}, // text is not a code
		{nil, false},
	} {
		if got := store.IsDiskFull(c.err); got != c.want {
			t.Errorf("IsDiskFull(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

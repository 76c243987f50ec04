package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// ErrCorrupt is wrapped by the errors of Open and Check for a database file that is damaged or is
// not a database at all.
var ErrCorrupt = errors.New("the database is damaged")

// corrupt wraps an SQLite error that says the file is damaged, so that a caller can tell it from
// a database that is merely unreachable; other errors are returned as they are. The driver's own
// wrapping goes: a damaged file first fails the DSN's pragmas, and its "invalid _pragma" would
// send one looking for a typo in the DSN.
func corrupt(err error) error {
	damaged := func(err error) bool { return errors.Is(err, sqlite3.CORRUPT) || errors.Is(err, sqlite3.NOTADB) }
	if !damaged(err) {
		return err
	}
	for inner := errors.Unwrap(err); damaged(inner); inner = errors.Unwrap(err) {
		err = inner
	}
	return fmt.Errorf("%w (%v)", ErrCorrupt, err)
}

// Check looks the database over before it is used: on SQLite `PRAGMA quick_check(1)` (every page
// of every table and index is read and its structure checked, stopping at the first fault; not
// the cross-checks of tables against indexes, which take far longer), on PostgreSQL a query. ctx
// bounds it: a large file may take a while.
func (db *DB) Check(ctx context.Context) error {
	if db.writer == nil {
		var one int
		return db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	}
	var res string
	if err := db.read.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&res); err != nil {
		return corrupt(err)
	}
	if res != "ok" {
		return fmt.Errorf("%w: %s", ErrCorrupt, res)
	}
	return nil
}

package store

import (
	"errors"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ncruces/go-sqlite3"
)

// IsDiskFull reports whether err means the database could not write because its storage is full
// (SQLite's SQLITE_FULL "database or disk is full", PostgreSQL's SQLSTATE 53100 disk_full). Reads
// still work, and writes will again once space is freed: nothing is wrong with the request.
func IsDiskFull(err error) bool {
	if err == nil {
		return false
	}
	var dfe *diskFullError
	if errors.Is(err, sqlite3.FULL) || errors.Is(err, syscall.ENOSPC) || errors.As(err, &dfe) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "53100"
}

// DiskFull is the error of the last write that failed for want of space, or nil when none has
// since the last write that committed: a health check cannot see a full disk by reading, and
// probing with a write of its own would take the writer from requests.
func (db *DB) DiskFull() error {
	if p := db.full.Load(); p != nil {
		return *p
	}
	return nil
}

// diskFullError is an SQLite I/O error found to be a full disk. SQLite says SQLITE_FULL when a
// write fails with ENOSPC, but the driver's VFS (ncruces/go-sqlite3) reports it as
// SQLITE_IOERR_WRITE, and the system error is gone by the time the statement fails.
type diskFullError struct{ err error }

func (e *diskFullError) Error() string { return "database or disk is full: " + e.err.Error() }
func (e *diskFullError) Unwrap() error { return e.err }

// lowSpace is free space under which a failed write is taken for want of it: SQLite writes a
// page (a few KiB) at a time, so a write refused for space leaves less than that.
const lowSpace = 1 << 20

// noteWrite records err when it is a full disk, and returns it (an SQLite I/O error on a file
// system with no space left as a diskFullError).
func (db *DB) noteWrite(err error) error {
	if err == nil {
		return nil
	}
	if db.dir != "" && errors.Is(err, sqlite3.IOERR) && !IsDiskFull(err) {
		if free, ok := freeSpace(db.dir); ok && free < lowSpace {
			err = &diskFullError{err}
		}
	}
	if IsDiskFull(err) {
		db.full.Store(&err)
	}
	return err
}

// committed clears the full-disk state: a write has found space.
func (db *DB) committed() {
	if db.full.Load() != nil {
		db.full.Store(nil)
	}
}

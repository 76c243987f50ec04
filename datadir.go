package livedoc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/livedoc/livedoc/store"
)

// A database file that is missing or empty is what SQLite makes a fresh site of, with a new
// Administrator: after a botched copy or restore, existing data would silently be gone from view.
// So once a data dir's database has been set up, a marker says so, and a start that finds the
// marker but no data refuses, saying what to do.

// initialisedMarker, in the data dir, says its database has been set up.
const initialisedMarker = ".initialised"

// checkTimeout bounds the integrity check at startup. A check that has not finished by then is
// given up with a warning: it must not keep a large site from starting at all.
const checkTimeout = time.Minute

// checkDataDir refuses a data dir whose marker says data was there, when the database file is
// missing or empty.
func checkDataDir(dir, dbPath string) error {
	marker := filepath.Join(dir, initialisedMarker)
	if _, err := os.Stat(marker); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	what := "is missing"
	fi, err := os.Stat(dbPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("database %s: %w", dbPath, err)
	case fi.Size() == 0:
		what = "is empty (0 bytes)"
	default:
		return nil
	}
	return fmt.Errorf("refusing to start: the database %s %s, but %s says this data dir held data. "+
		"Restore the database from a backup to %s (and delete any %s-wal and %s-shm left beside it); "+
		"or, to start an empty site on purpose, delete %s", dbPath, what, marker, dbPath, dbPath, dbPath, marker)
}

// checkDatabase looks the database over before anything uses it (store.DB.Check).
func (a *App) checkDatabase(ctx context.Context, dbPath string) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	err := a.db.Check(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		a.log.Warn("the database check did not finish in time; starting without it", "timeout", checkTimeout)
		return nil
	}
	return refuseDamaged(dbPath, err)
}

// refuseDamaged says what to do about a damaged database file (errors other than damage are
// returned as they are).
func refuseDamaged(dbPath string, err error) error {
	if !errors.Is(err, store.ErrCorrupt) {
		return err
	}
	return fmt.Errorf("refusing to start: %w. Stop every process using %s, restore it from a backup "+
		"(and delete any %s-wal and %s-shm left beside it), then start again", err, dbPath, dbPath, dbPath)
}

// markInitialised writes the marker once the database has been set up.
func markInitialised(dir string) error {
	marker := filepath.Join(dir, initialisedMarker)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	msg := "livedoc: the database in this directory has been set up. While this file is here, livedoc refuses\n" +
		"to start when the database is missing or empty instead of starting an empty site.\n"
	if err := os.WriteFile(marker, []byte(msg), 0o640); err != nil {
		return fmt.Errorf("data dir marker: %w", err)
	}
	return nil
}

package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/livedoc/livedoc/store"
	"github.com/livedoc/livedoc/store/storetest"
)

func openSQLite(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "group.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, tx *store.Tx, q string, args ...any) {
	t.Helper()
	if _, err := tx.Exec(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func setup(t *testing.T, db *store.DB, ddl ...string) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Begin(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range ddl {
		exec(t, tx, q)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func names(t *testing.T, db *store.DB) map[string]bool {
	t.Helper()
	tx, err := db.Begin(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.Query(context.Background(), `SELECT name FROM g`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		got[n] = true
	}
	return got
}

// Many writers at once, some rolling back, some failing: exactly the commits that reported
// success are there, each visible to readers as soon as its Commit returned.
func TestConcurrentWritersCommitExactlyWhatTheyReport(t *testing.T) {
	db := storetest.Open(t)
	setup(t, db, `CREATE TABLE g (name TEXT PRIMARY KEY)`)
	ctx := context.Background()
	var mu sync.Mutex
	committed := map[string]bool{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				name := fmt.Sprintf("w%d-%d", w, i)
				tx, err := db.Begin(ctx, true)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := tx.Exec(ctx, `INSERT INTO g (name) VALUES (?)`, name); err != nil {
					t.Error(err)
					tx.Rollback()
					return
				}
				switch i % 5 {
				case 3:
					tx.Rollback()
					continue
				case 4: // a failing statement, then the rollback a request does
					if _, err := tx.Exec(ctx, `INSERT INTO g (name) VALUES (?)`, name); err == nil {
						t.Error("duplicate insert succeeded")
					}
					tx.Rollback()
					continue
				}
				if err := tx.Commit(); err != nil {
					t.Error(err)
					continue
				}
				r, err := db.Begin(ctx, false)
				if err != nil {
					t.Error(err)
					continue
				}
				var n int
				r.QueryRow(ctx, `SELECT COUNT(*) FROM g WHERE name = ?`, name).Scan(&n)
				r.Rollback()
				if n != 1 {
					t.Errorf("%s committed but not visible", name)
				}
				mu.Lock()
				committed[name] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	got := names(t, db)
	if len(got) != len(committed) || len(committed) != 8*30 {
		t.Fatalf("%d rows, %d reported committed, want %d", len(got), len(committed), 8*30)
	}
	for n := range committed {
		if !got[n] {
			t.Errorf("%s reported committed, not there", n)
		}
	}
}

// beginWith starts a write transaction and runs q in it.
func beginWith(t *testing.T, db *store.DB, q string) *store.Tx {
	t.Helper()
	tx, err := db.Begin(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, tx, q)
	return tx
}

// beginQueued starts a write transaction on another goroutine and waits until it is queued
// behind the current writer (or has begun).
func beginQueued(t *testing.T, db *store.DB) <-chan *store.Tx {
	t.Helper()
	ch := make(chan *store.Tx, 1)
	go func() {
		tx, err := db.Begin(context.Background(), true)
		if err != nil {
			t.Error(err)
		}
		ch <- tx
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !db.WritersWaiting() {
		if time.Now().After(deadline) {
			t.Fatal("the writer never queued")
		}
		time.Sleep(time.Millisecond)
	}
	return ch
}

// A member that rolls back in a group takes only its own writes with it.
func TestGroupMemberRollbackKeepsTheOthers(t *testing.T) {
	db := openSQLite(t) // group commit is SQLite's
	setup(t, db, `CREATE TABLE g (name TEXT PRIMARY KEY)`)
	a := beginWith(t, db, `INSERT INTO g (name) VALUES ('a')`)
	bc := beginQueued(t, db)
	aDone := make(chan error, 1)
	go func() { aDone <- a.Commit() }() // leaves the group open for b, and waits for it
	b := <-bc
	exec(t, b, `INSERT INTO g (name) VALUES ('b')`)
	select {
	case err := <-aDone:
		t.Fatalf("a's Commit returned (%v) before its group committed", err)
	default:
	}
	if err := b.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	if got := names(t, db); !got["a"] || got["b"] || len(got) != 1 {
		t.Fatalf("rows %v, want only a", got)
	}
}

// When a group's commit fails, every member is told: none reports a commit that did not happen.
func TestGroupCommitFailureFailsEveryMember(t *testing.T) {
	db := openSQLite(t) // group commit is SQLite's
	setup(t, db, `CREATE TABLE p (id INTEGER PRIMARY KEY)`,
		`CREATE TABLE g (name TEXT PRIMARY KEY, p INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)`)
	a := beginWith(t, db, `INSERT INTO g (name) VALUES ('a')`)
	bc := beginQueued(t, db)
	aDone := make(chan error, 1)
	go func() { aDone <- a.Commit() }()
	b := <-bc
	exec(t, b, `INSERT INTO g (name, p) VALUES ('b', 42)`) // checked only at COMMIT
	errB := b.Commit()
	errA := <-aDone
	if errA == nil || errB == nil {
		t.Fatalf("commit errors a=%v b=%v, want both to fail", errA, errB)
	}
	if got := names(t, db); len(got) != 0 {
		t.Fatalf("rows %v after a failed group commit", got)
	}
	// The writer is usable again.
	setup(t, db, `INSERT INTO g (name) VALUES ('c')`)
	if got := names(t, db); !got["c"] || len(got) != 1 {
		t.Fatalf("rows %v", got)
	}
}

// A writer that gives up while queued does not strand the group left open for it. (The give-up
// races with a's hand-over; either way a's group must commit.)
func TestCancelledWaiterClosesTheGroup(t *testing.T) {
	db := openSQLite(t) // group commit is SQLite's
	setup(t, db, `CREATE TABLE g (name TEXT PRIMARY KEY)`)
	a := beginWith(t, db, `INSERT INTO g (name) VALUES ('a')`)
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		tx, err := db.Begin(ctx, true)
		if err == nil { // the writer came free as the context ended, and won: a request would go on
			err = tx.Rollback()
		}
		gaveUp <- err
	}()
	for !db.WritersWaiting() {
		time.Sleep(time.Millisecond)
	}
	aDone := make(chan error, 1)
	go func() { aDone <- a.Commit() }()
	cancel()
	if err := <-gaveUp; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	select {
	case err := <-aDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a's group never committed")
	}
	if got := names(t, db); !got["a"] {
		t.Fatalf("rows %v", got)
	}
}

package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/livedoc/livedoc/store/storetest"
)

// Many transactions at once, each running statements the cache has not seen: a transaction holds
// its connection, so preparing for the cache must never wait for another one while holding up the
// others (the pool would run dry: a deadlock).
func TestConcurrentCacheMissesDoNotDeadlock(t *testing.T) {
	db := storetest.Open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx, err := db.Begin(ctx, g%4 == 0)
			if err != nil {
				errs <- err
				return
			}
			defer tx.Rollback()
			for i := range 20 {
				var n int
				q := fmt.Sprintf("SELECT %d + ?", g*100+i) // a text no one ran before
				if err := tx.QueryRow(ctx, q, 1).Scan(&n); err != nil {
					errs <- err
					return
				}
				if n != g*100+i+1 {
					errs <- fmt.Errorf("%s gave %d", q, n)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("transactions stuck: the statement cache deadlocked")
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A statement queued with AtCommit runs as the transaction's last and commits with it; its rows
// are read by then (on every store; PostgreSQL sends it with the COMMIT).
func TestAtCommitRunsLastAndCommits(t *testing.T) {
	db := storetest.Open(t)
	ctx := context.Background()
	tx, err := db.Begin(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(ctx, `CREATE TABLE log (seq `+db.Dialect().SerialPrimaryKey()+`, m TEXT)`); err != nil {
		t.Fatal(err)
	}
	var got []string
	tx.AtCommit(`INSERT INTO log (m) VALUES (?), (?) RETURNING m`, []any{"a", "b"}, func(rows *sql.Rows) error {
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				return err
			}
			got = append(got, m)
		}
		return rows.Err()
	})
	if got != nil {
		t.Fatal("AtCommit ran its statement before the commit")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("AtCommit's rows: %v", got)
	}
	rtx, err := db.Begin(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rtx.Rollback()
	var n int
	if err := rtx.QueryRow(ctx, `SELECT count(*) FROM log`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d rows committed (%v), want 2", n, err)
	}
}

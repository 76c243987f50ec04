package realtime

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/store"
)

// A log whose pages are damaged part way fails a read as a whole: before, the rows read up to
// the damage came back with the error and recovery and SSE replayed them, skipping the rest
// unnoticed. Page damage is a SQLite fault, so this test makes its own SQLite database whatever
// LIVEDOC_TEST_STORE says; the rule it checks (Log.read) is the same for PostgreSQL.
func TestLogReadFailsWholeOnDamage(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "livedoc.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := doc.NewEngine(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	elog, err := newLog(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	pages := func() (n, size int64) {
		t.Helper()
		tx, err := db.Begin(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.QueryRow(ctx, "PRAGMA page_size").Scan(&size); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRow(ctx, "PRAGMA page_count").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n, size
	}
	before, _ := pages()
	msg, _ := json.Marshal(strings.Repeat("x", 300))
	events := make([]Event, 3000)
	for i := range events {
		events[i] = Event{Room: "all", Event: "e", Message: msg}
	}
	if err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error { return elog.append(c, events) }); err != nil {
		t.Fatal(err)
	}
	after, size := pages()
	if after-before < 100 {
		t.Fatalf("the events took %d pages, too few to damage the middle", after-before)
	}
	last := events[len(events)-1].Offset
	if got, err := elog.between(ctx, 0, last); err != nil || len(got) != len(events) {
		t.Fatalf("before the damage: %d events, %v", len(got), err)
	}
	db.Close() // the last connection to close moves the WAL into the file

	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte(strings.Repeat("\xa5", int(size)))
	for p := before + (after-before)*2/3; p < before+(after-before)*2/3+8; p++ {
		if _, err := f.WriteAt(garbage, p*size); err != nil { // page p+1, counting from 1
			t.Fatal(err)
		}
	}
	f.Close()

	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	damaged := &Log{db: db}
	got, err := damaged.between(ctx, 0, last)
	if err == nil || got != nil {
		t.Fatalf("between over damaged pages: %d events, %v; want none and an error", len(got), err)
	}
	got, err = damaged.since(ctx, 0, last, []string{"all"}, maxReplay)
	if err == nil || got != nil {
		t.Fatalf("since over damaged pages: %d events, %v; want none and an error", len(got), err)
	}
}

package livedoc_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/examples/invoice"
)

func start(dir string) (*livedoc.App, error) {
	return livedoc.New(context.Background(), livedoc.Config{DataDir: dir, AdminPassword: "pw"})
}

// A fresh data dir starts as a new site and is marked as holding data; a start that then finds
// the database missing or empty refuses, saying what to do, and leaves the files as they are
// (before, it started an empty site with a new Administrator).
func TestStartRefusesAMissingOrEmptyDatabase(t *testing.T) {
	dir := t.TempDir()
	app, err := start(dir)
	if err != nil {
		t.Fatal(err)
	}
	app.Close()
	if _, err := os.Stat(filepath.Join(dir, ".initialised")); err != nil {
		t.Fatalf("the data dir was not marked once set up: %v", err)
	}
	db := filepath.Join(dir, "livedoc.db")
	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	_, err = start(dir)
	if err == nil || !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), db+" is empty") ||
		!strings.Contains(err.Error(), "backup") {
		t.Fatalf("start over a 0-byte database: %v", err)
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
		t.Fatalf("the refused start changed the database file: %v, %v", fi, err)
	}
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	_, err = start(dir)
	if err == nil || !strings.Contains(err.Error(), db+" is missing") {
		t.Fatalf("start with the database missing: %v", err)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("the refused start made a database: %v", err)
	}
}

// damage overwrites n pages of the file from page first with random bytes.
func damage(t *testing.T, path string, first, n int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(1, 2))
	page := make([]byte, 4096)
	for i := range n {
		for j := range page {
			page[j] = byte(r.Uint32())
		}
		if _, err := f.WriteAt(page, (first+i)*4096); err != nil {
			t.Fatal(err)
		}
	}
}

// A database damaged in the middle (pages of its tables and of __events overwritten) is refused
// at startup with what to do, and so is one whose header is gone — not with the driver's
// "invalid _pragma". Before, the first started healthy and served the damage.
func TestStartRefusesADamagedDatabase(t *testing.T) {
	dir := t.TempDir()
	app, err := start(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := invoice.Register(ctx, app, nil); err != nil {
		t.Fatal(err)
	}
	err = app.Engine.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		for i := range 2000 {
			if _, err := c.Insert(doc.Doc{"doctype": "Customer", "customer_name": "Customer " + strings.Repeat("x", i%50) + string(rune('A'+i%26)) + strings.Repeat("y", i/26)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	app.Close()
	db := filepath.Join(dir, "livedoc.db")
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	pages := fi.Size() / 4096
	if pages < 100 {
		t.Fatalf("the database has only %d pages", pages)
	}
	damage(t, db, pages/2, 16)
	_, err = start(dir)
	if err == nil || !strings.Contains(err.Error(), "refusing to start: the database is damaged") ||
		!strings.Contains(err.Error(), "restore it from a backup") || !strings.Contains(err.Error(), db) {
		t.Fatalf("start over a database damaged in the middle: %v", err)
	}

	damage(t, db, 0, 1)
	_, err = start(dir)
	if err == nil || !strings.HasPrefix(err.Error(), "refusing to start: open "+db+": the database is damaged") || strings.Contains(err.Error(), "_pragma") {
		t.Fatalf("start over a database with its header damaged: %v", err)
	}
}

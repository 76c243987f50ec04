package livedoc_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/examples/invoice"
	"github.com/livedoc/livedoc/internal/apptest"
)

// mountSmall mounts a tmpfs of size on a new directory, unmounted when the test ends.
func mountSmall(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("a full disk needs a tmpfs of its own, and mounting one failed (run as root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		// Lazily: the closed database's files may still be being let go of by the kernel.
		if out, err := exec.Command("umount", "--lazy", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// A database on a full disk: writes answer 507 in Frappe's error shape (not 500 "Internal Server
// Error"), /api/health says degraded with checks.disk until a write succeeds again, reads work
// meanwhile, and once space is freed writes work and health is ok again — no restart.
func TestDiskFullAnswers507AndHealthSaysSo(t *testing.T) {
	dir := mountSmall(t, "8m")
	ctx := context.Background()
	app, err := livedoc.New(ctx, livedoc.Config{DataDir: filepath.Join(dir, "data"), AdminPassword: apptest.AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	if err := invoice.Register(ctx, app, nil); err != nil {
		app.Close()
		t.Fatal(err)
	}
	env := apptest.Serve(t, app)
	var tok string
	err = app.Engine.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		key, secret, err := app.Auth.GenerateKeys(c, doc.Administrator)
		tok = key + ":" + secret
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	api := env.WithToken(tok)
	health := func() (int, map[string]any) { return env.Anon().JSON("GET", "/api/health", nil) }
	if code, h := health(); code != 200 || h["status"] != "ok" {
		t.Fatalf("health before: %d %v", code, h)
	}

	if code, body := api.JSON("POST", "/api/resource/Customer", map[string]any{"customer_name": "ACME"}); code != 200 {
		t.Fatalf("insert a customer: %d %v", code, body)
	}

	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	remarks := strings.Repeat("x", 64<<10)
	var full map[string]any
	for i := 0; full == nil; i++ {
		if i == 200 {
			t.Fatal("200 inserts of 64 KiB each succeeded on a full disk")
		}
		code, body := api.JSON("POST", "/api/resource/Invoice", map[string]any{"customer": "ACME", "remarks": remarks})
		switch code {
		case http.StatusOK:
		case http.StatusInsufficientStorage:
			full = body
		default:
			t.Fatalf("insert %d on a full disk: %d %v", i, code, body)
		}
	}
	if full["exc_type"] != "InsufficientStorageError" || !strings.Contains(full["_server_messages"].(string), "disk is full") {
		t.Fatalf("the 507 body: %v", full)
	}
	code, h := health()
	checks, _ := h["checks"].(map[string]any)
	if code != 200 || h["status"] != "degraded" || !strings.HasPrefix(checks["disk"].(string), "full") || checks["database"] != "ok" {
		t.Fatalf("health on a full disk: %d %v", code, h)
	}
	if code, body := api.JSON("GET", "/api/resource/Customer/ACME", nil); code != 200 {
		t.Fatalf("a read on a full disk: %d %v", code, body)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code, body := api.JSON("POST", "/api/resource/Invoice", map[string]any{"customer": "ACME", "remarks": "after"}); code != 200 {
		t.Fatalf("insert after freeing space: %d %v", code, body)
	}
	if code, h := health(); code != 200 || h["status"] != "ok" {
		t.Fatalf("health after a write succeeded again: %d %v", code, h)
	}
}

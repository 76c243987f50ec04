package script_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/store/storetest"
)

// A script saved, then changed, on one node takes effect on another without a restart.
func TestScriptEditReachesOtherNode(t *testing.T) {
	dsn, redis := storetest.DSN(t), startRedis(t)
	a := newEnv(t, livedoc.Config{Database: dsn, Redis: redis})
	b := newEnv(t, livedoc.Config{Database: dsn, Redis: redis})
	ctx := context.Background()
	save := func(app *livedoc.App, fn func(c *doc.Context) error) error {
		return app.Engine.Run(ctx, doc.AdminUser, true, fn)
	}
	veto := func(msg string) string {
		return `frappe.throw("` + msg + `")`
	}
	if err := save(a.App, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Server Script", "name": "Veto", "script_type": "DocType Event",
			"reference_doctype": "Customer", "doctype_event": "Before Insert", "script": veto("first")})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// B refuses with the script's message once its fan-out passed the change.
	waitVeto := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for i := 0; ; i++ {
			err := save(b.App, func(c *doc.Context) error {
				_, err := c.Insert(doc.Doc{"doctype": "Customer", "customer_name": "C" + want + strings.Repeat("x", i)})
				return err
			})
			if err != nil && err.Error() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("node B never ran the script saying %q (last: %v)", want, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitVeto("first")
	if err := save(a.App, func(c *doc.Context) error {
		_, err := c.Update("Server Script", "Veto", map[string]any{"script": veto("second")})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitVeto("second")
}

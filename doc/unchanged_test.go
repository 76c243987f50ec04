package doc_test

import (
	"testing"

	"github.com/livedoc/livedoc/doc"
)

// A save that changes nothing writes nothing: the stored modified stays, no after-write hooks run
// (so no doc_update either); a change to a value or a child row is written as before.
func TestSaveWithoutChangesWritesNothing(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, itemJSON, invoiceJSON)
	var r recorder
	r.attach(e, "Invoice")
	var d doc.Doc
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		var err error
		d, err = c.Insert(doc.Doc{"doctype": "Invoice", "customer": "x", "items": []any{map[string]any{"item": "a", "qty": 2}}})
		return err
	})
	r.take(t)
	save := func(change func(doc.Doc)) doc.Doc {
		t.Helper()
		var got doc.Doc
		run(t, e, doc.AdminUser, func(c *doc.Context) error {
			cur, err := c.Get("Invoice", d.Name())
			if err != nil {
				return err
			}
			change(cur)
			got, err = c.Save(cur)
			return err
		})
		return got
	}
	same := save(func(doc.Doc) {})
	if same.String("modified") != d.String("modified") {
		t.Fatalf("an unchanged save moved modified: %s → %s", d.String("modified"), same.String("modified"))
	}
	if got := r.take(t); len(got) != 3 || got[0] != doc.BeforeValidate || got[2] != doc.BeforeSave {
		t.Fatalf("an unchanged save ran %v, want only the hooks before the write", got)
	}
	changed := save(func(cur doc.Doc) { cur.Children("items")[0]["qty"] = int64(3) })
	if changed.String("modified") == d.String("modified") {
		t.Fatal("a changed child row was not written")
	}
	if got := r.take(t); len(got) != 5 || got[3] != doc.OnUpdate {
		t.Fatalf("a changed save ran %v", got)
	}
	if again := save(func(cur doc.Doc) { cur["remarks"] = "new" }); again.String("modified") == changed.String("modified") {
		t.Fatal("a changed value was not written")
	}
}

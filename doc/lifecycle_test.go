package doc_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/store/storetest"
)

func newEngine(t testing.TB) *doc.Engine {
	t.Helper()
	e, err := doc.NewEngine(context.Background(), storetest.Open(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustParse(t testing.TB, j string) *doc.DocType {
	t.Helper()
	dt, err := doc.ParseDocType([]byte(j))
	if err != nil {
		t.Fatal(err)
	}
	return dt
}

const itemJSON = `{"name": "Invoice Item", "istable": 1, "fields": [
	{"fieldname": "item", "fieldtype": "Data", "reqd": 1},
	{"fieldname": "qty", "fieldtype": "Int"},
	{"fieldname": "note", "fieldtype": "Data", "allow_on_submit": 1}]}`

const invoiceJSON = `{"name": "Invoice", "autoname": "INV-.####", "is_submittable": 1, "allow_rename": 1, "fields": [
	{"fieldname": "customer", "fieldtype": "Data", "reqd": 1, "in_list_view": 1},
	{"fieldname": "status", "fieldtype": "Select", "options": "Draft\nUnpaid\nPaid", "default": "Draft"},
	{"fieldname": "amount", "fieldtype": "Currency"},
	{"fieldname": "remarks", "fieldtype": "Text", "allow_on_submit": 1},
	{"fieldname": "items", "fieldtype": "Table", "options": "Invoice Item"}],
 "permissions": [{"role": "Accounts User", "read": 1, "write": 1, "create": 1, "submit": 1, "cancel": 1, "delete": 1},
	{"role": "Sales User", "read": 1, "write": 1, "create": 1, "if_owner": 1}]}`

func syncTypes(t testing.TB, e *doc.Engine, jsons ...string) {
	t.Helper()
	var dts []*doc.DocType
	for _, j := range jsons {
		dts = append(dts, mustParse(t, j))
	}
	run(t, e, doc.AdminUser, func(c *doc.Context) error { return c.Sudo().Sync(dts...) })
}

func run(t testing.TB, e *doc.Engine, u *doc.User, fn func(c *doc.Context) error) {
	t.Helper()
	if err := e.Run(context.Background(), u, true, fn); err != nil {
		t.Fatal(err)
	}
}

// recorder registers a hook for every event on doctype and "*" that logs "<scope>:<event>".
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) attach(e *doc.Engine, doctype string) {
	for _, ev := range []string{doc.BeforeInsert, doc.Autoname, doc.BeforeValidate, doc.Validate, doc.BeforeSave,
		doc.BeforeSubmit, doc.AfterInsert, doc.OnUpdate, doc.OnSubmit, doc.OnChange, doc.BeforeUpdateAfterSubmit,
		doc.OnUpdateAfterSubmit, doc.BeforeCancel, doc.OnCancel, doc.OnTrash, doc.AfterDelete} {
		// "*" registered first: the DocType's own hooks must still run before it.
		e.On("*", ev, func(c *doc.Context, d doc.Doc) error {
			if d.DocType() == doctype {
				r.add("*:" + ev)
			}
			return nil
		})
		e.On(doctype, ev, func(c *doc.Context, d doc.Doc) error { r.add(ev); return nil })
	}
}

func (r *recorder) add(s string) { r.mu.Lock(); r.log = append(r.log, s); r.mu.Unlock() }

// take returns the events logged since the last take, DocType-own ones only, after checking each
// was followed by its "*" twin.
func (r *recorder) take(t *testing.T) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var own []string
	for i := 0; i < len(r.log); i += 2 {
		if i+1 >= len(r.log) || r.log[i+1] != "*:"+r.log[i] {
			t.Fatalf("DocType hook %q not followed by its * hook: %v", r.log[i], r.log)
		}
		own = append(own, r.log[i])
	}
	r.log = nil
	return own
}

func TestHookOrderOnEveryPath(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, itemJSON, invoiceJSON)
	var r recorder
	r.attach(e, "Invoice")
	admin := doc.AdminUser
	var name string

	run(t, e, admin, func(c *doc.Context) error {
		d, err := c.Insert(doc.Doc{"doctype": "Invoice", "customer": "ACME", "items": []any{map[string]any{"item": "Bolt", "qty": 3}}})
		name = d.Name()
		return err
	})
	want := []string{"before_insert", "autoname", "before_validate", "validate", "before_save", "after_insert", "on_update", "on_change"}
	if got := r.take(t); !slices.Equal(got, want) {
		t.Fatalf("insert: got %v want %v", got, want)
	}

	run(t, e, admin, func(c *doc.Context) error {
		_, err := c.Update("Invoice", name, map[string]any{"amount": 10})
		return err
	})
	want = []string{"before_validate", "validate", "before_save", "on_update", "on_change"}
	if got := r.take(t); !slices.Equal(got, want) {
		t.Fatalf("save: got %v want %v", got, want)
	}

	run(t, e, admin, func(c *doc.Context) error {
		d, err := c.Get("Invoice", name)
		if err != nil {
			return err
		}
		_, err = c.Submit(d)
		return err
	})
	want = []string{"before_validate", "validate", "before_submit", "on_update", "on_submit", "on_change"}
	if got := r.take(t); !slices.Equal(got, want) {
		t.Fatalf("submit: got %v want %v", got, want)
	}

	run(t, e, admin, func(c *doc.Context) error {
		_, err := c.Update("Invoice", name, map[string]any{"remarks": "paid late"})
		return err
	})
	want = []string{"before_update_after_submit", "on_update_after_submit", "on_change"}
	if got := r.take(t); !slices.Equal(got, want) {
		t.Fatalf("update after submit: got %v want %v", got, want)
	}

	run(t, e, admin, func(c *doc.Context) error { _, err := c.Cancel("Invoice", name); return err })
	want = []string{"before_cancel", "on_cancel", "on_change"}
	if got := r.take(t); !slices.Equal(got, want) {
		t.Fatalf("cancel: got %v want %v", got, want)
	}

	run(t, e, admin, func(c *doc.Context) error { return c.Delete("Invoice", name) })
	want = []string{"on_trash", "after_delete"}
	if got := r.take(t); !slices.Equal(got, want) {
		t.Fatalf("delete: got %v want %v", got, want)
	}

	run(t, e, admin, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Invoice", "customer": "ACME", "docstatus": 1})
		return err
	})
	want = []string{"before_insert", "autoname", "before_validate", "validate", "before_submit", "after_insert", "on_update", "on_submit", "on_change"}
	if got := r.take(t); !slices.Equal(got, want) {
		t.Fatalf("insert submitted: got %v want %v", got, want)
	}
}

func TestFailingHookRollsBackEverything(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, itemJSON, invoiceJSON)
	ran := false
	e.On("Invoice", doc.OnUpdate, func(c *doc.Context, d doc.Doc) error {
		c.AfterCommit(func() { ran = true })
		if d.String("customer") == "fail" {
			return doc.Errorf(doc.ValidationError, "customer may not be fail")
		}
		return nil
	})
	err := e.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Invoice", "customer": "fail", "items": []any{map[string]any{"item": "x"}}})
		return err
	})
	if e, ok := doc.AsError(err); !ok || e.Message != "customer may not be fail" {
		t.Fatalf("want the hook's error, got %v", err)
	}
	if ran {
		t.Fatal("after-commit callback ran after a rollback")
	}
	if n := count(t, e, "Invoice"); n != 0 {
		t.Fatalf("%d invoices written after a failed hook", n)
	}
	var children int
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		return c.Tx.QueryRow(c, `SELECT count(*) FROM "tabInvoice Item"`).Scan(&children)
	})
	if children != 0 {
		t.Fatalf("%d child rows written after a failed hook", children)
	}
	// A panicking hook is an error too, and still rolls back.
	e.On("Invoice", doc.Validate, func(c *doc.Context, d doc.Doc) error {
		if d.String("customer") == "panic" {
			panic("boom")
		}
		return nil
	})
	err = e.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Invoice", "customer": "panic"})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("want the panic as an error, got %v", err)
	}
	// A good insert commits and runs the queue.
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Invoice", "customer": "ok"})
		return err
	})
	if !ran || count(t, e, "Invoice") != 1 {
		t.Fatal("a successful insert did not commit or did not run the after-commit queue")
	}
}

func count(t testing.TB, e *doc.Engine, doctype string) int64 {
	t.Helper()
	var n int64
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		var err error
		n, err = c.Count(doctype, nil)
		return err
	})
	return n
}

func TestNamingRules(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, itemJSON, invoiceJSON,
		`{"name": "Counter", "autoname": "autoincrement", "fields": [{"fieldname": "x", "fieldtype": "Int"}]}`,
		`{"name": "Customer", "autoname": "field:customer_name", "fields": [{"fieldname": "customer_name", "fieldtype": "Data"}]}`,
		`{"name": "Note", "fields": [{"fieldname": "body", "fieldtype": "Text"}]}`,
		`{"name": "Tag", "autoname": "prompt", "fields": [{"fieldname": "color", "fieldtype": "Data"}]}`,
		`{"name": "Series Doc", "autoname": "naming_series:", "fields": [{"fieldname": "naming_series", "fieldtype": "Data"}]}`)
	insert := func(d doc.Doc) (string, error) {
		var name string
		err := e.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
			out, err := c.Insert(d)
			if err == nil {
				name = out.Name()
			}
			return err
		})
		return name, err
	}
	expect := func(d doc.Doc, want string) {
		t.Helper()
		got, err := insert(d)
		if err != nil || got != want {
			t.Fatalf("insert %v: got %q, %v; want %q", d, got, err, want)
		}
	}
	expect(doc.Doc{"doctype": "Invoice", "customer": "a"}, "INV-0001")
	expect(doc.Doc{"doctype": "Invoice", "customer": "b"}, "INV-0002")
	expect(doc.Doc{"doctype": "Counter"}, "1")
	expect(doc.Doc{"doctype": "Counter"}, "2")
	expect(doc.Doc{"doctype": "Customer", "customer_name": "  ACME Ltd "}, "ACME Ltd")
	expect(doc.Doc{"doctype": "Tag", "name": "urgent"}, "urgent")
	expect(doc.Doc{"doctype": "Series Doc", "naming_series": "SD-.YYYY.-.###"}, "SD-"+doc.Now()[:4]+"-001")
	if name, err := insert(doc.Doc{"doctype": "Note", "body": "x"}); err != nil || len(name) != 10 {
		t.Fatalf("hash name: %q %v", name, err)
	}
	if _, err := insert(doc.Doc{"doctype": "Tag"}); !isType(err, doc.MandatoryError) {
		t.Fatalf("prompt without a name: %v", err)
	}
	if _, err := insert(doc.Doc{"doctype": "Customer", "customer_name": "ACME Ltd"}); !isType(err, doc.DuplicateEntryError) {
		t.Fatalf("duplicate name: %v", err)
	}
	// An autoname hook that sets the name wins over the rule.
	e.On("Note", doc.Autoname, func(c *doc.Context, d doc.Doc) error { d["name"] = "note-" + d.String("body"); return nil })
	expect(doc.Doc{"doctype": "Note", "body": "x"}, "note-x")
}

func isType(err error, typ string) bool {
	e, ok := doc.AsError(err)
	return ok && e.Type == typ
}

func TestDocstatusRulesAndAllowOnSubmit(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, itemJSON, invoiceJSON)
	ctx := context.Background()
	var d doc.Doc
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		var err error
		d, err = c.Insert(doc.Doc{"doctype": "Invoice", "customer": "x", "items": []any{map[string]any{"item": "a", "note": "n"}}})
		return err
	})
	name := d.Name()
	try := func(values map[string]any) error {
		return e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error { _, err := c.Update("Invoice", name, values); return err })
	}
	if err := try(map[string]any{"docstatus": 2}); !isType(err, doc.DocstatusTransition) {
		t.Fatalf("0→2: %v", err)
	}
	if err := try(map[string]any{"docstatus": 1}); err != nil {
		t.Fatalf("0→1: %v", err)
	}
	if err := try(map[string]any{"customer": "y"}); !isType(err, doc.UpdateAfterSubmitError) {
		t.Fatalf("changing a field without allow_on_submit: %v", err)
	}
	if err := try(map[string]any{"items": []any{map[string]any{"item": "a", "note": "changed"}}}); err != nil {
		t.Fatalf("changing an allow_on_submit child field: %v", err)
	}
	if err := try(map[string]any{"items": []any{map[string]any{"item": "b"}}}); !isType(err, doc.UpdateAfterSubmitError) {
		t.Fatalf("changing a child field without allow_on_submit: %v", err)
	}
	if err := try(map[string]any{"docstatus": 0}); !isType(err, doc.DocstatusTransition) {
		t.Fatalf("1→0: %v", err)
	}
	if err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error { return c.Delete("Invoice", name) }); err == nil {
		t.Fatal("deleting a submitted document succeeded")
	}
	if err := try(map[string]any{"docstatus": 2}); err != nil {
		t.Fatalf("1→2: %v", err)
	}
	if err := try(map[string]any{"docstatus": 1}); !isType(err, doc.DocstatusTransition) {
		t.Fatalf("2→1: %v", err)
	}
}

func TestConcurrentSavesExactlyOneWins(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, itemJSON, invoiceJSON)
	var d doc.Doc
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		var err error
		d, err = c.Insert(doc.Doc{"doctype": "Invoice", "customer": "x"})
		return err
	})
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- e.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
				_, err := c.Update("Invoice", d.Name(), map[string]any{"modified": d["modified"], "amount": float64(i)})
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	wins, mismatches := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			wins++
		case isType(err, doc.TimestampMismatchError):
			mismatches++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 || mismatches != n-1 {
		t.Fatalf("wins %d, mismatches %d", wins, mismatches)
	}
}

func TestValidationRefusesBadInput(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, itemJSON, invoiceJSON,
		`{"name": "Payment", "fields": [{"fieldname": "invoice", "fieldtype": "Link", "options": "Invoice", "reqd": 1},
			{"fieldname": "paid_on", "fieldtype": "Date"}, {"fieldname": "meta", "fieldtype": "JSON"}, {"fieldname": "ok", "fieldtype": "Check"}]}`)
	cases := []struct {
		d   doc.Doc
		typ string
	}{
		{doc.Doc{"doctype": "Invoice"}, doc.MandatoryError},
		{doc.Doc{"doctype": "Invoice", "customer": "x", "status": "Bogus"}, doc.ValidationError},
		{doc.Doc{"doctype": "Invoice", "customer": "x", "amount": "ten"}, doc.ValidationError},
		{doc.Doc{"doctype": "Invoice", "customer": 5}, doc.ValidationError},
		{doc.Doc{"doctype": "Invoice", "customer": "x", "nope": 1, "status": "Bogus"}, doc.ValidationError}, // unknown keys are ignored, the rest still checked
		{doc.Doc{"doctype": "Invoice", "customer": "x", "items": "rows"}, doc.ValidationError},
		{doc.Doc{"doctype": "Invoice", "customer": "x", "items": []any{map[string]any{"qty": 1}}}, doc.MandatoryError},
		{doc.Doc{"doctype": "Invoice", "customer": "x", "items": []any{map[string]any{"item": "a", "qty": 1.5}}}, doc.ValidationError},
		{doc.Doc{"doctype": "Payment", "invoice": "INV-9999"}, doc.LinkValidationError},
		{doc.Doc{"doctype": "Payment", "invoice": "INV-9999", "paid_on": "yesterday"}, doc.ValidationError},
		{doc.Doc{"doctype": "Payment", "invoice": "x", "ok": 2}, doc.ValidationError},
		{doc.Doc{"doctype": "Nope"}, doc.DoesNotExistError},
		{doc.Doc{"doctype": "Invoice Item", "item": "x"}, doc.PermissionError},
	}
	for _, tc := range cases {
		err := e.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error { _, err := c.Insert(tc.d); return err })
		if !isType(err, tc.typ) {
			t.Errorf("insert %v: want %s, got %v", tc.d, tc.typ, err)
		}
	}
	if n := count(t, e, "Invoice"); n != 0 {
		t.Fatalf("%d invoices written by bad input", n)
	}
}

func TestPermissions(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, itemJSON, invoiceJSON)
	acct := &doc.User{Name: "acct@x.com", Roles: []string{"Accounts User", "All"}}
	ann := &doc.User{Name: "ann@x.com", Roles: []string{"Sales User", "All"}}
	bob := &doc.User{Name: "bob@x.com", Roles: []string{"Sales User", "All"}}
	nobody := &doc.User{Name: "nobody@x.com", Roles: []string{"All"}}
	ctx := context.Background()
	insertAs := func(u *doc.User) (string, error) {
		var name string
		err := e.Run(ctx, u, true, func(c *doc.Context) error {
			d, err := c.Insert(doc.Doc{"doctype": "Invoice", "customer": u.Name})
			if d != nil {
				name = d.Name()
			}
			return err
		})
		return name, err
	}
	annDoc, err := insertAs(ann)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := insertAs(bob); err != nil {
		t.Fatal(err)
	}
	if _, err := insertAs(acct); err != nil {
		t.Fatal(err)
	}
	if _, err := insertAs(nobody); !isType(err, doc.PermissionError) {
		t.Fatalf("create without permission: %v", err)
	}
	list := func(u *doc.User) ([]doc.Doc, error) {
		var out []doc.Doc
		err := e.Run(ctx, u, false, func(c *doc.Context) error {
			var err error
			out, err = c.List("Invoice", doc.Query{Fields: []string{"name", "owner"}})
			return err
		})
		return out, err
	}
	for u, want := range map[*doc.User]int{acct: 3, ann: 1, bob: 1} {
		got, err := list(u)
		if err != nil || len(got) != want {
			t.Fatalf("%s lists %d (%v), want %d", u.Name, len(got), err, want)
		}
		for _, d := range got {
			if u != acct && d.String("owner") != u.Name {
				t.Fatalf("%s sees %s's invoice", u.Name, d.String("owner"))
			}
		}
	}
	if _, err := list(nobody); !isType(err, doc.PermissionError) {
		t.Fatalf("list without permission: %v", err)
	}
	if _, err := list(doc.GuestUser); !isType(err, doc.PermissionError) {
		t.Fatalf("guest list: %v", err)
	}
	// if_owner: Bob can neither read nor write Ann's invoice; Ann can; Ann cannot submit.
	err = e.Run(ctx, bob, false, func(c *doc.Context) error { _, err := c.Get("Invoice", annDoc); return err })
	if !isType(err, doc.PermissionError) {
		t.Fatalf("bob reads ann's invoice: %v", err)
	}
	err = e.Run(ctx, bob, true, func(c *doc.Context) error {
		_, err := c.Update("Invoice", annDoc, map[string]any{"amount": 1})
		return err
	})
	if !isType(err, doc.PermissionError) {
		t.Fatalf("bob writes ann's invoice: %v", err)
	}
	err = e.Run(ctx, ann, true, func(c *doc.Context) error {
		_, err := c.Update("Invoice", annDoc, map[string]any{"amount": 1})
		return err
	})
	if err != nil {
		t.Fatalf("ann writes her invoice: %v", err)
	}
	err = e.Run(ctx, ann, true, func(c *doc.Context) error {
		_, err := c.Update("Invoice", annDoc, map[string]any{"docstatus": 1})
		return err
	})
	if !isType(err, doc.PermissionError) {
		t.Fatalf("ann submits without submit permission: %v", err)
	}
	// Guest gets exactly what a Guest rule grants.
	syncTypes(t, e, `{"name": "Notice", "fields": [{"fieldname": "title", "fieldtype": "Data"}], "permissions": [{"role": "Guest", "read": 1}]}`)
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Notice", "title": "hi"})
		return err
	})
	err = e.Run(ctx, doc.GuestUser, false, func(c *doc.Context) error {
		got, err := c.List("Notice", doc.Query{Fields: []string{"title"}})
		if err == nil && len(got) != 1 {
			err = errors.New("guest does not see the public notice")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Run(ctx, doc.GuestUser, true, func(c *doc.Context) error { _, err := c.Insert(doc.Doc{"doctype": "Notice", "title": "x"}); return err })
	if !isType(err, doc.PermissionError) {
		t.Fatalf("guest creates a notice: %v", err)
	}
}

func TestReadTransactionCannotWrite(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, itemJSON, invoiceJSON)
	ran := false
	err := e.Run(context.Background(), doc.AdminUser, false, func(c *doc.Context) error {
		c.AfterCommit(func() { ran = true })
		_, err := c.Insert(doc.Doc{"doctype": "Invoice", "customer": "x"})
		return err
	})
	if err == nil || ran || count(t, e, "Invoice") != 0 {
		t.Fatalf("a read transaction wrote: err %v, ran %v", err, ran)
	}
}

func TestRenameUpdatesLinks(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, itemJSON, invoiceJSON,
		`{"name": "Payment", "fields": [{"fieldname": "invoice", "fieldtype": "Link", "options": "Invoice"}]}`)
	var pay string
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		if _, err := c.Insert(doc.Doc{"doctype": "Invoice", "customer": "x", "items": []any{map[string]any{"item": "a"}}}); err != nil {
			return err
		}
		p, err := c.Insert(doc.Doc{"doctype": "Payment", "invoice": "INV-0001"})
		pay = p.Name()
		return err
	})
	run(t, e, doc.AdminUser, func(c *doc.Context) error { _, err := c.Rename("Invoice", "INV-0001", "INV-X"); return err })
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		inv, err := c.Get("Invoice", "INV-X")
		if err != nil {
			return err
		}
		if rows := inv.Children("items"); len(rows) != 1 || rows[0].String("parent") != "INV-X" {
			t.Errorf("child rows not moved: %v", rows)
		}
		p, err := c.Get("Payment", pay)
		if err == nil && p.String("invoice") != "INV-X" {
			t.Errorf("link not updated: %v", p)
		}
		return err
	})
	err := e.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error { return c.Delete("Invoice", "INV-X") })
	if !isType(err, doc.LinkExistsError) {
		t.Fatalf("deleting a linked invoice: %v", err)
	}
}

// like and not like ignore case on every store, as Frappe's MariaDB does.
func TestLikeIgnoresCase(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, `{"name": "Customer", "autoname": "field:customer_name", "fields": [{"fieldname": "customer_name", "fieldtype": "Data"}]}`)
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		for _, n := range []string{"ACME Ltd", "Globex"} {
			if _, err := c.Insert(doc.Doc{"doctype": "Customer", "customer_name": n}); err != nil {
				return err
			}
		}
		got, err := c.List("Customer", doc.Query{Filters: []doc.Filter{{Field: "name", Op: "like", Value: "%acme%"}}})
		if err != nil || len(got) != 1 || got[0].Name() != "ACME Ltd" {
			t.Errorf("like: %v %v", got, err)
		}
		got, err = c.List("Customer", doc.Query{Filters: []doc.Filter{{Field: "name", Op: "not like", Value: "acme%"}}})
		if err != nil || len(got) != 1 || got[0].Name() != "Globex" {
			t.Errorf("not like: %v %v", got, err)
		}
		return nil
	})
}

package doc_test

import (
	"context"
	"strings"
	"testing"

	"github.com/livedoc/livedoc/doc"
)

func TestMigrationKeepsDataAndRefusesLossyChanges(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, `{"name": "Ticket", "fields": [{"fieldname": "title", "fieldtype": "Data"}, {"fieldname": "points", "fieldtype": "Data"}]}`)
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		for _, p := range []string{"3", "5"} {
			if _, err := c.Insert(doc.Doc{"doctype": "Ticket", "name": "T" + p, "title": "t" + p, "points": p}); err != nil {
				return err
			}
		}
		return nil
	})
	// Add a field, change Data → Int (values convert), drop a field: everything kept.
	syncTypes(t, e, `{"name": "Ticket", "fields": [{"fieldname": "points", "fieldtype": "Int"}, {"fieldname": "owner_team", "fieldtype": "Data", "default": "core"}]}`)
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		d, err := c.Get("Ticket", "T5")
		if err != nil {
			return err
		}
		if d["points"] != int64(5) {
			t.Errorf("points after Data→Int: %#v", d["points"])
		}
		if _, has := d["title"]; has {
			t.Errorf("removed field still in the document: %v", d)
		}
		// Sorting is numeric now.
		got, err := c.List("Ticket", doc.Query{Fields: []string{"name", "points"}, OrderBy: "points desc"})
		if err != nil || len(got) != 2 || got[0].Name() != "T5" {
			t.Errorf("list by points: %v %v", got, err)
		}
		return nil
	})
	// The removed field's data is still in the table: putting the field back brings it back.
	syncTypes(t, e, `{"name": "Ticket", "fields": [{"fieldname": "points", "fieldtype": "Int"}, {"fieldname": "title", "fieldtype": "Data"}]}`)
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		d, err := c.Get("Ticket", "T3")
		if err == nil && d.String("title") != "t3" {
			t.Errorf("title not kept across removal: %v", d)
		}
		_, err = c.Insert(doc.Doc{"doctype": "Ticket", "name": "TX", "title": "not a number", "points": 1})
		return err
	})
	// title → Int would lose "not a number": refused, nothing changed.
	err := e.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		dt, _ := doc.ParseDocType([]byte(`{"name": "Ticket", "fields": [{"fieldname": "points", "fieldtype": "Int"}, {"fieldname": "title", "fieldtype": "Int"}]}`))
		return c.Sudo().Sync(dt)
	})
	if err == nil || !strings.Contains(err.Error(), "does not convert") {
		t.Fatalf("lossy type change: %v", err)
	}
	if dt, _ := e.Meta("Ticket"); dt.Field("title").Fieldtype != doc.Data {
		t.Fatal("a refused migration changed the installed DocType")
	}
	// Making a field unique with duplicate values is refused; with distinct values it holds.
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Ticket", "name": "TY", "title": "t3"})
		return err
	})
	err = e.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		dt, _ := doc.ParseDocType([]byte(`{"name": "Ticket", "fields": [{"fieldname": "points", "fieldtype": "Int"}, {"fieldname": "title", "fieldtype": "Data", "unique": 1}]}`))
		return c.Sudo().Sync(dt)
	})
	if err == nil || !strings.Contains(err.Error(), "unique") {
		t.Fatalf("unique over duplicates: %v", err)
	}
	if n := count(t, e, "Ticket"); n != 4 {
		t.Fatalf("tickets after migrations: %d", n)
	}
}

func TestDocTypeAsDocument(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	// Created at runtime as a document of DocType, with its child table in the same transaction.
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		if _, err := c.Insert(doc.Doc{"doctype": "DocType", "name": "Line", "istable": 1,
			"fields": []any{map[string]any{"fieldname": "sku", "fieldtype": "Data"}}}); err != nil {
			return err
		}
		_, err := c.Insert(doc.Doc{"doctype": "DocType", "name": "Order", "autoname": "hash",
			"fields": []any{map[string]any{"fieldname": "lines", "fieldtype": "Table", "options": "Line"},
				map[string]any{"fieldname": "total", "fieldtype": "Float"}},
			"permissions": []any{map[string]any{"role": "Clerk", "read": 1, "write": 1, "create": 1}}})
		return err
	})
	run(t, e, &doc.User{Name: "c@x", Roles: []string{"Clerk"}}, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Order", "total": 2.5, "lines": []any{map[string]any{"sku": "A"}}})
		return err
	})
	// A non-admin cannot define DocTypes; core DocTypes cannot be changed through the API.
	err := e.Run(ctx, &doc.User{Name: "c@x", Roles: []string{"Clerk"}}, true, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "DocType", "name": "Evil", "fields": []any{}})
		return err
	})
	if !isType(err, doc.PermissionError) {
		t.Fatalf("clerk defines a DocType: %v", err)
	}
	err = e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Update("DocType", "User", map[string]any{"issingle": 1})
		return err
	})
	if !isType(err, doc.PermissionError) {
		t.Fatalf("changing a core DocType: %v", err)
	}
	// Hostile names are refused before any SQL is built.
	for _, bad := range []string{`x"; DROP TABLE "tabUser`, "", "1abc", strings.Repeat("a", 80)} {
		err = e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
			_, err := c.Insert(doc.Doc{"doctype": "DocType", "name": bad, "fields": []any{}})
			return err
		})
		if err == nil {
			t.Fatalf("DocType named %q accepted", bad)
		}
	}
	err = e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "DocType", "name": "Bad", "fields": []any{map[string]any{"fieldname": `a" TEXT); --`, "fieldtype": "Data"}}})
		return err
	})
	if err == nil {
		t.Fatal("hostile fieldname accepted")
	}
	// A DocType with documents cannot be deleted; an empty one can, and its table goes.
	err = e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error { return c.Delete("DocType", "Order") })
	if !isType(err, doc.LinkExistsError) {
		t.Fatalf("deleting a DocType with documents: %v", err)
	}
	// Reopening the engine on the same database loads runtime-created DocTypes.
	e2, err := doc.NewEngine(ctx, e.DB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e2.Meta("Order"); err != nil {
		t.Fatalf("runtime DocType not loaded on restart: %v", err)
	}
}

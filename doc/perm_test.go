package doc_test

import (
	"context"
	"testing"

	"github.com/livedoc/livedoc/doc"
)

// A role that may read only its own documents (if_owner) keeps to them when it also has a rule
// for a higher permlevel: that rule is about fields, not documents. (Found by the randomized live
// list test: the level-1 rule, which has no if_owner, granted every document.)
func TestHigherPermlevelGrantsNoDocuments(t *testing.T) {
	e := newEngine(t)
	syncTypes(t, e, `{"name": "Note", "autoname": "field:title", "fields": [
		{"fieldname": "title", "fieldtype": "Data"}, {"fieldname": "secret", "fieldtype": "Data", "permlevel": 1}],
		"permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1},
		{"role": "Writer", "read": 1, "write": 1, "create": 1, "if_owner": 1},
		{"role": "Writer", "permlevel": 1, "read": 1, "write": 1}]}`)
	writer := &doc.User{Name: "w@example.com", Roles: []string{"Writer"}, UserType: doc.SystemUser}
	run(t, e, doc.AdminUser, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Note", "title": "theirs", "secret": "s"})
		return err
	})
	run(t, e, writer, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Note", "title": "mine", "secret": "m"})
		return err
	})
	err := e.Run(context.Background(), writer, false, func(c *doc.Context) error {
		rows, err := c.List("Note", doc.Query{Fields: []string{"name", "secret"}})
		if err != nil {
			return err
		}
		if len(rows) != 1 || rows[0].Name() != "mine" || rows[0]["secret"] != "m" {
			t.Errorf("the if_owner role lists %v, want only its own document, with its level-1 field", rows)
		}
		if _, err := c.Get("Note", "theirs"); !isType(err, doc.PermissionError) {
			t.Errorf("reading another's document: %v, want PermissionError", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

package doc_test

import (
	"context"
	"strings"
	"testing"

	"github.com/livedoc/livedoc/doc"
)

// A Password field has no column: a DocType cannot sort by it, take its title or its name from it
// (the name would be the password in clear), and a list cannot sort, filter or select by it.
func TestPasswordFieldsHaveNoColumn(t *testing.T) {
	for _, extra := range []string{`"sort_field": "secret"`, `"title_field": "secret"`, `"autoname": "field:secret"`} {
		_, err := doc.ParseDocType([]byte(`{"name": "Vault", "fields": [{"fieldname": "label", "fieldtype": "Data"},
			{"fieldname": "secret", "fieldtype": "Password"}], ` + extra + `}`))
		if err == nil || !strings.Contains(err.Error(), "secret") {
			t.Errorf("DocType with %s: %v, want refused", extra, err)
		}
	}

	e := newEngine(t)
	syncTypes(t, e, `{"name": "Vault", "fields": [{"fieldname": "label", "fieldtype": "Data"},
		{"fieldname": "secret", "fieldtype": "Password"}], "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1}]}`)
	err := e.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Vault", "label": "a", "secret": "hunter2"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []doc.Query{
		{OrderBy: "secret"}, {OrderBy: "label asc, secret desc"}, {OrderBy: "`tabVault`.`secret`"},
		{Filters: []doc.Filter{{Field: "secret", Op: "=", Value: "hunter2"}}},
		{OrFilters: []doc.Filter{{Field: "secret", Op: "like", Value: "h%"}}},
		{Fields: []string{"secret"}},
	} {
		err := e.Run(context.Background(), doc.AdminUser, false, func(c *doc.Context) error {
			_, err := c.List("Vault", q)
			return err
		})
		if !isType(err, doc.DataError) {
			t.Errorf("List %+v: %v, want DataError", q, err)
		}
	}
	err = e.Run(context.Background(), doc.AdminUser, false, func(c *doc.Context) error {
		_, err := c.Count("Vault", []doc.Filter{{Field: "secret", Op: "is", Value: "set"}})
		return err
	})
	if !isType(err, doc.DataError) {
		t.Errorf("Count by secret: %v, want DataError", err)
	}
}

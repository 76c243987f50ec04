package script_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/doc"
)

// Saves per second with a validate hook written in JavaScript (a Before Save Server Script) and
// with the same hook in Go; the ratio is what a script costs.
func BenchmarkSaveWithValidate(b *testing.B) {
	for _, kind := range []string{"go", "js"} {
		b.Run(kind, func(b *testing.B) {
			env := newEnv(b, livedoc.Config{})
			app := env.App
			ctx := context.Background()
			if kind == "go" {
				app.On("Customer", doc.Validate, func(c *doc.Context, d doc.Doc) error {
					if strings.HasPrefix(d.String("customer_name"), "Bad") {
						return doc.Errorf(doc.ValidationError, "No bad customers")
					}
					d["email"] = strings.ToLower(d.String("customer_name")) + "@example.com"
					return nil
				})
			} else {
				err := app.Engine.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
					_, err := c.Insert(doc.Doc{"doctype": "Server Script", "name": "V", "script_type": "DocType Event",
						"reference_doctype": "Customer", "doctype_event": "Before Save", "script": `
if (doc.customer_name.startsWith("Bad")) frappe.throw("No bad customers")
doc.email = doc.customer_name.toLowerCase() + "@example.com"`})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				err := app.Engine.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
					_, err := c.Insert(doc.Doc{"doctype": "Customer", "customer_name": fmt.Sprintf("C%d", i)})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "saves/s")
		})
	}
}

package doc_test

import (
	"context"
	"testing"

	"github.com/livedoc/livedoc/doc"
)

// benchEngine has the Invoice DocType with three hooks (validate, before_save, on_update), the
// shape of a typical app.
func benchEngine(b *testing.B) *doc.Engine {
	e := newEngine(b)
	syncTypes(b, e, itemJSON, invoiceJSON)
	e.On("Invoice", doc.Validate, func(c *doc.Context, d doc.Doc) error {
		total := 0.0
		for _, r := range d.Children("items") {
			total += float64(r.Int("qty"))
		}
		d["amount"] = total
		return nil
	})
	e.On("Invoice", doc.BeforeSave, func(c *doc.Context, d doc.Doc) error { d["remarks"] = "checked"; return nil })
	e.On("Invoice", doc.OnUpdate, func(c *doc.Context, d doc.Doc) error { c.AfterCommit(func() {}); return nil })
	return e
}

func BenchmarkInsertWithThreeHooks(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	for b.Loop() {
		err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
			_, err := c.Insert(doc.Doc{"doctype": "Invoice", "customer": "ACME", "items": []any{map[string]any{"item": "a", "qty": 2}}})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkSaveWithThreeHooks(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	var name string
	run(b, e, doc.AdminUser, func(c *doc.Context) error {
		d, err := c.Insert(doc.Doc{"doctype": "Invoice", "customer": "ACME", "items": []any{map[string]any{"item": "a", "qty": 2}}})
		name = d.Name()
		return err
	})
	i := 0
	for b.Loop() {
		i++
		err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
			_, err := c.Update("Invoice", name, map[string]any{"customer": "ACME", "amount": float64(i)})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// Package invoice is livedoc's sample app: the seed scenario of an invoice with a status, a
// whitelisted refresh_status method, and hooks that log the order they run in.
package invoice

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"math"
	"strings"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime"
)

//go:embed doctype public
var files embed.FS

// Files are the app's DocType JSON (doctype/) and client scripts (public/).
func Files() fs.FS { return files }

// Register adds the sample app to a: its DocTypes, hooks and methods.
func Register(ctx context.Context, a *livedoc.App, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	for _, ev := range []string{doc.BeforeInsert, doc.Autoname, doc.BeforeValidate, doc.Validate, doc.BeforeSave,
		doc.BeforeSubmit, doc.AfterInsert, doc.OnUpdate, doc.OnSubmit, doc.OnChange, doc.BeforeUpdateAfterSubmit,
		doc.OnUpdateAfterSubmit, doc.BeforeCancel, doc.OnCancel, doc.OnTrash, doc.AfterDelete} {
		a.On("Invoice", ev, func(c *doc.Context, d doc.Doc) error {
			log.Debug("invoice hook", "event", ev, "name", d.Name(), "user", c.User.Name)
			return nil
		})
	}
	a.On("Invoice", doc.Validate, computeTotals)
	// Publish, then refuse: shows that an after-commit event dies with the rollback.
	a.On("Invoice", doc.Validate, func(c *doc.Context, d doc.Doc) error {
		if err := a.PublishRealtime(c, "invoice_validated", map[string]any{"name": d.Name(), "total": d["total"]},
			realtime.Target{DocType: "Invoice", DocName: d.Name()}, true); err != nil {
			return err
		}
		for _, row := range d.Children("items") {
			if row.Int("qty") < 0 {
				return doc.Errorf(doc.ValidationError, "Row %d: quantity cannot be negative", row.Int("idx")+1)
			}
		}
		return nil
	})
	a.On("Invoice", doc.BeforeSubmit, func(c *doc.Context, d doc.Doc) error {
		if d.String("status") == "" || d.String("status") == "Draft" {
			d["status"] = "Unpaid"
		}
		return nil
	})
	a.On("Invoice", doc.BeforeCancel, func(c *doc.Context, d doc.Doc) error {
		d["status"] = "Cancelled"
		return nil
	})
	refresh := func(c *doc.Context, args api.Args) (any, error) { return RefreshStatus(c, a, args) }
	a.Whitelist("examples.status.refresh_status", refresh, api.MethodOptions{})
	// The seed's client code calls it by this name; it runs unchanged.
	a.Whitelist("your_app.utils.refresh_status", refresh, api.MethodOptions{})
	return a.LoadAppFS(ctx, files)
}

// computeTotals fills each row's amount and the invoice total, so clients never have to.
func computeTotals(c *doc.Context, d doc.Doc) error {
	total := 0.0
	for _, row := range d.Children("items") {
		amount := math.Round(float64(row.Int("qty"))*row.Float("rate")*100) / 100
		row["amount"] = amount
		total += amount
	}
	d["total"] = math.Round(total*100) / 100
	return nil
}

// RefreshStatus is the seed's refresh_status(doc_type, doc_name): it publishes the global event
// refresh_<doctype> with the document's name, so every page showing it reloads. The event goes out
// when the method's transaction commits (methods commit on POST).
func RefreshStatus(c *doc.Context, a *livedoc.App, args api.Args) (any, error) {
	doctype, name := args.String("doc_type"), args.String("doc_name")
	if _, err := c.Get(doctype, name); err != nil {
		return nil, err
	}
	event := "refresh_" + strings.ReplaceAll(strings.ToLower(doctype), " ", "_")
	message := map[string]any{"message": doctype + " status refreshed!", "doc_name": name}
	if err := a.PublishRealtime(c, event, message, realtime.Target{}, true); err != nil {
		return nil, err
	}
	return map[string]any{"event": event, "message": message["message"], "doc_name": name}, nil
}

package realtime

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/livedoc/livedoc/doc"
)

// BenchmarkLogAppend is a save's share of the event log: one write transaction logging the
// doc_update and list_update of one document.
func BenchmarkLogAppend(b *testing.B) {
	h, e, _ := newTestHub(b, Options{})
	ctx := context.Background()
	msg := json.RawMessage(`{"doctype":"Note","name":"n1","modified":"2026-11-29 19:00:00.000000"}`)
	for b.Loop() {
		err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
			return h.elog.append(c, []Event{{Room: "doc:Note/n1", Event: "doc_update", Message: msg},
				{Room: "doctype:Note", Event: "list_update", Message: msg}})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
)

// BenchmarkLiveListSaves is saves of a DocType that 20 distinct live queries follow (status =
// open, qty asc, limits 10 to 29, over 200 documents), each save moving one document's qty at
// random: in, out of and within the pages. memory: the queries as written, matched in memory.
// read: the same queries with a filter memory cannot decide (not like a non-ASCII pattern, which
// selects the same rows), so each change is decided by reading the query, as before live lists
// matched in memory. none: no live query, the saves alone. Each save waits until every query has
// taken it into account (no two saves share a read): the time is a save's, from its commit until
// its live lists are up to date; reads/save is the queries' SQL reads per save.
func BenchmarkLiveListSaves(b *testing.B) {
	for _, mode := range []string{"none", "memory", "read"} {
		b.Run(mode, func(b *testing.B) { benchLiveListSaves(b, mode) })
	}
}

func benchLiveListSaves(b *testing.B, mode string) {
	h, e, _ := newTestHub(b, Options{})
	ctx := context.Background()
	dt, _ := doc.ParseDocType([]byte(`{"name": "Bench Item", "autoname": "field:title", "fields": [
		{"fieldname": "title", "fieldtype": "Data"}, {"fieldname": "qty", "fieldtype": "Int"},
		{"fieldname": "status", "fieldtype": "Data"}],
		"permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1}]}`))
	rnd := rand.New(rand.NewPCG(1, 2))
	err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		if err := c.Sudo().Sync(dt); err != nil {
			return err
		}
		for i := range 200 {
			_, err := c.Insert(doc.Doc{"doctype": "Bench Item", "title": fmt.Sprintf("b%03d", i), "qty": rnd.IntN(1000),
				"status": []string{"open", "closed"}[i%2]})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var lists []*liveQuery
	if mode != "none" {
		h.mu.Lock()
		for i := range 20 {
			q := doc.Query{Fields: []string{"title", "qty", "name"}, Filters: []doc.Filter{{Field: "status", Op: "=", Value: "open"}},
				OrderBy: "qty asc", Limit: 10 + i}
			if mode == "read" {
				q.Filters = append([]doc.Filter{{Field: "title", Op: "not like", Value: "%é%"}}, q.Filters...)
			}
			text, _ := json.Marshal(q)
			lq := h.liveQueryLocked(doc.Administrator, "Bench Item", q, string(text))
			h.queueListLocked(lq, listEvent{})
			lists = append(lists, lq)
		}
		h.mu.Unlock()
	}
	idle := func() {
		last, err := h.elog.last(ctx)
		if err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			h.mu.Lock()
			done := h.delivered >= last
			h.mu.Unlock()
			for _, lq := range lists {
				lq.mu.Lock()
				done = done && !lq.running && len(lq.pending) == 0
				lq.mu.Unlock()
			}
			if done {
				return
			}
			if time.Now().After(deadline) {
				b.Fatal("the live lists did not catch up within a minute")
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	idle()
	_, reads0 := h.liveListCounts()
	i := 0
	for b.Loop() {
		i++
		err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
			_, err := c.Update("Bench Item", fmt.Sprintf("b%03d", rnd.IntN(200)), map[string]any{"qty": rnd.IntN(1000)})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		idle()
	}
	b.StopTimer()
	_, reads := h.liveListCounts()
	b.ReportMetric((reads-reads0)/float64(b.N), "reads/save")
}

// BenchmarkListUpdateMessage is the cost a save pays for live lists: encoding its list_update
// with the row as written and what changed (row), against Frappe's {doctype, name, user} alone
// (plain), for a document of 10 fields.
func BenchmarkListUpdateMessage(b *testing.B) {
	row := doc.Doc{"name": "INV-00042", "owner": "a@example.com", "creation": "2026-12-06 05:00:00.000000",
		"modified": "2026-12-06 06:00:00.000000", "modified_by": "a@example.com", "docstatus": int64(0), "idx": int64(0),
		"customer": "ACME Corporation", "status": "Unpaid", "amount": 1234.5}
	ch := doc.Change{Action: "save", DocType: "Invoice", Name: "INV-00042", Row: row,
		Before: doc.Doc{"status": "Draft", "modified": "2026-12-06 05:59:00.000000"}}
	b.Run("plain", func(b *testing.B) {
		plain := ch
		plain.Row, plain.Before = nil, nil
		for b.Loop() {
			_ = listUpdateMessage(plain, "a@example.com")
		}
	})
	b.Run("row", func(b *testing.B) {
		for b.Loop() {
			_ = listUpdateMessage(ch, "a@example.com")
		}
	})
}

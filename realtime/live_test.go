package realtime_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime/client"
	"github.com/livedoc/livedoc/store/storetest"
)

// Live documents (issue 15): doc_subscribe(doctype, name, {snapshot: true}) answers with the
// document and the log offset it is as of; every later doc_update has a higher offset and says
// what changed and from which version, so a client patches its copy without reading it. A
// subscriber with Frappe's two arguments sees Frappe's doc_update, unchanged.
func TestLiveDocument(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	n.insert(t, doc.Doc{"doctype": "Customer", "customer_name": "ACME"})
	tok := n.token(t, doc.Administrator)

	live := dial(t, n.url, tok, false)
	liveUpdates := collectRaw(live, "doc_update")
	connect(t, live)
	ack := subscribe(t, live, "doc_subscribe", "Customer", "ACME", map[string]any{"snapshot": true})
	if ack["ok"] != true {
		t.Fatalf("live subscribe: %v", ack)
	}
	snap := ack["doc"].(map[string]any)
	offset := int64(ack["offset"].(float64))
	if snap["name"] != "ACME" || snap["customer_name"] != "ACME" || offset <= 0 {
		t.Fatalf("snapshot %v at %d", snap, offset)
	}

	plain := dial(t, n.url, tok, false)
	plainUpdates := collectRaw(plain, "doc_update")
	connect(t, plain)
	if ack := subscribe(t, plain, "doc_subscribe", "Customer", "ACME"); ack["ok"] != true || ack["doc"] != nil {
		t.Fatalf("Frappe's doc_subscribe: %v", ack)
	}

	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Update("Customer", "ACME", map[string]any{"customer_name": "ACME Corp"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := liveUpdates.wait(t, 1)[0]
	var m struct {
		Name     string
		Modified string
		Prev     string         `json:"prev_modified"`
		Changed  map[string]any `json:"changed"`
	}
	_ = json.Unmarshal(got.args[0], &m)
	if m.Prev != snap["modified"] || m.Changed["customer_name"] != "ACME Corp" || m.Changed["modified"] != m.Modified {
		t.Errorf("live doc_update %s", got.args[0])
	}
	if got.offset <= offset {
		t.Errorf("doc_update at offset %d, not after the snapshot's %d", got.offset, offset)
	}
	var keys map[string]any
	_ = json.Unmarshal(plainUpdates.wait(t, 1)[0].args[0], &keys)
	if len(keys) != 3 || keys["doctype"] != "Customer" || keys["name"] != "ACME" || keys["modified"] != m.Modified {
		t.Errorf("Frappe's doc_update changed shape: %v", keys)
	}

	// Bad options and documents the user may not read are refused.
	if ack := subscribe(t, live, "doc_subscribe", "Customer", "ACME", "snapshot"); ack["error"] == nil {
		t.Errorf("bad options: %v", ack)
	}
	if ack := subscribe(t, live, "doc_subscribe", "Customer", "Nobody", map[string]any{"snapshot": true}); ack["error"] == nil {
		t.Errorf("a missing document: %v", ack)
	}
}

// levelNote is a DocType with a field of permlevel 1: a change to it comes without `changed`.
const levelNote = `{"name": "Level Note", "autoname": "field:title", "fields": [
	{"fieldname": "title", "fieldtype": "Data"}, {"fieldname": "body", "fieldtype": "Data"},
	{"fieldname": "secret_note", "fieldtype": "Data", "permlevel": 1}],
	"permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1},
	{"role": "System Manager", "permlevel": 1, "read": 1, "write": 1}]}`

// levelNoteNode is a node with Level Note defined and one of them, n1; it stops with the test.
func levelNoteNode(t *testing.T) *node {
	n := startNode(t, storetest.DSN(t), "")
	t.Cleanup(func() { n.app.Close() })
	t.Cleanup(n.kill)
	n.define(t, levelNote)
	n.insert(t, doc.Doc{"doctype": "Level Note", "title": "n1"})
	return n
}

// A change that touches a field of a higher permlevel comes without `changed` (not every reader may
// see it): the client reads the document instead.
func TestLiveDocumentHidesHigherPermlevels(t *testing.T) {
	n := levelNoteNode(t)
	c := dial(t, n.url, n.token(t, doc.Administrator), false)
	updates := collectRaw(c, "doc_update")
	connect(t, c)
	subscribe(t, c, "doc_subscribe", "Level Note", "n1", map[string]any{"snapshot": true})
	for _, change := range []map[string]any{{"secret_note": "s"}, {"body": "b"}} {
		err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
			_, err := c.Update("Level Note", "n1", change)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := updates.wait(t, 2)
	var first, second map[string]any
	_ = json.Unmarshal(got[0].args[0], &first)
	_ = json.Unmarshal(got[1].args[0], &second)
	if first["changed"] != nil {
		t.Errorf("a permlevel 1 change was sent: %v", first)
	}
	if ch, _ := second["changed"].(map[string]any); ch["body"] != "b" {
		t.Errorf("a level 0 change: %v", second)
	}
}

type rawEvent struct {
	args   []json.RawMessage
	offset int64
}

type rawCollector struct{ ch chan rawEvent }

// collectRaw keeps an event's arguments and its offset (the last argument).
func collectRaw(c *client.Client, event string) *rawCollector {
	col := &rawCollector{ch: make(chan rawEvent, 100)}
	c.On(event, func(args []json.RawMessage) {
		ev := rawEvent{args: args}
		if len(args) > 1 {
			var s string
			if json.Unmarshal(args[len(args)-1], &s) == nil {
				ev.offset, _ = strconv.ParseInt(s, 10, 64)
			}
		}
		col.ch <- ev
	})
	return col
}

func (col *rawCollector) wait(t *testing.T, n int) []rawEvent {
	t.Helper()
	var out []rawEvent
	deadline := time.After(3 * time.Second)
	for len(out) < n {
		select {
		case ev := <-col.ch:
			out = append(out, ev)
		case <-deadline:
			t.Fatalf("got %d events, want %d", len(out), n)
		}
	}
	return out
}

package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime"
	"github.com/livedoc/livedoc/realtime/client"
	"github.com/livedoc/livedoc/store/storetest"
)

// liveList is a client's copy of a live list: the snapshot list_subscribe answered, kept up to
// date by list_change as a client does.
type liveList struct {
	mu      sync.Mutex
	id      string
	rows    []map[string]any
	pending []change // changes that came before the ack was read
	ops     map[string]int
	after   int // changes applied since the snapshot

	// What is wrong with the changes received: one that does not apply to the copy, an offset
	// going back, a row the user may not have (allowed says why, "" when it may).
	bad     []string
	offset  int64
	allowed func(row map[string]any) string
}

// check fails the test with what was wrong with the changes received.
func (l *liveList) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bad) > 0 {
		t.Fatalf("live list changes: %s", strings.Join(l.bad, "; "))
	}
}

func (l *liveList) admit(row map[string]any) {
	if l.allowed != nil && row != nil {
		if why := l.allowed(row); why != "" {
			l.bad = append(l.bad, fmt.Sprintf("received %s: %v", why, row))
		}
	}
}

type change struct {
	ID     string
	Offset int64
	Op     string
	Name   string
	Row    map[string]any
	Index  *int
}

func watchList(c *client.Client) *liveList {
	l := &liveList{ops: map[string]int{}}
	c.On("list_change", func(args []json.RawMessage) {
		var ch change
		_ = json.Unmarshal(args[0], &ch)
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.id == "" {
			l.pending = append(l.pending, ch)
		} else if ch.ID == l.id {
			l.apply(ch)
		}
	})
	return l
}

func (l *liveList) subscribe(t *testing.T, c *client.Client, query map[string]any) map[string]any {
	t.Helper()
	ack := subscribe(t, c, "list_subscribe", query)
	if ack["ok"] != true {
		t.Fatalf("list_subscribe: %v", ack)
	}
	l.take(ack)
	return ack
}

// take applies list_subscribe's answer: a snapshot, or a resume (the rows go on as they were).
func (l *liveList) take(ack map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.id = ack["id"].(string)
	if ack["resumed"] != true {
		l.rows = nil
		for _, r := range ack["rows"].([]any) {
			l.rows = append(l.rows, r.(map[string]any))
			l.admit(r.(map[string]any))
		}
		off, _ := ack["offset"].(float64)
		l.offset = int64(off)
		l.after = 0
	}
	for _, ch := range l.pending {
		if ch.ID == l.id {
			l.apply(ch)
		}
	}
	l.pending = nil
}

func (l *liveList) apply(ch change) {
	l.ops[ch.Op]++
	l.after++
	if ch.Offset < l.offset {
		l.bad = append(l.bad, fmt.Sprintf("%s %s at offset %d after %d", ch.Op, ch.Name, ch.Offset, l.offset))
	}
	l.offset = ch.Offset
	l.admit(ch.Row)
	at := slices.IndexFunc(l.rows, func(r map[string]any) bool { return r["name"] == ch.Name })
	last := len(l.rows) // the last index an insert may take; a move, one less
	if ch.Op == "move" {
		last--
	}
	switch {
	case ch.Op == "insert" && at >= 0:
		l.bad = append(l.bad, fmt.Sprintf("insert of %s, which the list has", ch.Name))
		return
	case ch.Op != "insert" && at < 0:
		l.bad = append(l.bad, fmt.Sprintf("%s of %s, which the list does not have", ch.Op, ch.Name))
		return
	case ch.Op != "remove" && ch.Op != "update" && (ch.Index == nil || *ch.Index < 0 || *ch.Index > last):
		l.bad = append(l.bad, fmt.Sprintf("%s of %s at index %v of %d rows", ch.Op, ch.Name, ch.Index, len(l.rows)))
		return
	}
	switch ch.Op {
	case "remove":
		l.rows = slices.Delete(l.rows, at, at+1)
	case "insert":
		l.rows = slices.Insert(l.rows, *ch.Index, ch.Row)
	case "update":
		l.rows[at] = ch.Row
	case "move":
		row := l.rows[at]
		if ch.Row != nil {
			row = ch.Row
		}
		l.rows = slices.Delete(l.rows, at, at+1)
		l.rows = slices.Insert(l.rows, *ch.Index, row)
	}
}

func (l *liveList) snapshot() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.rows)
}

// list runs q as user, as list_subscribe does, and returns the rows as a client decodes them.
func (n *node) list(t *testing.T, user, doctype string, q doc.Query) []map[string]any {
	t.Helper()
	rows, err := n.listRows(t, user, doctype, q)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// waitEqual waits until the client's rows are what the query returns now.
func (l *liveList) waitEqual(t *testing.T, want func() []map[string]any) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		w := want()
		got := l.snapshot()
		if len(w) == 0 && len(got) == 0 || reflect.DeepEqual(got, w) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("live rows\n%v\nwant a fresh List's\n%v", got, w)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveItemsNode starts a node with Live Item: System Managers see every item, Item Takers their own.
func liveItemsNode(t *testing.T) *node {
	n := startNode(t, storetest.DSN(t), "")
	t.Cleanup(func() { n.app.Close() })
	t.Cleanup(n.kill)
	n.define(t, `{"name": "Live Item", "autoname": "field:title", "fields": [
		{"fieldname": "title", "fieldtype": "Data"}, {"fieldname": "qty", "fieldtype": "Int"},
		{"fieldname": "status", "fieldtype": "Data"}],
		"permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
		{"role": "Item Taker", "read": 1, "write": 1, "create": 1, "delete": 1, "if_owner": 1}]}`)
	return n
}

// Live lists (issue 15): list_subscribe answers the rows and their offset; list_change then keeps
// the client's copy equal to the query's answer as rows enter, move within, and leave a filtered,
// ordered, limited result, and are deleted.
func TestLiveList(t *testing.T) {
	n := liveItemsNode(t)
	for i, qty := range []int{5, 3, 8} {
		n.insert(t, doc.Doc{"doctype": "Live Item", "title": fmt.Sprintf("i%d", i), "qty": qty, "status": "open"})
	}
	n.insert(t, doc.Doc{"doctype": "Live Item", "title": "c0", "qty": 1, "status": "closed"})

	c := dial(t, n.url, n.token(t, doc.Administrator), false)
	l := watchList(c)
	connect(t, c)
	query := map[string]any{"doctype": "Live Item", "fields": []string{"title", "qty"},
		"filters": [][]any{{"status", "=", "open"}}, "order_by": "qty asc", "limit": 3}
	q := doc.Query{Fields: []string{"title", "qty", "name"}, Filters: []doc.Filter{{Field: "status", Op: "=", Value: "open"}},
		OrderBy: "qty asc", Limit: 3}
	fresh := func() []map[string]any { return n.list(t, doc.Administrator, "Live Item", q) }
	ack := l.subscribe(t, c, query)
	if off, _ := ack["offset"].(float64); off <= 0 {
		t.Errorf("snapshot offset %v", ack["offset"])
	}
	if got := l.snapshot(); len(got) != 3 || got[0]["title"] != "i1" || got[2]["title"] != "i2" || !reflect.DeepEqual(got, fresh()) {
		t.Fatalf("snapshot %v", got)
	}

	update := func(name string, change map[string]any) { n.update(t, "Live Item", name, change) }
	step := func(what string, fn func()) {
		t.Helper()
		t.Log(what)
		fn()
		l.waitEqual(t, fresh)
	}
	step("an insert that enters at the top", func() {
		n.insert(t, doc.Doc{"doctype": "Live Item", "title": "i3", "qty": 2, "status": "open"})
	})
	step("an insert past the limit", func() {
		n.insert(t, doc.Doc{"doctype": "Live Item", "title": "i4", "qty": 50, "status": "open"})
	})
	step("an update that moves a row", func() { update("i1", map[string]any{"qty": 4}) })
	step("an update in place", func() { update("i0", map[string]any{"qty": 5}) }) // no change: nothing
	step("a closed row that opens", func() { update("c0", map[string]any{"status": "open"}) })
	step("an open row that closes", func() { update("i3", map[string]any{"status": "closed"}) })
	step("a delete", func() {
		err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
			return c.Delete("Live Item", "c0")
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	step("an update that changes a row and moves it back", func() { update("i1", map[string]any{"qty": 4, "status": "open"}) })
	// A burst of changes, read together or one by one: the end is what a fresh List returns.
	for i := range 10 {
		update(fmt.Sprintf("i%d", i%5), map[string]any{"qty": (i * 7) % 11, "status": []string{"open", "closed"}[i%3/2]})
	}
	final := l.waitEqual(t, fresh)
	l.mu.Lock()
	ops := maps(l.ops)
	l.mu.Unlock()
	for _, op := range []string{"insert", "remove", "move"} {
		if ops[op] == 0 {
			t.Errorf("no %s among the changes %v", op, ops)
		}
	}
	if len(final) == 0 {
		t.Errorf("the list ended empty")
	}

	// After list_unsubscribe, no more changes come.
	if ack := subscribe(t, c, "list_unsubscribe", l.id); ack["ok"] != true {
		t.Fatalf("list_unsubscribe: %v", ack)
	}
	l.mu.Lock()
	before := l.after
	l.mu.Unlock()
	n.insert(t, doc.Doc{"doctype": "Live Item", "title": "i9", "qty": 0, "status": "open"})
	n.mark(t, doc.Administrator)
	time.Sleep(300 * time.Millisecond)
	l.mu.Lock()
	after := l.after
	l.mu.Unlock()
	if after != before {
		t.Errorf("%d changes after list_unsubscribe", after-before)
	}

	// Bad queries are refused in the ack.
	for _, bad := range []map[string]any{{"fields": []string{"name"}}, {"doctype": "Live Item", "fields": []string{"nope"}},
		{"doctype": "Live Item", "filters": [][]any{{"qty", "~", 1}}}, {"doctype": "Live Item", "limit": 0}} {
		if ack := subscribe(t, c, "list_subscribe", bad); ack["error"] == nil {
			t.Errorf("list_subscribe(%v): %v", bad, ack)
		}
	}
}

func maps(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// A user whose role reads only their own documents (if_owner) sees only those in a live list, and
// two users with the same query each get their own rows.
func TestLiveListIfOwner(t *testing.T) {
	n := liveItemsNode(t)
	n.addUser(t, "x@example.com", doc.SystemUser, "Item Taker")
	query := map[string]any{"doctype": "Live Item", "fields": []string{"title", "owner"}, "order_by": "title asc", "limit": 100}
	q := doc.Query{Fields: []string{"title", "owner", "name"}, OrderBy: "title asc", Limit: 100}

	x := dial(t, n.url, n.token(t, "x@example.com"), false)
	xl := watchList(x)
	connect(t, x)
	admin := dial(t, n.url, n.token(t, doc.Administrator), false)
	al := watchList(admin)
	connect(t, admin)
	xl.subscribe(t, x, query)
	al.subscribe(t, admin, query)

	n.insert(t, doc.Doc{"doctype": "Live Item", "title": "a-admin", "status": "open"})
	n.as(t, "x@example.com", func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Live Item", "title": "b-mine", "status": "open"})
		return err
	})
	n.insert(t, doc.Doc{"doctype": "Live Item", "title": "c-admin", "status": "open"})
	n.as(t, "x@example.com", func(c *doc.Context) error {
		_, err := c.Update("Live Item", "b-mine", map[string]any{"status": "done"})
		return err
	})
	got := xl.waitEqual(t, func() []map[string]any { return n.list(t, "x@example.com", "Live Item", q) })
	if len(got) != 1 || got[0]["name"] != "b-mine" || got[0]["owner"] != "x@example.com" {
		t.Errorf("the if_owner user's live list: %v", got)
	}
	if all := al.waitEqual(t, func() []map[string]any { return n.list(t, doc.Administrator, "Live Item", q) }); len(all) != 3 {
		t.Errorf("the Administrator's live list: %v", all)
	}
}

// Two sockets of one user with the same query share one live query: a socket that joins late gets
// the rows as they are then, both follow every change, and the query is forgotten when the last
// socket leaves (unsubscribed or disconnected).
func TestLiveListShared(t *testing.T) {
	n := liveItemsNode(t)
	tok := n.token(t, doc.Administrator)
	query := map[string]any{"doctype": "Live Item", "fields": []string{"qty"}, "order_by": "qty desc"}
	q := doc.Query{Fields: []string{"qty", "name"}, OrderBy: "qty desc", Limit: 20}
	fresh := func() []map[string]any { return n.list(t, doc.Administrator, "Live Item", q) }

	first := dial(t, n.url, tok, false)
	l1 := watchList(first)
	connect(t, first)
	l1.subscribe(t, first, query)
	n.insert(t, doc.Doc{"doctype": "Live Item", "title": "a", "qty": 1})
	l1.waitEqual(t, fresh)

	second := dial(t, n.url, tok, false)
	l2 := watchList(second)
	connect(t, second)
	l2.subscribe(t, second, query)
	if got := l2.snapshot(); len(got) != 1 || got[0]["name"] != "a" {
		t.Fatalf("a late subscriber's snapshot: %v", got)
	}
	if got := realtime.LiveQueries(n.app.Realtime); got != 1 {
		t.Errorf("%d live queries for one user's one query, want 1", got)
	}
	n.insert(t, doc.Doc{"doctype": "Live Item", "title": "b", "qty": 2})
	l1.waitEqual(t, fresh)
	l2.waitEqual(t, fresh)

	first.Close()
	n.insert(t, doc.Doc{"doctype": "Live Item", "title": "c", "qty": 3})
	if got := l2.waitEqual(t, fresh); len(got) != 3 || got[0]["name"] != "c" {
		t.Errorf("after the other socket left: %v", got)
	}
	if ack := subscribe(t, second, "list_unsubscribe", l2.id); ack["ok"] != true {
		t.Fatalf("list_unsubscribe: %v", ack)
	}
	deadline := time.Now().Add(3 * time.Second)
	for realtime.LiveQueries(n.app.Realtime) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d live queries left after every socket left", realtime.LiveQueries(n.app.Realtime))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Changes whose effect on a page is known from the rows held are applied in memory, with no read
// of the database (livedoc_realtime_live_list_updates_total says which way each went); rows leaving
// a full page are replaced from the rows held past it, and only when those run out is the query
// read, once. list_update still reaches doctype: subscribers
// as Frappe sends it, without the row it carries for live lists.
func TestLiveListInMemory(t *testing.T) {
	n := liveItemsNode(t)
	n.insert(t, doc.Doc{"doctype": "Live Item", "title": "i0", "qty": 5, "status": "open"})
	n.insert(t, doc.Doc{"doctype": "Live Item", "title": "i1", "qty": 3, "status": "open"})
	n.insert(t, doc.Doc{"doctype": "Live Item", "title": "c0", "qty": 1, "status": "closed"})

	tok := n.token(t, doc.Administrator)
	stream := openSSE(t, n.url, tok, "rooms=doctype:Live%20Item")
	c := dial(t, n.url, tok, false)
	l := watchList(c)
	updates := collect(c, "list_update")
	connect(t, c)
	if ack := subscribe(t, c, "doctype_subscribe", "Live Item"); ack["ok"] != true {
		t.Fatalf("doctype_subscribe: %v", ack)
	}
	q := doc.Query{Fields: []string{"title", "qty", "name"}, Filters: []doc.Filter{{Field: "status", Op: "=", Value: "open"}},
		OrderBy: "qty asc", Limit: 3}
	l.subscribe(t, c, map[string]any{"doctype": "Live Item", "fields": []string{"title", "qty"},
		"filters": [][]any{{"status", "=", "open"}}, "order_by": "qty asc", "limit": 3})
	fresh := func() []map[string]any { return n.list(t, doc.Administrator, "Live Item", q) }
	memory0, read0 := realtime.LiveListUpdates(n.app.Realtime)
	if read0 != 1 {
		t.Errorf("%v reads for the snapshot, want 1", read0)
	}
	update := func(name string, change map[string]any) { n.update(t, "Live Item", name, change) }
	steps := []struct {
		what string
		do   func()
	}{
		{"an insert into a page that is not full", func() {
			n.insert(t, doc.Doc{"doctype": "Live Item", "title": "i2", "qty": 8, "status": "open"})
		}},
		{"an insert after the last row of a full page", func() {
			n.insert(t, doc.Doc{"doctype": "Live Item", "title": "i3", "qty": 50, "status": "open"})
		}},
		{"an update in place", func() { update("i0", map[string]any{"qty": 4}) }},
		{"an update that moves a row to the top", func() { update("i0", map[string]any{"qty": 2}) }},
		{"an insert into a full page, which drops its last row", func() {
			n.insert(t, doc.Doc{"doctype": "Live Item", "title": "x", "qty": 1, "status": "open"})
		}},
		{"a change to a row that matches neither before nor after", func() { update("c0", map[string]any{"qty": 7}) }},
		{"a change to a row after the page that stays after it", func() { update("i3", map[string]any{"qty": 60}) }},
	}
	for i, s := range steps {
		t.Log(s.what)
		s.do()
		// The change is decided (a read or a match: one or the other must move) before the rows
		// are compared: a change that changes nothing leaves them equal all along.
		deadline := time.Now().Add(5 * time.Second)
		for {
			memory, read := realtime.LiveListUpdates(n.app.Realtime)
			if read != read0 || memory != memory0+float64(i) {
				if read != read0 || memory != memory0+float64(i+1) {
					t.Fatalf("after %s: %v reads and %v changes matched in memory, want 0 and %d", s.what,
						read-read0, memory-memory0, i+1)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not applied within 5 s", s.what)
			}
			time.Sleep(10 * time.Millisecond)
		}
		l.waitEqual(t, fresh)
	}
	// A query holds as many rows past its page as the page has (limit 3: 6 rows): a row leaving
	// the page is replaced by the next one held, in memory, until too few are held.
	decided := func(what string, memory, read float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			m, r := realtime.LiveListUpdates(n.app.Realtime)
			if m == memory && r == read {
				return
			}
			if m > memory || r > read || time.Now().After(deadline) {
				t.Fatalf("%s: %v changes matched in memory and %v reads, want %v and %v", what, m-memory0, r-read0,
					memory-memory0, read-read0)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	memory := memory0 + float64(len(steps))
	t.Log("a row that leaves a full page: the next row held takes its place")
	update("i0", map[string]any{"status": "closed"})
	memory++
	decided("a row leaving a full page", memory, read0)
	if got := l.waitEqual(t, fresh); len(got) != 3 || got[2]["name"] != "i2" {
		t.Errorf("after a row left: %v", got)
	}
	for i := range 6 {
		n.insert(t, doc.Doc{"doctype": "Live Item", "title": fmt.Sprintf("h%d", i), "qty": 100 + i, "status": "open"})
		memory++
	}
	decided("rows after the page", memory, read0)
	for i := range 4 {
		first := l.snapshot()[0]["name"].(string)
		update(first, map[string]any{"status": "closed"})
		if i < 3 {
			memory++
			decided(fmt.Sprintf("row %d leaving, %d held after the page", i+1, 2-i), memory, read0)
		} else {
			decided("a row leaving with no row held after the page: read", memory, read0+1)
		}
		l.waitEqual(t, fresh)
	}
	for _, m := range updates.waitFor(t, len(steps)+11, 5*time.Second) {
		if len(m) != 3 || m["doctype"] != "Live Item" || m["name"] == nil || m["user"] == nil {
			t.Fatalf("list_update on the wire: %v, want Frappe's {doctype, name, user}", m)
		}
	}
	// The same over Server-Sent Events.
	for range len(steps) + 1 {
		stream.until(t, "event: list_update")
		var data struct{ Message map[string]any }
		line := <-stream.lines
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &data); err != nil {
			t.Fatalf("SSE data %q: %v", line, err)
		}
		if m := data.Message; len(m) != 3 || m["doctype"] != "Live Item" || m["name"] == nil || m["user"] == nil {
			t.Fatalf("list_update over SSE: %v, want Frappe's {doctype, name, user}", m)
		}
	}
}

// When a user's roles change, their live lists are read again with the new rights: the rows they
// may no longer read leave, with no read right left every row leaves, and a role given back
// brings them back. (Before, only a change of the list's DocType made it read again.)
func TestLiveListRightsChange(t *testing.T) {
	n := liveItemsNode(t)
	n.addUser(t, "x@example.com", doc.SystemUser, "Item Taker", "System Manager")
	n.insert(t, doc.Doc{"doctype": "Live Item", "title": "theirs", "qty": 1})
	n.as(t, "x@example.com", func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Live Item", "title": "mine", "qty": 2})
		return err
	})
	c := dial(t, n.url, n.token(t, "x@example.com"), false)
	l := watchList(c)
	connect(t, c)
	l.subscribe(t, c, map[string]any{"doctype": "Live Item", "fields": []string{"title"}, "order_by": "qty asc"})
	if got := l.snapshot(); len(got) != 2 {
		t.Fatalf("snapshot with System Manager: %v", got)
	}
	names := func() []any {
		var out []any
		for _, r := range l.snapshot() {
			out = append(out, r["name"])
		}
		return out
	}
	waitNames := func(what string, want ...any) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !reflect.DeepEqual(names(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the live list holds %v, want %v", what, names(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	n.update(t, "User", "x@example.com", map[string]any{"roles": []any{map[string]any{"role": "Item Taker"}}})
	waitNames("System Manager taken away, own documents only", "mine")
	n.update(t, "User", "x@example.com", map[string]any{"roles": []any{}})
	waitNames("no role that reads Live Item")
	// Asking the same query now is refused, as a fresh one would be, not answered from memory.
	if ack := subscribe(t, c, "list_subscribe", map[string]any{"doctype": "Live Item", "fields": []string{"title"},
		"order_by": "qty asc"}); ack["error"] == nil {
		t.Errorf("list_subscribe without a role that reads Live Item: %v", ack)
	}
	n.update(t, "User", "x@example.com", map[string]any{"roles": []any{map[string]any{"role": "System Manager"}}})
	waitNames("System Manager given back", "theirs", "mine")
	l.check(t)
}

package realtime_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime"
	"github.com/livedoc/livedoc/realtime/client"
)

// waitParked waits until h keeps lists live lists for a resume, holding held changes.
func waitParked(t *testing.T, n *node, lists, held int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, h := realtime.ParkedLists(n.app.Realtime)
		if l == lists && h == held {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("parked lists %d holding %d changes, want %d holding %d", l, h, lists, held)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// resumeArg is list_subscribe's argument resuming l's list.
func resumeArg(l *liveList, query map[string]any) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	arg := map[string]any{"resume": l.id, "received": l.after}
	for k, v := range query {
		arg[k] = v
	}
	return arg
}

// resumeOn carries l over to c, a client not yet connected, with the pid of l's: it connects,
// takes the rows l has, and resumes l's list there; the answer is a resume or a fresh snapshot.
func (l *liveList) resumeOn(t *testing.T, c *client.Client, query map[string]any) (*liveList, map[string]any) {
	t.Helper()
	nl := watchList(c)
	connect(t, c)
	arg := resumeArg(l, query)
	l.mu.Lock()
	nl.rows, nl.after, nl.offset, nl.allowed, nl.bad = slices.Clone(l.rows), l.after, l.offset, l.allowed, slices.Clone(l.bad)
	l.mu.Unlock()
	ack := subscribe(t, c, "list_subscribe", arg)
	if ack["ok"] != true {
		t.Fatalf("list_subscribe resuming: %v", ack)
	}
	nl.take(ack)
	return nl, ack
}

// Issue 15, "Recovery replays list changes in order": changes made while a client is away reach it
// after a recovered reconnection as the list_change it missed, in order, with no read; the rows
// then equal a fresh List, and later changes follow. A resume that cannot be honoured (another
// session's id, a client that missed a change sent to its old socket, too many changes held) gets
// a fresh snapshot instead.
func TestLiveListResume(t *testing.T) {
	n := liveItemsNode(t)
	for i := range 5 {
		n.insert(t, doc.Doc{"doctype": "Live Item", "title": fmt.Sprintf("i%d", i), "qty": 10 + i, "status": "open"})
	}
	query := map[string]any{"doctype": "Live Item", "fields": []string{"title", "qty"},
		"filters": [][]any{{"status", "=", "open"}}, "order_by": "qty asc", "limit": 3}
	q := doc.Query{Fields: []string{"title", "qty", "name"}, Filters: []doc.Filter{{Field: "status", Op: "=", Value: "open"}},
		OrderBy: "qty asc", Limit: 3}
	fresh := func() []map[string]any { return n.list(t, doc.Administrator, "Live Item", q) }
	update := func(name string, change map[string]any) { n.update(t, "Live Item", name, change) }

	g := newGate()
	c, err := client.New(client.Options{URL: n.url, Namespace: "/livedoc", Reconnect: true, HTTPClient: g.http,
		Auth: map[string]any{"token": n.token(t, doc.Administrator)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	connects := make(chan bool, 10)
	c.OnConnect(func(r bool) { connects <- r })
	l := watchList(c)
	connect(t, c)
	<-connects
	first := l.subscribe(t, c, query)
	update("i0", map[string]any{"qty": 9}) // one change sent before the cut
	l.waitEqual(t, fresh)
	_, reads := realtime.LiveListUpdates(n.app.Realtime)

	// Away: the list is parked with the session and holds what changes meanwhile.
	g.shut.Store(true)
	c.CloseTransport()
	waitParked(t, n, 1, 0)
	update("i1", map[string]any{"qty": 1})                                                  // moves to the top
	n.insert(t, doc.Doc{"doctype": "Live Item", "title": "i5", "qty": 0, "status": "open"}) // enters; i0 leaves the page
	update("i5", map[string]any{"status": "closed"})                                        // leaves; i0 comes back
	update("i1", map[string]any{"qty": 2})                                                  // changes in place
	waitParked(t, n, 1, 6)
	g.shut.Store(false)
	if !next(t, connects, "a reconnection") {
		t.Fatal("the session was not recovered")
	}
	before := l.after
	ack := subscribe(t, c, "list_subscribe", resumeArg(l, query))
	if ack["ok"] != true || ack["resumed"] != true || ack["id"] != first["id"] || ack["rows"] != nil {
		t.Fatalf("resume answered %v, want {ok, id %v, resumed}", ack, first["id"])
	}
	l.waitEqual(t, fresh)
	deadline := time.Now().Add(5 * time.Second)
	for l.after-before < 6 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	l.check(t)
	if got := l.after - before; got != 6 {
		t.Fatalf("%d list_change after the resume, want the 6 held", got)
	}
	if _, r := realtime.LiveListUpdates(n.app.Realtime); r != reads {
		t.Fatalf("%v reads for the changes held, want none", r-reads)
	}
	waitParked(t, n, 0, 0)
	update("i2", map[string]any{"qty": 0}) // and it goes on live
	l.waitEqual(t, fresh)
	l.check(t)

	// A malformed resume is refused, and changes nothing.
	for _, bad := range []map[string]any{{"resume": 5}, {"resume": ""}, {"resume": "x", "received": -1}, {"resume": "x", "received": 1.5}} {
		arg := map[string]any{}
		for k, v := range query {
			arg[k] = v
		}
		for k, v := range bad {
			arg[k] = v
		}
		if ack := subscribe(t, c, "list_subscribe", arg); ack["error"] == nil || !strings.Contains(ack["error"].(string), "resume") {
			t.Fatalf("list_subscribe with %v answered %v, want an error about resume", bad, ack)
		}
	}

	// A resume the session does not hold, or that missed a change, gets a fresh snapshot.
	n.addUser(t, "x@example.com", doc.SystemUser, "Item Taker")
	x := dial(t, n.url, n.token(t, "x@example.com"), false)
	connect(t, x)
	g.shut.Store(true)
	c.CloseTransport()
	waitParked(t, n, 1, 0)
	got := subscribe(t, x, "list_subscribe", resumeArg(l, query))
	if got["ok"] != true || got["resumed"] != nil || got["id"] == first["id"] || !reflect.DeepEqual(got["rows"], []any{}) {
		t.Fatalf("another user's resume answered %v, want a fresh snapshot of its own (empty) list", got)
	}
	waitParked(t, n, 1, 0)                 // still there for its own session
	update("i3", map[string]any{"qty": 1}) // enters the page: i0 leaves it
	waitParked(t, n, 1, 2)
	g.shut.Store(false)
	if !next(t, connects, "a reconnection") {
		t.Fatal("the session was not recovered")
	}
	arg := resumeArg(l, query)
	arg["received"] = l.after - 1 // as if the last change sent to the old socket was lost
	if got = l.subscribe(t, c, arg); got["resumed"] != nil || got["id"] == first["id"] {
		t.Fatalf("a resume that missed a change answered %v, want a fresh snapshot", got)
	}
	waitParked(t, n, 0, 0)
	l.waitEqual(t, fresh)

	// More than 1,000 changes held: the list is dropped, and its resume is a fresh snapshot.
	g.shut.Store(true)
	c.CloseTransport()
	waitParked(t, n, 1, 0)
	for i := range 1001 { // one change each (a transaction's changes to one document come as one)
		update("i2", map[string]any{"qty": -1 - i})
	}
	waitParked(t, n, 0, 0)
	g.shut.Store(false)
	if !next(t, connects, "a reconnection") {
		t.Fatal("the session was not recovered")
	}
	if got = l.subscribe(t, c, resumeArg(l, query)); got["resumed"] != nil {
		t.Fatalf("a resume past the changes held answered %v, want a fresh snapshot", got)
	}
	l.waitEqual(t, fresh)
	l.check(t)
}

// A session recovered on another node (from the shared database) resumes no live list there: the
// lists were parked on the node that lost the socket, so the resume gets a fresh snapshot, equal
// to what the query returns now.
func TestLiveListResumeOnAnotherNode(t *testing.T) {
	a, b, _, site, tok := twoNodes(t, "r")
	query := map[string]any{"doctype": "Invoice", "fields": []string{"name", "customer"}, "order_by": "name asc"}
	q := doc.Query{Fields: []string{"name", "customer"}, OrderBy: "name asc", Limit: 20}
	ca := dialNS(t, a.url, "/"+site, tok)
	l := watchList(ca)
	connect(t, ca)
	subscribe(t, ca, "doctype_subscribe", "Invoice") // what waitSessionSaved looks for
	first := l.subscribe(t, ca, query)
	a.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"})
	l.waitEqual(t, func() []map[string]any { return a.list(t, doc.Administrator, "Invoice", q) })
	waitSessionSaved(t, a, ca.PID())
	pid, offset := ca.PID(), ca.LastOffset()
	ca.CloseTransport()
	waitParked(t, a, 1, 0)
	a.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"})
	waitParked(t, a, 1, 1)

	moved, err := client.New(client.Options{URL: b.url, Namespace: "/" + site, Auth: map[string]any{"token": tok, "pid": pid, "offset": offset}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { moved.Close() })
	ml, got := l.resumeOn(t, moved, query)
	if moved.PID() != pid {
		t.Fatalf("B answered pid %s, want the restored %s", moved.PID(), pid)
	}
	if got["resumed"] != nil || got["id"] == first["id"] {
		t.Fatalf("a resume on another node answered %v, want a fresh snapshot", got)
	}
	if rows := ml.waitEqual(t, func() []map[string]any { return b.list(t, doc.Administrator, "Invoice", q) }); len(rows) != 2 {
		t.Fatalf("rows on B %v, want both invoices", rows)
	}
}

// A user disabled while away resumes nothing: the revocation ends the lists parked for its
// sessions, and the query nobody holds any more is forgotten.
func TestLiveListResumeRevoked(t *testing.T) {
	n := liveItemsNode(t)
	n.addUser(t, "x@example.com", doc.SystemUser, "Item Taker")
	x := dial(t, n.url, n.token(t, "x@example.com"), false)
	l := watchList(x)
	connect(t, x)
	l.subscribe(t, x, map[string]any{"doctype": "Live Item", "fields": []string{"title"}})
	x.CloseTransport()
	waitParked(t, n, 1, 0)
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Update("User", "x@example.com", map[string]any{"enabled": 0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitParked(t, n, 0, 0)
	deadline := time.Now().Add(5 * time.Second)
	for realtime.LiveQueries(n.app.Realtime) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d live queries left after the user was disabled", realtime.LiveQueries(n.app.Realtime))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package realtime_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime/client"
)

// gate is an HTTP client whose new connections can be refused, to hold a client offline.
type gate struct {
	shut atomic.Bool
	http *http.Client
}

func newGate() *gate {
	g := &gate{}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if g.shut.Load() {
			return nil, errors.New("gate shut")
		}
		return d.DialContext(ctx, network, addr)
	}
	g.http = &http.Client{Transport: tr}
	return g
}

// countingTransport counts the requests it makes.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func next[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10 s", what)
		panic("unreachable")
	}
}

// The Go client's live API (issue 15) against a real server: the snapshot, a change patched in
// with no read, a change without `changed` read once, a list's rows entering and changing, and
// reconnections: a recovered session replays what was missed (patched, no read) and resumes its
// list with the changes held; a fresh one subscribes again for new snapshots.
func TestGoClientLiveDocAndList(t *testing.T) {
	n := levelNoteNode(t)
	tok := n.token(t, doc.Administrator)
	update := func(name string, change map[string]any) { n.update(t, "Level Note", name, change) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// fresh never recovers: the pid it asks for on every CONNECT is no session's.
	g := newGate()
	fresh, err := client.New(client.Options{URL: n.url, Namespace: "/livedoc", Reconnect: true, HTTPClient: g.http,
		Auth: map[string]any{"token": tok, "pid": "no-such-session"}})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	rec, err := client.New(client.Options{URL: n.url, Namespace: "/livedoc", Reconnect: true, HTTPClient: g.http, Auth: map[string]any{"token": tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	drops := make(chan string, 10)
	connects := make(chan bool, 10)
	for _, c := range []*client.Client{fresh, rec} {
		c.OnDisconnect(func(string) { drops <- "" })
		c.OnConnect(func(r bool) { connects <- r })
		connect(t, c)
		<-connects
	}

	reads, recReads := &countingTransport{}, &countingTransport{}
	fail := func(err error) { t.Errorf("live: %v", err) }
	opts := client.LiveOptions{HTTPClient: &http.Client{Transport: reads}, OnError: fail}
	recOpts := client.LiveOptions{HTTPClient: &http.Client{Transport: recReads}, OnError: fail}
	docs := make(chan map[string]any, 100)
	live, err := client.LiveDoc(ctx, fresh, opts, "Level Note", "n1", func(d map[string]any) { docs <- d })
	if err != nil {
		t.Fatal(err)
	}
	if d := next(t, docs, "the snapshot"); d["title"] != "n1" || d["modified"] == nil {
		t.Fatalf("snapshot %v", d)
	}
	recDocs := make(chan map[string]any, 100)
	recLive, err := client.LiveDoc(ctx, rec, recOpts, "Level Note", "n1", func(d map[string]any) { recDocs <- d })
	if err != nil {
		t.Fatal(err)
	}
	next(t, recDocs, "the second client's snapshot")
	rows := make(chan []map[string]any, 100)
	list, err := client.LiveList(ctx, fresh, opts, client.ListQuery{Doctype: "Level Note", Fields: []string{"name", "body"}, OrderBy: "title asc"},
		func(r []map[string]any) { rows <- r })
	if err != nil {
		t.Fatal(err)
	}
	names := func(rs []map[string]any) (out []any) {
		for _, r := range rs {
			out = append(out, r["name"])
		}
		return out
	}
	if r := next(t, rows, "the list's snapshot"); len(r) != 1 || r[0]["name"] != "n1" {
		t.Fatalf("list snapshot %v", r)
	}

	update("n1", map[string]any{"body": "b"})
	if d := next(t, docs, "a change"); d["body"] != "b" || d["title"] != "n1" {
		t.Fatalf("patched %v", d)
	}
	if r := next(t, rows, "the row's change"); r[0]["body"] != "b" {
		t.Fatalf("rows %v", r)
	}
	if got := reads.n.Load(); got != 0 {
		t.Fatalf("%d reads for a change that said what changed", got)
	}
	update("n1", map[string]any{"secret_note": "s"})
	if d := next(t, docs, "a change without `changed`"); d["secret_note"] != "s" || d["body"] != "b" {
		t.Fatalf("read %v", d)
	}
	if got := reads.n.Load(); got != 1 {
		t.Fatalf("%d reads for a change without `changed`, want 1", got)
	}
	n.insert(t, doc.Doc{"doctype": "Level Note", "title": "n2"})
	if r := next(t, rows, "a row that enters"); len(r) != 2 || r[1]["name"] != "n2" {
		t.Fatalf("rows %v", names(r))
	}
	recRows := make(chan []map[string]any, 100)
	recList, err := client.LiveList(ctx, rec, recOpts, client.ListQuery{Doctype: "Level Note", Fields: []string{"name", "body"}, OrderBy: "title asc"},
		func(r []map[string]any) { recRows <- r })
	if err != nil {
		t.Fatal(err)
	}
	if r := next(t, recRows, "the second list's snapshot"); len(r) != 2 {
		t.Fatalf("list snapshot %v", names(r))
	}
	next(t, recDocs, "the second client's first change")
	if d := next(t, recDocs, "the second client's read"); d["secret_note"] != "s" {
		t.Fatalf("second client %v", d)
	}

	// Both clients lose their connection; changes are committed while they are away (and the
	// server holds them for the lists it parked).
	g.shut.Store(true)
	fresh.CloseTransport()
	rec.CloseTransport()
	next(t, drops, "a disconnect")
	next(t, drops, "a disconnect")
	waitParked(t, n, 2, 0)
	update("n1", map[string]any{"body": "offline"})
	n.insert(t, doc.Doc{"doctype": "Level Note", "title": "n3"})
	waitParked(t, n, 2, 4)
	g.shut.Store(false)
	got := map[bool]int{}
	for range 2 {
		got[next(t, connects, "a reconnection")]++
	}
	if got[true] != 1 || got[false] != 1 {
		t.Fatalf("reconnections recovered: %v, want one of each", got)
	}
	if d := next(t, docs, "a fresh snapshot"); d["body"] != "offline" {
		t.Fatalf("after a fresh session %v", d)
	}
	if d := next(t, recDocs, "the missed change"); d["body"] != "offline" {
		t.Fatalf("after a recovered session %v", d)
	}
	for {
		r := next(t, rows, "a fresh list snapshot")
		if len(r) == 3 {
			if r[0]["body"] != "offline" || r[2]["name"] != "n3" {
				t.Fatalf("rows after the reconnection %v", r)
			}
			break
		}
	}
	// The recovered client's list resumes: the two changes held, one call each, no snapshot.
	if r := next(t, recRows, "the change missed"); len(r) != 2 || r[0]["body"] != "offline" {
		t.Fatalf("resumed rows %v, want the change to n1 alone", r)
	}
	if r := next(t, recRows, "the row missed"); len(r) != 3 || r[2]["name"] != "n3" {
		t.Fatalf("resumed rows %v", names(r))
	}
	recList.Close()
	if got, recGot := reads.n.Load(), recReads.n.Load(); got != 1 || recGot != 1 {
		t.Fatalf("reads after the reconnections: %d and %d, want still 1 each: a snapshot and a replay", got, recGot)
	}

	// Closed: nothing more reaches the callbacks. A live document of n2 on the same client is the
	// marker: events come in offset order, so once its change arrives n1's has been handled.
	marks := make(chan map[string]any, 10)
	marker, err := client.LiveDoc(ctx, fresh, opts, "Level Note", "n2", func(d map[string]any) { marks <- d })
	if err != nil {
		t.Fatal(err)
	}
	next(t, marks, "the marker's snapshot")
	for _, l := range []*client.Live{live, list} {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for len(docs) > 0 {
		<-docs
	}
	for len(rows) > 0 {
		<-rows
	}
	update("n1", map[string]any{"body": "after close"})
	update("n2", map[string]any{"body": "marker"})
	if d := next(t, marks, "the marker's change"); d["body"] != "marker" {
		t.Fatalf("marker %v", d)
	}
	if len(docs) > 0 || len(rows) > 0 {
		t.Fatalf("a closed live value was called: %d docs, %d rows", len(docs), len(rows))
	}
	if d := next(t, recDocs, "a change on the other client"); d["body"] != "after close" {
		t.Fatalf("%v", d)
	}
	marker.Close()
	recLive.Close()

	// Refused subscriptions are the error.
	if _, err := client.LiveDoc(ctx, rec, opts, "Level Note", "nobody", func(map[string]any) {}); err == nil {
		t.Error("a missing document was subscribed")
	}
	if _, err := client.LiveList(ctx, rec, opts, client.ListQuery{Doctype: "Level Note", Fields: []string{"nope"}}, func([]map[string]any) {}); err == nil {
		t.Error("a list of an unknown field was subscribed")
	}
}

package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/store"
	"github.com/livedoc/livedoc/store/storetest"
)

func newTestHub(t testing.TB, opts Options) (*Hub, *doc.Engine, string) {
	t.Helper()
	ctx := context.Background()
	path := storetest.DSN(t)
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := doc.NewEngine(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	dt, _ := doc.ParseDocType([]byte(`{"name": "Note", "autoname": "prompt", "fields": [{"fieldname": "body", "fieldtype": "Data"}],
		"permissions": [{"role": "Writer", "read": 1, "write": 1, "create": 1}]}`))
	if err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error { return c.Sudo().Sync(dt) }); err != nil {
		t.Fatal(err)
	}
	h, err := New(ctx, e, a, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); db.Close() })
	return h, e, path
}

// recorder is a room subscriber that keeps what it is given, in order.
type recorder struct {
	mu     sync.Mutex
	events []*outEvent
}

func (r *recorder) deliver(ev *outEvent) { r.mu.Lock(); r.events = append(r.events, ev); r.mu.Unlock() }

func (r *recorder) viewer() *doc.User { return doc.AdminUser }

func (r *recorder) wait(t *testing.T, n int) []*outEvent {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		if len(r.events) >= n {
			out := slices.Clone(r.events)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("got %d events, want %d", len(r.events), n)
	return nil
}

func (h *Hub) listen(rooms ...string) *recorder {
	r := &recorder{}
	h.mu.Lock()
	for _, room := range rooms {
		h.joinIndexLocked(r, room)
	}
	h.mu.Unlock()
	return r
}

func TestRoutingPrecedence(t *testing.T) {
	h, _, _ := newTestHub(t, Options{})
	c := &doc.Context{User: &doc.User{Name: "ann@x"}}
	msg := map[string]any{"doctype": "Invoice", "x": 1}
	cases := []struct {
		event string
		t     Target
		room  string
		now   bool
	}{
		{"list_update", Target{Room: "custom", User: "bob"}, "doctype:Invoice", false},
		{"docinfo_update", Target{Room: "custom", DocType: "Invoice", DocName: "I-1"}, "doc:Invoice/I-1", false},
		{"msgprint", Target{}, "user:ann@x", false},
		{"msgprint", Target{User: "bob"}, "user:bob", false},
		{"ev", Target{Room: "custom", TaskID: "t1", User: "bob", DocType: "A", DocName: "b"}, "custom", false},
		{"ev", Target{TaskID: "t1", User: "bob", DocType: "A", DocName: "b"}, "task_progress:t1", true},
		{"ev", Target{User: "bob", DocType: "A", DocName: "b"}, "user:bob", false},
		{"ev", Target{DocType: "A", DocName: "b"}, "doc:A/b", false},
		{"ev", Target{DocType: "A"}, "all", false},
		{"ev", Target{}, "all", false},
	}
	for _, tc := range cases {
		room, out, now := h.route(c, tc.event, msg, tc.t)
		if room != tc.room || now != tc.now {
			t.Errorf("%s %+v: room %q now %v, want %q %v", tc.event, tc.t, room, now, tc.room, tc.now)
		}
		if tc.t.TaskID != "" && tc.room == "task_progress:t1" && out.(map[string]any)["task_id"] != "t1" {
			t.Errorf("task_id not added to the message: %v", out)
		}
	}
	if _, ok := msg["task_id"]; ok {
		t.Fatal("routing changed the caller's message")
	}
}

func TestAfterCommitEventsAreLoggedDedupedAndDroppedOnRollback(t *testing.T) {
	h, e, _ := newTestHub(t, Options{})
	ctx := context.Background()
	rec := h.listen("all", "doc:Note/n1", "doctype:Note")
	// A rollback: nothing logged, nothing delivered.
	err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		if err := h.Publish(c, "hello", map[string]any{"a": 1}, Target{}, true); err != nil {
			return err
		}
		if _, err := c.Insert(doc.Doc{"doctype": "Note", "name": "n1"}); err != nil {
			return err
		}
		return errors.New("rolled back")
	})
	if err == nil {
		t.Fatal("expected the error")
	}
	// A commit: the same event twice is sent once, then the automatic doc events.
	err = e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		for range 2 {
			if err := h.Publish(c, "hello", map[string]any{"a": 1}, Target{}, true); err != nil {
				return err
			}
		}
		_, err := c.Insert(doc.Doc{"doctype": "Note", "name": "n1"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := rec.wait(t, 3)
	var names []string
	for i, ev := range got {
		names = append(names, ev.Event.Event)
		if i > 0 && ev.Offset != got[i-1].Offset+1 {
			t.Errorf("offsets not consecutive: %d after %d", ev.Offset, got[i-1].Offset)
		}
	}
	if !slices.Equal(names, []string{"doc_update", "list_update", "hello"}) {
		t.Fatalf("events %v", names)
	}
	var m map[string]any
	_ = json.Unmarshal(got[0].Message, &m)
	if m["doctype"] != "Note" || m["name"] != "n1" || m["modified"] == "" {
		t.Fatalf("doc_update payload %v", m)
	}
	logged, err := h.elog.since(ctx, 0, 1<<40, nil, 100)
	if err != nil || len(logged) != 3 {
		t.Fatalf("log holds %d events (%v), want 3", len(logged), err)
	}
	// An immediate publish is delivered without a commit and not logged.
	if err := e.Run(ctx, doc.AdminUser, false, func(c *doc.Context) error {
		return h.Publish(c, "now", 1, Target{}, false)
	}); err != nil {
		t.Fatal(err)
	}
	got = rec.wait(t, 4)
	if got[3].Event.Event != "now" || got[3].Offset != 0 || got[3].position() != got[2].Offset {
		t.Fatalf("immediate event %+v position %d", got[3].Event, got[3].position())
	}
}

func TestFanoutKeepsOffsetOrderAndFillsGapsFromTheLog(t *testing.T) {
	h, e, _ := newTestHub(t, Options{})
	ctx := context.Background()
	// Log three events, then hand them to the fan-out out of order and with one missing.
	var logged []Event
	err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		logged = []Event{{Room: "all", Event: "a", Message: json.RawMessage("1")}, {Room: "all", Event: "b", Message: json.RawMessage("2")},
			{Room: "all", Event: "c", Message: json.RawMessage("3")}}
		return h.elog.append(c, logged)
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := h.listen("all")
	h.enqueue([]Event{logged[2]})
	h.enqueue([]Event{logged[0]})
	// b never comes through the bus: after gapWait it is read from the log.
	got := rec.wait(t, 3)
	for i, want := range []string{"a", "b", "c"} {
		if got[i].Event.Event != want {
			t.Fatalf("order %v", got)
		}
	}
	h.enqueue([]Event{logged[1]}) // a late duplicate is dropped
	if err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error { return h.Publish(c, "d", 4, Target{}, true) }); err != nil {
		t.Fatal(err)
	}
	got = rec.wait(t, 4)
	if len(got) != 4 || got[3].Event.Event != "d" {
		t.Fatalf("after the duplicate: %v", got)
	}
}

func TestLogBoundsAndPruning(t *testing.T) {
	h, e, _ := newTestHub(t, Options{})
	ctx := context.Background()
	err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		var evs []Event
		for range 10 {
			evs = append(evs, Event{Room: "r", Event: "e", Message: json.RawMessage("{}")})
		}
		return h.elog.append(c, evs)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := h.elog.since(ctx, 0, 10, []string{"r"}, 100); err != nil || len(got) != 10 {
		t.Fatalf("since 0: %d %v", len(got), err)
	}
	if _, err := h.elog.since(ctx, 0, 10, []string{"r"}, 5); !errors.Is(err, errTooOld) {
		t.Fatalf("a gap larger than the limit: %v", err)
	}
	n, err := h.elog.prune(ctx, time.Hour, 4)
	if err != nil || n != 6 {
		t.Fatalf("pruned %d (%v), want 6", n, err)
	}
	if _, err := h.elog.since(ctx, 2, 10, []string{"r"}, 100); !errors.Is(err, errTooOld) {
		t.Fatalf("replay from a pruned offset: %v", err)
	}
	if got, err := h.elog.since(ctx, 6, 10, []string{"r"}, 100); err != nil || len(got) != 4 {
		t.Fatalf("replay from a kept offset: %d %v", len(got), err)
	}
	if n, _ := h.elog.prune(ctx, -time.Second, 1000); n != 3 {
		t.Fatalf("pruning by age removed %d, want 3 (the newest stays)", n)
	}
	// The log's position survives pruning.
	if last, err := h.elog.last(ctx); err != nil || last != 10 {
		t.Fatalf("last after pruning everything: %d %v", last, err)
	}
}

// A transaction's events are logged in a few multi-row INSERTs: their offsets still follow the
// order they were published in, across chunks, and the log reads them back in that order.
func TestLogAppendKeepsEventOrderAcrossChunks(t *testing.T) {
	h, e, _ := newTestHub(t, Options{})
	ctx := context.Background()
	n := 2*appendChunk + 3
	evs := make([]Event, n)
	err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		for i := range evs {
			evs[i] = Event{Room: "r", Event: "e", Message: json.RawMessage(strconv.Itoa(i))}
		}
		return h.elog.append(c, evs)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < n; i++ {
		if evs[i].Offset != evs[i-1].Offset+1 {
			t.Fatalf("offsets %d then %d at event %d", evs[i-1].Offset, evs[i].Offset, i)
		}
	}
	got, err := h.elog.since(ctx, 0, 1<<40, nil, 10*n)
	if err != nil || len(got) != n {
		t.Fatalf("log holds %d events (%v), want %d", len(got), err, n)
	}
	for i, ev := range got {
		if string(ev.Message) != strconv.Itoa(i) || ev.Offset != evs[i].Offset {
			t.Fatalf("event %d read back as %s at offset %d, want %d at %d", i, ev.Message, ev.Offset, i, evs[i].Offset)
		}
	}
}

// A transaction that appended to the log first but commits late (longer than the fan-out waits
// for a gap) must still be delivered, before the one that appended after it.
func TestLateCommitIsNotPassedOver(t *testing.T) {
	h, e, _ := newTestHub(t, Options{})
	ctx := context.Background()
	rec := h.listen("all")
	// The slow transaction takes its offset, then waits until release is called; held tells when
	// it waits.
	var held func() bool
	var release func()
	firstMsg := map[string]any{}
	type slowKey struct{}
	if storetest.Postgres() {
		// The log's INSERT goes to the server with the COMMIT: the slow one waits there, for an
		// advisory lock this test holds.
		HoldAtCommit(t, e, "first")
		const key = 7402118
		firstMsg["wait_lock"] = key
		lock, err := e.DB().Begin(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Rollback()
		if _, err := lock.Exec(ctx, "SELECT pg_advisory_xact_lock(?)", key); err != nil {
			t.Fatal(err)
		}
		held = func() bool {
			var n int
			err := e.Run(ctx, doc.AdminUser, false, func(c *doc.Context) error {
				return c.Tx.QueryRow(c, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
					AND ((classid::bigint << 32) | objid::bigint) = ?`, key).Scan(&n)
			})
			return err == nil && n == 1
		}
		release = func() { lock.Rollback() }
	} else {
		// SQLite appends at once: the slow one waits in a hook that runs after the hub's append
		// (registered later), between taking its offset and committing.
		hold := make(chan struct{})
		waiting := make(chan struct{})
		e.BeforeCommit(func(c *doc.Context) error {
			if c.Local(slowKey{}) != nil {
				close(waiting)
				<-hold
			}
			return nil
		})
		held = func() bool {
			select {
			case <-waiting:
				return true
			default:
				return false
			}
		}
		release = func() { close(hold) }
	}
	slow := make(chan error, 1)
	go func() {
		slow <- e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
			c.SetLocal(slowKey{}, true)
			return h.Publish(c, "first", firstMsg, Target{}, true)
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !held() {
		if time.Now().After(deadline) {
			t.Fatal("the slow transaction did not reach its commit")
		}
		time.Sleep(5 * time.Millisecond)
	}
	fast := make(chan error, 1)
	go func() {
		fast <- e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error { return h.Publish(c, "second", 2, Target{}, true) })
	}()
	time.Sleep(2 * gapWait) // the race itself: longer than the fan-out waits for a missing offset
	release()
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	if err := <-fast; err != nil {
		t.Fatal(err)
	}
	got := rec.wait(t, 2)
	if got[0].Event.Event != "first" || got[1].Event.Event != "second" || got[1].Offset <= got[0].Offset {
		t.Fatalf("delivered %s@%d then %s@%d", got[0].Event.Event, got[0].Offset, got[1].Event.Event, got[1].Offset)
	}
}

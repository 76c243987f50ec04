package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime/socketio"
)

// Live lists (issue 15): list_subscribe({doctype, fields, filters, or_filters, order_by, limit,
// start}) answers {ok, id, rows, offset}, the rows the query returns for the socket's user and the
// log offset they are as of; afterwards list_change {id, offset, op, name, row, index} events keep
// the client's rows equal to what the query returns now.
//
// Sockets of one user asking the same query share one liveQuery. It holds the rows of its page
// and up to as many again after it (at most 50, listExtra), "wide" (the requested fields plus those
// its filters, order and owner rule need), and follows the DocType's committed changes, which the
// fan-out hands it in offset order on every node: each list_update carries the document's row as
// written and the previous values of what changed (never sent to clients; left out above 16 KiB).
// Most changes are decided in memory with doc.LiveQuery, which evaluates the filters, if_owner
// and the order as SQL does, with no read. The rows held are always the first ones the query
// selects:
//
//   - a row that matches neither before nor after, or sorts after the last row held while rows
//     not held may come before it, is not held;
//   - a row that enters is inserted at its place (past the rows held, the last is dropped);
//   - a row that stays is updated or moved; a row that leaves, or is deleted, is removed;
//   - the client is sent what changed in the page (its first limit rows): a row leaving it is
//     replaced by the next row held.
//
// The query is read again (as the user, through doc.Context.List, so every rule applies) when the
// change's effect is unknowable from the rows held: fewer rows are held than the page shows while
// more may match, the list starts after rows it does not hold (start > 0) and the row matches
// before or after, memory cannot decide as the database would (doc.LiveQuery says when), the
// DocType has a row filter (Permission Query script), the change carries no row (too big, or a
// rename), or the rights involved changed (the user, or the DocType's permissions, saved). One
// read answers every change queued while it ran, so a query reads at most once per change. A new
// socket asking a query that is already followed gets its rows from memory.
//
// Subscriptions live with the socket, and with its session for recovery (livelist_resume.go): a
// client whose session is recovered on this node resumes them and gets the changes it missed;
// otherwise it subscribes again and starts from a fresh snapshot.

const (
	maxListsPerSocket = 50
	defaultListLimit  = 20
	maxListLimit      = 1000
	// maxListPending bounds the changes queued to a query whose read is slow: beyond it they are
	// replaced by one read, which covers them all.
	maxListPending = 1024
)

// liveQuery is one distinct live query: one user, one query text. Its goroutine (run) is the only
// one that reads it, applies its changes and sends them, so they go out in order.
type liveQuery struct {
	h       *Hub
	key     string
	user    string
	doctype string
	q       doc.Query

	mu      sync.Mutex // after h.mu, never before it
	subs    map[*listSub]struct{}
	joins   []*listJoin // subscriptions waiting for their snapshot
	pending []listEvent // changes the fan-out passed, in offset order, not applied yet
	running bool

	// Owned by the goroutine running the query.
	live *doc.LiveQuery // as prepared by the last read; nil before the first
	rows []doc.Doc      // the page and up to listExtra rows after it, wide, as a client gets them (JSON-decoded)
	// names are the rows' names: most changes are of rows a query does not hold, told at once.
	names map[string]struct{}
	// complete: rows holds every row the query selects from its start (none after them).
	complete bool
	offset   int64 // the log offset the rows are as of
	denied   error // why the last read was refused: the user may no longer list the DocType
}

// listEvent is one committed change of the query's DocType, or a reason to read it again.
type listEvent struct {
	offset int64
	change *rowChange // nil: the list must be read again
	rights bool       // the rights it was decided on changed: read, even if the last read came after
}

// rowChange is what a list_update carries for live lists, never sent to clients: the document's
// row as written (for a delete, as it was) and the previous values of the columns an update
// changed.
type rowChange struct {
	Op     string  `json:"op"` // insert | update | delete
	Row    doc.Doc `json:"row"`
	Before doc.Doc `json:"before,omitempty"`
}

// appendRowChange encodes r, on every save: without encoding/json's reflection, sorted map keys
// and validation of what a MarshalJSON returns, for the common values (text, integers, NULL).
func appendRowChange(b []byte, r *rowChange) ([]byte, error) {
	b = append(b, `{"op":`...)
	b = appendJSON(b, r.Op)
	var err error
	b = append(b, `,"row":`...)
	if b, err = appendRow(b, r.Row); err != nil {
		return nil, err
	}
	if r.Before != nil {
		b = append(b, `,"before":`...)
		if b, err = appendRow(b, r.Before); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendRow(b []byte, row doc.Doc) ([]byte, error) {
	if row == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '{')
	first := true
	for k, v := range row {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSON(b, k)
		b = append(b, ':')
		switch x := v.(type) {
		case nil:
			b = append(b, "null"...)
		case string:
			b = appendJSON(b, x)
		case int64:
			b = strconv.AppendInt(b, x, 10)
		default:
			enc, err := json.Marshal(x)
			if err != nil {
				return nil, err
			}
			b = append(b, enc...)
		}
	}
	return append(b, '}'), nil
}

// appendJSON appends s as a JSON string: printable ASCII without quote or backslash as it is, the
// rest through encoding/json.
func appendJSON(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// maxRowChange bounds a list_update's rowChange: a bigger one is left out, and the live lists of
// its DocType read the change from the database instead.
const maxRowChange = 16 << 10

type listSub struct {
	id        string
	lq        *liveQuery
	cancelled bool // guarded by lq.mu

	// Guarded by h.mu.
	c *conn
	// parked: its socket is gone and its session kept for recovery; changes wait in held.
	parked     bool
	held       []listChange
	overflowed bool // held too many: its resume is a fresh snapshot
	// sent counts the changes handed to its sockets (not held): a resume must have received
	// them all, else a change may have been lost with the old socket.
	sent int
}

type listJoin struct {
	sub    *listSub
	ack    socketio.Ack
	resume bool // sub is a parked subscription its session's client takes up again
}

// listChange is a list_change event's message.
type listChange struct {
	ID     string  `json:"id"`
	Offset int64   `json:"offset"`
	Op     string  `json:"op"` // insert | update | remove | move
	Name   string  `json:"name"`
	Row    doc.Doc `json:"row,omitempty"`
	Index  *int    `json:"index,omitempty"`
}

// parseListQuery reads list_subscribe's argument: frappe.client.get_list's shape.
func parseListQuery(raw json.RawMessage) (string, doc.Query, error) {
	var q doc.Query
	var a map[string]any
	if err := json.Unmarshal(raw, &a); err != nil || a == nil {
		return "", q, errors.New("list_subscribe: the argument must be an object {doctype, fields, filters, ...}")
	}
	doctype, _ := a["doctype"].(string)
	if doctype == "" {
		return "", q, errors.New("list_subscribe: doctype is required")
	}
	switch f := a["fields"].(type) {
	case nil:
	case string:
		q.Fields = []string{f}
	case []any:
		for _, x := range f {
			s, ok := x.(string)
			if !ok {
				return "", q, errors.New("list_subscribe: fields must be a list of field names")
			}
			q.Fields = append(q.Fields, s)
		}
	default:
		return "", q, errors.New("list_subscribe: fields must be a list of field names")
	}
	// Rows are told apart by name: it is always among the fields.
	if !slices.Contains(q.Fields, "name") && !slices.Contains(q.Fields, "*") {
		q.Fields = append(q.Fields, "name")
	}
	var err error
	if q.Filters, err = doc.ParseFilters(a["filters"]); err != nil {
		return "", q, err
	}
	if q.OrFilters, err = doc.ParseFilters(a["or_filters"]); err != nil {
		return "", q, err
	}
	if a["order_by"] != nil {
		s, ok := a["order_by"].(string)
		if !ok {
			return "", q, errors.New("list_subscribe: order_by must be a string")
		}
		q.OrderBy = s
	}
	num := func(keys ...string) (int, bool, error) {
		for _, k := range keys {
			switch v := a[k].(type) {
			case nil:
				continue
			case float64:
				if v >= 0 && v == float64(int(v)) {
					return int(v), true, nil
				}
			}
			return 0, false, fmt.Errorf("list_subscribe: %s must be a whole number", k)
		}
		return 0, false, nil
	}
	limit, given, err := num("limit", "limit_page_length")
	if err != nil {
		return "", q, err
	}
	if !given {
		limit = defaultListLimit
	}
	if limit < 1 || limit > maxListLimit {
		return "", q, fmt.Errorf("list_subscribe: limit must be between 1 and %d", maxListLimit)
	}
	q.Limit = limit
	if q.Start, _, err = num("start", "limit_start"); err != nil {
		return "", q, err
	}
	return doctype, q, nil
}

// listSubscribe answers list_subscribe itself: the ack comes from the query's goroutine, before
// any list_change of the subscription, so a client never sees a change before its snapshot.
func (h *Hub) listSubscribe(c *conn, args []json.RawMessage, ack socketio.Ack) error {
	if len(args) == 0 {
		return errors.New("list_subscribe: missing argument 1")
	}
	doctype, q, err := parseListQuery(args[0])
	if err != nil {
		return err
	}
	resume, err := parseResume(args[0])
	if err != nil {
		return err
	}
	name, err := h.credentialStands(c, "list_subscribe")
	if err != nil {
		return err
	}
	text, err := json.Marshal(q)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.gone || c.ended {
		return errors.New("disconnected")
	}
	if len(c.lists) >= maxListsPerSocket {
		return fmt.Errorf("list_subscribe: at most %d live lists per connection", maxListsPerSocket)
	}
	// Before the query is looked up: a parked list dropped here may be its last holder.
	resumed := h.resumableLocked(c, listKey(name, doctype, string(text)), resume)
	lq := h.liveQueryLocked(name, doctype, q, string(text))
	join := &listJoin{sub: resumed, ack: ack}
	if join.sub != nil {
		join.resume = true
		delete(c.sess.lists, join.sub.id)
		join.sub.c = c
	} else {
		join.sub = &listSub{id: newListID(), c: c, lq: lq}
	}
	if c.lists == nil {
		c.lists = map[string]*listSub{}
	}
	c.lists[join.sub.id] = join.sub
	if join.ack == nil {
		join.ack = func(...any) error { return nil }
	}
	lq.mu.Lock()
	lq.joins = append(lq.joins, join)
	h.kickLocked(lq)
	lq.mu.Unlock()
	return nil
}

// liveQueryLocked is the live query of user asking q (whose JSON is text) on doctype: the one
// followed already, or a new one.
func (h *Hub) liveQueryLocked(user, doctype string, q doc.Query, text string) *liveQuery {
	key := listKey(user, doctype, text)
	if lq := h.lists[key]; lq != nil {
		return lq
	}
	lq := &liveQuery{h: h, key: key, user: user, doctype: doctype, q: q, subs: map[*listSub]struct{}{}}
	if h.lists == nil {
		h.lists = map[string]*liveQuery{}
		h.listsByType = map[string]map[*liveQuery]struct{}{}
	}
	h.lists[key] = lq
	if h.listsByType[doctype] == nil {
		h.listsByType[doctype] = map[*liveQuery]struct{}{}
	}
	h.listsByType[doctype][lq] = struct{}{}
	return lq
}

func listKey(user, doctype, text string) string { return user + "\x00" + doctype + "\x00" + text }

// listUnsubscribe ends one of the socket's live lists.
func (h *Hub) listUnsubscribe(c *conn, args []json.RawMessage) error {
	var id string
	if len(args) == 0 || json.Unmarshal(args[0], &id) != nil || id == "" {
		return errors.New("list_unsubscribe: argument 1 must be the id list_subscribe answered")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if sub := c.lists[id]; sub != nil {
		h.dropListSubLocked(sub)
	}
	return nil
}

// dropListsLocked ends every live list of a socket that is gone.
func (h *Hub) dropListsLocked(c *conn) {
	for _, sub := range c.lists {
		h.dropListSubLocked(sub)
	}
}

func (h *Hub) dropListSubLocked(sub *listSub) {
	if sub.parked && sub.c.sess.lists[sub.id] == sub {
		delete(sub.c.sess.lists, sub.id)
	} else if sub.c.lists[sub.id] == sub {
		delete(sub.c.lists, sub.id)
	}
	lq := sub.lq
	lq.mu.Lock()
	sub.cancelled = true
	delete(lq.subs, sub)
	lq.mu.Unlock()
	h.forgetIdleLocked(lq)
}

// forgetIdleLocked forgets a live query nobody holds or waits for.
func (h *Hub) forgetIdleLocked(lq *liveQuery) {
	lq.mu.Lock()
	idle := len(lq.subs) == 0 && len(lq.joins) == 0
	lq.mu.Unlock()
	if !idle || h.lists[lq.key] != lq {
		return
	}
	delete(h.lists, lq.key)
	if set := h.listsByType[lq.doctype]; set != nil {
		delete(set, lq)
		if len(set) == 0 {
			delete(h.listsByType, lq.doctype)
		}
	}
}

// listsChangedLocked hands a committed list_update to the live queries of its DocType: called
// by the fan-out, in offset order. It never blocks: each query applies it on its own goroutine.
func (h *Hub) listsChangedLocked(doctype string, ev *Event) {
	set := h.listsByType[doctype]
	if len(set) == 0 {
		return
	}
	var m struct {
		Live *rowChange `json:"live"`
	}
	if json.Unmarshal(ev.Message, &m) != nil || m.Live == nil || m.Live.Row == nil {
		m.Live = nil
	}
	for lq := range set {
		h.queueListLocked(lq, listEvent{offset: ev.Offset, change: m.Live})
	}
}

// listsRereadLocked makes the live queries that match read again, after the events already
// passed: the rights they were decided on changed.
func (h *Hub) listsRereadLocked(match func(lq *liveQuery) bool) {
	for _, lq := range h.lists {
		if match(lq) {
			h.queueListLocked(lq, listEvent{offset: h.delivered, rights: true})
		}
	}
}

func (h *Hub) queueListLocked(lq *liveQuery, e listEvent) {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	if len(lq.pending) >= maxListPending {
		last := lq.pending[len(lq.pending)-1]
		lq.pending = append(lq.pending[:0], listEvent{offset: last.offset, rights: last.rights || e.rights})
	}
	lq.pending = append(lq.pending, e)
	h.kickLocked(lq)
}

// kickLocked starts lq's goroutine if it is not running; with lq.mu held.
func (h *Hub) kickLocked(lq *liveQuery) {
	if !lq.running {
		lq.running = true
		go h.runList(lq)
	}
}

// runList applies the changes queued to lq, in order, reading it again where they need it, and
// answers the subscriptions waiting with its rows as they are then.
func (h *Hub) runList(lq *liveQuery) {
	for {
		lq.mu.Lock()
		events, joins := lq.pending, lq.joins
		lq.pending, lq.joins = nil, nil
		if len(events) == 0 && len(joins) == 0 {
			lq.running = false
			lq.mu.Unlock()
			return
		}
		lq.mu.Unlock()

		err := h.advanceList(lq, events)
		if err != nil {
			h.log.Warn("realtime: a live list could not be read", "doctype", lq.doctype, "user", lq.user, "err", err)
		}
		if lq.live == nil || lq.denied != nil {
			// Never read, or the user may not list the DocType: the query is refused (or the
			// database failed) for those asking it now.
			msg := "list_subscribe failed"
			switch {
			case lq.denied != nil:
				msg = lq.denied.Error()
			case err != nil:
				msg = err.Error()
			}
			for _, j := range joins {
				_ = j.ack(map[string]any{"error": msg})
				j.sub.c.emit("livedoc_error", map[string]any{"event": "list_subscribe", "error": msg})
			}
			h.mu.Lock()
			for _, j := range joins {
				if j.sub.c.lists[j.sub.id] == j.sub {
					h.dropListSubLocked(j.sub)
				}
			}
			h.forgetIdleLocked(lq)
			h.mu.Unlock()
			continue
		}
		if err != nil {
			// Subscribers keep the rows they have; the query is read again on the next change,
			// or in a second.
			time.AfterFunc(time.Second, func() {
				h.mu.Lock()
				if h.lists[lq.key] == lq {
					h.queueListLocked(lq, listEvent{rights: true})
				}
				h.mu.Unlock()
			})
		}
		var rows []doc.Doc
		if len(joins) > 0 {
			rows = lq.shown()
		}
		lq.mu.Lock()
		for _, j := range joins {
			if !j.sub.cancelled {
				lq.subs[j.sub] = struct{}{}
			}
		}
		lq.mu.Unlock()
		for _, j := range joins {
			switch {
			case j.resume:
				h.resumeList(j, rows, lq.offset)
			case !j.sub.cancelled:
				_ = j.ack(map[string]any{"ok": true, "id": j.sub.id, "rows": rows, "offset": lq.offset})
			}
		}
	}
}

// advanceList brings lq's rows to the newest of events: in memory where it can, else by reading
// the query again; the first time, by reading it.
func (h *Hub) advanceList(lq *liveQuery, events []listEvent) error {
	if lq.live == nil {
		return h.rereadList(lq)
	}
	for _, e := range events {
		if e.offset <= lq.offset && !e.rights {
			continue // the last read saw it
		}
		if !e.rights {
			if changes, ok := lq.apply(e.change); ok {
				h.metrics.liveLists.WithLabelValues("memory").Inc()
				lq.offset = e.offset
				lq.send(changes)
				continue
			}
		}
		if err := h.rereadList(lq); err != nil {
			return err
		}
	}
	return nil
}

// rereadList reads lq's rows and sends the difference with those it had.
func (h *Hub) rereadList(lq *liveQuery) error {
	live, rows, offset, err := h.readList(lq)
	h.metrics.liveLists.WithLabelValues("read").Inc()
	if e, ok := doc.AsError(err); ok && e.Type == doc.PermissionError && lq.live != nil {
		// The user may no longer list the DocType: every row leaves, and the list stays empty
		// (each change reads again, in case the rights come back).
		var changes []listChange
		for _, r := range lq.shown() {
			changes = append(changes, listChange{Op: "remove", Name: rowName(r)})
		}
		lq.hold(nil)
		lq.denied = err
		lq.send(changes)
		return nil
	}
	if err != nil {
		return err
	}
	lq.denied = nil
	var old []doc.Doc
	if lq.live != nil {
		old = lq.shown()
	}
	lq.live, lq.complete = live, len(rows) < lq.q.Limit+listExtra(lq.q)
	lq.hold(rows)
	var changes []listChange
	if old != nil {
		changes = diffRows(old, lq.shown())
	}
	lq.offset = max(lq.offset, offset)
	lq.send(changes)
	return nil
}

// send sends changes, as of lq.offset, to every subscriber.
func (lq *liveQuery) send(changes []listChange) {
	if len(changes) == 0 {
		return
	}
	lq.mu.Lock()
	subs := make([]*listSub, 0, len(lq.subs))
	for s := range lq.subs {
		subs = append(subs, s)
	}
	lq.mu.Unlock()
	for _, ch := range changes {
		for _, s := range subs {
			ch.ID, ch.Offset = s.id, lq.offset
			s.deliver(ch)
		}
	}
}

// apply applies one change to the page in memory and returns what to send; false when its effect
// cannot be known without reading the query again.
func (lq *liveQuery) apply(ch *rowChange) ([]listChange, bool) {
	l := lq.live
	if ch == nil || lq.denied != nil || !l.InMemory() {
		return nil, false
	}
	name, _ := ch.Row["name"].(string)
	idx := -1
	if _, held := lq.names[name]; held {
		idx = slices.IndexFunc(lq.rows, func(r doc.Doc) bool { return rowName(r) == name })
	}
	matches := false
	if ch.Op != "delete" {
		m, known := l.Match(ch.Row)
		if !known {
			return nil, false
		}
		matches = m
	}
	if lq.q.Start > 0 {
		// The page comes after rows it does not hold: a change to any row that matches, before or
		// after, may shift it.
		if idx >= 0 || matches {
			return nil, false
		}
		switch ch.Op {
		case "update":
			before := maps.Clone(ch.Row)
			maps.Copy(before, ch.Before)
			m, known := l.Match(before)
			return nil, known && !m
		case "delete":
			m, known := l.Match(ch.Row)
			return nil, known && !m
		}
		return nil, true
	}
	limit := lq.q.Limit
	rest := lq.rows
	if idx >= 0 {
		rest = slices.Delete(slices.Clone(lq.rows), idx, idx+1)
	}
	// Where the row goes among the rows held: -1 when it does not match, or sorts after every row
	// held while rows not held (after them) may come before it.
	at := -1
	var wide doc.Doc
	if matches {
		wide = l.Wide(ch.Row)
		known := true
		i, _ := slices.BinarySearchFunc(rest, wide, func(r, w doc.Doc) int {
			c, ok := l.Compare(r, w)
			known = known && ok
			return c
		})
		if !known {
			return nil, false
		}
		if i < len(rest) || lq.complete {
			at = i
		}
	}
	next, complete := rest, lq.complete
	if at >= 0 {
		next = slices.Insert(slices.Clip(rest), at, wide)
	}
	if held := limit + listExtra(lq.q); len(next) > held {
		next, complete = next[:held], false
	}
	if len(next) < limit && !complete {
		return nil, false // the page has a hole that only rows not held can fill
	}
	// What the client sees is the first limit rows.
	wasShown, isShown := idx >= 0 && idx < limit, at >= 0 && at < limit
	var out []listChange
	switch {
	case wasShown && isShown:
		was, now := l.Project(lq.rows[idx]), l.Project(wide)
		changed := !reflect.DeepEqual(was, now)
		switch {
		case at != idx && changed:
			out = []listChange{{Op: "move", Name: name, Row: now, Index: &at}}
		case at != idx:
			out = []listChange{{Op: "move", Name: name, Index: &at}}
		case changed:
			out = []listChange{{Op: "update", Name: name, Row: now, Index: &at}}
		}
	case wasShown:
		out = []listChange{{Op: "remove", Name: name}}
		if len(next) >= limit {
			last := limit - 1
			out = append(out, listChange{Op: "insert", Name: rowName(next[last]), Row: l.Project(next[last]), Index: &last})
		}
	case isShown:
		if len(lq.rows) >= limit {
			out = []listChange{{Op: "remove", Name: rowName(lq.rows[limit-1])}}
		}
		out = append(out, listChange{Op: "insert", Name: name, Row: l.Project(wide), Index: &at})
	}
	if idx >= 0 || at >= 0 {
		lq.hold(next)
	}
	lq.complete = complete
	return out, true
}

// hold makes rows the rows held.
func (lq *liveQuery) hold(rows []doc.Doc) {
	lq.rows = rows
	lq.names = make(map[string]struct{}, len(rows))
	for _, r := range rows {
		lq.names[rowName(r)] = struct{}{}
	}
}

// listExtra is how many rows past its page a live query holds: rows that leave the page are
// replaced from them, in memory. A page that starts after other rows holds none (its changes
// are read).
func listExtra(q doc.Query) int {
	if q.Start > 0 {
		return 0
	}
	return min(q.Limit, maxListExtra)
}

// maxListExtra bounds the rows held past a page: memory, and a larger first read.
const maxListExtra = 50

// shown is what the client sees of the rows held: the first limit, as they project.
func (lq *liveQuery) shown() []doc.Doc {
	rows := lq.rows[:min(len(lq.rows), lq.q.Limit)]
	out := make([]doc.Doc, len(rows))
	for i, r := range rows {
		out[i] = lq.live.Project(r)
	}
	return out
}

// readList prepares the query and reads its rows as its user, with their current roles. The
// offset is the fan-out's position before the read began: every change up to it is committed, so
// in the rows, and changes after it are applied after the read (those the read saw too apply as
// the same values again).
func (h *Hub) readList(lq *liveQuery) (*doc.LiveQuery, []doc.Doc, int64, error) {
	user, err := h.currentUser(lq.user)
	if err != nil {
		return nil, nil, 0, err
	}
	h.mu.Lock()
	offset := h.delivered
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var live *doc.LiveQuery
	var rows []doc.Doc
	err = h.e.Run(ctx, user, false, func(tx *doc.Context) error {
		var err error
		if live, err = tx.PrepareLive(lq.doctype, lq.q); err != nil {
			return err
		}
		read := live.Read
		read.Limit += listExtra(lq.q)
		rows, err = tx.List(lq.doctype, read)
		return err
	})
	if err != nil {
		return nil, nil, 0, err
	}
	// As a client gets them, and as list_update carries rows: numbers are float64.
	b, err := json.Marshal(rows)
	if err != nil {
		return nil, nil, 0, err
	}
	rows = nil
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, nil, 0, err
	}
	return live, rows, offset, nil
}

// deliver sends one list_change to the subscription's socket, unless the socket is gone or its
// credential revoked; a parked subscription holds it for its resume.
func (s *listSub) deliver(ch listChange) {
	h := s.lq.h
	h.mu.Lock()
	if s.parked {
		h.holdLocked(s, ch)
		h.mu.Unlock()
		return
	}
	c := s.c
	s.sent++
	stop := c.gone || c.ended
	off := h.delivered
	h.mu.Unlock()
	if !stop {
		_ = c.sock.Emit("list_change", ch, fmt.Sprint(off))
	}
}

// diffRows is what turns old into new, applied in order: removes, then for each position of new
// an insert, a move (with the row when it changed too) or an update.
func diffRows(old, new []doc.Doc) []listChange {
	var out []listChange
	inNew := make(map[string]bool, len(new))
	for _, r := range new {
		inNew[rowName(r)] = true
	}
	cur := make([]doc.Doc, 0, len(old))
	for _, r := range old {
		if inNew[rowName(r)] {
			cur = append(cur, r)
		} else {
			out = append(out, listChange{Op: "remove", Name: rowName(r)})
		}
	}
	for i, r := range new {
		name := rowName(r)
		idx := i
		if i < len(cur) && rowName(cur[i]) == name {
			if !reflect.DeepEqual(cur[i], r) {
				out = append(out, listChange{Op: "update", Name: name, Row: r, Index: &idx})
				cur[i] = r
			}
			continue
		}
		j := slices.IndexFunc(cur, func(x doc.Doc) bool { return rowName(x) == name })
		if j < 0 {
			out = append(out, listChange{Op: "insert", Name: name, Row: r, Index: &idx})
			cur = slices.Insert(cur, i, r)
			continue
		}
		ch := listChange{Op: "move", Name: name, Index: &idx}
		if !reflect.DeepEqual(cur[j], r) {
			ch.Row = r
		}
		out = append(out, ch)
		cur = slices.Delete(cur, j, j+1)
		cur = slices.Insert(cur, i, r)
	}
	return out
}

func rowName(r doc.Doc) string {
	s, _ := r["name"].(string)
	return s
}

func newListID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

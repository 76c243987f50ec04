package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime/socketio"
)

// Live lists (issue 15): list_subscribe({doctype, fields, filters, or_filters, order_by, limit,
// start}) answers {ok, id, rows, offset}, the rows the query returns for the socket's user read
// in one transaction with the log offset they are as of; afterwards list_change {id, offset, op,
// name, row, index} events keep the client's rows equal to what the query returns now.
//
// The design is the simple correct one: a committed change of the DocType (its list_update, seen
// by the fan-out in offset order on every node) marks each live query of that DocType dirty, and
// the query's own goroutine re-runs it (as the user, through doc.Context.List, so if_owner,
// permlevels and Permission Query scripts apply) and sends the difference with the rows it sent
// last. Sockets of one user asking the same query share it: one read per change, not one per
// socket. Subscriptions live with the socket: they are not kept for recovery, and a client
// subscribes again (a fresh snapshot) on every connection.

const (
	maxListsPerSocket = 50
	defaultListLimit  = 20
	maxListLimit      = 1000
)

// liveQuery is one distinct live query: one user, one query text. Its goroutine (run) is the only
// one that reads it and sends its changes, so they go out in order.
type liveQuery struct {
	key     string
	user    string
	doctype string
	q       doc.Query

	mu      sync.Mutex // after h.mu, never before it
	subs    map[*listSub]struct{}
	joins   []*listJoin // subscriptions waiting for their snapshot
	rows    []doc.Doc   // as last sent
	dirty   bool
	running bool
}

type listSub struct {
	id        string
	c         *conn
	lq        *liveQuery
	cancelled bool // guarded by lq.mu
}

type listJoin struct {
	sub *listSub
	ack socketio.Ack
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
	h.mu.Lock()
	name, cred := c.sess.user.Name, c.sess.cred
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	valid, err := h.auth.CredValid(ctx, name, cred)
	cancel()
	if err != nil {
		return fmt.Errorf("list_subscribe: your credentials could not be checked right now (%v); try again", err)
	}
	if !valid {
		return errors.New("the session has ended: log in again")
	}
	text, err := json.Marshal(q)
	if err != nil {
		return err
	}
	key := name + "\x00" + doctype + "\x00" + string(text)
	sub := &listSub{id: newListID(), c: c}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.gone || c.ended {
		return errors.New("disconnected")
	}
	if len(c.lists) >= maxListsPerSocket {
		return fmt.Errorf("list_subscribe: at most %d live lists per connection", maxListsPerSocket)
	}
	lq := h.lists[key]
	if lq == nil {
		lq = &liveQuery{key: key, user: name, doctype: doctype, q: q, subs: map[*listSub]struct{}{}}
		if h.lists == nil {
			h.lists = map[string]*liveQuery{}
			h.listsByType = map[string]map[*liveQuery]struct{}{}
		}
		h.lists[key] = lq
		if h.listsByType[doctype] == nil {
			h.listsByType[doctype] = map[*liveQuery]struct{}{}
		}
		h.listsByType[doctype][lq] = struct{}{}
	}
	sub.lq = lq
	if c.lists == nil {
		c.lists = map[string]*listSub{}
	}
	c.lists[sub.id] = sub
	if ack == nil {
		ack = func(...any) error { return nil }
	}
	lq.mu.Lock()
	lq.joins = append(lq.joins, &listJoin{sub: sub, ack: ack})
	h.kickLocked(lq)
	lq.mu.Unlock()
	return nil
}

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
	delete(sub.c.lists, sub.id)
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

// listsChangedLocked marks the live queries of doctype dirty: called by the fan-out, in offset
// order, for each committed change. It never blocks: each query re-reads on its own goroutine.
func (h *Hub) listsChangedLocked(doctype string) {
	for lq := range h.listsByType[doctype] {
		lq.mu.Lock()
		lq.dirty = true
		h.kickLocked(lq)
		lq.mu.Unlock()
	}
}

// kickLocked starts lq's goroutine if it is not running; with lq.mu held.
func (h *Hub) kickLocked(lq *liveQuery) {
	if !lq.running {
		lq.running = true
		go h.runList(lq)
	}
}

// runList re-reads lq while it is dirty or has subscriptions waiting: each round sends the
// difference with the rows sent last to its subscribers, then answers the waiting ones with the
// rows as they are now. Changes that come during a read are one more round; several may share it.
func (h *Hub) runList(lq *liveQuery) {
	for {
		lq.mu.Lock()
		if !lq.dirty && len(lq.joins) == 0 {
			lq.running = false
			lq.mu.Unlock()
			return
		}
		lq.dirty = false
		lq.mu.Unlock()

		rows, offset, err := h.readList(lq)

		lq.mu.Lock()
		joins := lq.joins
		lq.joins = nil
		var subs []*listSub
		if err == nil {
			for s := range lq.subs {
				subs = append(subs, s)
			}
			for _, j := range joins {
				if !j.sub.cancelled {
					lq.subs[j.sub] = struct{}{}
				}
			}
		}
		old := lq.rows
		if err == nil {
			lq.rows = rows
		}
		lq.mu.Unlock()

		if err != nil {
			h.log.Warn("realtime: a live list could not be read", "doctype", lq.doctype, "user", lq.user, "err", err)
			for _, j := range joins {
				_ = j.ack(map[string]any{"error": err.Error()})
				j.sub.c.emit("livedoc_error", map[string]any{"event": "list_subscribe", "error": err.Error()})
			}
			h.mu.Lock()
			for _, j := range joins {
				if j.sub.c.lists[j.sub.id] == j.sub {
					h.dropListSubLocked(j.sub)
				}
			}
			h.forgetIdleLocked(lq)
			h.mu.Unlock()
			if len(joins) == 0 {
				// Subscribers keep the rows they have; the query is read again on the next change,
				// or in a second.
				time.AfterFunc(time.Second, func() {
					h.mu.Lock()
					lq.mu.Lock()
					lq.dirty = true
					if len(lq.subs) > 0 {
						h.kickLocked(lq)
					}
					lq.mu.Unlock()
					h.mu.Unlock()
				})
				lq.mu.Lock()
				lq.running = false
				lq.mu.Unlock()
				return
			}
			continue
		}
		if len(subs) > 0 {
			for _, ch := range diffRows(old, rows) {
				for _, s := range subs {
					ch.ID, ch.Offset = s.id, offset
					s.c.emitLive("list_change", ch)
				}
			}
		}
		for _, j := range joins {
			if j.sub.cancelled {
				continue
			}
			_ = j.ack(map[string]any{"ok": true, "id": j.sub.id, "rows": nonNil(rows), "offset": offset})
		}
	}
}

func nonNil(rows []doc.Doc) []doc.Doc {
	if rows == nil {
		return []doc.Doc{}
	}
	return rows
}

// readList runs the query as its user, with their current roles, and reads the log offset in the
// same transaction: the rows are as of that offset.
func (h *Hub) readList(lq *liveQuery) ([]doc.Doc, int64, error) {
	user, err := h.currentUser(lq.user)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rows []doc.Doc
	var offset int64
	err = h.e.Run(ctx, user, false, func(tx *doc.Context) error {
		if err := tx.Tx.QueryRow(tx, "SELECT COALESCE(MAX(seq), 0) FROM __events").Scan(&offset); err != nil {
			return err
		}
		var err error
		rows, err = tx.List(lq.doctype, lq.q)
		return err
	})
	return rows, offset, err
}

// emitLive sends an unlogged event unless the socket is gone or its credential revoked.
func (c *conn) emitLive(event string, msg any) {
	c.h.mu.Lock()
	stop := c.gone || c.ended
	off := c.h.delivered
	c.h.mu.Unlock()
	if !stop {
		_ = c.sock.Emit(event, msg, fmt.Sprint(off))
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

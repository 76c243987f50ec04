package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Live values (issue 15), as the JS client's ld.live.doc and ld.live.list: a document or a
// list query's rows handed to a callback at once and after every change, with no re-read. A live
// document subscribes with doc_subscribe(doctype, name, {snapshot: true}): the ack carries the
// document and the log offset it is as of, and each later doc_update with a higher offset says
// what changed from which version (prev_modified, changed). A live list sends list_subscribe and
// applies the list_change events of its id. See docs/js-client.md.

// LiveOptions says how a live document reads itself when a change cannot be applied: one that
// comes without `changed` (too big, or fields not every reader sees), one from another version,
// or a reconnection whose session could not be recovered and whose re-subscription failed.
type LiveOptions struct {
	// BaseURL is the server's HTTP origin (http://host:port) for the GET of
	// /api/resource/<doctype>/<name>; the Client's URL when empty.
	BaseURL string
	// Header goes with that GET (Authorization: token key:secret, or a Cookie); when nil, the
	// Client's Auth token as Authorization, else its Header.
	Header http.Header
	// HTTPClient performs it; http.DefaultClient when nil.
	HTTPClient *http.Client
	// OnError hears what failed after the start: a refused re-subscription, a failed read.
	OnError func(error)
}

// ListQuery is list_subscribe's query, in frappe.client.get_list's shape and operators. Limit
// is 20 when 0, at most 1000.
type ListQuery struct {
	Doctype   string   `json:"doctype"`
	Fields    []string `json:"fields,omitempty"`
	Filters   any      `json:"filters,omitempty"`
	OrFilters any      `json:"or_filters,omitempty"`
	OrderBy   string   `json:"order_by,omitempty"`
	Limit     int      `json:"limit,omitempty"`
	Start     int      `json:"start,omitempty"`
}

// Live is a live document or list. Its callback runs on one goroutine of its own (the first
// call, the snapshot, on the caller's, before LiveDoc or LiveList returns), one call at a time.
// Values handed to it are not changed afterwards, and must not be changed by it.
type Live struct {
	c   *Client
	w   watcher
	ctx context.Context // cancelled by Close: ends a subscription in flight

	mu     sync.Mutex
	queue  []liveEvent
	wake   chan struct{} // one pending signal: the queue has events
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{}
}

// watcher is what a live document and a live list do with their events.
type watcher interface {
	subscribe(ctx context.Context) error // a fresh snapshot
	apply(ev liveEvent)
	reconnected(recovered bool)
	unsubscribe()
}

// liveEvent is a doc_update or list_change with the log offset it came at (-1: none), or a
// reconnection (connect).
type liveEvent struct {
	event     string
	msg       json.RawMessage
	offset    int64
	connect   bool
	recovered bool
}

// liveHub dispatches a Client's live events to its Lives; registered with the Client once, as
// its handlers cannot be removed.
type liveHub struct {
	mu    sync.Mutex
	lives map[*Live]struct{}
}

func (c *Client) liveHub() *liveHub {
	c.liveOnce.Do(func() {
		h := &liveHub{lives: make(map[*Live]struct{})}
		for _, event := range []string{"doc_update", "list_change"} {
			c.On(event, func(args []json.RawMessage) {
				if len(args) == 0 {
					return
				}
				// The offset was recorded before the handlers run: it is this event's.
				offset, err := strconv.ParseInt(c.LastOffset(), 10, 64)
				if err != nil {
					offset = -1
				}
				h.post(liveEvent{event: event, msg: args[0], offset: offset})
			})
		}
		c.OnConnect(func(recovered bool) { h.post(liveEvent{connect: true, recovered: recovered}) })
		c.lives = h
	})
	return c.lives
}

func (h *liveHub) post(ev liveEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for l := range h.lives {
		l.post(ev)
	}
}

func (h *liveHub) add(l *Live) {
	h.mu.Lock()
	h.lives[l] = struct{}{}
	h.mu.Unlock()
}

func (h *liveHub) remove(l *Live) {
	h.mu.Lock()
	delete(h.lives, l)
	h.mu.Unlock()
}

// post queues ev without blocking the Client's reader goroutine.
func (l *Live) post(ev liveEvent) {
	l.mu.Lock()
	l.queue = append(l.queue, ev)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func newLive(c *Client) *Live {
	ctx, cancel := context.WithCancel(c.ctx)
	return &Live{c: c, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// start subscribes (events that follow the answer are queued meanwhile) and runs the Live.
func (l *Live) start(ctx context.Context) (*Live, error) {
	hub := l.c.liveHub()
	hub.add(l)
	if err := l.w.subscribe(ctx); err != nil {
		hub.remove(l)
		l.cancel()
		return nil, err
	}
	go l.run()
	return l, nil
}

func (l *Live) run() {
	defer close(l.done)
	for {
		select {
		case <-l.ctx.Done():
			l.w.unsubscribe()
			return
		case <-l.wake:
		}
		l.mu.Lock()
		evs := l.queue
		l.queue = nil
		l.mu.Unlock()
		for _, ev := range evs {
			if l.ctx.Err() != nil {
				break
			}
			if ev.connect {
				l.w.reconnected(ev.recovered)
			} else {
				l.w.apply(ev)
			}
		}
	}
}

// Close stops the Live and unsubscribes; the callback is not called after it returns. It must
// not be called from the callback.
func (l *Live) Close() error {
	l.once.Do(func() {
		l.c.liveHub().remove(l)
		l.cancel()
	})
	<-l.done
	return nil
}

// ackObject is the first argument of an acknowledgement, or an error for a refusal.
func ackObject(res []json.RawMessage, what string, into any) error {
	if len(res) == 0 {
		return fmt.Errorf("%s: empty acknowledgement", what)
	}
	var refused struct {
		Error any `json:"error"`
	}
	if err := json.Unmarshal(res[0], &refused); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if refused.Error != nil {
		return fmt.Errorf("%s refused: %v", what, refused.Error)
	}
	return json.Unmarshal(res[0], into)
}

// ---- live documents ------------------------------------------------------------------------

// LiveDoc calls fn with the document as the client's user may read it: the snapshot before it
// returns, then after every change, patched from doc_update with no read. A change that cannot be
// applied costs one GET (o says where and how). A reconnection whose session was recovered
// replays what was missed; one that was not subscribes again for a fresh snapshot. c must be
// connected; a refused subscription (a missing or unreadable document) is the error.
func LiveDoc(ctx context.Context, c *Client, o LiveOptions, doctype, name string, fn func(doc map[string]any)) (*Live, error) {
	l := newLive(c)
	l.w = &liveDoc{l: l, o: o, doctype: doctype, name: name, fn: fn, since: -1}
	return l.start(ctx)
}

type liveDoc struct {
	l             *Live
	o             LiveOptions
	doctype, name string
	fn            func(map[string]any)
	doc           map[string]any
	since         int64 // the snapshot's offset: what is at or below it is in the copy already
}

func (d *liveDoc) subscribe(ctx context.Context) error {
	res, err := d.l.c.EmitWithAck(ctx, "doc_subscribe", d.doctype, d.name, map[string]any{"snapshot": true})
	if err != nil {
		return err
	}
	var ack struct {
		Doc    map[string]any `json:"doc"`
		Offset int64          `json:"offset"`
	}
	if err := ackObject(res, "doc_subscribe", &ack); err != nil {
		return err
	}
	if ack.Doc == nil {
		return errors.New("doc_subscribe: no snapshot in the acknowledgement")
	}
	d.doc, d.since = ack.Doc, ack.Offset
	d.fn(d.doc)
	return nil
}

func (d *liveDoc) apply(ev liveEvent) {
	if ev.event != "doc_update" {
		return
	}
	var m struct {
		Doctype  string         `json:"doctype"`
		Name     string         `json:"name"`
		Modified string         `json:"modified"`
		Prev     string         `json:"prev_modified"`
		Changed  map[string]any `json:"changed"`
	}
	if json.Unmarshal(ev.msg, &m) != nil || m.Doctype != d.doctype || m.Name != d.name {
		return
	}
	if ev.offset >= 0 && d.since >= 0 && ev.offset <= d.since {
		return
	}
	have, _ := d.doc["modified"].(string)
	if m.Modified != "" && m.Modified <= have {
		return // a version the copy has
	}
	if m.Changed != nil && m.Prev == have {
		next := maps.Clone(d.doc)
		maps.Copy(next, m.Changed)
		d.doc = next
		d.fn(next)
		return
	}
	d.read()
}

func (d *liveDoc) reconnected(recovered bool) {
	if recovered {
		return // the server replays what was missed
	}
	d.since = -1
	if err := d.subscribe(d.l.ctx); err != nil {
		if d.l.ctx.Err() != nil || errors.Is(err, ErrDisconnected) || errors.Is(err, ErrNotConnected) {
			return // closed, or the next connection subscribes again
		}
		d.fail(err)
		d.read()
	}
}

func (d *liveDoc) unsubscribe() {
	_ = d.l.c.Emit("doc_unsubscribe", d.doctype, d.name)
}

func (d *liveDoc) fail(err error) {
	if d.o.OnError != nil {
		d.o.OnError(err)
	}
}

// read GETs the document, as the user may read it.
func (d *liveDoc) read() {
	doc, err := d.get()
	if err != nil {
		if d.l.ctx.Err() == nil {
			d.fail(err)
		}
		return
	}
	d.doc = doc
	d.fn(doc)
}

func (d *liveDoc) get() (map[string]any, error) {
	c := d.l.c
	base := d.o.BaseURL
	if base == "" {
		base = c.opts.URL
	}
	base = strings.Replace(strings.Replace(base, "ws://", "http://", 1), "wss://", "https://", 1)
	u := strings.TrimSuffix(base, "/") + "/api/resource/" + url.PathEscape(d.doctype) + "/" + url.PathEscape(d.name)
	req, err := http.NewRequestWithContext(d.l.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	switch {
	case d.o.Header != nil:
		req.Header = d.o.Header.Clone()
	case c.opts.Auth["token"] != nil:
		req.Header.Set("Authorization", fmt.Sprint("token ", c.opts.Auth["token"]))
	case c.opts.Header != nil:
		req.Header = c.opts.Header.Clone()
	}
	req.Header.Set("Accept", "application/json")
	hc := d.o.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxMessageSize))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", u, resp.StatusCode, truncate(body))
	}
	var out struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Data == nil {
		return nil, fmt.Errorf("GET %s: not a document: %s", u, truncate(body))
	}
	return out.Data, nil
}

// ---- live lists ----------------------------------------------------------------------------

// LiveList calls fn with the rows q returns for the client's user (what frappe.client.get_list
// would): the snapshot before it returns, then after every change, from list_change events
// (insert, update, remove, move) with nothing read again. After a reconnection whose session was
// recovered the list resumes (the server sends the changes it held meanwhile); when it cannot
// (another node, too long away), or after a fresh session, it subscribes again for a fresh
// snapshot. c must be connected; a refused query (an unknown field, no permission) is the error.
// Of o, only OnError is used.
func LiveList(ctx context.Context, c *Client, o LiveOptions, q ListQuery, fn func(rows []map[string]any)) (*Live, error) {
	l := newLive(c)
	l.w = &liveList{l: l, q: q, fn: fn, onError: o.OnError}
	return l.start(ctx)
}

type liveList struct {
	l        *Live
	q        ListQuery
	fn       func([]map[string]any)
	onError  func(error)
	id       string // the subscription
	received int    // list_change received for id: a resume must have them all
	rows     []map[string]any
}

// resumeQuery is list_subscribe's argument resuming a list after a recovered reconnection.
type resumeQuery struct {
	ListQuery
	Resume   string `json:"resume"`
	Received int    `json:"received"`
}

// subscribe asks for a fresh snapshot, or with resume for the list to go on where it was.
func (ll *liveList) subscribe(ctx context.Context) error { return ll.ask(ctx, false) }

func (ll *liveList) ask(ctx context.Context, resume bool) error {
	var arg any = ll.q
	if resume && ll.id != "" {
		arg = resumeQuery{ListQuery: ll.q, Resume: ll.id, Received: ll.received}
	}
	ll.id = ""
	res, err := ll.l.c.EmitWithAck(ctx, "list_subscribe", arg)
	if err != nil {
		return err
	}
	var ack struct {
		ID      string           `json:"id"`
		Rows    []map[string]any `json:"rows"`
		Resumed bool             `json:"resumed"`
	}
	if err := ackObject(res, "list_subscribe", &ack); err != nil {
		return err
	}
	if ack.Resumed && resume {
		// The changes held meanwhile follow the answer, in order.
		ll.id = ack.ID
		return nil
	}
	if ack.ID == "" || ack.Rows == nil {
		return errors.New("list_subscribe: no id or rows in the acknowledgement")
	}
	ll.id, ll.rows, ll.received = ack.ID, ack.Rows, 0
	ll.fn(slices.Clone(ll.rows))
	return nil
}

func (ll *liveList) apply(ev liveEvent) {
	if ev.event != "list_change" || ll.id == "" {
		return
	}
	var m struct {
		ID    string         `json:"id"`
		Op    string         `json:"op"`
		Name  string         `json:"name"`
		Row   map[string]any `json:"row"`
		Index int            `json:"index"`
	}
	if json.Unmarshal(ev.msg, &m) != nil || m.ID != ll.id {
		return
	}
	ll.received++
	i := slices.IndexFunc(ll.rows, func(r map[string]any) bool { return r["name"] == m.Name })
	rows := slices.Clone(ll.rows) // the slices handed out stay as they were
	at := func(j int) int { return max(0, min(j, len(rows))) }
	switch m.Op {
	case "remove":
		if i < 0 {
			return
		}
		rows = slices.Delete(rows, i, i+1)
	case "insert":
		rows = slices.Insert(rows, at(m.Index), m.Row)
	case "update":
		if i < 0 {
			return
		}
		rows[i] = m.Row
	case "move":
		if i < 0 {
			return
		}
		row := rows[i]
		if m.Row != nil {
			row = m.Row
		}
		rows = slices.Delete(rows, i, i+1)
		rows = slices.Insert(rows, at(m.Index), row)
	default:
		return
	}
	ll.rows = rows
	ll.fn(slices.Clone(rows))
}

// reconnected resumes the list after a recovered reconnection, else subscribes again: the
// server forgot the list with the old session.
func (ll *liveList) reconnected(recovered bool) {
	if err := ll.ask(ll.l.ctx, recovered); err != nil && ll.l.ctx.Err() == nil &&
		!errors.Is(err, ErrDisconnected) && !errors.Is(err, ErrNotConnected) && ll.onError != nil {
		ll.onError(err)
	}
}

func (ll *liveList) unsubscribe() {
	if ll.id != "" {
		_ = ll.l.c.Emit("list_unsubscribe", ll.id)
	}
}

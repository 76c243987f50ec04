// Package realtime delivers events to browsers the moment data changes: Frappe's rooms and events
// over Socket.IO (and Server-Sent Events), with publishing bound to the commit and nothing lost
// across reconnects.
//
// The path of an event:
//
//	Publish (hook or method, in a transaction) → pending in the transaction
//	  → before commit: appended to the event log, same transaction, gets its offset
//	  → after commit: handed to the bus (in-process, or Redis across nodes)
//	  → the hub's fan-out: in offset order, encoded once, the same bytes queued to every socket
//	    in the room; the offset rides along as the last argument (Socket.IO's recovery offset)
//
// A socket that reconnects with its pid and last offset within the recovery window gets its rooms
// back and every event it missed, from the log, before any live one.
package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/internal/origin"
	"github.com/livedoc/livedoc/realtime/socketio"
)

// Options configure a Hub.
type Options struct {
	Site           string   // the namespace "/<Site>" is served besides "/"; default "livedoc"
	AllowedOrigins []string // more browser Origins allowed to connect than the request's own host
	// AllowSameHostname lets pages on the request's hostname but another port (or scheme) connect,
	// as Frappe does: its developer mode and frappe-react-sdk's socketPort put the socket there.
	AllowSameHostname bool
	RecoveryWindow    time.Duration // how long a disconnected session can be recovered; default 2 minutes
	SendQueueBytes    int           // per-connection send queue; default 1 MiB
	LogMaxAge         time.Duration // default DefaultLogMaxAge
	LogMaxRows        int64         // default DefaultLogMaxRows
	Bus               Bus           // default: in-process
	Logger            *slog.Logger

	// Limits on what one client can hold: 0 means the default, a negative value no limit. A client
	// address is the TCP peer's (a reverse proxy counts as one address).
	//
	// MaxConnectionsPerAddr: Engine.IO connections open at once per client address (default
	// socketio.DefaultMaxConnectionsPerAddr). MaxSocketsPerUser: sockets connected at once per
	// user, Guests counted per client address (default DefaultMaxSocketsPerUser); as many of a
	// user's disconnected sessions are kept for recovery, the oldest forgotten first.
	// HandshakeRate and HandshakeBurst: Engine.IO handshakes per second per client address, as a
	// token bucket (defaults socketio.DefaultHandshakeRate and DefaultHandshakeBurst).
	MaxConnectionsPerAddr int
	MaxSocketsPerUser     int
	HandshakeRate         float64
	HandshakeBurst        int
}

// DefaultMaxSocketsPerUser is Options.MaxSocketsPerUser's default: far more tabs than a person
// opens, few enough that one account (or one address as Guest) cannot fill the server's memory.
const DefaultMaxSocketsPerUser = 1000

// Hub is the realtime server of one node.
type Hub struct {
	opts     Options
	e        *doc.Engine
	auth     *auth.Service
	log      *slog.Logger
	elog     *Log
	bus      Bus
	sio      *socketio.Server
	metrics  *metrics
	tasks    *taskRegistry
	presence Presence // shared with other nodes; nil: this node's sessions are all there is
	origins  origin.Policy

	queue chan batch     // committed events waiting for fan-out, in commit order per sender
	out   socketio.Batch // the fan-out goroutine's writes, flushed after each round

	mu        sync.Mutex
	rooms     map[string]map[subscriber]struct{}
	delivered int64           // offset of the last logged event fanned out
	held      map[int64]Event // logged events that arrived ahead of a missing offset
	heldSince time.Time
	sessions  map[string]*session // by pid: connected, or disconnected within the recovery window
	node      string              // this node's row in __rt_nodes

	publishFailing rateLimit                // one ERROR per period while the bus fails
	recheckUsers   []string                 // users whose rights the fan-out waits to re-check (settle)
	dirty          map[string]*session      // sessions to write to __rt_sessions; nil: to delete from it
	users          map[string]*userSessions // by userKey
	streams        map[*sseStream]struct{}

	saves sessionSaves

	watchers map[string][]func(name string) // by DocType (Watch)

	lists       map[string]*liveQuery              // live lists by user and query (livelist.go)
	listsByType map[string]map[*liveQuery]struct{} // the same, by DocType

	stop chan struct{}
	done sync.WaitGroup
}

// Target says where an event goes, as the arguments of Frappe's publish_realtime.
type Target struct {
	Room    string
	User    string
	DocType string
	DocName string
	TaskID  string
}

// New starts a hub on e: it creates the event log, plugs publishing into every write transaction,
// and sends doc_update / list_update / doc_rename for every committed document change.
func New(ctx context.Context, e *doc.Engine, a *auth.Service, opts Options) (*Hub, error) {
	if opts.Site == "" {
		opts.Site = "livedoc"
	}
	if opts.RecoveryWindow <= 0 {
		opts.RecoveryWindow = 2 * time.Minute
	}
	if opts.LogMaxAge <= 0 {
		opts.LogMaxAge = DefaultLogMaxAge
	}
	if opts.LogMaxAge < 2*opts.RecoveryWindow {
		opts.LogMaxAge = 2 * opts.RecoveryWindow
	}
	if opts.LogMaxRows <= 0 {
		opts.LogMaxRows = DefaultLogMaxRows
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxSocketsPerUser == 0 {
		opts.MaxSocketsPerUser = DefaultMaxSocketsPerUser
	}
	elog, err := newLog(ctx, e)
	if err != nil {
		return nil, err
	}
	h := &Hub{opts: opts, e: e, auth: a, log: opts.Logger, elog: elog, metrics: newMetrics(), tasks: newTaskRegistry(),
		queue: make(chan batch, 4096), rooms: map[string]map[subscriber]struct{}{},
		held: map[int64]Event{}, sessions: map[string]*session{}, users: map[string]*userSessions{},
		streams: map[*sseStream]struct{}{}, stop: make(chan struct{}), publishFailing: rateLimit{every: 10 * time.Second},
		saves: sessionSaves{kick: make(chan struct{}, 1)}}
	h.bus = opts.Bus
	if h.bus == nil {
		h.bus = NewLocalBus()
	}
	if p, ok := h.bus.(Presence); ok {
		h.presence = p
	}
	// On the bus before the log's position is read: what other nodes commit meanwhile is queued
	// for the fan-out (which drops what the position already covers) instead of missed, and
	// delivered only after a gap fill a quarter of a second later.
	h.bus.Subscribe(h.enqueue)
	fail := func(err error) (*Hub, error) {
		close(h.stop) // enqueue waits no more
		return nil, err
	}
	if h.delivered, err = elog.settledLast(ctx); err != nil {
		return fail(err)
	}
	if err := h.createSessionTable(ctx); err != nil {
		return fail(err)
	}
	h.node = newPID()
	if err := h.markAlive(ctx); err != nil {
		return fail(err)
	}
	if err := h.loadSessions(ctx); err != nil {
		return fail(err)
	}
	h.origins = origin.Policy{Allowed: opts.AllowedOrigins, SameHostname: opts.AllowSameHostname}
	h.sio = socketio.NewServer(socketio.Options{
		SendQueueBytes:        opts.SendQueueBytes,
		MaxConnectionsPerAddr: opts.MaxConnectionsPerAddr,
		HandshakeRate:         opts.HandshakeRate,
		HandshakeBurst:        opts.HandshakeBurst,
		CheckRequest:          h.origins.Check,
		Connect:               h.connect,
		OnConnect:             h.onConnect,
		OnEvent:               h.onEvent,
		OnDisconnect:          h.onDisconnect,
	})
	e.BeforeCommit(h.beforeCommit)
	a.OnRevoke(h.revoked)
	h.done.Add(3)
	go h.fanoutLoop()
	go h.maintain()
	go h.sessionWriter()
	return h, nil
}

// Close stops the hub and disconnects every socket.
func (h *Hub) Close() {
	select {
	case <-h.stop:
		return
	default:
	}
	close(h.stop)
	h.sio.Close()
	h.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.flushSessions(ctx) // the sockets closed above can recover on the next start (a failure is logged)
}

// Publish is Frappe's publish_realtime. With afterCommit the event is sent once the transaction
// commits (and never if it rolls back), identical events of one transaction once, and it is
// logged for recovery; without, it is sent at once and not logged.
func (h *Hub) Publish(c *doc.Context, event string, message any, t Target, afterCommit bool) error {
	if event == "" || len(event) > 200 || strings.ContainsFunc(event, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return doc.Errorf(doc.ValidationError, "publish: the event name must be 1 to 200 printable characters")
	}
	room, message, immediate := h.route(c, event, message, t)
	if reservedRoom(room) {
		return doc.Errorf(doc.ValidationError, "publish: invalid room %q (rooms named __... are livedoc's own)", room)
	}
	msg, err := json.Marshal(message)
	if err != nil {
		return doc.Errorf(doc.ValidationError, "publish %s: message is not JSON: %v", event, err)
	}
	ev := Event{Room: room, Event: event, Message: msg}
	if id, ok := strings.CutPrefix(room, taskRoomPrefix); ok {
		ev.Owner = h.taskOwner(id, c.User.Name)
	}
	if immediate || !afterCommit {
		return h.publishNow(c, ev)
	}
	if !c.Tx.Writable() {
		return nil // a read-only transaction never commits: its after-commit events are dropped, as on rollback
	}
	p := pendingOf(c)
	for _, q := range p.events {
		if q.Event == ev.Event && q.Room == ev.Room && string(q.Message) == string(ev.Message) {
			return nil
		}
	}
	p.events = append(p.events, ev)
	return nil
}

// Watch calls fn with the name of every committed change of a document of doctype, on every
// node, in commit order (the fan-out's list_update): how Server Scripts and jobs learn of changes
// made on other nodes. fn runs on the fan-out goroutine before later events are delivered, so
// what it installs decides them; it must be quick.
func (h *Hub) Watch(doctype string, fn func(name string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watchers == nil {
		h.watchers = map[string][]func(string){}
	}
	h.watchers[doctype] = append(h.watchers[doctype], fn)
}

// Msgprint shows a message to a user (the session user when user is ""), after the commit.
func (h *Hub) Msgprint(c *doc.Context, message, title, indicator, user string) error {
	return h.Publish(c, "msgprint", map[string]any{"message": message, "title": title, "indicator": indicator, "alert": 1},
		Target{User: user}, true)
}

// PublishProgress reports progress of a task (t.TaskID) or on a document (t.DocType, t.DocName).
func (h *Hub) PublishProgress(c *doc.Context, percent float64, title, description string, t Target) error {
	return h.Publish(c, "progress", map[string]any{"percent": percent, "title": title, "description": description}, t, false)
}

// NewTask registers a background task of the context's user and returns its id; its progress
// reaches only that user, whoever publishes it.
func (h *Hub) NewTask(c *doc.Context) string { return h.tasks.add(c.User.Name) }

const taskRoomPrefix = "task_progress:"

// taskOwner is whose a task's events are: the user who registered it with NewTask, else the user
// publishing them (a client-made id belongs to whoever's requests report on it).
func (h *Hub) taskOwner(id, publisher string) string {
	if u := h.tasks.owner(id); u != "" {
		return u
	}
	return publisher
}

// route applies Frappe's precedence: list_update → doctype:, docinfo_update → doc:, msgprint with
// no user → the session user; then an explicit room, task_id (sent at once, task_id added to the
// message), user, doctype+docname, and otherwise all.
func (h *Hub) route(c *doc.Context, event string, message any, t Target) (room string, msg any, immediate bool) {
	fromMsg := func(k string) string {
		if m, ok := message.(map[string]any); ok {
			if s, ok := m[k].(string); ok {
				return s
			}
		}
		return ""
	}
	switch {
	case event == "list_update":
		dt := t.DocType
		if dt == "" {
			dt = fromMsg("doctype")
		}
		return "doctype:" + dt, message, false
	case event == "docinfo_update":
		return docRoom(t.DocType, t.DocName), message, false
	case event == "msgprint" && t.User == "" && t.Room == "":
		return "user:" + c.User.Name, message, false
	case t.Room != "":
		return t.Room, message, false
	case t.TaskID != "":
		if m, ok := message.(map[string]any); ok {
			cp := make(map[string]any, len(m)+1)
			for k, v := range m {
				cp[k] = v
			}
			cp["task_id"] = t.TaskID
			message = cp
		}
		return taskRoomPrefix + t.TaskID, message, true
	case t.User != "":
		return "user:" + t.User, message, false
	case t.DocType != "" && t.DocName != "":
		return docRoom(t.DocType, t.DocName), message, false
	}
	return "all", message, false
}

func docRoom(doctype, name string) string { return "doc:" + doctype + "/" + name }

// publishNow sends an immediate event through the bus. It is not logged: it carries the offset of
// the last logged event, so a client that recovers from it still misses nothing that was logged.
func (h *Hub) publishNow(ctx context.Context, ev Event) error {
	if err := h.bus.Publish(ctx, []Event{ev}); err != nil {
		h.metrics.publishErrors.Inc()
		h.metrics.busDown.Set(1)
		return fmt.Errorf("publish %s: %w", ev.Event, err)
	}
	h.metrics.published.Add(1)
	return nil
}

type pendingKey struct{}

type pending struct{ events []Event }

func pendingOf(c *doc.Context) *pending {
	if p, ok := c.Local(pendingKey{}).(*pending); ok {
		return p
	}
	p := &pending{}
	c.SetLocal(pendingKey{}, p)
	return p
}

// beforeCommit runs inside every write transaction just before COMMIT: the automatic document
// events and everything published after-commit go into the log, in this transaction; the bus gets
// them only after the commit.
func (h *Hub) beforeCommit(c *doc.Context) error {
	p := pendingOf(c)
	events := append(docEvents(c), p.events...)
	if len(events) == 0 {
		return nil
	}
	if err := h.elog.append(c, events); err != nil {
		return err
	}
	c.AfterCommit(func() {
		if err := h.bus.Publish(context.Background(), events); err != nil {
			// Committed and logged: clients recover it from the log; the bus retries (Redis) or this
			// node's fan-out fills the gap from the log.
			h.metrics.publishErrors.Inc()
			h.metrics.busDown.Set(1)
			if n, ok := h.publishFailing.allow(); ok {
				h.log.Error("realtime bus publish failed", "err", err, "events", len(events), "failures_not_logged", n)
			}
		}
		h.metrics.published.Add(float64(len(events)))
	})
	return nil
}

// docEvents are Frappe's notify_update events for the transaction's committed document changes:
// doc_update to doc:, list_update to doctype: (not for child or single DocTypes), doc_rename.
func docEvents(c *doc.Context) []Event {
	var out []Event
	for _, ch := range c.Changes() {
		if ch.IsTable {
			continue
		}
		if ch.Action == "rename" {
			msg, _ := json.Marshal(map[string]any{"doctype": ch.DocType, "old": ch.OldName, "new": ch.Name})
			out = append(out, Event{Room: docRoom(ch.DocType, ch.OldName), Event: "doc_rename", Message: msg,
				DocType: ch.DocType, Owner: ch.Owner})
			continue
		}
		msg, _ := json.Marshal(docUpdate{ch.DocType, ch.Name, ch.Modified, ch.Prev, ch.Changed})
		out = append(out, Event{Room: docRoom(ch.DocType, ch.Name), Event: "doc_update", Message: msg,
			DocType: ch.DocType, Owner: ch.Owner})
		if !ch.IsSingle {
			msg := listUpdateMessage(ch, c.User.Name)
			out = append(out, Event{Room: "doctype:" + ch.DocType, Event: "list_update", Message: msg,
				DocType: ch.DocType, Owner: ch.Owner})
		}
	}
	return out
}

// docUpdate and listUpdate are the payloads of doc_update and list_update (structs rather than
// maps: every save encodes both; as maps they were 3% of the server at 3,000 saves/s).
type docUpdate struct {
	DocType  string         `json:"doctype"`
	Name     string         `json:"name"`
	Modified string         `json:"modified"`
	Prev     string         `json:"prev_modified,omitempty"` // the version Changed applies to
	Changed  map[string]any `json:"changed,omitempty"`
}

type listUpdate struct {
	DocType string     `json:"doctype"`
	Name    string     `json:"name"`
	User    string     `json:"user"`
	Live    *rowChange `json:"live,omitempty"` // for live lists, in the log and on the bus only (outEvent.message)
}

// listUpdateMessage is a change's list_update, with its row for live lists unless that is too big.
func listUpdateMessage(ch doc.Change, user string) json.RawMessage {
	m := listUpdate{DocType: ch.DocType, Name: ch.Name, User: user}
	plain, _ := json.Marshal(m)
	if ch.Row == nil {
		return plain
	}
	live := &rowChange{Op: "insert", Row: ch.Row, Before: ch.Before}
	switch {
	case ch.Action == "delete":
		live.Op = "delete"
	case ch.Before != nil:
		live.Op = "update"
	}
	msg := append(plain[:len(plain)-1:len(plain)-1], `,"live":`...)
	msg, err := appendRowChange(msg, live)
	if err != nil || len(msg)+1 > maxRowChange {
		return plain
	}
	return append(msg, '}')
}

// enqueue is the bus's delivery into this node.
func (h *Hub) enqueue(events []Event) {
	select {
	case h.queue <- batch{events: events, at: time.Now()}:
	case <-h.stop:
	}
}

// Health is nil while the bus carries events; an error means the node is degraded: it still
// serves its own sockets, and events of other nodes reach it from the log, later.
func (h *Hub) Health(ctx context.Context) error { return h.bus.Health(ctx) }

// Handler serves Socket.IO at /socket.io/, with CORS for the allowed Origins (preflights
// included), so a page of another allowed origin can hold a socket here.
func (h *Hub) Handler() http.Handler { return h.origins.Handler(h.sio) }

// namespaces served: "/" and "/<site>".
func (h *Hub) namespaceOK(ns string) bool {
	return ns == "/" || ns == "/"+h.opts.Site
}

var autoRooms = []string{"website", "all"}

func isAutoRoom(room string) bool {
	return slices.Contains(autoRooms, room) || strings.HasPrefix(room, "user:")
}

package realtime

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime/socketio"
)

// session is what connection-state recovery restores: the user, the rooms with their reference
// counts, and the documents open for presence. It outlives its socket by the recovery window.
type session struct {
	pid     string
	user    *doc.User // with the roles last checked; guarded by h.mu
	cred    string    // the credential it was opened with (auth.Identity.Cred): a recovery needs the same
	ns      string
	rooms   map[string]int  // room → how many subscriptions hold it (auto rooms: 1)
	open    map[string]bool // open_doc rooms this session opened
	start   int64           // the log position when the session began
	conn    *conn           // nil while disconnected
	leftAt  time.Time
	restore *restore // set between a recovering CONNECT and its OnConnect
	// A renamed document's rooms move to its new name: moved marks the new rooms (a subscribe to
	// one holds nothing more), former keeps each old room with the offset of the rename, so a
	// recovery still replays what the old room got up to then, and nothing after.
	moved  map[string]bool
	former map[string]int64
	// deltas are the doc: rooms subscribed with {snapshot: true}: their doc_update carries what
	// changed. Not stored: a session restored elsewhere gets Frappe's doc_update, and its client
	// reads the document, as without deltas.
	deltas map[string]bool
	// lists are the live lists of its last socket, parked until a recovery resumes them
	// (livelist_resume.go); on this node only. Guarded by h.mu.
	lists map[string]*listSub

	key  string        // whose sessions it counts among (userKey)
	kept *list.Element // in users[key].kept while disconnected
}

// userSessions is what one user (Guests: one client address) holds: sockets connected or being
// connected, and disconnected sessions kept for recovery, oldest first. Both are capped by
// Options.MaxSocketsPerUser, so a client that connects over and over holds a bounded share of
// memory (and of __rt_sessions rows).
type userSessions struct {
	sockets int
	kept    list.List // of *session
}

// userKey is whom a connection counts against: the user, or for Guests (who all share the name)
// the client address, so that one anonymous client cannot use up every Guest's share.
func (h *Hub) userKey(user string, r *http.Request) string {
	if user == doc.Guest {
		return doc.Guest + "\x00" + h.sio.ClientAddr(r)
	}
	return user
}

func (h *Hub) userLocked(key string) *userSessions {
	u := h.users[key]
	if u == nil {
		u = &userSessions{}
		h.users[key] = u
	}
	return u
}

func (h *Hub) forgetUserLocked(key string, u *userSessions) {
	if u.sockets == 0 && u.kept.Len() == 0 {
		delete(h.users, key)
	}
}

// reserveSocket counts a socket being connected against its user's cap, or refuses it.
func (h *Hub) reserveSocket(key, user string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.userLocked(key)
	if limit := h.opts.MaxSocketsPerUser; limit > 0 && u.sockets >= limit {
		h.forgetUserLocked(key, u)
		if user == doc.Guest {
			return fmt.Errorf("too many Guest connections from this address (limit %d)", limit)
		}
		return fmt.Errorf("too many connections for user %s (limit %d): close some first", user, limit)
	}
	u.sockets++
	return nil
}

func (h *Hub) releaseSocketLocked(key string) {
	if u := h.users[key]; u != nil {
		u.sockets--
		h.forgetUserLocked(key, u)
	}
}

// keepLocked keeps a disconnected session for recovery; past the cap the user's oldest one is
// forgotten (its client, should it come back, starts fresh and reloads).
func (h *Hub) keepLocked(s *session) {
	if s.kept != nil {
		return
	}
	u := h.userLocked(s.key)
	s.kept = u.kept.PushBack(s)
	for limit := h.opts.MaxSocketsPerUser; limit > 0 && u.kept.Len() > limit; {
		old := u.kept.Remove(u.kept.Front()).(*session)
		old.kept = nil
		h.dropParkedLocked(old)
		if h.sessions[old.pid] == old {
			delete(h.sessions, old.pid)
			if old.user.Name != doc.Guest {
				h.markDirtyLocked(old)
				h.dirty[old.pid] = nil
			}
		}
	}
}

// unkeepLocked takes a session off its user's kept list: connected again, or expired.
func (h *Hub) unkeepLocked(s *session) {
	if s.kept == nil {
		return
	}
	if u := h.users[s.key]; u != nil {
		u.kept.Remove(s.kept)
		h.forgetUserLocked(s.key, u)
	}
	s.kept = nil
}

type restore struct {
	after, upto int64
	events      []Event
}

// conn is one connected socket.
type conn struct {
	h         *Hub
	sock      *socketio.Socket
	sess      *session
	replaying bool        // recovery replay in progress: live events wait in pending
	pending   []*outEvent // guarded by h.mu
	gone      bool
	ended     bool                // its credential was revoked: it gets nothing more while it is being disconnected
	lists     map[string]*listSub // live lists by id (list_subscribe); guarded by h.mu
}

func (c *conn) userName() string { return c.sess.user.Name }

func (c *conn) viewer() *doc.User { return c.sess.user }

// deliver queues an event to the socket; it never blocks. Called with h.mu held.
func (c *conn) deliver(ev *outEvent) {
	if c.ended {
		return
	}
	if c.replaying {
		c.pending = append(c.pending, ev)
		return
	}
	c.sendIn(ev, &c.h.out, c.sess.deltas[ev.Room])
}

// sendIn sends ev, in batch b if not nil (written on its Flush); with delta, a doc_update as the
// live documents of livedoc's clients take it (with what changed), else as Frappe sends it.
func (c *conn) sendIn(ev *outEvent, b *socketio.Batch, delta bool) {
	p, err := ev.packet(delta)
	if err == nil {
		err = c.sock.SendBatched(p, b)
	}
	if err != nil {
		if errors.Is(err, socketio.ErrSlowConsumer) {
			c.h.metrics.queueDrops.Inc()
		}
		return
	}
	c.h.metrics.delivered.Inc()
}

// connectData travels from Connect to OnConnect on the socket.
type connectData struct {
	sess    *session
	fresh   bool
	conn    *conn
	dropped bool   // disconnected before OnConnect registered it
	key     string // the userKey the socket is counted under until it disconnects
}

// connect authorises a namespace CONNECT: who the user is (the handshake's cookie or
// Authorization header, or a token in the auth payload), and whether a session can be recovered.
func (h *Hub) connect(r *socketio.ConnectRequest) (*socketio.ConnectReply, error) {
	if !h.namespaceOK(r.Namespace) {
		return nil, socketio.ErrInvalidNamespace
	}
	var payload struct {
		Token  string `json:"token"`
		PID    string `json:"pid"`
		Offset string `json:"offset"`
	}
	if len(r.Auth) > 0 {
		if err := json.Unmarshal(r.Auth, &payload); err != nil {
			return nil, errors.New("the auth payload must be a JSON object")
		}
	}
	var id *auth.Identity
	var err error
	if payload.Token != "" {
		id, err = h.auth.AuthenticateToken(r.HTTP.Context(), payload.Token)
	} else {
		id, err = h.auth.Authenticate(r.HTTP)
	}
	if err != nil {
		if e, ok := doc.AsError(err); ok {
			return nil, errors.New(e.Message)
		}
		return nil, errors.New("authentication failed")
	}
	// From here on the CONNECT is accepted: OnDisconnect gives the place back.
	key := h.userKey(id.User.Name, r.HTTP)
	if err := h.reserveSocket(key, id.User.Name); err != nil {
		return nil, err
	}
	if payload.PID != "" {
		if sess := h.recoverable(r, id, payload.PID, payload.Offset); sess != nil {
			data := &connectData{sess: sess, key: key}
			return &socketio.ConnectReply{Data: data, PID: sess.pid}, nil
		}
	}
	h.mu.Lock()
	start := h.delivered
	h.mu.Unlock()
	sess := &session{pid: newPID(), user: id.User, cred: id.Cred(), ns: r.Namespace, rooms: map[string]int{}, open: map[string]bool{}, start: start, key: key}
	for _, room := range autoRoomsOf(id.User) {
		sess.rooms[room] = 1
	}
	return &socketio.ConnectReply{Data: &connectData{sess: sess, fresh: true, key: key}, PID: sess.pid}, nil
}

// autoRoomsOf are the rooms a socket is in from the start: the user's own, website, and all for
// System Users.
func autoRoomsOf(u *doc.User) []string {
	rooms := []string{"website"}
	if u.Name != doc.Guest {
		rooms = append(rooms, "user:"+u.Name)
	}
	if u.UserType == doc.SystemUser && u.Name != doc.Guest {
		rooms = append(rooms, "all")
	}
	return rooms
}

// maxReplay bounds a recovery: a client that missed more reloads instead.
const maxReplay = 10_000

// recoverable returns the session to restore for a reconnect with pid and offset, with the missed
// events already read from the log, or nil when it must start fresh: unknown or expired pid,
// another user or credential (a session logged out, or logged in anew, starts fresh), or events
// no longer in the log. The rooms are checked again against the user's rights now, and the replay
// holds only what the user may read now.
func (h *Hub) recoverable(r *socketio.ConnectRequest, id *auth.Identity, pid, offset string) *session {
	user := id.User
	h.mu.Lock()
	sess := h.sessions[pid]
	if sess == nil {
		h.mu.Unlock()
		sess = h.loadSession(r.HTTP.Context(), pid) // saved by another node, or before a restart
		h.mu.Lock()
		if sess != nil && h.sessions[pid] == nil {
			h.sessions[pid] = sess
			h.keepLocked(sess)
		}
		sess = h.sessions[pid]
	}
	if sess == nil || sess.user.Name != user.Name || sess.cred != id.Cred() || sess.ns != r.Namespace ||
		(sess.conn == nil && time.Since(sess.leftAt) > h.opts.RecoveryWindow) {
		h.mu.Unlock()
		return nil
	}
	// Every event this hub sends carries an offset, so a client with none has received nothing
	// since its session began: it resumes from there. Nor did it miss anything from before.
	after := sess.start
	if offset != "" {
		var err error
		if after, err = strconv.ParseInt(offset, 10, 64); err != nil || after < 0 {
			h.mu.Unlock()
			return nil
		}
		after = max(after, sess.start)
	}
	rooms := sess.roomList()
	h.mu.Unlock()
	// Rights may have changed while the client was away: its rooms are what it may join now.
	var lost []string
	for _, room := range rooms {
		if !isAutoRoom(room) && h.canJoin(user, room) != nil {
			lost = append(lost, room)
		}
	}
	h.mu.Lock()
	for _, room := range lost {
		delete(sess.rooms, room)
		delete(sess.open, room)
	}
	for room := range sess.rooms {
		if isAutoRoom(room) && !slices.Contains(autoRoomsOf(user), room) {
			delete(sess.rooms, room)
		}
	}
	sess.user = user
	upto := h.delivered
	rooms = sess.replayRooms()
	h.markDirtyLocked(sess)
	h.mu.Unlock()
	events, err := h.elog.since(r.HTTP.Context(), after, upto, rooms, maxReplay)
	if err != nil {
		if !errors.Is(err, errTooOld) {
			h.log.Error("recovery: reading the missed events failed; the client starts afresh and reloads", "pid", pid, "err", err)
		}
		h.metrics.recoveries.WithLabelValues("failed").Inc()
		return nil
	}
	h.mu.Lock()
	sess.restore = &restore{after: after, upto: upto, events: events}
	h.mu.Unlock()
	return sess
}

// replayRooms are the rooms a recovery reads from the log: the session's, and those it left
// when a document was renamed (replayable filters what they got after that).
func (s *session) replayRooms() []string {
	out := s.roomList()
	for r := range s.former {
		if s.rooms[r] == 0 {
			out = append(out, r)
		}
	}
	return out
}

// replayable reports whether a logged event belongs in this session's replay: not one a room got
// after the session moved away from it, and only what the user may read now.
func (h *Hub) replayable(s *session, ev *Event) bool {
	if at, ok := s.former[ev.Room]; ok && s.rooms[ev.Room] == 0 && ev.Offset > at {
		return false
	}
	return h.mayReceive(ev, s.user)
}

func (s *session) roomList() []string {
	out := make([]string, 0, len(s.rooms))
	for r := range s.rooms {
		out = append(out, r)
	}
	return out
}

// onConnect registers the socket in its session's rooms. A recovered socket first gets every event
// it missed, in order; live events that arrive meanwhile wait and follow, so none is lost or sent
// twice.
func (h *Hub) onConnect(s *socketio.Socket) {
	data := s.Data().(*connectData)
	c := &conn{h: h, sock: s, sess: data.sess}
	h.mu.Lock()
	if data.dropped {
		h.mu.Unlock()
		return
	}
	data.conn = c
	sess := data.sess
	old := sess.conn
	sess.conn = c
	h.sessions[sess.pid] = sess
	h.unkeepLocked(sess)
	h.markDirtyLocked(sess)
	if old != nil {
		h.leaveAllLocked(old) // the same client reconnected before its old transport was noticed gone
		old.gone = true
	}
	rst := sess.restore
	sess.restore = nil
	if rst != nil {
		c.replaying = true
	}
	for room := range sess.rooms {
		h.joinIndexLocked(c, room)
	}
	upto := h.delivered
	h.metrics.connections.Inc()
	h.mu.Unlock()
	if old != nil {
		old.sock.Disconnect()
	}
	if rst == nil {
		return
	}
	h.metrics.recoveries.WithLabelValues("recovered").Inc()
	events := rst.events
	if upto > rst.upto {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		h.mu.Lock()
		rooms := sess.replayRooms()
		h.mu.Unlock()
		more, err := h.elog.since(ctx, rst.upto, upto, rooms, maxReplay)
		cancel()
		if err != nil {
			h.failReplay(c, err)
			return
		}
		events = append(events, more...)
	}
	// The replay goes out in writes of up to 64 KiB (a Batch), not one per event.
	var replay socketio.Batch
	h.mu.Lock()
	var visible []Event
	var deltas []bool
	for i := range events {
		if h.replayable(sess, &events[i]) {
			visible = append(visible, events[i])
			deltas = append(deltas, sess.deltas[events[i].Room])
		}
	}
	h.mu.Unlock()
	for i, ev := range visible {
		c.sendIn(&outEvent{Event: ev}, &replay, deltas[i])
	}
	h.mu.Lock()
	for _, ev := range c.pending {
		c.sendIn(ev, &replay, sess.deltas[ev.Room])
	}
	c.pending, c.replaying = nil, false
	rooms := openRooms(sess)
	h.mu.Unlock()
	replay.Flush()
	for _, room := range rooms {
		h.viewing(sess, room, true)
	}
}

func openRooms(sess *session) []string {
	var out []string
	for r := range sess.open {
		out = append(out, r)
	}
	return out
}

func (h *Hub) onDisconnect(s *socketio.Socket, reason string) {
	data, ok := s.Data().(*connectData)
	if !ok {
		return
	}
	h.mu.Lock()
	h.releaseSocketLocked(data.key) // once: OnDisconnect comes once per accepted socket
	c := data.conn
	if c == nil {
		data.dropped = true
		h.mu.Unlock()
		return
	}
	if c.gone {
		h.mu.Unlock()
		return
	}
	c.gone = true
	if reason == "client namespace disconnect" {
		h.dropListsLocked(c) // a client that says goodbye resumes no live list
	}
	h.leaveAllLocked(c)
	sess := c.sess
	if sess.conn == c {
		sess.conn = nil
		sess.leftAt = time.Now()
		h.markDirtyLocked(sess)
		h.keepLocked(sess)
	}
	rooms := openRooms(sess)
	h.metrics.connections.Dec()
	h.mu.Unlock()
	for _, room := range rooms {
		h.viewing(sess, room, false)
	}
}

func (h *Hub) joinIndexLocked(sub subscriber, room string) {
	set := h.rooms[room]
	if set == nil {
		set = map[subscriber]struct{}{}
		h.rooms[room] = set
		h.metrics.rooms.Inc()
	}
	set[sub] = struct{}{}
}

func (h *Hub) leaveIndexLocked(sub subscriber, room string) {
	set := h.rooms[room]
	if set == nil {
		return
	}
	delete(set, sub)
	if len(set) == 0 {
		delete(h.rooms, room)
		h.metrics.rooms.Dec()
	}
}

func (h *Hub) leaveAllLocked(c *conn) {
	for room := range c.sess.rooms {
		h.leaveIndexLocked(c, room)
	}
	h.parkListsLocked(c)
}

// onEvent handles Frappe's client events. Each subscription is checked against read permission
// and answered: {"ok": true} or {"error": ...} when the client asked for an ack, and a denial is
// also emitted as livedoc_error, so it is never silent.
func (h *Hub) onEvent(s *socketio.Socket, event string, args []json.RawMessage, ack socketio.Ack) {
	data, _ := s.Data().(*connectData)
	if data == nil {
		return
	}
	h.mu.Lock()
	c := data.conn
	h.mu.Unlock()
	if c == nil {
		return
	}
	if event == "ping" {
		c.emit("pong")
		if ack != nil {
			_ = ack(map[string]any{"ok": true})
		}
		return
	}
	var extra map[string]any
	var err error
	switch event {
	case "list_subscribe":
		// answered by the live query's goroutine (livelist.go), unless refused here
		if err = h.listSubscribe(c, args, ack); err == nil {
			return
		}
	case "list_unsubscribe":
		err = h.listUnsubscribe(c, args)
	default:
		extra, err = h.handleClientEvent(c, event, args)
	}
	if ack != nil {
		if err != nil {
			_ = ack(map[string]any{"error": err.Error()})
		} else {
			answer := map[string]any{"ok": true}
			for k, v := range extra {
				answer[k] = v
			}
			_ = ack(answer)
		}
	}
	if err != nil {
		var raw []any
		for _, a := range args {
			raw = append(raw, a)
		}
		c.emit("livedoc_error", map[string]any{"event": event, "args": raw, "error": err.Error()})
	}
}

// handleClientEvent handles a subscription event; what it returns besides an error goes into the
// ack (a live document's snapshot).
func (h *Hub) handleClientEvent(c *conn, event string, args []json.RawMessage) (map[string]any, error) {
	str := func(i int) (string, error) {
		if i >= len(args) {
			return "", errors.New(event + ": missing argument " + strconv.Itoa(i+1))
		}
		var s string
		if err := json.Unmarshal(args[i], &s); err != nil || s == "" {
			return "", errors.New(event + ": argument " + strconv.Itoa(i+1) + " must be a non-empty string")
		}
		return s, nil
	}
	one := func(prefix string) (string, error) {
		a, err := str(0)
		return prefix + a, err
	}
	two := func(prefix string) (string, error) {
		dt, err := str(0)
		if err != nil {
			return "", err
		}
		dn, err := str(1)
		return prefix + dt + "/" + dn, err
	}
	var room string
	var err error
	switch event {
	case "doctype_subscribe", "doctype_unsubscribe":
		room, err = one("doctype:")
	case "doc_subscribe", "doc_unsubscribe":
		room, err = two("doc:")
	case "doc_open", "doc_close":
		room, err = two("open_doc:")
	case "task_subscribe", "progress_subscribe", "task_unsubscribe":
		room, err = one("task_progress:")
	default:
		return nil, errors.New("unknown event " + event)
	}
	if err != nil {
		return nil, err
	}
	var live bool // doc_subscribe(doctype, name, {snapshot: true}): a live document
	if event == "doc_subscribe" && len(args) > 2 && string(args[2]) != "null" {
		var opts struct {
			Snapshot bool `json:"snapshot"`
		}
		if err := json.Unmarshal(args[2], &opts); err != nil {
			return nil, errors.New("doc_subscribe: argument 3 must be an object such as {\"snapshot\": true}")
		}
		live = opts.Snapshot
	}
	switch event {
	case "doctype_unsubscribe", "doc_unsubscribe", "task_unsubscribe":
		h.unsubscribe(c, room)
		return nil, nil
	case "doc_close":
		h.mu.Lock()
		wasOpen := c.sess.open[room]
		delete(c.sess.open, room)
		h.markDirtyLocked(c.sess)
		h.mu.Unlock()
		if wasOpen {
			h.unsubscribe(c, room)
			h.viewing(c.sess, room, false)
		}
		return nil, nil
	}
	name, err := h.credentialStands(c, event)
	if err != nil {
		return nil, err
	}
	user, err := h.currentUser(name)
	if err != nil {
		return nil, err
	}
	if err := h.canJoin(user, room); err != nil {
		return nil, err
	}
	h.mu.Lock()
	if c.gone || c.ended {
		h.mu.Unlock()
		return nil, errors.New("disconnected")
	}
	if c.sess.moved[room] {
		delete(c.sess.moved, room) // the renamed document's subscription: this one takes it over
		h.mu.Unlock()
		if live {
			return h.snapshot(c, room, user)
		}
		return nil, nil
	}
	if event == "doc_open" {
		if c.sess.open[room] {
			h.mu.Unlock()
			return nil, nil // open twice from one session: one viewer, one subscription
		}
		c.sess.open[room] = true
	}
	c.sess.rooms[room]++
	if c.sess.rooms[room] == 1 {
		h.joinIndexLocked(c, room)
	}
	h.markDirtyLocked(c.sess)
	guest := c.sess.user.Name == doc.Guest
	h.mu.Unlock()
	if !guest { // Guest sessions live in memory only (markDirtyLocked)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := h.saveSessions(ctx)
		cancel()
		if err != nil {
			// Not acked as subscribed, so not subscribed: a recovery elsewhere would lack the room.
			h.mu.Lock()
			if event == "doc_open" {
				delete(c.sess.open, room)
			}
			h.mu.Unlock()
			h.unsubscribe(c, room)
			return nil, fmt.Errorf("%s: the subscription could not be saved (%v); try again", event, err)
		}
	}
	if event == "doc_open" {
		h.viewing(c.sess, room, true)
	}
	if live {
		return h.snapshot(c, room, user)
	}
	return nil, nil
}

// snapshot is a live document's start: the document as the user may read it, and the log offset it
// is as of, read in one snapshot of the database. The socket is in the room already, so every
// change after it (a higher offset) reaches the socket, with what changed; a client drops what it
// gets at or below the offset. Without the read, the subscription is undone.
func (h *Hub) snapshot(c *conn, room string, user *doc.User) (map[string]any, error) {
	doctype, name, _ := strings.Cut(strings.TrimPrefix(room, "doc:"), "/")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var d doc.Doc
	var offset int64
	err := h.e.Run(ctx, user, false, func(tx *doc.Context) error {
		if err := tx.Tx.QueryRow(tx, "SELECT COALESCE(MAX(seq), 0) FROM __events").Scan(&offset); err != nil {
			return err
		}
		var err error
		d, err = tx.Get(doctype, name)
		return err
	})
	if err != nil {
		h.unsubscribe(c, room)
		return nil, err
	}
	h.mu.Lock()
	if c.sess.deltas == nil {
		c.sess.deltas = map[string]bool{}
	}
	c.sess.deltas[room] = true
	h.mu.Unlock()
	return map[string]any{"doc": d, "offset": offset}, nil
}

// currentUser returns the user with their current roles (a session keeps the roles it connected
// with; rights are always checked against the current ones). A disabled or deleted user keeps its
// name but has no roles: it may read nothing (and its credentials are revoked anyway).
func (h *Hub) currentUser(name string) (*doc.User, error) {
	if name == doc.Guest {
		return doc.GuestUser, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := h.auth.User(ctx, name)
	if e, ok := doc.AsError(err); ok && e.Type == auth.AuthenticationError {
		return &doc.User{Name: name}, nil
	}
	return u, err
}

// unsubscribe drops one reference to room; the socket leaves it when none is left.
func (h *Hub) unsubscribe(c *conn, room string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if isAutoRoom(room) || c.sess.rooms[room] == 0 {
		return
	}
	c.sess.rooms[room]--
	h.markDirtyLocked(c.sess)
	if c.sess.rooms[room] == 0 {
		delete(c.sess.rooms, room)
		delete(c.sess.moved, room)
		delete(c.sess.deltas, room)
		h.leaveIndexLocked(c, room)
	}
}

// emit sends an unlogged event to this socket, with the current offset as its last argument so a
// client's recovery position stays a real log offset.
func (c *conn) emit(event string, args ...any) {
	c.h.mu.Lock()
	off := c.h.delivered
	c.h.mu.Unlock()
	_ = c.sock.Emit(event, append(args, strconv.FormatInt(off, 10))...)
}

// failReplay ends a recovery whose replay cannot be read whole: the session is forgotten (its
// next CONNECT starts afresh), the client is told to reload and disconnected, and nothing of
// the replay is sent — a partial one would skip events unnoticed.
func (h *Hub) failReplay(c *conn, err error) {
	h.log.Error("recovery: reading the missed events failed; the client is told to reload", "pid", c.sess.pid, "err", err)
	h.metrics.recoveries.WithLabelValues("failed").Inc()
	h.mu.Lock()
	sess := c.sess
	h.dropParkedLocked(sess)
	if h.sessions[sess.pid] == sess {
		delete(h.sessions, sess.pid)
		if sess.user.Name != doc.Guest {
			h.markDirtyLocked(sess)
			h.dirty[sess.pid] = nil
		}
	}
	c.ended = true
	sess.conn = nil // its disconnect keeps nothing for recovery
	c.pending, c.replaying = nil, false
	h.mu.Unlock()
	c.emit("livedoc_error", map[string]any{"event": "replay_failed", "error": replayFailed})
	c.sock.Disconnect()
}

// replayFailed tells a client that what it missed cannot be replayed.
const replayFailed = "cannot resume: the events missed could not be read; reload"

func newPID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// credentialStands checks, before a socket joins anything, that the credential it connected with
// is still valid (not revoked since), and returns its user's name.
func (h *Hub) credentialStands(c *conn, event string) (string, error) {
	h.mu.Lock()
	name, cred := c.sess.user.Name, c.sess.cred
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	valid, err := h.auth.CredValid(ctx, name, cred)
	cancel()
	if err != nil {
		return "", fmt.Errorf("%s: your credentials could not be checked right now (%v); try again", event, err)
	}
	if !valid {
		return "", errors.New("the session has ended: log in again")
	}
	return name, nil
}

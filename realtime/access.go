package realtime

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/doc"
)

// Who receives what, and how that follows changes: an event that names a document goes only to
// the subscribers that may read that document now; rights are checked again when a User or a
// DocType changes; revoked credentials end their sockets and streams; a renamed document's rooms
// move to its new name. Each of these is driven by committed events in the fan-out, so every node
// of a cluster applies it, in offset order.

// revokeEvent carries an auth.Revocation through the log and the bus to every node, in a room of
// the hub's own: no one joins or publishes to a room named "__..." (PostgreSQL's text takes no
// NUL, so the log's rooms cannot be marked that way).
const (
	revokeEvent = "__revoke"
	revokeRoom  = "__auth"
)

// reservedRoom reports whether room is the hub's own or not a room at all.
func reservedRoom(room string) bool {
	return room == "" || strings.HasPrefix(room, "__") || strings.ContainsFunc(room, unicode.IsControl)
}

// readers is the per-recipient rule of an event that names a document: only users who may read
// that document get it; and of a task's event: only the task's user (anyone may join any task
// room, see canJoin). nil: the room's check at join is the rule.
func (h *Hub) readers(ev *Event) func(*doc.User) bool {
	if strings.HasPrefix(ev.Room, taskRoomPrefix) {
		owner := ev.Owner // none: published before tasks had owners, so nobody's
		return func(u *doc.User) bool { return owner != "" && u.Name == owner }
	}
	if ev.DocType == "" {
		return nil
	}
	dt, err := h.e.Meta(ev.DocType)
	if err != nil {
		return func(*doc.User) bool { return false }
	}
	if !h.e.HasRowFilter(ev.DocType) {
		return func(u *doc.User) bool { return dt.Allowed(u, doc.PermRead, ev.Owner) }
	}
	// A row filter (a Permission Query script) decides on the document's values: each recipient
	// is asked the very query their list makes, once per user and event. What the document is now
	// decides, and a deleted one reaches nobody the filter applies to.
	name := ev.changedName()
	admitted := map[string]bool{}
	return func(u *doc.User) bool {
		if !dt.Allowed(u, doc.PermRead, ev.Owner) {
			return false
		}
		ok, seen := admitted[u.Name]
		if !seen {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var err error
			ok, err = h.e.Admits(ctx, u, ev.DocType, name)
			cancel()
			if err != nil {
				h.log.Warn("realtime: row filter", "doctype", ev.DocType, "name", name, "user", u.Name, "err", err)
			}
			admitted[u.Name] = ok
		}
		return ok
	}
}

func (h *Hub) mayReceive(ev *Event, u *doc.User) bool {
	r := h.readers(ev)
	return r == nil || r(u)
}

// changedName is the document a list_update or doc_update is about (a doc_rename's new name).
func (ev *Event) changedName() string {
	var m struct{ Name, New string }
	_ = json.Unmarshal(ev.Message, &m)
	if m.New != "" {
		return m.New
	}
	return m.Name
}

// revoked logs a revocation in the transaction that makes it, for every node's fan-out.
func (h *Hub) revoked(c *doc.Context, r auth.Revocation) error {
	msg, err := json.Marshal(r)
	if err != nil {
		return err
	}
	p := pendingOf(c)
	p.events = append(p.events, Event{Room: revokeRoom, Event: revokeEvent, Message: msg})
	return nil
}

// revokeLocked ends this node's sockets and streams opened with revoked credentials: their
// sessions can no longer be recovered, the sockets get nothing more and are disconnected (the
// client is told why, and Socket.IO clients do not reconnect after a server disconnect).
func (h *Hub) revokeLocked(ev Event) {
	var r auth.Revocation
	if json.Unmarshal(ev.Message, &r) != nil || r.User == "" {
		return
	}
	h.auth.Forget(r.User)
	var ended []*conn
	for pid, s := range h.sessions {
		if !r.Ends(s.user.Name, s.cred) {
			continue
		}
		delete(h.sessions, pid)
		delete(h.dirty, pid)
		h.unkeepLocked(s)
		h.dropParkedLocked(s)
		if c := s.conn; c != nil && !c.ended {
			c.ended = true
			h.dropListsLocked(c)
			ended = append(ended, c)
		}
		s.conn = nil // its disconnect keeps nothing for recovery
	}
	for st := range h.streams {
		if r.Ends(st.user.Name, st.cred) {
			h.endStreamLocked(st, "the session has ended")
		}
	}
	if len(ended) == 0 {
		return
	}
	go func() {
		for _, c := range ended {
			c.emit("livedoc_error", map[string]any{"event": "session_ended", "error": "The session has ended: log in again"})
			c.sock.Disconnect()
		}
	}()
}

// rightsChanged re-checks what the sessions and streams of a user (a User saved), or the rooms of
// a DocType (its permissions saved), may still receive.
func (h *Hub) rightsChanged(user, doctype string) {
	if user != "" {
		h.auth.Forget(user)
		h.mu.Lock()
		h.listsRereadLocked(func(lq *liveQuery) bool { return lq.user == user })
		h.mu.Unlock()
	}
	h.recheck(func(who, room string) bool {
		if user != "" {
			return who == user
		}
		_, rest, _ := strings.Cut(room, ":")
		dt, _, _ := strings.Cut(rest, "/")
		return dt == doctype
	})
}

// recheck refreshes the roles of the affected users' sessions and streams (events naming a
// document are decided on them), then checks their affected rooms again: a socket leaves a room it
// lost (told with livedoc_error "unsubscribed"); a stream that lost one ends.
func (h *Hub) recheck(affects func(user, room string) bool) {
	type check struct {
		sess *session
		room string
	}
	var checks []check
	var streams []*sseStream
	names := map[string]bool{}
	h.mu.Lock()
	for _, s := range h.sessions {
		for room := range s.rooms {
			if affects(s.user.Name, room) {
				checks = append(checks, check{s, room})
				names[s.user.Name] = true
			}
		}
		if affects(s.user.Name, "") {
			names[s.user.Name] = true
		}
	}
	for st := range h.streams {
		for _, room := range st.rooms {
			if affects(st.user.Name, room) {
				streams = append(streams, st)
				names[st.user.Name] = true
				break
			}
		}
	}
	h.mu.Unlock()
	fresh := map[string]*doc.User{}
	for name := range names {
		u, err := h.currentUser(name)
		if err != nil {
			h.log.Warn("realtime: re-checking rights", "user", name, "err", err)
			continue
		}
		fresh[name] = u
	}
	h.mu.Lock()
	for _, s := range h.sessions {
		if u := fresh[s.user.Name]; u != nil {
			s.user = u
		}
	}
	for st := range h.streams {
		if u := fresh[st.user.Name]; u != nil {
			st.user = u
		}
	}
	h.mu.Unlock()
	for _, ch := range checks {
		u := fresh[ch.sess.user.Name]
		if u == nil {
			continue
		}
		err := h.canJoin(u, ch.room)
		if err == nil {
			continue
		}
		h.mu.Lock()
		if _, still := ch.sess.rooms[ch.room]; still {
			delete(ch.sess.rooms, ch.room)
			delete(ch.sess.open, ch.room)
			delete(ch.sess.moved, ch.room)
			h.markDirtyLocked(ch.sess)
			if c := ch.sess.conn; c != nil {
				h.leaveIndexLocked(c, ch.room)
			}
		}
		c := ch.sess.conn
		h.mu.Unlock()
		if c != nil {
			c.emit("livedoc_error", map[string]any{"event": "unsubscribed", "room": ch.room, "error": err.Error()})
		}
	}
	for _, st := range streams {
		u := fresh[st.user.Name]
		if u == nil {
			continue
		}
		for _, room := range st.rooms {
			if err := h.canJoin(u, room); err != nil {
				h.mu.Lock()
				h.endStreamLocked(st, room+": "+err.Error())
				h.mu.Unlock()
				break
			}
		}
	}
}

// moveRoomsLocked moves the subscribers of a renamed document's rooms (doc: and open_doc:) to the
// new name's, when they may read it, and leaves nobody in the old ones: a document that later
// takes the old name starts with no subscribers. Called with h.mu held, after the doc_rename went
// to the old room.
func (h *Hub) moveRoomsLocked(ev Event) {
	var m struct{ Doctype, Old, New string }
	if json.Unmarshal(ev.Message, &m) != nil || m.Doctype == "" || m.Old == "" || m.New == "" {
		return
	}
	may := h.readers(&ev)
	pairs := [][2]string{{docRoom(m.Doctype, m.Old), docRoom(m.Doctype, m.New)},
		{"open_doc:" + m.Doctype + "/" + m.Old, "open_doc:" + m.Doctype + "/" + m.New}}
	type reopen struct {
		sess     *session
		from, to string
	}
	var denied []*conn
	var reopened []reopen
	for _, s := range h.sessions {
		for _, p := range pairs {
			n := s.rooms[p[0]]
			if n == 0 {
				continue
			}
			wasOpen, hadDelta := s.open[p[0]], s.deltas[p[0]]
			delete(s.deltas, p[0])
			delete(s.rooms, p[0])
			delete(s.open, p[0])
			delete(s.moved, p[0])
			if s.former == nil {
				s.former = map[string]int64{}
			}
			s.former[p[0]] = ev.Offset
			h.markDirtyLocked(s)
			if s.conn != nil {
				h.leaveIndexLocked(s.conn, p[0])
			}
			if may != nil && !may(s.user) {
				if s.conn != nil {
					denied = append(denied, s.conn)
				}
				continue
			}
			s.rooms[p[1]] += n
			if s.moved == nil {
				s.moved = map[string]bool{}
			}
			s.moved[p[1]] = true
			if hadDelta {
				s.deltas[p[1]] = true
			}
			if wasOpen {
				s.open[p[1]] = true
				reopened = append(reopened, reopen{s, p[0], p[1]})
			}
			if s.conn != nil {
				h.joinIndexLocked(s.conn, p[1])
			}
		}
	}
	for st := range h.streams {
		for i, room := range st.rooms {
			for _, p := range pairs {
				if room != p[0] {
					continue
				}
				h.leaveIndexLocked(st, room)
				if may != nil && !may(st.user) {
					h.endStreamLocked(st, "not permitted to read "+m.Doctype+" "+m.New)
					continue
				}
				st.rooms[i] = p[1]
				h.joinIndexLocked(st, p[1])
			}
		}
	}
	if len(denied) == 0 && len(reopened) == 0 {
		return
	}
	go func() {
		for _, c := range denied {
			c.emit("livedoc_error", map[string]any{"event": "unsubscribed", "room": pairs[0][0], "error": "Not permitted to read " + m.Doctype + " " + m.New})
		}
		for _, r := range reopened {
			h.viewing(r.sess, r.from, false)
			h.viewing(r.sess, r.to, true)
		}
	}()
}

// reloadDocType installs the committed version of a DocType whose list_update went by: on this
// node it already is; on the others it brings new and changed DocTypes (and forgets deleted ones).
func (h *Hub) reloadDocType(ev Event) {
	name := ev.changedName()
	if name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.e.Reload(ctx, name); err != nil {
		h.log.Warn("realtime: reloading a changed DocType", "doctype", name, "err", err)
	}
}

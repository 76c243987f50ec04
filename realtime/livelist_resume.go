package realtime

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/livedoc/livedoc/doc"
)

// Live lists across a recovered reconnection (issue 15: "Recovery replays list changes in
// order"). When a socket goes away and its session is kept for recovery, its live lists are
// parked with the session on this node: they keep following their query, and their list_change
// messages are held (up to maxHeldChanges each) instead of sent. A client whose session is
// recovered resumes each list with list_subscribe({...the same query..., resume: id, received:
// n}), n being how many list_change it got for id. When this node still holds that subscription
// for the session, with the same query, and the client got every change sent to it before its
// socket went (else one may have been lost on the way), the answer is {ok, id, resumed: true},
// followed by the held changes in order, before any new one: no read. Otherwise (another node, a
// fresh session, the window over, too many changes held, one lost) the client gets a fresh
// snapshot {ok, id, rows, offset}, as for a new subscription. The credential is checked as for
// any list_subscribe, and the query's rights stay followed while parked, so a user who may no
// longer list resumes nothing of it. A client that disconnects itself (a DISCONNECT packet) parks
// nothing: it is not coming back for them.
//
// A count rather than a log offset says what the client has: several changes carry one offset
// (a row leaving a page and the next taking its place), and a socket can go between them.

// maxHeldChanges bounds the changes a parked list holds; beyond it it holds none and its
// client starts from a fresh snapshot.
const maxHeldChanges = 1000

// listResume is list_subscribe's optional resume of a parked list.
type listResume struct {
	id       string
	received int
}

// parseResume reads {resume, received} from list_subscribe's argument; nil when it asks none.
func parseResume(raw json.RawMessage) (*listResume, error) {
	var a struct {
		Resume   *string  `json:"resume"`
		Received *float64 `json:"received"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, errors.New("list_subscribe: resume must be the id of a list and received a whole number")
	}
	if a.Resume == nil {
		return nil, nil
	}
	n := 0.0
	if a.Received != nil {
		n = *a.Received
	}
	if *a.Resume == "" || n < 0 || n != float64(int(n)) {
		return nil, fmt.Errorf("list_subscribe: resume must be the id of a list and received a whole number")
	}
	return &listResume{id: *a.Resume, received: int(n)}, nil
}

// resumableLocked is the parked list of c's session that r resumes with the query of key, or nil: then
// the client gets a fresh snapshot, and the parked list, if any, is dropped (its client has
// given it up).
func (h *Hub) resumableLocked(c *conn, key string, r *listResume) *listSub {
	if r == nil {
		return nil
	}
	sub := c.sess.lists[r.id]
	if sub == nil {
		return nil
	}
	if sub.lq.key != key || sub.sent != r.received || sub.overflowed {
		h.dropListSubLocked(sub)
		return nil
	}
	return sub
}

// resumeList answers a resume on lq's goroutine, which alone sends lq's changes: {ok, id,
// resumed}, then what was held, so nothing new comes before them. A list that held too many
// changes while the resume waited starts again from the rows as they are now, under a new id.
func (h *Hub) resumeList(j *listJoin, rows []doc.Doc, offset int64) {
	sub := j.sub
	h.mu.Lock()
	c := sub.c
	if c.gone || c.ended {
		h.mu.Unlock()
		return // parked again, for the client's next resume
	}
	if c.lists[sub.id] != sub {
		h.mu.Unlock()
		_ = j.ack(map[string]any{"error": "list_subscribe: the list was unsubscribed"})
		return
	}
	if sub.overflowed {
		delete(c.lists, sub.id)
		sub.id = newListID()
		c.lists[sub.id] = sub
		sub.parked, sub.overflowed, sub.sent = false, false, 0
		h.mu.Unlock()
		_ = j.ack(map[string]any{"ok": true, "id": sub.id, "rows": rows, "offset": offset})
		return
	}
	held := sub.held
	sub.held, sub.parked = nil, false
	sub.sent += len(held)
	off := fmt.Sprint(h.delivered)
	h.mu.Unlock()
	_ = j.ack(map[string]any{"ok": true, "id": sub.id, "resumed": true})
	for _, ch := range held {
		_ = c.sock.Emit("list_change", ch, off)
	}
}

// holdLocked keeps a change for a parked list's resume. Past maxHeldChanges it holds none: its
// resume will be a fresh snapshot. (It stays subscribed meanwhile: dropping it here, on its
// query's goroutine, could forget a query a resume is about to take up.)
func (h *Hub) holdLocked(sub *listSub, ch listChange) {
	switch {
	case sub.overflowed:
	case len(sub.held) >= maxHeldChanges:
		sub.held, sub.overflowed = nil, true
	default:
		sub.held = append(sub.held, ch)
	}
}

// parkListsLocked keeps the live lists of a socket that is gone with its session, for a
// recovery; a socket whose credential was revoked ends them. Lists parked before and not resumed
// since are let go (a client resumes as it reconnects): a session holds one socket's worth.
func (h *Hub) parkListsLocked(c *conn) {
	if c.ended {
		h.dropListsLocked(c)
		return
	}
	h.dropParkedLocked(c.sess)
	for id, sub := range c.lists {
		sub.parked = true
		if c.sess.lists == nil {
			c.sess.lists = map[string]*listSub{}
		}
		c.sess.lists[id] = sub
		delete(c.lists, id)
	}
}

// dropParkedLocked ends the parked lists of a session forgotten, or recovered a recovery window
// ago (a client resumes its lists as it reconnects; those it did not want are let go).
func (h *Hub) dropParkedLocked(s *session) {
	for _, sub := range s.lists {
		h.dropListSubLocked(sub)
	}
}

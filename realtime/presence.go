package realtime

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Presence keeps who is viewing which document (the sessions that doc_open'ed it), for
// doc_viewers. One node keeps it in its own memory; a cluster keeps it in Redis, so a user with
// tabs on two nodes counts once everywhere.
type Presence interface {
	Open(ctx context.Context, room, pid, user string) error
	Close(ctx context.Context, room, pid, user string) error
	// Viewers returns the distinct users viewing room, sorted.
	Viewers(ctx context.Context, room string) ([]string, error)
}

// viewersEvent is an internal bus event: "the viewers of Room changed; tell yours".
const viewersEvent = "\x00viewers"

// presenceHeartbeat is how often a node renews its viewers in a shared Presence; entries not
// renewed for presenceTTL (their node died) no longer count.
const (
	presenceHeartbeat = 10 * time.Second
	presenceTTL       = 3 * presenceHeartbeat
)

// viewing records that sess opened (or closed) room, then has every node tell its viewers.
func (h *Hub) viewing(sess *session, room string, open bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if h.presence != nil {
		var err error
		if open {
			err = h.presence.Open(ctx, room, sess.pid, sess.user.Name)
		} else {
			err = h.presence.Close(ctx, room, sess.pid, sess.user.Name)
		}
		if err != nil {
			h.log.Warn("realtime: presence", "room", room, "err", err)
		}
		if err := h.bus.Publish(ctx, []Event{{Room: room, Event: viewersEvent}}); err == nil {
			return // every node, this one too, gets it and calls sendViewers
		}
	}
	h.sendViewers(ctx, room)
}

// sendViewers tells this node's viewers of an open_doc room who is viewing. Every viewer is told,
// even one left alone, so an avatar disappears when its user closes the form; clients leave
// themselves out when drawing.
func (h *Hub) sendViewers(ctx context.Context, room string) {
	doctype, docname, _ := strings.Cut(strings.TrimPrefix(room, "open_doc:"), "/")
	h.mu.Lock()
	var targets []*conn
	var local []string
	for sub := range h.rooms[room] {
		if c, ok := sub.(*conn); ok && c.sess.open[room] {
			targets = append(targets, c)
			if !slices.Contains(local, c.userName()) {
				local = append(local, c.userName())
			}
		}
	}
	h.mu.Unlock()
	if len(targets) == 0 {
		return
	}
	users := local
	if h.presence != nil {
		shared, err := h.presence.Viewers(ctx, room)
		if err != nil {
			h.log.Warn("realtime: presence", "room", room, "err", err)
		} else {
			users = shared
		}
	}
	slices.Sort(users)
	msg := map[string]any{"doctype": doctype, "docname": docname, "users": users}
	for _, c := range targets {
		c.emit("doc_viewers", msg)
	}
}

// renewPresence re-registers this node's open documents in the shared presence.
func (h *Hub) renewPresence(ctx context.Context) {
	if h.presence == nil {
		return
	}
	type entry struct{ room, pid, user string }
	var entries []entry
	h.mu.Lock()
	for _, s := range h.sessions {
		if s.conn == nil {
			continue
		}
		for room := range s.open {
			entries = append(entries, entry{room, s.pid, s.user.Name})
		}
	}
	h.mu.Unlock()
	for _, e := range entries {
		if err := h.presence.Open(ctx, e.room, e.pid, e.user); err != nil {
			h.log.Warn("realtime: renewing presence", "err", err)
			return
		}
	}
}

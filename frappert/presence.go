package frappert

import (
	"slices"
	"strconv"
	"strings"

	"github.com/livedoc/livedoc/realtime/socketio"
)

// sendViewers tells an open_doc: room who is viewing its document: doc_viewers {doctype, docname,
// users}, the distinct users of the sockets that opened it. Unlike Frappe's server it is sent even
// when the receiver is the only viewer left, so the others' avatars disappear.
func (s *Server) sendViewers(site, room string) {
	dt, dn, _ := strings.Cut(strings.TrimPrefix(room, "open_doc:"), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.rooms[roomKey(site, room)]
	users := []string{}
	for c := range set {
		if c.sess.open[room] && !slices.Contains(users, c.sess.user.User) {
			users = append(users, c.sess.user.User)
		}
	}
	if len(set) == 0 {
		return
	}
	slices.Sort(users)
	p, err := socketio.NewEvent("doc_viewers", map[string]any{"doctype": dt, "docname": dn, "users": users},
		strconv.FormatInt(s.elog.last(), 10))
	if err != nil {
		return
	}
	for c := range set {
		_ = c.sock.Send(p)
	}
}

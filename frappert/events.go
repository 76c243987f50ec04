package frappert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/livedoc/livedoc/realtime/socketio"
)

// published is what Frappe's publish_realtime puts on the Redis channel "events".
type published struct {
	Event     string          `json:"event"`
	Message   json.RawMessage `json:"message"`
	Room      *string         `json:"room"`
	Namespace *string         `json:"namespace"`
}

// publish takes one message from Redis: it is logged with the next offset and sent to the sockets
// of its site's room (no room: every socket; no namespace: every site), encoded once. It runs on
// the Redis subscriber's goroutine only, so the batch is its own.
func (s *Server) publish(payload []byte) {
	start := time.Now()
	var p published
	if err := json.Unmarshal(payload, &p); err != nil || p.Event == "" {
		s.metrics.malformed.Inc()
		s.log.Warn("frappe-realtime: a message on the events channel that is not Frappe's", "payload", truncate(payload))
		return
	}
	if len(p.Message) == 0 {
		p.Message = json.RawMessage("null")
	}
	e := entry{event: p.Event, message: p.Message, at: start}
	if p.Namespace != nil {
		e.site = *p.Namespace
	}
	if p.Room != nil {
		e.room = *p.Room
	}
	s.metrics.received.Inc()
	s.mu.Lock()
	e = s.elog.append(e)
	if s.stream != nil {
		s.stream.addEvent(e)
	}
	pkt, err := packetOf(&e)
	if err != nil {
		s.mu.Unlock()
		s.metrics.malformed.Inc()
		return
	}
	var targets map[*conn]struct{}
	if e.room != "" && e.site != "" {
		targets = s.rooms[roomKey(e.site, e.room)]
	} else {
		targets = s.conns
	}
	n := 0
	for c := range targets {
		if (e.site == "" || e.site == c.sess.site) && (e.room == "" || c.sess.rooms[e.room]) {
			s.send(c, pkt)
			n++
		}
	}
	s.mu.Unlock()
	s.out.Flush()
	s.metrics.fanoutSeconds.Observe(time.Since(start).Seconds())
}

// send queues pkt for c without blocking; a socket whose queue is full is dropped by socketio
// (its client reconnects and recovers). Called with s.mu held.
func (s *Server) send(c *conn, pkt *socketio.Packet) {
	if err := c.sock.SendBatched(pkt, &s.out); err != nil {
		if errors.Is(err, socketio.ErrSlowConsumer) {
			s.metrics.queueDrops.Inc()
		}
		return
	}
	s.metrics.delivered.Inc()
}

// packetOf encodes an event as Socket.IO sends it: [event, message, "<offset>"], the offset last as
// connection state recovery expects.
func packetOf(e *entry) (*socketio.Packet, error) {
	return socketio.NewEvent(e.event, e.message, strconv.FormatInt(e.offset, 10))
}

// onEvent handles what Frappe's client sends. Subscriptions that need a permission ask the site
// (or the cache); the answer is also the ack when the client asked for one, so a refusal is never
// silent. It runs on the socket's reading goroutine: the site's deadline bounds how long that
// client waits, and nobody else does.
func (s *Server) onEvent(sock *socketio.Socket, event string, args []json.RawMessage, ack socketio.Ack) {
	data, _ := sock.Data().(*connectData)
	if data == nil || data.conn == nil {
		return
	}
	c := data.conn
	err := s.handle(c, event, args)
	if ack != nil {
		if err != nil {
			_ = ack(map[string]any{"error": err.Error()})
		} else {
			_ = ack(map[string]any{"ok": true})
		}
	}
	if err != nil {
		s.metrics.denied.WithLabelValues(event).Inc()
	}
}

func (s *Server) handle(c *conn, event string, args []json.RawMessage) error {
	str := func(i int) (string, error) {
		var v string
		if i >= len(args) || json.Unmarshal(args[i], &v) != nil || v == "" {
			return "", errors.New(event + ": argument " + strconv.Itoa(i+1) + " must be a non-empty string")
		}
		return v, nil
	}
	var a0, a1 string
	var err error
	switch event {
	case "ping":
		s.emit(c, "pong")
		return nil
	case "doctype_subscribe", "doctype_unsubscribe", "task_subscribe", "progress_subscribe", "task_unsubscribe":
		a0, err = str(0)
	case "doc_subscribe", "doc_unsubscribe", "doc_open", "doc_close":
		if a0, err = str(0); err == nil {
			a1, err = str(1)
		}
	default:
		return errors.New("unknown event " + event)
	}
	if err != nil {
		return err
	}
	switch event {
	case "doctype_subscribe":
		return s.join(c, "doctype:"+a0, a0, "")
	case "doc_subscribe":
		return s.join(c, "doc:"+a0+"/"+a1, a0, a1)
	case "doc_open":
		room := "open_doc:" + a0 + "/" + a1
		if err := s.join(c, room, a0, a1); err != nil {
			return err
		}
		s.mu.Lock()
		c.sess.open[room] = true
		s.storeLocked(c.sess)
		s.mu.Unlock()
		s.sendViewers(c.sess.site, room)
		return nil
	case "task_subscribe", "progress_subscribe":
		// Frappe's rule: task ids are unguessable ids the client made, and anyone may listen.
		return s.join(c, "task_progress:"+a0, "", "")
	case "doctype_unsubscribe":
		s.leave(c, "doctype:"+a0)
	case "doc_unsubscribe":
		s.leave(c, "doc:"+a0+"/"+a1)
	case "doc_close":
		room := "open_doc:" + a0 + "/" + a1
		s.mu.Lock()
		wasOpen := c.sess.open[room]
		delete(c.sess.open, room)
		s.storeLocked(c.sess)
		s.mu.Unlock()
		if wasOpen {
			s.leave(c, room)
			s.sendViewers(c.sess.site, room)
		}
	case "task_unsubscribe":
		s.leave(c, "task_progress:"+a0)
	}
	return nil
}

// join puts c in room once the site says its user may read doctype (and the document name, when
// given); doctype "" needs no permission.
func (s *Server) join(c *conn, room, doctype, name string) error {
	if doctype != "" {
		ok, err := s.allowed(c.sess, doctype, name)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("Not permitted: " + doctype + " " + name)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gone {
		return errors.New("disconnected")
	}
	if !c.sess.rooms[room] {
		c.sess.rooms[room] = true
		s.joinLocked(c, room)
		s.storeLocked(c.sess)
	}
	return nil
}

func (s *Server) leave(c *conn, room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if room == "website" || room == "all" || room == "user:"+c.sess.user.User || !c.sess.rooms[room] {
		return
	}
	delete(c.sess.rooms, room)
	s.leaveLocked(c, room)
	s.storeLocked(c.sess)
}

// allowed asks the cache, then the site.
func (s *Server) allowed(sess *session, doctype, name string) (bool, error) {
	key := sess.permKey()
	if ok, found := s.perms.get(key, doctype, name); found {
		s.metrics.permissions.WithLabelValues("cached").Inc()
		return ok, nil
	}
	ok, err := s.hasPermission(context.Background(), sess.site, sess.cred, doctype, name)
	if err != nil {
		s.metrics.permissions.WithLabelValues("error").Inc()
		return false, err
	}
	s.metrics.permissions.WithLabelValues("asked").Inc()
	s.perms.put(key, doctype, name, ok)
	return ok, nil
}

// emit sends an unlogged event to one socket, with the newest offset last so the client's
// recovery position stays a real one.
func (s *Server) emit(c *conn, event string, args ...any) {
	s.mu.Lock()
	off := s.elog.last()
	s.mu.Unlock()
	_ = c.sock.Emit(event, append(args, strconv.FormatInt(off, 10))...)
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

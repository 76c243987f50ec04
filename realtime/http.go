package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/doc"
)

// Routes serves the realtime endpoints: Socket.IO at /socket.io/, POST /api/realtime/publish,
// GET /api/realtime/sse and the Prometheus metrics at /metrics (System Managers only: see
// metricsHTTP).
func (h *Hub) Routes(mux *http.ServeMux, a *api.Server) {
	mux.Handle("/socket.io/", h.Handler())
	mux.Handle("POST /api/realtime/publish", a.Handler(h.publishHTTP))
	mux.Handle("GET /api/realtime/sse", a.Handler(h.sse))
	mux.Handle("GET /metrics", a.Handler(h.metricsHTTP))
	mux.HandleFunc("GET /api/health", h.health)
}

// metricsHTTP is GET /metrics on the public port, for System Managers (by session or API key):
// the metrics tell anyone how busy the node is, its rooms and sockets, its memory and file
// descriptors. Prometheus scrapes the open listener of --metrics-addr instead (livedoc.Config.
// MetricsAddr), or sends a System Manager's token.
func (h *Hub) metricsHTTP(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	if !id.User.IsAdmin() && !id.User.HasRole(doc.SystemManager) {
		return doc.Errorf(doc.PermissionError, "Not permitted: only a System Manager can read the metrics")
	}
	h.MetricsHandler().ServeHTTP(w, r)
	return nil
}

// health is GET /api/health: 200 "ok"; 200 "degraded" while the bus (Redis) is down (this node
// serves its own sockets, other nodes' events arrive from the log) or the database's disk is full
// (reads work, writes answer 507 until one succeeds again: taking the node out would not help,
// the database is the same for every node); 503 "down" when the database does not answer.
func (h *Hub) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, code := "ok", http.StatusOK
	checks := map[string]string{"database": "ok", "bus": "ok", "disk": "ok"}
	if err := h.bus.Health(ctx); err != nil {
		status, checks["bus"] = "degraded", err.Error()
		h.metrics.busDown.Set(1)
	} else {
		h.metrics.busDown.Set(0)
	}
	if err := h.e.DB().DiskFull(); err != nil {
		status, checks["disk"] = "degraded", "full: writes are refused until space is freed ("+err.Error()+")"
	}
	if err := h.e.DB().Ping(ctx); err != nil {
		status, code, checks["database"] = "down", http.StatusServiceUnavailable, err.Error()
	}
	api.WriteJSON(w, code, map[string]any{"status": status, "checks": checks})
}

// publishHTTP is POST /api/realtime/publish for System Managers (by session or API key): body
// {event, message, room | user | doctype + docname | task_id}, routed as Publish, after commit.
func (h *Hub) publishHTTP(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	if !id.User.IsAdmin() && !id.User.HasRole(doc.SystemManager) {
		return doc.Errorf(doc.PermissionError, "Not permitted: only a System Manager can publish")
	}
	args, err := api.ReadArgs(r)
	if err != nil {
		return err
	}
	message, err := args.JSON("message")
	if err != nil {
		return err
	}
	t := Target{Room: args.String("room"), User: args.String("user"), DocType: args.String("doctype"),
		DocName: args.String("docname"), TaskID: args.String("task_id")}
	err = h.e.Run(r.Context(), id.User, true, func(c *doc.Context) error {
		return h.Publish(c, args.String("event"), message, t, true)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"message": "ok"})
	return nil
}

// sseStream is a Server-Sent Events subscriber. Its fields but ch and end are guarded by h.mu.
type sseStream struct {
	ch        chan *outEvent
	replaying bool
	pending   []*outEvent
	overflow  bool
	user      *doc.User // with the roles last checked
	cred      string    // the credential the request proved (auth.Identity.Cred)
	rooms     []string
	end       chan struct{} // closed when the stream must end: credentials revoked, rights lost
	why       string
}

const sseQueue = 1024

func (s *sseStream) viewer() *doc.User { return s.user }

// endStreamLocked ends a stream whose credentials or rights are gone: it leaves its rooms at once,
// and its handler returns after telling the client why.
func (h *Hub) endStreamLocked(s *sseStream, why string) {
	select {
	case <-s.end:
		return
	default:
	}
	s.why = why
	close(s.end)
	for _, room := range s.rooms {
		h.leaveIndexLocked(s, room)
	}
	delete(h.streams, s)
}

func (s *sseStream) deliver(ev *outEvent) {
	if s.replaying {
		s.pending = append(s.pending, ev)
		return
	}
	select {
	case s.ch <- ev:
	default:
		s.overflow = true // the stream ends; the client resumes with Last-Event-ID
	}
}

// sse is GET /api/realtime/sse?rooms=a,b: the rooms' events as Server-Sent Events, with the same
// permission checks as subscriptions, resumable from the log with Last-Event-ID.
func (h *Hub) sse(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	var rooms []string
	for room := range strings.SplitSeq(r.URL.Query().Get("rooms"), ",") {
		if room = strings.TrimSpace(room); room != "" {
			if err := h.canJoin(id.User, room); err != nil {
				return doc.Errorf(doc.PermissionError, "%s: %s", room, err.Error())
			}
			rooms = append(rooms, room)
		}
	}
	if len(rooms) == 0 {
		return doc.Errorf(doc.ValidationError, "rooms is required: a comma-separated list of rooms")
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("last_event_id")
	}
	var after int64 = -1
	if lastID != "" {
		n, err := strconv.ParseInt(lastID, 10, 64)
		if err != nil || n < 0 {
			return doc.Errorf(doc.ValidationError, "Last-Event-ID must be an event offset")
		}
		after = n
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("streaming unsupported")
	}
	s := &sseStream{ch: make(chan *outEvent, sseQueue), replaying: after >= 0, user: id.User, cred: id.Cred(),
		rooms: rooms, end: make(chan struct{})}
	h.mu.Lock()
	for _, room := range rooms {
		h.joinIndexLocked(s, room)
	}
	h.streams[s] = struct{}{}
	upto := h.delivered
	h.metrics.connections.Inc()
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.endStreamLocked(s, "")
		h.metrics.connections.Dec()
		h.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if after >= 0 {
		missed, err := h.elog.since(r.Context(), after, upto, rooms, maxReplay)
		switch {
		case errors.Is(err, errTooOld):
			writeSSE(w, &outEvent{Event: Event{Event: "livedoc_error", Message: json.RawMessage(`{"error":"cannot resume: events missed are no longer in the log; reload"}`)}, offset: upto})
		case err != nil:
			// Nothing of a replay that cannot be read whole is sent, and the stream ends: going
			// on live would pass over what was missed.
			h.log.Error("sse: reading the missed events failed; the client is told to reload", "after", after, "err", err)
			msg, _ := json.Marshal(map[string]string{"error": replayFailed})
			writeSSE(w, &outEvent{Event: Event{Event: "livedoc_error", Message: msg}, offset: upto})
			flusher.Flush()
			return nil
		}
		h.mu.Lock()
		user := s.user
		h.mu.Unlock()
		for i := range missed {
			if h.mayReceive(&missed[i], user) {
				writeSSE(w, &outEvent{Event: missed[i]})
			}
		}
		h.mu.Lock()
		for _, ev := range s.pending {
			writeSSE(w, ev)
		}
		s.pending, s.replaying = nil, false
		h.mu.Unlock()
	}
	flusher.Flush()
	keepalive := time.NewTicker(25 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case ev := <-s.ch:
			writeSSE(w, ev)
			for more := true; more; {
				select {
				case ev := <-s.ch:
					writeSSE(w, ev)
				default:
					more = false
				}
			}
			flusher.Flush()
			h.mu.Lock()
			over := s.overflow
			h.mu.Unlock()
			if over {
				return nil
			}
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			flusher.Flush()
		case <-s.end:
			h.mu.Lock()
			why := s.why
			h.mu.Unlock()
			msg, _ := json.Marshal(map[string]any{"event": "session_ended", "error": why})
			writeSSE(w, &outEvent{Event: Event{Event: "livedoc_error", Message: msg}})
			flusher.Flush()
			return nil
		case <-r.Context().Done():
			return nil
		case <-h.stop:
			return nil
		}
	}
}

func writeSSE(w http.ResponseWriter, ev *outEvent) {
	msg, err := ev.message(true)
	if err != nil {
		return
	}
	data, _ := json.Marshal(map[string]any{"room": ev.Room, "message": msg})
	fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.position(), ev.Event.Event, data)
}

package socketio

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// probePollWait bounds how long a poll that arrives during a probed upgrade waits for its outcome.
const probePollWait = 100 * time.Millisecond

// servePollingHandshake opens a polling session; the handshake GET is its
// first poll and carries the open packet.
func (srv *Server) servePollingHandshake(w http.ResponseWriter, r *http.Request, addr string) {
	s := srv.newSession(r, transportPolling, addr)
	if s == nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Server is closed")
		return
	}
	s.startHeartbeat()
	s.servePoll(w, r)
}

var (
	closePayload = [][]byte{{eioClose}}
	noopPayload  = [][]byte{{eioNoop}}
)

// servePoll answers a long-polling GET with everything queued, waiting for
// something to be queued if need be.
func (s *session) servePoll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if done := s.probeDone; done != nil && s.upgrading && s.poll == nil {
		// A new poll once the probe is answered. A client that got "3probe" sends no other poll,
		// so this one either comes after its "5" (the suites send one so, and must get 400 once
		// the upgrade is done) or was already on its way when "3probe" went out (a real client
		// then waits for it before sending "5"). Wait a moment for the upgrade to end: the first
		// kind is told 400 instead of racing the WebSocket's reader; the second gets its noop
		// after at most probePollWait (a longer wait stalled real clients' upgrades).
		s.mu.Unlock()
		select {
		case <-done:
		case <-time.After(probePollWait):
		case <-r.Context().Done():
			return
		}
		s.mu.Lock()
	}
	if s.transport != transportPolling {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
		return
	}
	if s.closed && s.clientClosed { // the GET the client had on its way when it closed
		s.mu.Unlock()
		s.srv.removeSession(s)
		writePayload(w, noopPayload)
		return
	}
	if s.poll != nil {
		s.mu.Unlock()
		s.close("transport error") // overlapping polls
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
		return
	}
	// While an upgrade is under way, the client pauses polling and waits
	// for this poll to end: answer at once.
	if len(s.queue) == 0 && !s.closed && !s.upgrading {
		wake := make(chan struct{})
		s.poll, s.pollWoken = wake, false
		s.mu.Unlock()
		select {
		case <-wake:
		case <-r.Context().Done():
			s.mu.Lock()
			s.poll = nil
			s.mu.Unlock()
			s.close("transport close")
			return
		}
		s.mu.Lock()
		s.poll = nil
	}
	var payload [][]byte
	switch {
	case s.closed && s.clientClosed: // the close came from the client: nothing left to say
		payload = noopPayload
	case s.closed:
		payload = closePayload
	case s.transport != transportPolling: // upgraded while this poll waited: it is over
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
		return
	case len(s.queue) == 0:
		payload = noopPayload // woken for the upgrade
	default:
		payload = s.queue
		s.queue, s.queued = nil, 0
	}
	s.mu.Unlock()
	writePayload(w, payload)
}

// writePayload writes packets joined by the payload separator.
func writePayload(w http.ResponseWriter, packets [][]byte) {
	size := len(packets) - 1
	for _, p := range packets {
		size += len(p)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(size))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	for i, p := range packets {
		if i > 0 {
			w.Write([]byte{payloadSeparator})
		}
		w.Write(p)
	}
}

// servePost reads the packets a polling client sends.
func (s *session) servePost(w http.ResponseWriter, r *http.Request) {
	limit := s.srv.opts.MaxPayload
	if r.ContentLength > int64(limit) {
		s.close("transport error")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if r.Header.Get("Content-Type") == "application/octet-stream" { // binary payloads are EIO=3
		s.close("transport error")
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeUnknownSID, "Session ID unknown")
		return
	}
	if s.transport != transportPolling || s.posting {
		overlap := s.posting
		s.mu.Unlock()
		if overlap {
			s.close("transport error")
		}
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
		return
	}
	s.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()

	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		s.close("transport error")
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
		return
	}
	if len(body) > limit {
		s.close("transport error")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	packets, err := decodeEIOPayload(body)
	if err != nil {
		s.close("parse error")
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
		return
	}
	for _, p := range packets {
		if reason := s.handlePacket(p); reason != "" {
			s.close(reason)
			break
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	h.Set("Cache-Control", "no-store")
	w.Write([]byte("ok"))
}

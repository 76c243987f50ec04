package socketio

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The WebSocket transport is the server side of RFC 6455, written here rather than taken from a
// library for the two things this server lives on: an idle connection must cost little (no
// buffers held, one goroutine parked on a shallow stack) and one event fanned out to thousands of
// sockets must cost about one system call per socket, written straight from the fan-out without a
// goroutine per socket. It speaks what Engine.IO needs: text and binary messages (fragmented or
// not), ping/pong and the close handshake; no extensions (so no per-message compression) and no
// subprotocols.

// upgradeTimeout bounds the probe exchange of an upgrade to WebSocket and the handshake's answer.
const upgradeTimeout = 10 * time.Second

// Opcodes and close codes of RFC 6455.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA

	closeNormal        = 1000
	closeGoingAway     = 1001
	closeProtocolError = 1002
	closeTooBig        = 1009
)

var (
	errBadFrame    = errors.New("websocket: protocol error")
	errTooBig      = errors.New("websocket: message too big")
	errPeerClosed  = errors.New("websocket: closed by the peer")
	errBadUpgrade  = errors.New("websocket: bad handshake")
	webSocketMagic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
)

// wsConn is one server-side WebSocket. One goroutine reads; writes happen under the owning
// session's lock, or on its writer goroutine.
type wsConn struct {
	conn       net.Conn
	raw        syscall.RawConn // for writes that never block; nil where there is none (TLS)
	unread     []byte          // read by net/http past the handshake, served first
	maxPayload int
	hdr        [14]byte // the frame header being read

	// writeNow's state, guarded by the session's lock.
	writeFn func(fd uintptr) bool
	wbuf    []byte
	wn      int
	werr    error
}

// accept completes the WebSocket handshake of r (already vetted by CheckRequest) and hijacks
// the connection. On error the request has been answered.
func (srv *Server) accept(w http.ResponseWriter, r *http.Request) (*wsConn, error) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 ||
		r.Header.Get("Sec-WebSocket-Version") != "13" || !hasToken(r.Header, "Connection", "upgrade") {
		w.Header().Set("Sec-WebSocket-Version", "13")
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
		return nil, errBadUpgrade
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil { // e.g. HTTP/2, which has no Upgrade
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
		return nil, err
	}
	c := &wsConn{conn: conn, maxPayload: srv.opts.MaxPayload}
	if n := brw.Reader.Buffered(); n > 0 { // a client may send its first frame right behind the request
		b, _ := brw.Reader.Peek(n)
		c.unread = slices.Clone(b)
	}
	sum := sha1.Sum([]byte(key + webSocketMagic))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
	conn.SetWriteDeadline(time.Now().Add(upgradeTimeout))
	if _, err := io.WriteString(conn, resp); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetWriteDeadline(time.Time{})
	c.raw = rawConn(conn)
	return c, nil
}

// hasToken reports whether a comma-separated header lists token (case-insensitively).
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// readMessage returns the next text or binary message, reassembled from its fragments. A ping
// is answered through pong; a close frame ends reading with errPeerClosed.
//
// The buffers live only while a message is being read: an idle connection parks here holding
// nothing but its 14-byte header array.
func (c *wsConn) readMessage(pong func(payload []byte)) (op byte, msg []byte, err error) {
	for {
		if err := c.readFull(c.hdr[:2]); err != nil {
			return 0, nil, err
		}
		fin, frameOp := c.hdr[0]&0x80 != 0, c.hdr[0]&0x0f
		if c.hdr[0]&0x70 != 0 || c.hdr[1]&0x80 == 0 { // extension bits, or an unmasked client frame
			return 0, nil, errBadFrame
		}
		n := uint64(c.hdr[1] & 0x7f)
		ext := 0
		switch n {
		case 126:
			ext = 2
		case 127:
			ext = 8
		}
		if err := c.readFull(c.hdr[2 : 2+ext+4]); err != nil {
			return 0, nil, err
		}
		switch ext {
		case 2:
			n = uint64(binary.BigEndian.Uint16(c.hdr[2:]))
		case 8:
			n = binary.BigEndian.Uint64(c.hdr[2:])
		}
		mask := c.hdr[2+ext : 2+ext+4]

		if frameOp >= opClose { // control frames: whole, small, between a message's fragments
			if !fin || n > 125 || frameOp > opPong {
				return 0, nil, errBadFrame
			}
			payload := make([]byte, n)
			if err := c.readFull(payload); err != nil {
				return 0, nil, err
			}
			unmask(payload, mask)
			switch frameOp {
			case opPing:
				pong(payload)
			case opClose:
				return 0, nil, errPeerClosed
			}
			continue
		}
		switch {
		case frameOp == opContinuation && op == 0, frameOp != opContinuation && op != 0:
			return 0, nil, errBadFrame // a continuation of nothing, or a message inside a message
		case frameOp > opBinary:
			return 0, nil, errBadFrame // reserved opcodes
		case frameOp != opContinuation:
			op = frameOp
		}
		if n > uint64(c.maxPayload-len(msg)) {
			return 0, nil, errTooBig
		}
		start := len(msg)
		msg = slices.Grow(msg, int(n))[:start+int(n)]
		if err := c.readFull(msg[start:]); err != nil {
			return 0, nil, err
		}
		unmask(msg[start:], mask)
		if fin {
			return op, msg, nil
		}
	}
}

func (c *wsConn) readFull(p []byte) error {
	if len(c.unread) > 0 {
		n := copy(p, c.unread)
		c.unread = c.unread[n:]
		if len(c.unread) == 0 {
			c.unread = nil
		}
		p = p[n:]
	}
	_, err := io.ReadFull(c.conn, p)
	return err
}

func unmask(b, mask []byte) {
	for i := range b {
		b[i] ^= mask[i&3]
	}
}

// appendFrame appends one whole, unmasked (server-to-client) frame.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	n := len(payload)
	dst = slices.Grow(dst, n+10)
	dst = append(dst, 0x80|op)
	switch {
	case n <= 125:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

func textFrame(packet []byte) []byte { return appendFrame(nil, opText, packet) }

func closeFrame(code int, reason string) []byte {
	payload := binary.BigEndian.AppendUint16(nil, uint16(code))
	return appendFrame(nil, opClose, append(payload, reason...))
}

// writeFrames writes frames and waits for the socket to take them: the writer goroutine's way,
// for a socket whose buffer is full. It consumes frames (the slice's elements are cleared).
func (c *wsConn) writeFrames(frames [][]byte) error {
	bufs := net.Buffers(frames)
	_, err := bufs.WriteTo(c.conn)
	return err
}

// writeTimed writes one frame outside any session, bounded by the upgrade timeout.
func (c *wsConn) writeTimed(frame []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(upgradeTimeout))
	defer c.conn.SetWriteDeadline(time.Time{})
	_, err := c.conn.Write(frame)
	return err
}

// readText reads one message, within the upgrade timeout, and reports whether it is want.
func (c *wsConn) readText(want string) bool {
	c.conn.SetReadDeadline(time.Now().Add(upgradeTimeout))
	defer c.conn.SetReadDeadline(time.Time{})
	op, msg, err := c.readMessage(func([]byte) {})
	return err == nil && op == opText && string(msg) == want
}

// gatherPool holds the buffers that join a session's queued frames into one write.
var gatherPool = sync.Pool{New: func() any { return new([]byte) }}

// serveWebSocketHandshake opens a session directly on WebSocket and starts
// reading from it.
func (srv *Server) serveWebSocketHandshake(w http.ResponseWriter, r *http.Request, addr string) {
	c, err := srv.accept(w, r)
	if err != nil {
		srv.release(addr)
		return
	}
	s := srv.newSession(r, transportWebSocket, addr)
	if s == nil {
		c.writeTimed(closeFrame(closeGoingAway, "server is closed"))
		c.conn.Close()
		return
	}
	s.mu.Lock()
	if s.closed { // by Server.Close, before s.ws was there to close
		s.mu.Unlock()
		c.conn.Close()
		return
	}
	s.ws = c
	s.queue[0] = textFrame(s.queue[0]) // the open packet, queued as for polling
	s.queued = len(s.queue[0])
	s.writeLocked()
	s.mu.Unlock()
	s.startHeartbeat()
	// Read in a goroutine of our own and let ServeHTTP return: net/http's serving goroutine would
	// otherwise keep its connection state (4 KiB reader and writer, the request) alive for as long
	// as the WebSocket lives — most of an idle connection's memory.
	go s.readLoop(c)
}

// serveUpgrade probes a WebSocket for a polling session, switches the
// session to it, and starts reading from it. A failed probe leaves the
// session on polling.
func (s *session) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ok := !s.closed && s.transport == transportPolling && s.probe == nil
	s.mu.Unlock()
	if !ok {
		// The spec: a WebSocket for a session already upgraded (or being upgraded) is closed by
		// the server, so it is accepted and closed rather than refused before the handshake.
		if c, err := s.srv.accept(w, r); err == nil {
			c.writeTimed(closeFrame(closeNormal, ""))
			c.conn.Close()
		}
		return
	}
	c, err := s.srv.accept(w, r)
	if err != nil {
		return
	}
	s.mu.Lock()
	ok = !s.closed && s.probe == nil
	if ok {
		s.probe, s.probeDone = c, make(chan struct{})
	}
	s.mu.Unlock()
	if ok && s.upgrade(c) {
		go s.readLoop(c) // as in serveWebSocketHandshake
		return
	}
	s.mu.Lock()
	if s.probe == c {
		s.endProbeLocked()
	}
	s.mu.Unlock()
	c.conn.Close()
}

// endProbeLocked ends an upgrade attempt, successful or not, and lets the polls that waited for
// its outcome go on (servePoll).
func (s *session) endProbeLocked() {
	s.probe, s.upgrading = nil, false
	if s.probeDone != nil {
		close(s.probeDone)
		s.probeDone = nil
	}
}

// upgrade runs the probe exchange: 2probe / 3probe, the pending poll is
// answered with a noop, then 5 switches the session to c.
func (s *session) upgrade(c *wsConn) bool {
	if !c.readText("2probe") || c.writeTimed(textFrame([]byte("3probe"))) != nil {
		return false
	}
	// A client that sent "5" right behind its probe (not waiting for its pending poll to end,
	// as the reference client does) is upgraded at once, with no moment in between where a
	// poll would still be answered: the reference server, reading both in one go, never has
	// one either.
	if !c.buffered() {
		s.mu.Lock()
		s.upgrading = true
		s.wakePollLocked()
		s.mu.Unlock()
	}
	if !c.readText("5") {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.endProbeLocked()
	s.ws, s.transport = c, transportWebSocket
	s.wakePollLocked()
	s.queued = 0
	for i, p := range s.queue { // what polling did not take yet, now as frames
		s.queue[i] = frameOf(p)
		s.queued += len(s.queue[i])
	}
	if len(s.queue) > 0 {
		s.writeLocked()
	}
	return true
}

// readLoop reads packets from the session's WebSocket until it ends. Each message is handled by
// this goroutine, which then hands reading on to a fresh one: handling (a CONNECT that
// authenticates against the database, say) can grow a stack to tens of KiB, which the parked
// reader of an idle connection would otherwise keep.
func (s *session) readLoop(c *wsConn) {
	op, msg, err := c.readMessage(s.pong)
	if err != nil {
		s.closeTransport(c, err)
		return
	}
	reason := ""
	if op == opBinary {
		reason = s.message(msg, true)
	} else if p, err := decodeEIOPacket(msg); err != nil {
		reason = "parse error"
	} else {
		reason = s.handlePacket(p)
	}
	if reason != "" {
		s.close(reason)
		return
	}
	go s.readLoop(c)
}

// pong answers a client's ping, behind what is already queued.
func (s *session) pong(payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.enqueueWithLocked(nil, appendFrame(nil, opPong, payload), nil)
	}
}

// closeTransport ends the session after a read error, telling the client why when the protocol
// was at fault.
func (s *session) closeTransport(c *wsConn, err error) {
	var frame []byte
	reason := "transport error"
	switch {
	case errors.Is(err, errPeerClosed), errors.Is(err, io.EOF):
		reason = "transport close"
		frame = closeFrame(closeNormal, "")
	case errors.Is(err, errBadFrame):
		frame = closeFrame(closeProtocolError, "protocol error")
	case errors.Is(err, errTooBig):
		frame = closeFrame(closeTooBig, "message too big")
	}
	if frame != nil {
		s.mu.Lock()
		s.writeLastLocked(c, frame)
		s.mu.Unlock()
	}
	s.close(reason)
}

// writeLastLocked writes a close frame if the socket takes it at once and nothing is half
// written; a connection being torn down is not waited for.
func (s *session) writeLastLocked(c *wsConn, frame []byte) {
	if !s.writing && c.raw != nil {
		c.writeNow(frame)
	}
}

// writeLocked writes the queue to the WebSocket: at once as far as the socket takes it, the rest
// by the writer goroutine, which waits for the socket to drain. Called with the queue not empty
// and no writer running.
func (s *session) writeLocked() {
	if s.ws.raw != nil {
		var buf []byte
		var pooled *[]byte
		if len(s.queue) == 1 {
			buf = s.queue[0] // often a broadcast's frame, shared: only read
		} else {
			pooled = gatherPool.Get().(*[]byte)
			buf = (*pooled)[:0]
			for _, f := range s.queue {
				buf = append(buf, f...)
			}
		}
		n, err := s.ws.writeNow(buf)
		rest := buf[n:]
		if len(rest) > 0 && err == nil {
			rest = slices.Clone(rest) // the writer goroutine finishes it
		}
		if pooled != nil {
			if cap(buf) <= maxPooledGather {
				*pooled = buf[:0]
				gatherPool.Put(pooled)
			}
		}
		if err != nil {
			s.markClosedLocked()
			go s.teardown("transport error")
			return
		}
		clear(s.queue)
		s.queue = s.queue[:0]
		if cap(s.queue) > maxKeptBatch {
			s.queue = nil
		}
		if len(rest) == 0 {
			s.queued = 0
			return
		}
		s.queue = append(s.queue, rest)
		s.queued = len(rest)
	}
	s.writing = true
	go s.writeLoop(s.ws)
}

// maxPooledGather bounds the gather buffers kept for reuse.
const maxPooledGather = 64 << 10

// writeLoop writes the queue to c, waiting for the socket, until the queue is empty; then it
// exits. Without raw writes (TLS) it is the only way out.
func (s *session) writeLoop(c *wsConn) {
	var batch [][]byte
	written := 0
	for {
		s.mu.Lock()
		s.queued -= written
		if batch != nil && cap(batch) <= maxKeptBatch {
			s.spare = batch[:0]
		}
		if s.closed || len(s.queue) == 0 {
			if s.queue == nil {
				s.queue, s.spare = s.spare, nil
			}
			s.writing = false
			s.mu.Unlock()
			return
		}
		batch = s.queue
		s.queue, s.spare = s.spare, nil
		s.mu.Unlock()

		written = 0
		for _, f := range batch {
			written += len(f)
		}
		if err := c.writeFrames(batch); err != nil {
			s.close("transport error")
			return
		}
		clear(batch)
	}
}

// maxKeptBatch bounds the queue capacity a session keeps between writes. A round carries several
// events to a socket when saves come thousands a second, and a queue regrown for each round was a
// third of the server's allocations there; at most 64 slice headers (1.5 KiB) stay with a
// session once it falls idle.
const maxKeptBatch = 64

// A Batch collects sends to many sockets and writes each socket's share at once on Flush: an
// event fanned out to thousands of sockets, or several events in a row, cost one system call per
// socket rather than one per event per socket. Not safe for concurrent use; reuse it.
type Batch struct {
	sessions []*session
}

// Flush writes what was sent through b since the last Flush. With several CPUs the sockets are
// shared out among goroutines.
func (b *Batch) Flush() {
	sessions := b.sessions
	if len(sessions) == 0 {
		return
	}
	workers := min(runtime.GOMAXPROCS(0), len(sessions)/flushPerWorker)
	if workers <= 1 {
		flushSessions(sessions)
	} else {
		var wg sync.WaitGroup
		per := (len(sessions) + workers - 1) / workers
		for part := range slices.Chunk(sessions, per) {
			wg.Go(func() { flushSessions(part) })
		}
		wg.Wait()
	}
	clear(sessions)
	b.sessions = sessions[:0]
}

// flushPerWorker is the fewest sockets worth a goroutine of their own in Flush.
const flushPerWorker = 256

// yieldEvery is how many sockets a flush writes before it lets other goroutines run: a round to
// thousands of sockets is tens of milliseconds of system calls, and on one CPU the requests that
// publish the next events (and the saves behind them) would wait for all of it (yield.go).
const yieldEvery = 128

func flushSessions(sessions []*session) {
	for i, s := range sessions {
		if i > 0 && i%yieldEvery == 0 {
			flushYield.yield()
		}
		s.mu.Lock()
		s.batched = false
		if !s.closed && !s.writing && len(s.queue) > 0 {
			s.sendLocked()
		}
		s.mu.Unlock()
	}
}

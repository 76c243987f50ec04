package socketio

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// upgradeTimeout bounds the probe exchange of an upgrade to WebSocket.
const upgradeTimeout = 10 * time.Second

// acceptOptions: Origin is the business of Options.CheckRequest; every
// message is small and many connections are idle, so no compression.
var acceptOptions = &websocket.AcceptOptions{
	InsecureSkipVerify: true,
	CompressionMode:    websocket.CompressionDisabled,
}

func (srv *Server) accept(w http.ResponseWriter, r *http.Request) (*websocket.Conn, *corkConn, error) {
	hw := &hijackWriter{ResponseWriter: w}
	c, err := websocket.Accept(hw, r, acceptOptions)
	if err != nil {
		return nil, nil, err // Accept has answered the request
	}
	c.SetReadLimit(int64(srv.opts.MaxPayload))
	return c, hw.cork, nil
}

// Small buffers for the hijacked connection: most connections are idle and every message is
// small, so net/http's 4 KiB reader and writer per connection would be most of its memory. Larger
// messages bypass the buffers.
const (
	wsReadBuffer  = 512
	wsWriteBuffer = 512
	maxCork       = 256 << 10
)

// hijackWriter hands coder/websocket a corkConn and small buffers instead of net/http's.
type hijackWriter struct {
	http.ResponseWriter
	cork *corkConn
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Bytes the client sent after the handshake may already sit in net/http's reader; the conn
	// serves them first, since coder/websocket reads from the conn itself.
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	w.cork = &corkConn{Conn: conn, unread: bytes.Clone(buffered)}
	return w.cork, bufio.NewReadWriter(bufio.NewReaderSize(w.cork, wsReadBuffer), bufio.NewWriterSize(w.cork, wsWriteBuffer)), nil
}

// corkConn lets the writer put a whole burst of WebSocket frames on the wire with one write:
// coder/websocket flushes after every message, which would cost a system call (and on a VM an
// interrupt) per frame per socket — the largest cost of a fan-out.
type corkConn struct {
	net.Conn
	unread []byte // read before the connection: what net/http had buffered at the hijack

	mu     sync.Mutex
	corked bool
	buf    []byte
}

func (c *corkConn) Read(p []byte) (int, error) {
	if len(c.unread) > 0 { // only the reading goroutine reads
		n := copy(p, c.unread)
		c.unread = c.unread[n:]
		if len(c.unread) == 0 {
			c.unread = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked && len(c.buf)+len(p) <= maxCork {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was held, in one write.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked()
}

func (c *corkConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > 16<<10 {
		c.buf = nil // an idle connection keeps no large buffer
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// serveWebSocketHandshake opens a session directly on WebSocket and starts
// reading from it.
func (srv *Server) serveWebSocketHandshake(w http.ResponseWriter, r *http.Request) {
	c, cork, err := srv.accept(w, r)
	if err != nil {
		return
	}
	s := srv.newSession(r, transportWebSocket)
	if s == nil {
		c.Close(websocket.StatusGoingAway, "server is closed")
		return
	}
	s.mu.Lock()
	if s.closed { // by Server.Close, before s.ws was there to close
		s.mu.Unlock()
		c.CloseNow()
		return
	}
	s.ws, s.cork = c, cork
	s.writing = true
	go s.writeLoop(c, cork) // the open packet is queued
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
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
		return
	}
	c, cork, err := s.srv.accept(w, r)
	if err != nil {
		return
	}
	s.mu.Lock()
	ok = !s.closed && s.probe == nil
	if ok {
		s.probe = c
	}
	s.mu.Unlock()
	if ok && s.upgrade(c, cork) {
		go s.readLoop(c) // as in serveWebSocketHandshake
		return
	}
	s.mu.Lock()
	if s.probe == c {
		s.probe, s.upgrading = nil, false
	}
	s.mu.Unlock()
	c.CloseNow()
}

// upgrade runs the probe exchange: 2probe / 3probe, the pending poll is
// answered with a noop, then 5 switches the session to c.
func (s *session) upgrade(c *websocket.Conn, cork *corkConn) bool {
	ctx, cancel := context.WithTimeout(context.Background(), upgradeTimeout)
	defer cancel()
	if !readText(ctx, c, "2probe") || c.Write(ctx, websocket.MessageText, []byte("3probe")) != nil {
		return false
	}
	s.mu.Lock()
	s.upgrading = true
	s.wakePollLocked()
	s.mu.Unlock()
	if !readText(ctx, c, "5") {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.probe, s.upgrading = nil, false
	s.ws, s.cork, s.transport = c, cork, transportWebSocket
	s.wakePollLocked()
	if len(s.queue) > 0 {
		s.writing = true
		go s.writeLoop(c, cork)
	}
	return true
}

func readText(ctx context.Context, c *websocket.Conn, want string) bool {
	typ, msg, err := c.Read(ctx)
	return err == nil && typ == websocket.MessageText && string(msg) == want
}

// readLoop reads packets from the session's WebSocket until it ends. It is
// the one goroutine an idle WebSocket session costs.
func (s *session) readLoop(c *websocket.Conn) {
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			s.close(readErrorReason(err))
			return
		}
		if typ != websocket.MessageText {
			continue // binary attachments are refused with their header
		}
		p, err := decodeEIOPacket(msg)
		if err != nil {
			s.close("parse error")
			return
		}
		if reason := s.handlePacket(p); reason != "" {
			s.close(reason)
			return
		}
	}
}

func readErrorReason(err error) string {
	if websocket.CloseStatus(err) != -1 || errors.Is(err, io.EOF) {
		return "transport close"
	}
	return "transport error"
}

// writeLoop writes the queue to c until it is empty, then exits. It swaps
// the queue with an emptied batch, so that a steady stream of sends to an
// idle session allocates nothing but this goroutine.
func (s *session) writeLoop(c *websocket.Conn, cork *corkConn) {
	ctx := context.Background()
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
		cork.cork()
		for _, b := range batch {
			if err := c.Write(ctx, websocket.MessageText, b); err != nil {
				cork.uncork()
				s.close("transport error")
				return
			}
			written += len(b)
		}
		if err := cork.uncork(); err != nil {
			s.close("transport error")
			return
		}
		clear(batch)
	}
}

// maxKeptBatch bounds the queue capacity an idle session keeps.
const maxKeptBatch = 8

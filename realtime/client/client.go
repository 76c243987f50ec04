// Package client is a small Socket.IO v4 client (Socket.IO protocol v5 over
// Engine.IO v4, WebSocket transport only) for livedoc's Go tests and its
// load generator.
//
// It behaves as socket.io-client 4.8 does where that is observable by a
// server: the CONNECT packet and its auth, connection-state recovery (pid
// and offset), acknowledgements both ways, the pong answering each ping,
// the DISCONNECT sent by Close, and reconnection with backoff.
//
// One client costs one goroutine (its reader) and one timer (the ping
// timeout) while connected. Writes are synchronous, from the calling
// goroutine; the WebSocket serialises them. Handlers run on the reader
// goroutine, in the order the server sent the packets.
//
// Not supported: HTTP long-polling, binary packets (BINARY_EVENT and
// BINARY_ACK from the server are ignored), several namespaces on one
// connection (use one Client per namespace), and buffering of emits while
// disconnected (Emit fails with ErrNotConnected instead).
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/livedoc/livedoc/realtime/internal/wire"
)

// Options configures a Client.
type Options struct {
	// URL is the server, http(s)://host:port (ws and wss work too). Path
	// is appended to its path.
	URL string
	// Path is where the server listens, "/socket.io/" by default.
	Path string
	// Namespace is "/" (the default) or "/<name>".
	Namespace string
	// Header is sent with the WebSocket handshake (Cookie, Origin,
	// Authorization...).
	Header http.Header
	// Auth is the CONNECT payload, e.g. {"token": "key:secret"}. While the
	// server grants connection-state recovery, "pid" and "offset" are added
	// to it on reconnection (keys of Auth win, as in socket.io-client).
	Auth map[string]any
	// Reconnect makes the client reconnect after a lost connection, forever,
	// with exponential backoff (100ms doubling up to 5s, ±50% jitter). It
	// does not reconnect after Close, after the server's DISCONNECT
	// ("io server disconnect"), or when a reconnection gets CONNECT_ERROR.
	Reconnect bool
	// Timeout bounds each reconnection attempt (dial, Engine.IO handshake
	// and CONNECT answer); default 20s, as socket.io-client. The first
	// connection is bounded by the context given to Connect.
	Timeout time.Duration
	// Dialer, when HTTPClient is nil, dials the TCP connections (e.g. with
	// a LocalAddr, to spread many clients over source addresses).
	Dialer *net.Dialer
	// HTTPClient performs the WebSocket handshake; http.DefaultClient by
	// default. Many clients should share one: each Client given a Dialer
	// and no HTTPClient builds its own http.Transport.
	HTTPClient *http.Client
	// MaxMessageSize bounds one message read from the server; default
	// 64 MiB. A bigger message closes the connection ("transport error").
	MaxMessageSize int64
}

// ConnectError is the server's CONNECT_ERROR: it refused the namespace
// connection (socket.io-client's "connect_error").
type ConnectError struct {
	Message string          // the server's message
	Data    json.RawMessage // the optional "data" of the refusal
}

func (e *ConnectError) Error() string { return "socket.io connect error: " + e.Message }

// DisconnectError is why a client that does not reconnect stopped.
type DisconnectError struct {
	// Reason is one of socket.io-client's: "io server disconnect",
	// "transport close", "transport error", "ping timeout", "parse error".
	Reason string
}

func (e *DisconnectError) Error() string { return "socket.io disconnected: " + e.Reason }

var (
	// ErrNotConnected is returned by Emit and EmitWithAck while there is no
	// connection (before Connect, or while reconnecting).
	ErrNotConnected = errors.New("socket.io client: not connected")
	// ErrDisconnected is returned by EmitWithAck when the connection is
	// lost before the acknowledgement arrives.
	ErrDisconnected = errors.New("socket.io client: disconnected before the acknowledgement")
	// ErrClosed is returned once Close has been called, and is Err after it.
	ErrClosed = errors.New("socket.io client: closed")
)

const (
	defaultPath           = "/socket.io/"
	defaultTimeout        = 20 * time.Second
	defaultMaxMessageSize = 64 << 20
	closeTimeout          = 5 * time.Second
	minBackoff            = 100 * time.Millisecond
	maxBackoff            = 5 * time.Second
)

// Client is one Socket.IO connection to one namespace. Its methods are safe
// for concurrent use.
type Client struct {
	opts   Options
	url    string
	httpc  *http.Client
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	handlers atomic.Pointer[handlers]
	hmu      sync.Mutex // serialises handler registration

	mu        sync.Mutex
	started   bool  // Connect was called
	closed    bool  // Close was called
	cur       *conn // nil while not connected
	id, pid   string
	offset    string
	recovered bool
	nextAckID int64
	acks      map[int64]chan []json.RawMessage

	done     chan struct{}
	doneOnce sync.Once
	err      error // why the client stopped; set before done is closed

	liveOnce sync.Once
	lives    *liveHub // live documents and lists (live.go)
}

// conn is one WebSocket connection and its Engine.IO / Socket.IO session.
type conn struct {
	ws       *websocket.Conn
	sid, pid string        // from the CONNECT answer
	pingWait time.Duration // pingInterval + pingTimeout; 0: no ping timeout
	timer    *time.Timer   // ping timeout
	early    [][]byte      // EVENTs received before the CONNECT answer
	reason   string        // guarded by Client.mu: why it is being closed
}

type handlers struct {
	events     map[string][]eventHandler
	any        []func(event string, args []json.RawMessage)
	connect    []func(recovered bool)
	disconnect []func(reason string)
}

type eventHandler struct {
	fn  func(args []json.RawMessage)
	ack func(args []json.RawMessage) []any
}

// New returns a client that is not connected yet: register handlers, then
// call Connect. Nothing the server sends right after CONNECT is missed.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("socket.io client: URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("socket.io client: URL %q: scheme must be http, https, ws or wss", o.URL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("socket.io client: URL %q has no host", o.URL)
	}
	path := o.Path
	if path == "" {
		path = defaultPath
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(path, "/")
	u.RawPath = ""
	q := u.Query()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	u.RawQuery = q.Encode()

	if o.Namespace == "" {
		o.Namespace = "/"
	}
	if !strings.HasPrefix(o.Namespace, "/") || strings.ContainsAny(o.Namespace, ",?") {
		return nil, fmt.Errorf("socket.io client: invalid namespace %q", o.Namespace)
	}
	if o.Auth != nil {
		auth := make(map[string]any, len(o.Auth))
		for k, v := range o.Auth {
			auth[k] = v
		}
		o.Auth = auth
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = defaultMaxMessageSize
	}
	httpc := o.HTTPClient
	if httpc == nil && o.Dialer != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = o.Dialer.DialContext
		httpc = &http.Client{Transport: tr}
	}
	c := &Client{opts: o, url: u.String(), httpc: httpc, done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.handlers.Store(&handlers{})
	return c, nil
}

// Dial is New then Connect, for callers with no handler to register before
// the connection: what the server sends right after CONNECT may arrive
// before handlers registered after Dial returns.
func Dial(ctx context.Context, o Options) (*Client, error) {
	c, err := New(o)
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Connect opens the connection and returns once the server accepted the
// namespace CONNECT; OnConnect handlers have run by then. A refusal is a
// *ConnectError with the server's message. ctx bounds the connection only.
// A failed Connect is not retried, even with Reconnect: the client is then
// done. Connect may be called once.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("socket.io client: Connect called twice")
	}
	c.started = true
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	cn, err := c.open(ctx)
	if err != nil {
		if c.ctx.Err() != nil {
			err = ErrClosed
		}
		c.finish(err)
		return err
	}
	recovered, ok := c.attach(cn)
	if !ok {
		cn.ws.CloseNow()
		c.finish(ErrClosed)
		return ErrClosed
	}
	c.connected(cn, recovered)
	go c.run(cn)
	return nil
}

// On registers fn for an event; it gets the event's arguments as the server
// sent them (with recovery on, the offset is the last one, as in
// socket.io-client). Handlers run on the client's reader goroutine in
// arrival order, OnAny handlers first: a handler must not block, nor wait
// for an acknowledgement (EmitWithAck), which that goroutine delivers. args
// are the handler's to keep (all handlers of an event share them).
func (c *Client) On(event string, fn func(args []json.RawMessage)) {
	c.update(func(h *handlers) { h.events[event] = append(h.events[event], eventHandler{fn: fn}) })
}

// OnWithAck registers fn for an event whose sender may ask for an
// acknowledgement: what fn returns is sent back as the ACK arguments. Only
// the first OnWithAck handler of an event answers; without one, the server
// gets no ACK (as with a socket.io-client listener that does not call back).
func (c *Client) OnWithAck(event string, fn func(args []json.RawMessage) []any) {
	c.update(func(h *handlers) { h.events[event] = append(h.events[event], eventHandler{ack: fn}) })
}

// OnAny registers fn for every event, called before the event's handlers.
func (c *Client) OnAny(fn func(event string, args []json.RawMessage)) {
	c.update(func(h *handlers) { h.any = append(h.any, fn) })
}

// OnConnect registers fn for every accepted CONNECT: the first one (inside
// Connect) and each reconnection (on the reader goroutine). As in
// socket.io-client, events that arrived before the CONNECT answer (a
// recovered session's missed packets, which socket.io sends first) are
// handled before fn runs, and any that follows the answer after it.
// recovered is Recovered().
func (c *Client) OnConnect(fn func(recovered bool)) {
	c.update(func(h *handlers) { h.connect = append(h.connect, fn) })
}

// OnDisconnect registers fn for every lost connection, on the reader
// goroutine, with socket.io-client's reason: "io client disconnect" (Close),
// "io server disconnect", "transport close", "transport error",
// "ping timeout" or "parse error".
func (c *Client) OnDisconnect(fn func(reason string)) {
	c.update(func(h *handlers) { h.disconnect = append(h.disconnect, fn) })
}

// update replaces the handlers by a modified copy; readers never lock.
func (c *Client) update(change func(h *handlers)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	old := c.handlers.Load()
	h := &handlers{
		events:     make(map[string][]eventHandler, len(old.events)+1),
		any:        append([]func(string, []json.RawMessage){}, old.any...),
		connect:    append([]func(bool){}, old.connect...),
		disconnect: append([]func(string){}, old.disconnect...),
	}
	for k, v := range old.events {
		h.events[k] = append([]eventHandler{}, v...)
	}
	change(h)
	c.handlers.Store(h)
}

// Emit sends an event. json.RawMessage arguments are sent as they are.
func (c *Client) Emit(event string, args ...any) error {
	cn, err := c.current()
	if err != nil {
		return err
	}
	b, err := wire.Event(c.opts.Namespace, -1, event, args)
	if err != nil {
		return err
	}
	return cn.ws.Write(context.Background(), websocket.MessageText, b)
}

// EmitWithAck sends an event asking for an acknowledgement and waits for
// it: the server's ACK arguments, ErrDisconnected if the connection is lost
// first, or ctx's error. It must not be called from a handler.
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	c.mu.Lock()
	cn := c.cur
	if cn == nil {
		c.mu.Unlock()
		return nil, c.notConnected()
	}
	id := c.nextAckID
	c.nextAckID++
	b, err := wire.Event(c.opts.Namespace, id, event, args)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	ch := make(chan []json.RawMessage, 1)
	if c.acks == nil {
		c.acks = make(map[int64]chan []json.RawMessage)
	}
	c.acks[id] = ch
	c.mu.Unlock()

	if err := cn.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.forgetAck(id)
		return nil, err
	}
	select {
	case args, ok := <-ch:
		if !ok {
			return nil, ErrDisconnected
		}
		return args, nil
	case <-ctx.Done():
		c.forgetAck(id)
		return nil, ctx.Err()
	}
}

func (c *Client) forgetAck(id int64) {
	c.mu.Lock()
	delete(c.acks, id)
	c.mu.Unlock()
}

func (c *Client) current() (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return nil, c.notConnected()
	}
	return c.cur, nil
}

func (c *Client) notConnected() error {
	if c.closed {
		return ErrClosed
	}
	return ErrNotConnected
}

// ID is the socket id of the current (or last) connection.
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// PID is the connection-state-recovery session id of the last CONNECT
// answer, "" when the server does not offer recovery.
func (c *Client) PID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pid
}

// Recovered reports whether the last CONNECT answer carried the pid the
// client asked to recover: the server restored the session and sends the
// packets missed since LastOffset.
func (c *Client) Recovered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recovered
}

// LastOffset is the offset recorded from the last event received while a
// pid was known: its last argument if that is a string (for an event
// without arguments, socket.io-client records the event name; so does this
// client). Events that ask for an acknowledgement are not recorded. It is
// recorded before the event's handlers run.
func (c *Client) LastOffset() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// Connected reports whether the client is connected right now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil
}

// Done is closed when the client has stopped for good: after Close, a
// failed Connect, a DISCONNECT or CONNECT_ERROR from the server, or a lost
// connection without Reconnect. The last handler has returned by then.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the client stopped once Done is closed (ErrClosed after Close,
// a *ConnectError, a *DisconnectError, or the failed Connect's error), and
// nil before.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// CloseTransport drops the WebSocket at once, with neither a DISCONNECT nor
// a WebSocket close frame, as a network cut would (reason
// "transport close"). With Reconnect the client then reconnects.
func (c *Client) CloseTransport() {
	c.mu.Lock()
	cn := c.cur
	if cn != nil && cn.reason == "" {
		cn.reason = "transport close"
	}
	c.mu.Unlock()
	if cn != nil {
		cn.ws.CloseNow()
	}
}

// Close disconnects cleanly (DISCONNECT, then the WebSocket closing
// handshake) and stops reconnecting. It does not wait for the reader
// goroutine, so it may be called from a handler; wait on Done for that.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	started := c.started
	cn := c.cur
	if cn != nil && cn.reason == "" {
		cn.reason = "io client disconnect"
	}
	c.mu.Unlock()
	c.cancel()
	if !started {
		c.finish(ErrClosed)
	}
	if cn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if cn.ws.Write(ctx, websocket.MessageText, encodeDisconnect(c.opts.Namespace)) != nil {
		cn.ws.CloseNow()
		return nil
	}
	cn.ws.Close(websocket.StatusNormalClosure, "")
	return nil
}

// finish marks the client done, once.
func (c *Client) finish(err error) {
	c.doneOnce.Do(func() {
		c.err = err
		c.cancel()
		close(c.done)
	})
}

// open dials, reads the Engine.IO open packet, sends CONNECT and waits for
// its answer.
func (c *Client) open(ctx context.Context) (*conn, error) {
	ws, _, err := websocket.Dial(ctx, c.url, &websocket.DialOptions{
		HTTPClient:      c.httpc,
		HTTPHeader:      c.opts.Header,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			ws.CloseNow()
		}
	}()
	ws.SetReadLimit(c.opts.MaxMessageSize)

	_, msg, err := ws.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("engine.io handshake: %w", err)
	}
	var open struct {
		SID          string `json:"sid"`
		PingInterval int64  `json:"pingInterval"`
		PingTimeout  int64  `json:"pingTimeout"`
	}
	if len(msg) == 0 || msg[0] != eioOpen || json.Unmarshal(msg[1:], &open) != nil || open.SID == "" {
		return nil, fmt.Errorf("engine.io handshake: unexpected packet %q", truncate(msg))
	}
	cn := &conn{ws: ws}
	if open.PingInterval > 0 && open.PingTimeout > 0 {
		cn.pingWait = time.Duration(open.PingInterval+open.PingTimeout) * time.Millisecond
	}

	auth, err := c.connectAuth()
	if err != nil {
		return nil, err
	}
	if err := ws.Write(ctx, websocket.MessageText, encodeConnect(c.opts.Namespace, auth)); err != nil {
		return nil, err
	}
	for {
		typ, msg, err := ws.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("socket.io connect: %w", err)
		}
		if typ != websocket.MessageText || len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case eioPing:
			if err := ws.Write(ctx, websocket.MessageText, []byte{eioPong}); err != nil {
				return nil, err
			}
			continue
		case eioMessage:
		case eioClose:
			return nil, errors.New("socket.io connect: the server closed the session")
		default:
			continue
		}
		p, err := decodePacket(msg[1:])
		if err != nil {
			return nil, fmt.Errorf("socket.io connect: %w: %q", err, truncate(msg))
		}
		if !isNamespace(p.nsp, c.opts.Namespace) {
			continue
		}
		switch p.typ {
		case sioConnect:
			var answer struct {
				SID string `json:"sid"`
				PID string `json:"pid"`
			}
			if json.Unmarshal(p.data, &answer) != nil || answer.SID == "" {
				return nil, fmt.Errorf("socket.io connect: bad answer %q", truncate(msg))
			}
			cn.sid, cn.pid = answer.SID, answer.PID
			ok = true
			return cn, nil
		case sioConnectError:
			return nil, decodeConnectError(p.data)
		case sioDisconnect:
			return nil, &DisconnectError{Reason: "io server disconnect"}
		case sioEvent:
			// A recovered session's missed packets come first
			// (socket.io 4.8 sends them before the CONNECT answer).
			cn.early = append(cn.early, msg[1:])
		}
	}
}

// connectAuth is the CONNECT payload: Options.Auth, over {pid, offset}
// while a pid is known.
func (c *Client) connectAuth() ([]byte, error) {
	c.mu.Lock()
	pid, offset := c.pid, c.offset
	c.mu.Unlock()
	if pid == "" {
		if c.opts.Auth == nil {
			return nil, nil
		}
		return json.Marshal(c.opts.Auth)
	}
	m := make(map[string]any, len(c.opts.Auth)+2)
	m["pid"] = pid
	if offset != "" {
		m["offset"] = offset
	}
	for k, v := range c.opts.Auth {
		m[k] = v
	}
	return json.Marshal(m)
}

func decodeConnectError(data []byte) *ConnectError {
	var e struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if json.Unmarshal(data, &e) != nil {
		// Protocol v4 servers sent the message as a bare JSON string.
		if s, ok := jsonString(data); ok {
			return &ConnectError{Message: s}
		}
		return &ConnectError{Message: string(data)}
	}
	return &ConnectError{Message: e.Message, Data: e.Data}
}

// attach makes cn the current connection, unless the client is closed.
func (c *Client) attach(cn *conn) (recovered, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false, false
	}
	c.recovered = cn.pid != "" && cn.pid == c.pid
	c.pid = cn.pid
	c.id = cn.sid
	c.cur = cn
	if cn.pingWait > 0 {
		cn.timer = time.AfterFunc(cn.pingWait, func() { c.drop(cn, "ping timeout") })
	}
	return c.recovered, true
}

// drop closes cn's WebSocket now, for reason.
func (c *Client) drop(cn *conn, reason string) {
	c.mu.Lock()
	if cn.reason == "" {
		cn.reason = reason
	}
	c.mu.Unlock()
	cn.ws.CloseNow()
}

// detach forgets cn after its reader stopped and returns the reason.
func (c *Client) detach(cn *conn, readReason string) (reason string, closed bool) {
	cn.ws.CloseNow()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cn.timer != nil {
		cn.timer.Stop()
	}
	if cn.reason == "" {
		cn.reason = readReason
	}
	if c.cur == cn {
		c.cur = nil
	}
	for id, ch := range c.acks {
		close(ch)
		delete(c.acks, id)
	}
	return cn.reason, c.closed
}

// run is the reader goroutine: it reads cn, then reconnects as configured.
func (c *Client) run(cn *conn) {
	for {
		var stopErr error
		reason := c.read(cn, &stopErr)
		reason, closed := c.detach(cn, reason)
		c.fireDisconnect(reason)
		switch {
		case closed:
			c.finish(ErrClosed)
			return
		case stopErr != nil:
			c.finish(stopErr)
			return
		case !c.opts.Reconnect || reason == "io server disconnect":
			c.finish(&DisconnectError{Reason: reason})
			return
		}
		var recovered bool
		if cn, recovered = c.reconnect(); cn == nil {
			return
		}
		c.connected(cn, recovered)
	}
}

// connected handles what arrived before the CONNECT answer, then calls the
// OnConnect handlers, in socket.io-client's order.
func (c *Client) connected(cn *conn, recovered bool) {
	var stopErr error
	for _, msg := range cn.early {
		if reason := c.handle(cn, msg, &stopErr); reason != "" {
			c.drop(cn, reason)
			break
		}
	}
	cn.early = nil
	c.fireConnect(recovered)
}

// reconnect dials until it succeeds, with backoff. It returns nil when the
// client is done.
func (c *Client) reconnect() (*conn, bool) {
	for attempt := 0; ; attempt++ {
		t := time.NewTimer(backoff(attempt))
		select {
		case <-c.ctx.Done():
			t.Stop()
			c.finish(ErrClosed)
			return nil, false
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.Timeout)
		cn, err := c.open(ctx)
		cancel()
		if err == nil {
			recovered, ok := c.attach(cn)
			if ok {
				return cn, recovered
			}
			cn.ws.CloseNow()
			c.finish(ErrClosed)
			return nil, false
		}
		if c.ctx.Err() != nil {
			c.finish(ErrClosed)
			return nil, false
		}
		var ce *ConnectError
		var de *DisconnectError
		if errors.As(err, &ce) || errors.As(err, &de) {
			c.finish(err)
			return nil, false
		}
	}
}

// backoff is the delay before reconnection attempt n (0-based).
func backoff(n int) time.Duration {
	d := maxBackoff
	if n < 6 {
		d = min(minBackoff<<n, maxBackoff)
	}
	d = d/2 + rand.N(d)
	return min(d, maxBackoff)
}

// read handles cn's packets until it fails and returns socket.io-client's
// reason. A CONNECT_ERROR stores its error in stopErr.
func (c *Client) read(cn *conn, stopErr *error) string {
	ctx := context.Background()
	for {
		typ, msg, err := cn.ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != -1 || errors.Is(err, io.EOF) {
				return "transport close"
			}
			return "transport error"
		}
		if typ != websocket.MessageText || len(msg) == 0 {
			continue // binary attachments are not supported
		}
		switch msg[0] {
		case eioPing:
			if cn.timer != nil {
				cn.timer.Reset(cn.pingWait)
			}
			cn.ws.Write(ctx, websocket.MessageText, []byte{eioPong})
		case eioMessage:
			if reason := c.handle(cn, msg[1:], stopErr); reason != "" {
				return reason
			}
		case eioClose:
			return "transport close"
		case eioPong, eioNoop, eioUpgrade, eioOpen:
		default:
			return "parse error"
		}
	}
}

// handle handles one Socket.IO packet; a non-empty result ends the
// connection with that reason.
func (c *Client) handle(cn *conn, b []byte, stopErr *error) string {
	p, err := decodePacket(b)
	if err != nil {
		return "parse error"
	}
	if !isNamespace(p.nsp, c.opts.Namespace) {
		return ""
	}
	switch p.typ {
	case sioEvent:
		args, err := splitArray(p.data)
		if err != nil || len(args) == 0 {
			return "parse error"
		}
		event, ok := jsonString(args[0])
		if !ok {
			return "parse error"
		}
		c.dispatch(cn, p.id, event, args)
	case sioAck:
		args, err := splitArray(p.data)
		if err != nil || p.id < 0 {
			return "parse error"
		}
		c.mu.Lock()
		ch := c.acks[p.id]
		delete(c.acks, p.id)
		c.mu.Unlock()
		if ch != nil {
			ch <- args
		}
	case sioDisconnect:
		return "io server disconnect"
	case sioConnectError:
		*stopErr = decodeConnectError(p.data)
		return "io server disconnect"
	}
	return ""
}

// dispatch runs the handlers of an event; all holds the event name then its
// arguments.
func (c *Client) dispatch(cn *conn, id int64, event string, all []json.RawMessage) {
	// socket.io-client: while a pid is known, a string last in [event,
	// ...args] is the offset; an ack callback would be last instead. It is
	// recorded before the handlers run, so that they see it.
	if cn.pid != "" && id < 0 {
		if offset, ok := jsonString(all[len(all)-1]); ok {
			c.mu.Lock()
			c.offset = offset
			c.mu.Unlock()
		}
	}
	args := all[1:]
	h := c.handlers.Load()
	for _, fn := range h.any {
		fn(event, args)
	}
	acked := false
	for _, eh := range h.events[event] {
		if eh.fn != nil {
			eh.fn(args)
			continue
		}
		res := eh.ack(args)
		if id >= 0 && !acked {
			acked = true
			if b, err := wire.Ack(c.opts.Namespace, id, res); err == nil {
				cn.ws.Write(context.Background(), websocket.MessageText, b)
			}
		}
	}
}

func (c *Client) fireConnect(recovered bool) {
	for _, fn := range c.handlers.Load().connect {
		fn(recovered)
	}
}

func (c *Client) fireDisconnect(reason string) {
	for _, fn := range c.handlers.Load().disconnect {
		fn(reason)
	}
}

func truncate(b []byte) []byte {
	if len(b) > 100 {
		return b[:100]
	}
	return b
}

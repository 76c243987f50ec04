package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configures a Server. The zero value of each field means its default;
// for the limits, a negative value means no limit.
type Options struct {
	// PingInterval is how often the server pings each session (default 25s);
	// PingTimeout is how long it then waits for the pong before closing the
	// session with reason "ping timeout" (default 20s).
	PingInterval, PingTimeout time.Duration

	// MaxPayload bounds what a client may send at once, in bytes: one
	// long-polling POST body (bigger: HTTP 413 and the session is closed) or
	// one WebSocket message (bigger: the connection is closed). Default 1e6.
	MaxPayload int

	// SendQueueBytes bounds the bytes queued for one Engine.IO session (all
	// its namespaces) and not yet written. A send that would overflow it
	// fails with ErrSlowConsumer and closes the session: the client sees a
	// transport close and reconnects, and OnDisconnect gets "slow consumer".
	// Sending never blocks. Default 1 MiB.
	SendQueueBytes int

	// MaxConnectionsPerAddr bounds the Engine.IO sessions open at once from
	// one client address (ClientAddr); a handshake beyond it is refused with
	// HTTP 429. Default DefaultMaxConnectionsPerAddr.
	MaxConnectionsPerAddr int

	// HandshakeRate (per second) and HandshakeBurst limit the handshakes of
	// one client address: a token bucket of HandshakeBurst tokens refilled
	// at HandshakeRate. A handshake without a token is refused with HTTP 429
	// and Retry-After. Defaults DefaultHandshakeRate and
	// DefaultHandshakeBurst; a negative HandshakeRate: no limit. Upgrades of
	// an existing session are not handshakes.
	HandshakeRate  float64
	HandshakeBurst int

	// ClientAddr names the client of a request for the limits above.
	// Default RemoteHost: the TCP peer. Behind a reverse proxy every client
	// then counts as the proxy, unless ClientAddr reads a header that the
	// proxy sets and clients cannot.
	ClientAddr func(r *http.Request) string

	// ConnectTimeout closes a session that has no namespace connected this
	// long after it opened (default 45s, the reference server's; negative:
	// never). Not for Engine.IO-only servers (OnMessage).
	ConnectTimeout time.Duration

	// OnMessage, if set, makes the server a plain Engine.IO server: every
	// message a client sends is handed to it (binary tells a binary message
	// from a text one) on the session's reading goroutine, and the Socket.IO
	// fields below are not used. data belongs to the callee.
	OnMessage func(c *Conn, data []byte, binary bool)

	// CheckRequest vets the request that opens a session (handshake) or
	// upgrades it to WebSocket, e.g. its Origin. An error refuses it with
	// HTTP 403 and {"code":4,"message":err.Error()}.
	CheckRequest func(r *http.Request) error

	// Connect authorises a namespace CONNECT. An error refuses it: its
	// message goes to the client as CONNECT_ERROR {"message": ...} and
	// surfaces there as a connect_error. When Connect is nil only the main
	// namespace "/" is accepted. Connect runs on the session's reading
	// goroutine: the session reads nothing else meanwhile. A CONNECT for a
	// namespace the session already has connected never reaches Connect: it
	// gets CONNECT_ERROR ErrAlreadyConnected and the connected socket stays.
	Connect func(r *ConnectRequest) (*ConnectReply, error)

	// OnConnect is called once the CONNECT answer is queued; whatever it
	// sends goes out after that answer, in order.
	OnConnect func(s *Socket)

	// OnEvent is called for each EVENT, in the order the client sent them,
	// on the session's reading goroutine: while it runs, that client is not
	// read from (nor are its pongs), so hand slow work off. ack is nil
	// unless the client asked for an acknowledgement. args belong to the
	// callee.
	//
	// A BINARY_EVENT reaches OnEvent with each of its byte strings as a
	// base64 JSON string, which encoding/json decodes into a []byte; unless
	// OnBinaryEvent is set.
	OnEvent func(s *Socket, event string, args []json.RawMessage, ack Ack)

	// OnBinaryEvent, if set, gets the BINARY_EVENTs instead of OnEvent, with
	// args decoded: the byte strings as []byte, numbers as json.Number,
	// objects as map[string]any, arrays as []any. Emitting or acking those
	// values sends the bytes back as binary.
	OnBinaryEvent func(s *Socket, event string, args []any, ack Ack)

	// OnDisconnect is called once per connected socket with the reason:
	// "client namespace disconnect", "server namespace disconnect",
	// "transport close", "transport error", "ping timeout", "parse error",
	// "slow consumer", "server shutting down", or "connect timeout". It never runs inside Emit or Send;
	// it may run inside Socket.Disconnect and Server.Close. A session that
	// closes while OnConnect runs may call it before OnConnect returns. When
	// the session closes after Connect accepted a socket but before its
	// answer was queued (or when another CONNECT of the namespace, read
	// meanwhile from the other transport during an upgrade, won), OnDisconnect
	// is called for that socket without OnConnect, so that what Connect set
	// aside can be given back.
	OnDisconnect func(s *Socket, reason string)
}

// ConnectRequest is a namespace CONNECT awaiting authorisation.
type ConnectRequest struct {
	// HTTP is the request that opened the Engine.IO session (its headers,
	// cookies, URL and remote address; its body is gone).
	HTTP *http.Request
	// Namespace is the namespace asked for, "/" for the main one.
	Namespace string
	// Auth is the raw JSON object the client sent as auth, nil if none.
	// socket.io-client adds "pid" and "offset" to it when it reconnects
	// after a CONNECT answer that carried a PID.
	Auth json.RawMessage
}

// ConnectReply accepts a namespace CONNECT.
type ConnectReply struct {
	// Data is attached to the socket, see Socket.Data.
	Data any
	// PID, if not empty, goes into the CONNECT answer as "pid"; the client
	// then reports the last string argument of each event it receives as
	// its offset, and both come back in Auth when it reconnects.
	PID string
}

// Ack answers a client's acknowledgement request. It may be called once.
type Ack func(args ...any) error

// Errors returned when sending.
var (
	// ErrClosed: the socket is disconnected or its session is closed.
	ErrClosed = errors.New("socketio: socket closed")
	// ErrSlowConsumer: the send queue would overflow; the session is being
	// closed.
	ErrSlowConsumer = errors.New("socketio: slow consumer")
	// ErrInvalidNamespace is what Connect may return for a namespace it
	// does not serve; its message is the reference server's.
	ErrInvalidNamespace = errors.New("Invalid namespace") //lint:ignore ST1005 clients match the reference server's text

	// ErrAlreadyConnected answers a CONNECT for a namespace the session
	// already has connected. The reference server closes the whole
	// connection instead ("invalid state"); here the connected socket keeps
	// working and the client is told why the extra CONNECT did nothing.
	// socket.io-client never sends one: it takes a second client, or a
	// DISCONNECT first, to connect a namespace again.
	ErrAlreadyConnected = errors.New("already connected to this namespace on this connection: disconnect it first")
)

// Server is an http.Handler serving Engine.IO v4 / Socket.IO v5 clients.
// Mount it where clients look for it, "/socket.io/" by default.
type Server struct {
	opts Options

	mu         sync.Mutex
	sessions   map[string]*session
	closed     bool
	perAddr    map[string]int // open sessions per client address
	handshakes rateLimiter
}

// NewServer returns a Server with o's zero fields set to their defaults.
func NewServer(o Options) *Server {
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 20 * time.Second
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 1e6
	}
	if o.SendQueueBytes <= 0 {
		o.SendQueueBytes = 1 << 20
	}
	if o.MaxConnectionsPerAddr == 0 {
		o.MaxConnectionsPerAddr = DefaultMaxConnectionsPerAddr
	}
	if o.HandshakeRate == 0 {
		o.HandshakeRate = DefaultHandshakeRate
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 45 * time.Second
	}
	if o.HandshakeBurst <= 0 {
		o.HandshakeBurst = DefaultHandshakeBurst
	}
	return &Server{opts: o, sessions: make(map[string]*session), perAddr: make(map[string]int),
		handshakes: newRateLimiter(o.HandshakeRate, o.HandshakeBurst)}
}

// Engine.IO error codes, as in the reference server.
const (
	codeUnknownTransport    = 0
	codeUnknownSID          = 1
	codeBadHandshakeMethod  = 2
	codeBadRequest          = 3
	codeForbidden           = 4
	codeUnsupportedProtocol = 5
)

// ServeHTTP routes an Engine.IO request: a handshake (no sid), a poll (GET),
// a data POST, or a WebSocket upgrade of an existing session.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		writeError(w, http.StatusBadRequest, codeUnsupportedProtocol, "Unsupported protocol version")
		return
	}
	transport := q.Get("transport")
	if transport != transportPolling && transport != transportWebSocket {
		writeError(w, http.StatusBadRequest, codeUnknownTransport, "Transport unknown")
		return
	}
	isWS := transport == transportWebSocket
	if isWS && !isWebSocketUpgrade(r) {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
		return
	}

	sid := q.Get("sid")
	if sid == "" || isWS {
		if sid == "" && r.Method != http.MethodGet {
			writeError(w, http.StatusBadRequest, codeBadHandshakeMethod, "Bad handshake method")
			return
		}
		if check := srv.opts.CheckRequest; check != nil {
			if err := check(r); err != nil {
				writeError(w, http.StatusForbidden, codeForbidden, err.Error())
				return
			}
		}
	}

	if sid == "" {
		addr, ok := srv.admit(w, r)
		if !ok {
			return
		}
		if isWS {
			srv.serveWebSocketHandshake(w, r, addr)
		} else {
			srv.servePollingHandshake(w, r, addr)
		}
		return
	}

	s := srv.session(sid)
	if s == nil {
		writeError(w, http.StatusBadRequest, codeUnknownSID, "Session ID unknown")
		return
	}
	if isWS {
		s.serveUpgrade(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.servePoll(w, r)
	case http.MethodPost:
		s.servePost(w, r)
	default:
		writeError(w, http.StatusBadRequest, codeBadRequest, "Bad request")
	}
}

// Close closes every session (reason "server shutting down") and refuses
// new ones.
func (srv *Server) Close() {
	srv.mu.Lock()
	srv.closed = true
	all := make([]*session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		all = append(all, s)
	}
	srv.mu.Unlock()
	for _, s := range all {
		s.close("server shutting down")
	}
}

// newSession registers a session for the handshake request r from the
// client address addr (admitted), or returns nil when the server is closed;
// the session gives addr's place back when it is removed.
func (srv *Server) newSession(r *http.Request, transport, addr string) *session {
	s := newSession(srv, randomID(), r, transport)
	s.addr = addr
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closed {
		srv.releaseLocked(addr)
		return nil
	}
	srv.sessions[s.id] = s
	return s
}

// session finds an open session by id; one whose client missed its pong is closed now and not
// found.
func (srv *Server) session(sid string) *session {
	srv.mu.Lock()
	s := srv.sessions[sid]
	srv.mu.Unlock()
	if s != nil && s.overdue(time.Now()) {
		s.close("ping timeout")
		return nil
	}
	return s
}

func (srv *Server) removeSession(s *session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
		srv.releaseLocked(s.addr)
	}
}

// writeError answers with Engine.IO's JSON error shape.
func writeError(w http.ResponseWriter, status, code int, message string) {
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

func isWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// detachRequest keeps what Connect may look at from a handshake request
// (headers, cookies, URL, remote address) without its body or context.
func detachRequest(r *http.Request) *http.Request {
	d := r.WithContext(context.Background())
	d.Body = http.NoBody
	d.GetBody = nil
	return d
}

// randomID returns 20 URL-safe characters of crypto randomness.
func randomID() string {
	var b [15]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Package socketio is a small Socket.IO v5 server over Engine.IO v4, written
// for livedoc's realtime hub.
//
// It exists because the hub needs exactly the wire protocol that the stock
// socket.io-client speaks, with tight control over memory and fan-out cost
// (thousands of idle WebSocket connections, one encoded broadcast written to
// many sockets), which a general-purpose library does not give.
//
// What it covers:
//
//   - Engine.IO v4 (EIO=4): the WebSocket and HTTP long-polling transports,
//     the upgrade from polling to WebSocket (2probe/3probe, 5, pending poll
//     answered with a noop), server pings with a pong deadline, maxPayload,
//     several packets per polling payload (separator 0x1e) both ways, text and
//     binary messages (binary WebSocket frames; base64 "b" packets when
//     polling), and the JSON error shape {"code":N,"message":"..."} for
//     refused requests. Engine.IO is usable on its own: Options.OnMessage
//     gets every message and [Conn] sends them.
//   - Socket.IO v5, as the message handler on top: CONNECT with an optional
//     JSON auth payload, CONNECT_ERROR, EVENT, ACK (both directions),
//     BINARY_EVENT and BINARY_ACK (placeholders and attachments; []byte in
//     Go both ways), DISCONNECT, any number of namespaces multiplexed on one
//     Engine.IO session, the "pid" of connection-state recovery in the
//     CONNECT answer, and the connect timeout (a session with no namespace
//     connected 45 s after it opened is closed).
//   - A pre-encoded broadcast [Packet]: encoded once, its bytes (per
//     namespace) shared by every socket it is sent to.
//   - A bounded send queue per Engine.IO session: a client that does not keep
//     up is disconnected ("slow consumer") instead of blocking the sender.
//   - Its own WebSocket server side (RFC 6455: fragments, ping/pong, close
//     handshake, no extensions): an idle connection holds no buffers and
//     parks one goroutine on a small stack, and a send writes straight to the
//     socket without waiting (the rest, when the socket is full, goes on a
//     writer goroutine). A [Batch] writes several sends to a socket with one
//     system call: the hub's fan-out.
//
// It passes the official test suites of both protocols (engine.io-protocol
// 24/24, socket.io-protocol 32/32; suites_test.go runs them).
//
// What it refuses:
//
//   - Engine.IO v3 clients (EIO=3): HTTP 400, code 5.
//   - A Socket.IO packet other than CONNECT as the first of a session: the
//     session is closed at once, as the spec says.
//   - A second CONNECT for a namespace the session already has connected:
//     CONNECT_ERROR [ErrAlreadyConnected], and the connected socket stays
//     (the reference server closes the whole connection).
//   - A WebSocket for a session already upgraded (or being upgraded): it is
//     accepted and closed at once, as the spec says.
//   - Handshakes beyond the per-address limits (open sessions, and a rate):
//     HTTP 429 with Retry-After and {"code":4,"message":"..."}; see
//     [Options].MaxConnectionsPerAddr and HandshakeRate.
//   - Malformed packets, attachments nobody announced, a binary packet whose
//     attachments together exceed maxPayload: the whole Engine.IO session is
//     closed with reason "parse error". Nothing a client sends can make the
//     server panic.
//   - JSONP polling, WebTransport, per-message compression, and client
//     pings (protocol v3 heartbeat direction).
//
// The server does not check Origin on its own; Options.CheckRequest is the
// place for it.
package socketio

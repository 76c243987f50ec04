package socketio

import (
	"encoding/base64"
	"net/http"
)

// Engine.IO is usable on its own: a Server whose Options.OnMessage is set hands every message
// of its sessions to it and speaks no Socket.IO. Without OnMessage, the Socket.IO layer
// (session.handleSocketIO) is the message handler, as Socket.IO sits on Engine.IO in the
// protocols.

// Conn is one Engine.IO session, as Options.OnMessage sees it. Its methods are safe for
// concurrent use.
type Conn struct {
	s *session
}

// ID is the session id (the "sid" of the handshake).
func (c *Conn) ID() string { return c.s.id }

// Request is the request that opened the session (headers, cookies, URL, remote address).
func (c *Conn) Request() *http.Request { return c.s.req }

// Transport is "polling" or "websocket"; it changes on upgrade.
func (c *Conn) Transport() string { return c.s.transportName() }

// Send queues a text message. It fails with ErrClosed once the session is closed and with
// ErrSlowConsumer when the send queue would overflow (the session is then closed).
func (c *Conn) Send(text []byte) error {
	return c.s.enqueue(append([]byte{eioMessage}, text...))
}

// SendBinary queues a binary message: a binary WebSocket frame, or a base64 "b" packet when
// polling.
func (c *Conn) SendBinary(data []byte) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.enqueueBinaryLocked(data)
}

// Close closes the session (reason "server close" for nobody but the client to see).
func (c *Conn) Close() { c.s.close("server close") }

// enqueueBinaryLocked queues a binary message in the current transport's form.
func (s *session) enqueueBinaryLocked(data []byte) error {
	if s.ws != nil {
		return s.enqueueWithLocked(nil, appendFrame(nil, opBinary, data), nil)
	}
	return s.enqueueWithLocked(binaryPacket(data), nil, nil)
}

// binaryPacket is a binary message as a polling payload carries it.
func binaryPacket(data []byte) []byte {
	p := make([]byte, 1+base64.StdEncoding.EncodedLen(len(data)))
	p[0] = eioBinary
	base64.StdEncoding.Encode(p[1:], data)
	return p
}

// frameOf is the WebSocket frame of a packet queued for polling: a "b" packet is sent as the
// binary frame it stands for (it was encoded here, so it decodes).
func frameOf(packet []byte) []byte {
	if len(packet) > 0 && packet[0] == eioBinary {
		data, _ := base64.StdEncoding.DecodeString(string(packet[1:]))
		return appendFrame(nil, opBinary, data)
	}
	return textFrame(packet)
}

// message hands one message from the client to the application's Engine.IO handler, or to the
// Socket.IO layer, and returns a reason to close the session, or "".
func (s *session) message(data []byte, binary bool) string {
	if on := s.srv.opts.OnMessage; on != nil {
		on(s.conn, data, binary)
		return ""
	}
	return s.handleSocketIO(data, binary)
}

package socketio

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/livedoc/livedoc/realtime/internal/wire"
)

// Socket is one client connected to one namespace. Its methods are safe for
// concurrent use.
type Socket struct {
	id        string
	namespace string
	data      any
	sess      *session

	// Guarded by sess.mu.
	connected bool
	nextAckID int64
	acks      map[int64]func(args []json.RawMessage)
}

// ID is the socket id sent to the client in the CONNECT answer.
func (s *Socket) ID() string { return s.id }

// Namespace is the socket's namespace, "/" for the main one.
func (s *Socket) Namespace() string { return s.namespace }

// Data is ConnectReply.Data from Connect.
func (s *Socket) Data() any { return s.data }

// Transport is "polling" or "websocket"; it changes on upgrade.
func (s *Socket) Transport() string { return s.sess.transportName() }

// RemoteAddr is the remote address of the request that opened the session.
func (s *Socket) RemoteAddr() string { return s.sess.req.RemoteAddr }

// Emit sends an event. json.RawMessage arguments are sent verbatim. A []byte
// (an argument, or inside []any and map[string]any arguments) makes it a
// binary event: the client gets those bytes as binary (an ArrayBuffer in a
// browser), not as base64.
func (s *Socket) Emit(event string, args ...any) error {
	b, attachments, err := encodeMessage(s.namespace, -1, &event, args)
	if err != nil {
		return err
	}
	return s.sess.enqueueMessageFor(s, b, attachments)
}

// EmitWithAck sends an event asking the client for an acknowledgement;
// reply gets the client's answer on the session's reading goroutine. reply
// is never called if the socket disconnects first.
func (s *Socket) EmitWithAck(event string, reply func(args []json.RawMessage), args ...any) error {
	id := s.sess.registerAck(s, reply)
	if id < 0 {
		return ErrClosed
	}
	b, attachments, err := encodeMessage(s.namespace, id, &event, args)
	if err == nil {
		err = s.sess.enqueueMessageFor(s, b, attachments)
	}
	if err != nil {
		s.sess.takeAck(s, id)
	}
	return err
}

// Send queues a pre-encoded event without encoding it again.
func (s *Socket) Send(p *Packet) error { return s.SendBatched(p, nil) }

// SendBatched is Send, but on WebSocket the write waits for b.Flush (b nil: it does not).
func (s *Socket) SendBatched(p *Packet, b *Batch) error {
	w := p.wire(s.namespace)
	return s.sess.enqueueFor(s, w.packet, w.frame, b)
}

// Disconnect sends DISCONNECT for this namespace and forgets the socket
// (reason "server namespace disconnect"). socket.io-client does not
// reconnect after it. The Engine.IO session stays open.
func (s *Socket) Disconnect() {
	s.sess.disconnect(s, true, "server namespace disconnect")
}

// Packet is an event encoded once, to be sent to many sockets. Its wire
// bytes for a namespace (the Engine.IO packet and its WebSocket frame) are
// computed on first use and cached; a Packet is safe for concurrent use.
type Packet struct {
	body []byte // ["event",args...]

	mu    sync.Mutex // serialises cache misses
	wires atomic.Pointer[[]namespaceWire]
}

type namespaceWire struct {
	namespace string
	packet    []byte
	frame     []byte // the packet is its tail
}

// NewEvent encodes an event for broadcasting with Socket.Send.
// json.RawMessage arguments are sent verbatim. Binary arguments ([]byte) are
// refused: a broadcast is one text message; Emit sends them.
func NewEvent(event string, args ...any) (*Packet, error) {
	if slices.ContainsFunc(args, hasBinary) {
		return nil, errors.New("socketio: a broadcast Packet cannot carry []byte; use Socket.Emit")
	}
	body, err := wire.AppendArgs(nil, &event, args)
	if err != nil {
		return nil, err
	}
	return &Packet{body: body}, nil
}

// wire returns the Engine.IO message for namespace nsp.
func (p *Packet) wire(nsp string) namespaceWire {
	if ws := p.wires.Load(); ws != nil {
		for _, w := range *ws {
			if w.namespace == nsp {
				return w
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var old []namespaceWire
	if ws := p.wires.Load(); ws != nil {
		old = *ws
		for _, w := range old {
			if w.namespace == nsp {
				return w
			}
		}
	}
	b := wire.AppendHeader(make([]byte, 0, len(nsp)+3+len(p.body)), sioEvent, nsp, -1)
	b = append(b, p.body...)
	frame := textFrame(b)
	w := namespaceWire{nsp, frame[len(frame)-len(b):], frame}
	ws := append(append(make([]namespaceWire, 0, len(old)+1), old...), w)
	p.wires.Store(&ws)
	return w
}

package socketio

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

const (
	transportPolling   = "polling"
	transportWebSocket = "websocket"
)

// session is one Engine.IO connection and the Socket.IO sockets (one per
// namespace) multiplexed on it.
//
// Outgoing packets wait in queue: on polling each a complete Engine.IO
// packet, which the pending GET takes all at once; on WebSocket each a
// complete frame, written at once as far as the socket takes them, the rest
// by a writer goroutine that runs only while the socket is full. One timer
// per session drives the heartbeat.
type session struct {
	srv  *Server
	id   string
	req  *http.Request // the handshake request, detached
	addr string        // the client address its place is counted under (Options.MaxConnectionsPerAddr)

	mu        sync.Mutex
	transport string
	closed    bool
	ws        *wsConn       // the WebSocket transport, once there is one
	probe     *wsConn       // a WebSocket being probed for upgrade
	upgrading bool          // probe answered: polls return at once
	probeDone chan struct{} // closed when the upgrade attempt in probe ends

	queue   [][]byte
	spare   [][]byte // the writer's last batch, emptied, for reuse as queue
	queued  int      // bytes in queue and in the writer's batch
	writing bool     // the WebSocket writer goroutine runs
	batched bool     // in a Batch, to be written on its Flush

	poll      chan struct{} // closed to wake the waiting GET; nil if none
	pollWoken bool
	posting   bool // a POST is being handled

	sockets []*Socket
	conn    *Conn // the session as Options.OnMessage sees it

	// The Socket.IO layer's reading state. A binary packet waits in bin for its attachments.
	started      atomic.Bool // a CONNECT came: nothing else may come first
	bin          *sioPacket
	binData      [][]byte
	binBytes     int
	clientClosed bool        // the client sent close: a waiting poll ends with a noop
	connectTimer *time.Timer // closes a session that connects no namespace in time

	timer        *time.Timer
	due          time.Time // when the timer's current duty is due
	awaitingPong bool
}

// newSession returns a session whose queue holds the handshake packet.
func newSession(srv *Server, id string, r *http.Request, transport string) *session {
	s := &session{srv: srv, id: id, req: detachRequest(r), transport: transport}
	s.conn = &Conn{s}
	var upgrades []string
	if transport == transportPolling {
		upgrades = []string{transportWebSocket}
	} else {
		upgrades = []string{}
	}
	open := encodeOpen(id, upgrades, &srv.opts)
	s.queue = append(s.queue, open)
	s.queued = len(open)
	return s
}

// startHeartbeat schedules the first ping.
func (s *session) startHeartbeat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.due = time.Now().Add(s.srv.opts.PingInterval)
	s.timer = time.AfterFunc(s.srv.opts.PingInterval, s.onTimer)
	if s.srv.opts.OnMessage == nil && s.srv.opts.ConnectTimeout > 0 {
		s.connectTimer = time.AfterFunc(s.srv.opts.ConnectTimeout, s.onConnectTimeout)
	}
}

// onConnectTimeout closes the session if it has no namespace connected (as the reference
// server does): a client that answers pings but never connects would hold it for good.
func (s *session) onConnectTimeout() {
	s.mu.Lock()
	idle := !s.closed && len(s.sockets) == 0
	s.mu.Unlock()
	if idle {
		s.close("connect timeout")
	}
}

// onTimer sends a ping, or closes the session when the pong is overdue.
func (s *session) onTimer() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	now := time.Now()
	if now.Before(s.due) { // rescheduled by a pong while this call was on its way
		s.timer.Reset(s.due.Sub(now))
		s.mu.Unlock()
		return
	}
	if s.awaitingPong {
		s.mu.Unlock()
		s.close("ping timeout")
		return
	}
	s.awaitingPong = true
	// The pong is due PingTimeout after the ping was due, not after this (maybe late) timer ran:
	// a loaded machine must not stretch a dead client's life.
	s.due = s.due.Add(s.srv.opts.PingTimeout)
	s.timer.Reset(max(s.due.Sub(now), 0))
	s.enqueueLocked([]byte{eioPing})
	s.mu.Unlock()
}

// overdue reports whether the client missed its pong deadline, whether or not the timer has run
// yet: a request of a session past it finds the session closed, as the protocol says, even when
// the timer is late.
func (s *session) overdue(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer == nil || s.closed {
		return false
	}
	deadline := s.due
	if !s.awaitingPong {
		deadline = deadline.Add(s.srv.opts.PingTimeout)
	}
	return now.After(deadline)
}

func (s *session) onPong() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.awaitingPong {
		return
	}
	s.awaitingPong = false
	s.due = time.Now().Add(s.srv.opts.PingInterval)
	s.timer.Reset(s.srv.opts.PingInterval)
}

func (s *session) transportName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// enqueueFor queues an Engine.IO packet on behalf of socket so, which must
// still be connected. frame, if not nil, is the packet's WebSocket frame,
// already encoded; with a Batch, a WebSocket write waits for its Flush.
func (s *session) enqueueFor(so *Socket, packet, frame []byte, b *Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !so.connected {
		return ErrClosed
	}
	return s.enqueueWithLocked(packet, frame, b)
}

func (s *session) enqueue(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enqueueLocked(b)
}

func (s *session) enqueueLocked(packet []byte) error {
	return s.enqueueWithLocked(packet, nil, nil)
}

func (s *session) enqueueWithLocked(packet, frame []byte, b *Batch) error {
	item := packet
	if s.ws != nil {
		if frame == nil {
			frame = frameOf(packet)
		}
		item = frame
	}
	if err := s.queueLocked(item); err != nil {
		return err
	}
	switch {
	case s.writing:
	case s.batched: // until the batch's Flush, unless that would hold too much
		if s.queued > maxHeld {
			s.sendLocked()
		}
	case b != nil:
		s.batched = true
		b.sessions = append(b.sessions, s)
	default:
		s.sendLocked()
	}
	return nil
}

// maxHeld bounds what a session in a Batch holds back before writing anyway.
const maxHeld = 64 << 10

// queueLocked appends to the queue, or on overflow marks the session closed
// and tears it down on another goroutine.
func (s *session) queueLocked(item []byte) error {
	if s.closed {
		return ErrClosed
	}
	if s.queued+len(item) > s.srv.opts.SendQueueBytes {
		s.markClosedLocked()
		go s.teardown("slow consumer")
		return ErrSlowConsumer
	}
	s.queue = append(s.queue, item)
	s.queued += len(item)
	return nil
}

// sendLocked starts what is queued on its way: written to the WebSocket, or
// handed to the waiting poll.
func (s *session) sendLocked() {
	if s.ws != nil {
		s.writeLocked()
	} else {
		s.wakePollLocked()
	}
}

func (s *session) wakePollLocked() {
	if s.poll != nil && !s.pollWoken {
		close(s.poll)
		s.pollWoken = true
	}
}

// close closes the session once, whoever calls it first.
func (s *session) close(reason string) {
	s.mu.Lock()
	first := s.markClosedLocked()
	s.mu.Unlock()
	if first {
		s.teardown(reason)
	}
}

// markClosedLocked stops all sending and reports whether the session was
// open. The waiting GET, if any, wakes up and answers with a close packet.
func (s *session) markClosedLocked() bool {
	if s.closed {
		return false
	}
	s.closed = true
	s.wakePollLocked()
	return true
}

// closeLinger is how long a polling session closed by its client stays known, so that the
// GET the client had on its way (it may reach the server after the close) ends with a noop.
const closeLinger = 2 * time.Second

// teardown releases a session marked closed and reports its sockets gone.
func (s *session) teardown(reason string) {
	s.mu.Lock()
	linger := s.clientClosed && s.transport == transportPolling && s.poll == nil
	s.mu.Unlock()
	if linger {
		time.AfterFunc(closeLinger, func() { s.srv.removeSession(s) })
	} else {
		s.srv.removeSession(s)
	}
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.connectTimer != nil {
		s.connectTimer.Stop()
	}
	ws, probe, sockets := s.ws, s.probe, s.sockets
	s.sockets, s.queue, s.queued = nil, nil, 0
	s.bin, s.binData = nil, nil
	for _, so := range sockets {
		so.connected = false
		so.acks = nil
	}
	s.mu.Unlock()
	if ws != nil {
		ws.conn.Close()
	}
	if probe != nil {
		probe.conn.Close()
	}
	if on := s.srv.opts.OnDisconnect; on != nil {
		for _, so := range sockets {
			on(so, reason)
		}
	}
}

// handlePacket acts on one packet from the client and returns a reason to
// close the session, or "".
func (s *session) handlePacket(p eioPacket) string {
	switch p.typ {
	case eioPong:
		s.onPong()
	case eioMessage:
		return s.message(p.data, false)
	case eioBinary:
		data, err := base64.StdEncoding.DecodeString(string(p.data))
		if err != nil {
			return "parse error"
		}
		return s.message(data, true)
	case eioClose:
		s.mu.Lock()
		s.clientClosed = true
		s.mu.Unlock()
		return "transport close"
	case eioNoop:
	default: // open, ping, upgrade: not from a client on an open transport
		return "parse error"
	}
	return ""
}

// handleSocketIO is the Socket.IO layer's message handler: it reads one Socket.IO packet, or
// one attachment of the binary packet being read.
func (s *session) handleSocketIO(data []byte, binary bool) string {
	s.mu.Lock()
	pending := s.bin
	if binary {
		if pending == nil {
			s.mu.Unlock()
			return "parse error" // an attachment of nothing
		}
		s.binData = append(s.binData, data)
		s.binBytes += len(data)
		if s.binBytes > s.srv.opts.MaxPayload {
			s.mu.Unlock()
			return "parse error"
		}
		if len(s.binData) < pending.attachments {
			s.mu.Unlock()
			return ""
		}
		attachments := s.binData
		s.bin, s.binData, s.binBytes = nil, nil, 0
		s.mu.Unlock()
		return s.dispatch(*pending, attachments)
	}
	s.mu.Unlock()
	if pending != nil {
		return "parse error" // text where an attachment was due
	}
	p, err := decodeSIOPacket(data)
	if err != nil {
		return "parse error"
	}
	if p.typ != sioConnect && !s.started.Load() {
		return "parse error" // the spec: anything before CONNECT closes the connection
	}
	if p.attachments > 0 {
		s.mu.Lock()
		s.bin = &p
		s.mu.Unlock()
		return ""
	}
	return s.dispatch(p, nil)
}

// dispatch acts on one whole Socket.IO packet, with its attachments if binary.
func (s *session) dispatch(p sioPacket, attachments [][]byte) string {
	switch p.typ {
	case sioConnect:
		s.started.Store(true)
		s.connect(p.nsp, p.auth)
	case sioDisconnect:
		if so := s.socket(p.nsp); so != nil {
			s.disconnect(so, false, "client namespace disconnect")
		}
	case sioEvent, sioBinaryEvent:
		so := s.socket(p.nsp)
		if so == nil {
			return "" // e.g. right after a server-side disconnect
		}
		var ack Ack
		if p.id >= 0 {
			ack = s.ackFunc(so, p.id)
		}
		if p.typ == sioBinaryEvent {
			if on := s.srv.opts.OnBinaryEvent; on != nil {
				args, err := resolveArgs(p.args, attachments)
				if err != nil {
					return "parse error"
				}
				on(so, p.event, args, ack)
				return ""
			}
			args, err := base64Args(p.args, attachments)
			if err != nil {
				return "parse error"
			}
			p.args = args
		}
		if on := s.srv.opts.OnEvent; on != nil {
			on(so, p.event, p.args, ack)
		}
	case sioAck, sioBinaryAck:
		if p.typ == sioBinaryAck {
			args, err := base64Args(p.args, attachments)
			if err != nil {
				return "parse error"
			}
			p.args = args
		}
		if so := s.socket(p.nsp); so != nil {
			if reply := s.takeAck(so, p.id); reply != nil {
				reply(p.args)
			}
		}
	}
	return ""
}

// connect handles a namespace CONNECT. A CONNECT for a namespace already connected is refused:
// replacing the socket instead made every repeated CONNECT a new socket for the application to
// set up (and keep for recovery), at no cost to the client.
func (s *session) connect(nsp string, auth json.RawMessage) {
	if s.socket(nsp) != nil {
		s.enqueue(encodeConnectError(nsp, ErrAlreadyConnected.Error()))
		return
	}
	reply, err := &ConnectReply{}, error(nil)
	if connect := s.srv.opts.Connect; connect != nil {
		reply, err = connect(&ConnectRequest{HTTP: s.req, Namespace: nsp, Auth: auth})
	} else if nsp != "/" {
		err = ErrInvalidNamespace
	}
	if err != nil {
		s.enqueue(encodeConnectError(nsp, err.Error()))
		return
	}
	if reply == nil {
		reply = &ConnectReply{}
	}
	so := &Socket{id: randomID(), namespace: nsp, data: reply.Data, sess: s}
	// The answer waits for OnConnect: a client must not act on a socket the application does not
	// know yet (a broadcast right after the answer would pass it by).
	var held Batch
	defer held.Flush()
	s.mu.Lock()
	if s.socketLocked(nsp) != nil { // connected meanwhile by a POST still being read during an upgrade
		err = ErrAlreadyConnected
		s.enqueueLocked(encodeConnectError(nsp, err.Error()))
	} else {
		err = s.enqueueWithLocked(encodeConnect(nsp, so.id, reply.PID), nil, &held)
	}
	if err != nil {
		s.mu.Unlock()
		// Connect accepted the socket and may have set something aside for it.
		if on := s.srv.opts.OnDisconnect; on != nil {
			reason := "transport close"
			switch {
			case errors.Is(err, ErrSlowConsumer):
				reason = "slow consumer"
			case errors.Is(err, ErrAlreadyConnected):
				reason = "client namespace disconnect"
			}
			on(so, reason)
		}
		return
	}
	so.connected = true
	s.sockets = append(s.sockets, so)
	s.mu.Unlock()
	if on := s.srv.opts.OnConnect; on != nil {
		on(so)
	}
}

// disconnect forgets a connected socket, telling the client when notify.
func (s *session) disconnect(so *Socket, notify bool, reason string) {
	s.mu.Lock()
	if !so.connected {
		s.mu.Unlock()
		return
	}
	so.connected = false
	so.acks = nil
	for i, x := range s.sockets {
		if x == so {
			s.sockets = append(s.sockets[:i], s.sockets[i+1:]...)
			break
		}
	}
	if notify {
		s.enqueueLocked(encodeDisconnect(so.namespace))
	}
	s.mu.Unlock()
	if on := s.srv.opts.OnDisconnect; on != nil {
		on(so, reason)
	}
}

func (s *session) socket(nsp string) *Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.socketLocked(nsp)
}

func (s *session) socketLocked(nsp string) *Socket {
	for _, so := range s.sockets {
		if so.namespace == nsp {
			return so
		}
	}
	return nil
}

// ackFunc answers the client's ack id once.
func (s *session) ackFunc(so *Socket, id int64) Ack {
	var used atomic.Bool
	return func(args ...any) error {
		b, attachments, err := encodeMessage(so.namespace, id, nil, args)
		if err != nil {
			return err
		}
		if !used.CompareAndSwap(false, true) {
			return errors.New("socketio: ack already sent")
		}
		return s.enqueueMessageFor(so, b, attachments)
	}
}

// enqueueMessageFor queues a packet and its binary attachments together, for socket so.
func (s *session) enqueueMessageFor(so *Socket, packet []byte, attachments [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !so.connected {
		return ErrClosed
	}
	if err := s.enqueueWithLocked(packet, nil, nil); err != nil {
		return err
	}
	for _, a := range attachments {
		if err := s.enqueueBinaryLocked(a); err != nil {
			return err
		}
	}
	return nil
}

// registerAck returns a new ack id for so, or -1 if so is disconnected.
func (s *session) registerAck(so *Socket, reply func([]json.RawMessage)) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !so.connected {
		return -1
	}
	id := so.nextAckID
	so.nextAckID++
	if so.acks == nil {
		so.acks = make(map[int64]func([]json.RawMessage))
	}
	so.acks[id] = reply
	return id
}

func (s *session) takeAck(so *Socket, id int64) func([]json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reply := so.acks[id]
	delete(so.acks, id)
	return reply
}

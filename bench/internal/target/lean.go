package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/livedoc/livedoc/bench/internal/jscan"
	"github.com/livedoc/livedoc/bench/internal/wsclient"
)

// leanBufSize is the read buffer of a lean subscriber: every message of a run is small (a fan-out
// payload is ~200 bytes on the wire), and the idle scenario holds up to 20,000 connections, so
// one page. A larger message is read into a scratch buffer.
const leanBufSize = 4096

// leanDialer is the TCP dialer of subscriber o: its Sources' local address, or a plain one.
func leanDialer(o DialOptions) *net.Dialer {
	if o.Transport != nil {
		return o.Transport.Dialer(o.Index)
	}
	return &net.Dialer{Timeout: 20 * time.Second}
}

// wsURL turns base (http://host:port[/prefix]) into the WebSocket URL of path (with its query).
func wsURL(base, path string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http", "ws":
	default:
		return "", fmt.Errorf("URL %q: want http:// or ws:// (the bench's subscribers do not speak TLS)", base)
	}
	if u.Host == "" {
		return "", fmt.Errorf("URL %q has no host", base)
	}
	return "ws://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/") + path, nil
}

// sioConn is a lean Socket.IO v5 subscriber (Engine.IO v4, WebSocket transport only, one
// namespace, no reconnection): the load generator's receiver for livedoc and the Socket.IO peer
// when nothing asks for connection-state recovery. It costs one goroutine (its reader) and one
// 4 KiB read buffer while connected. Each event is recognised and its arguments found with
// jscan, in the read buffer, and handed to DialOptions.OnMessage / OnEvent without a copy.
type sioConn struct {
	ws       *wsclient.Conn
	nsp      string
	o        DialOptions
	pingWait time.Duration // pingInterval + pingTimeout; 0: no ping timeout
	done     chan struct{}
	live     bool        // set before the reader goroutine starts: the setup is over
	closing  atomic.Bool // Close was called: no OnDisconnect
	cut      atomic.Bool // CloseTransport was called
	nextAck  int64       // setup only
}

// Socket.IO packet types (after the Engine.IO message type '4').
const (
	sioConnect      = '0'
	sioDisconnect   = '1'
	sioEvent        = '2'
	sioAck          = '3'
	sioConnectError = '4'
	sioBinaryEvent  = '5'
	sioBinaryAck    = '6'
)

// sioPacket is a namespace packet the setup waits for (CONNECT answer, CONNECT_ERROR, ACK).
type sioPacket struct {
	typ  byte // 0: nothing for the setup
	id   int64
	data []byte // aliases the read buffer
}

// leanDial connects a lean Socket.IO subscriber to base's /socket.io/, CONNECTs to namespace
// with auth, joins o.Rooms as frappeDial does (acknowledged doctype_subscribe / doc_subscribe)
// and returns once every subscription is acknowledged. Events that arrive meanwhile are
// delivered to the callbacks from the calling goroutine, before the reader goroutine starts.
func leanDial(ctx context.Context, base, namespace string, auth map[string]any, o DialOptions) (Conn, error) {
	if namespace == "" {
		namespace = "/"
	}
	u, err := wsURL(base, "/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		return nil, err
	}
	ws, err := wsclient.Dial(ctx, u, wsclient.Options{Dialer: leanDialer(o), BufSize: leanBufSize, Header: o.Header})
	if err != nil {
		return nil, err
	}
	c := &sioConn{ws: ws, nsp: namespace, o: o, done: make(chan struct{})}
	if err := ws.Within(ctx, func() error { return c.setup(auth) }); err != nil {
		ws.Close()
		return nil, err
	}
	if c.pingWait > 0 {
		ws.SetReadDeadline(time.Now().Add(c.pingWait))
	}
	c.live = true
	c.run()
	return c, nil
}

// setup reads the Engine.IO open packet, CONNECTs and subscribes.
func (c *sioConn) setup(auth map[string]any) error {
	_, msg, err := c.ws.Next()
	if err != nil {
		return fmt.Errorf("engine.io handshake: %w", err)
	}
	var open struct {
		SID          string `json:"sid"`
		PingInterval int64  `json:"pingInterval"`
		PingTimeout  int64  `json:"pingTimeout"`
	}
	if len(msg) == 0 || msg[0] != '0' || json.Unmarshal(msg[1:], &open) != nil || open.SID == "" {
		return fmt.Errorf("engine.io handshake: unexpected packet %q", truncate(msg))
	}
	if open.PingInterval > 0 && open.PingTimeout > 0 {
		c.pingWait = time.Duration(open.PingInterval+open.PingTimeout) * time.Millisecond
	}
	b := c.header(sioConnect, -1)
	if auth != nil {
		a, err := json.Marshal(auth)
		if err != nil {
			return err
		}
		b = append(b, a...)
	}
	if err := c.ws.WriteText(b); err != nil {
		return err
	}
	p, err := c.await(func(p sioPacket) bool { return p.typ == sioConnect || p.typ == sioConnectError })
	if err != nil {
		return fmt.Errorf("socket.io connect: %w", err)
	}
	if p.typ == sioConnectError {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(p.data, &e) != nil || e.Message == "" {
			e.Message = string(truncate(p.data))
		}
		return errors.New("socket.io connect error: " + e.Message)
	}
	var answer struct {
		SID string `json:"sid"`
	}
	if json.Unmarshal(p.data, &answer) != nil || answer.SID == "" {
		return fmt.Errorf("socket.io connect: bad answer %q", truncate(p.data))
	}
	for _, room := range c.o.Rooms {
		event, args, err := subscribeEvent(room)
		if err != nil {
			return err
		}
		if event == "" {
			continue
		}
		ack, err := c.call(event, args)
		if err != nil {
			return err
		}
		if !bytes.Contains(ack, []byte(`"ok":true`)) {
			return fmt.Errorf("%s %v refused: %s", event, args, truncate(ack))
		}
	}
	for i, call := range c.o.Calls {
		ack, err := c.call(call.Event, call.Args)
		if err != nil {
			return err
		}
		if c.o.OnAck != nil {
			if err := c.o.OnAck(i, ack); err != nil {
				return fmt.Errorf("%s: %w", call.Event, err)
			}
		}
	}
	return nil
}

// call emits event with args and an ack id during the setup and returns the ack's arguments (a
// JSON array, aliasing the read buffer until the next read).
func (c *sioConn) call(event string, args []any) ([]byte, error) {
	id := c.nextAck
	c.nextAck++
	b := c.header(sioEvent, id)
	all, err := json.Marshal(append([]any{event}, args...))
	if err != nil {
		return nil, err
	}
	if err := c.ws.WriteText(append(b, all...)); err != nil {
		return nil, fmt.Errorf("%s: %w", event, err)
	}
	p, err := c.await(func(p sioPacket) bool { return p.typ == sioAck && p.id == id })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", event, err)
	}
	return p.data, nil
}

// subscribeEvent is the event (and its arguments) that joins room, "" for the rooms every
// socket of a System User joins on connect.
func subscribeEvent(room string) (string, []any, error) {
	switch {
	case room == "all" || strings.HasPrefix(room, "user:") || room == "website":
		return "", nil, nil
	case strings.HasPrefix(room, "doctype:"):
		return "doctype_subscribe", []any{strings.TrimPrefix(room, "doctype:")}, nil
	case strings.HasPrefix(room, "doc:"):
		dt, dn, ok := strings.Cut(strings.TrimPrefix(room, "doc:"), "/")
		if !ok {
			return "", nil, fmt.Errorf("room %q: want doc:<DocType>/<name>", room)
		}
		return "doc_subscribe", []any{dt, dn}, nil
	}
	return "", nil, fmt.Errorf("room %q: subscribers can join all, doctype:<DocType> or doc:<DocType>/<name>", room)
}

// header starts an Engine.IO message holding a Socket.IO packet of typ to the namespace, with
// ack id id when id >= 0.
func (c *sioConn) header(typ byte, id int64) []byte {
	b := append(make([]byte, 0, 128), '4', typ)
	if c.nsp != "/" {
		b = append(b, c.nsp...)
		b = append(b, ',')
	}
	if id >= 0 {
		b = strconv.AppendInt(b, id, 10)
	}
	return b
}

// await reads (handling pings and events) until a packet that want accepts.
func (c *sioConn) await(want func(sioPacket) bool) (sioPacket, error) {
	for {
		p, reason, err := c.step()
		if reason != "" {
			if err == nil {
				err = errors.New(reason)
			}
			return p, err
		}
		if p.typ != 0 && want(p) {
			return p, nil
		}
	}
}

// run hands the connection to its reader (wsclient's Go: a poller where there is one).
func (c *sioConn) run() {
	var reason string
	c.ws.Go(func(op byte, msg []byte) bool {
		_, reason = c.handle(op, msg)
		return reason == ""
	}, func(err error) {
		if reason == "" {
			reason = c.readReason(err)
		}
		c.ws.Close()
		if !c.closing.Load() && c.o.OnDisconnect != nil {
			c.o.OnDisconnect(reason)
		}
		close(c.done)
	})
}

// step reads one message and handles it (setup).
func (c *sioConn) step() (p sioPacket, reason string, err error) {
	op, msg, err := c.ws.Next()
	if err != nil {
		return p, c.readReason(err), err
	}
	p, reason = c.handle(op, msg)
	return p, reason, nil
}

// handle handles one message: answers a ping, dispatches an event, and returns the namespace's
// CONNECT, CONNECT_ERROR and ACK packets. A non-empty reason (socket.io-client's) ends the
// connection.
func (c *sioConn) handle(op byte, msg []byte) (p sioPacket, reason string) {
	if op != wsclient.OpText || len(msg) == 0 {
		return p, "" // binary attachments are not supported
	}
	switch msg[0] {
	case '2': // ping
		if c.live && c.pingWait > 0 && !c.closing.Load() { // (during the setup, ctx bounds reads)
			c.ws.SetReadDeadline(time.Now().Add(c.pingWait))
		}
		c.ws.WriteText([]byte{'3'})
		return p, ""
	case '4':
	case '1':
		return p, "transport close"
	case '0', '3', '5', '6':
		return p, ""
	default:
		return p, "parse error"
	}
	typ, id, data, ours, ok := parsePacket(msg[1:], c.nsp)
	if !ok {
		return p, "parse error"
	}
	if !ours {
		return p, ""
	}
	switch typ {
	case sioEvent:
		if !c.dispatch(data) {
			return p, "parse error"
		}
	case sioConnect, sioAck, sioConnectError:
		return sioPacket{typ: typ, id: id, data: data}, ""
	case sioDisconnect:
		return p, "io server disconnect"
	}
	return p, ""
}

// readReason is socket.io-client's reason for a failed read.
func (c *sioConn) readReason(err error) string {
	switch {
	case c.cut.Load():
		return "transport close"
	case errors.Is(err, os.ErrDeadlineExceeded) && !c.closing.Load():
		return "ping timeout"
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return "transport close"
	}
	var ce *wsclient.CloseError
	if errors.As(err, &ce) {
		return "transport close"
	}
	return "transport error"
}

// parsePacket splits a Socket.IO packet (the Engine.IO message without its '4'): its type, ack
// id (-1 if none) and data; ours is false for another namespace's packet. ok is false for a
// malformed one.
func parsePacket(b []byte, nsp string) (typ byte, id int64, data []byte, ours, ok bool) {
	id = -1
	if len(b) == 0 {
		return 0, id, nil, false, false
	}
	typ, b = b[0], b[1:]
	switch typ {
	case sioConnect, sioDisconnect, sioEvent, sioAck, sioConnectError:
	case sioBinaryEvent, sioBinaryAck:
		return typ, id, nil, false, true // not supported: ignored
	default:
		return typ, id, nil, false, false
	}
	if len(b) > 0 && b[0] == '/' {
		var got []byte
		if i := bytes.IndexByte(b, ','); i < 0 {
			got, b = b, nil
		} else {
			got, b = b[:i], b[i+1:]
		}
		if string(got) != nsp {
			return typ, id, nil, false, true
		}
	} else if nsp != "/" {
		return typ, id, nil, false, true
	}
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	if n > 0 {
		if n > 15 { // JavaScript's safe integers
			return typ, id, nil, false, false
		}
		id = 0
		for _, d := range b[:n] {
			id = id*10 + int64(d-'0')
		}
		b = b[n:]
	}
	return typ, id, b, true, true
}

// dispatch hands an EVENT ["name", args...] to the callbacks: OnMessage(first, last) for
// o.Event (last only with 2+ arguments: livedoc's offset), OnEvent(name, first) for o.Events.
// false: malformed.
func (c *sioConn) dispatch(data []byte) bool {
	ev, ok := scanEvent(data)
	if !ok {
		return false
	}
	if c.o.OnMessage != nil && jscan.StringIs(ev.name, c.o.Event) {
		switch {
		case ev.n == 1:
			c.o.OnMessage(ev.first, nil)
		case ev.n > 1:
			c.o.OnMessage(ev.first, ev.last)
		}
	}
	if c.o.OnEvent != nil && ev.n > 0 {
		for _, name := range c.o.Events {
			if jscan.StringIs(ev.name, name) {
				c.o.OnEvent(name, ev.first)
			}
		}
	}
	return true
}

// sioEventArgs is what dispatch needs of an EVENT's array.
type sioEventArgs struct {
	name        []byte // the event name, a JSON string with its quotes
	first, last []byte // the first and last arguments (nil without arguments)
	n           int    // the number of arguments
}

// scanEvent scans ["name", args...]; ok is false if the array is malformed, empty or does not
// start with a string.
func scanEvent(b []byte) (ev sioEventArgs, ok bool) {
	a, ok := jscan.NewArray(b)
	if !ok {
		return ev, false
	}
	ev.name, ok = a.Next()
	if !ok || ev.name[0] != '"' {
		return ev, false
	}
	for e, ok := a.Next(); ok; e, ok = a.Next() {
		if ev.n == 0 {
			ev.first = e
		}
		ev.last = e
		ev.n++
	}
	return ev, !a.Err()
}

// Close disconnects cleanly: DISCONNECT, then the WebSocket closing handshake, whose end the
// reader goroutine waits for (at most 5 s); Done is closed then. OnDisconnect is not called.
func (c *sioConn) Close() error {
	if !c.closing.CompareAndSwap(false, true) {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	c.ws.SetWriteDeadline(deadline)
	b := []byte{'4', sioDisconnect}
	if c.nsp != "/" {
		b = append(b, c.nsp...)
	}
	if c.ws.WriteText(b) != nil || c.ws.WriteClose(wsclient.StatusNormal) != nil {
		c.ws.Close()
		return nil
	}
	c.ws.SetReadDeadline(deadline)
	return nil
}

func (c *sioConn) Done() <-chan struct{} { return c.done }

// CloseTransport drops the TCP connection with neither DISCONNECT nor close frame, as a network
// cut would; OnDisconnect gets "transport close" (unless Close was called).
func (c *sioConn) CloseTransport() {
	c.cut.Store(true)
	c.ws.Close()
}

func truncate(b []byte) []byte {
	if len(b) > 100 {
		return b[:100]
	}
	return b
}

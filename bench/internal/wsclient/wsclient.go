// Package wsclient is a lean WebSocket client (RFC 6455) for the load generator's subscribers:
// it dials TCP itself, does the opening handshake, writes masked frames and reads the server's
// frames into one buffer of its own, returning each message in place (a slice of that buffer)
// without allocating. No goroutine of its own, no compression, no UTF-8 validation of text
// messages.
package wsclient

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Opcodes.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// Close status codes.
const (
	StatusNormal     = 1000
	StatusNoStatus   = 1005 // received close frame without a code
	StatusProtocol   = 1002
	StatusTooBig     = 1009
	DefaultBufSize   = 4096
	DefaultMaxMsg    = 64 << 20
	minBufSize       = 256 // a whole control frame (at most 2+8+125 bytes) fits
	keepScratchLimit = 1 << 20
)

// CloseError is the server's close frame.
type CloseError struct {
	Code   int // StatusNoStatus when the frame had no code
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket closed by the server: %d %s", e.Code, e.Reason)
}

// ErrProtocol is a frame this client does not accept (reserved bits, a masked server frame, a
// fragmented or oversized control frame, a continuation out of place).
var ErrProtocol = errors.New("websocket: protocol error")

var errCloseSent = errors.New("websocket: close frame already sent")

// ErrTooBig is a message above Conn.MaxMessage.
var ErrTooBig = errors.New("websocket: message too big")

// Options configures Dial.
type Options struct {
	// Dialer dials the TCP connection (e.g. with a LocalAddr); a plain net.Dialer by default.
	Dialer *net.Dialer
	// BufSize is the read buffer's size (DefaultBufSize by default). The buffer grows for a
	// frame that does not fit, and shrinks back once it is empty.
	BufSize int
	// Header is sent with the handshake request.
	Header http.Header
}

// Conn is one client WebSocket connection. Next and Run must be called from one goroutine at a
// time; the write methods are safe for concurrent use (with each other and with the reader).
type Conn struct {
	nc net.Conn

	// MaxMessage bounds a received message (DefaultMaxMsg by default).
	MaxMessage int

	// Reader side (Next's or Run's goroutine only).
	size    int    // the read buffer's normal size
	buf     []byte // read buffer; the unread bytes are buf[r:w]
	r, w    int
	fragOp  byte   // opcode of the fragmented message being assembled, 0 if none
	scratch []byte // the fragments assembled so far

	wmu       sync.Mutex
	wbuf      []byte
	closeSent bool // guarded by wmu

	poll pollState // set by Go when a poller reads the connection
}

// Dial connects to u (ws://host[:port]/path?query; http:// is taken as ws://) and performs the
// opening handshake, bounded by ctx.
func Dial(ctx context.Context, u string, o Options) (*Conn, error) {
	host, path, err := splitURL(u)
	if err != nil {
		return nil, err
	}
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	size := o.BufSize
	if size <= 0 {
		size = DefaultBufSize
	}
	size = max(size, minBufSize)
	c := newConn(nc, size)
	if err := c.Within(ctx, func() error { return c.handshake(host, path, o.Header) }); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func newConn(nc net.Conn, size int) *Conn {
	return &Conn{nc: nc, MaxMessage: DefaultMaxMsg, size: size, buf: make([]byte, size)}
}

// splitURL returns the host:port to dial and the request target.
func splitURL(u string) (host, path string, err error) {
	rest, ok := strings.CutPrefix(u, "ws://")
	if !ok {
		rest, ok = strings.CutPrefix(u, "http://")
	}
	if !ok {
		return "", "", fmt.Errorf("websocket: URL %q: want ws:// or http:// (no TLS)", u)
	}
	host, path = rest, "/"
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		host, path = rest[:i], rest[i:]
		if path[0] == '?' {
			path = "/" + path
		}
	}
	if host == "" {
		return "", "", fmt.Errorf("websocket: URL %q has no host", u)
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "80")
	}
	return host, path, nil
}

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey is the Sec-WebSocket-Accept answering key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

func (c *Conn) handshake(host, path string, hdr http.Header) error {
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n")
	for k, vs := range hdr {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c.nc, b.String()); err != nil {
		return err
	}
	// The answer's head through a bufio.Reader, whose leftovers (the first frames: a server may
	// speak first) move to the connection's buffer.
	br := bufio.NewReaderSize(c.nc, len(c.buf))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("websocket handshake: %w", err)
	}
	rest, _ := br.Peek(br.Buffered())
	c.w = copy(c.buf, rest)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		resp.Body.Close()
		return fmt.Errorf("websocket handshake: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if !HeaderHas(resp.Header, "Upgrade", "websocket") || !HeaderHas(resp.Header, "Connection", "upgrade") {
		return fmt.Errorf("websocket handshake: no Upgrade: websocket / Connection: Upgrade in the answer")
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != AcceptKey(key) {
		return fmt.Errorf("websocket handshake: Sec-WebSocket-Accept %q, want %q", got, AcceptKey(key))
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		return fmt.Errorf("websocket handshake: unrequested extensions %q", ext)
	}
	return nil
}

// HeaderHas reports whether a comma-separated header has token (case-insensitive), as the
// handshake's Upgrade and Connection must on both sides.
func HeaderHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Within runs f (a handshake over c, say) bound to ctx as Bind does, and returns f's error or
// the binding's, both when there are two.
func (c *Conn) Within(ctx context.Context, f func() error) error {
	release := c.Bind(ctx)
	err := f()
	if rerr := release(); rerr != nil && err != nil {
		err = fmt.Errorf("%w (%v)", rerr, err)
	} else if rerr != nil {
		err = rerr
	}
	return err
}

// Bind makes ctx bound the connection's reads and writes until release is called: its deadline
// becomes the connection's, and its cancellation interrupts them. release clears the deadline
// and returns ctx's error if ctx ended meanwhile.
func (c *Conn) Bind(ctx context.Context) (release func() error) {
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	return func() error {
		interrupted := !stop()
		c.nc.SetDeadline(time.Time{})
		if err := ctx.Err(); interrupted || err != nil {
			return err
		}
		// The connection's deadline may pass a moment before ctx's timer fires.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return context.DeadlineExceeded
		}
		return nil
	}
}

// SetReadDeadline sets the read deadline (also of a connection that Go handed to a poller).
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.poll.setDeadline(t)
	return c.nc.SetReadDeadline(t)
}

// SetWriteDeadline sets the underlying connection's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// Close closes the TCP connection at once (no closing handshake). While a poller reads the
// connection, Close shuts it down instead and the poller's done callback sees the end; the
// descriptor is closed by the next Close (the poller must not meet a number reused meanwhile).
func (c *Conn) Close() error {
	if c.poll.shutdown(c) {
		return nil
	}
	return c.nc.Close()
}

// LocalAddr is the connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Next returns the next data message, OpText or OpBinary, with its payload. The payload aliases
// the connection's read buffer (or the buffer where fragments are assembled) and is valid only
// until the next call of Next or Run. Control frames are handled on the way: a ping is answered
// with a pong, a pong is ignored, a close frame is answered with a close frame (unless one was
// sent already) and returned as a *CloseError. Fragmented messages are assembled. After an
// error, the connection is unusable: Close it.
func (c *Conn) Next() (op byte, msg []byte, err error) {
	for {
		op, msg, need, err := c.advance()
		if err != nil || need == 0 {
			return op, msg, err
		}
		c.makeRoom(need)
		n, err := c.nc.Read(c.buf[c.w:])
		c.w += n
		if err != nil && n == 0 {
			return 0, nil, eof(err, c.w > c.r || c.fragOp != 0)
		}
	}
}

// Run reads messages as Next does and hands each data message to h, until h returns false
// (Run returns nil) or reading fails (Run returns the error, a *CloseError for the server's
// close frame). msg is valid only until h returns.
func (c *Conn) Run(h func(op byte, msg []byte) bool) error {
	for {
		op, msg, err := c.Next()
		if err != nil {
			return err
		}
		if !h(op, msg) {
			return nil
		}
	}
}

// Go reads messages as Run does, without a goroutine of its own where it can: on Linux the
// connection joins one of a few pollers (epoll), each reading many connections on one
// goroutine: no second read to learn there is nothing more, no park and wake per message (7% of
// the generator's CPU at 1,000 subscribers x 100 messages/s; the rest is the kernel's TCP).
// done gets Run's result, once, on the poller's goroutine. Messages already buffered are handled
// before Go returns, on the caller's goroutine.
func (c *Conn) Go(h func(op byte, msg []byte) bool, done func(error)) {
	for {
		op, msg, need, err := c.advance()
		if err != nil {
			done(err)
			return
		}
		if need != 0 {
			c.makeRoom(need)
			break
		}
		if !h(op, msg) {
			done(nil)
			return
		}
	}
	if p := pollerFor(); p != nil && p.add(c, h, done) {
		return
	}
	go func() { done(c.Run(h)) }()
}

// advance handles the buffered frames until a data message is complete (need is 0, op and msg
// are the message), or the frame at the start of the unread bytes is incomplete (need is the
// number of bytes it needs, from buf[r]), or an error.
func (c *Conn) advance() (op byte, msg []byte, need int, err error) {
	for {
		avail := c.w - c.r
		if avail < 2 {
			return 0, nil, 2, nil
		}
		h := c.buf[c.r:c.w]
		fin := h[0]&0x80 != 0
		fop := h[0] & 0x0f
		if h[0]&0x70 != 0 || h[1]&0x80 != 0 { // reserved bits, masked server frame
			return 0, nil, 0, ErrProtocol
		}
		hl, n := 2, uint64(h[1]&0x7f)
		switch n {
		case 126:
			hl = 4
		case 127:
			hl = 10
		}
		if avail < hl {
			return 0, nil, hl, nil
		}
		switch hl {
		case 4:
			n = uint64(binary.BigEndian.Uint16(h[2:4]))
		case 10:
			n = binary.BigEndian.Uint64(h[2:10])
		}
		if fop >= 0x8 && (!fin || n > 125) { // control frames: whole and small
			return 0, nil, 0, ErrProtocol
		}
		limit := c.MaxMessage
		if limit <= 0 {
			limit = DefaultMaxMsg
		}
		if fop == OpContinuation {
			limit -= len(c.scratch)
		}
		if n > uint64(limit) {
			return 0, nil, 0, ErrTooBig
		}
		total := hl + int(n)
		if avail < total {
			return 0, nil, total, nil
		}
		payload := h[hl:total]
		c.r += total
		switch fop {
		case OpPing:
			if err := c.writeFrame(OpPong, payload); err != nil && err != errCloseSent {
				return 0, nil, 0, err
			}
		case OpPong:
		case OpClose:
			ce := &CloseError{Code: StatusNoStatus}
			if len(payload) >= 2 {
				ce.Code = int(binary.BigEndian.Uint16(payload))
				ce.Reason = string(payload[2:])
			}
			c.wmu.Lock()
			sent := c.closeSent
			c.wmu.Unlock()
			if !sent {
				code := ce.Code
				if code == StatusNoStatus {
					code = StatusNormal
				}
				c.WriteClose(code)
			}
			return 0, nil, 0, ce
		case OpText, OpBinary:
			if c.fragOp != 0 {
				return 0, nil, 0, ErrProtocol
			}
			if fin {
				return fop, payload, 0, nil
			}
			c.fragOp = fop
			c.scratch = append(c.scratch[:0], payload...)
		case OpContinuation:
			if c.fragOp == 0 {
				return 0, nil, 0, ErrProtocol
			}
			c.scratch = append(c.scratch, payload...)
			if fin {
				op, c.fragOp = c.fragOp, 0
				msg, c.scratch = c.scratch, c.scratch[:0]
				if cap(c.scratch) > keepScratchLimit {
					c.scratch = nil // msg keeps it until the next call
				}
				return op, msg, 0, nil
			}
		default:
			return 0, nil, 0, ErrProtocol
		}
	}
}

// makeRoom makes buf[r:] able to hold need bytes and leaves room to read: it rewinds an empty
// buffer (shrinking it back to its normal size), moves a partial frame to the front, or grows
// the buffer for a frame larger than it.
func (c *Conn) makeRoom(need int) {
	if c.r == c.w {
		c.r, c.w = 0, 0
		if len(c.buf) > c.size {
			c.buf = make([]byte, c.size)
		}
	}
	if c.r+need <= len(c.buf) {
		return
	}
	if need <= len(c.buf) {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
		return
	}
	nb := make([]byte, need)
	c.w = copy(nb, c.buf[c.r:c.w])
	c.r = 0
	c.buf = nb
}

// eof turns an EOF in the middle of a frame into io.ErrUnexpectedEOF.
func eof(err error, partial bool) error {
	if partial && err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteText sends a text message (one frame).
func (c *Conn) WriteText(p []byte) error { return c.writeFrame(OpText, p) }

// WriteClose sends a close frame with code (and starts the closing handshake: the server answers
// with its close frame, which Next returns as a *CloseError).
func (c *Conn) WriteClose(code int) error {
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], uint16(code))
	return c.writeFrame(OpClose, p[:])
}

// writeFrame writes one final, masked frame.
func (c *Conn) writeFrame(op byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	if op == OpClose {
		c.closeSent = true
	}
	c.wbuf = AppendFrame(c.wbuf[:0], op, p, mrand.Uint32())
	_, err := c.nc.Write(c.wbuf)
	if cap(c.wbuf) > keepScratchLimit {
		c.wbuf = nil
	}
	return err
}

// AppendFrame appends a final client frame of op with payload p masked with mask.
func AppendFrame(b []byte, op byte, p []byte, mask uint32) []byte {
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var m [4]byte
	binary.BigEndian.PutUint32(m[:], mask)
	b = append(b, m[:]...)
	start := len(b)
	b = append(b, p...)
	for i := range p {
		b[start+i] ^= m[i&3]
	}
	return b
}

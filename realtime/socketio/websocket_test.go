package socketio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The WebSocket framing, byte by byte: what coder/websocket and socket.io-client (the other
// tests) never send — fragments, client pings, bad frames.

// rawWS is a client that writes frames by hand.
type rawWS struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRawWS(t *testing.T, url string, header string) (*rawWS, *http.Response) {
	t.Helper()
	host := strings.TrimPrefix(strings.TrimSuffix(url, "/socket.io/"), "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + host + "\r\n" + header + "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &rawWS{t, conn, r}, resp
}

const goodUpgrade = "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

// openRawWS completes a handshake and reads the open packet.
func openRawWS(t *testing.T, url string) *rawWS {
	t.Helper()
	c, resp := dialRawWS(t, url, goodUpgrade)
	// RFC 6455, section 1.3: this key's answer.
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	op, msg := c.readFrame()
	if op != opText || !strings.HasPrefix(string(msg), "0{") {
		t.Fatalf("first frame: %x %q", op, msg)
	}
	return c
}

// frame encodes a client frame, masked unless mask is nil.
func frame(fin bool, op byte, payload []byte, mask []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var b []byte
	n := len(payload)
	m := byte(0)
	if mask != nil {
		m = 0x80
	}
	switch {
	case n <= 125:
		b = append(b, b0, m|byte(n))
	case n <= 0xffff:
		b = append(b, b0, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, b0, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if mask == nil {
		return append(b, payload...)
	}
	b = append(b, mask...)
	for i, c := range payload {
		b = append(b, c^mask[i&3])
	}
	return b
}

var testMask = []byte{0x37, 0xfa, 0x21, 0x3d}

func (c *rawWS) send(frames ...[]byte) {
	c.t.Helper()
	if _, err := c.conn.Write(bytes.Join(frames, nil)); err != nil {
		c.t.Fatal(err)
	}
}

// readFrame reads one server frame, which must be whole and unmasked.
func (c *rawWS) readFrame() (byte, []byte) {
	c.t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if h[0]&0x80 == 0 || h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		c.t.Fatalf("frame header %x: want final, no extension bits, unmasked", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		io.ReadFull(c.r, e[:])
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		io.ReadFull(c.r, e[:])
		n = binary.BigEndian.Uint64(e[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.r, p); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return h[0] & 0x0f, p
}

// expectClose reads up to a close frame with code, then the end of the connection (a reset when
// the server hung up with the rest of a refused frame unread).
func (c *rawWS) expectClose(code int) {
	c.t.Helper()
	for {
		op, p := c.readFrame()
		if op != opClose {
			continue
		}
		if len(p) < 2 || int(binary.BigEndian.Uint16(p)) != code {
			c.t.Fatalf("close frame %q, want code %d", p, code)
		}
		break
	}
	if _, err := c.r.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("after the close frame: %v, want EOF", err)
	}
}

func TestWebSocketFragmentsAndClientPing(t *testing.T) {
	app := newTestApp(t, nil)
	c := openRawWS(t, app.url)
	// CONNECT in three fragments with a ping between them, and an echo right behind in the same
	// write: the ping is answered at once, the message after its last fragment.
	c.send(
		frame(false, opText, []byte("4"), testMask),
		frame(false, opContinuation, []byte("0"), testMask),
		frame(true, opPing, []byte("are you there"), testMask),
		frame(true, opContinuation, nil, testMask),
		frame(true, opText, []byte(`421["echo","a`+strings.Repeat("é", 100)+`"]`), testMask),
	)
	op, p := c.readFrame()
	if op != opPong || string(p) != "are you there" {
		t.Fatalf("got %x %q, want the pong", op, p)
	}
	op, p = c.readFrame()
	if op != opText || !strings.HasPrefix(string(p), "40{") {
		t.Fatalf("got %x %q, want the CONNECT answer", op, p)
	}
	op, p = c.readFrame()
	if want := `431["a` + strings.Repeat("é", 100) + `"]`; op != opText || string(p) != want {
		t.Fatalf("got %x %q, want %q", op, p, want)
	}
	// A message of 64 KiB (8-byte length) comes back whole.
	big := strings.Repeat("z", 70000)
	c.send(frame(true, opText, []byte(`421["echo","`+big+`"]`), testMask))
	if op, p = c.readFrame(); string(p) != `431["`+big+`"]` {
		t.Fatalf("big echo: %x, %d bytes", op, len(p))
	}
	// The client closes: the server answers with a close frame and hangs up.
	c.send(frame(true, opClose, []byte{0x03, 0xe8}, testMask))
	c.expectClose(1000)
	if d := app.waitDisconnect(t); d.reason != "transport close" {
		t.Fatalf("reason %q", d.reason)
	}
}

func TestWebSocketBadFrames(t *testing.T) {
	app := newTestApp(t, func(o *Options) { o.MaxPayload = 1000 })
	for _, tc := range []struct {
		name   string
		frames [][]byte
		code   int
	}{
		{"unmasked", [][]byte{frame(true, opText, []byte("40"), nil)}, closeProtocolError},
		{"extension bit", [][]byte{append([]byte{0xc1}, frame(true, opText, []byte("40"), testMask)[1:]...)}, closeProtocolError},
		{"reserved opcode", [][]byte{frame(true, 0x3, []byte("40"), testMask)}, closeProtocolError},
		{"continuation of nothing", [][]byte{frame(true, opContinuation, []byte("40"), testMask)}, closeProtocolError},
		{"message inside a message", [][]byte{frame(false, opText, []byte("4"), testMask), frame(true, opText, []byte("0"), testMask)}, closeProtocolError},
		{"fragmented ping", [][]byte{frame(false, opPing, []byte("x"), testMask)}, closeProtocolError},
		{"long ping", [][]byte{frame(true, opPing, make([]byte, 126), testMask)}, closeProtocolError},
		{"too big", [][]byte{frame(true, opText, make([]byte, 1001), testMask)}, closeTooBig},
		{"too big in fragments", [][]byte{frame(false, opText, make([]byte, 600), testMask), frame(true, opContinuation, make([]byte, 600), testMask)}, closeTooBig},
		{"huge length", [][]byte{{0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}}, closeTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := openRawWS(t, app.url)
			c.send(tc.frames...)
			c.expectClose(tc.code)
		})
	}
}

func TestWebSocketHandshakeRefusals(t *testing.T) {
	app := newTestApp(t, nil)
	for name, header := range map[string]string{
		"no key":         "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
		"short key":      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: abcd\r\n",
		"version 8":      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
		"no Connection":  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
		"not an upgrade": "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, resp := dialRawWS(t, app.url, header)
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code":3`) {
				t.Fatalf("got %d %s, want 400 with Engine.IO's error", resp.StatusCode, body)
			}
		})
	}
}

// A client that reads nothing for a while fills its socket: the rest waits on the writer
// goroutine and arrives whole and in order once the client reads again, and a batch to it and
// to others is written meanwhile.
func TestWebSocketFullSocketKeepsOrder(t *testing.T) {
	app := newTestApp(t, func(o *Options) { o.SendQueueBytes = 64 << 20 })
	c := openRawWS(t, app.url)
	c.send(frame(true, opText, []byte("40"), testMask))
	if _, p := c.readFrame(); !strings.HasPrefix(string(p), "40{") {
		t.Fatalf("CONNECT answer %q", p)
	}
	socks := app.namespace("/")
	if len(socks) != 1 {
		t.Fatalf("%d sockets", len(socks))
	}
	const n = 400 // 16 MiB: far more than loopback socket buffers hold
	var b Batch
	for i := range n {
		p, _ := NewEvent("seq", i, strings.Repeat("y", 40<<10))
		if i%2 == 0 {
			socks[0].Send(p)
		} else {
			socks[0].SendBatched(p, &b)
			b.Flush()
		}
	}
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	for i := range n {
		_, p := c.readFrame()
		if want := fmt.Sprintf(`42["seq",%d,"`, i); !strings.HasPrefix(string(p), want) || len(p) != len(want)+40<<10+2 {
			t.Fatalf("message %d: %.30q… (%d bytes)", i, p, len(p))
		}
	}
}

// FuzzReadMessage: whatever a client sends, reading ends in a message or an error, never a panic
// or a message over the limit.
func FuzzReadMessage(f *testing.F) {
	f.Add(frame(true, opText, []byte("40"), testMask))
	f.Add(bytes.Join([][]byte{frame(false, opText, []byte("4"), testMask), frame(true, opPing, []byte("p"), testMask), frame(true, opContinuation, []byte("2"), testMask)}, nil))
	f.Add(frame(true, opText, make([]byte, 300), testMask))
	f.Add([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		client.Close()
		c := &wsConn{conn: server, unread: data, maxPayload: 512}
		for {
			_, msg, err := c.readMessage(func(p []byte) {
				if len(p) > 125 {
					t.Fatalf("ping of %d bytes", len(p))
				}
			})
			if err != nil {
				return
			}
			if len(msg) > 512 {
				t.Fatalf("message of %d bytes", len(msg))
			}
		}
	})
}

package wsclient

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/coder/websocket"
)

// frame builds one unmasked server frame.
func frame(fin bool, op byte, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(p); {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// fakeConn reads from r and records writes.
type fakeConn struct {
	net.Conn
	r io.Reader
	w bytes.Buffer
}

func (f *fakeConn) Read(p []byte) (int, error)  { return f.r.Read(p) }
func (f *fakeConn) Write(p []byte) (int, error) { return f.w.Write(p) }
func (f *fakeConn) Close() error                { return nil }

func newTestConn(r io.Reader, bufSize int) (*Conn, *fakeConn) {
	fc := &fakeConn{r: r}
	c := newConn(fc, bufSize)
	c.MaxMessage = 1 << 20
	return c, fc
}

// unmask decodes the client frames written to w: opcode and payload of each.
func unmask(t *testing.T, w []byte) (ops []byte, payloads []string) {
	t.Helper()
	for len(w) > 0 {
		if len(w) < 2 || w[0]&0x80 == 0 || w[1]&0x80 == 0 {
			t.Fatalf("bad client frame % x", w)
		}
		op := w[0] & 0x0f
		n, hl := int(w[1]&0x7f), 2
		switch n {
		case 126:
			n, hl = int(binary.BigEndian.Uint16(w[2:])), 4
		case 127:
			n, hl = int(binary.BigEndian.Uint64(w[2:])), 10
		}
		mask := w[hl : hl+4]
		p := bytes.Clone(w[hl+4 : hl+4+n])
		for i := range p {
			p[i] ^= mask[i&3]
		}
		ops = append(ops, op)
		payloads = append(payloads, string(p))
		w = w[hl+4+n:]
	}
	return ops, payloads
}

type msg struct {
	op byte
	p  string
}

type frameCase struct {
	name   string
	in     []byte
	want   []msg
	err    error    // after the messages; io.EOF at the end of the input by default
	closeC int      // want a *CloseError with this code
	writes []string // client frames written, "op:payload"
}

func frameCases() []frameCase {
	big := bytes.Repeat([]byte("0123456789"), 1000) // 10,000 bytes: more than a 4 KiB buffer
	huge := bytes.Repeat([]byte("x"), 70000)        // 64-bit length
	return []frameCase{
		{name: "one text", in: frame(true, OpText, []byte("42/livedoc,[\"e\",1]")), want: []msg{{OpText, "42/livedoc,[\"e\",1]"}}},
		{name: "empty", in: frame(true, OpText, nil), want: []msg{{OpText, ""}}},
		{name: "binary", in: frame(true, OpBinary, []byte{0, 1, 2}), want: []msg{{OpBinary, "\x00\x01\x02"}}},
		{name: "several", in: cat(frame(true, OpText, []byte("a")), frame(true, OpText, []byte("bb")), frame(true, OpText, []byte("ccc"))),
			want: []msg{{OpText, "a"}, {OpText, "bb"}, {OpText, "ccc"}}},
		{name: "16-bit length", in: frame(true, OpText, big[:300]), want: []msg{{OpText, string(big[:300])}}},
		{name: "bigger than the buffer", in: cat(frame(true, OpText, big), frame(true, OpText, []byte("after"))),
			want: []msg{{OpText, string(big)}, {OpText, "after"}}},
		{name: "64-bit length", in: frame(true, OpText, huge), want: []msg{{OpText, string(huge)}}},
		{name: "fragmented", in: cat(frame(false, OpText, []byte("he")), frame(false, OpContinuation, []byte("ll")), frame(true, OpContinuation, []byte("o"))),
			want: []msg{{OpText, "hello"}}},
		{name: "fragmented, big fragments", in: cat(frame(false, OpText, big[:5000]), frame(false, OpContinuation, []byte("-")), frame(true, OpContinuation, big[5000:])),
			want: []msg{{OpText, string(big[:5000]) + "-" + string(big[5000:])}}},
		{name: "ping inside a fragmented message", in: cat(frame(false, OpText, []byte("a")), frame(true, OpPing, []byte("p1")), frame(true, OpContinuation, []byte("b")), frame(true, OpText, []byte("c"))),
			want: []msg{{OpText, "ab"}, {OpText, "c"}}, writes: []string{"10:p1"}},
		{name: "pong ignored", in: cat(frame(true, OpPong, []byte("x")), frame(true, OpText, []byte("c"))), want: []msg{{OpText, "c"}}},
		{name: "close", in: cat(frame(true, OpText, []byte("c")), frame(true, OpClose, []byte{0x03, 0xe8, 'b', 'y', 'e'})),
			want: []msg{{OpText, "c"}}, closeC: 1000, writes: []string{"8:\x03\xe8"}},
		{name: "close without code", in: frame(true, OpClose, nil), closeC: StatusNoStatus, writes: []string{"8:\x03\xe8"}},
		{name: "reserved bits", in: []byte{0x80 | 0x40 | OpText, 1, 'a'}, err: ErrProtocol},
		{name: "masked", in: []byte{0x80 | OpText, 0x80 | 1, 1, 2, 3, 4, 'a'}, err: ErrProtocol},
		{name: "continuation first", in: frame(true, OpContinuation, []byte("a")), err: ErrProtocol},
		{name: "text inside a fragmented message", in: cat(frame(false, OpText, []byte("a")), frame(true, OpText, []byte("b"))), err: ErrProtocol},
		{name: "fragmented control", in: frame(false, OpPing, nil), err: ErrProtocol},
		{name: "long control", in: frame(true, OpPing, bytes.Repeat([]byte("p"), 126)), err: ErrProtocol},
		{name: "unknown opcode", in: frame(true, 0x3, nil), err: ErrProtocol},
		{name: "too big", in: frame(true, OpText, make([]byte, 1<<20+1)), err: ErrTooBig},
		{name: "fragments too big", in: cat(frame(false, OpText, make([]byte, 1<<19)), frame(true, OpContinuation, make([]byte, 1<<19+1))), err: ErrTooBig},
		{name: "cut in the header", in: []byte{0x81}, err: io.ErrUnexpectedEOF},
		{name: "cut in the length", in: []byte{0x81, 126, 1}, err: io.ErrUnexpectedEOF},
		{name: "cut in the payload", in: frame(true, OpText, []byte("abc"))[:4], err: io.ErrUnexpectedEOF},
		{name: "cut in a big payload", in: frame(true, OpText, big)[:6000], err: io.ErrUnexpectedEOF},
	}
}

// check compares what a reader got with tc.
func (tc frameCase) check(t *testing.T, mode string, got []msg, err error, written []byte) {
	t.Helper()
	if len(got) != len(tc.want) {
		t.Errorf("%s (%s): %d messages, want %d", tc.name, mode, len(got), len(tc.want))
	} else {
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s (%s): message %d = %d %.40q, want %d %.40q", tc.name, mode, i, got[i].op, got[i].p, tc.want[i].op, tc.want[i].p)
			}
		}
	}
	var ce *CloseError
	switch {
	case tc.closeC != 0:
		if !errors.As(err, &ce) || ce.Code != tc.closeC {
			t.Errorf("%s (%s): error %v, want close %d", tc.name, mode, err, tc.closeC)
		}
	case tc.err != nil:
		if !errors.Is(err, tc.err) {
			t.Errorf("%s (%s): error %v, want %v", tc.name, mode, err, tc.err)
		}
	default:
		if err != io.EOF {
			t.Errorf("%s (%s): error %v, want EOF", tc.name, mode, err)
		}
	}
	ops, payloads := unmask(t, written)
	var writes []string
	for i := range ops {
		writes = append(writes, fmt.Sprintf("%d:%s", ops[i], payloads[i]))
	}
	if strings.Join(writes, "|") != strings.Join(tc.writes, "|") {
		t.Errorf("%s (%s): wrote %q, want %q", tc.name, mode, writes, tc.writes)
	}
}

// TestNext reads each case through Next and Run (on a plain io.Reader), whole, one byte at a
// time and in halves.
func TestNext(t *testing.T) {
	for _, tc := range frameCases() {
		for _, mode := range []string{"whole", "one byte at a time", "half", "Run"} {
			var r io.Reader = bytes.NewReader(tc.in)
			switch mode {
			case "one byte at a time":
				r = iotest.OneByteReader(r)
			case "half":
				r = iotest.HalfReader(r)
			}
			c, fc := newTestConn(r, 4096)
			var got []msg
			var err error
			if mode == "Run" {
				err = c.Run(func(op byte, p []byte) bool {
					got = append(got, msg{op, string(p)})
					return true
				})
			} else {
				for {
					var op byte
					var p []byte
					if op, p, err = c.Next(); err != nil {
						break
					}
					got = append(got, msg{op, string(p)})
				}
			}
			tc.check(t, mode, got, err, fc.w.Bytes())
		}
	}
}

// TestTCP reads each case through Run on a TCP connection, the server writing it whole or in
// small pieces, so that frames arrive split across reads.
func TestTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, polled := range []bool{false, true} {
		testTCP(t, l, polled)
	}
}

// testTCP reads each frame case from a real TCP connection, with Run or through a poller (Go).
func testTCP(t *testing.T, l net.Listener, polled bool) {
	for _, tc := range frameCases() {
		for _, chunk := range []int{0, 7} {
			mode := "whole"
			if chunk > 0 {
				mode = "pieces"
				if len(tc.in) > 1000 {
					chunk = 997
				}
			}
			written := make(chan []byte, 1)
			go func() {
				s, err := l.Accept()
				if err != nil {
					written <- nil
					return
				}
				defer s.Close()
				in := tc.in
				for len(in) > 0 {
					n := len(in)
					if chunk > 0 {
						n = min(n, chunk)
					}
					if _, err := s.Write(in[:n]); err != nil {
						break
					}
					in = in[n:]
					if chunk > 0 {
						time.Sleep(50 * time.Microsecond)
					}
				}
				s.(*net.TCPConn).CloseWrite()
				b, _ := io.ReadAll(s) // the client's frames, until it closes
				written <- b
			}()
			nc, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c := newConn(nc, 4096)
			c.MaxMessage = 1 << 20
			var got []msg
			h := func(op byte, p []byte) bool {
				got = append(got, msg{op, string(p)})
				return true
			}
			if polled {
				mode += ", polled"
				ended := make(chan error, 1)
				c.Go(h, func(err error) { ended <- err })
				err = <-ended
			} else {
				err = c.Run(h)
			}
			c.Close()
			tc.check(t, "TCP, "+mode, got, err, <-written)
		}
	}
}

// TestGo checks the poller: many connections read on its goroutine, each in order, a handler
// that stops one, a read deadline and Close ending others, each told once through done.
func TestGo(t *testing.T) {
	const conns, msgs = 40, 300
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			s, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer s.Close()
				var b []byte
				for i := range msgs {
					b = append(b, frame(true, OpText, []byte(strconv.Itoa(i)))...)
					if len(b) > 700 || i == msgs-1 {
						if _, err := s.Write(b); err != nil {
							return
						}
						b = b[:0]
					}
				}
				io.ReadAll(s) // until the client closes
			}()
		}
	}()
	type result struct {
		i   int
		n   int
		err error
	}
	ended := make(chan result, conns)
	cs := make([]*Conn, conns)
	for i := range cs {
		nc, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c := newConn(nc, 256)
		cs[i] = c
		n := 0
		var bad error
		c.Go(func(op byte, p []byte) bool {
			if string(p) != strconv.Itoa(n) && bad == nil {
				bad = fmt.Errorf("message %d is %q", n, p)
			}
			n++
			// Connection 0 stops itself halfway; the others read everything and then wait.
			return !(i == 0 && n == msgs/2)
		}, func(err error) {
			if bad != nil {
				err = bad
			}
			ended <- result{i, n, err}
		})
	}
	// Connection 0 ends by its handler, with no error.
	select {
	case r := <-ended:
		if r.i != 0 || r.n != msgs/2 || r.err != nil {
			t.Fatalf("first to end: connection %d after %d messages: %v", r.i, r.n, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connection 0 did not stop")
	}
	// Connection 1 by its read deadline; connections 2 and up by Close.
	cs[1].SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	deadline := time.After(10 * time.Second)
	select {
	case r := <-ended:
		if r.i != 1 || r.n != msgs || !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("by deadline: connection %d after %d messages: %v", r.i, r.n, r.err)
		}
	case <-deadline:
		t.Fatal("the read deadline did not end connection 1")
	}
	for _, c := range cs[2:] {
		c.Close()
	}
	seen := map[int]bool{}
	for len(seen) < conns-2 {
		select {
		case r := <-ended:
			if r.i < 2 || seen[r.i] || r.n != msgs || !errors.Is(r.err, io.EOF) {
				t.Fatalf("after Close: connection %d (seen %v) after %d messages: %v", r.i, seen[r.i], r.n, r.err)
			}
			seen[r.i] = true
		case <-deadline:
			t.Fatalf("%d of %d closed connections told", len(seen), conns-2)
		}
	}
	for _, c := range cs {
		c.Close() // now the descriptors themselves
	}
}

// TestRunStop checks that Run returns when its handler says so, that Run and Next can take
// turns, and that a read deadline ends Run.
func TestRunStop(t *testing.T) {
	in := cat(frame(true, OpText, []byte("a")), frame(true, OpText, []byte("b")), frame(true, OpText, []byte("c")))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		s, err := l.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		s.Write(in)
		io.ReadAll(s)
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(nc, 4096)
	defer c.Close()
	var got []string
	if err := c.Run(func(op byte, p []byte) bool {
		got = append(got, string(p))
		return len(got) < 2
	}); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.Next(); err != nil || string(p) != "c" {
		t.Fatalf("Next after Run: %q %v", p, err)
	}
	if strings.Join(got, "") != "ab" {
		t.Errorf("Run got %q", got)
	}
	// A deadline ends Run with os.ErrDeadlineExceeded.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if err := c.Run(func(byte, []byte) bool { return true }); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Run past the deadline: %v", err)
	}
}

// TestNextInPlace checks that a message that fits the buffer costs no allocation.
func TestNextInPlace(t *testing.T) {
	one := frame(true, OpText, []byte(`42/livedoc,["livedoc_bench",{"seq":1,"t":2,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},"17-0"]`))
	in := bytes.Repeat(one, 200)
	r := bytes.NewReader(in)
	c, _ := newTestConn(r, 4096)
	n := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		c.r, c.w = 0, 0
		for range 200 {
			if _, _, err := c.Next(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per 200 messages", n)
	}
}

func TestAppendFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		p := bytes.Repeat([]byte{'a'}, n)
		b := AppendFrame(nil, OpText, p, 0x01020304)
		ops, payloads := unmask(t, b)
		if len(ops) != 1 || ops[0] != OpText || payloads[0] != string(p) {
			t.Errorf("%d bytes: decoded %v, %d bytes", n, ops, len(payloads[0]))
		}
	}
}

func TestAcceptKey(t *testing.T) {
	// RFC 6455, section 1.3.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("AcceptKey = %q", got)
	}
}

func TestSplitURL(t *testing.T) {
	for _, tc := range []struct{ u, host, path string }{
		{"ws://127.0.0.1:8000/socket.io/?EIO=4&transport=websocket", "127.0.0.1:8000", "/socket.io/?EIO=4&transport=websocket"},
		{"http://localhost:9/x", "localhost:9", "/x"},
		{"ws://127.0.0.1", "127.0.0.1:80", "/"},
		{"ws://127.0.0.1:1?a=b", "127.0.0.1:1", "/?a=b"},
		{"ws://[::1]:5/p", "[::1]:5", "/p"},
	} {
		host, path, err := splitURL(tc.u)
		if err != nil || host != tc.host || path != tc.path {
			t.Errorf("splitURL(%q) = %q, %q, %v", tc.u, host, path, err)
		}
	}
	for _, u := range []string{"wss://x:1/", "https://x:1/", "ws:///p", "127.0.0.1:80"} {
		if _, _, err := splitURL(u); err == nil {
			t.Errorf("splitURL(%q): no error", u)
		}
	}
}

// TestDial runs the handshake and an exchange against coder/websocket's server: an echo with
// a fragmented message, a big one, a ping and the closing handshake.
func TestDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "EIO=4&transport=websocket" {
			http.Error(w, "bad query "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		ctx := r.Context()
		ws.SetReadLimit(1 << 20)
		typ, msg, err := ws.Read(ctx)
		if err != nil {
			return
		}
		ws.Write(ctx, typ, append([]byte("echo:"), msg...))
		// A fragmented message: each Write of a Writer is one frame.
		mw, _ := ws.Writer(ctx, websocket.MessageText)
		mw.Write([]byte("frag"))
		mw.Write([]byte("mented"))
		mw.Close()
		ws.Write(ctx, websocket.MessageBinary, bytes.Repeat([]byte("b"), 100000))
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		go ws.Ping(pctx) // answered by the client's Next
		ws.Read(ctx)     // until the client's close frame
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, srv.URL+"/socket.io/?EIO=4&transport=websocket", Options{Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ip := c.LocalAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.3" {
		t.Errorf("local address %s", ip)
	}
	if err := c.WriteText([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"echo:hi", "fragmented", strings.Repeat("b", 100000)} {
		_, msg, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		if string(msg) != want {
			t.Fatalf("got %.40q, want %.40q", msg, want)
		}
	}
	if err := c.WriteClose(StatusNormal); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.Next()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusNormal {
		t.Errorf("after close: %v", err)
	}

	// Refusals.
	if _, err := Dial(ctx, srv.URL+"/x?a=b", Options{}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("bad query: %v", err)
	}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Sec-WebSocket-Accept", "wrong")
		w.WriteHeader(http.StatusSwitchingProtocols)
	}))
	defer plain.Close()
	if _, err := Dial(ctx, plain.URL, Options{}); err == nil || !strings.Contains(err.Error(), "Sec-WebSocket-Accept") {
		t.Errorf("wrong accept key: %v", err)
	}
	// A server that never answers: the context bounds the handshake.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sctx, scancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer scancel()
	if _, err := Dial(sctx, "ws://"+l.Addr().String()+"/", Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("silent server: %v", err)
	}
}

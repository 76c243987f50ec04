//go:build linux

package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livedoc/livedoc/bench/internal/floor"
	"github.com/livedoc/livedoc/bench/internal/wsclient"
)

// startFloor runs a floor server in-process on an httptest server listening on a listener made
// by lc, and returns it with a floor target set up against it.
func startFloor(t *testing.T, lc net.ListenConfig) (*floor.Server, *floorTarget) {
	t.Helper()
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := floor.New()
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	ft, err := newFloor(Options{URL: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ft.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if want := "ws://" + ln.Addr().String() + floor.SubscribePath; ft.subs != want {
		t.Fatalf("Setup found subscribers at %s, want %s", ft.subs, want)
	}
	return srv, ft
}

// floorRecorder keeps the messages one subscriber received.
type floorRecorder struct {
	mu           sync.Mutex
	lines        []string
	disconnected string
}

func (r *floorRecorder) disconnect() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.disconnected
}

func (r *floorRecorder) options() DialOptions {
	return DialOptions{Rooms: []string{"all"},
		OnMessage: func(payload, offset []byte) {
			r.mu.Lock()
			r.lines = append(r.lines, string(payload)) // payload aliases the read buffer: copy
			r.mu.Unlock()
		},
		OnDisconnect: func(reason string) {
			r.mu.Lock()
			r.disconnected = reason
			r.mu.Unlock()
		}}
}

func (r *floorRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lines)
}

// check compares what r received with want, in order.
func (r *floorRecorder) check(t *testing.T, name string, want []string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.disconnected != "" {
		t.Errorf("%s: disconnected: %s", name, r.disconnected)
	}
	if len(r.lines) != len(want) {
		t.Errorf("%s: got %d messages, want %d", name, len(r.lines), len(want))
	}
	for i := range min(len(r.lines), len(want)) {
		if r.lines[i] != want[i] {
			t.Errorf("%s: message %d is (%d bytes) %.40q, want (%d bytes) %.40q", name, i, len(r.lines[i]), r.lines[i], len(want[i]), want[i])
			return
		}
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func floorMsg(seq, size int) string {
	m := fmt.Sprintf(`{"seq":%d,"pad":"`, seq)
	return m + strings.Repeat("x", max(0, size-len(m)-2)) + `"}`
}

// TestFloorFanout: three subscribers through the floor target each get every message, in order
// (frames with 7-, 16- and 64-bit lengths); a closed one is dropped by the server while the
// others go on.
func TestFloorFanout(t *testing.T) {
	srv, ft := startFloor(t, net.ListenConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := ft.Dial(ctx, DialOptions{Rooms: []string{"doctype:X"}}); err == nil {
		t.Error("Dial to a room other than all: want an error")
	}
	if _, err := ft.Dial(ctx, DialOptions{Rooms: []string{"all"}, Reconnect: true}); err == nil {
		t.Error("Dial with Reconnect: want an error")
	}
	if err := ft.Publish(ctx, "e", "doctype:X", []byte(`{}`)); err == nil {
		t.Error("Publish to a room other than all: want an error")
	}
	if err := ft.Publish(ctx, "e", "all", nil); err == nil {
		t.Error("Publish of an empty payload: want an error")
	}
	if err := ft.Publish(ctx, "e", "all", []byte("\xff")); err == nil {
		t.Error("Publish of a payload that is not UTF-8: want an error")
	}

	recs := make([]*floorRecorder, 3)
	conns := make([]Conn, 3)
	for i := range recs {
		recs[i] = &floorRecorder{}
		o := recs[i].options()
		o.Index, o.Transport = i, NewSources(1) // one source address each: 127.0.0.2, .3, .4
		c, err := ft.Dial(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	defer func() {
		for _, c := range conns[1:] {
			c.Close()
		}
	}()
	if n := srv.Subscribers(); n != 3 {
		t.Fatalf("after 3 Dials the server has %d subscribers, want 3 (Dial returns once registered)", n)
	}

	var want []string
	send := func(m string) {
		if err := ft.Publish(ctx, "e", "all", []byte(m)); err != nil {
			t.Fatal(err)
		}
		want = append(want, m)
	}
	publish := func(n int) {
		for range n {
			send(floorMsg(len(want), 120))
		}
	}
	publish(250)
	send(floorMsg(len(want), 125))    // the largest 7-bit length
	send(floorMsg(len(want), 126))    // the smallest 16-bit one
	send(floorMsg(len(want), 70_000)) // 64-bit: the subscribers' 4 KiB buffers grow
	send("two\nlines")                // a newline is nothing special in a frame
	publish(250)
	for i, r := range recs {
		waitFor(t, 10*time.Second, fmt.Sprintf("subscriber %d to get %d messages", i, len(want)), func() bool { return r.count() >= len(want) })
		r.check(t, fmt.Sprintf("subscriber %d", i), want)
	}

	// Close subscriber 0: the server drops it at a write that fails (EPIPE or ECONNRESET, once
	// the peer's RST is back), and never lets it delay the others.
	conns[0].Close()
	select {
	case <-conns[0].Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after Close")
	}
	waitFor(t, 10*time.Second, "the server to drop the closed subscriber", func() bool {
		publish(1)
		return srv.Subscribers() == 2
	})
	publish(100)
	for i, r := range recs[1:] {
		waitFor(t, 10*time.Second, fmt.Sprintf("subscriber %d to get %d messages", i+1, len(want)), func() bool { return r.count() >= len(want) })
		r.check(t, fmt.Sprintf("subscriber %d", i+1), want)
	}
	if got := recs[0].disconnect(); got != "" {
		t.Errorf("OnDisconnect called after Close: %s", got)
	}
}

// TestFloorBacklog: a subscriber that does not read until its socket is full still gets every
// message, in order, once it reads, and meanwhile another subscriber gets them all at once.
func TestFloorBacklog(t *testing.T) {
	setBuf := func(opt int) func(string, string, syscall.RawConn) error {
		return func(_, _ string, rc syscall.RawConn) error {
			var err error
			rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 4096) })
			return err
		}
	}
	// Small buffers on both sides: the accepted sockets inherit the listener's SO_SNDBUF.
	srv, ft := startFloor(t, net.ListenConfig{Control: setBuf(syscall.SO_SNDBUF)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	slow, err := wsclient.Dial(ctx, ft.subs, wsclient.Options{Dialer: &net.Dialer{Control: setBuf(syscall.SO_RCVBUF)}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.Within(ctx, func() error { return floorRegistered(slow) }); err != nil {
		t.Fatalf("slow subscriber: %v", err)
	}

	fast := &floorRecorder{}
	fc, err := ft.Dial(ctx, fast.options()) // 8 KiB messages: its 4 KiB buffer grows
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()

	// 200 x 8 KiB = 1.6 MiB, far more than the slow socket's buffers hold: its writes stall,
	// partially (a message is larger than the send buffer) and then with EAGAIN.
	var want []string
	for i := range 200 {
		m := floorMsg(i, 8192)
		if err := ft.Publish(ctx, "e", "all", []byte(m)); err != nil {
			t.Fatal(err)
		}
		want = append(want, m)
	}
	waitFor(t, 20*time.Second, "the reading subscriber to get everything", func() bool { return fast.count() >= len(want) })
	fast.check(t, "reading subscriber", want)
	if srv.Stalls() == 0 {
		t.Fatal("no write stalled: the backlog path was not exercised")
	}

	// Now the slow subscriber reads: everything, in order, nothing else.
	slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i, w := range want {
		op, msg, err := slow.Next()
		if err != nil {
			t.Fatalf("slow subscriber: message %d: %v", i, err)
		}
		if op != wsclient.OpText || string(msg) != w {
			t.Fatalf("slow subscriber: message %d is (opcode %d, %d bytes) %.40q, want (%d bytes) %.40q", i, op, len(msg), msg, len(w), w)
		}
	}
	slow.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if op, msg, err := slow.Next(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("slow subscriber: after the last message: (opcode %d) %.40q, %v; want nothing", op, msg, err)
	}
}

// TestFloorHandshake: GET /subscribe without a WebSocket opening handshake is refused with 400
// and registers nobody.
func TestFloorHandshake(t *testing.T) {
	srv, ft := startFloor(t, net.ListenConfig{})
	url := ft.base() + floor.SubscribePath
	ws := func(h http.Header) http.Header {
		h.Set("Connection", "Upgrade")
		h.Set("Sec-WebSocket-Version", "13")
		h.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		return h
	}
	for _, tc := range []struct {
		name, method string
		header       http.Header
	}{
		{"no Upgrade header", http.MethodGet, ws(http.Header{})},
		{"no headers", http.MethodGet, http.Header{}},
		{"Upgrade: h2c", http.MethodGet, ws(http.Header{"Upgrade": {"h2c"}})},
		{"no Connection: Upgrade", http.MethodGet, func() http.Header {
			h := ws(http.Header{"Upgrade": {"websocket"}})
			h.Set("Connection", "keep-alive")
			return h
		}()},
		{"version 8", http.MethodGet, func() http.Header {
			h := ws(http.Header{"Upgrade": {"websocket"}})
			h.Set("Sec-WebSocket-Version", "8")
			return h
		}()},
		{"no key", http.MethodGet, func() http.Header {
			h := ws(http.Header{"Upgrade": {"websocket"}})
			h.Del("Sec-WebSocket-Key")
			return h
		}()},
		{"a short key", http.MethodGet, func() http.Header {
			h := ws(http.Header{"Upgrade": {"websocket"}})
			h.Set("Sec-WebSocket-Key", "c2hvcnQ=")
			return h
		}()},
		{"POST", http.MethodPost, ws(http.Header{"Upgrade": {"websocket"}})},
	} {
		req, err := http.NewRequest(tc.method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = tc.header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s %q, want 400", tc.name, resp.Status, b)
		}
	}
	if n := srv.Subscribers(); n != 0 {
		t.Errorf("%d subscribers after refused handshakes, want 0", n)
	}

	// The same through wsclient, whose handshake is fine but whose path is not the floor's.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := wsclient.Dial(ctx, strings.Replace(ft.subs, floor.SubscribePath, "/publish", 1), wsclient.Options{}); err == nil {
		t.Error("a WebSocket to /publish: want an error")
	}
}

// TestFloorServerClose: a subscriber the server drops (closing) is told, and its Done closed.
func TestFloorServerClose(t *testing.T) {
	srv, ft := startFloor(t, net.ListenConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := &floorRecorder{}
	c, err := ft.Dial(ctx, r.options())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv.Close()
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed after the server closed")
	}
	if got := r.disconnect(); got != "transport close" {
		t.Errorf("OnDisconnect(%q), want transport close", got)
	}
	if _, err := ft.Dial(ctx, r.options()); err == nil {
		t.Error("Dial to a closed server: want an error")
	}
}

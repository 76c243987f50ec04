//go:build linux

package target

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livedoc/livedoc/bench/internal/floor"
)

// startFloor runs a floor server in-process (subscribers on a listener made by lc, the publish
// API on an httptest server) and returns it with a floor target set up against it.
func startFloor(t *testing.T, lc net.ListenConfig) (*floor.Server, *floorTarget) {
	t.Helper()
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := floor.New(ln)
	hs := httptest.NewServer(srv.Handler())
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
	if ft.subs != ln.Addr().String() {
		t.Fatalf("Setup found subscribers at %s, want %s", ft.subs, ln.Addr())
	}
	return srv, ft
}

// floorRecorder keeps the lines one subscriber received.
type floorRecorder struct {
	mu           sync.Mutex
	lines        []string
	disconnected string
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
			t.Errorf("%s: message %d is %.40q, want %.40q", name, i, r.lines[i], want[i])
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

// TestFloorFanout: three subscribers through the floor target each get every message, in order;
// a closed one is dropped by the server while the others go on.
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
	if err := ft.Publish(ctx, "e", "all", []byte("a\nb")); err == nil {
		t.Error("Publish of a payload with a newline: want an error")
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
	publish := func(n int) {
		for range n {
			m := floorMsg(len(want), 120)
			if err := ft.Publish(ctx, "e", "all", []byte(m)); err != nil {
				t.Fatal(err)
			}
			want = append(want, m)
		}
	}
	publish(500)
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
	recs[0].mu.Lock()
	if recs[0].disconnected != "" {
		t.Errorf("OnDisconnect called after Close: %s", recs[0].disconnected)
	}
	recs[0].mu.Unlock()
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

	d := net.Dialer{Control: setBuf(syscall.SO_RCVBUF)}
	slow, err := d.DialContext(ctx, "tcp", ft.subs)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReaderSize(slow, 1<<16)
	if l, err := br.ReadString('\n'); err != nil || l != "\n" {
		t.Fatalf("slow subscriber: registration line %q, %v", l, err)
	}

	fast := &floorRecorder{}
	fc, err := ft.Dial(ctx, fast.options()) // lines of 8 KiB: its 4 KiB buffer grows
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
	for i, w := range want {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("slow subscriber: message %d: %v", i, err)
		}
		if l != w+"\n" {
			t.Fatalf("slow subscriber: message %d is %.40q, want %.40q", i, l, w)
		}
	}
	if n := br.Buffered(); n != 0 {
		t.Fatalf("slow subscriber: %d unexpected bytes after the last message", n)
	}
}

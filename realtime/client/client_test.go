package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/livedoc/livedoc/realtime/socketio"
)

// testServer is livedoc's own Socket.IO server (realtime/socketio) on a
// real HTTP server.
//
// Namespaces "/" and "/site" exist; auth {"token":"bad"} is refused. The
// PID of each CONNECT answer comes from pid (default "pid-1"). Events:
//
//	echo       acks its args back, or emits "echo" with them
//	ask        emits "question" with its args asking for an ack; the answer
//	           comes back as an "answer" event
//	feed       emits "news" i, "off-i" for i in 1..n (n is the first arg)
//	seq        emits "seq" i for i in 1..n, alternating with "tick" i
//	broadcast  emits "bcast" with its args to every socket of the namespace
//	noack      asks for an ack and never gives one
//	leave      the server disconnects the socket
//
//	hello      emits "hello" without arguments
//
// A socket whose auth has "welcome": true gets "welcome" <socket id> right
// after connecting.
type testServer struct {
	srv *socketio.Server
	ts  *httptest.Server

	connects    chan connectRequest
	disconnects chan string
	noacks      chan struct{}

	mu      sync.Mutex
	pid     func(n int) string // PID for the n-th CONNECT (1-based)
	n       int
	sockets map[*socketio.Socket]bool
	remotes []string
}

type connectRequest struct {
	namespace string
	auth      map[string]any
}

func newTestServer(t *testing.T, tweak func(*socketio.Options)) *testServer {
	t.Helper()
	s := &testServer{
		connects:    make(chan connectRequest, 100),
		disconnects: make(chan string, 100),
		noacks:      make(chan struct{}, 100),
		sockets:     make(map[*socketio.Socket]bool),
	}
	o := socketio.Options{
		Connect:      s.connect,
		OnConnect:    s.onConnect,
		OnEvent:      s.onEvent,
		OnDisconnect: s.onDisconnect,
	}
	if tweak != nil {
		tweak(&o)
	}
	s.srv = socketio.NewServer(o)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s.srv)
	s.ts = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.srv.Close()
		s.ts.Close()
	})
	return s
}

func (s *testServer) setPID(f func(n int) string) {
	s.mu.Lock()
	s.pid = f
	s.mu.Unlock()
}

func (s *testServer) connect(r *socketio.ConnectRequest) (*socketio.ConnectReply, error) {
	if r.Namespace != "/" && r.Namespace != "/site" {
		return nil, socketio.ErrInvalidNamespace
	}
	var auth map[string]any
	if r.Auth != nil {
		if err := json.Unmarshal(r.Auth, &auth); err != nil {
			return nil, err
		}
	}
	select {
	case s.connects <- connectRequest{r.Namespace, auth}:
	default: // nobody looks
	}
	if auth["token"] == "bad" {
		return nil, errors.New("unauthorized: bad token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	s.remotes = append(s.remotes, r.HTTP.RemoteAddr)
	pid := "pid-1"
	if s.pid != nil {
		pid = s.pid(s.n)
	}
	return &socketio.ConnectReply{PID: pid, Data: auth}, nil
}

func (s *testServer) onConnect(so *socketio.Socket) {
	s.mu.Lock()
	s.sockets[so] = true
	s.mu.Unlock()
	if d, _ := so.Data().(map[string]any); d["welcome"] == true {
		so.Emit("welcome", so.ID())
	}
}

func (s *testServer) onDisconnect(so *socketio.Socket, reason string) {
	s.mu.Lock()
	delete(s.sockets, so)
	s.mu.Unlock()
	select {
	case s.disconnects <- reason:
	default: // nobody looks
	}
}

func anyArgs(raws []json.RawMessage) []any {
	out := make([]any, len(raws))
	for i, r := range raws {
		out[i] = r
	}
	return out
}

func (s *testServer) onEvent(so *socketio.Socket, event string, args []json.RawMessage, ack socketio.Ack) {
	n := 0
	if len(args) > 0 {
		json.Unmarshal(args[0], &n)
	}
	switch event {
	case "echo":
		if ack != nil {
			ack(anyArgs(args)...)
		} else {
			so.Emit("echo", anyArgs(args)...)
		}
	case "ask":
		so.EmitWithAck("question", func(answer []json.RawMessage) {
			so.Emit("answer", anyArgs(answer)...)
		}, anyArgs(args)...)
	case "feed":
		for i := 1; i <= n; i++ {
			so.Emit("news", i, "off-"+strconv.Itoa(i))
		}
	case "seq":
		for i := 1; i <= n; i++ {
			so.Emit("seq", i)
			so.Emit("tick", i)
		}
	case "broadcast":
		p, err := socketio.NewEvent("bcast", anyArgs(args)...)
		if err != nil {
			return
		}
		s.mu.Lock()
		for x := range s.sockets {
			if x.Namespace() == so.Namespace() {
				x.Send(p)
			}
		}
		s.mu.Unlock()
		if ack != nil {
			ack(true)
		}
	case "hello":
		so.Emit("hello")
	case "noack":
		s.noacks <- struct{}{}
	case "leave":
		so.Disconnect()
	}
}

func (s *testServer) options() Options {
	return Options{URL: s.ts.URL, Auth: map[string]any{"token": "t"}}
}

// within is how long a test waits for something that should happen.
const within = 10 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func waitDone(t *testing.T, c *Client) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(within):
		t.Fatal("client not done")
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	return ctx
}

// dial connects a client and closes it at the end of the test.
func dial(t *testing.T, o Options, setup func(c *Client)) *Client {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(c)
	}
	if err := c.Connect(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		<-c.Done()
	})
	return c
}

// events collects events as strings "name:[args...]".
func events(c *Client, names ...string) <-chan string {
	ch := make(chan string, 1000)
	for _, name := range names {
		c.On(name, func(args []json.RawMessage) { ch <- name + ":" + join(args) })
	}
	return ch
}

func join(args []json.RawMessage) string {
	b, _ := json.Marshal(args)
	return string(b)
}

func TestConnectMainNamespace(t *testing.T) {
	s := newTestServer(t, nil)
	var welcome <-chan string
	var connected []bool
	o := s.options()
	o.Auth["welcome"] = true
	c := dial(t, o, func(c *Client) {
		welcome = events(c, "welcome")
		c.OnConnect(func(recovered bool) { connected = append(connected, recovered) })
	})
	req := recv(t, s.connects, "CONNECT")
	if req.namespace != "/" || !reflect.DeepEqual(req.auth, map[string]any{"token": "t", "welcome": true}) {
		t.Fatalf("server saw CONNECT %+v", req)
	}
	if c.ID() == "" || c.PID() != "pid-1" || c.Recovered() || !c.Connected() {
		t.Fatalf("ID %q PID %q Recovered %v Connected %v", c.ID(), c.PID(), c.Recovered(), c.Connected())
	}
	if !reflect.DeepEqual(connected, []bool{false}) {
		t.Fatalf("OnConnect calls %v", connected)
	}
	// Emitted by the server's OnConnect: handlers registered before Connect
	// see it.
	if got, want := recv(t, welcome, "welcome"), fmt.Sprintf("welcome:[%q]", c.ID()); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	got, err := c.EmitWithAck(ctxT(t), "echo", "a", 1, map[string]any{"b": true}, json.RawMessage(`[null]`))
	if err != nil {
		t.Fatal(err)
	}
	if join(got) != `["a",1,{"b":true},[null]]` {
		t.Fatalf("ack %s", join(got))
	}
}

func TestConnectSiteNamespace(t *testing.T) {
	s := newTestServer(t, nil)
	o := s.options()
	o.Namespace = "/site"
	var echo <-chan string
	c := dial(t, o, func(c *Client) { echo = events(c, "echo") })
	if req := recv(t, s.connects, "CONNECT"); req.namespace != "/site" {
		t.Fatalf("server saw namespace %q", req.namespace)
	}
	if err := c.Emit("echo", "x"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, echo, "echo"); got != `echo:["x"]` {
		t.Fatalf("got %s", got)
	}
	got, err := c.EmitWithAck(ctxT(t), "echo", "y")
	if err != nil || join(got) != `["y"]` {
		t.Fatalf("ack %s, %v", join(got), err)
	}
}

func TestConnectError(t *testing.T) {
	s := newTestServer(t, nil)
	for _, tc := range []struct {
		namespace, token, message string
	}{
		{"/", "bad", "unauthorized: bad token"},
		{"/nope", "t", "Invalid namespace"},
	} {
		o := s.options()
		o.Namespace = tc.namespace
		o.Auth = map[string]any{"token": tc.token}
		o.Reconnect = true
		c, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Connect(ctxT(t))
		var ce *ConnectError
		if !errors.As(err, &ce) || ce.Message != tc.message {
			t.Fatalf("%s: Connect error %v, want ConnectError %q", tc.namespace, err, tc.message)
		}
		waitDone(t, c)
		if c.Err() != err || c.Connected() {
			t.Fatalf("Err %v Connected %v", c.Err(), c.Connected())
		}
		if err := c.Emit("echo"); err != ErrNotConnected {
			t.Fatalf("Emit after a refused CONNECT: %v", err)
		}
	}
}

func TestDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Dial(ctxT(t), Options{URL: "http://" + addr}); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	if _, err := New(Options{URL: "ftp://x"}); err == nil {
		t.Fatal("New accepted an ftp URL")
	}
	if _, err := New(Options{URL: "http://x", Namespace: "site"}); err == nil {
		t.Fatal("New accepted a namespace without /")
	}
}

func TestAckFromClient(t *testing.T) {
	s := newTestServer(t, nil)
	var answers <-chan string
	questions := make(chan string, 10)
	c := dial(t, s.options(), func(c *Client) {
		answers = events(c, "answer")
		c.OnWithAck("question", func(args []json.RawMessage) []any {
			questions <- join(args)
			return []any{"yes", args[0], json.RawMessage(`{"n":2}`)}
		})
	})
	if err := c.Emit("ask", 42); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, questions, "question"); got != `[42]` {
		t.Fatalf("question %s", got)
	}
	if got := recv(t, answers, "answer"); got != `answer:["yes",42,{"n":2}]` {
		t.Fatalf("got %s", got)
	}
	// An event asking for an ack is not an offset.
	if c.LastOffset() != "" {
		t.Fatalf("LastOffset %q", c.LastOffset())
	}
}

func TestHandlerOrder(t *testing.T) {
	s := newTestServer(t, nil)
	log := make(chan string, 1000)
	c := dial(t, s.options(), func(c *Client) {
		c.OnAny(func(event string, args []json.RawMessage) {
			if event == "seq" || event == "tick" {
				log <- "any " + event + join(args)
			}
		})
		c.On("seq", func(args []json.RawMessage) { log <- "on1 seq" + join(args) })
		c.On("seq", func(args []json.RawMessage) { log <- "on2 seq" + join(args) })
		c.On("tick", func(args []json.RawMessage) { log <- "on tick" + join(args) })
	})
	const n = 50
	if err := c.Emit("seq", n); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		for _, want := range []string{
			fmt.Sprintf("any seq[%d]", i), fmt.Sprintf("on1 seq[%d]", i), fmt.Sprintf("on2 seq[%d]", i),
			fmt.Sprintf("any tick[%d]", i), fmt.Sprintf("on tick[%d]", i),
		} {
			if got := recv(t, log, want); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
	}
}

func TestOffsetTracking(t *testing.T) {
	s := newTestServer(t, nil)
	var news <-chan string
	c := dial(t, s.options(), func(c *Client) { news = events(c, "news") })
	c.Emit("feed", 3)
	for i := 1; i <= 3; i++ {
		// The offset stays in the arguments, as in socket.io-client.
		if got, want := recv(t, news, "news"), fmt.Sprintf(`news:[%d,"off-%d"]`, i, i); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	if c.LastOffset() != "off-3" {
		t.Fatalf("LastOffset %q", c.LastOffset())
	}
	// As socket.io-client: the last element of [event, args...] counts, so
	// an event without arguments records its name.
	hello := events(c, "hello")
	c.Emit("hello")
	recv(t, hello, "hello")
	if c.LastOffset() != "hello" {
		t.Fatalf("LastOffset %q after an event without arguments", c.LastOffset())
	}

	// Without a pid, nothing is recorded.
	s.setPID(func(int) string { return "" })
	var news2 <-chan string
	c2 := dial(t, s.options(), func(c *Client) { news2 = events(c, "news") })
	c2.Emit("feed", 1)
	recv(t, news2, "news")
	if c2.PID() != "" || c2.LastOffset() != "" {
		t.Fatalf("PID %q LastOffset %q", c2.PID(), c2.LastOffset())
	}
}

func TestReconnectRecovers(t *testing.T) {
	s := newTestServer(t, nil)
	o := s.options()
	o.Reconnect = true
	var news <-chan string
	connects := make(chan bool, 10)
	disconnects := make(chan string, 10)
	c := dial(t, o, func(c *Client) {
		news = events(c, "news")
		c.OnConnect(func(recovered bool) { connects <- recovered })
		c.OnDisconnect(func(reason string) { disconnects <- reason })
	})
	recv(t, connects, "OnConnect")
	recv(t, s.connects, "CONNECT")
	c.Emit("feed", 2)
	recv(t, news, "news")
	recv(t, news, "news")
	firstID := c.ID()

	c.CloseTransport()
	if r := recv(t, disconnects, "OnDisconnect"); r != "transport close" {
		t.Fatalf("OnDisconnect %q", r)
	}
	req := recv(t, s.connects, "reconnection CONNECT")
	want := map[string]any{"token": "t", "pid": "pid-1", "offset": "off-2"}
	if !reflect.DeepEqual(req.auth, want) {
		t.Fatalf("reconnection auth %v, want %v", req.auth, want)
	}
	if !recv(t, connects, "OnConnect after reconnection") {
		t.Fatal("OnConnect(recovered=false), want true")
	}
	if !c.Recovered() || c.PID() != "pid-1" || c.ID() == firstID {
		t.Fatalf("Recovered %v PID %q ID %q (was %q)", c.Recovered(), c.PID(), c.ID(), firstID)
	}
	got, err := c.EmitWithAck(ctxT(t), "echo", "after")
	if err != nil || join(got) != `["after"]` {
		t.Fatalf("ack after reconnection %s, %v", join(got), err)
	}
}

func TestReconnectFreshSession(t *testing.T) {
	s := newTestServer(t, nil)
	s.setPID(func(n int) string { return "pid-" + strconv.Itoa(n) })
	o := s.options()
	o.Reconnect = true
	o.Auth = nil
	connects := make(chan bool, 10)
	c := dial(t, o, func(c *Client) { c.OnConnect(func(recovered bool) { connects <- recovered }) })
	recv(t, connects, "OnConnect")
	if req := recv(t, s.connects, "CONNECT"); req.auth != nil {
		t.Fatalf("first CONNECT auth %v, want none", req.auth)
	}

	// No event received: the pid alone is sent back.
	c.CloseTransport()
	req := recv(t, s.connects, "reconnection CONNECT")
	if want := map[string]any{"pid": "pid-1"}; !reflect.DeepEqual(req.auth, want) {
		t.Fatalf("reconnection auth %v, want %v", req.auth, want)
	}
	if recv(t, connects, "OnConnect after reconnection") {
		t.Fatal("OnConnect(recovered=true), want false")
	}
	if c.Recovered() || c.PID() != "pid-2" {
		t.Fatalf("Recovered %v PID %q", c.Recovered(), c.PID())
	}

	// The server ends the session: recovery is off again after the next one.
	s.setPID(func(int) string { return "" })
	c.CloseTransport()
	if req := recv(t, s.connects, "reconnection CONNECT"); !reflect.DeepEqual(req.auth, map[string]any{"pid": "pid-2"}) {
		t.Fatalf("reconnection auth %v", req.auth)
	}
	recv(t, connects, "OnConnect after reconnection")
	c.CloseTransport()
	if req := recv(t, s.connects, "reconnection CONNECT"); req.auth != nil {
		t.Fatalf("reconnection auth %v, want none", req.auth)
	}
}

func TestCloseStopsReconnecting(t *testing.T) {
	s := newTestServer(t, nil)
	o := s.options()
	o.Reconnect = true
	disconnects := make(chan string, 10)
	c := dial(t, o, func(c *Client) { c.OnDisconnect(func(reason string) { disconnects <- reason }) })
	recv(t, s.connects, "CONNECT")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, s.disconnects, "server OnDisconnect"); r != "client namespace disconnect" {
		t.Fatalf("server saw %q", r)
	}
	if r := recv(t, disconnects, "OnDisconnect"); r != "io client disconnect" {
		t.Fatalf("OnDisconnect %q", r)
	}
	waitDone(t, c)
	if c.Err() != ErrClosed || c.Connected() {
		t.Fatalf("Err %v Connected %v", c.Err(), c.Connected())
	}
	if err := c.Emit("echo"); err != ErrClosed {
		t.Fatalf("Emit after Close: %v", err)
	}

	// Close from a handler.
	c1 := dial(t, o, func(c *Client) { c.On("echo", func([]json.RawMessage) { c.Close() }) })
	recv(t, s.connects, "CONNECT")
	c1.Emit("echo")
	waitDone(t, c1)
	if r := recv(t, s.disconnects, "server OnDisconnect"); r != "client namespace disconnect" {
		t.Fatalf("server saw %q", r)
	}

	// Close while waiting to reconnect.
	c2 := dial(t, o, nil)
	recv(t, s.connects, "CONNECT")
	c2.CloseTransport()
	c2.Close()
	waitDone(t, c2)
	if c2.Err() != ErrClosed {
		t.Fatalf("Err %v", c2.Err())
	}
}

func TestServerDisconnectStopsReconnecting(t *testing.T) {
	s := newTestServer(t, nil)
	o := s.options()
	o.Reconnect = true
	disconnects := make(chan string, 10)
	c := dial(t, o, func(c *Client) { c.OnDisconnect(func(reason string) { disconnects <- reason }) })
	c.Emit("leave")
	if r := recv(t, disconnects, "OnDisconnect"); r != "io server disconnect" {
		t.Fatalf("OnDisconnect %q", r)
	}
	waitDone(t, c)
	var de *DisconnectError
	if !errors.As(c.Err(), &de) || de.Reason != "io server disconnect" {
		t.Fatalf("Err %v", c.Err())
	}
}

func TestWithoutReconnect(t *testing.T) {
	s := newTestServer(t, nil)
	c := dial(t, s.options(), nil)
	c.CloseTransport()
	waitDone(t, c)
	var de *DisconnectError
	if !errors.As(c.Err(), &de) || de.Reason != "transport close" {
		t.Fatalf("Err %v", c.Err())
	}
}

func TestAckLostWithConnection(t *testing.T) {
	s := newTestServer(t, nil)
	o := s.options()
	o.Reconnect = true
	connects := make(chan bool, 10)
	c := dial(t, o, func(c *Client) { c.OnConnect(func(recovered bool) { connects <- recovered }) })
	recv(t, connects, "OnConnect")
	errc := make(chan error, 1)
	go func() {
		_, err := c.EmitWithAck(ctxT(t), "noack")
		errc <- err
	}()
	recv(t, s.noacks, "noack at the server")
	c.CloseTransport()
	if err := recv(t, errc, "EmitWithAck"); err != ErrDisconnected {
		t.Fatalf("EmitWithAck: %v, want ErrDisconnected", err)
	}

	recv(t, connects, "OnConnect after reconnection")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.EmitWithAck(ctx, "noack"); err != context.DeadlineExceeded {
		t.Fatalf("EmitWithAck: %v, want DeadlineExceeded", err)
	}
	c.mu.Lock()
	pending := len(c.acks)
	c.mu.Unlock()
	if pending != 0 {
		t.Fatalf("%d acks still pending", pending)
	}
}

func TestPingPong(t *testing.T) {
	s := newTestServer(t, func(o *socketio.Options) {
		o.PingInterval = 10 * time.Millisecond
		o.PingTimeout = 100 * time.Millisecond
	})
	c := dial(t, s.options(), nil)
	// Without pongs the server would close the session after 110ms.
	for start := time.Now(); time.Since(start) < 500*time.Millisecond; {
		if _, err := c.EmitWithAck(ctxT(t), "echo", 1); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-s.disconnects:
		t.Fatalf("server disconnected the client: %s", r)
	default:
	}
}

func TestDialerLocalAddr(t *testing.T) {
	s := newTestServer(t, nil)
	o := s.options()
	o.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
	c := dial(t, o, nil)
	recv(t, s.connects, "CONNECT")
	s.mu.Lock()
	remote := s.remotes[len(s.remotes)-1]
	s.mu.Unlock()
	if host, _, _ := net.SplitHostPort(remote); host != "127.0.0.1" {
		t.Fatalf("remote address %q", remote)
	}
	if _, err := c.EmitWithAck(ctxT(t), "echo"); err != nil {
		t.Fatal(err)
	}
}

func TestBroadcastToManyClients(t *testing.T) {
	s := newTestServer(t, nil)
	const n = 50
	got := make(chan string, n)
	clients := make([]*Client, n)
	for i := range clients {
		clients[i] = dial(t, s.options(), func(c *Client) {
			c.On("bcast", func(args []json.RawMessage) { got <- join(args) })
		})
	}
	if _, err := clients[0].EmitWithAck(ctxT(t), "broadcast", "hello"); err != nil {
		t.Fatal(err)
	}
	for range n {
		if b := recv(t, got, "bcast"); b != `["hello"]` {
			t.Fatalf("bcast %s", b)
		}
	}
}

func TestSplitArray(t *testing.T) {
	for in, want := range map[string][]string{
		`[]`:                            nil,
		` [ ] `:                         nil,
		`["a"]`:                         {`"a"`},
		`["a,]b", {"x":[1,2]}, [3], 4]`: {`"a,]b"`, `{"x":[1,2]}`, `[3]`, `4`},
		`["q\"]", "\\", null]`:          {`"q\"]"`, `"\\"`, `null`},
	} {
		elems, err := splitArray([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		var got []string
		for _, e := range elems {
			got = append(got, string(e))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{``, `{}`, `[`, `["a",]`, `"x"`} {
		if _, err := splitArray([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

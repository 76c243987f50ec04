package socketio

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// testApp is a small application on a real HTTP server, shared by the Go
// protocol tests and the socket.io-client conformance run.
//
// Namespaces "/" and "/site" exist; auth {"token":"bad"} is refused. The
// socket's Data is its raw auth and its PID is "pid" + namespace. Events:
//
//	echo       acks its args back, or emits "echo" with them without an ack
//	auth       acks the auth the socket connected with
//	transport  acks the socket's current transport
//	ask        emits "question" with its args asking for an ack; the answer
//	           comes back as an "answer" event
//	feed       emits "news" n times with the offsets "off-1".."off-n" as
//	           last argument (n is the first arg)
//	broadcast  sends one pre-encoded "bcast" event to every socket of the
//	           namespace
//	leave      the server disconnects the socket
type testApp struct {
	srv         *Server
	ts          *httptest.Server
	url         string // the Engine.IO endpoint
	disconnects chan disconnection

	mu      sync.Mutex
	sockets map[*Socket]bool
}

type disconnection struct {
	socket *Socket
	reason string
}

func newTestApp(t testing.TB, tweak func(*Options)) *testApp {
	t.Helper()
	app := &testApp{disconnects: make(chan disconnection, 1000), sockets: make(map[*Socket]bool)}
	o := Options{
		Connect:      app.connect,
		OnConnect:    app.onConnect,
		OnEvent:      app.onEvent,
		OnDisconnect: app.onDisconnect,
	}
	if tweak != nil {
		tweak(&o)
	}
	app.srv = NewServer(o)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", app.srv)
	app.ts = httptest.NewServer(mux)
	app.url = app.ts.URL + "/socket.io/"
	t.Cleanup(func() {
		app.srv.Close()
		app.ts.Close()
	})
	return app
}

func (app *testApp) connect(r *ConnectRequest) (*ConnectReply, error) {
	if r.Namespace != "/" && r.Namespace != "/site" {
		return nil, ErrInvalidNamespace
	}
	var auth struct{ Token string }
	if r.Auth != nil {
		if err := json.Unmarshal(r.Auth, &auth); err != nil {
			return nil, err
		}
	}
	if auth.Token == "bad" {
		return nil, errors.New("unauthorized: bad token")
	}
	data := r.Auth
	if data == nil {
		data = json.RawMessage("null")
	}
	return &ConnectReply{Data: data, PID: "pid" + r.Namespace}, nil
}

func (app *testApp) onConnect(s *Socket) {
	app.mu.Lock()
	app.sockets[s] = true
	app.mu.Unlock()
}

func (app *testApp) onDisconnect(s *Socket, reason string) {
	app.mu.Lock()
	delete(app.sockets, s)
	app.mu.Unlock()
	app.disconnects <- disconnection{s, reason}
}

func (app *testApp) onEvent(s *Socket, event string, args []json.RawMessage, ack Ack) {
	anyArgs := func(raws []json.RawMessage) []any {
		out := make([]any, len(raws))
		for i, r := range raws {
			out[i] = r
		}
		return out
	}
	reply := func(args ...any) {
		if ack != nil {
			ack(args...)
		}
	}
	switch event {
	case "echo":
		if ack != nil {
			ack(anyArgs(args)...)
		} else {
			s.Emit("echo", anyArgs(args)...)
		}
	case "auth":
		reply(s.Data())
	case "transport":
		reply(s.Transport())
	case "ask":
		s.EmitWithAck("question", func(answer []json.RawMessage) {
			s.Emit("answer", anyArgs(answer)...)
		}, anyArgs(args)...)
	case "feed":
		var n int
		if len(args) > 0 {
			json.Unmarshal(args[0], &n)
		}
		for i := 1; i <= n; i++ {
			s.Emit("news", i, "off-"+strconv.Itoa(i))
		}
		reply(n)
	case "broadcast":
		p, err := NewEvent("bcast", anyArgs(args)...)
		if err != nil {
			return
		}
		for _, x := range app.namespace(s.Namespace()) {
			x.Send(p)
		}
		reply(true)
	case "leave":
		s.Disconnect()
	case "reverse": // the bytes of the first argument, reversed, and their length
		var b []byte
		if len(args) == 0 || json.Unmarshal(args[0], &b) != nil {
			reply("not bytes")
			return
		}
		slices.Reverse(b)
		reply(len(b), b)
	case "blob":
		s.Emit("blob", map[string]any{"k": []byte("a"), "z": []any{[]byte{}}}, "s")
	}
}

func (app *testApp) namespace(nsp string) []*Socket {
	app.mu.Lock()
	defer app.mu.Unlock()
	var out []*Socket
	for s := range app.sockets {
		if s.Namespace() == nsp {
			out = append(out, s)
		}
	}
	return out
}

// waitDisconnect waits for the next OnDisconnect.
func (app *testApp) waitDisconnect(t *testing.T) disconnection {
	t.Helper()
	select {
	case d := <-app.disconnects:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no OnDisconnect within 10s")
		return disconnection{}
	}
}

package target

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestParsePacket(t *testing.T) {
	for _, tc := range []struct {
		in, nsp  string
		typ      byte
		id       int64
		data     string
		ours, ok bool
	}{
		{`2/livedoc,["e",1]`, "/livedoc", sioEvent, -1, `["e",1]`, true, true},
		{`2/livedoc,12["e",1]`, "/livedoc", sioEvent, 12, `["e",1]`, true, true},
		{`3/livedoc,0[{"ok":true}]`, "/livedoc", sioAck, 0, `[{"ok":true}]`, true, true},
		{`0/livedoc,{"sid":"x"}`, "/livedoc", sioConnect, -1, `{"sid":"x"}`, true, true},
		{`1/livedoc,`, "/livedoc", sioDisconnect, -1, ``, true, true},
		{`1/livedoc`, "/livedoc", sioDisconnect, -1, ``, true, true},
		{`2/other,["e",1]`, "/livedoc", sioEvent, -1, ``, false, true},
		{`2["e",1]`, "/livedoc", sioEvent, -1, ``, false, true},
		{`2["e",1]`, "/", sioEvent, -1, `["e",1]`, true, true},
		{`27["e"]`, "/", sioEvent, 7, `["e"]`, true, true},
		{`51-/livedoc,["e",{"_placeholder":true,"num":0}]`, "/livedoc", sioBinaryEvent, -1, ``, false, true},
		{`2/livedoc,1234567890123456["e"]`, "/livedoc", sioEvent, -1, ``, false, false},
		{`9`, "/", '9', -1, ``, false, false},
		{``, "/", 0, -1, ``, false, false},
	} {
		typ, id, data, ours, ok := parsePacket([]byte(tc.in), tc.nsp)
		if typ != tc.typ || id != tc.id || string(data) != tc.data || ours != tc.ours || ok != tc.ok {
			t.Errorf("parsePacket(%q, %q) = %c %d %q %v %v; want %c %d %q %v %v", tc.in, tc.nsp,
				typ, id, data, ours, ok, tc.typ, tc.id, tc.data, tc.ours, tc.ok)
		}
	}
}

func TestScanEvent(t *testing.T) {
	for _, tc := range []struct {
		in                string
		name, first, last string
		n                 int
		ok                bool
	}{
		{`["livedoc_bench",{"seq":1,"t":2},"17-0"]`, `"livedoc_bench"`, `{"seq":1,"t":2}`, `"17-0"`, 2, true},
		{`["livedoc_bench",{"seq":1}]`, `"livedoc_bench"`, `{"seq":1}`, `{"seq":1}`, 1, true},
		{`["e"]`, `"e"`, ``, ``, 0, true},
		{`[ "e" , [1,"]"] , null , 3 ]`, `"e"`, `[1,"]"]`, `3`, 3, true},
		{`["e\"x",1]`, `"e\"x"`, `1`, `1`, 1, true},
		{`[1,2]`, ``, ``, ``, 0, false},
		{`[]`, ``, ``, ``, 0, false},
		{`["e",{]`, ``, ``, ``, 0, false},
		{`["e",1`, ``, ``, ``, 0, false},
		{`{"e":1}`, ``, ``, ``, 0, false},
		{``, ``, ``, ``, 0, false},
	} {
		ev, ok := scanEvent([]byte(tc.in))
		if ok != tc.ok || ok && (string(ev.name) != tc.name || string(ev.first) != tc.first || string(ev.last) != tc.last || ev.n != tc.n) {
			t.Errorf("scanEvent(%q) = %q %q %q %d %v; want %q %q %q %d %v", tc.in, ev.name, ev.first, ev.last, ev.n, ok,
				tc.name, tc.first, tc.last, tc.n, tc.ok)
		}
	}
}

func TestCFPublication(t *testing.T) {
	for _, tc := range []struct {
		in, data, off string
		ok            bool
	}{
		{`{"push":{"channel":"all","pub":{"data":{"seq":1,"t":2,"pad":"x}"},"offset":42}}}`, `{"seq":1,"t":2,"pad":"x}"}`, `42`, true},
		{`{"push":{"channel":"all","pub":{"data":{"seq":1}}}}`, `{"seq":1}`, ``, true},
		{`{"push":{"channel":"all","pub":{"data":{"seq":1},"offset":0}}}`, `{"seq":1}`, ``, true},
		{`{"push":{"channel":"all","pub":{"offset":3}}}`, ``, `3`, true},
		{`{"push":{"channel":"all","join":{"info":{}}}}`, ``, ``, false},
		{`{"push":{"channel":"all","pub":null}}`, ``, ``, false},
		{`{"push":{"channel":"all","pub":{"data":`, ``, ``, false},
	} {
		data, off, ok := cfPublication([]byte(tc.in))
		if string(data) != tc.data || string(off) != tc.off || ok != tc.ok {
			t.Errorf("cfPublication(%q) = %q %q %v; want %q %q %v", tc.in, data, off, ok, tc.data, tc.off, tc.ok)
		}
	}
}

// fakeSIO is a minimal Socket.IO server for one client: Engine.IO open, the CONNECT answer and

// textWS is the server side of a test WebSocket: text messages sent and read as strings, bound
// to the request's context.
type textWS struct {
	*websocket.Conn
	ctx context.Context
}

// acceptText accepts a WebSocket without compression; false if the handshake failed.
func acceptText(w http.ResponseWriter, r *http.Request) (*textWS, bool) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, false
	}
	return &textWS{ws, r.Context()}, true
}

func (c *textWS) send(s string) { c.Write(c.ctx, websocket.MessageText, []byte(s)) }

// read returns the next message, "" once the connection failed.
func (c *textWS) read() string {
	_, b, err := c.Read(c.ctx)
	if err != nil {
		return ""
	}
	return string(b)
}

// acknowledged subscriptions; then it runs script.
func fakeSIO(t *testing.T, script func(ctx context.Context, ws *websocket.Conn)) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/socket.io/" || r.URL.Query().Get("EIO") != "4" || r.URL.Query().Get("transport") != "websocket" {
			http.Error(w, "bad request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		ws, ok := acceptText(w, r)
		if !ok {
			return
		}
		defer ws.CloseNow()
		ctx, send, read := ws.ctx, ws.send, ws.read
		send(`0{"sid":"e1","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`)
		if got := read(); got != `40/livedoc,{"token":"k:s"}` {
			t.Errorf("CONNECT: %q", got)
			send(`44/livedoc,{"message":"bad auth"}`)
			return
		}
		send(`42/livedoc,["livedoc_bench",{"seq":0},"1-0"]`) // before the CONNECT answer: delivered too
		send(`40/livedoc,{"sid":"s1"}`)
		send(`42/livedoc,["livedoc_bench",{"seq":1},"2-0"]`) // while subscribing: delivered
		if got := read(); got != `42/livedoc,0["doctype_subscribe","Invoice"]` {
			t.Errorf("subscribe: %q", got)
		}
		send(`2`) // ping while subscribing
		if got := read(); got != `3` {
			t.Errorf("pong: %q", got)
		}
		send(`43/livedoc,0[{"ok":true}]`)
		if got := read(); got != `42/livedoc,1["doc_subscribe","Note","n1"]` {
			t.Errorf("doc_subscribe: %q", got)
		}
		send(`43/livedoc,1[{"ok":true,"room":"doc:Note/n1"}]`)
		script(ctx, ws.Conn)
	}))
}

type recorder struct {
	mu           sync.Mutex
	msgs, events []string
	disconnects  []string
}

func (r *recorder) options() DialOptions {
	return DialOptions{Rooms: []string{"all", "doctype:Invoice", "doc:Note/n1"}, Event: "livedoc_bench",
		Events: []string{"doc_update", "list_update"},
		OnMessage: func(p, off []byte) {
			r.mu.Lock()
			r.msgs = append(r.msgs, string(p)+" "+string(off))
			r.mu.Unlock()
		},
		OnEvent: func(ev string, p []byte) {
			r.mu.Lock()
			r.events = append(r.events, ev+" "+string(p))
			r.mu.Unlock()
		},
		OnDisconnect: func(reason string) {
			r.mu.Lock()
			r.disconnects = append(r.disconnects, reason)
			r.mu.Unlock()
		}}
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "|") + " / " + strings.Join(r.events, "|") + " / " + strings.Join(r.disconnects, "|")
}

func TestLeanDial(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(ctx context.Context, ws *websocket.Conn)
		close  bool // the client closes
		cut    bool // the client cuts the transport
		want   string
	}{
		{name: "events, server disconnect", script: func(ctx context.Context, ws *websocket.Conn) {
			for _, s := range []string{
				`42/livedoc,["livedoc_bench",{"seq":2,"pad":"a,b]"},"3-0"]`,
				`42/livedoc,["livedoc_bench",{"seq":3}]`,
				`42/other,["livedoc_bench",{"seq":99},"9-0"]`,
				`42/livedoc,7["livedoc_bench",{"seq":4},"x",5]`,
				`42/livedoc,["doc_update",{"name":"n1","modified":"2026-01-01 00:00:00.000001"}]`,
				`42/livedoc,["list_update",{"name":"n1"}]`,
				`42/livedoc,["unknown",{"name":"n1"}]`,
				`42/livedoc,["livedoc_bench"]`,
				`41/livedoc,`,
			} {
				ws.Write(ctx, websocket.MessageText, []byte(s))
			}
			ws.Read(ctx)
		}, want: `{"seq":0} "1-0"|{"seq":1} "2-0"|{"seq":2,"pad":"a,b]"} "3-0"|{"seq":3} |{"seq":4} 5` +
			` / doc_update {"name":"n1","modified":"2026-01-01 00:00:00.000001"}|list_update {"name":"n1"} / io server disconnect`},
		{name: "parse error", script: func(ctx context.Context, ws *websocket.Conn) {
			ws.Write(ctx, websocket.MessageText, []byte(`42/livedoc,["livedoc_bench",{"seq":2}`))
			ws.Read(ctx)
		}, want: `{"seq":0} "1-0"|{"seq":1} "2-0" /  / parse error`},
		{name: "transport close", script: func(ctx context.Context, ws *websocket.Conn) {
			ws.CloseNow()
		}, want: `{"seq":0} "1-0"|{"seq":1} "2-0" /  / transport close`},
		{name: "ping timeout", script: func(ctx context.Context, ws *websocket.Conn) {
			ws.Read(ctx) // no ping within pingInterval + pingTimeout (500 ms)
		}, want: `{"seq":0} "1-0"|{"seq":1} "2-0" /  / ping timeout`},
		{name: "the client cuts the transport", script: func(ctx context.Context, ws *websocket.Conn) {
			ws.Read(ctx)
		}, cut: true, want: `{"seq":0} "1-0"|{"seq":1} "2-0" /  / transport close`},
		{name: "pings keep it alive, then the client closes", script: func(ctx context.Context, ws *websocket.Conn) {
			for range 4 {
				ws.Write(ctx, websocket.MessageText, []byte(`2`))
				if _, b, err := ws.Read(ctx); err != nil || string(b) != "3" {
					t.Errorf("pong: %q %v", b, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			ws.Write(ctx, websocket.MessageText, []byte(`42/livedoc,["livedoc_bench",{"seq":5},"6-0"]`))
			if _, b, err := ws.Read(ctx); err != nil || string(b) != "41/livedoc" {
				t.Errorf("DISCONNECT: %q %v", b, err)
			}
			ws.Read(ctx) // the close frame: coder/websocket answers it
		}, close: true, want: `{"seq":0} "1-0"|{"seq":1} "2-0"|{"seq":5} "6-0" /  / `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeSIO(t, tc.script)
			defer srv.Close()
			var r recorder
			o := r.options()
			src := NewSources(0)
			o.Transport, o.Index = src, 0
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := frappeDial(ctx, srv.URL, "/livedoc", map[string]any{"token": "k:s"}, o)
			if err != nil {
				t.Fatal(err)
			}
			if ip := c.(*sioConn).ws.LocalAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.2" {
				t.Errorf("local address %s, want Sources' 127.0.0.2", ip)
			}
			if tc.close {
				// seq 5 comes after 800 ms of pings: past the 500 ms ping timeout
				for !strings.Contains(r.String(), `"seq":5`) {
					if ctx.Err() != nil {
						t.Fatalf("no seq 5: %s", r.String())
					}
					time.Sleep(10 * time.Millisecond)
				}
				c.Close()
			}
			if tc.cut {
				c.(Cutter).CloseTransport()
			}
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("not done")
			}
			if got := r.String(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestLeanDialRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		ws.Write(ctx, websocket.MessageText, []byte(`0{"sid":"e1","pingInterval":25000,"pingTimeout":20000}`))
		ws.Read(ctx)
		ws.Write(ctx, websocket.MessageText, []byte(`40/livedoc,{"sid":"s1"}`))
		ws.Read(ctx)
		ws.Write(ctx, websocket.MessageText, []byte(`43/livedoc,0[{"ok":false,"error":"not permitted"}]`))
		ws.Read(ctx)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := frappeDial(ctx, srv.URL, "/livedoc", nil, DialOptions{Rooms: []string{"doctype:Invoice"}})
	if err == nil || !strings.Contains(err.Error(), "not permitted") {
		t.Errorf("refused subscription: %v", err)
	}
	if _, err := frappeDial(ctx, srv.URL, "/livedoc", nil, DialOptions{Rooms: []string{"nowhere"}}); err == nil {
		t.Error("unknown room: no error")
	}
}

// TestCentrifugoDial runs a centrifugo subscriber against a fake server: connect and subscribe
// replies, a ping, several replies in one frame, publications before and after Dial returns.
func TestCentrifugoDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/connection/websocket" {
			http.Error(w, "bad path", http.StatusNotFound)
			return
		}
		ws, ok := acceptText(w, r)
		if !ok {
			return
		}
		defer ws.CloseNow()
		send, read := ws.send, ws.read
		if got := read(); got != `{"connect":{"name":"livedoc-bench","token":"jwt"},"id":1}` {
			t.Errorf("connect: %q", got)
		}
		send(`{}` + "\n" + `{"id":1,"connect":{"client":"c1","version":"6.9.1","ping":25,"pong":true}}`)
		if got := read(); got != `{}` {
			t.Errorf("pong: %q", got)
		}
		if got := read(); got != `{"id":2,"subscribe":{"channel":"all"}}` {
			t.Errorf("subscribe: %q", got)
		}
		send(`{"push":{"channel":"all","pub":{"data":{"seq":0},"offset":1}}}` + "\n" + `{"id":2,"subscribe":{}}`)
		send(`{"push":{"channel":"all","pub":{"data":{"seq":1},"offset":2}}}` + "\n" +
			`{"push":{"channel":"all","join":{"info":{"client":"c2"}}}}` + "\n" +
			`{"push":{"channel":"all","pub":{"data":{"seq":2,"pad":"x\n"}}}}`)
		ws.CloseNow()
	}))
	defer srv.Close()
	var r recorder
	o := r.options()
	o.Rooms = []string{"all"}
	c := &centrifugo{o: Options{URL: srv.URL}, jwt: "jwt"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Done():
	case <-ctx.Done():
		t.Fatal("not done")
	}
	got := r.String()
	if want := `{"seq":0} 1|{"seq":1} 2|{"seq":2,"pad":"x\n"}  /  / `; !strings.HasPrefix(got, want) || len(r.disconnects) != 1 {
		t.Errorf("got  %s\nwant %s<reason>", got, want)
	}
}

package socketio

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPollingHandshake(t *testing.T) {
	app := newTestApp(t, nil)
	c := pollHandshake(t, app.url)
	want := openPacket{SID: c.open.SID, Upgrades: []string{"websocket"}, PingInterval: 25000, PingTimeout: 20000, MaxPayload: 1e6}
	if !reflect.DeepEqual(c.open, want) {
		t.Fatalf("open packet %+v, want %+v", c.open, want)
	}
	if status, body := c.post("40"); status != http.StatusOK || body != "ok" {
		t.Fatalf("POST: %d %q", status, body)
	}
	expectPrefix(t, c.next(), `40{"sid":"`)
}

func TestWebSocketHandshake(t *testing.T) {
	app := newTestApp(t, nil)
	c, open := wsHandshake(t, app.url)
	if len(open.Upgrades) != 0 || open.MaxPayload != 1e6 {
		t.Fatalf("open packet %+v", open)
	}
	c.write("40")
	connect := c.read()
	expectPrefix(t, connect, `40{"sid":"`)
	var answer struct{ SID, PID string }
	json.Unmarshal([]byte(connect[2:]), &answer)
	if answer.SID == "" || answer.PID != "pid/" {
		t.Fatalf("CONNECT answer %q", connect)
	}
	c.write(`421["transport"]`)
	expectEqual(t, c.read(), `431["websocket"]`)
}

func TestPollingMultiplePacketsPerPayload(t *testing.T) {
	app := newTestApp(t, nil)
	c := pollHandshake(t, app.url)
	c.post(`40`, `42["echo","a"]`, `42["echo","b",{"n":1}]`, `421["echo","c"]`)
	got := []string{c.next(), c.next(), c.next(), c.next()}
	expectPrefix(t, got[0], "40{")
	want := []string{`42["echo","a"]`, `42["echo","b",{"n":1}]`, `431["c"]`}
	if !reflect.DeepEqual(got[1:], want) {
		t.Fatalf("got %q, want %q", got[1:], want)
	}
}

func TestPollingResponseBatchesQueuedPackets(t *testing.T) {
	app := newTestApp(t, nil)
	c := pollHandshake(t, app.url)
	c.post(`40`, `42["feed",3]`)
	// Everything was queued before this poll: it comes in one payload.
	status, packets := c.get()
	if status != http.StatusOK || len(packets) != 4 {
		t.Fatalf("poll: %d %q", status, packets)
	}
	expectEqual(t, packets[3], `42["news",3,"off-3"]`)
}

func TestRequestErrors(t *testing.T) {
	app := newTestApp(t, func(o *Options) {
		o.CheckRequest = func(r *http.Request) error {
			if r.Header.Get("Origin") == "https://evil.example" {
				return errors.New("origin not allowed")
			}
			return nil
		}
	})
	type errorBody struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	for _, tt := range []struct {
		name, method, query string
		header              http.Header
		status              int
		want                errorBody
	}{
		{"unknown sid", "GET", "?EIO=4&transport=polling&sid=nope", nil, 400, errorBody{1, "Session ID unknown"}},
		{"unknown sid post", "POST", "?EIO=4&transport=polling&sid=nope", nil, 400, errorBody{1, "Session ID unknown"}},
		{"bad transport", "GET", "?EIO=4&transport=flash", nil, 400, errorBody{0, "Transport unknown"}},
		{"EIO 3", "GET", "?EIO=3&transport=polling", nil, 400, errorBody{5, "Unsupported protocol version"}},
		{"handshake by POST", "POST", "?EIO=4&transport=polling", nil, 400, errorBody{2, "Bad handshake method"}},
		{"websocket without upgrade", "GET", "?EIO=4&transport=websocket", nil, 400, errorBody{3, "Bad request"}},
		{"origin refused", "GET", "?EIO=4&transport=polling", http.Header{"Origin": {"https://evil.example"}}, 403, errorBody{4, "origin not allowed"}},
		{"origin refused ws", "GET", "?EIO=4&transport=websocket", http.Header{
			"Origin": {"https://evil.example"}, "Connection": {"Upgrade"}, "Upgrade": {"websocket"},
			"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="},
		}, 403, errorBody{4, "origin not allowed"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, app.url+tt.query, strings.NewReader("40"))
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got errorBody
			body, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != tt.status || got != tt.want ||
				resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("got %d %s, want %d %+v", resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}

}

func TestPingPong(t *testing.T) {
	app := newTestApp(t, func(o *Options) {
		o.PingInterval = 30 * time.Millisecond
		o.PingTimeout = 200 * time.Millisecond
	})
	c, open := wsHandshake(t, app.url)
	if open.PingInterval != 30 || open.PingTimeout != 200 {
		t.Fatalf("open packet %+v", open)
	}
	c.write("40")
	expectPrefix(t, c.read(), "40{")
	// A client that answers stays connected across many ping cycles.
	for range 5 {
		expectEqual(t, c.read(), "2")
		c.write("3")
	}
	c.write(`421["transport"]`)
	for {
		if m := c.read(); m != "2" {
			expectEqual(t, m, `431["websocket"]`)
			break
		}
		c.write("3")
	}
}

func TestPingTimeoutClosesSession(t *testing.T) {
	app := newTestApp(t, func(o *Options) {
		o.PingInterval = 20 * time.Millisecond
		o.PingTimeout = 50 * time.Millisecond
	})
	t.Run("websocket", func(t *testing.T) {
		c, _ := wsHandshake(t, app.url)
		c.write("40")
		expectPrefix(t, c.read(), "40{")
		expectEqual(t, c.read(), "2") // and no pong
		if d := app.waitDisconnect(t); d.reason != "ping timeout" {
			t.Fatalf("reason %q", d.reason)
		}
		c.expectClosed()
	})
	t.Run("polling", func(t *testing.T) {
		c := pollHandshake(t, app.url)
		c.post("40")
		expectPrefix(t, c.next(), "40{")
		expectEqual(t, c.next(), "2") // and no pong
		if d := app.waitDisconnect(t); d.reason != "ping timeout" {
			t.Fatalf("reason %q", d.reason)
		}
		if status, body := c.get(); status != 400 || !strings.Contains(body[0], `"code":1`) {
			t.Fatalf("poll after ping timeout: %d %q", status, body)
		}
	})
}

func TestMaxPayload(t *testing.T) {
	app := newTestApp(t, func(o *Options) { o.MaxPayload = 100 })
	big := `42["echo","` + strings.Repeat("x", 100) + `"]`

	t.Run("polling", func(t *testing.T) {
		c := pollHandshake(t, app.url)
		if c.open.MaxPayload != 100 {
			t.Fatalf("open packet %+v", c.open)
		}
		c.post("40")
		expectPrefix(t, c.next(), "40{")
		if status, _ := c.post(`42["echo","fits"]`); status != 200 {
			t.Fatalf("small POST: %d", status)
		}
		expectEqual(t, c.next(), `42["echo","fits"]`)
		if status, _ := c.post(big); status != http.StatusRequestEntityTooLarge {
			t.Fatalf("big POST: %d, want 413", status)
		}
		app.waitDisconnect(t)
		if status, _ := c.get(); status != 400 {
			t.Fatalf("poll after 413: %d", status)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		c, _ := wsHandshake(t, app.url)
		c.write("40")
		expectPrefix(t, c.read(), "40{")
		c.write(`42["echo","fits"]`)
		expectEqual(t, c.read(), `42["echo","fits"]`)
		c.write(big)
		c.expectClosed()
		app.waitDisconnect(t)
	})
}

func TestUpgrade(t *testing.T) {
	app := newTestApp(t, nil)
	c := pollHandshake(t, app.url)
	c.post("40")
	expectPrefix(t, c.next(), "40{")

	// A poll is pending when the probe starts: it must end with a noop.
	pending := make(chan []string, 1)
	go func() {
		_, packets := c.get()
		pending <- packets
	}()
	ws := dialWS(t, app.url, c.open.SID)
	ws.write("2probe")
	expectEqual(t, ws.read(), "3probe")
	select {
	case packets := <-pending:
		if !reflect.DeepEqual(packets, []string{"6"}) {
			t.Fatalf("pending poll answered %q, want noop", packets)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pending poll not answered during upgrade")
	}
	ws.write("5")
	ws.write(`421["transport"]`)
	expectEqual(t, ws.read(), `431["websocket"]`)

	if status, _ := c.get(); status != 400 {
		t.Fatalf("poll after upgrade: %d, want 400", status)
	}
	if status, _ := c.post(`42["echo"]`); status != 400 {
		t.Fatalf("POST after upgrade: %d, want 400", status)
	}
}

func TestFailedProbeKeepsPolling(t *testing.T) {
	app := newTestApp(t, nil)
	c := pollHandshake(t, app.url)
	c.post("40")
	expectPrefix(t, c.next(), "40{")
	ws := dialWS(t, app.url, c.open.SID)
	ws.write("hello")
	ws.expectClosed()
	c.post(`421["transport"]`)
	expectEqual(t, c.next(), `431["polling"]`)
}

func TestNamespaces(t *testing.T) {
	app := newTestApp(t, nil)
	c, _ := wsHandshake(t, app.url)
	c.write("40")
	expectPrefix(t, c.read(), `40{"sid":`)
	c.write(`40/site,{"token":"t"}`)
	expectPrefix(t, c.read(), `40/site,{"sid":`)

	c.write(`42/site,3["auth"]`)
	expectEqual(t, c.read(), `43/site,3[{"token":"t"}]`)
	c.write(`425["auth"]`)
	expectEqual(t, c.read(), `435[null]`)

	c.write(`42/site,["broadcast","hi"]`)
	expectEqual(t, c.read(), `42/site,["bcast","hi"]`)

	c.write("41/site,")
	if d := app.waitDisconnect(t); d.reason != "client namespace disconnect" || d.socket.Namespace() != "/site" {
		t.Fatalf("disconnect %q of %q", d.reason, d.socket.Namespace())
	}
	c.write(`42/site,1["transport"]`) // ignored: no longer connected
	c.write(`421["transport"]`)
	expectEqual(t, c.read(), `431["websocket"]`)

	c.write(`42["leave"]`)
	expectEqual(t, c.read(), "41")
	if d := app.waitDisconnect(t); d.reason != "server namespace disconnect" {
		t.Fatalf("reason %q", d.reason)
	}
}

func TestConnectErrors(t *testing.T) {
	app := newTestApp(t, nil)
	c, _ := wsHandshake(t, app.url)
	c.write(`40{"token":"bad"}`)
	expectEqual(t, c.read(), `44{"message":"unauthorized: bad token"}`)
	c.write(`40/nope,`)
	expectEqual(t, c.read(), `44/nope,{"message":"Invalid namespace"}`)
	c.write(`40/site,{"token":"bad"}`)
	expectEqual(t, c.read(), `44/site,{"message":"unauthorized: bad token"}`)
	// The session survives refused CONNECTs.
	c.write(`40/site,`)
	expectPrefix(t, c.read(), `40/site,{"sid":`)

	// Without Connect, only "/" exists.
	bare := newTestApp(t, func(o *Options) { o.Connect = nil })
	b, _ := wsHandshake(t, bare.url)
	b.write(`40/site,`)
	expectEqual(t, b.read(), `44/site,{"message":"Invalid namespace"}`)
	b.write(`40`)
	expectPrefix(t, b.read(), `40{"sid":`)
}

func TestServerAsksForAck(t *testing.T) {
	app := newTestApp(t, nil)
	c := pollHandshake(t, app.url)
	c.post("40/site,")
	expectPrefix(t, c.next(), "40/site,{")
	c.post(`42/site,["ask","q1"]`)
	expectEqual(t, c.next(), `42/site,0["question","q1"]`)
	c.post(`42/site,["ask","q2"]`)
	expectEqual(t, c.next(), `42/site,1["question","q2"]`)
	c.post(`43/site,1["a2"]`, `43/site,0["a1",{"k":true}]`, `43/site,0["again"]`) // the repeat is ignored
	expectEqual(t, c.next(), `42/site,["answer","a2"]`)
	expectEqual(t, c.next(), `42/site,["answer","a1",{"k":true}]`)
	c.post(`42/site,1["transport"]`)
	expectEqual(t, c.next(), `43/site,1["polling"]`)
}

func TestMalformedPacketsCloseSession(t *testing.T) {
	for _, bad := range []string{`42{"not":"an array"}`, `4`, `42["a"`, "0", "5", "x", `44{"message":"x"}`, `42["disconnect"]`} {
		t.Run(bad, func(t *testing.T) {
			app := newTestApp(t, nil)
			c, _ := wsHandshake(t, app.url)
			c.write("40")
			expectPrefix(t, c.read(), "40{")
			c.write(bad)
			if d := app.waitDisconnect(t); d.reason != "parse error" {
				t.Fatalf("reason %q", d.reason)
			}
			c.expectClosed()
		})
	}
	t.Run("polling", func(t *testing.T) {
		app := newTestApp(t, nil)
		c := pollHandshake(t, app.url)
		c.post("40")
		expectPrefix(t, c.next(), "40{")
		if status, _ := c.postBody("4\x1e\x1e"); status != 400 {
			t.Fatalf("bad payload: %d", status)
		}
		if d := app.waitDisconnect(t); d.reason != "parse error" {
			t.Fatalf("reason %q", d.reason)
		}
	})
}

// Binary packets both ways: a client's attachments reach OnEvent as base64 strings that decode
// into []byte, and a []byte answered from Go travels as an attachment (a binary frame on
// WebSocket, a "b" packet when polling).
func TestBinaryPackets(t *testing.T) {
	t.Run("websocket", func(t *testing.T) {
		app := newTestApp(t, nil)
		c, _ := wsHandshake(t, app.url)
		c.write("40/site,")
		expectPrefix(t, c.read(), "40/site,{")
		c.write(`452-/site,1["reverse",{"_placeholder":true,"num":1},{"a":[{"_placeholder":true,"num":0}]}]`)
		c.writeBinary([]byte{9})
		c.writeBinary([]byte{1, 2, 3})
		expectEqual(t, c.read(), `461-/site,1[3,{"_placeholder":true,"num":0}]`)
		expectEqual(t, c.read(), "\x03\x02\x01")
		c.write(`42/site,2["transport"]`) // the session goes on
		expectEqual(t, c.read(), `43/site,2["websocket"]`)
	})
	t.Run("polling", func(t *testing.T) {
		app := newTestApp(t, nil)
		c := pollHandshake(t, app.url)
		c.post("40")
		expectPrefix(t, c.next(), "40{")
		c.post(`451-1["reverse",{"_placeholder":true,"num":0}]`, "bAQID")
		expectEqual(t, c.next(), `461-1[3,{"_placeholder":true,"num":0}]`)
		expectEqual(t, c.next(), "bAwIB")
	})
	t.Run("emit", func(t *testing.T) {
		app := newTestApp(t, nil)
		c, _ := wsHandshake(t, app.url)
		c.write("40")
		expectPrefix(t, c.read(), "40{")
		c.write(`42["blob"]`)
		expectEqual(t, c.read(), `452-["blob",{"k":{"_placeholder":true,"num":0},"z":[{"_placeholder":true,"num":1}]},"s"]`)
		expectEqual(t, c.read(), "a")
		expectEqual(t, c.read(), "")
	})
}

func TestBadBinaryPacketsCloseSession(t *testing.T) {
	for name, packets := range map[string][]string{
		"attachment without a packet": {"", "\x01"},
		"text instead of attachment":  {`451-["reverse",{"_placeholder":true,"num":0}]`, `42["echo"]`},
		"placeholder out of range":    {`451-["reverse",{"_placeholder":true,"num":1}]`, "\x01"},
		"placeholder not a number":    {`451-["reverse",{"_placeholder":true,"num":"0"}]`, "\x01"},
	} {
		t.Run(name, func(t *testing.T) {
			app := newTestApp(t, nil)
			c, _ := wsHandshake(t, app.url)
			c.write("40")
			expectPrefix(t, c.read(), "40{")
			if packets[0] != "" {
				c.write(packets[0])
			}
			if strings.HasPrefix(packets[1], "4") {
				c.write(packets[1])
			} else {
				c.writeBinary([]byte(packets[1]))
			}
			if d := app.waitDisconnect(t); d.reason != "parse error" {
				t.Fatalf("reason %q", d.reason)
			}
			c.expectClosed()
		})
	}
	t.Run("attachments beyond MaxPayload", func(t *testing.T) {
		app := newTestApp(t, func(o *Options) { o.MaxPayload = 100 })
		c, _ := wsHandshake(t, app.url)
		c.write("40")
		expectPrefix(t, c.read(), "40{")
		c.write(`452-["reverse",{"_placeholder":true,"num":0}]`)
		c.writeBinary(make([]byte, 60))
		c.writeBinary(make([]byte, 60))
		if d := app.waitDisconnect(t); d.reason != "parse error" {
			t.Fatalf("reason %q", d.reason)
		}
	})
}

// The spec: a server that does not get a CONNECT first closes the connection at once.
func TestPacketBeforeConnectClosesSession(t *testing.T) {
	for _, first := range []string{`42["echo"]`, `41`, `431[]`} {
		app := newTestApp(t, nil)
		c, _ := wsHandshake(t, app.url)
		c.write(first)
		c.expectClosed()
	}
}

func TestConnectTimeout(t *testing.T) {
	app := newTestApp(t, func(o *Options) {
		o.ConnectTimeout = 200 * time.Millisecond
		o.PingInterval = 50 * time.Millisecond // answered below: the session is alive, only idle
	})
	c, _ := wsHandshake(t, app.url)
	start := time.Now()
	for {
		msg, err := c.tryRead()
		if err != nil {
			break
		}
		if msg == "2" {
			c.write("3")
		}
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Fatalf("closed after %v, want about the 200ms connect timeout", d)
	}
	// A connected session outlives it.
	c2, _ := wsHandshake(t, app.url)
	c2.write("40")
	expectPrefix(t, c2.read(), "40{")
	deadline := time.Now().Add(400 * time.Millisecond)
	for time.Now().Before(deadline) {
		msg := c2.read()
		if msg == "2" {
			c2.write("3")
		}
	}
	c2.write(`421["transport"]`)
	for msg := c2.read(); msg != `431["websocket"]`; msg = c2.read() {
		if msg != "2" {
			t.Fatalf("got %q", msg)
		}
		c2.write("3")
	}
}

func TestClientCloseAndServerClose(t *testing.T) {
	app := newTestApp(t, nil)
	c := pollHandshake(t, app.url)
	c.post("40")
	expectPrefix(t, c.next(), "40{")
	c.post("1")
	if d := app.waitDisconnect(t); d.reason != "transport close" {
		t.Fatalf("reason %q", d.reason)
	}

	ws, _ := wsHandshake(t, app.url)
	ws.write("40")
	expectPrefix(t, ws.read(), "40{")
	app.srv.Close()
	if d := app.waitDisconnect(t); d.reason != "server shutting down" {
		t.Fatalf("reason %q", d.reason)
	}
	ws.expectClosed()
	resp, err := httpClient.Get(app.url + "?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("handshake after Close: %d", resp.StatusCode)
	}
}

// A client that stops reading is cut off once its queue overflows, without
// slowing the publisher or the other sockets.
func TestSlowConsumer(t *testing.T) {
	app := newTestApp(t, func(o *Options) { o.SendQueueBytes = 256 << 10 })
	slow, _ := wsHandshake(t, app.url)
	slow.write("40")
	expectPrefix(t, slow.read(), "40{")
	fast, _ := wsHandshake(t, app.url)
	fast.write("40")
	expectPrefix(t, fast.read(), "40{")

	counts := make(chan int, 1<<16) // broadcasts the fast client has read so far
	go func() {
		n := 0
		for {
			m, err := fast.tryRead()
			if err != nil {
				return
			}
			if strings.HasPrefix(m, `42["bcast"`) {
				n++
				counts <- n
			}
		}
	}()
	waitCount := func(want int) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case n := <-counts:
				if n >= want {
					return
				}
			case <-timeout:
				t.Fatalf("the fast client did not get %d broadcasts", want)
			}
		}
	}

	p, _ := NewEvent("bcast", strings.Repeat("x", 4<<10))
	const perRound = 16 // 64 KiB: the fast client always keeps up
	sent := 0
	deadline := time.Now().Add(30 * time.Second)
	var reason string
	for reason == "" {
		if time.Now().After(deadline) {
			t.Fatal("the slow consumer was never disconnected")
		}
		start := time.Now()
		for range perRound {
			for _, s := range app.namespace("/") {
				s.Send(p)
			}
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("publishing blocked for %v", d)
		}
		sent += perRound
		waitCount(sent)
		select {
		case d := <-app.disconnects:
			reason = d.reason
		default:
		}
	}
	if reason != "slow consumer" {
		t.Fatalf("reason %q", reason)
	}
	slow.expectClosed()

	live := app.namespace("/")
	if len(live) != 1 {
		t.Fatalf("%d sockets left, want 1", len(live))
	}
	for range perRound {
		if err := live[0].Send(p); err != nil {
			t.Fatal(err)
		}
	}
	waitCount(sent + perRound)
	t.Logf("slow consumer cut off after %d broadcasts of %d bytes", sent, len(p.body))
}

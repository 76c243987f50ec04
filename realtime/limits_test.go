package realtime

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime/socketio"
)

// rawConn is an Engine.IO connection over WebSocket that speaks packets byte by byte, from a
// loopback address of its own choosing (127.0.0.1, 127.0.0.2, ...: distinct client addresses).
type rawConn struct {
	t *testing.T
	c *websocket.Conn
}

func serveHub(t *testing.T, h *Hub) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", h.Handler())
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL
}

func rawDial(t *testing.T, url, from string, hdr http.Header) *rawConn {
	t.Helper()
	c, err := rawTryDial(url, from, hdr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	rc := &rawConn{t, c}
	if open := rc.read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	return rc
}

func rawTryDial(url, from string, hdr http.Header) (*websocket.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket",
		&websocket.DialOptions{HTTPClient: hc, HTTPHeader: hdr})
	return c, err
}

func (rc *rawConn) send(packet string) {
	rc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rc.c.Write(ctx, websocket.MessageText, []byte(packet)); err != nil {
		rc.t.Fatalf("write %q: %v", packet, err)
	}
}

// read returns the next packet that is not a ping (pings are answered).
func (rc *rawConn) read() string {
	rc.t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, b, err := rc.c.Read(ctx)
		cancel()
		if err != nil {
			rc.t.Fatalf("read: %v", err)
		}
		if string(b) == "2" {
			rc.send("3")
			continue
		}
		return string(b)
	}
}

// connectError returns the message of a CONNECT_ERROR for namespace prefix ("" or "/livedoc,").
func connectError(t *testing.T, packet, nsp string) string {
	t.Helper()
	var e struct{ Message string }
	if !strings.HasPrefix(packet, "44"+nsp) || json.Unmarshal([]byte(packet[2+len(nsp):]), &e) != nil {
		t.Fatalf("got %q, want a CONNECT_ERROR", packet)
	}
	return e.Message
}

func (h *Hub) sessionCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

func sessionRows(t *testing.T, h *Hub) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.saveSessions(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	err := h.e.Run(ctx, doc.AdminUser, false, func(c *doc.Context) error {
		return c.Tx.QueryRow(c, "SELECT COUNT(*) FROM __rt_sessions").Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestGuestConnectFloodIsBounded is the attack: Guest CONNECT packets as fast as a few Engine.IO
// connections carry them, repeated on a connected namespace and alternated with DISCONNECTs (each
// pair a new session to keep for recovery). With the default limits the server keeps at most
// MaxSocketsPerUser sessions for that address, writes none of them to the database, and its heap
// stays within a few MiB; the client is told why its repeated CONNECTs did nothing.
func TestGuestConnectFloodIsBounded(t *testing.T) {
	h, _, _ := newTestHub(t, Options{})
	url := serveHub(t, h)
	const conns, rounds = 4, 6000 // 4 × 6,000 × (CONNECT, CONNECT, DISCONNECT): 48,000 CONNECTs
	raw := make([]*rawConn, conns)
	for i := range raw {
		raw[i] = rawDial(t, url, "127.0.0.1", nil)
	}
	before := heapInUse()

	var accepted, refused atomic.Int64
	var wrong atomic.Value
	var wg sync.WaitGroup
	for _, rc := range raw {
		wg.Add(2)
		go func() { // the client reads every answer, or its session would be cut as a slow consumer
			defer wg.Done()
			for range 2 * rounds {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, b, err := rc.c.Read(ctx)
				cancel()
				switch p := string(b); {
				case err != nil:
					wrong.Store("read: " + err.Error())
					return
				case strings.HasPrefix(p, `40{"sid":`):
					accepted.Add(1)
				case p == `44{"message":"`+socketio.ErrAlreadyConnected.Error()+`"}`:
					refused.Add(1)
				default:
					wrong.Store(p)
				}
			}
		}()
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for range rounds {
				for _, p := range []string{"40", "40", "41"} {
					if err := rc.c.Write(ctx, websocket.MessageText, []byte(p)); err != nil {
						wrong.Store("write: " + err.Error())
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if w := wrong.Load(); w != nil {
		t.Errorf("unexpected: %v", w)
	}
	if a, r := accepted.Load(), refused.Load(); a != conns*rounds || r != conns*rounds {
		t.Errorf("%d CONNECTs accepted and %d refused as already connected, want %d each", a, r, conns*rounds)
	}

	limit := DefaultMaxSocketsPerUser
	if n := h.sessionCount(); n > limit+conns {
		t.Errorf("%d sessions in memory after the flood, want at most %d (kept) + %d (connected)", n, limit, conns)
	}
	if rows := sessionRows(t, h); rows != 0 {
		t.Errorf("%d Guest sessions written to __rt_sessions, want none", rows)
	}
	after := heapInUse()
	if grown := int64(after) - int64(before); grown > 8<<20 {
		t.Errorf("heap grew by %d MiB during the flood", grown>>20)
	}
	t.Logf("%d CONNECTs: %d sessions kept, heap %+d KiB", 2*conns*rounds, h.sessionCount(), (int64(after)-int64(before))>>10)
}

func apiToken(t *testing.T, h *Hub, user string) string {
	t.Helper()
	ctx := context.Background()
	var tok string
	err := h.e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		if _, err := c.Insert(doc.Doc{"doctype": "User", "email": user, "first_name": "U"}); err != nil {
			return err
		}
		key, secret, err := h.auth.GenerateKeys(c, user)
		tok = key + ":" + secret
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// roundTrip makes sure every packet rc sent before has been handled: the hub answers a ping
// only after them.
func (rc *rawConn) roundTrip() {
	rc.t.Helper()
	rc.send(`421["ping"]`)
	for p := rc.read(); p != `431[{"ok":true}]`; p = rc.read() {
	}
}

func TestSocketsPerUserCap(t *testing.T) {
	h, _, _ := newTestHub(t, Options{MaxSocketsPerUser: 2})
	url := serveHub(t, h)
	admin, other := apiToken(t, h, "one@example.com"), apiToken(t, h, "other@example.com")
	auth := func(tok string) string { return `{"token":"` + tok + `"}` }

	a1 := rawDial(t, url, "127.0.0.1", nil)
	a1.send(`40` + auth(admin))
	expectConnected(t, a1.read(), "")
	a1.send(`40/livedoc,` + auth(admin))
	expectConnected(t, a1.read(), "/livedoc,")
	a2 := rawDial(t, url, "127.0.0.2", nil) // another address: the cap is the user's
	a2.send(`40/livedoc,` + auth(admin))
	want := "too many connections for user one@example.com (limit 2)"
	if msg := connectError(t, a2.read(), "/livedoc,"); !strings.HasPrefix(msg, want) {
		t.Fatalf("third socket of a user: %q, want %q...", msg, want)
	}
	// Another user is not affected, on the same connection.
	a2.send(`40/livedoc,` + auth(other))
	expectConnected(t, a2.read(), "/livedoc,")

	// A socket that disconnects gives its place back.
	a1.send(`41/livedoc,`)
	a1.roundTrip()
	a2.send(`40` + auth(admin))
	expectConnected(t, a2.read(), "")

	// Guests count per client address.
	g1 := rawDial(t, url, "127.0.0.3", nil)
	g1.send("40")
	expectConnected(t, g1.read(), "")
	g1.send("40/livedoc,")
	expectConnected(t, g1.read(), "/livedoc,")
	g2 := rawDial(t, url, "127.0.0.3", nil)
	g2.send("40")
	want = "too many Guest connections from this address (limit 2)"
	if msg := connectError(t, g2.read(), ""); msg != want {
		t.Fatalf("third Guest socket of an address: %q, want %q", msg, want)
	}
	g3 := rawDial(t, url, "127.0.0.4", nil)
	g3.send("40")
	expectConnected(t, g3.read(), "")
}

func expectConnected(t *testing.T, packet, nsp string) {
	t.Helper()
	if !strings.HasPrefix(packet, `40`+nsp+`{"sid":`) {
		t.Fatalf("got %q, want the CONNECT answer of %q", packet, nsp)
	}
}

// A user's disconnected sessions are kept for recovery up to the cap: the oldest go, from memory
// and from __rt_sessions.
func TestKeptSessionsPerUserCap(t *testing.T) {
	h, _, _ := newTestHub(t, Options{MaxSocketsPerUser: 2})
	url := serveHub(t, h)
	admin := apiToken(t, h, "one@example.com")
	c := rawDial(t, url, "127.0.0.1", nil)
	var pids []string
	for range 6 {
		c.send(`40/livedoc,{"token":"` + admin + `"}`)
		p := c.read()
		expectConnected(t, p, "/livedoc,")
		var answer struct{ PID string }
		json.Unmarshal([]byte(strings.TrimPrefix(p, "40/livedoc,")), &answer)
		pids = append(pids, answer.PID)
		c.send(`41/livedoc,`)
		if len(pids) == 3 {
			sessionRows(t, h) // some rows written before the sessions they hold are forgotten
		}
	}
	c.send("40")
	c.roundTrip() // every DISCONNECT handled
	if n := h.sessionCount(); n != 3 {
		t.Errorf("%d sessions in memory, want the user's 2 kept + the Guest's", n)
	}
	if rows := sessionRows(t, h); rows != 2 {
		t.Errorf("%d rows in __rt_sessions, want the 2 kept", rows)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, pid := range pids {
		if kept := h.sessions[pid] != nil; kept != (i >= len(pids)-2) {
			t.Errorf("session %d of %d kept: %v, want only the newest two", i+1, len(pids), kept)
		}
	}
}

// The per-address limits of socketio, set through Options.
func TestConnectionLimitsPerAddress(t *testing.T) {
	refused := func(t *testing.T, url, from string) {
		t.Helper()
		c, err := rawTryDial(url, from, nil)
		if err == nil {
			c.CloseNow()
			t.Fatalf("connection from %s accepted", from)
		}
		if !strings.Contains(err.Error(), "429") {
			t.Fatalf("connection from %s: %v, want HTTP 429", from, err)
		}
	}
	t.Run("connections", func(t *testing.T) {
		h, _, _ := newTestHub(t, Options{MaxConnectionsPerAddr: 2})
		url := serveHub(t, h)
		rawDial(t, url, "127.0.0.1", nil)
		rawDial(t, url, "127.0.0.1", nil)
		refused(t, url, "127.0.0.1")
		rawDial(t, url, "127.0.0.2", nil)
	})
	t.Run("handshake rate", func(t *testing.T) {
		h, _, _ := newTestHub(t, Options{HandshakeRate: 1.0 / 60, HandshakeBurst: 3})
		url := serveHub(t, h)
		for range 3 {
			rawDial(t, url, "127.0.0.1", nil).c.CloseNow()
		}
		refused(t, url, "127.0.0.1")
		rawDial(t, url, "127.0.0.2", nil)
	})
}

// Guest sessions are not written to the database, yet recover from this node's memory.
func TestGuestSessionRecoversFromMemory(t *testing.T) {
	h, _, _ := newTestHub(t, Options{})
	url := serveHub(t, h)
	c := rawDial(t, url, "127.0.0.1", nil)
	c.send("40/livedoc,")
	p := c.read()
	expectConnected(t, p, "/livedoc,")
	var answer struct{ PID string }
	json.Unmarshal([]byte(strings.TrimPrefix(p, "40/livedoc,")), &answer)
	c.c.CloseNow()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		s := h.sessions[answer.PID]
		left := s != nil && s.conn == nil
		h.mu.Unlock()
		if left {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Guest's session is not kept as disconnected within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rows := sessionRows(t, h); rows != 0 {
		t.Fatalf("%d rows in __rt_sessions, want none for a Guest", rows)
	}
	c = rawDial(t, url, "127.0.0.1", nil)
	c.send(`40/livedoc,{"pid":"` + answer.PID + `"}`)
	expectPrefix := `40/livedoc,{"sid":`
	if p := c.read(); !strings.HasPrefix(p, expectPrefix) || !strings.Contains(p, `"pid":"`+answer.PID+`"`) {
		t.Fatalf("reconnect answered %q, want the same pid %s", p, answer.PID)
	}
}

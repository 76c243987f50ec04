package socketio

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestRepeatedConnectIsRefused(t *testing.T) {
	var connects atomic.Int32
	app := newTestApp(t, func(o *Options) {
		next := o.Connect
		o.Connect = func(r *ConnectRequest) (*ConnectReply, error) {
			connects.Add(1)
			return next(r)
		}
	})
	c, _ := wsHandshake(t, app.url)
	c.write(`40/site,{"token":"first"}`)
	expectPrefix(t, c.read(), `40/site,{"sid":`)
	for range 3 {
		c.write(`40/site,{"token":"second"}`)
		expectEqual(t, c.read(), `44/site,{"message":"`+ErrAlreadyConnected.Error()+`"}`)
	}
	c.write("40")
	expectPrefix(t, c.read(), `40{"sid":`)
	c.write("40")
	expectEqual(t, c.read(), `44{"message":"`+ErrAlreadyConnected.Error()+`"}`)

	// The first socket is still the one connected, with its own auth.
	c.write(`42/site,1["auth"]`)
	expectEqual(t, c.read(), `43/site,1[{"token":"first"}]`)
	if n := connects.Load(); n != 2 {
		t.Fatalf("Connect ran %d times, want 2 (the repeats must not reach it)", n)
	}
	select {
	case d := <-app.disconnects:
		t.Fatalf("socket of %s disconnected (%s) by a repeated CONNECT", d.socket.Namespace(), d.reason)
	default:
	}

	// After a DISCONNECT the namespace can be connected again.
	c.write("41/site,")
	app.waitDisconnect(t)
	c.write(`40/site,{"token":"third"}`)
	expectPrefix(t, c.read(), `40/site,{"sid":`)
	c.write(`42/site,2["auth"]`)
	expectEqual(t, c.read(), `43/site,2[{"token":"third"}]`)
}

// clientFrom is an HTTP client whose connections come from the loopback address local.
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// handshake opens an Engine.IO session over polling from hc and returns the status, the
// Retry-After header and the body.
func handshake(t *testing.T, hc *http.Client, url string) (int, string, string) {
	t.Helper()
	resp, err := hc.Get(url + "?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
}

func expectTooMany(t *testing.T, status int, retryAfter, body, message string) {
	t.Helper()
	var e struct {
		Code    int
		Message string
	}
	if status != http.StatusTooManyRequests || json.Unmarshal([]byte(body), &e) != nil || e.Code != codeForbidden ||
		!strings.Contains(e.Message, message) {
		t.Fatalf("got %d %s, want 429 with code %d and a message with %q", status, body, codeForbidden, message)
	}
	if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 {
		t.Fatalf("Retry-After %q", retryAfter)
	}
}

func TestConnectionsPerAddressLimit(t *testing.T) {
	app := newTestApp(t, func(o *Options) { o.MaxConnectionsPerAddr = 3 })
	local, other := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")

	ws1, _ := wsHandshake(t, app.url)
	wsHandshake(t, app.url)
	if status, _, body := handshake(t, local, app.url); status != http.StatusOK {
		t.Fatalf("third session: %d %s", status, body)
	}
	status, retry, body := handshake(t, local, app.url)
	expectTooMany(t, status, retry, body, "too many connections from this address")

	// WebSocket handshakes are refused before the upgrade, with the same answer.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(app.url, "http")+"?EIO=4&transport=websocket", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth session over WebSocket: %v %v", resp, err)
	}

	// Another address is not affected.
	if status, _, body := handshake(t, other, app.url); status != http.StatusOK {
		t.Fatalf("another address: %d %s", status, body)
	}

	// A closed session gives its place back.
	ws1.c.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, body := handshake(t, local, app.url)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after a session closed: %d %s", status, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHandshakeRateLimit(t *testing.T) {
	// One handshake a minute after a burst of 5: the sixth is refused within the test.
	app := newTestApp(t, func(o *Options) { o.HandshakeRate, o.HandshakeBurst = 1.0/60, 5 })
	local, other := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	for i := range 5 {
		if status, _, body := handshake(t, local, app.url); status != http.StatusOK {
			t.Fatalf("handshake %d: %d %s", i+1, status, body)
		}
	}
	status, retry, body := handshake(t, local, app.url)
	expectTooMany(t, status, retry, body, "too many handshakes from this address")
	if n, _ := strconv.Atoi(retry); n < 30 {
		t.Errorf("Retry-After %s, want about a minute", retry)
	}
	if status, _, body := handshake(t, other, app.url); status != http.StatusOK {
		t.Fatalf("another address: %d %s", status, body)
	}

	// Without a limit, the same handshakes pass.
	free := newTestApp(t, func(o *Options) { o.HandshakeRate, o.HandshakeBurst = -1, 5 })
	for i := range 20 {
		if status, _, body := handshake(t, local, free.url); status != http.StatusOK {
			t.Fatalf("no limit, handshake %d: %d %s", i+1, status, body)
		}
	}
}

// The limiter forgets addresses whose bucket is full again: its memory follows the addresses
// active in the last burst/rate seconds, not all it has seen.
func TestRateLimiterForgetsIdleAddresses(t *testing.T) {
	l := newRateLimiter(10, 20) // full again 2 s after the last handshake
	now := time.Unix(1e9, 0)
	for i := range 100_000 {
		if _, ok := l.take("10.0."+strconv.Itoa(i>>8)+"."+strconv.Itoa(i&255), now); !ok {
			t.Fatal("the first handshake of an address was refused")
		}
		now = now.Add(time.Millisecond)
	}
	if n := len(l.full); n > 4_100 { // at most the last 2 s × 1,000 addresses/s, plus a sweep's lag
		t.Fatalf("the limiter holds %d addresses", n)
	}
	for range 20 {
		l.take("a", now)
	}
	if wait, ok := l.take("a", now); ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("21st handshake at once: ok %v, wait %v", ok, wait)
	}
	if _, ok := l.take("a", now.Add(100*time.Millisecond)); !ok {
		t.Fatal("no token 100ms later at 10/s")
	}
}

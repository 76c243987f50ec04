package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Raw Engine.IO clients speaking the wire protocol byte by byte, to test
// what the server sends and refuses. socket.io-client itself is exercised
// by the conformance test.

type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func parseOpen(t testing.TB, packet string) openPacket {
	t.Helper()
	var o openPacket
	if !strings.HasPrefix(packet, "0") || json.Unmarshal([]byte(packet[1:]), &o) != nil || o.SID == "" {
		t.Fatalf("not an open packet: %q", packet)
	}
	return o
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

type pollClient struct {
	t       *testing.T
	url     string
	open    openPacket
	pending []string
}

func pollHandshake(t *testing.T, url string) *pollClient {
	t.Helper()
	c := &pollClient{t: t, url: url}
	status, packets := c.get()
	if status != http.StatusOK || len(packets) != 1 {
		t.Fatalf("handshake: %d %q", status, packets)
	}
	c.open = parseOpen(t, packets[0])
	return c
}

func (c *pollClient) query() string {
	q := "?EIO=4&transport=polling"
	if c.open.SID != "" {
		q += "&sid=" + c.open.SID
	}
	return c.url + q
}

// get does one poll and returns its status and packets.
func (c *pollClient) get() (int, []string) {
	c.t.Helper()
	resp, err := httpClient.Get(c.query())
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, []string{string(body)}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		c.t.Errorf("poll Content-Type %q", ct)
	}
	return resp.StatusCode, strings.Split(string(body), "\x1e")
}

// post sends packets in one payload and returns the status and body.
func (c *pollClient) post(packets ...string) (int, string) {
	c.t.Helper()
	return c.postBody(strings.Join(packets, "\x1e"))
}

func (c *pollClient) postBody(body string) (int, string) {
	c.t.Helper()
	resp, err := httpClient.Post(c.query(), "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// next returns the next packet from the server, polling as needed.
func (c *pollClient) next() string {
	c.t.Helper()
	for len(c.pending) == 0 {
		status, packets := c.get()
		if status != http.StatusOK {
			c.t.Fatalf("poll: %d %q", status, packets)
		}
		c.pending = packets
	}
	p := c.pending[0]
	c.pending = c.pending[1:]
	return p
}

type wsClient struct {
	t testing.TB
	c *websocket.Conn
}

func dialWS(t testing.TB, url, sid string) *wsClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(url, "http") + "?EIO=4&transport=websocket"
	if sid != "" {
		u += "&sid=" + sid
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t, c}
}

func wsHandshake(t testing.TB, url string) (*wsClient, openPacket) {
	t.Helper()
	c := dialWS(t, url, "")
	return c, parseOpen(t, c.read())
}

func (c *wsClient) read() string {
	c.t.Helper()
	s, err := c.tryRead()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return s
}

func (c *wsClient) tryRead() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.c.Read(ctx)
	return string(b), err
}

func (c *wsClient) writeBinary(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageBinary, b); err != nil {
		c.t.Fatalf("write binary: %v", err)
	}
}

func (c *wsClient) write(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// expectClosed waits for the server to end the connection, skipping what
// it sent before.
func (c *wsClient) expectClosed() {
	c.t.Helper()
	for {
		if _, err := c.tryRead(); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				c.t.Fatal("connection still open after 10s")
			}
			return
		}
	}
}

func expectPrefix(t testing.TB, got, prefix string) {
	t.Helper()
	if !strings.HasPrefix(got, prefix) {
		t.Fatalf("got %q, want prefix %q", got, prefix)
	}
}

func expectEqual(t testing.TB, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

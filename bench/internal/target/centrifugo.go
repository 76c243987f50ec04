package target

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/livedoc/livedoc/bench/internal/jscan"
	"github.com/livedoc/livedoc/bench/internal/wsclient"
)

// centrifugo drives a Centrifugo v6 server (bench/peers/centrifugo): subscribers speak its JSON
// client protocol over WebSocket (/connection/websocket, a connection JWT signed with the HMAC
// key, one subscribe command per channel), publishes go through its HTTP API (/api/publish with
// X-API-Key). --token is the key used both as the HTTP API key and as the JWT HMAC secret
// (bench/peers/centrifugo/config.sh writes it so).
type centrifugo struct {
	o    Options
	http *http.Client
	jwt  string
}

func newCentrifugo(o Options) (*centrifugo, error) {
	if o.URL == "" {
		return nil, errors.New("centrifugo: --url is required")
	}
	if o.Token == "" {
		return nil, errors.New("centrifugo: --token KEY is required (API key and HMAC secret)")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256, IdleConnTimeout: time.Minute}
	return &centrifugo{o: o, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

func (c *centrifugo) Name() string        { return "centrifugo" }
func (c *centrifugo) DefaultRoom() string { return "all" }
func (c *centrifugo) IdleRoom() string    { return "doctype:" + BenchDocType }

// Setup signs the connection JWT (HS256, sub "livedoc-bench", valid for a day) and checks the API.
func (c *centrifugo) Setup(ctx context.Context) error {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims := enc.EncodeToString([]byte(`{"sub":"livedoc-bench","exp":` + strconv.FormatInt(time.Now().Add(24*time.Hour).Unix(), 10) + `}`))
	mac := hmac.New(sha256.New, []byte(c.o.Token))
	mac.Write([]byte(head + "." + claims))
	c.jwt = head + "." + claims + "." + enc.EncodeToString(mac.Sum(nil))
	return c.api(ctx, "info", []byte(`{}`))
}

// channel maps a room name to a channel: ':' separates Centrifugo namespaces, so it becomes '_'.
func channel(room string) string {
	return strings.NewReplacer(":", "_", " ", "_").Replace(room)
}

func (c *centrifugo) api(ctx context.Context, method string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.o.URL, "/")+"/api/"+method, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", c.o.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("centrifugo /api/%s: %s: %s", method, resp.Status, b)
	}
	if bytes.Contains(b, []byte(`"error"`)) {
		return fmt.Errorf("centrifugo /api/%s: %s", method, b)
	}
	return nil
}

// Publish posts {channel, data} to /api/publish; the payload is the publication's data. The
// event name is not sent: a Centrifugo channel carries one stream.
func (c *centrifugo) Publish(ctx context.Context, event, room string, payload []byte) error {
	var b bytes.Buffer
	b.WriteString(`{"channel":`)
	writeJSONString(&b, channel(room))
	b.WriteString(`,"data":`)
	b.Write(payload)
	b.WriteString(`}`)
	return c.api(ctx, "publish", b.Bytes())
}

// centrifugoConn is one client connection speaking the JSON protocol (v2) over a lean WebSocket
// (wsclient): the connect and subscribe commands are sent and their replies awaited by Dial;
// then one reader goroutine answers pings and hands each publication's data to OnMessage,
// found with jscan in the read buffer.
type centrifugoConn struct {
	ws      *wsclient.Conn
	nextID  uint32 // Dial only
	done    chan struct{}
	closing atomic.Bool
	o       DialOptions
}

type cfReply struct {
	ID    uint32          `json:"id"`
	Error json.RawMessage `json:"error"`
}

// Dial connects, sends the connect command with the JWT, subscribes to each room's channel and
// returns once every subscription is confirmed. Server pings ({}) are answered with {}.
// Publications that arrive meanwhile are delivered from the calling goroutine.
func (c *centrifugo) Dial(ctx context.Context, o DialOptions) (Conn, error) {
	u, err := wsURL(c.o.URL, "/connection/websocket")
	if err != nil {
		return nil, err
	}
	ws, err := wsclient.Dial(ctx, u, wsclient.Options{Dialer: leanDialer(o), BufSize: leanBufSize})
	if err != nil {
		return nil, err
	}
	cc := &centrifugoConn{ws: ws, done: make(chan struct{}), o: o}
	if err := ws.Within(ctx, func() error { return cc.setup(c.jwt) }); err != nil {
		ws.Close()
		return nil, err
	}
	cc.read()
	return cc, nil
}

func (cc *centrifugoConn) setup(jwt string) error {
	if _, err := cc.call("connect", map[string]any{"token": jwt, "name": "livedoc-bench"}); err != nil {
		return fmt.Errorf("centrifugo connect: %w", err)
	}
	for _, room := range cc.o.Rooms {
		if _, err := cc.call("subscribe", map[string]any{"channel": channel(room)}); err != nil {
			return fmt.Errorf("centrifugo subscribe %s: %w", channel(room), err)
		}
	}
	return nil
}

// call sends a command and reads (answering pings, delivering publications) until its reply.
func (cc *centrifugoConn) call(method string, params any) ([]byte, error) {
	cc.nextID++
	id := cc.nextID
	cmd, err := json.Marshal(map[string]any{"id": id, method: params})
	if err != nil {
		return nil, err
	}
	if err := cc.ws.WriteText(cmd); err != nil {
		return nil, err
	}
	for {
		_, msg, err := cc.ws.Next()
		if err != nil {
			return nil, err
		}
		var reply []byte
		cc.frame(msg, func(line []byte) {
			var rep cfReply
			if reply == nil && json.Unmarshal(line, &rep) == nil && rep.ID == id {
				reply = bytes.Clone(line)
			}
		})
		if reply == nil {
			continue
		}
		var rep cfReply
		if json.Unmarshal(reply, &rep) == nil && len(rep.Error) > 0 {
			return nil, fmt.Errorf("%s", rep.Error)
		}
		return reply, nil
	}
}

// read hands the connection to its reader (wsclient's Go: a poller where there is one).
func (cc *centrifugoConn) read() {
	cc.ws.Go(func(_ byte, msg []byte) bool {
		cc.frame(msg, nil)
		return true
	}, func(err error) {
		cc.ws.Close()
		if !cc.closing.Load() && cc.o.OnDisconnect != nil {
			if err == nil {
				err = io.EOF
			}
			cc.o.OnDisconnect(err.Error())
		}
		close(cc.done)
	})
}

// frame handles one message, which may hold several newline-separated replies: pings are
// answered, publications delivered, other replies given to reply (ignored when nil).
func (cc *centrifugoConn) frame(msg []byte, reply func(line []byte)) {
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSpace(line)
		switch {
		case len(line) == 0:
		case string(line) == "{}": // ping
			cc.ws.WriteText([]byte("{}"))
		case bytes.HasPrefix(line, []byte(`{"push"`)):
			if cc.o.OnMessage != nil {
				if data, off, ok := cfPublication(line); ok {
					cc.o.OnMessage(data, off)
				}
			}
		case reply != nil:
			reply(line)
		}
	}
}

// cfPublication finds a push's publication data and offset: {"push":{"channel":...,"pub":
// {"data":...,"offset":N}}}. off is nil when the publication has no offset (or offset 0); data
// is nil when it has no data. ok is false if the push is not a publication.
func cfPublication(line []byte) (data, off []byte, ok bool) {
	push, ok := jscan.Field(line, "push")
	if !ok {
		return nil, nil, false
	}
	pub, ok := jscan.Field(push, "pub")
	if !ok || pub[0] != '{' {
		return nil, nil, false
	}
	data, _ = jscan.Field(pub, "data")
	if o, ok := jscan.Field(pub, "offset"); ok && isPositiveInt(o) {
		off = o
	}
	return data, off, true
}

// isPositiveInt reports whether b is a JSON integer above 0 (what a uint64 offset would show).
func isPositiveInt(b []byte) bool {
	nonZero := false
	for _, d := range b {
		if d < '0' || d > '9' {
			return false
		}
		nonZero = nonZero || d != '0'
	}
	return nonZero && len(b) <= 20
}

func (cc *centrifugoConn) Close() error {
	if !cc.closing.CompareAndSwap(false, true) {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	cc.ws.SetWriteDeadline(deadline)
	if cc.ws.WriteClose(wsclient.StatusNormal) != nil {
		cc.ws.Close()
		return nil
	}
	cc.ws.SetReadDeadline(deadline) // the reader stops at the server's close frame, or then
	return nil
}

func (cc *centrifugoConn) Done() <-chan struct{} { return cc.done }

// CloseTransport drops the connection without a closing handshake.
func (cc *centrifugoConn) CloseTransport() { cc.ws.Close() }

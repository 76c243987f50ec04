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
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
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

// centrifugoConn is one client connection speaking the JSON protocol (v2).
type centrifugoConn struct {
	ws      *websocket.Conn
	nextID  atomic.Uint32
	mu      sync.Mutex
	replies map[uint32]chan json.RawMessage
	done    chan struct{}
	closing atomic.Bool
	o       DialOptions
}

type cfReply struct {
	ID    uint32          `json:"id"`
	Error json.RawMessage `json:"error"`
	Push  *struct {
		Channel string `json:"channel"`
		Pub     *struct {
			Data   json.RawMessage `json:"data"`
			Offset uint64          `json:"offset"`
		} `json:"pub"`
	} `json:"push"`
}

// Dial connects, sends the connect command with the JWT, subscribes to each room's channel and
// returns once every subscription is confirmed. Server pings ({}) are answered with {}.
func (c *centrifugo) Dial(ctx context.Context, o DialOptions) (Conn, error) {
	u := "ws" + strings.TrimPrefix(strings.TrimSuffix(c.o.URL, "/"), "http") + "/connection/websocket"
	opts := &websocket.DialOptions{}
	if o.Transport != nil {
		opts.HTTPClient = o.Transport.HTTPClient(o.Index)
	}
	ws, _, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(64 << 20)
	cc := &centrifugoConn{ws: ws, replies: map[uint32]chan json.RawMessage{}, done: make(chan struct{}), o: o}
	go cc.read()
	fail := func(err error) (Conn, error) {
		cc.closing.Store(true)
		ws.CloseNow()
		return nil, err
	}
	if _, err := cc.call(ctx, "connect", map[string]any{"token": c.jwt, "name": "livedoc-bench"}); err != nil {
		return fail(fmt.Errorf("centrifugo connect: %w", err))
	}
	for _, room := range o.Rooms {
		if _, err := cc.call(ctx, "subscribe", map[string]any{"channel": channel(room)}); err != nil {
			return fail(fmt.Errorf("centrifugo subscribe %s: %w", channel(room), err))
		}
	}
	return cc, nil
}

func (cc *centrifugoConn) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	id := cc.nextID.Add(1)
	ch := make(chan json.RawMessage, 1)
	cc.mu.Lock()
	cc.replies[id] = ch
	cc.mu.Unlock()
	cmd, err := json.Marshal(map[string]any{"id": id, method: params})
	if err != nil {
		return nil, err
	}
	if err := cc.ws.Write(ctx, websocket.MessageText, cmd); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		var rep cfReply
		if json.Unmarshal(r, &rep) == nil && len(rep.Error) > 0 {
			return nil, fmt.Errorf("%s", rep.Error)
		}
		return r, nil
	case <-cc.done:
		return nil, errors.New("connection closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// read handles frames: each may hold several newline-separated replies.
func (cc *centrifugoConn) read() {
	defer close(cc.done)
	ctx := context.Background()
	for {
		_, msg, err := cc.ws.Read(ctx)
		if err != nil {
			if !cc.closing.Load() && cc.o.OnDisconnect != nil {
				cc.o.OnDisconnect(err.Error())
			}
			return
		}
		for line := range bytes.SplitSeq(msg, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			if string(line) == "{}" { // ping
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				cc.ws.Write(wctx, websocket.MessageText, []byte("{}"))
				cancel()
				continue
			}
			if bytes.HasPrefix(line, []byte(`{"push"`)) {
				if cc.o.OnMessage == nil {
					continue
				}
				var rep cfReply
				if json.Unmarshal(line, &rep) == nil && rep.Push != nil && rep.Push.Pub != nil {
					var off []byte
					if rep.Push.Pub.Offset > 0 {
						off = strconv.AppendUint(nil, rep.Push.Pub.Offset, 10)
					}
					cc.o.OnMessage(rep.Push.Pub.Data, off)
				}
				continue
			}
			var rep cfReply
			if json.Unmarshal(line, &rep) != nil || rep.ID == 0 {
				continue
			}
			cc.mu.Lock()
			ch := cc.replies[rep.ID]
			delete(cc.replies, rep.ID)
			cc.mu.Unlock()
			if ch != nil {
				ch <- append(json.RawMessage(nil), line...)
			}
		}
	}
}

func (cc *centrifugoConn) Close() error {
	cc.closing.Store(true)
	return cc.ws.Close(websocket.StatusNormalClosure, "")
}

func (cc *centrifugoConn) Done() <-chan struct{} { return cc.done }

// CloseTransport drops the connection without a closing handshake.
func (cc *centrifugoConn) CloseTransport() { cc.ws.CloseNow() }

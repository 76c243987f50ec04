package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/livedoc/livedoc/bench/internal/wsclient"
)

// floorTarget drives bench/cmd/floor-server (package bench/internal/floor), the cheapest fan-out
// server we can write: subscribers open a WebSocket, get an empty text frame once registered and
// then one text frame per message (the payload); publishes are POST /publish with the payload as
// the body. --url is the server; GET /health tells the subscribers' path. One room (all), no
// event names, no reconnection.
type floorTarget struct {
	o    Options
	http *http.Client
	subs string // the subscribers' ws:// URL, from /health
}

func newFloor(o Options) (*floorTarget, error) {
	if o.URL == "" {
		return nil, errors.New("floor: --url is required (the publish API)")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256, IdleConnTimeout: time.Minute}
	return &floorTarget{o: o, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

func (f *floorTarget) Name() string        { return "floor" }
func (f *floorTarget) DefaultRoom() string { return "all" }

func (f *floorTarget) base() string { return strings.TrimSuffix(f.o.URL, "/") }

// Setup reads the subscribers' path from GET /health ({"subscribe": "/path"}), on --url's
// server.
func (f *floorTarget) Setup(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.base()+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("floor /health: %s: %s", resp.Status, b)
	}
	var h struct {
		Subscribe string `json:"subscribe"`
	}
	if err := json.Unmarshal(b, &h); err != nil || !strings.HasPrefix(h.Subscribe, "/") {
		return fmt.Errorf("floor /health: no subscribers' path in %q (an older floor-server?)", truncate(b))
	}
	u, err := wsURL(f.o.URL, h.Subscribe)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	f.subs = u
	return nil
}

// checkFloorRoom refuses rooms the floor server does not have: everyone is in the one room.
func checkFloorRoom(room string) error {
	if room != "all" {
		return fmt.Errorf("floor: one room only (all), not %q", room)
	}
	return nil
}

// Publish posts the payload to /publish; the event name is not sent (the server has one stream).
func (f *floorTarget) Publish(ctx context.Context, event, room string, payload []byte) error {
	if err := checkFloorRoom(room); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.base()+"/publish", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("floor /publish: %s: %s", resp.Status, truncate(b))
	}
	return nil
}

// floorConn is one subscriber: a lean WebSocket (wsclient) read as every other target's
// subscribers are, by a shared poller where there is one; each text message is handed to
// OnMessage in place.
type floorConn struct {
	ws      *wsclient.Conn
	o       DialOptions
	done    chan struct{}
	closing atomic.Bool
}

// Dial connects from o's source address and returns once the server registered the subscriber
// (its first message, an empty text frame, has arrived); what arrived after it is delivered
// before Dial returns or by the reader.
func (f *floorTarget) Dial(ctx context.Context, o DialOptions) (Conn, error) {
	if o.Reconnect {
		return nil, errors.New("floor: no reconnection or history (the recovery scenario is not supported)")
	}
	for _, r := range o.Rooms {
		if err := checkFloorRoom(r); err != nil {
			return nil, err
		}
	}
	if f.subs == "" {
		return nil, errors.New("floor: Setup was not called")
	}
	ws, err := wsclient.Dial(ctx, f.subs, wsclient.Options{Dialer: leanDialer(o), BufSize: leanBufSize})
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	if err := ws.Within(ctx, func() error { return floorRegistered(ws) }); err != nil {
		ws.Close()
		return nil, fmt.Errorf("floor: waiting for registration: %w", err)
	}
	fc := &floorConn{ws: ws, o: o, done: make(chan struct{})}
	fc.read()
	return fc, nil
}

// floorRegistered reads the server's first message, which must be an empty text frame.
func floorRegistered(ws *wsclient.Conn) error {
	op, msg, err := ws.Next()
	if err != nil {
		return err
	}
	if op != wsclient.OpText || len(msg) != 0 {
		return fmt.Errorf("first message (opcode %d) %q, want an empty text frame", op, truncate(msg))
	}
	return nil
}

// read hands the connection to its reader (wsclient's Go: a poller where there is one).
func (fc *floorConn) read() {
	fc.ws.Go(func(op byte, msg []byte) bool {
		if op == wsclient.OpText && fc.o.OnMessage != nil {
			fc.o.OnMessage(msg, nil)
		}
		return true
	}, func(err error) {
		fc.ws.Close()
		if !fc.closing.Load() && fc.o.OnDisconnect != nil {
			reason := "transport error"
			var ce *wsclient.CloseError
			if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &ce) {
				reason = "transport close"
			}
			fc.o.OnDisconnect(reason)
		}
		close(fc.done)
	})
}

// Close sends a close frame and closes the connection without waiting for an answer (the server
// sends none: it notices at its next write); Done is closed when the reader has ended.
// OnDisconnect is not called.
func (fc *floorConn) Close() error {
	if !fc.closing.CompareAndSwap(false, true) {
		return nil
	}
	fc.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	fc.ws.WriteClose(wsclient.StatusNormal)
	fc.ws.Close() // (an error: the reader had ended, and closed it)
	return nil
}

func (fc *floorConn) Done() <-chan struct{} { return fc.done }

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
)

// floorTarget drives bench/cmd/floor-server (package bench/internal/floor), the cheapest fan-out
// server we can write: subscribers connect over plain TCP, get an empty line once registered and
// then one line per message (the payload); publishes are POST /publish with the payload as the
// body. --url is the publish API; GET /health tells where subscribers connect. One room (all),
// no event names, no reconnection.
type floorTarget struct {
	o    Options
	http *http.Client
	subs string // the subscribers' host:port, from /health
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

// Setup reads the subscribers' address from GET /health ({"listen": host:port}); an unspecified
// host (0.0.0.0, ::) means --url's. It must be a loopback address, as --url.
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
		Listen string `json:"listen"`
	}
	if err := json.Unmarshal(b, &h); err != nil || h.Listen == "" {
		return fmt.Errorf("floor /health: no subscriber address in %q", truncate(b))
	}
	host, port, err := net.SplitHostPort(h.Listen)
	if err != nil {
		return fmt.Errorf("floor /health: listen %q: %w", h.Listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = req.URL.Hostname()
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("floor: subscriber address %s is not a loopback address", h.Listen)
	}
	f.subs = net.JoinHostPort(host, port)
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

// floorConn is one subscriber: one reader goroutine, one read buffer (4 KiB, grown only for a
// line longer than that), lines handed to OnMessage in place.
type floorConn struct {
	c          net.Conn
	o          DialOptions
	buf        []byte
	start, end int // unread bytes: buf[start:end]
	done       chan struct{}
	closing    atomic.Bool
}

// Dial connects from o's source address and returns once the server registered the subscriber
// (its first line, empty, has arrived); what arrived after it is delivered by the reader.
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
	c, err := leanDialer(o).DialContext(ctx, "tcp", f.subs)
	if err != nil {
		return nil, err
	}
	fc := &floorConn{c: c, o: o, buf: make([]byte, leanBufSize), done: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	for {
		if i := bytes.IndexByte(fc.buf[:fc.end], '\n'); i >= 0 {
			fc.start = i + 1
			break
		}
		if fc.end == len(fc.buf) {
			err = errors.New("no newline")
		} else {
			var n int
			n, err = c.Read(fc.buf[fc.end:])
			fc.end += n
		}
		if err != nil {
			stop()
			c.Close()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("floor: waiting for the registration line: %w", err)
		}
	}
	if !stop() { // the deadline may be set, or about to be: give up as ctx did
		c.Close()
		return nil, fmt.Errorf("floor: waiting for registration: %w", ctx.Err())
	}
	go fc.read()
	return fc, nil
}

// read is the reader goroutine: it splits lines and hands each non-empty one to OnMessage.
func (fc *floorConn) read() {
	defer close(fc.done)
	for {
		fc.dispatch()
		if fc.end == len(fc.buf) {
			if fc.start == 0 { // one line fills the buffer: grow it
				fc.buf = append(fc.buf, make([]byte, len(fc.buf))...)
			} else {
				fc.end = copy(fc.buf, fc.buf[fc.start:fc.end])
				fc.start = 0
			}
		}
		n, err := fc.c.Read(fc.buf[fc.end:])
		fc.end += n
		if err != nil {
			fc.dispatch()
			fc.c.Close()
			if !fc.closing.Load() && fc.o.OnDisconnect != nil {
				reason := "transport error"
				if errors.Is(err, io.EOF) {
					reason = "transport close"
				}
				fc.o.OnDisconnect(reason)
			}
			return
		}
	}
}

// dispatch hands the complete lines of buf[start:end] to OnMessage and keeps the rest.
func (fc *floorConn) dispatch() {
	for {
		i := bytes.IndexByte(fc.buf[fc.start:fc.end], '\n')
		if i < 0 {
			break
		}
		line := fc.buf[fc.start : fc.start+i]
		fc.start += i + 1
		if len(line) > 0 && fc.o.OnMessage != nil {
			fc.o.OnMessage(line, nil)
		}
	}
	if fc.start == fc.end {
		fc.start, fc.end = 0, 0
	}
}

// Close closes the connection (the server notices at its next write); Done is closed when the
// reader has ended. OnDisconnect is not called.
func (fc *floorConn) Close() error {
	if !fc.closing.CompareAndSwap(false, true) {
		return nil
	}
	return fc.c.Close()
}

func (fc *floorConn) Done() <-chan struct{} { return fc.done }

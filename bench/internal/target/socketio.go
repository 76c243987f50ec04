package target

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// socketIO drives the Frappe-shaped Socket.IO Node server of bench/peers/socketio: subscribers
// are Socket.IO clients joining Frappe's rooms (the same client as for livedoc), publishes go
// through Redis, as Frappe's publish_realtime does: PUBLISH events
// {"event", "message", "room", "namespace"}.
type socketIO struct {
	o     Options
	redis chan *respConn // idle Redis connections
}

func newSocketIO(o Options) (*socketIO, error) {
	if o.URL == "" {
		return nil, errors.New("socketio: --url is required")
	}
	if o.Redis == "" {
		return nil, errors.New("socketio: --redis host:port is required (the server's Redis)")
	}
	if o.Namespace == "" {
		o.Namespace = "/livedoc"
	}
	return &socketIO{o: o, redis: make(chan *respConn, 64)}, nil
}

func (s *socketIO) Name() string        { return "socketio" }
func (s *socketIO) DefaultRoom() string { return "all" }
func (s *socketIO) IdleRoom() string    { return "doctype:" + BenchDocType }

// Setup checks that Redis answers and that the server has a subscriber on `events`.
func (s *socketIO) Setup(ctx context.Context) error {
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	n, err := c.do(ctx, "PUBSUB", "NUMSUB", "events")
	if err != nil {
		c.close()
		return fmt.Errorf("socketio: redis: %w", err)
	}
	s.put(c)
	if !strings.Contains(n, "events") {
		return fmt.Errorf("socketio: unexpected PUBSUB answer %q", n)
	}
	return nil
}

func (s *socketIO) Dial(ctx context.Context, o DialOptions) (Conn, error) {
	auth := map[string]any{}
	if s.o.Token != "" {
		auth["token"] = s.o.Token
	}
	return frappeDial(ctx, s.o.URL, s.o.Namespace, auth, o)
}

// Publish sends {event, message, room, namespace} on the Redis channel `events`.
func (s *socketIO) Publish(ctx context.Context, event, room string, payload []byte) error {
	var b bytes.Buffer
	b.WriteString(`{"event":`)
	writeJSONString(&b, event)
	b.WriteString(`,"room":`)
	writeJSONString(&b, room)
	b.WriteString(`,"namespace":`)
	writeJSONString(&b, strings.TrimPrefix(s.o.Namespace, "/"))
	b.WriteString(`,"message":`)
	b.Write(payload)
	b.WriteString(`}`)
	c, err := s.conn(ctx)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, "PUBLISH", "events", b.String()); err != nil {
		c.close()
		return err
	}
	s.put(c)
	return nil
}

func (s *socketIO) conn(ctx context.Context) (*respConn, error) {
	select {
	case c := <-s.redis:
		return c, nil
	default:
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", s.o.Redis)
	if err != nil {
		return nil, err
	}
	return &respConn{c: nc, r: bufio.NewReader(nc)}, nil
}

func (s *socketIO) put(c *respConn) {
	select {
	case s.redis <- c:
	default:
		c.close()
	}
}

// respConn is one Redis connection speaking just enough RESP for PUBLISH and PUBSUB.
type respConn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

func (c *respConn) close() { c.c.Close() }

// do sends a command and returns its reply flattened to text (arrays joined by spaces).
func (c *respConn) do(ctx context.Context, args ...string) (string, error) {
	b := c.buf[:0]
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	c.buf = b
	if dl, ok := ctx.Deadline(); ok {
		c.c.SetDeadline(dl)
	} else {
		c.c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	if _, err := c.c.Write(b); err != nil {
		return "", err
	}
	return c.reply()
}

func (c *respConn) reply() (string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("redis: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New("redis: " + line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		p := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, p); err != nil {
			return "", err
		}
		return string(p[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := c.reply()
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, " "), nil
	}
	return "", fmt.Errorf("redis: unexpected reply %q", line)
}

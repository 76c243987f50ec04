package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/livedoc/livedoc/realtime/client"
)

// livedoc drives a livedoc server: Socket.IO subscribers with token auth, publishes through
// POST /api/realtime/publish (after-commit: logged in SQLite, then fanned out).
type livedoc struct {
	o     Options
	token string
	http  *http.Client // for the REST API (publishes), with a pool of keep-alive connections
}

func newLivedoc(o Options) (*livedoc, error) {
	if o.URL == "" {
		return nil, errors.New("livedoc: --url is required")
	}
	if o.Token == "" && o.AdminPassword == "" {
		return nil, errors.New("livedoc: --admin-password or --token is required")
	}
	if o.Namespace == "" {
		o.Namespace = "/livedoc"
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256, IdleConnTimeout: time.Minute}
	return &livedoc{o: o, token: o.Token, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

func (l *livedoc) Name() string        { return "livedoc" }
func (l *livedoc) DefaultRoom() string { return "all" }

// Setup logs in as Administrator and generates an API key pair unless --token was given, then
// checks the token.
func (l *livedoc) Setup(ctx context.Context) error {
	if l.token == "" {
		var login struct {
			CSRF string `json:"csrf_token"`
		}
		resp, err := l.post(ctx, "/api/method/login", nil,
			map[string]any{"usr": "Administrator", "pwd": l.o.AdminPassword}, &login)
		if err != nil {
			return fmt.Errorf("livedoc login: %w", err)
		}
		var sid string
		for _, c := range resp.Cookies() {
			if c.Name == "sid" {
				sid = c.Value
			}
		}
		if sid == "" {
			return errors.New("livedoc login: no sid cookie in the answer")
		}
		h := http.Header{"Cookie": {"sid=" + sid}, "X-Frappe-Csrf-Token": {login.CSRF}}
		var keys struct {
			Message struct {
				Key    string `json:"api_key"`
				Secret string `json:"api_secret"`
			} `json:"message"`
		}
		if _, err := l.post(ctx, "/api/method/frappe.core.doctype.user.user.generate_keys", h,
			map[string]any{"user": "Administrator"}, &keys); err != nil {
			return fmt.Errorf("livedoc generate_keys: %w", err)
		}
		if keys.Message.Key == "" || keys.Message.Secret == "" {
			return errors.New("livedoc generate_keys: no key in the answer")
		}
		l.token = keys.Message.Key + ":" + keys.Message.Secret
	}
	var who struct {
		Message string `json:"message"`
	}
	if _, err := l.get(ctx, "/api/method/frappe.auth.get_logged_user", &who); err != nil {
		return fmt.Errorf("livedoc: checking the token: %w", err)
	}
	return nil
}

func (l *livedoc) authHeader() http.Header {
	return http.Header{"Authorization": {"token " + l.token}}
}

func (l *livedoc) post(ctx context.Context, path string, h http.Header, body any, out any) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(l.o.URL, "/")+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return l.do(req, out)
}

func (l *livedoc) get(ctx context.Context, path string, out any) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(l.o.URL, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	if l.token != "" {
		req.Header = l.authHeader()
	}
	req.Header.Set("Accept", "application/json")
	return l.do(req, out)
}

func (l *livedoc) do(req *http.Request, out any) (*http.Response, error) {
	resp, err := l.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		if len(b) > 300 {
			b = b[:300]
		}
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return resp, nil
}

// Publish posts {event, room, message} to /api/realtime/publish (an after-commit publish: logged,
// then fanned out).
func (l *livedoc) Publish(ctx context.Context, event, room string, payload []byte) error {
	var b bytes.Buffer
	b.Grow(len(payload) + len(event) + len(room) + 40)
	b.WriteString(`{"event":`)
	writeJSONString(&b, event)
	b.WriteString(`,"room":`)
	writeJSONString(&b, room)
	b.WriteString(`,"message":`)
	b.Write(payload)
	b.WriteString(`}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(l.o.URL, "/")+"/api/realtime/publish", &b)
	if err != nil {
		return err
	}
	req.Header = l.authHeader()
	req.Header.Set("Content-Type", "application/json")
	_, err = l.do(req, nil)
	return err
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}

// Dial connects one Socket.IO client (WebSocket, token in the CONNECT auth) and joins o.Rooms:
// "all" (automatic for a System User), "doctype:<DocType>" (doctype_subscribe) or
// "doc:<DocType>/<name>" (doc_subscribe), each acknowledged.
func (l *livedoc) Dial(ctx context.Context, o DialOptions) (Conn, error) {
	opts := client.Options{URL: l.o.URL, Namespace: l.o.Namespace, Auth: map[string]any{"token": l.token}}
	if o.Transport != nil {
		opts.HTTPClient = o.Transport.HTTPClient(o.Index)
	}
	c, err := client.New(opts)
	if err != nil {
		return nil, err
	}
	if o.OnMessage != nil {
		on := o.OnMessage
		c.On(o.Event, func(args []json.RawMessage) {
			switch len(args) {
			case 0:
			case 1:
				on(args[0], nil)
			default:
				on(args[0], args[len(args)-1]) // the log offset, a JSON string
			}
		})
	}
	if o.OnDisconnect != nil {
		c.OnDisconnect(o.OnDisconnect)
	}
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	for _, room := range o.Rooms {
		var event string
		var args []any
		switch {
		case room == "all" || strings.HasPrefix(room, "user:") || room == "website":
			continue // joined on connect
		case strings.HasPrefix(room, "doctype:"):
			event, args = "doctype_subscribe", []any{strings.TrimPrefix(room, "doctype:")}
		case strings.HasPrefix(room, "doc:"):
			dt, dn, ok := strings.Cut(strings.TrimPrefix(room, "doc:"), "/")
			if !ok {
				c.Close()
				return nil, fmt.Errorf("room %q: want doc:<DocType>/<name>", room)
			}
			event, args = "doc_subscribe", []any{dt, dn}
		default:
			c.Close()
			return nil, fmt.Errorf("room %q: livedoc subscribers can join all, doctype:<DocType> or doc:<DocType>/<name>", room)
		}
		ack, err := c.EmitWithAck(ctx, event, args...)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", event, err)
		}
		if len(ack) == 0 || !bytes.Contains(ack[0], []byte(`"ok":true`)) {
			c.Close()
			return nil, fmt.Errorf("%s %v refused: %s", event, args, ack)
		}
	}
	return c, nil
}

// Metrics scrapes /metrics: the unlabelled samples (go_memstats_*, livedoc_realtime_* counters).
func (l *livedoc) Metrics(ctx context.Context) (map[string]float64, error) {
	u, err := url.JoinPath(l.o.URL, "/metrics")
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			m[k] = f
		}
	}
	return m, nil
}

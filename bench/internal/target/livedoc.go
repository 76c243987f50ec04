package target

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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
// POST /api/realtime/publish (after-commit: logged in the database, then fanned out). With
// Options.WriteURL (another node of a cluster), the setup, publishes and saves go to that node
// while the subscribers connect to URL: every event they get crossed the cluster's bus.
type livedoc struct {
	o     Options
	token string // the Administrator's (or --token's): publishes and setup
	// userToken is the bench's own user's (role BenchRole only): subscribers and writers use it,
	// so that the permission checks of a real user are part of what is measured.
	userToken string
	http      *http.Client // for the REST API (publishes), with a pool of keep-alive connections
}

// The DocType, role and user livedoc-bench creates for itself through the REST API.
const (
	BenchDocType = "Livedoc Bench Note"
	BenchRole    = "Livedoc Bench"
	BenchUser    = "livedoc-bench@example.com"
)

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

// writeBase is where the REST calls go: WriteURL, or URL.
func (l *livedoc) writeBase() string {
	if l.o.WriteURL != "" {
		return strings.TrimSuffix(l.o.WriteURL, "/")
	}
	return strings.TrimSuffix(l.o.URL, "/")
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
	return l.setupBench(ctx)
}

// setupBench creates (when missing) the bench's DocType, readable, writable and deletable by BenchRole, and
// the System User BenchUser with that role only, and generates an API key for that user.
func (l *livedoc) setupBench(ctx context.Context) error {
	h := l.authHeader()
	dt := map[string]any{"name": BenchDocType, "autoname": "hash",
		"fields": []any{
			map[string]any{"fieldname": "title", "fieldtype": "Data"},
			map[string]any{"fieldname": "counter", "fieldtype": "Int"},
		},
		"permissions": []any{
			map[string]any{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
			map[string]any{"role": BenchRole, "read": 1, "write": 1, "create": 1, "delete": 1},
		}}
	if _, err := l.post(ctx, "/api/resource/DocType", h, dt, nil); err != nil && !isDuplicate(err) {
		return fmt.Errorf("livedoc: creating DocType %s: %w", BenchDocType, err)
	}
	user := map[string]any{"email": BenchUser, "first_name": "livedoc-bench",
		"new_password": randomHex(16), "roles": []any{map[string]any{"role": BenchRole}}}
	if _, err := l.post(ctx, "/api/resource/User", h, user, nil); err != nil && !isDuplicate(err) {
		return fmt.Errorf("livedoc: creating user %s: %w", BenchUser, err)
	}
	var keys struct {
		Message struct {
			Key    string `json:"api_key"`
			Secret string `json:"api_secret"`
		} `json:"message"`
	}
	if _, err := l.post(ctx, "/api/method/frappe.core.doctype.user.user.generate_keys", h,
		map[string]any{"user": BenchUser}, &keys); err != nil {
		return fmt.Errorf("livedoc generate_keys for %s: %w", BenchUser, err)
	}
	if keys.Message.Key == "" || keys.Message.Secret == "" {
		return errors.New("livedoc generate_keys: no key in the answer")
	}
	l.userToken = keys.Message.Key + ":" + keys.Message.Secret
	return nil
}

func isDuplicate(err error) bool {
	return strings.Contains(err.Error(), "409") || strings.Contains(err.Error(), "DuplicateEntryError")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// IdleRoom is the room idle connections subscribe to: the bench DocType's list.
func (l *livedoc) IdleRoom() string { return "doctype:" + BenchDocType }

// PrepareDocs inserts n documents of the bench DocType as the bench user.
func (l *livedoc) PrepareDocs(ctx context.Context, n int) ([]SavedDoc, string, error) {
	h := http.Header{"Authorization": {"token " + l.userToken}}
	docs := make([]SavedDoc, n)
	for i := range docs {
		var out struct {
			Data struct {
				Name string `json:"name"`
			} `json:"data"`
		}
		if _, err := l.post(ctx, "/api/resource/"+url.PathEscape(BenchDocType), h,
			map[string]any{"title": fmt.Sprintf("bench %d", i), "counter": 0}, &out); err != nil {
			return nil, "", fmt.Errorf("livedoc: inserting a %s: %w", BenchDocType, err)
		}
		docs[i] = SavedDoc{Name: out.Data.Name, Room: "doc:" + BenchDocType + "/" + out.Data.Name}
	}
	return docs, "doctype:" + BenchDocType, nil
}

// Save PUTs {counter} to the document as the bench user: one transaction, committed before the
// answer, whose after-commit doc_update and list_update carry the new modified.
func (l *livedoc) Save(ctx context.Context, d SavedDoc, counter int64) (time.Time, error) {
	body := []byte(`{"counter":` + strconv.FormatInt(counter, 10) + `}`)
	var out struct {
		Data struct {
			Modified string `json:"modified"`
		} `json:"data"`
	}
	if _, err := l.send(ctx, http.MethodPut, l.writeBase(), l.docPath(d.Name), body, &out); err != nil {
		return time.Time{}, err
	}
	return ParseStamp(out.Data.Modified), nil
}

// UpdateEvents: Frappe's events for a committed save.
func (l *livedoc) UpdateEvents() (string, string) { return "doc_update", "list_update" }

// ParseUpdate reads doc_update {doctype, name, modified} and list_update {doctype, name, user}.
func (l *livedoc) ParseUpdate(event string, payload []byte) (string, time.Time, bool) {
	return nameAndStamp(payload, "name", "modified")
}

func (l *livedoc) authHeader() http.Header {
	return http.Header{"Authorization": {"token " + l.token}}
}

func (l *livedoc) post(ctx context.Context, path string, h http.Header, body any, out any) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.writeBase()+path, bytes.NewReader(b))
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.writeBase()+path, nil)
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
	if resp.StatusCode/100 != 2 { // DELETE answers 202, as Frappe's
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.writeBase()+"/api/realtime/publish", &b)
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
	tok := l.userToken
	if tok == "" {
		tok = l.token
	}
	return frappeDial(ctx, l.o.URL, l.o.Namespace, map[string]any{"token": tok}, o)
}

// frappeDial connects a Socket.IO client that speaks Frappe's realtime events (livedoc and the
// Frappe-shaped Socket.IO peer) and joins o.Rooms with acknowledged subscriptions: the lean
// subscriber of lean.go, or with o.Reconnect livedoc's full client (realtime/client), which
// implements reconnection and connection-state recovery.
func frappeDial(ctx context.Context, base, namespace string, auth map[string]any, o DialOptions) (Conn, error) {
	if !o.Reconnect {
		return leanDial(ctx, base, namespace, auth, o)
	}
	if len(o.Calls) > 0 {
		return nil, errors.New("calls after the subscriptions need the lean subscriber (no Reconnect)")
	}
	opts := client.Options{URL: base, Namespace: namespace, Auth: auth, Reconnect: o.Reconnect}
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
	if o.OnEvent != nil {
		on := o.OnEvent
		for _, ev := range o.Events {
			c.On(ev, func(args []json.RawMessage) {
				if len(args) > 0 {
					on(ev, args[0])
				}
			})
		}
	}
	if o.OnDisconnect != nil {
		c.OnDisconnect(o.OnDisconnect)
	}
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	if o.OnReconnect != nil {
		c.OnConnect(o.OnReconnect) // after Connect: only the reconnections
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
			return nil, fmt.Errorf("room %q: subscribers can join all, doctype:<DocType> or doc:<DocType>/<name>", room)
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

// Metrics scrapes /metrics: every sample, a labelled one named with its label values appended
// (livedoc_realtime_live_list_updates_total{how="read"} is ..._total_read).
// On the public port livedoc serves them to System Managers only, so the request carries the
// setup's token (the Administrator's unless --token named someone else).
func (l *livedoc) Metrics(ctx context.Context) (map[string]float64, error) {
	u, err := url.JoinPath(l.o.URL, "/metrics")
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header = l.authHeader()
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
		if strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if name, labels, found := strings.Cut(k, "{"); found {
			k, v, ok = name, "", false
			for _, l := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
				_, val, _ := strings.Cut(l, "=")
				k += "_" + strings.Trim(val, `"`)
			}
			if i := strings.LastIndex(line, "} "); i >= 0 {
				v, ok = strings.TrimSpace(line[i+2:]), true
			}
		}
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			m[k] = f
		}
	}
	return m, nil
}

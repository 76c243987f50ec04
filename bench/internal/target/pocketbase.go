package target

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/livedoc/livedoc/bench/internal/jscan"
)

// pocketbase drives a PocketBase server (bench/peers/pocketbase) for save-to-screen and idle:
// subscribers are realtime SSE clients (GET /api/realtime, then POST /api/realtime with their
// subscriptions "<collection>/<id>" and "<collection>"), writers PATCH records through the REST
// API as a regular user. Setup, as a superuser (--admin-password, email bench@example.com),
// creates the collection and that user. PocketBase has no publish API: fanout does not apply.
type pocketbase struct {
	o        Options
	http     *http.Client
	adminTok string
	userTok  string
}

// PocketBase names of the bench's collection and user.
const (
	pbCollection = "livedoc_bench_notes"
	pbSuperuser  = "bench@example.com"
	pbUser       = "livedoc-bench@example.com"
)

func newPocketBase(o Options) (*pocketbase, error) {
	if o.URL == "" {
		return nil, errors.New("pocketbase: --url is required")
	}
	if o.AdminPassword == "" {
		return nil, errors.New("pocketbase: --admin-password (of superuser bench@example.com) is required")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256, IdleConnTimeout: time.Minute}
	return &pocketbase{o: o, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

func (p *pocketbase) Name() string        { return "pocketbase" }
func (p *pocketbase) DefaultRoom() string { return pbCollection }
func (p *pocketbase) IdleRoom() string    { return pbCollection }

func (p *pocketbase) call(ctx context.Context, method, path, tok string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(p.o.URL, "/")+path, rd)
	if err != nil {
		return err
	}
	if tok != "" {
		req.Header.Set("Authorization", tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		if len(b) > 300 {
			b = b[:300]
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Setup authenticates the superuser, creates the collection (records readable and writable by
// any authenticated user) and a regular user, and authenticates that user.
func (p *pocketbase) Setup(ctx context.Context) error {
	var auth struct {
		Token string `json:"token"`
	}
	if err := p.call(ctx, "POST", "/api/collections/_superusers/auth-with-password", "",
		map[string]any{"identity": pbSuperuser, "password": p.o.AdminPassword}, &auth); err != nil {
		return fmt.Errorf("pocketbase superuser: %w", err)
	}
	p.adminTok = auth.Token
	rule := `@request.auth.id != ""`
	coll := map[string]any{"name": pbCollection, "type": "base",
		"listRule": rule, "viewRule": rule, "createRule": rule, "updateRule": rule,
		"fields": []any{
			map[string]any{"name": "title", "type": "text"},
			map[string]any{"name": "counter", "type": "number"},
			map[string]any{"name": "created", "type": "autodate", "onCreate": true},
			map[string]any{"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true},
		}}
	if err := p.call(ctx, "POST", "/api/collections", p.adminTok, coll, nil); err != nil && !strings.Contains(err.Error(), "unique") {
		return fmt.Errorf("pocketbase: creating collection %s: %w", pbCollection, err)
	}
	pw := randomHex(12)
	user := map[string]any{"email": pbUser, "password": pw, "passwordConfirm": pw, "verified": true}
	var rec struct {
		ID string `json:"id"`
	}
	if err := p.call(ctx, "POST", "/api/collections/users/records", p.adminTok, user, &rec); err != nil {
		// Exists from an earlier run: set a new password.
		var list struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		if err2 := p.call(ctx, "GET", "/api/collections/users/records?filter="+urlQuery(`email="`+pbUser+`"`), p.adminTok, nil, &list); err2 != nil || len(list.Items) == 0 {
			return fmt.Errorf("pocketbase: creating user: %w", err)
		}
		if err := p.call(ctx, "PATCH", "/api/collections/users/records/"+list.Items[0].ID, p.adminTok,
			map[string]any{"password": pw, "passwordConfirm": pw}, nil); err != nil {
			return fmt.Errorf("pocketbase: updating user: %w", err)
		}
	}
	if err := p.call(ctx, "POST", "/api/collections/users/auth-with-password", "",
		map[string]any{"identity": pbUser, "password": pw}, &auth); err != nil {
		return fmt.Errorf("pocketbase user auth: %w", err)
	}
	p.userTok = auth.Token
	return nil
}

func urlQuery(s string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", "=", "%3D", "@", "%40")
	return r.Replace(s)
}

func (p *pocketbase) Publish(ctx context.Context, event, room string, payload []byte) error {
	return errors.New("pocketbase has no publish API (save-to-screen and idle only)")
}

// PrepareDocs creates n records as the bench user.
func (p *pocketbase) PrepareDocs(ctx context.Context, n int) ([]SavedDoc, string, error) {
	docs := make([]SavedDoc, n)
	for i := range docs {
		var rec struct {
			ID string `json:"id"`
		}
		if err := p.call(ctx, "POST", "/api/collections/"+pbCollection+"/records", p.userTok,
			map[string]any{"title": fmt.Sprintf("bench %d", i), "counter": 0}, &rec); err != nil {
			return nil, "", fmt.Errorf("pocketbase: creating a record: %w", err)
		}
		docs[i] = SavedDoc{Name: rec.ID, Room: pbCollection + "/" + rec.ID}
	}
	return docs, pbCollection, nil
}

// Save PATCHes {counter}; the answer is the committed record with its updated stamp.
func (p *pocketbase) Save(ctx context.Context, d SavedDoc, counter int64) (time.Time, error) {
	var rec struct {
		Updated string `json:"updated"`
	}
	if err := p.call(ctx, "PATCH", "/api/collections/"+pbCollection+"/records/"+d.Name, p.userTok,
		map[string]any{"counter": counter}, &rec); err != nil {
		return time.Time{}, err
	}
	return ParseStamp(rec.Updated), nil
}

// UpdateEvents: the SSE event names are the subscription topics; Dial renames them "doc"
// (<collection>/<id>) and "list" (<collection>).
func (p *pocketbase) UpdateEvents() (string, string) { return "doc", "list" }

func (p *pocketbase) ParseUpdate(event string, payload []byte) (string, time.Time, bool) {
	rec, ok := jscan.Field(payload, "record")
	if !ok {
		return "", time.Time{}, false
	}
	return nameAndStamp(rec, "id", "updated")
}

// pbConn is one SSE subscriber.
type pbConn struct {
	resp    *http.Response
	done    chan struct{}
	closing atomic.Bool
}

func (c *pbConn) Close() error {
	c.closing.Store(true)
	return c.resp.Body.Close()
}
func (c *pbConn) Done() <-chan struct{} { return c.done }

// Dial opens GET /api/realtime, reads PB_CONNECT's clientId, then subscribes to o.Rooms (topics)
// with the user's token and returns once PocketBase accepted them.
func (p *pocketbase) Dial(ctx context.Context, o DialOptions) (Conn, error) {
	hc := &http.Client{Transport: p.http.Transport} // no timeout: the stream lasts
	if o.Transport != nil {
		hc = o.Transport.HTTPClient(o.Index)
	}
	req, err := http.NewRequest("GET", strings.TrimSuffix(p.o.URL, "/")+"/api/realtime", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	type result struct {
		resp *http.Response
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		resp, err := hc.Do(req)
		ch <- result{resp, err}
	}()
	var resp *http.Response
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		resp = r.resp
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET /api/realtime: %s", resp.Status)
	}
	c := &pbConn{resp: resp, done: make(chan struct{})}
	clientID := make(chan string, 1)
	docEv, listEv := p.UpdateEvents()
	go func() {
		defer close(c.done)
		rd := bufio.NewReaderSize(resp.Body, 4096)
		var event string
		var data []byte
		for {
			line, err := rd.ReadSlice('\n')
			if err != nil {
				if !c.closing.Load() && o.OnDisconnect != nil {
					o.OnDisconnect(err.Error())
				}
				return
			}
			line = bytes.TrimRight(line, "\r\n")
			switch {
			case len(line) == 0:
				if event == "PB_CONNECT" {
					var m struct {
						ClientID string `json:"clientId"`
					}
					json.Unmarshal(data, &m)
					clientID <- m.ClientID
				} else if event != "" && o.OnEvent != nil {
					ev := docEv
					if !strings.Contains(event, "/") {
						ev = listEv
					}
					o.OnEvent(ev, data)
				}
				event, data = "", data[:0]
			case bytes.HasPrefix(line, []byte("event:")):
				event = string(bytes.TrimSpace(line[6:]))
			case bytes.HasPrefix(line, []byte("data:")):
				data = append(data, bytes.TrimSpace(line[5:])...)
			}
		}
	}()
	var id string
	select {
	case id = <-clientID:
	case <-c.done:
		return nil, errors.New("pocketbase realtime: closed before PB_CONNECT")
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
	topics := make([]string, 0, len(o.Rooms))
	for _, r := range o.Rooms {
		topics = append(topics, strings.TrimPrefix(strings.TrimPrefix(r, "doc:"), "doctype:"))
	}
	body := map[string]any{"clientId": id, "subscriptions": topics}
	b, _ := json.Marshal(body)
	sreq, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(p.o.URL, "/")+"/api/realtime", bytes.NewReader(b))
	if err != nil {
		c.Close()
		return nil, err
	}
	sreq.Header.Set("Content-Type", "application/json")
	sreq.Header.Set("Authorization", p.userTok)
	sresp, err := hc.Do(sreq)
	if err != nil {
		c.Close()
		return nil, err
	}
	io.Copy(io.Discard, sresp.Body)
	sresp.Body.Close()
	if sresp.StatusCode/100 != 2 {
		c.Close()
		return nil, fmt.Errorf("POST /api/realtime: %s", sresp.Status)
	}
	return c, nil
}

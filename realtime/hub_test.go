package realtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/examples/invoice"
	"github.com/livedoc/livedoc/realtime"
	"github.com/livedoc/livedoc/realtime/client"
	"github.com/livedoc/livedoc/store/storetest"
)

type node struct {
	app *livedoc.App
	srv *http.Server
	url string
}

// startNode serves a livedoc App on addr ("" for a free port) over the database dsn.
func startNode(t *testing.T, dsn, addr string) *node {
	t.Helper()
	ctx := context.Background()
	app, err := livedoc.New(ctx, livedoc.Config{DataDir: t.TempDir(), Database: dsn, AdminPassword: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if err := invoice.Register(ctx, app, nil); err != nil {
		t.Fatal(err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: app.Handler()}
	go srv.Serve(ln)
	return &node{app: app, srv: srv, url: "http://" + ln.Addr().String()}
}

// kill drops the node without a graceful shutdown: connections cut, nothing flushed.
func (n *node) kill() { n.srv.Close() }

func (n *node) token(t *testing.T, user string) string {
	t.Helper()
	var tok string
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		key, secret, err := n.app.Auth.GenerateKeys(c, user)
		tok = key + ":" + secret
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// define creates (or changes) a DocType from its JSON.
func (n *node) define(t *testing.T, js string) {
	t.Helper()
	dt, err := doc.ParseDocType([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.app.DocTypes(context.Background(), dt); err != nil {
		t.Fatal(err)
	}
}

// update changes a document as the Administrator.
func (n *node) update(t testing.TB, doctype, name string, values map[string]any) {
	t.Helper()
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Update(doctype, name, values)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (n *node) insert(t *testing.T, d doc.Doc) doc.Doc {
	t.Helper()
	var out doc.Doc
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		var err error
		out, err = c.Insert(d)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// collector gathers one event's messages from a client.
type collector struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func collect(c *client.Client, event string) *collector {
	col := &collector{}
	c.On(event, func(args []json.RawMessage) {
		var m map[string]any
		_ = json.Unmarshal(args[0], &m)
		col.mu.Lock()
		col.msgs = append(col.msgs, m)
		col.mu.Unlock()
	})
	return col
}

func (col *collector) waitFor(t *testing.T, n int, within time.Duration) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		col.mu.Lock()
		got := append([]map[string]any(nil), col.msgs...)
		col.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d events within %v, want %d", len(got), within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dial(t *testing.T, url, token string, reconnect bool) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{URL: url, Namespace: "/livedoc", Auth: map[string]any{"token": token}, Reconnect: reconnect})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func connect(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
}

func subscribe(t *testing.T, c *client.Client, event string, args ...any) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.EmitWithAck(ctx, event, args...)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(res[0], &m)
	return m
}

// A node stops delivering (its listener and sockets cut) and commits events its client never
// receives; a new process over the same data restores the client's session from the database and
// replays every one of them.
func TestReplayAfterCrash(t *testing.T) {
	dsn := storetest.DSN(t)
	a := startNode(t, dsn, "")
	tok := a.token(t, doc.Administrator)
	a.insert(t, doc.Doc{"doctype": "Customer", "customer_name": "ACME"})
	c := dial(t, a.url, tok, true)
	updates := collect(c, "list_update")
	recovered := make(chan bool, 4)
	c.OnConnect(func(r bool) { recovered <- r })
	connect(t, c)
	<-recovered
	if ack := subscribe(t, c, "doctype_subscribe", "Invoice"); ack["ok"] != true {
		t.Fatalf("subscribe: %v", ack)
	}
	a.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"})
	updates.waitFor(t, 1, 2*time.Second)
	waitSessionSaved(t, a, c.PID())

	a.kill()               // no new connections
	a.app.Realtime.Close() // and the open socket is cut: the client retries, refused, with backoff
	var names []string
	for range 5 {
		names = append(names, a.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"}).Name())
	}
	addr := strings.TrimPrefix(a.url, "http://")
	b := startNode(t, dsn, addr) // a new process over the same data, on the same address
	defer b.app.Close()
	defer a.app.Close()
	select {
	case r := <-recovered:
		if !r {
			t.Fatal("the reconnect after the crash was not recovered")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the client did not reconnect")
	}
	got := updates.waitFor(t, 6, 3*time.Second)
	for i, name := range names {
		if got[i+1]["name"] != name {
			t.Fatalf("replayed %v, want %v after the first", got, names)
		}
	}
	// And live events flow again on the new node.
	b.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"})
	updates.waitFor(t, 7, 2*time.Second)
}

func waitSessionSaved(t *testing.T, n *node, pid string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var count int
		_ = n.app.Engine.Run(context.Background(), doc.AdminUser, false, func(c *doc.Context) error {
			return c.Tx.QueryRow(c, "SELECT count(*) FROM __rt_sessions WHERE pid = ? AND rooms LIKE '%doctype:Invoice%'", pid).Scan(&count)
		})
		if count == 1 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the session was not saved")
}

// Losing a role takes a user's sockets out of the rooms it gave access to.
func TestLostPermissionLeavesRooms(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "User", "email": "acc@example.com", "first_name": "Acc",
			"roles": []any{map[string]any{"role": "Accounts User"}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	n.insert(t, doc.Doc{"doctype": "Customer", "customer_name": "ACME"})
	c := dial(t, n.url, n.token(t, "acc@example.com"), false)
	updates := collect(c, "list_update")
	errs := collect(c, "livedoc_error")
	connect(t, c)
	if ack := subscribe(t, c, "doctype_subscribe", "Invoice"); ack["ok"] != true {
		t.Fatalf("subscribe: %v", ack)
	}
	n.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"})
	updates.waitFor(t, 1, 2*time.Second)
	err = n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Update("User", "acc@example.com", map[string]any{"roles": []any{}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := errs.waitFor(t, 1, 3*time.Second)
	if got[0]["event"] != "unsubscribed" || got[0]["room"] != "doctype:Invoice" {
		t.Fatalf("livedoc_error %v", got[0])
	}
	// No more list_update: prove it with a later event the client does get.
	n.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"})
	err = n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		return n.app.PublishRealtime(c, "marker", map[string]any{}, realtime.Target{User: "acc@example.com"}, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	collect(c, "marker").waitFor(t, 1, 2*time.Second)
	if len(updates.waitFor(t, 1, 0)) != 1 {
		t.Fatal("list_update delivered after the role was removed")
	}
	// A new subscription is now denied.
	if ack := subscribe(t, c, "doctype_subscribe", "Invoice"); ack["error"] == nil {
		t.Fatalf("subscribe without the role: %v", ack)
	}
}

// A socket that stops reading is disconnected once its queue is full, and the others get every
// event meanwhile.
func TestSlowConsumerDoesNotSlowOthers(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	tok := n.token(t, doc.Administrator)

	// The slow one: a raw WebSocket that connects to the namespace and then never reads.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hdr := http.Header{"Authorization": {"token " + tok}}
	ws, _, err := websocket.Dial(ctx, strings.Replace(n.url, "http", "ws", 1)+"/socket.io/?EIO=4&transport=websocket", &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(ctx); err != nil { // the Engine.IO open packet
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte("40/livedoc,")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.Read(ctx); err != nil { // the CONNECT answer; from here on it never reads
		t.Fatal(err)
	}

	fast := dial(t, n.url, tok, false)
	got := collect(fast, "bulk")
	connect(t, fast)
	big := strings.Repeat("x", 4<<10)
	// 3,000 × 4 KiB ≈ 12 MiB: past the slow socket's 1 MiB queue plus what loopback TCP buffers
	// absorb, while a reading client's queue (256 such events) never fills.
	const total = 3000
	for i := range total {
		err := n.app.Engine.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
			return n.app.PublishRealtime(c, "bulk", map[string]any{"i": i, "pad": big}, realtime.Target{Room: "all"}, true)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	msgs := got.waitFor(t, total, 10*time.Second)
	for i, m := range msgs {
		if m["i"] != float64(i) {
			t.Fatalf("fast client got event %v at position %d", m["i"], i)
		}
	}
	if drops := metric(t, n.url, tok, "livedoc_realtime_queue_drops_total"); drops < 1 {
		t.Fatalf("queue drops %v: the slow socket was never cut off", drops)
	}
}

// metric reads one sample from url's /metrics, as the user of token (key:secret; "" for none).
func metric(t *testing.T, url, token, name string) float64 {
	t.Helper()
	status, body := getMetrics(t, url, token)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", status, body)
	}
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("metric %s not found", name)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func getMetrics(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

var metricNames = []string{"livedoc_realtime_connections", "livedoc_realtime_rooms", "livedoc_realtime_events_published_total",
	"livedoc_realtime_events_delivered_total", "livedoc_realtime_queue_drops_total"}

// The metrics endpoint exists for operators even on an idle node, but on the public port only for
// System Managers: it shows how busy the node is, its sockets, memory and file descriptors.
func TestMetricsEndpoint(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "User", "email": "acc@example.com", "first_name": "Acc",
			"roles": []any{map[string]any{"role": "Accounts User"}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for who, tok := range map[string]string{"Guest": "", "an Accounts User": n.token(t, "acc@example.com")} {
		status, body := getMetrics(t, n.url, tok)
		if status != http.StatusForbidden || bytes.Contains(body, []byte("livedoc_realtime")) {
			t.Errorf("%s reads /metrics: %d %.200s", who, status, body)
		}
		var e struct {
			ExcType string `json:"exc_type"`
		}
		_ = json.Unmarshal(body, &e)
		if e.ExcType != doc.PermissionError {
			t.Errorf("%s: %.200s, want Frappe's PermissionError shape", who, body)
		}
	}
	admin := n.token(t, doc.Administrator)
	for _, name := range metricNames {
		metric(t, n.url, admin, name)
	}
}

// With Config.MetricsAddr the metrics are also served to anyone on that separate listener (which
// serves nothing else), as Prometheus scrapes; the public port still asks who it is.
func TestMetricsListener(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	free := func() string { // a port to ask for: the App opens the metrics listener itself
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	metricsAddr := free()
	app, err := livedoc.New(ctx, livedoc.Config{DataDir: t.TempDir(), Database: storetest.DSN(t), AdminPassword: "pw", MetricsAddr: metricsAddr})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.ServeListener(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	murl, url := "http://"+metricsAddr, "http://"+ln.Addr().String()
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(murl + "/metrics")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics listener never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling for the listener, bounded by the deadline
	}
	for _, name := range metricNames {
		metric(t, murl, "", name)
	}
	if status, _ := getMetrics(t, url, ""); status != http.StatusForbidden {
		t.Errorf("Guest reads /metrics on the public port: %d", status)
	}
	for _, p := range []string{"/api/method/ping", "/app", "/socket.io/?EIO=4&transport=polling"} {
		resp, err := http.Get(murl + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("metrics listener serves %s: %d", p, resp.StatusCode)
		}
	}
}

// Two subscriptions of one document on one socket: one unsubscribe keeps the room, the second
// leaves it.
func TestSubscriptionsAreReferenceCounted(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	n.insert(t, doc.Doc{"doctype": "Customer", "customer_name": "ACME"})
	a := n.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"}).Name()
	b := n.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"}).Name()
	c := dial(t, n.url, n.token(t, doc.Administrator), false)
	updates := collect(c, "doc_update")
	connect(t, c)
	for _, name := range []string{a, a, b} {
		if ack := subscribe(t, c, "doc_subscribe", "Invoice", name); ack["ok"] != true {
			t.Fatalf("subscribe: %v", ack)
		}
	}
	save := func(name string) {
		t.Helper()
		err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
			_, err := c.Update("Invoice", name, map[string]any{"remarks": time.Now().String()})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	subscribe(t, c, "doc_unsubscribe", "Invoice", a)
	save(a)
	if got := updates.waitFor(t, 1, 2*time.Second); got[0]["name"] != a {
		t.Fatalf("after one of two unsubscribes: %v", got)
	}
	subscribe(t, c, "doc_unsubscribe", "Invoice", a)
	save(a)
	save(b) // b's event follows a's in commit order: once it is here, a's would have been too
	got := updates.waitFor(t, 2, 2*time.Second)
	if len(got) != 2 || got[1]["name"] != b {
		t.Fatalf("after the last unsubscribe: %v", got)
	}
}

// Viewers: distinct users of the sessions that opened a document, two tabs counting once; the
// list shrinks on close and on disconnect.
func TestPresence(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "User", "email": "b@example.com", "first_name": "B",
			"roles": []any{map[string]any{"role": "Accounts User"}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	n.insert(t, doc.Doc{"doctype": "Customer", "customer_name": "ACME"})
	inv := n.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"}).Name()
	adminTok, bTok := n.token(t, doc.Administrator), n.token(t, "b@example.com")
	a1 := dial(t, n.url, adminTok, false)
	viewers := collect(a1, "doc_viewers")
	connect(t, a1)
	users := func(m map[string]any) string {
		var out []string
		for _, u := range m["users"].([]any) {
			out = append(out, u.(string))
		}
		return strings.Join(out, ",")
	}
	waitUsers := func(want string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			viewers.mu.Lock()
			last := ""
			if len(viewers.msgs) > 0 {
				last = users(viewers.msgs[len(viewers.msgs)-1])
			}
			viewers.mu.Unlock()
			if last == want {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("viewers never became %q: %v", want, viewers.msgs)
	}
	subscribe(t, a1, "doc_open", "Invoice", inv)
	waitUsers("Administrator")
	a2 := dial(t, n.url, adminTok, false) // a second tab of the same user
	connect(t, a2)
	subscribe(t, a2, "doc_open", "Invoice", inv)
	b := dial(t, n.url, bTok, false)
	connect(t, b)
	subscribe(t, b, "doc_open", "Invoice", inv)
	waitUsers("Administrator,b@example.com")
	subscribe(t, b, "doc_close", "Invoice", inv)
	waitUsers("Administrator")
	subscribe(t, b, "doc_open", "Invoice", inv)
	waitUsers("Administrator,b@example.com")
	b.Close()
	waitUsers("Administrator")
	viewers.mu.Lock()
	before := len(viewers.msgs)
	viewers.mu.Unlock()
	a2.Close() // the second tab goes: a new list comes, and the first tab still counts
	if got := viewers.waitFor(t, before+1, 3*time.Second); users(got[len(got)-1]) != "Administrator" {
		t.Fatalf("after one of two tabs closed: %v", got[len(got)-1])
	}
}

// Package cluster_test runs livedoc as a cluster of real processes: three `livedoc serve` nodes
// built from ./cmd/livedoc, sharing one PostgreSQL schema (the machine's PostgreSQL at
// 127.0.0.1:5432, database test, or LIVEDOC_TEST_PG) and a redis-server the test starts itself on
// a free port, so it can stop and restart it. Hundreds of Go Socket.IO clients subscribe to
// documents while writers save them through random nodes; the tests check that every client gets
// exactly its documents' events, in commit order, through a node crash (SIGKILL) and a Redis
// outage.
//
// The tests take about a minute and need PostgreSQL and redis-server, so they run only with
// LIVEDOC_TEST_CLUSTER=1 (`make cluster-test`); without it they skip, saying so. They build the
// server from this tree, or use the binary named by LIVEDOC_CLUSTER_BIN; LIVEDOC_CLUSTER_LOGS names
// a directory to keep the nodes' logs in.
package cluster_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"github.com/livedoc/livedoc/realtime/client"
	"github.com/livedoc/livedoc/store/storetest"
)

const adminPassword = "cluster-pw"

// livedocBin is the server binary TestMain built; "" when the cluster tests are off.
var livedocBin string

func TestMain(m *testing.M) {
	if os.Getenv("LIVEDOC_TEST_CLUSTER") == "" {
		fmt.Println("cluster: skipped (set LIVEDOC_TEST_CLUSTER=1, or run `make cluster-test`; needs PostgreSQL and redis-server)")
		os.Exit(m.Run())
	}
	// This package always runs against PostgreSQL: storetest then gives each test its own schema.
	os.Setenv("LIVEDOC_TEST_STORE", "postgres")
	dir, err := os.MkdirTemp("", "livedoc-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	livedocBin = filepath.Join(dir, "livedoc")
	if bin := os.Getenv("LIVEDOC_CLUSTER_BIN"); bin != "" {
		livedocBin = bin // a binary built elsewhere (a release, or a patched tree)
		os.Exit(m.Run())
	}
	build := exec.Command("go", "build", "-o", livedocBin, "./cmd/livedoc")
	build.Dir = ".." // the module root
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster: building livedoc:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func requireCluster(t *testing.T) {
	t.Helper()
	if livedocBin == "" {
		t.Skip("set LIVEDOC_TEST_CLUSTER=1 to run the multi-node tests (make cluster-test)")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitUntil polls cond every 20ms until it holds, failing the test with what() at the deadline.
func waitUntil(t *testing.T, within time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// --- redis-server -------------------------------------------------------------------------------

type redisServer struct {
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	r := &redisServer{port: freePort(t)}
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d", r.port) }

// start runs redis-server on r.port (again, after stop) and waits until it accepts connections.
func (r *redisServer) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v (install Debian's redis-server)", err)
	}
	r.mu.Lock()
	r.cmd = cmd
	r.mu.Unlock()
	waitUntil(t, 5*time.Second, func() string { return "redis-server is not accepting connections" }, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (r *redisServer) stop() {
	r.mu.Lock()
	cmd := r.cmd
	r.cmd = nil
	r.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// --- livedoc nodes ------------------------------------------------------------------------------

type node struct {
	i      int
	addr   string // 127.0.0.1:port
	url    string
	cmd    *exec.Cmd
	log    string // the node's stderr
	exited chan struct{}
}

func (n *node) alive() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// kill ends the node with SIGKILL: no shutdown, no session flush, connections cut by the kernel.
func (n *node) kill(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-n.exited
}

type cluster struct {
	t     *testing.T
	dsn   string
	site  string
	redis *redisServer
	nodes []*node
	http  *http.Client
	token string // Administrator's API key:secret
}

// newCluster starts n nodes on a fresh PostgreSQL schema and a fresh redis-server. The first node
// starts alone and creates the schema; the others then start together (a concurrent first start
// on an empty schema is TestConcurrentFirstStart).
func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	requireCluster(t)
	c := &cluster{t: t, dsn: storetest.DSN(t), site: fmt.Sprintf("s%d", rand.N(1_000_000)), redis: startRedis(t),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
	c.nodes = make([]*node, n)
	c.nodes[0] = c.startNode(0)
	c.waitHealthy(c.nodes[0])
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		c.nodes[i] = c.startNode(i)
		wg.Go(func() { c.waitHealthy(c.nodes[i]) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	c.token = c.login(c.nodes[0])
	return c
}

func (c *cluster) startNode(i int) *node {
	t := c.t
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	logDir := dir
	if d := os.Getenv("LIVEDOC_CLUSTER_LOGS"); d != "" {
		logDir = d // kept after the test, e.g. for a goroutine dump (SIGQUIT) of a stuck node
	}
	n := &node{i: i, addr: addr, url: "http://" + addr, exited: make(chan struct{}),
		log: filepath.Join(logDir, fmt.Sprintf("%s-node%d-%s.log", strings.ReplaceAll(t.Name(), "/", "_"), i, addr))}
	logf, err := os.Create(n.log)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(livedocBin, "serve", "--addr", addr, "--data", dir, "--db", c.dsn,
		"--redis", c.redis.url(), "--site", c.site)
	// A short job lease, so a job whose node was killed is taken again within seconds.
	n.cmd.Env = append(os.Environ(), "LIVEDOC_ADMIN_PASSWORD="+adminPassword, "LIVEDOC_JOB_LEASE=3s")
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = n.cmd.Wait()
		logf.Close()
		close(n.exited)
	}()
	t.Cleanup(func() {
		if n.alive() {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-n.exited:
			case <-time.After(10 * time.Second):
				_ = n.cmd.Process.Kill()
				<-n.exited
			}
		}
		if t.Failed() {
			b, _ := os.ReadFile(n.log)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("node %d (%s) log tail:\n%s", i, addr, b)
		}
	})
	return n
}

// health is the node's GET /api/health status, or "unreachable".
func (c *cluster) health(n *node) string {
	resp, err := c.http.Get(n.url + "/api/health")
	if err != nil {
		return "unreachable"
	}
	defer resp.Body.Close()
	var body struct{ Status string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.Status
}

func (c *cluster) waitHealthy(n *node) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if !n.alive() {
			b, _ := os.ReadFile(n.log)
			c.t.Errorf("node %d exited while starting: %s", n.i, b)
			return
		}
		if h := c.health(n); h == "ok" {
			return
		} else if time.Now().After(deadline) {
			c.t.Errorf("node %d not healthy after 30s: %s", n.i, h)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitHealth polls every live node's /api/health until all report want.
func (c *cluster) waitHealth(want string, within time.Duration) {
	c.t.Helper()
	got := map[int]string{}
	waitUntil(c.t, within, func() string { return fmt.Sprintf("health by node %v, want %q everywhere", got, want) }, func() bool {
		all := true
		for _, n := range c.nodes {
			if n.alive() {
				got[n.i] = c.health(n)
				all = all && got[n.i] == want
			}
		}
		return all
	})
}

// login signs in as Administrator with the password (a cookie session, as a browser) and makes an
// API key pair, as an operator would for scripts.
func (c *cluster) login(n *node) string {
	t := c.t
	t.Helper()
	resp, err := c.http.Post(n.url+"/api/method/login", "application/json",
		strings.NewReader(`{"usr": "Administrator", "pwd": "`+adminPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	var sid string
	for _, ck := range resp.Cookies() {
		if ck.Name == "sid" {
			sid = ck.Value
		}
	}
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("login: %s, sid %q", resp.Status, sid)
	}
	return c.keysFor(n, http.Header{"Cookie": {"sid=" + sid}, "X-Frappe-Csrf-Token": {login.CSRF}}, "Administrator")
}

func (c *cluster) keysFor(n *node, h http.Header, user string) string {
	c.t.Helper()
	var keys struct {
		Message struct {
			Key    string `json:"api_key"`
			Secret string `json:"api_secret"`
		} `json:"message"`
	}
	if status, err := c.do(n, h, "POST", "/api/method/frappe.core.doctype.user.user.generate_keys", map[string]any{"user": user}, &keys); err != nil || status != 200 {
		c.t.Fatalf("generate_keys for %s: %d %v", user, status, err)
	}
	return keys.Message.Key + ":" + keys.Message.Secret
}

// do sends a JSON request to a node and decodes a 200 answer into out. err is a transport error
// (or an unreadable answer); the status says the rest.
func (c *cluster) do(n *node, h http.Header, method, path string, body, out any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(method, n.url+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if h == nil {
		req.Header.Set("Authorization", "token "+c.token)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != 200 {
		return resp.StatusCode, fmt.Errorf("%s %s on node %d: %s: %.300s", method, path, n.i, resp.Status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

func (c *cluster) mustDo(n *node, method, path string, body, out any) {
	c.t.Helper()
	if _, err := c.do(n, nil, method, path, body, out); err != nil {
		c.t.Fatal(err)
	}
}

// invoices creates a customer and count invoices through the nodes in turn.
func (c *cluster) invoices(count int) []string {
	c.mustDo(c.nodes[0], "POST", "/api/resource/Customer", map[string]any{"customer_name": "ACME"}, nil)
	names := make([]string, count)
	for i := range names {
		var out struct{ Data struct{ Name string } }
		c.mustDo(c.nodes[i%len(c.nodes)], "POST", "/api/resource/Invoice", map[string]any{"customer": "ACME"}, &out)
		names[i] = out.Data.Name
	}
	return names
}

// --- a load balancer per client group -----------------------------------------------------------

// balancer stands for the load balancer in front of the cluster: a TCP proxy on its own port that
// sends each new connection to its preferred node, or, when that node refuses the connection (it
// is dead), to the next one that accepts, round the ring. It knows nothing of the test: like a load
// balancer with passive health checks, it learns a node is gone only by failing to reach it. The
// Go client always reconnects to the URL it was given, so each client group gets the URL of the
// balancer that prefers its node, and a client of a killed node reconnects through the same URL
// to a live one.
type balancer struct {
	ln        net.Listener
	url       string
	nodes     []*node
	preferred int

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	per   map[int]int // connections made to each node
}

func (c *cluster) balancer(preferred int) *balancer {
	c.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	b := &balancer{ln: ln, url: "http://" + ln.Addr().String(), nodes: c.nodes, preferred: preferred,
		conns: map[net.Conn]struct{}{}, per: map[int]int{}}
	go b.serve()
	c.t.Cleanup(b.close)
	return b
}

func (b *balancer) serve() {
	for {
		conn, err := b.ln.Accept()
		if err != nil {
			return
		}
		go b.forward(conn)
	}
}

func (b *balancer) forward(down net.Conn) {
	var up net.Conn
	var target int
	for k := range b.nodes {
		target = (b.preferred + k) % len(b.nodes)
		var err error
		if up, err = net.DialTimeout("tcp", b.nodes[target].addr, time.Second); err == nil {
			break
		}
	}
	if up == nil {
		down.Close()
		return
	}
	b.mu.Lock()
	b.conns[down], b.conns[up] = struct{}{}, struct{}{}
	b.per[target]++
	b.mu.Unlock()
	done := func() {
		down.Close()
		up.Close()
		b.mu.Lock()
		delete(b.conns, down)
		delete(b.conns, up)
		b.mu.Unlock()
	}
	go func() {
		_, _ = io.Copy(up, down)
		done()
	}()
	_, _ = io.Copy(down, up)
	done()
}

func (b *balancer) close() {
	b.ln.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.Close()
	}
}

func (b *balancer) perNode() map[int]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.per)
}

// --- subscribed clients -------------------------------------------------------------------------

type received struct {
	name, modified string
	offset         int64
}

// subscriber is one Socket.IO client subscribed to one document, recording what it gets.
type subscriber struct {
	c     *client.Client
	doc   string
	group int

	mu         sync.Mutex
	updates    []received // doc_update, in arrival order
	validated  int        // invoice_validated (the sample app's after-commit event on the doc)
	offsets    []int64    // the offset of every event of the document's room, in arrival order
	unexpected []string   // any other event
	connects   []bool     // recovered flag of each accepted CONNECT
}

func (s *subscriber) onEvent(event string, args []json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var off int64 = -1
	if len(args) > 0 {
		var o string
		if json.Unmarshal(args[len(args)-1], &o) == nil {
			off, _ = strconv.ParseInt(o, 10, 64)
		}
	}
	var msg struct{ Name, Modified string }
	if len(args) > 0 {
		_ = json.Unmarshal(args[0], &msg)
	}
	switch event {
	case "doc_update":
		s.updates = append(s.updates, received{name: msg.Name, modified: msg.Modified, offset: off})
		s.offsets = append(s.offsets, off)
	case "invoice_validated":
		s.validated++
		s.offsets = append(s.offsets, off)
		if msg.Name != s.doc {
			s.unexpected = append(s.unexpected, "invoice_validated of "+msg.Name)
		}
	default:
		s.unexpected = append(s.unexpected, event)
	}
}

func (s *subscriber) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates)
}

// subscribeAll connects perDoc clients to each document, client k through balancer k%len, and
// subscribes each to its document with doc_subscribe.
func (c *cluster) subscribeAll(docs []string, perDoc int, lbs []*balancer) []*subscriber {
	t := c.t
	t.Helper()
	subs := make([]*subscriber, len(docs)*perDoc)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for k := range subs {
		s := &subscriber{doc: docs[k/perDoc], group: k % len(lbs)}
		subs[k] = s
		cl, err := client.New(client.Options{URL: lbs[s.group].url, Namespace: "/" + c.site,
			Auth: map[string]any{"token": c.token}, Reconnect: true, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s.c = cl
		t.Cleanup(func() { cl.Close() })
		cl.OnAny(s.onEvent)
		cl.OnConnect(func(recovered bool) {
			s.mu.Lock()
			s.connects = append(s.connects, recovered)
			s.mu.Unlock()
		})
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := cl.Connect(ctx); err != nil {
				t.Errorf("client %d: connect: %v", k, err)
				failed.Add(1)
				return
			}
			ack, err := cl.EmitWithAck(ctx, "doc_subscribe", "Invoice", s.doc)
			if err != nil || len(ack) == 0 || string(ack[0]) != `{"ok":true}` {
				t.Errorf("client %d: doc_subscribe %s: %s %v", k, s.doc, ack, err)
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	return subs
}

// --- writers ------------------------------------------------------------------------------------

// writers save the documents through random nodes: one goroutine per group of documents, so the
// saves of one document are sequential and the order of their answers is their commit order, while
// saves of different documents run concurrently on all nodes.
type writers struct {
	c     *cluster
	docs  []string
	limit int64 // at most this many saves in all
	pace  time.Duration

	saves    atomic.Int64 // committed saves
	failures atomic.Int64 // requests that failed (node down...), resolved by reading the document
	stop     chan struct{}
	wg       sync.WaitGroup

	mu       sync.Mutex
	expected map[string][]string // document → modified of each committed save, in order
	errs     []string
}

func (c *cluster) startWriters(docs []string, goroutines int, limit int64, pace time.Duration) *writers {
	w := &writers{c: c, docs: docs, limit: limit, pace: pace, stop: make(chan struct{}), expected: map[string][]string{}}
	for g := range goroutines {
		var mine []string
		for i := g; i < len(docs); i += goroutines {
			mine = append(mine, docs[i])
		}
		w.wg.Go(func() { w.run(g, mine) })
	}
	return w
}

func (w *writers) run(g int, docs []string) {
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		if w.saves.Load() >= w.limit {
			return
		}
		name := docs[i%len(docs)]
		remarks := fmt.Sprintf("writer %d save %d", g, i)
		n := w.c.nodes[rand.N(len(w.c.nodes))]
		var out struct {
			Data struct{ Modified, Remarks string }
		}
		status, err := w.c.do(n, nil, "PUT", "/api/resource/Invoice/"+name, map[string]any{"remarks": remarks}, &out)
		if err == nil && status == 200 {
			w.commit(name, out.Data.Modified)
		} else {
			// The node may have died before or after the commit: the document says which.
			w.failures.Add(1)
			w.mu.Lock()
			w.errs = append(w.errs, fmt.Sprintf("%d %v", status, err))
			w.mu.Unlock()
			if modified, ok := w.resolve(name, remarks); ok {
				w.commit(name, modified)
			}
		}
		time.Sleep(w.pace)
	}
}

func (w *writers) commit(name, modified string) {
	w.mu.Lock()
	w.expected[name] = append(w.expected[name], modified)
	w.mu.Unlock()
	w.saves.Add(1)
}

// resolve reads the document from a live node: if it holds remarks, the failed save committed (its
// writer is the only one saving it), with the document's modified.
func (w *writers) resolve(name, remarks string) (string, bool) {
	for range 100 {
		for _, n := range w.c.nodes {
			var out struct {
				Data struct{ Modified, Remarks string }
			}
			if _, err := w.c.do(n, nil, "GET", "/api/resource/Invoice/"+name, nil, &out); err == nil {
				return out.Data.Modified, out.Data.Remarks == remarks
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.c.t.Errorf("could not read %s from any node", name)
	return "", false
}

// waitSaves waits until n saves committed.
func (w *writers) waitSaves(n int64) {
	w.c.t.Helper()
	waitUntil(w.c.t, 60*time.Second, func() string { return fmt.Sprintf("%d saves, want %d", w.saves.Load(), n) },
		func() bool { return w.saves.Load() >= n })
}

func (w *writers) finish() map[string][]string {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.expected
}

// --- checks -------------------------------------------------------------------------------------

// checkDelivery waits until every subscriber has as many doc_update events as its document had
// saves, lets a second pass for anything sent twice, then checks each got exactly the doc_update
// of its document's saves, in commit order, with increasing offsets.
func (sc *scenario) checkDelivery(expected map[string][]string) {
	t, subs := sc.c.t, sc.subs
	t.Helper()
	failedDocs := map[string]bool{}
	total := 0
	for _, s := range subs {
		total += len(expected[s.doc])
	}
	short := func() (n int, first string) {
		for i, s := range subs {
			if got, want := s.count(), len(expected[s.doc]); got < want {
				if n == 0 {
					first = fmt.Sprintf("client %d (%s, group %d) has %d of %d", i, s.doc, s.group, got, want)
				}
				n++
			}
		}
		return n, first
	}
	deadline := time.Now().Add(30 * time.Second)
	for n, _ := short(); n > 0; n, _ = short() {
		if time.Now().After(deadline) {
			n, first := short()
			t.Errorf("after 30s, %d clients still miss events; %s", n, first)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// None twice: whatever was sent would have arrived by now; a duplicate shows up as an extra.
	settle := time.Now().Add(time.Second)
	for time.Now().Before(settle) {
		time.Sleep(50 * time.Millisecond)
	}
	bad := 0
	for i, s := range subs {
		s.mu.Lock()
		want := expected[s.doc]
		var got []string
		problem := ""
		for _, u := range s.updates {
			got = append(got, u.modified)
			if u.name != s.doc {
				problem = "doc_update of another document " + u.name
			}
		}
		switch {
		case problem != "":
		case !slices.Equal(got, want):
			problem = fmt.Sprintf("doc_update modified sequence\n got  %v\n want %v\n offsets %v, connects %v",
				got, want, s.offsets, s.connects)
		case s.validated != len(want):
			problem = fmt.Sprintf("%d invoice_validated, want %d", s.validated, len(want))
		case len(s.unexpected) > 0:
			problem = fmt.Sprintf("unexpected events %v", s.unexpected)
		default:
			for j := 1; j < len(s.offsets); j++ {
				if s.offsets[j] <= s.offsets[j-1] {
					problem = fmt.Sprintf("offsets not increasing: %v", s.offsets)
					break
				}
			}
		}
		s.mu.Unlock()
		if problem != "" {
			bad++
			failedDocs[s.doc] = true
			if bad <= 5 {
				t.Errorf("client %d (%s, group %d): %s", i, s.doc, s.group, problem)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d clients got a wrong event sequence", bad, len(subs))
		for d := range failedDocs {
			sc.c.logEvents(d)
		}
		sc.c.logHoles()
	}
	t.Logf("%d clients, %d doc_update deliveries checked", len(subs), total)
}

// logEvents logs the event log's doc_update events of a document, for a failure's diagnosis.
func (c *cluster) logEvents(name string) {
	db, err := sql.Open("pgx", c.dsn)
	if err != nil {
		c.t.Log(err)
		return
	}
	defer db.Close()
	rows, err := db.Query(`SELECT seq, message, created FROM __events WHERE room = $1 AND event = 'doc_update' ORDER BY seq`, "doc:Invoice/"+name)
	if err != nil {
		c.t.Log(err)
		return
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var seq int64
		var msg, created string
		_ = rows.Scan(&seq, &msg, &created)
		lines = append(lines, fmt.Sprintf("  %d %s %s", seq, msg, created))
	}
	c.t.Logf("event log of %s:\n%s", name, strings.Join(lines, "\n"))
}

// logHoles logs the offsets missing from the event log (taken by transactions that never
// committed), for a failure's diagnosis.
func (c *cluster) logHoles() {
	db, err := sql.Open("pgx", c.dsn)
	if err != nil {
		c.t.Log(err)
		return
	}
	defer db.Close()
	var holes []string
	rows, err := db.Query(`SELECT s FROM generate_series((SELECT MIN(seq) FROM __events), (SELECT MAX(seq) FROM __events)) s
		WHERE NOT EXISTS (SELECT 1 FROM __events WHERE seq = s) ORDER BY s`)
	if err != nil {
		c.t.Log(err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		holes = append(holes, s)
	}
	c.t.Logf("offsets that never committed: %v", holes)
}

// sessionsSaved waits until the shared store holds every client's recovery session with its
// document room: sessions are flushed once a second, and one changed in the last second before a
// crash is documented to start fresh.
func (c *cluster) sessionsSaved(want int) {
	c.t.Helper()
	db, err := sql.Open("pgx", c.dsn)
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	var n int
	waitUntil(c.t, 10*time.Second, func() string { return fmt.Sprintf("%d sessions saved, want %d", n, want) }, func() bool {
		err := db.QueryRow(`SELECT COUNT(*) FROM __rt_sessions WHERE rooms LIKE '%"doc:Invoice/%' AND left_at IS NULL`).Scan(&n)
		return err == nil && n >= want
	})
}

// --- the tests ----------------------------------------------------------------------------------

const (
	nodeCount = 3
	docCount  = 30
	perDoc    = 10 // 300 clients
)

type scenario struct {
	c     *cluster
	lbs   []*balancer
	docs  []string
	subs  []*subscriber
	w     *writers
	start time.Time
}

// setup starts the cluster, creates the documents, connects and subscribes 300 clients (through
// one balancer per node: 100 per node) and starts the writers.
func setup(t *testing.T) *scenario {
	start := time.Now()
	c := newCluster(t, nodeCount)
	s := &scenario{c: c, start: start, docs: c.invoices(docCount)}
	for i := range c.nodes {
		s.lbs = append(s.lbs, c.balancer(i))
	}
	s.subs = c.subscribeAll(s.docs, perDoc, s.lbs)
	for i, lb := range s.lbs {
		if got := lb.perNode(); got[i] != len(s.subs)/nodeCount || len(got) != 1 {
			t.Fatalf("balancer %d sent its clients to %v", i, got)
		}
	}
	t.Logf("cluster up, %d clients subscribed in %v", len(s.subs), time.Since(start).Round(time.Millisecond))
	return s
}

func (s *scenario) write() { s.w = s.c.startWriters(s.docs, 10, 600, 100*time.Millisecond) }

// reconnects returns, per group, how many clients reconnected and how many of those reconnections
// were not recovered.
func (s *scenario) reconnects() (reconnected, fresh map[int]int) {
	reconnected, fresh = map[int]int{}, map[int]int{}
	for _, sub := range s.subs {
		sub.mu.Lock()
		if len(sub.connects) > 1 {
			reconnected[sub.group]++
		}
		for _, r := range sub.connects[1:] {
			if !r {
				fresh[sub.group]++
			}
		}
		sub.mu.Unlock()
	}
	return reconnected, fresh
}

// TestThreeNodes: 300 clients on three nodes, 30 documents saved through random nodes; every
// client gets exactly its document's doc_update events, in commit order.
func TestThreeNodes(t *testing.T) {
	s := setup(t)
	s.write()
	s.w.waitSaves(240)
	expected := s.w.finish()
	if f := s.w.failures.Load(); f > 0 {
		t.Errorf("%d saves failed with every node up: %v", f, s.w.errs)
	}
	s.checkDelivery(expected)
	if re, _ := s.reconnects(); len(re) > 0 {
		t.Errorf("clients reconnected with every node up: %v per group", re)
	}
	t.Logf("%d saves; %v in all", s.w.saves.Load(), time.Since(s.start).Round(time.Millisecond))
}

// TestNodeKilled: the same while node 2 is killed with SIGKILL mid-run. Its 100 clients reconnect
// through their balancer to the other nodes, which restore their sessions from the shared store
// (recovered) and replay what they missed from the shared log: nothing lost, nothing twice.
func TestNodeKilled(t *testing.T) {
	s := setup(t)
	s.c.sessionsSaved(len(s.subs))
	s.write()
	s.w.waitSaves(100)
	victim := s.c.nodes[2]
	victim.kill(t)
	killedAt := time.Now()
	t.Logf("node 2 killed after %d saves", s.w.saves.Load())
	s.w.waitSaves(s.w.saves.Load() + 150)
	expected := s.w.finish()
	s.checkDelivery(expected)

	reconnected, fresh := s.reconnects()
	if reconnected[2] != len(s.subs)/nodeCount || reconnected[0] != 0 || reconnected[1] != 0 {
		t.Errorf("clients that reconnected, per group: %v; want all %d of group 2 only", reconnected, len(s.subs)/nodeCount)
	}
	if len(fresh) > 0 {
		t.Errorf("reconnections that were not recovered (recovered === false), per group: %v", fresh)
	}
	if per := s.lbs[2].perNode(); per[0]+per[1] < len(s.subs)/nodeCount {
		t.Errorf("balancer 2 sent reconnections to %v", per)
	}
	t.Logf("%d saves (%d failed requests, resolved); %v after the kill; %v in all", s.w.saves.Load(), s.w.failures.Load(),
		time.Since(killedAt).Round(time.Millisecond), time.Since(s.start).Round(time.Millisecond))
}

// TestRedisOutage: Redis stops for 5 s mid-run, then restarts on the same port. Every node reports
// "degraded" meanwhile and "ok" after, saves keep succeeding, sockets stay connected, and every
// committed event reaches every subscriber once Redis is back (the nodes tail the shared log).
func TestRedisOutage(t *testing.T) {
	s := setup(t)
	s.write()
	s.w.waitSaves(60)
	s.c.redis.stop()
	stoppedAt := time.Now()
	before := s.w.saves.Load()
	s.c.waitHealth("degraded", 4*time.Second)
	for time.Since(stoppedAt) < 5*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	during := s.w.saves.Load() - before
	s.c.redis.start(t)
	s.c.waitHealth("ok", 15*time.Second)
	t.Logf("Redis down %v, %d saves meanwhile; health ok again %v after the restart", 5*time.Second, during,
		time.Since(stoppedAt.Add(5*time.Second)).Round(time.Millisecond))
	if during == 0 {
		t.Error("no save committed while Redis was down")
	}
	s.w.waitSaves(s.w.saves.Load() + 60)
	expected := s.w.finish()
	if f := s.w.failures.Load(); f > 0 {
		t.Errorf("%d saves failed (Redis down must not fail a save): %v", f, s.w.errs)
	}
	s.checkDelivery(expected)
	if re, _ := s.reconnects(); len(re) > 0 {
		t.Errorf("clients reconnected during the Redis outage: %v per group", re)
	}
	t.Logf("%d saves; %v in all", s.w.saves.Load(), time.Since(s.start).Round(time.Millisecond))
}

// viewers records the doc_viewers events a client gets.
type viewers struct {
	mu   sync.Mutex
	seen [][]string
}

func watchViewers(c *client.Client) *viewers {
	v := &viewers{}
	c.On("doc_viewers", func(args []json.RawMessage) {
		var m struct{ Users []string }
		_ = json.Unmarshal(args[0], &m)
		v.mu.Lock()
		v.seen = append(v.seen, m.Users)
		v.mu.Unlock()
	})
	return v
}

func (v *viewers) last() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.seen) == 0 {
		return nil
	}
	return v.seen[len(v.seen)-1]
}

// TestPresenceAcrossNodes: doc_viewers lists distinct users over the whole cluster: a user with
// tabs on two nodes counts once, and closing one tab keeps them listed while the other is open.
func TestPresenceAcrossNodes(t *testing.T) {
	c := newCluster(t, nodeCount)
	name := c.invoices(1)[0]
	const viewer = "viewer@example.com"
	c.mustDo(c.nodes[0], "POST", "/api/resource/User", map[string]any{"email": viewer, "first_name": "Viewer",
		"roles": []any{map[string]any{"role": "Accounts User"}}}, nil)
	viewerToken := c.keysFor(c.nodes[0], nil, viewer)

	type tab struct {
		label string
		c     *client.Client
		v     *viewers
	}
	open := func(label string, n *node, token string) *tab {
		cl, err := client.New(client.Options{URL: n.url, Namespace: "/" + c.site, Auth: map[string]any{"token": token}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		tb := &tab{label: label, c: cl, v: watchViewers(cl)}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cl.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if ack, err := cl.EmitWithAck(ctx, "doc_open", "Invoice", name); err != nil || string(ack[0]) != `{"ok":true}` {
			t.Fatalf("%s: doc_open: %s %v", label, ack, err)
		}
		return tb
	}
	closeTab := func(tb *tab) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if ack, err := tb.c.EmitWithAck(ctx, "doc_close", "Invoice", name); err != nil || string(ack[0]) != `{"ok":true}` {
			t.Fatalf("%s: doc_close: %s %v", tb.label, ack, err)
		}
	}
	expect := func(want []string, tabs ...*tab) {
		t.Helper()
		for _, tb := range tabs {
			waitUntil(t, 5*time.Second, func() string {
				tb.v.mu.Lock()
				defer tb.v.mu.Unlock()
				return fmt.Sprintf("%s saw doc_viewers %v, want last %v", tb.label, tb.v.seen, want)
			}, func() bool { return slices.Equal(tb.v.last(), want) })
		}
	}
	both := []string{"Administrator", viewer}

	admin0 := open("Administrator on node 0", c.nodes[0], c.token)
	admin1 := open("Administrator on node 1", c.nodes[1], c.token)
	viewer2 := open(viewer+" on node 2", c.nodes[2], viewerToken)
	expect(both, admin0, admin1, viewer2)

	// The viewer opens a second tab on node 0; the Administrator closes theirs on node 1: each user
	// still has a tab open, and still counts once.
	closeTab(admin1)
	viewer0 := open(viewer+" on node 0", c.nodes[0], viewerToken)
	expect(both, admin0, viewer2, viewer0)

	// The Administrator's last tab closes: only the viewer is left, on both of their nodes.
	closeTab(admin0)
	expect([]string{viewer}, viewer2, viewer0)
}

// TestConcurrentFirstStart: three nodes started at the same moment on an empty database all come
// up: deploying a cluster needs no coordinator, not even to start the first node alone.
func TestConcurrentFirstStart(t *testing.T) {
	requireCluster(t)
	c := &cluster{t: t, dsn: storetest.DSN(t), site: "first", redis: startRedis(t), http: &http.Client{Timeout: 10 * time.Second}}
	for i := range nodeCount {
		c.nodes = append(c.nodes, c.startNode(i))
	}
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Go(func() { c.waitHealthy(n) })
	}
	wg.Wait()
}

// TestSubscribeBurst: a burst of clients subscribing at once on a node that just started (as after
// a deploy, or when a dead node's clients all move to it) is served within seconds: more concurrent
// transactions than the node's database pool must queue, not deadlock (the statement cache once
// waited for a pooled connection while holding one: fixed in fdca98a, found here and by the bench).
func TestSubscribeBurst(t *testing.T) {
	c := newCluster(t, 1)
	name := c.invoices(1)[0]
	const clients = 60
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for k := range clients {
		cl, err := client.New(client.Options{URL: c.nodes[0].url, Namespace: "/" + c.site, Auth: map[string]any{"token": c.token}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := cl.Connect(ctx); err != nil {
				t.Errorf("client %d: connect: %v", k, err)
				failed.Add(1)
				return
			}
			ack, err := cl.EmitWithAck(ctx, "doc_subscribe", "Invoice", name)
			if err != nil || len(ack) == 0 || string(ack[0]) != `{"ok":true}` {
				failed.Add(1)
				if failed.Load() <= 3 {
					t.Errorf("client %d: doc_subscribe after %v: %s %v", k, time.Since(start).Round(time.Millisecond), ack, err)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d subscriptions failed", n, clients)
	}
	t.Logf("%d clients connected and subscribed in %v", clients, time.Since(start).Round(time.Millisecond))
}

// TestLogHoleWhileRedisDown: an offset that never commits (a transaction that appended to the
// event log and then rolled back, as when a node dies inside a commit) must not hide the events
// after it. While Redis is down the other nodes learn of commits only by tailing the shared log,
// so this is where a hole matters.
func TestLogHoleWhileRedisDown(t *testing.T) {
	c := newCluster(t, 2)
	name := c.invoices(1)[0]
	cl, err := client.New(client.Options{URL: c.nodes[1].url, Namespace: "/" + c.site, Auth: map[string]any{"token": c.token}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	s := &subscriber{c: cl, doc: name}
	cl.OnAny(s.onEvent)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if ack, err := cl.EmitWithAck(ctx, "doc_subscribe", "Invoice", name); err != nil || string(ack[0]) != `{"ok":true}` {
		t.Fatalf("doc_subscribe: %s %v", ack, err)
	}
	c.redis.stop()
	c.waitHealth("degraded", 4*time.Second)

	// A rolled-back append, as the server makes them: commit-order lock, insert, then no commit.
	db, err := sql.Open("pgx", c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("SELECT pg_advisory_xact_lock(7402116, 1)"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO __events (room, event, message, created) VALUES ('doc:Invoice/none', 'doc_update', '{}', '2000-01-01')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	var want []string
	for i := range 3 {
		var out struct{ Data struct{ Modified string } }
		c.mustDo(c.nodes[0], "PUT", "/api/resource/Invoice/"+name, map[string]any{"remarks": fmt.Sprint("after the hole ", i)}, &out)
		want = append(want, out.Data.Modified)
		waitUntil(t, 5*time.Second, func() string {
			s.mu.Lock()
			defer s.mu.Unlock()
			return fmt.Sprintf("the client on node 1 got %v, want %v (saved on node 0 with Redis down)", s.updates, want)
		}, func() bool { return s.count() == len(want) })
	}
}

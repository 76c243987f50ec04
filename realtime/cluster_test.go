package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/examples/invoice"
	"github.com/livedoc/livedoc/realtime/client"
	"github.com/livedoc/livedoc/store/storetest"
)

// redisServer is a redis-server of the test's own, on a free port, so the test can stop it.
type redisServer struct {
	port int
	cmd  *exec.Cmd
}

func startRedis(t *testing.T, port int) *redisServer {
	t.Helper()
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v (install Debian's redis-server)", err)
	}
	r := &redisServer{port: port, cmd: cmd}
	t.Cleanup(r.stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", r.addr())
		if err == nil {
			c.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

func (r *redisServer) stop() {
	if r.cmd.Process != nil && r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

func startClusterNode(t *testing.T, dsn, redisURL, site string) *node {
	t.Helper()
	ctx := context.Background()
	app, err := livedoc.New(ctx, livedoc.Config{DataDir: t.TempDir(), Database: dsn, Redis: redisURL, Site: site, AdminPassword: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if err := invoice.Register(ctx, app, nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: app.Handler()}
	go srv.Serve(ln)
	n := &node{app: app, srv: srv, url: "http://" + ln.Addr().String()}
	t.Cleanup(func() { n.kill(); app.Close() })
	return n
}

func dialNS(t *testing.T, url, ns, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{URL: url, Namespace: ns, Auth: map[string]any{"token": token}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func health(t *testing.T, n *node) string {
	t.Helper()
	resp, err := http.Get(n.url + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Status string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.Status
}

func waitHealth(t *testing.T, n *node, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for health(t, n) != want {
		if time.Now().After(deadline) {
			t.Fatalf("health never became %q", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// twoNodes starts two nodes of a cluster (one database, a redis-server of the test's own) on a site
// of their own, with a Customer ACME, and returns them with the Administrator's API token.
func twoNodes(t *testing.T, sitePrefix string) (a, b *node, rs *redisServer, site, tok string) {
	t.Helper()
	dsn := storetest.DSN(t)
	rs = startRedis(t, 0)
	redisURL := "redis://" + rs.addr()
	site = sitePrefix + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	a = startClusterNode(t, dsn, redisURL, site)
	b = startClusterNode(t, dsn, redisURL, site)
	tok = a.token(t, doc.Administrator)
	a.insert(t, doc.Doc{"doctype": "Customer", "customer_name": "ACME"})
	return a, b, rs, site, tok
}

func TestClusterOverRedis(t *testing.T) {
	a, b, rs, site, tok := twoNodes(t, "c")

	// A client on B hears a save committed on A.
	cb := dialNS(t, b.url, "/"+site, tok)
	updates := collect(cb, "list_update")
	connect(t, cb)
	if ack := subscribe(t, cb, "doctype_subscribe", "Invoice"); ack["ok"] != true {
		t.Fatalf("subscribe on B: %v", ack)
	}
	start := time.Now()
	first := a.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"}).Name()
	if got := updates.waitFor(t, 1, 2*time.Second); got[0]["name"] != first {
		t.Fatalf("B got %v", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cross-node delivery took %v", d)
	}
	if h := health(t, a); h != "ok" {
		t.Fatalf("health with Redis up: %s", h)
	}

	// Redis stops: A says degraded, B still gets A's commits (from the shared log), none lost.
	rs.stop()
	waitHealth(t, a, "degraded")
	var during []string
	for range 3 {
		during = append(during, a.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"}).Name())
	}
	got := updates.waitFor(t, 4, 5*time.Second)
	for i, name := range during {
		if got[i+1]["name"] != name {
			t.Fatalf("during the outage B got %v, want %v after the first", got, during)
		}
	}
	// Redis returns on the same port: health recovers and the fast path works again.
	startRedis(t, rs.port)
	waitHealth(t, a, "ok")
	last := a.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"}).Name()
	if got := updates.waitFor(t, 5, 3*time.Second); got[4]["name"] != last {
		t.Fatalf("after the outage B got %v", got[4])
	}

	// A client of A reconnects to B (as through a load balancer after A died) with its pid and
	// offset: B restores the session from the shared store and replays what it missed.
	ca := dialNS(t, a.url, "/"+site, tok)
	caUpdates := collect(ca, "list_update")
	connect(t, ca)
	subscribe(t, ca, "doctype_subscribe", "Invoice")
	a.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"})
	caUpdates.waitFor(t, 1, 2*time.Second)
	waitSessionSaved(t, a, ca.PID())
	pid, offset := ca.PID(), ca.LastOffset()
	ca.Close()
	var missed []string
	for range 3 {
		missed = append(missed, b.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"}).Name())
	}
	moved, err := client.New(client.Options{URL: b.url, Namespace: "/" + site, Auth: map[string]any{"token": tok, "pid": pid, "offset": offset}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { moved.Close() })
	replayed := collect(moved, "list_update")
	if err := moved.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if moved.PID() != pid {
		t.Fatalf("B answered pid %s, want the restored %s", moved.PID(), pid)
	}
	got = replayed.waitFor(t, 3, 3*time.Second)
	for i, name := range missed {
		if got[i]["name"] != name {
			t.Fatalf("replayed on B %v, want %v", got, missed)
		}
	}

	// A DocType created through node A is known to node B at once: B reads it from the shared
	// database when asked, and reloads it when the change goes by.
	err = a.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "DocType", "name": "Probe Note", "autoname": "hash",
			"fields":      []any{map[string]any{"fieldname": "body", "fieldtype": "Data"}},
			"permissions": []any{map[string]any{"role": "System Manager", "read": 1, "write": 1, "create": 1}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	note := b.insert(t, doc.Doc{"doctype": "Probe Note", "body": "made on B"}).Name()
	if ack := subscribe(t, cb, "doc_subscribe", "Probe Note", note); ack["ok"] != true {
		t.Fatalf("subscribe on B to a DocType made on A: %v", ack)
	}
	// A changes the DocType (a new field): B takes documents with it.
	err = a.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Update("DocType", "Probe Note", map[string]any{"fields": []any{
			map[string]any{"fieldname": "body", "fieldtype": "Data"}, map[string]any{"fieldname": "mood", "fieldtype": "Data"}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := b.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
			_, err := c.Insert(doc.Doc{"doctype": "Probe Note", "body": "x", "mood": "new field"})
			return err
		})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B never learned A's new field: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Presence across nodes: Administrator has tabs on A and B, another user is on B; everyone
	// sees two viewers, and the other user's leaving shows on A.
	err = a.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "User", "email": "v@example.com", "first_name": "V",
			"roles": []any{map[string]any{"role": "Accounts User"}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	inv := a.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"}).Name()
	onA := dialNS(t, a.url, "/"+site, tok)
	viewersA := collect(onA, "doc_viewers")
	connect(t, onA)
	onB := dialNS(t, b.url, "/"+site, tok)
	connect(t, onB)
	other := dialNS(t, b.url, "/"+site, b.token(t, "v@example.com"))
	connect(t, other)
	for _, c := range []*client.Client{onA, onB, other} {
		if ack := subscribe(t, c, "doc_open", "Invoice", inv); ack["ok"] != true {
			t.Fatalf("doc_open: %v", ack)
		}
	}
	lastViewers := func() string {
		viewersA.mu.Lock()
		defer viewersA.mu.Unlock()
		if len(viewersA.msgs) == 0 {
			return ""
		}
		return fmt.Sprint(viewersA.msgs[len(viewersA.msgs)-1]["users"])
	}
	waitViewers := func(want string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for lastViewers() != want {
			if time.Now().After(deadline) {
				t.Fatalf("viewers on A: %s, want %s", lastViewers(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitViewers("[Administrator v@example.com]")
	subscribe(t, other, "doc_close", "Invoice", inv)
	waitViewers("[Administrator]")
}

// A hung Redis (SIGSTOPped: it accepts, never answers) must not hold up writes: the commit has
// happened, and the other nodes read the events from the shared log. Before, each save waited
// for Redis's timeouts (about 2 s) in its after-commit publish.
func TestHungRedisDoesNotStallWrites(t *testing.T) {
	a, b, rs, site, tok := twoNodes(t, "h")
	cb := dialNS(t, b.url, "/"+site, tok)
	updates := collect(cb, "list_update")
	connect(t, cb)
	if ack := subscribe(t, cb, "doctype_subscribe", "Invoice"); ack["ok"] != true {
		t.Fatalf("subscribe on B: %v", ack)
	}

	if err := rs.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.cmd.Process.Signal(syscall.SIGCONT) })
	const saves = 20
	var names []string
	var took []time.Duration
	for range saves {
		start := time.Now()
		names = append(names, a.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"}).Name())
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	if median, slowest := took[saves/2], took[saves-1]; median > 200*time.Millisecond || slowest > time.Second {
		t.Fatalf("saves with Redis hung: median %v, slowest %v; want them not to wait for Redis", median, slowest)
	}
	got := updates.waitFor(t, saves, 10*time.Second)
	for i, name := range names {
		if got[i]["name"] != name {
			t.Fatalf("B got %v, want %v in order", got, names)
		}
	}
}

package realtime_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime"
	"github.com/livedoc/livedoc/realtime/client"
	"github.com/livedoc/livedoc/store/storetest"
)

// The realtime side of the security issue's holes 2, 3 and 5: events that name a document reach
// only those who may read it (live, on replay and on recovery), revoked credentials end sockets
// and streams at once, and a renamed document's subscribers move with it.

// addUser creates a user with a password ("pw-" + email), a user type and roles.
func (n *node) addUser(t *testing.T, email, userType string, roles ...string) {
	t.Helper()
	rows := []any{}
	for _, r := range roles {
		rows = append(rows, map[string]any{"role": r})
	}
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "User", "email": email, "first_name": "U", "user_type": userType,
			"new_password": "pw-" + email, "roles": rows})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// as runs fn in a write transaction as the named user.
func (n *node) as(t *testing.T, user string, fn func(c *doc.Context) error) {
	t.Helper()
	u, err := n.app.Auth.User(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.app.Engine.Run(context.Background(), u, true, fn); err != nil {
		t.Fatal(err)
	}
}

// listRows runs q as user and returns the rows as a client decodes them, or the error of a
// user who may not list.
func (n *node) listRows(t *testing.T, user, doctype string, q doc.Query) ([]map[string]any, error) {
	t.Helper()
	u, err := n.app.Auth.User(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	var rows []doc.Doc
	err = n.app.Engine.Run(context.Background(), u, false, func(c *doc.Context) error {
		var err error
		rows, err = c.List(doctype, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(rows)
	var out []map[string]any
	_ = json.Unmarshal(b, &out)
	return out, nil
}

// mark publishes an event to a user's room after everything committed before it: once it
// arrives, every event committed earlier would have arrived too.
func (n *node) mark(t *testing.T, user string) {
	t.Helper()
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		return n.app.PublishRealtime(c, "marker", map[string]any{}, realtime.Target{User: user}, true)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// session is a cookie session of a user: the sid cookie and the CSRF token.
type cookieSession struct {
	sid, csrf string
}

func (n *node) login(t *testing.T, user string) cookieSession {
	t.Helper()
	resp, err := http.PostForm(n.url+"/api/method/login", url.Values{"usr": {user}, "pwd": {"pw-" + user}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	for _, c := range resp.Cookies() {
		if c.Name == "sid" {
			return cookieSession{sid: c.Value, csrf: body["csrf_token"].(string)}
		}
	}
	t.Fatalf("login %s: %d %v", user, resp.StatusCode, body)
	return cookieSession{}
}

func (n *node) post(t *testing.T, s cookieSession, path string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", n.url+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", "sid="+s.sid)
	req.Header.Set("X-Frappe-CSRF-Token", s.csrf)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func dialCookie(t *testing.T, url, sid string) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{URL: url, Namespace: "/livedoc", Header: http.Header{"Cookie": {"sid=" + sid}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitDone waits for the server to end a client's connection.
func waitDone(t *testing.T, c *client.Client, what string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatalf("%s: the socket is still open", what)
	}
}

func names(msgs []map[string]any) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m["name"].(string))
	}
	return out
}

// privateNotes is a DocType its role reads only where the user is the owner.
func privateNotes(t *testing.T, n *node) {
	t.Helper()
	n.define(t, `{"name": "Private Note", "autoname": "hash", "fields": [
		{"fieldname": "title", "fieldtype": "Data"}],
		"permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
		{"role": "Note Taker", "read": 1, "write": 1, "create": 1, "if_owner": 1}]}`)
}

// Hole 2: a subscription allowed by an if_owner rule gets the list_update of the user's own
// documents only; before, it got everybody's.
func TestIfOwnerSubscriberGetsOnlyOwnDocuments(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	privateNotes(t, n)
	n.addUser(t, "x@example.com", doc.SystemUser, "Note Taker")
	c := dial(t, n.url, n.token(t, "x@example.com"), false)
	updates := collect(c, "list_update")
	marks := collect(c, "marker")
	connect(t, c)
	if ack := subscribe(t, c, "doctype_subscribe", "Private Note"); ack["ok"] != true {
		t.Fatalf("subscribe: %v", ack)
	}
	n.insert(t, doc.Doc{"doctype": "Private Note", "title": "the Administrator's"})
	var own string
	n.as(t, "x@example.com", func(c *doc.Context) error {
		d, err := c.Insert(doc.Doc{"doctype": "Private Note", "title": "mine"})
		own = d.Name()
		return err
	})
	n.mark(t, "x@example.com")
	marks.waitFor(t, 1, 3*time.Second)
	if got := names(updates.waitFor(t, 0, 0)); len(got) != 1 || got[0] != own {
		t.Fatalf("list_update for %v, want only the user's own %s", got, own)
	}
}

// Hole 2: a Website User learns nothing about other users, live, through SSE from offset 0, or
// through a recovery claiming offset "0".
func TestUsersAreNotListedToOtherUsers(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	n.addUser(t, "early@example.com", doc.SystemUser) // before the Website User ever connects
	n.addUser(t, "w@example.com", doc.WebsiteUser)
	tok := n.token(t, "w@example.com")
	c1 := dial(t, n.url, tok, false)
	live := collect(c1, "list_update")
	marks := collect(c1, "marker")
	connect(t, c1)
	subscribe(t, c1, "doctype_subscribe", "User") // allowed or not: either way no other user may show
	n.addUser(t, "live@example.com", doc.SystemUser)
	n.mark(t, "w@example.com")
	marks.waitFor(t, 1, 3*time.Second)
	for _, m := range live.waitFor(t, 0, 0) {
		if m["name"] != "w@example.com" {
			t.Fatalf("live: list_update about %v", m["name"])
		}
	}
	pid := c1.PID()
	c1.Close()
	n.addUser(t, "away@example.com", doc.SystemUser) // while the client is away
	// A recovery claiming offset 0 replays only what the session may read.
	c2, err := client.New(client.Options{URL: n.url, Namespace: "/livedoc", Auth: map[string]any{"token": tok, "pid": pid, "offset": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	replayed := collect(c2, "list_update")
	marks2 := collect(c2, "marker")
	connect(t, c2)
	n.as(t, "w@example.com", func(c *doc.Context) error {
		_, err := c.Update("User", "w@example.com", map[string]any{"last_name": "Changed"})
		return err
	})
	n.mark(t, "w@example.com")
	marks2.waitFor(t, 1, 3*time.Second)
	for _, m := range replayed.waitFor(t, 0, 0) {
		if m["name"] != "w@example.com" {
			t.Fatalf("recovery: list_update about %v", m["name"])
		}
	}
	// SSE from the start of the log: nothing about the other users, up to a marker published
	// after the replay.
	stream := openSSE(t, n.url, tok, "rooms=doctype:User&last_event_id=0")
	err = n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		return n.app.PublishRealtime(c, "marker", map[string]any{}, realtime.Target{Room: "doctype:User"}, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	own := 0
	for _, line := range stream.until(t, "event: marker") {
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, "@example.com") {
			if !strings.Contains(line, "w@example.com") {
				t.Fatalf("sse replay: %s", line)
			}
			own++
		}
	}
	if own == 0 {
		t.Fatal("sse replay: not even the user's own changes")
	}
}

// Hole 3: logging out ends the sockets of that session at once (and they cannot be recovered);
// other sessions of the user keep theirs.
func TestLogoutEndsTheSessionsSockets(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	n.addUser(t, "l@example.com", doc.SystemUser, "Accounts User")
	out, stay := n.login(t, "l@example.com"), n.login(t, "l@example.com")
	c := dialCookie(t, n.url, out.sid)
	other := dialCookie(t, n.url, stay.sid)
	marks := collect(other, "marker")
	connect(t, c)
	connect(t, other)
	if ack := subscribe(t, c, "doctype_subscribe", "Invoice"); ack["ok"] != true {
		t.Fatalf("subscribe: %v", ack)
	}
	if code := n.post(t, out, "/api/method/logout", nil); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	waitDone(t, c, "after logout")
	n.mark(t, "l@example.com")
	marks.waitFor(t, 1, 3*time.Second) // the other session's socket is still served
	// The logged-out session's pid is not recoverable, not even by the same user logged in anew.
	again := n.login(t, "l@example.com")
	r, err := client.New(client.Options{URL: n.url, Namespace: "/livedoc", Header: http.Header{"Cookie": {"sid=" + again.sid}},
		Auth: map[string]any{"pid": c.PID(), "offset": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recovered := make(chan bool, 1)
	r.OnConnect(func(rec bool) { recovered <- rec })
	connect(t, r)
	if <-recovered {
		t.Fatal("a logged-out session was recovered")
	}
}

// Hole 3: a password change ends the user's other sessions (their sockets too), and disabling a
// user ends every socket and stream of theirs.
func TestPasswordChangeAndDisablingEndSockets(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	n.addUser(t, "p@example.com", doc.SystemUser, "Accounts User")
	changer, victim := n.login(t, "p@example.com"), n.login(t, "p@example.com")
	own := dialCookie(t, n.url, changer.sid)
	other := dialCookie(t, n.url, victim.sid)
	marks := collect(own, "marker")
	connect(t, own)
	connect(t, other)
	code := n.post(t, changer, "/api/method/frappe.core.doctype.user.user.update_password",
		map[string]any{"old_password": "pw-p@example.com", "new_password": "a-new-pw-123"})
	if code != 200 {
		t.Fatalf("update_password: %d", code)
	}
	waitDone(t, other, "the other session after a password change")
	n.mark(t, "p@example.com")
	marks.waitFor(t, 1, 3*time.Second) // the session that changed it keeps its socket

	tok := n.token(t, "p@example.com")
	sock := dial(t, n.url, tok, false)
	connect(t, sock)
	stream := openSSE(t, n.url, tok, "rooms=doctype:Invoice")
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Update("User", "p@example.com", map[string]any{"enabled": 0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, own, "the user's cookie session after disabling")
	waitDone(t, sock, "the user's token socket after disabling")
	stream.waitEnd(t, "session_ended")
}

// Hole 3: an SSE stream whose user loses the role that let it in ends; before, it kept flowing.
func TestSSEStreamEndsWhenTheRoleGoes(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	n.addUser(t, "s@example.com", doc.SystemUser, "Accounts User")
	stream := openSSE(t, n.url, n.token(t, "s@example.com"), "rooms=doctype:Invoice")
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Update("User", "s@example.com", map[string]any{"roles": []any{}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	stream.waitEnd(t, "doctype:Invoice")
}

// sseReader reads a Server-Sent Events stream in the background.
type sseReader struct {
	lines chan string
}

// openSSE opens /api/realtime/sse?query with an API token; the stream must be accepted.
func openSSE(t *testing.T, base, tok, query string) *sseReader {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/realtime/sse?"+query, nil)
	req.Header.Set("Authorization", "token "+tok)
	r, status := readSSE(t, req)
	if r == nil {
		t.Fatalf("sse %s: %d", query, status)
	}
	return r
}

// readSSE sends req and reads the stream in the background; nil (and the status) when refused.
// The stream ends with the test.
func readSSE(t *testing.T, req *http.Request) (*sseReader, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		return nil, resp.StatusCode
	}
	r := &sseReader{lines: make(chan string, 100)}
	go func() {
		defer resp.Body.Close()
		defer close(r.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	return r, 200
}

// until returns the lines read before the one equal to last, which must come within 3 seconds.
func (r *sseReader) until(t *testing.T, last string) []string {
	t.Helper()
	var out []string
	deadline := time.After(3 * time.Second)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				t.Fatalf("the stream ended before %q", last)
			}
			if line == last {
				return out
			}
			out = append(out, line)
		case <-deadline:
			t.Fatalf("no %q within 3 s", last)
		}
	}
}

// waitEnd waits for the stream's livedoc_error (whose data mentions want) and its end.
func (r *sseReader) waitEnd(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(3 * time.Second)
	told := false
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				if !told {
					t.Fatalf("the stream ended without a livedoc_error about %q", want)
				}
				return
			}
			if strings.HasPrefix(line, "data: ") && strings.Contains(line, want) {
				told = true
			}
		case <-deadline:
			t.Fatalf("the stream did not end (told: %v)", told)
		}
	}
}

// Hole 5: a rename moves the old name's subscribers to the new name, and a document that later
// takes the old name does not reach them.
func TestRenameMovesSubscribers(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	n.insert(t, doc.Doc{"doctype": "Customer", "customer_name": "ACME"})
	c := dial(t, n.url, n.token(t, doc.Administrator), false)
	renames := collect(c, "doc_rename")
	updates := collect(c, "doc_update")
	marks := collect(c, "marker")
	connect(t, c)
	if ack := subscribe(t, c, "doc_subscribe", "Customer", "ACME"); ack["ok"] != true {
		t.Fatalf("subscribe: %v", ack)
	}
	save := func(name, v string) {
		t.Helper()
		err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
			_, err := c.Update("Customer", name, map[string]any{"customer_name": v})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Rename("Customer", "ACME", "ACME Ltd")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := renames.waitFor(t, 1, 3*time.Second); got[0]["new"] != "ACME Ltd" {
		t.Fatalf("doc_rename %v", got[0])
	}
	n.insert(t, doc.Doc{"doctype": "Customer", "customer_name": "ACME"}) // takes the old name
	save("ACME", "a newcomer")
	save("ACME Ltd", "the renamed one")
	n.mark(t, doc.Administrator)
	marks.waitFor(t, 1, 3*time.Second)
	if got := names(updates.waitFor(t, 0, 0)); len(got) != 1 || got[0] != "ACME Ltd" {
		t.Fatalf("doc_update for %v, want only the renamed document's", got)
	}
	// The moved subscription is the one the client holds under the new name: one unsubscribe of
	// it (after the desk's own subscribe of the new name) leaves the room.
	subscribe(t, c, "doc_subscribe", "Customer", "ACME Ltd")
	subscribe(t, c, "doc_unsubscribe", "Customer", "ACME Ltd")
	save("ACME Ltd", "once more")
	n.mark(t, doc.Administrator)
	marks.waitFor(t, 2, 3*time.Second)
	if got := updates.waitFor(t, 0, 0); len(got) != 1 {
		t.Fatalf("doc_update after unsubscribing: %v", names(got))
	}
}

// Hole 3, in a cluster: logging out on one node ends the session's sockets on the others.
func TestLogoutEndsSocketsOnEveryNode(t *testing.T) {
	dsn := storetest.DSN(t)
	rs := startRedis(t, 0)
	a := startClusterNode(t, dsn, "redis://"+rs.addr(), "livedoc")
	b := startClusterNode(t, dsn, "redis://"+rs.addr(), "livedoc")
	a.addUser(t, "l@example.com", doc.SystemUser, "Accounts User")
	s := a.login(t, "l@example.com")
	c := dialCookie(t, b.url, s.sid)
	connect(t, c)
	if ack := subscribe(t, c, "doctype_subscribe", "Invoice"); ack["ok"] != true {
		t.Fatalf("subscribe on the other node: %v", ack)
	}
	if code := a.post(t, s, "/api/method/logout", nil); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	waitDone(t, c, "the socket on the other node after logout")
}

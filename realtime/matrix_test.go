package realtime_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime"
	"github.com/livedoc/livedoc/realtime/client"
	"github.com/livedoc/livedoc/store/storetest"
)

// The authorization matrix: every way in × every kind of user, on a two-node cluster over Redis.
// The expected outcomes are the table in docs/security.md, read here, so the page and the code
// cannot disagree.

const noteDT = "Secret Note"

// principal is one kind of user, as the matrix's columns name them.
type principal struct {
	kind      string
	user      string // "" for Guest
	token     string // API key:secret
	sid, csrf string // a cookie session
}

type matrix struct {
	t    *testing.T
	a, b *node // REST and saves go to a; sockets and streams mostly to b
	ps   map[string]*principal
}

func TestAuthorizationMatrix(t *testing.T) {
	want := readMatrix(t, "../docs/security.md")
	dsn := storetest.DSN(t)
	rs := startRedis(t, 0)
	m := &matrix{t: t}
	m.a = startClusterNode(t, dsn, "redis://"+rs.addr(), "livedoc")
	m.b = startClusterNode(t, dsn, "redis://"+rs.addr(), "livedoc")
	m.setup()
	m.addScripts()
	ways := map[string]func(p *principal) string{
		"rest.get":                 m.restGet,
		"rest.list":                m.restList,
		"rest.count":               m.restCount,
		"rest.get_value":           m.restGetValue,
		"rest.set_value":           m.write(m.setValue),
		"rest.insert":              m.restInsert,
		"rest.save":                m.write(m.save),
		"rest.submit":              m.write(m.submit),
		"rest.cancel":              m.cancelWay,
		"rest.delete":              m.write(m.deleteDoc),
		"rest.rename":              m.write(m.rename),
		"method.guest":             m.method("GET", "/api/method/ping"),
		"method.user":              m.method("GET", "/api/method/frappe.auth.get_logged_user"),
		"realtime.publish":         m.restPublish,
		"socket.doc_subscribe":     m.docSubscribe,
		"socket.doc_open":          m.docOpen,
		"socket.doctype_subscribe": func(p *principal) string { return m.doctypeSubscribe(p, m.b) },
		"socket.task_subscribe":    m.taskSubscribe,
		"sse.doctype":              m.sseDoctype,
		"sse.custom":               m.sseCustom,
		"recovery.replay":          m.recoveryReplay,
		"cluster.same_node":        func(p *principal) string { return m.doctypeSubscribe(p, m.a) },
		"rest.getdoc":              m.getdoc,
		"rest.add_comment":         m.addComment,
		"files.upload":             m.filesUpload,
		"files.private":            m.filesPrivate,
		"socket.doc_snapshot":      m.docSnapshot,
		"socket.list_subscribe":    m.listSubscribe,
		"script.api":               m.method("GET", "/api/method/matrix.hello"),
		"script.api_guest":         m.method("GET", "/api/method/matrix.open"),
		"script.write":             m.scriptWrite,
		"jobs.list":                m.method("GET", "/api/resource/RQ%20Job"),
	}
	var rows []string
	for row := range want {
		rows = append(rows, row)
	}
	slices.Sort(rows)
	for _, row := range rows {
		way := ways[row]
		if way == nil {
			t.Errorf("docs/security.md has a row %q this test does not run", row)
			continue
		}
		for kind, expect := range want[row] {
			p := m.ps[kind]
			if p == nil {
				t.Fatalf("docs/security.md has a column %q this test does not know", kind)
			}
			t.Run(row+"/"+kind, func(t *testing.T) {
				m.t = t
				m.restoreDemoted(p)
				if got := way(p); got != expect {
					t.Errorf("%s as %s: got %s, docs/security.md says %s", row, kind, got, expect)
				}
			})
		}
	}
	m.t = t
	for row := range ways {
		if want[row] == nil {
			t.Errorf("this test runs %q, which docs/security.md's matrix lacks", row)
		}
	}
}

// readMatrix reads the table under "## The matrix": row key (the first cell's `code`) → column
// label → outcome.
func readMatrix(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, text, ok := strings.Cut(string(b), "## The matrix")
	if !ok {
		t.Fatalf("%s has no matrix", path)
	}
	key := regexp.MustCompile("^`([a-z_.]+)`")
	out := map[string]map[string]string{}
	var cols []string
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case cols == nil:
			cols = cells[1:]
		case strings.HasPrefix(cells[0], "---"):
		default:
			k := key.FindStringSubmatch(cells[0])
			if k == nil || len(cells) != len(cols)+1 {
				t.Fatalf("matrix row %q: want `way` and %d cells", line, len(cols))
			}
			out[k[1]] = map[string]string{}
			for i, c := range cols {
				out[k[1]][c] = cells[i+1]
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the matrix is empty")
	}
	return out
}

func (m *matrix) setup() {
	t, a := m.t, m.a
	dt, err := doc.ParseDocType([]byte(`{"name": "Secret Note", "autoname": "hash", "is_submittable": 1, "allow_rename": 1,
		"fields": [{"fieldname": "title", "fieldtype": "Data", "allow_on_submit": 1}],
		"permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1, "submit": 1, "cancel": 1},
		{"role": "Note Owner", "read": 1, "write": 1, "create": 1, "delete": 1, "submit": 1, "cancel": 1, "if_owner": 1},
		{"role": "Note Reader", "read": 1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.app.DocTypes(context.Background(), dt); err != nil {
		t.Fatal(err)
	}
	a.addUser(t, "web@example.com", doc.WebsiteUser)
	a.addUser(t, "plain@example.com", doc.SystemUser)
	a.addUser(t, "owner@example.com", doc.SystemUser, "Note Owner")
	a.addUser(t, "reader@example.com", doc.SystemUser, "Note Reader")
	a.addUser(t, "sm@example.com", doc.SystemUser, "System Manager")
	a.addUser(t, "off@example.com", doc.SystemUser, "Note Reader")
	a.addUser(t, "gone@example.com", doc.SystemUser, "Note Reader")
	a.addUser(t, "demoted@example.com", doc.SystemUser, "Note Reader")
	tok := func(u string) *principal { return &principal{user: u, token: a.token(t, u)} }
	m.ps = map[string]*principal{
		"Guest":                   {},
		"Website User":            tok("web@example.com"),
		"System User, no roles":   tok("plain@example.com"),
		"if_owner role":           tok("owner@example.com"),
		"full-read role":          tok("reader@example.com"),
		"System Manager":          tok("sm@example.com"),
		"Administrator":           tok(doc.Administrator),
		"disabled user":           tok("off@example.com"),
		"role removed mid-stream": tok("demoted@example.com"),
		"logged-out session":      {user: "gone@example.com"},
	}
	for kind, p := range m.ps {
		p.kind = kind
	}
	a.update(t, "User", "off@example.com", map[string]any{"enabled": 0})
	gone := m.ps["logged-out session"]
	s := a.login(t, gone.user)
	gone.sid, gone.csrf = s.sid, s.csrf
	if code := a.post(t, s, "/api/method/logout", nil); code != 200 {
		t.Fatalf("logout: %d", code)
	}
}

// restoreDemoted gives the "role removed mid-stream" user its role back before each cell;
// demote takes it away at the cell's chosen moment (at once for anything but a stream).
func (m *matrix) restoreDemoted(p *principal) {
	if p.kind == "role removed mid-stream" {
		m.a.update(m.t, "User", p.user, map[string]any{"roles": []any{map[string]any{"role": "Note Reader"}}})
	}
}

func (m *matrix) demote(p *principal) {
	if p.kind != "role removed mid-stream" {
		return
	}
	m.a.update(m.t, "User", p.user, map[string]any{"roles": []any{}})
	// The change reaches node b through the bus (milliseconds): what the cell does next on b is
	// decided on it, as a user's next request after a change would be.
	deadline := time.Now().Add(5 * time.Second)
	for {
		u, err := m.b.app.Auth.User(context.Background(), p.user)
		if err == nil && !u.HasRole("Note Reader") {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("node b still sees %s's role after 5 s", p.user)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// docs inserts a fresh pair: A owned by the if_owner user, B by the Administrator.
func (m *matrix) docs() (a, b string) {
	m.a.as(m.t, "owner@example.com", func(c *doc.Context) error {
		d, err := c.Insert(doc.Doc{"doctype": noteDT, "title": "A"})
		a = d.Name()
		return err
	})
	b = m.a.insert(m.t, doc.Doc{"doctype": noteDT, "title": "B"}).Name()
	return a, b
}

// saveAll changes both documents, as the Administrator, on node a.
func (m *matrix) saveAll(names ...string) {
	for _, n := range names {
		m.a.update(m.t, noteDT, n, map[string]any{"title": time.Now().String()})
	}
}

// outcome names what worked on A and on B.
func outcome(onA, onB bool) string {
	switch {
	case onA && onB:
		return "all"
	case onA:
		return "own"
	case !onB:
		return "none"
	}
	return "B but not A"
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func seen(names []string, a, b string) string {
	return outcome(slices.Contains(names, a), slices.Contains(names, b))
}

// call sends a request as p to node a and returns the status and the decoded body.
func (m *matrix) call(p *principal, method, path string, body any) (int, map[string]any) {
	m.t.Helper()
	var r *strings.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		r = strings.NewReader(string(j))
	} else {
		r = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, m.a.url+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	authorize(req, p)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 500 {
		m.t.Fatalf("%s %s as %s: %d %v", method, path, p.kind, resp.StatusCode, out)
	}
	return resp.StatusCode, out
}

func (m *matrix) ok(p *principal, method, path string, body any) bool {
	m.t.Helper()
	status, _ := m.call(p, method, path, body)
	return status < 300
}

func docPath(name string) string {
	return "/api/resource/" + url.PathEscape(noteDT) + "/" + url.PathEscape(name)
}

func (m *matrix) restGet(p *principal) string {
	a, b := m.docs()
	m.demote(p)
	return outcome(m.ok(p, "GET", docPath(a), nil), m.ok(p, "GET", docPath(b), nil))
}

func (m *matrix) listed(p *principal, method, path string) string {
	a, b := m.docs()
	m.demote(p)
	status, body := m.call(p, method, path, nil)
	if status >= 300 {
		return "none"
	}
	var got []string
	raw, _ := json.Marshal(body)
	for _, n := range []string{a, b} {
		if strings.Contains(string(raw), n) {
			got = append(got, n)
		}
	}
	return seen(got, a, b)
}

func (m *matrix) restList(p *principal) string {
	return m.listed(p, "GET", "/api/resource/"+url.PathEscape(noteDT)+"?limit_page_length=0")
}

func (m *matrix) restGetValue(p *principal) string {
	a, b := m.docs()
	m.demote(p)
	value := func(name string) bool {
		q := url.Values{"doctype": {noteDT}, "fieldname": {"title"}, "filters": {`{"name": "` + name + `"}`}}
		status, body := m.call(p, "GET", "/api/method/frappe.client.get_value?"+q.Encode(), nil)
		return status < 300 && body["message"] != nil
	}
	return outcome(value(a), value(b))
}

// restCount counts A and B (filters on their names): 2 is all, 1 own, 0 or a refusal none.
func (m *matrix) restCount(p *principal) string {
	a, b := m.docs()
	m.demote(p)
	q := url.Values{"doctype": {noteDT}, "filters": {`[["name", "in", ["` + a + `", "` + b + `"]]]`}}
	status, body := m.call(p, "GET", "/api/method/frappe.client.get_count?"+q.Encode(), nil)
	if status >= 300 {
		return "none"
	}
	switch body["message"] {
	case 2.0:
		return "all"
	case 1.0:
		return "own"
	}
	return "none"
}

// write runs a change on A and on B (fresh ones) and tells where it worked.
func (m *matrix) write(change func(p *principal, name string) bool) func(p *principal) string {
	return func(p *principal) string {
		a, b := m.docs()
		m.demote(p)
		return outcome(change(p, a), change(p, b))
	}
}

func (m *matrix) setValue(p *principal, name string) bool {
	return m.ok(p, "POST", "/api/method/frappe.client.set_value", map[string]any{"doctype": noteDT, "name": name, "fieldname": "title", "value": "set"})
}

func (m *matrix) save(p *principal, name string) bool {
	return m.ok(p, "PUT", docPath(name), map[string]any{"title": "saved"})
}

func (m *matrix) submit(p *principal, name string) bool {
	return m.ok(p, "POST", "/api/method/frappe.client.submit", map[string]any{"doc": map[string]any{"doctype": noteDT, "name": name}})
}

func (m *matrix) deleteDoc(p *principal, name string) bool {
	return m.ok(p, "DELETE", docPath(name), nil)
}

func (m *matrix) rename(p *principal, name string) bool {
	return m.ok(p, "POST", "/api/method/frappe.client.rename_doc", map[string]any{"doctype": noteDT, "old_name": name, "new_name": name + "-renamed"})
}

func (m *matrix) cancelWay(p *principal) string {
	a, b := m.docs()
	m.a.update(m.t, noteDT, a, map[string]any{"docstatus": 1})
	m.a.update(m.t, noteDT, b, map[string]any{"docstatus": 1})
	m.demote(p)
	cancel := func(name string) bool {
		return m.ok(p, "POST", "/api/method/frappe.client.cancel", map[string]any{"doctype": noteDT, "name": name})
	}
	return outcome(cancel(a), cancel(b))
}

func (m *matrix) restInsert(p *principal) string {
	m.demote(p)
	return yesNo(m.ok(p, "POST", "/api/resource/"+url.PathEscape(noteDT), map[string]any{"title": "new"}))
}

func (m *matrix) method(method, path string) func(p *principal) string {
	return func(p *principal) string {
		m.demote(p)
		return yesNo(m.ok(p, method, path, nil))
	}
}

func (m *matrix) restPublish(p *principal) string {
	m.demote(p)
	return yesNo(m.ok(p, "POST", "/api/realtime/publish", map[string]any{"event": "hello", "message": map[string]any{}, "room": "all"}))
}

// sock is a socket of the matrix, with what it received of the events the matrix counts.
type sock struct {
	*client.Client
	docUpdates, listUpdates, marks, fences *collector
}

// socket connects p to node n (false when the connection is refused); auth adds to the CONNECT's.
func (m *matrix) socket(p *principal, n *node, auth map[string]any) (*sock, bool) {
	m.t.Helper()
	o := client.Options{URL: n.url, Namespace: "/livedoc", Auth: map[string]any{}}
	switch {
	case p.token != "":
		o.Auth["token"] = p.token
	case p.sid != "":
		o.Header = http.Header{"Cookie": {"sid=" + p.sid}}
	}
	for k, v := range auth {
		o.Auth[k] = v
	}
	c, err := client.New(o)
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { c.Close() })
	s := &sock{Client: c, docUpdates: collect(c, "doc_update"), listUpdates: collect(c, "list_update"), marks: collect(c, "marker"),
		fences: collect(c, "fence")}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s, c.Connect(ctx) == nil
}

func (m *matrix) ack(c *sock, event string, args ...any) bool {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.EmitWithAck(ctx, event, args...)
	if err != nil {
		m.t.Fatal(err)
	}
	var r map[string]any
	_ = json.Unmarshal(res[0], &r)
	return r["ok"] == true
}

// publish sends an event to a room through node a, after everything committed before.
func (m *matrix) publish(event, room string) {
	m.t.Helper()
	err := m.a.app.Engine.Run(context.Background(), doc.AdminUser, true, func(ctx *doc.Context) error {
		return m.a.app.PublishRealtime(ctx, event, map[string]any{}, realtime.Target{Room: room}, true)
	})
	if err != nil {
		m.t.Fatal(err)
	}
}

// fence waits until everything committed before has reached the socket, and forgets it: what is
// counted next comes from what the cell does after subscribing.
func (m *matrix) fence(c *sock) {
	m.t.Helper()
	m.publish("fence", "website")
	c.fences.waitFor(m.t, 1, 5*time.Second)
	for _, col := range []*collector{c.docUpdates, c.listUpdates} {
		col.mu.Lock()
		col.msgs = nil
		col.mu.Unlock()
	}
}

// received waits for a marker published after everything else (to the website room, which every
// socket is in) and returns the names the event brought until then.
func (m *matrix) received(col, marks *collector) []string {
	m.t.Helper()
	m.publish("marker", "website")
	marks.waitFor(m.t, 1, 5*time.Second)
	return names(col.waitFor(m.t, 0, 0))
}

func (m *matrix) docSubscribe(p *principal) string {
	a, b := m.docs()
	c, connected := m.socket(p, m.b, nil)
	if !connected {
		return "none"
	}
	m.ack(c, "doc_subscribe", noteDT, a)
	m.ack(c, "doc_subscribe", noteDT, b)
	m.fence(c)
	m.demote(p)
	m.saveAll(a, b)
	return seen(m.received(c.docUpdates, c.marks), a, b)
}

func (m *matrix) docOpen(p *principal) string {
	a, b := m.docs()
	m.demote(p)
	c, connected := m.socket(p, m.b, nil)
	if !connected {
		return "none"
	}
	return outcome(m.ack(c, "doc_open", noteDT, a), m.ack(c, "doc_open", noteDT, b))
}

func (m *matrix) doctypeSubscribe(p *principal, on *node) string {
	a, b := m.docs()
	c, connected := m.socket(p, on, nil)
	if !connected {
		return "none"
	}
	m.ack(c, "doctype_subscribe", noteDT)
	m.fence(c)
	m.demote(p)
	m.saveAll(a, b)
	return seen(m.received(c.listUpdates, c.marks), a, b)
}

// taskSubscribe: p subscribes to a task the Administrator registered (anyone signed in may), the
// Administrator publishes its progress: did p receive it?
func (m *matrix) taskSubscribe(p *principal) string {
	var task string
	err := m.a.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		task = m.a.app.Realtime.NewTask(c)
		return nil
	})
	if err != nil {
		m.t.Fatal(err)
	}
	m.demote(p)
	c, connected := m.socket(p, m.a, nil)
	if !connected || !m.ack(c, "task_subscribe", task) {
		return "no"
	}
	progress := collect(c.Client, "progress")
	err = m.a.app.Engine.Run(context.Background(), doc.AdminUser, true, func(ctx *doc.Context) error {
		return m.a.app.Realtime.PublishProgress(ctx, 50, "admin's", "", realtime.Target{TaskID: task})
	})
	if err != nil {
		m.t.Fatal(err)
	}
	m.received(c.listUpdates, c.marks) // the marker, published after the progress, has arrived
	for _, msg := range progress.waitFor(m.t, 0, 0) {
		if msg["task_id"] == task {
			return "yes"
		}
	}
	return "no"
}

// sse opens a stream as p on node b; nil when refused.
func (m *matrix) sse(p *principal, rooms string) *sseReader {
	m.t.Helper()
	req, _ := http.NewRequest("GET", m.b.url+"/api/realtime/sse?rooms="+url.QueryEscape(rooms), nil)
	switch {
	case p.token != "":
		req.Header.Set("Authorization", "token "+p.token)
	case p.sid != "":
		req.Header.Set("Cookie", "sid="+p.sid)
	}
	r, _ := readSSE(m.t, req)
	return r
}

func (m *matrix) sseDoctype(p *principal) string {
	a, b := m.docs()
	room := "doctype:" + noteDT
	s := m.sse(p, room)
	if s == nil {
		return "none"
	}
	m.publish("fence", room) // what came before the stream's own cell is not counted
	s.until(m.t, "event: fence")
	m.demote(p)
	m.saveAll(a, b)
	m.publish("marker", room)
	var got []string
	deadline := time.After(5 * time.Second)
	for {
		select {
		case line, open := <-s.lines:
			if !open || line == "event: marker" {
				return seen(got, a, b) // a stream ended for lost rights counts what it gave before
			}
			for _, n := range []string{a, b} {
				if strings.HasPrefix(line, "data: ") && strings.Contains(line, n) {
					got = append(got, n)
				}
			}
		case <-deadline:
			m.t.Fatal("sse: no marker within 5 s")
		}
	}
}

func (m *matrix) sseCustom(p *principal) string {
	m.demote(p)
	return yesNo(m.sse(p, "ops-room") != nil)
}

// recoveryReplay subscribes, goes away while A and B change, and comes back with its pid and
// offset: what the replay brings.
func (m *matrix) recoveryReplay(p *principal) string {
	a, b := m.docs()
	first, connected := m.socket(p, m.b, nil)
	if !connected {
		return "none"
	}
	m.ack(first, "doctype_subscribe", noteDT)
	m.fence(first)
	pid, offset := first.PID(), first.LastOffset()
	first.Close()
	m.demote(p)
	m.saveAll(a, b)
	c, connected := m.socket(p, m.b, map[string]any{"pid": pid, "offset": offset})
	if !connected {
		return "none"
	}
	got := seen(m.received(c.listUpdates, c.marks), a, b)
	if c.PID() != pid {
		return got + " (not recovered)"
	}
	return got
}

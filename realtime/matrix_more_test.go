package realtime_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"

	"github.com/livedoc/livedoc/doc"
)

// The matrix's ways in beside a document: its form (getdoc), comments, files, and the live
// queries (a snapshot with doc_subscribe, live lists).

func (m *matrix) getdoc(p *principal) string {
	a, b := m.docs()
	m.demote(p)
	load := func(name string) bool {
		q := url.Values{"doctype": {noteDT}, "name": {name}}
		return m.ok(p, "GET", "/api/method/frappe.desk.form.load.getdoc?"+q.Encode(), nil)
	}
	return outcome(load(a), load(b))
}

func (m *matrix) addComment(p *principal) string {
	a, b := m.docs()
	m.demote(p)
	comment := func(name string) bool {
		return m.ok(p, "POST", "/api/method/frappe.desk.form.utils.add_comment", map[string]any{
			"reference_doctype": noteDT, "reference_name": name, "content": "a comment", "comment_email": p.user})
	}
	return outcome(comment(a), comment(b))
}

// upload sends upload_file as p: a private text file attached to the document. It returns the
// file's URL, or "" when refused.
func (m *matrix) upload(p *principal, name string) string {
	m.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range map[string]string{"is_private": "1", "doctype": noteDT, "docname": name} {
		_ = w.WriteField(k, v)
	}
	part, _ := w.CreateFormFile("file", "note.txt")
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	_, _ = part.Write([]byte("attached to " + name + " " + hex.EncodeToString(salt)))
	_ = w.Close()
	req, _ := http.NewRequest("POST", m.a.url+"/api/method/upload_file", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	authorize(req, p)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Message struct {
			FileURL string `json:"file_url"`
		} `json:"message"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 500 {
		m.t.Fatalf("upload_file as %s: %d", p.kind, resp.StatusCode)
	}
	if resp.StatusCode >= 300 {
		return ""
	}
	return out.Message.FileURL
}

func (m *matrix) filesUpload(p *principal) string {
	a, b := m.docs()
	m.demote(p)
	return outcome(m.upload(p, a) != "", m.upload(p, b) != "")
}

// filesPrivate: the Administrator attaches a private file to A and to B; may p download them?
func (m *matrix) filesPrivate(p *principal) string {
	a, b := m.docs()
	admin := m.ps["Administrator"]
	fa, fb := m.upload(admin, a), m.upload(admin, b)
	if fa == "" || fb == "" {
		m.t.Fatal("the Administrator could not attach files")
	}
	m.demote(p)
	return outcome(m.ok(p, "GET", fa, nil), m.ok(p, "GET", fb, nil))
}

// docSnapshot: doc_subscribe with {snapshot: true} answers with the document.
func (m *matrix) docSnapshot(p *principal) string {
	a, b := m.docs()
	m.demote(p)
	c, connected := m.socket(p, m.b, nil)
	if !connected {
		return "none"
	}
	got := func(name string) bool {
		ack := subscribe(m.t, c.Client, "doc_subscribe", noteDT, name, map[string]any{"snapshot": true})
		d, _ := ack["doc"].(map[string]any)
		return ack["ok"] == true && d["name"] == name
	}
	return outcome(got(a), got(b))
}

// listSubscribe: a live list of A and B, then both change (after the role is removed, for that
// column): which changed rows reached the socket? It also waits for the socket's rows to equal
// what the query returns for p now, so a list that never catches up fails the cell.
func (m *matrix) listSubscribe(p *principal) string {
	a, b := m.docs()
	c, connected := m.socket(p, m.b, nil)
	if !connected {
		return "none"
	}
	q := doc.Query{Fields: []string{"name", "title"}, Filters: []doc.Filter{{Field: "name", Op: "in", Value: []any{a, b}}},
		OrderBy: "name asc", Limit: 20}
	l := watchList(c.Client)
	changes := collect(c.Client, "list_change")
	ack := subscribe(m.t, c.Client, "list_subscribe", map[string]any{"doctype": noteDT, "fields": q.Fields,
		"filters": [][]any{{"name", "in", []string{a, b}}}, "order_by": q.OrderBy, "limit": q.Limit})
	if ack["ok"] != true {
		return "none"
	}
	l.mu.Lock()
	l.id = ack["id"].(string)
	for _, r := range ack["rows"].([]any) {
		l.rows = append(l.rows, r.(map[string]any))
	}
	l.mu.Unlock()
	m.fence(c)
	changes.mu.Lock()
	changes.msgs = nil
	changes.mu.Unlock()
	m.demote(p)
	m.saveAll(a, b)
	l.waitEqual(m.t, func() []map[string]any { return m.listAs(p, q) })
	var got []string
	for _, ch := range changes.waitFor(m.t, 0, 0) {
		if ch["row"] != nil {
			got = append(got, ch["name"].(string))
		}
	}
	return seen(got, a, b)
}

// listAs is what q returns for p now (nothing when p may not list at all).
func (m *matrix) listAs(p *principal, q doc.Query) []map[string]any {
	rows, _ := m.a.listRows(m.t, p.user, noteDT, q)
	return rows
}

// authorize sets p's credentials on a request: API key, or cookie session with its CSRF token.
func authorize(req *http.Request, p *principal) {
	switch {
	case p.token != "":
		req.Header.Set("Authorization", "token "+p.token)
	case p.sid != "":
		req.Header.Set("Cookie", "sid="+p.sid)
		req.Header.Set("X-Frappe-CSRF-Token", p.csrf)
	}
}

// Server Scripts and jobs: calling API scripts, writing server code, reading the job queue.

// addScripts saves the matrix's two API Server Scripts, as the Administrator.
func (m *matrix) addScripts() {
	for name, guest := range map[string]int{"matrix.hello": 0, "matrix.open": 1} {
		err := m.a.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
			_, err := c.Insert(doc.Doc{"doctype": "Server Script", "name": name, "script_type": "API", "api_method": name,
				"allow_guest": guest, "script": `frappe.response.message = frappe.session.user`})
			return err
		})
		if err != nil {
			m.t.Fatal(err)
		}
	}
}

func (m *matrix) scriptWrite(p *principal) string {
	m.demote(p)
	salt := make([]byte, 4)
	_, _ = rand.Read(salt)
	name := "matrix.w" + hex.EncodeToString(salt)
	return yesNo(m.ok(p, "POST", "/api/resource/Server%20Script", map[string]any{"name": name, "script_type": "API",
		"api_method": name, "script": "frappe.response.message = 1"}))
}

package docinfo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/internal/apptest"
	"github.com/livedoc/livedoc/realtime/client"
	"github.com/livedoc/livedoc/store/storetest"
)

// Memo: "Memo User" reads and writes. Tracked: track_changes, with a child table.
var testDocTypes = []string{
	`{"doctype": "DocType", "name": "Memo", "module": "Test", "autoname": "hash",
	 "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
	 "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
	  {"role": "Memo User", "read": 1, "write": 1, "create": 1}]}`,
	`{"doctype": "DocType", "name": "Tracked Row", "module": "Test", "istable": 1,
	 "fields": [{"fieldname": "item", "fieldtype": "Data"}, {"fieldname": "qty", "fieldtype": "Int"}]}`,
	`{"doctype": "DocType", "name": "Tracked", "module": "Test", "autoname": "hash", "track_changes": 1,
	 "fields": [{"fieldname": "title", "fieldtype": "Data"}, {"fieldname": "qty", "fieldtype": "Int"},
	  {"fieldname": "notes_section", "fieldtype": "Section Break"},
	  {"fieldname": "rows", "fieldtype": "Table", "options": "Tracked Row"}],
	 "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]}`,
}

func newEnv(t *testing.T) *apptest.Env {
	t.Helper()
	ctx := context.Background()
	app, err := livedoc.New(ctx, livedoc.Config{DataDir: t.TempDir(), Database: storetest.DSN(t), AdminPassword: apptest.AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	var dts []*doc.DocType
	for _, j := range testDocTypes {
		dt, err := doc.ParseDocType([]byte(j))
		if err != nil {
			t.Fatal(err)
		}
		dts = append(dts, dt)
	}
	if err := app.DocTypes(ctx, dts...); err != nil {
		t.Fatal(err)
	}
	return apptest.Serve(t, app)
}

// events is a socket subscribed to a document, collecting its docinfo_update events.
type events struct {
	t  *testing.T
	ch chan map[string]any
}

func watch(t *testing.T, e *apptest.Env, user, doctype, name string) *events {
	t.Helper()
	var tok string
	err := e.App.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		key, secret, err := e.App.Auth.GenerateKeys(c, user)
		tok = key + ":" + secret
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{URL: e.Srv.URL, Namespace: "/livedoc", Auth: map[string]any{"token": tok}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ev := &events{t: t, ch: make(chan map[string]any, 100)}
	c.On("docinfo_update", func(args []json.RawMessage) {
		var m map[string]any
		_ = json.Unmarshal(args[0], &m)
		ev.ch <- m
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := c.EmitWithAck(ctx, "doc_subscribe", doctype, name)
	if err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	if _ = json.Unmarshal(res[0], &ack); ack["ok"] != true {
		t.Fatalf("doc_subscribe: %s", res[0])
	}
	return ev
}

// next is the next docinfo_update, which must have this key and action.
func (ev *events) next(key, action string) map[string]any {
	ev.t.Helper()
	select {
	case m := <-ev.ch:
		if m["key"] != key || m["action"] != action {
			ev.t.Fatalf("docinfo_update %v, want key %s action %s", m, key, action)
		}
		return m["doc"].(map[string]any)
	case <-time.After(5 * time.Second):
		ev.t.Fatalf("no docinfo_update %s %s within 5s", key, action)
	}
	return nil
}

func call(t *testing.T, c *apptest.Client, method string, args map[string]any, want int) map[string]any {
	t.Helper()
	status, body := c.JSON("POST", "/api/method/"+method, args)
	if status != want {
		t.Fatalf("%s: %d %v, want %d", method, status, body, want)
	}
	return body
}

func getdoc(t *testing.T, c *apptest.Client, doctype, name string) (int, map[string]any) {
	t.Helper()
	return c.JSON("GET", "/api/method/frappe.desk.form.load.getdoc?"+url.Values{"doctype": {doctype}, "name": {name}}.Encode(), nil)
}

func count(t *testing.T, e *apptest.Env, doctype string) int64 {
	t.Helper()
	var n int64
	err := e.App.Engine.Run(context.Background(), doc.AdminUser, false, func(c *doc.Context) error {
		var err error
		n, err = c.Count(doctype, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A comment, an assignment and an attachment reach a second user's socket subscribed to the
// document, after their commits, in Frappe's docinfo_update shape; getdoc lists them; users who
// cannot read the document can do none of it.
func TestDocinfoLive(t *testing.T) {
	e := newEnv(t)
	alice := e.NewUser("alice@example.com", "Memo User")
	e.NewUser("carol@example.com", "Memo User")
	bob := e.NewUser("bob@example.com")
	_, body := alice.JSON("POST", "/api/resource/Memo", map[string]any{"title": "plan"})
	name := body["data"].(map[string]any)["name"].(string)
	ev := watch(t, e, "carol@example.com", "Memo", name)

	// Refused: nothing written, nothing published (the next event is the comment below).
	call(t, alice, "frappe.desk.form.utils.add_comment", map[string]any{"reference_doctype": "Memo", "reference_name": name, "content": ""}, 417)
	call(t, bob, "frappe.desk.form.utils.add_comment", map[string]any{"reference_doctype": "Memo", "reference_name": name, "content": "hi"}, 403)
	call(t, bob, "frappe.desk.form.assign_to.add", map[string]any{"doctype": "Memo", "name": name, "assign_to": []string{"bob@example.com"}}, 403)
	call(t, alice, "frappe.desk.form.assign_to.add", map[string]any{"doctype": "Memo", "name": name, "assign_to": []string{"bob@example.com"}}, 403)
	if n := count(t, e, "Comment") + count(t, e, "ToDo"); n != 0 {
		t.Fatalf("refused calls left %d comments and ToDos", n)
	}

	msg := call(t, alice, "frappe.desk.form.utils.add_comment", map[string]any{"reference_doctype": "Memo", "reference_name": name,
		"content": `<p onclick="x()">Looks <b>good</b><script>alert(1)</script></p>`, "comment_email": "alice@example.com", "comment_by": "Alice"}, 200)["message"].(map[string]any)
	wantContent := "<p>Looks <b>good</b>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
	if msg["content"] != wantContent || msg["comment_type"] != "Comment" || msg["owner"] != "alice@example.com" {
		t.Fatalf("add_comment: %v", msg)
	}
	d := ev.next("comments", "add")
	if d["name"] != msg["name"] || d["content"] != wantContent || d["reference_doctype"] != "Memo" || d["reference_name"] != name {
		t.Fatalf("comment event: %v", d)
	}

	assigned := call(t, alice, "frappe.desk.form.assign_to.add", map[string]any{"doctype": "Memo", "name": name,
		"assign_to": `["carol@example.com"]`, "description": "Please review"}, 200)["message"].([]any)
	if len(assigned) != 1 || assigned[0].(map[string]any)["owner"] != "carol@example.com" {
		t.Fatalf("assign_to.add: %v", assigned)
	}
	if d := ev.next("assignment_logs", "add"); d["comment_type"] != "Assigned" || d["reference_name"] != name {
		t.Fatalf("assignment log: %v", d)
	}
	if d := ev.next("assignments", "add"); d["owner"] != "carol@example.com" || d["reference_name"] != name {
		t.Fatalf("assignment: %v", d)
	}

	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"doctype": "Memo", "docname": name, "is_private": "1"} {
		_ = w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", "plan.txt")
	_, _ = fw.Write([]byte("the plan"))
	_ = w.Close()
	if status, raw := alice.Raw("POST", "/api/method/upload_file", w.FormDataContentType(), buf.Bytes()); status != 200 {
		t.Fatalf("upload_file: %d %s", status, raw)
	}
	if d := ev.next("attachment_logs", "add"); d["comment_type"] != "Attachment" {
		t.Fatalf("attachment log: %v", d)
	}
	if d := ev.next("attachments", "add"); d["file_url"] != "/private/files/plan.txt" || d["reference_name"] != name {
		t.Fatalf("attachment: %v", d)
	}

	carol := e.Login("carol@example.com", "pw-carol@example.com")
	status, got := getdoc(t, carol, "Memo", name)
	if status != 200 {
		t.Fatalf("getdoc: %d %v", status, got)
	}
	if docs := got["docs"].([]any); len(docs) != 1 || docs[0].(map[string]any)["title"] != "plan" {
		t.Fatalf("getdoc docs: %v", got["docs"])
	}
	info := got["docinfo"].(map[string]any)
	lens := map[string]int{"comments": 1, "attachments": 1, "assignments": 1, "assignment_logs": 1, "attachment_logs": 1,
		"versions": 0, "communications": 0, "shared": 0}
	for k, n := range lens {
		if l, ok := info[k].([]any); !ok || len(l) != n {
			t.Errorf("docinfo.%s: %v, want %d entries", k, info[k], n)
		}
	}
	if a := info["assignments"].([]any)[0].(map[string]any); a["owner"] != "carol@example.com" || a["status"] != "Open" {
		t.Errorf("docinfo.assignments: %v", a)
	}
	if p := info["permissions"].(map[string]any); p["read"] != float64(1) || p["delete"] != float64(0) {
		t.Errorf("docinfo.permissions: %v", p)
	}
	if u := info["user_info"].(map[string]any); u["alice@example.com"] == nil {
		t.Errorf("docinfo.user_info: %v", u)
	}

	call(t, alice, "frappe.desk.doctype.tag.tag.add_tag", map[string]any{"tag": "urgent", "dt": "Memo", "dn": name}, 200)
	call(t, alice, "frappe.desk.form.assign_to.remove", map[string]any{"doctype": "Memo", "name": name, "assign_to": "carol@example.com"}, 200)
	if d := ev.next("assignment_logs", "add"); d["comment_type"] != "Assignment Completed" {
		t.Fatalf("assignment removal log: %v", d)
	}
	ev.next("assignments", "delete")
	_, got = getdoc(t, carol, "Memo", name)
	info = got["docinfo"].(map[string]any)
	if len(info["assignments"].([]any)) != 0 || len(info["assignment_logs"].([]any)) != 2 || info["tags"] != "urgent" {
		t.Fatalf("docinfo after removal: assignments %v, logs %v, tags %v", info["assignments"], info["assignment_logs"], info["tags"])
	}

	if status, body := getdoc(t, bob, "Memo", name); status != 403 {
		t.Errorf("getdoc by a user who cannot read: %d %v", status, body)
	}
	if status, body := getdoc(t, carol, "Memo", "no-such-memo"); status != 200 || len(body["docs"].([]any)) != 0 {
		t.Errorf("getdoc of a missing document: %d %v", status, body)
	}
	if status, _ := bob.JSON("GET", "/api/resource/Comment", nil); status != 403 {
		t.Errorf("Comment list for a user without Comment rights: %d", status)
	}
}

// A save of a track_changes document records a Version with Frappe's diff: fields changed, child
// rows added, removed and changed; an insert and a save that changes nothing record none.
func TestVersion(t *testing.T) {
	e := newEnv(t)
	admin := e.Login("Administrator", apptest.AdminPassword)
	status, body := admin.JSON("POST", "/api/resource/Tracked", map[string]any{"title": "a", "qty": 1,
		"rows": []any{map[string]any{"item": "x", "qty": 1}, map[string]any{"item": "y", "qty": 2}}})
	if status != 200 {
		t.Fatalf("insert: %d %v", status, body)
	}
	d := body["data"].(map[string]any)
	name, rows := d["name"].(string), d["rows"].([]any)
	x, y := rows[0].(map[string]any), rows[1].(map[string]any)
	if n := count(t, e, "Version"); n != 0 {
		t.Fatalf("insert recorded %d versions", n)
	}
	status, body = admin.JSON("PUT", "/api/resource/Tracked/"+name, map[string]any{"title": "b", "qty": 2,
		"rows": []any{map[string]any{"name": x["name"], "item": "x", "qty": 5}, map[string]any{"item": "z", "qty": 3}}})
	if status != 200 {
		t.Fatalf("save: %d %v", status, body)
	}
	z := body["data"].(map[string]any)["rows"].([]any)[1].(map[string]any)
	_, got := getdoc(t, admin, "Tracked", name)
	versions := got["docinfo"].(map[string]any)["versions"].([]any)
	if len(versions) != 1 {
		t.Fatalf("versions: %v", versions)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(versions[0].(map[string]any)["data"].(string)), &data); err != nil {
		t.Fatal(err)
	}
	row := func(r map[string]any) map[string]any {
		return map[string]any{"name": r["name"], "item": r["item"], "qty": r["qty"]}
	}
	pick := func(v any) any { // the rows' fields that matter, from [[table, row]...]
		var out []any
		for _, e := range v.([]any) {
			pair := e.([]any)
			out = append(out, []any{pair[0], row(pair[1].(map[string]any))})
		}
		return out
	}
	want := map[string]any{
		"changed":     []any{[]any{"title", "a", "b"}, []any{"qty", float64(1), float64(2)}},
		"row_changed": []any{[]any{"rows", float64(0), x["name"], []any{[]any{"qty", float64(1), float64(5)}}}},
	}
	for k, v := range want {
		if !reflect.DeepEqual(data[k], v) {
			t.Errorf("data.%s = %v, want %v", k, data[k], v)
		}
	}
	if a := pick(data["added"]); !reflect.DeepEqual(a, []any{[]any{"rows", row(z)}}) {
		t.Errorf("data.added = %v, want z %v", a, row(z))
	}
	if r := pick(data["removed"]); !reflect.DeepEqual(r, []any{[]any{"rows", row(y)}}) {
		t.Errorf("data.removed = %v, want y %v", r, row(y))
	}
	if _, ok := data["data_import"]; !ok {
		t.Errorf("data lacks Frappe's data_import key: %v", data)
	}
	if status, body := admin.JSON("PUT", "/api/resource/Tracked/"+name, map[string]any{"title": "b"}); status != 200 {
		t.Fatalf("unchanged save: %d %v", status, body)
	}
	if n := count(t, e, "Version"); n != 1 {
		t.Fatalf("%d versions after a save that changed nothing, want 1", n)
	}
	// Memo has no track_changes.
	_, body = admin.JSON("POST", "/api/resource/Memo", map[string]any{"title": "m"})
	admin.JSON("PUT", "/api/resource/Memo/"+body["data"].(map[string]any)["name"].(string), map[string]any{"title": "n"})
	if n := count(t, e, "Version"); n != 1 {
		t.Fatalf("a DocType without track_changes recorded a Version")
	}
}

// A ToDo made through REST about a document its author cannot read is refused: it would write on
// that document's timeline.
func TestToDoNeedsReadableReference(t *testing.T) {
	e := newEnv(t)
	admin := e.Login("Administrator", apptest.AdminPassword)
	_, body := admin.JSON("POST", "/api/resource/Memo", map[string]any{"title": "private"})
	name := body["data"].(map[string]any)["name"].(string)
	bob := e.NewUser("bob@example.com")
	if status, body := bob.JSON("POST", "/api/resource/ToDo", map[string]any{"description": "spam", "allocated_to": "bob@example.com",
		"reference_type": "Memo", "reference_name": name}); status != 403 {
		t.Fatalf("ToDo about an unreadable Memo: %d %v", status, body)
	}
	if n := count(t, e, "Comment") + count(t, e, "ToDo"); n != 0 {
		t.Fatalf("%d comments and ToDos after the refusal", n)
	}
	if status, body := bob.JSON("POST", "/api/resource/ToDo", map[string]any{"description": "my own task"}); status != 200 {
		t.Fatalf("a ToDo of one's own: %d %v", status, body)
	}
}

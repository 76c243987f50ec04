package files_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/internal/apptest"
	"github.com/livedoc/livedoc/store/storetest"
)

// memo is a DocType with an Attach field; "Memo User" may read and write memos.
const memo = `{"doctype": "DocType", "name": "Memo", "module": "Test", "autoname": "hash",
 "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
  {"fieldname": "attachment", "fieldtype": "Attach", "label": "Attachment"}],
 "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
  {"role": "Memo User", "read": 1, "write": 1, "create": 1}]}`

type env struct {
	*apptest.Env
	dataDir string
}

// newEnv serves the sample app and Memo on dsn, with uploads limited to maxSize bytes (0: default).
func newEnv(t *testing.T, dsn string, maxSize int64) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	app, err := livedoc.New(ctx, livedoc.Config{DataDir: dir, Database: dsn, AdminPassword: apptest.AdminPassword, MaxFileSize: maxSize})
	if err != nil {
		t.Fatal(err)
	}
	dt, err := doc.ParseDocType([]byte(memo))
	if err != nil {
		t.Fatal(err)
	}
	if err := app.DocTypes(ctx, dt); err != nil {
		t.Fatal(err)
	}
	return &env{Env: apptest.Serve(t, app), dataDir: dir}
}

func (e *env) newMemo(c *apptest.Client) string {
	e.T.Helper()
	status, body := c.JSON("POST", "/api/resource/Memo", map[string]any{"title": "hello"})
	if status != 200 {
		e.T.Fatalf("new memo: %d %v", status, body)
	}
	return body["data"].(map[string]any)["name"].(string)
}

// upload posts a multipart form to upload_file as the browser does.
func upload(t *testing.T, c *apptest.Client, fields map[string]string, filename string, content []byte) (int, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	if filename != "" {
		fw, _ := w.CreateFormFile("file", filename)
		_, _ = fw.Write(content)
	}
	_ = w.Close()
	status, raw := c.Raw("POST", "/api/method/upload_file", w.FormDataContentType(), buf.Bytes())
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("upload_file: non-JSON answer %d %q", status, raw)
	}
	return status, out
}

// mustUpload is upload, which must succeed; it returns the File.
func mustUpload(t *testing.T, c *apptest.Client, fields map[string]string, filename string, content []byte) map[string]any {
	t.Helper()
	status, body := upload(t, c, fields, filename, content)
	if status != 200 {
		t.Fatalf("upload_file: %d %v", status, body)
	}
	return body["message"].(map[string]any)
}

func get(t *testing.T, c *apptest.Client, path string) (*http.Response, string) {
	t.Helper()
	return c.Text(path)
}
func (e *env) countFiles() int64 {
	e.T.Helper()
	var n int64
	err := e.App.Engine.Run(context.Background(), doc.AdminUser, false, func(c *doc.Context) error {
		var err error
		n, err = c.Count("File", []doc.Filter{{Field: "is_folder", Op: "=", Value: 0}})
		return err
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return n
}

// A public file is served to anyone; a private one attached to a memo to who may read the memo,
// and to nobody else.
func TestPublicAndPrivateFiles(t *testing.T) {
	e := newEnv(t, storetest.DSN(t), 0)
	alice := e.NewUser("alice@example.com", "Memo User")
	carol := e.NewUser("carol@example.com", "Memo User")
	bob := e.NewUser("bob@example.com")
	name := e.newMemo(alice)

	pub := mustUpload(t, alice, map[string]string{"is_private": "0", "doctype": "Memo", "docname": name},
		"hello.txt", []byte("hello, world"))
	if pub["file_url"] != "/files/hello.txt" || pub["is_private"] != float64(0) || pub["attached_to_name"] != name ||
		pub["file_size"] != float64(12) || pub["doctype"] != "File" {
		t.Fatalf("public upload: %v", pub)
	}
	resp, body := get(t, e.Anon(), "/files/hello.txt")
	if resp.StatusCode != 200 || body != "hello, world" || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("public download: %d %q %v", resp.StatusCode, body, resp.Header)
	}

	priv := mustUpload(t, alice, map[string]string{"is_private": "1", "doctype": "Memo", "docname": name},
		"secret.txt", []byte("top secret"))
	url := priv["file_url"].(string)
	if url != "/private/files/secret.txt" || priv["is_private"] != float64(1) {
		t.Fatalf("private upload: %v", priv)
	}
	for who, c := range map[string]*apptest.Client{"uploader": alice, "memo reader": carol, "System Manager": e.Login("Administrator", apptest.AdminPassword)} {
		if resp, body := get(t, c, url); resp.StatusCode != 200 || body != "top secret" || resp.Header.Get("Cache-Control") != "private, no-cache" {
			t.Errorf("%s: %d %q", who, resp.StatusCode, body)
		}
	}
	for who, c := range map[string]*apptest.Client{"user who cannot read the memo": bob, "Guest": e.Anon()} {
		if resp, body := get(t, c, url); resp.StatusCode != 403 || strings.Contains(body, "top secret") {
			t.Errorf("%s: %d %q", who, resp.StatusCode, body)
		}
	}
	// Not under /files/ either, and the same name there is another file.
	if resp, body := get(t, e.Anon(), "/files/secret.txt"); resp.StatusCode != 404 || strings.Contains(body, "top secret") {
		t.Errorf("private file as public: %d %q", resp.StatusCode, body)
	}
	// Claiming the URL through REST does not give access.
	if status, body := bob.JSON("POST", "/api/resource/File", map[string]any{"file_url": url, "file_name": "x"}); status != 403 {
		t.Errorf("REST File with another's private URL: %d %v", status, body)
	}
	if resp, _ := get(t, bob, url); resp.StatusCode != 403 {
		t.Errorf("after the claim: %d", resp.StatusCode)
	}
	// Nor does upload_file's file_url.
	if status, body := upload(t, bob, map[string]string{"file_url": url}, "", nil); status != 403 {
		t.Errorf("upload_file with another's private URL: %d %v", status, body)
	}
}

// Unattached private files: the uploader and System Managers.
func TestPrivateUnattached(t *testing.T) {
	e := newEnv(t, storetest.DSN(t), 0)
	alice := e.NewUser("alice@example.com")
	bob := e.NewUser("bob@example.com", "Memo User")
	f := mustUpload(t, alice, nil, "notes.txt", []byte("mine")) // no is_private: private
	url := f["file_url"].(string)
	if !strings.HasPrefix(url, "/private/files/") {
		t.Fatalf("default privacy: %v", f)
	}
	if resp, _ := get(t, alice, url); resp.StatusCode != 200 {
		t.Errorf("uploader: %d", resp.StatusCode)
	}
	if resp, _ := get(t, e.Login("Administrator", apptest.AdminPassword), url); resp.StatusCode != 200 {
		t.Errorf("System Manager: %d", resp.StatusCode)
	}
	if resp, body := get(t, bob, url); resp.StatusCode != 403 || body == "mine" {
		t.Errorf("another user: %d", resp.StatusCode)
	}
	if status, _ := upload(t, e.Anon(), nil, "x.txt", []byte("x")); status != 403 {
		t.Errorf("Guest upload: %d", status)
	}
}

// Names from the client never leave the files folders, and names in URLs never reach outside.
func TestPathTraversal(t *testing.T) {
	e := newEnv(t, storetest.DSN(t), 0)
	alice := e.NewUser("alice@example.com")
	f := mustUpload(t, alice, map[string]string{"is_private": "0"}, "../../../evil.txt", []byte("evil"))
	if f["file_url"] != "/files/evil.txt" {
		t.Fatalf("traversing name stored as %v", f["file_url"])
	}
	if _, err := os.Stat(filepath.Join(e.dataDir, "..", "evil.txt")); err == nil {
		t.Fatal("a file was written outside the data dir")
	}
	if err := os.WriteFile(filepath.Join(e.dataDir, "outside.txt"), []byte("OUTSIDE-CONTENT"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/files/..%2Foutside.txt", "/files/..%2F..%2Foutside.txt", "/private/files/..%2F..%2Foutside.txt",
		"/files/%2e%2e%2foutside.txt", "/files/..%5Coutside.txt", "/private/files/..%2F..%2Fpublic%2Ffiles%2Fevil.txt",
		"/files/..", "/private/files/.", "/files/%00evil.txt"} {
		resp, body := get(t, e.Login("Administrator", apptest.AdminPassword), p)
		if resp.StatusCode == 200 || strings.Contains(body, "OUTSIDE-CONTENT") {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
}

// Over the limit: 413, and nothing stored.
func TestSizeLimit(t *testing.T) {
	e := newEnv(t, storetest.DSN(t), 1024)
	alice := e.NewUser("alice@example.com")
	status, body := upload(t, alice, nil, "big.bin", bytes.Repeat([]byte("x"), 1025))
	if status != 413 || body["exc_type"] == nil {
		t.Fatalf("file of limit+1 bytes: %d %v", status, body)
	}
	status, body = upload(t, alice, nil, "huge.bin", bytes.Repeat([]byte("x"), 200<<10))
	if status != 413 {
		t.Fatalf("body over the limit: %d %v", status, body)
	}
	if n := e.countFiles(); n != 0 {
		t.Fatalf("%d File documents after refused uploads", n)
	}
	mustUpload(t, alice, nil, "ok.bin", bytes.Repeat([]byte("x"), 1024))
}

// fieldname sets the document's Attach field; a field that is not one changes nothing.
func TestAttachField(t *testing.T) {
	e := newEnv(t, storetest.DSN(t), 0)
	alice := e.NewUser("alice@example.com", "Memo User")
	bob := e.NewUser("bob@example.com")
	name := e.newMemo(alice)
	f := mustUpload(t, alice, map[string]string{"doctype": "Memo", "docname": name, "fieldname": "attachment", "is_private": "1"},
		"scan.pdf", []byte("%PDF-1.4\n%fake"))
	_, body := alice.JSON("GET", "/api/resource/Memo/"+name, nil)
	if got := body["data"].(map[string]any)["attachment"]; got != f["file_url"] || f["attached_to_field"] != "attachment" {
		t.Fatalf("Attach field: %v, file %v", got, f)
	}
	before := e.countFiles()
	if status, body := upload(t, alice, map[string]string{"doctype": "Memo", "docname": name, "fieldname": "title"}, "a.txt", []byte("a")); status != 417 {
		t.Errorf("not an Attach field: %d %v", status, body)
	}
	if status, body := upload(t, bob, map[string]string{"doctype": "Memo", "docname": name, "fieldname": "attachment"}, "b.txt", []byte("b")); status != 403 {
		t.Errorf("attach to a memo one cannot write: %d %v", status, body)
	}
	if n := e.countFiles(); n != before {
		t.Errorf("refused uploads left %d File documents", n-before)
	}
	if resp, body := get(t, e.Anon(), "/private/files/b.txt"); resp.StatusCode != 404 || body == "b" {
		t.Errorf("refused upload's content: %d", resp.StatusCode)
	}
}

// HTML, SVG and files whose content is not what their name says are downloads, never pages.
func TestContentTypes(t *testing.T) {
	e := newEnv(t, storetest.DSN(t), 0)
	alice := e.NewUser("alice@example.com")
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	for _, c := range []struct {
		name, content, typ, disposition string
	}{
		{"page.html", "<html><script>alert(1)</script></html>", "application/octet-stream", "attachment"},
		{"pic.svg", `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`, "application/octet-stream", "attachment"},
		{"fake.png", "<html><script>alert(1)</script></html>", "application/octet-stream", "attachment"},
		{"real.png", string(png), "image/png", "inline"},
		{"doc.pdf", "%PDF-1.4\n", "application/pdf", "inline"},
		{"note.txt", "just text", "text/plain; charset=utf-8", "inline"},
	} {
		f := mustUpload(t, alice, map[string]string{"is_private": "0"}, c.name, []byte(c.content))
		resp, body := get(t, e.Anon(), f["file_url"].(string))
		h := resp.Header
		if resp.StatusCode != 200 || body != c.content || h.Get("Content-Type") != c.typ ||
			!strings.HasPrefix(h.Get("Content-Disposition"), c.disposition+";") || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: %d %v", c.name, resp.StatusCode, h)
		}
	}
}

// Deleting the last File of a content removes the content; deleting one of two that share it
// keeps it for the other.
func TestDeleteRemovesContent(t *testing.T) {
	e := newEnv(t, storetest.DSN(t), 0)
	alice := e.NewUser("alice@example.com")
	a := mustUpload(t, alice, map[string]string{"is_private": "0"}, "same.txt", []byte("same"))
	b := mustUpload(t, alice, map[string]string{"is_private": "0"}, "again.txt", []byte("same"))
	if a["file_url"] != b["file_url"] {
		t.Fatalf("same content stored twice: %v %v", a["file_url"], b["file_url"])
	}
	del := func(f map[string]any) {
		if status, body := alice.JSON("DELETE", "/api/resource/File/"+f["name"].(string), nil); status != 202 {
			t.Fatalf("delete: %d %v", status, body)
		}
	}
	del(a)
	if resp, _ := get(t, e.Anon(), b["file_url"].(string)); resp.StatusCode != 200 {
		t.Fatalf("shared content gone with one of its files: %d", resp.StatusCode)
	}
	del(b)
	if resp, _ := get(t, e.Anon(), b["file_url"].(string)); resp.StatusCode != 404 {
		t.Fatalf("content kept after its last file: %d", resp.StatusCode)
	}
}

// On PostgreSQL files live in the database: a file uploaded through one node downloads from
// another, with the same permission check.
func TestFilesAcrossNodes(t *testing.T) {
	if !storetest.Postgres() {
		t.Skip("nodes share files through PostgreSQL (LIVEDOC_TEST_STORE=postgres)")
	}
	dsn := storetest.DSN(t)
	one := newEnv(t, dsn, 0)
	two := newEnv(t, dsn, 0)
	alice := one.NewUser("alice@example.com")
	one.NewUser("bob@example.com")
	f := mustUpload(t, alice, nil, "shared.txt", []byte("from node one"))
	if resp, body := get(t, two.Login("alice@example.com", "pw-alice@example.com"), f["file_url"].(string)); resp.StatusCode != 200 || body != "from node one" {
		t.Fatalf("node two: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, two.Login("bob@example.com", "pw-bob@example.com"), f["file_url"].(string)); resp.StatusCode != 403 {
		t.Fatalf("node two, another user: %d", resp.StatusCode)
	}
}

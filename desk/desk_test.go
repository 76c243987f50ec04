package desk_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/examples/invoice"
	"github.com/livedoc/livedoc/store/storetest"
)

const adminPW = "admin-test-pw"

type env struct {
	t   *testing.T
	app *livedoc.App
	srv *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	app, err := livedoc.New(ctx, livedoc.Config{DataDir: t.TempDir(), Database: storetest.DSN(t), AdminPassword: adminPW})
	if err != nil {
		t.Fatal(err)
	}
	if err := invoice.Register(ctx, app, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(func() { srv.Close(); app.Close() })
	return &env{t: t, app: app, srv: srv}
}

type client struct {
	e    *env
	http *http.Client
	csrf string
}

func (e *env) anon() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (e *env) login(usr, pwd string) *client {
	c := e.anon()
	status, body := c.json("POST", "/api/method/login", map[string]any{"usr": usr, "pwd": pwd})
	if status != 200 {
		e.t.Fatalf("login %s: %d %v", usr, status, body)
	}
	c.csrf = body["csrf_token"].(string)
	return c
}

func (c *client) do(method, path string, body any) *http.Response {
	c.e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, c.e.srv.URL+path, r)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set("X-Frappe-CSRF-Token", c.csrf)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return resp
}

func (c *client) text(path string) (*http.Response, string) {
	c.e.t.Helper()
	resp := c.do("GET", path, nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) json(method, path string, body any) (int, map[string]any) {
	c.e.t.Helper()
	resp := c.do(method, path, body)
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		c.e.t.Fatalf("%s %s: non-JSON answer %d %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func (e *env) newUser(email string, roles ...string) *client {
	admin := e.login("Administrator", adminPW)
	rows := []any{}
	for _, r := range roles {
		rows = append(rows, map[string]any{"role": r})
	}
	if status, body := admin.json("POST", "/api/resource/User", map[string]any{"email": email, "first_name": "U", "new_password": "pw-" + email, "roles": rows}); status != 200 {
		e.t.Fatalf("create user %s: %d %v", email, status, body)
	}
	return e.login(email, "pw-"+email)
}

func TestPageShell(t *testing.T) {
	e := newEnv(t)
	resp, body := e.anon().text("/app/invoice/INV-00001")
	if resp.StatusCode != 200 || !strings.Contains(body, `id="login-form"`) || strings.Contains(body, "desk.js") {
		t.Fatalf("Guest should get the login form: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("page Cache-Control = %q", cc)
	}

	admin := e.login("Administrator", adminPW)
	resp, body = admin.text("/app")
	if !strings.Contains(body, `window.csrf_token = "`+admin.csrf+`"`) || !strings.Contains(body, `window.frappe_user = "Administrator"`) ||
		!strings.Contains(body, `window.livedoc_site = "livedoc"`) || !strings.Contains(body, "/assets/desk/desk.js") {
		t.Fatalf("logged-in page lacks the session globals: %s", body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("page Content-Type = %q", ct)
	}
	if resp := admin.do("GET", "/login", nil); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/app" {
		t.Errorf("/login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestAssets(t *testing.T) {
	e := newEnv(t)
	c := e.anon()
	for path, ctype := range map[string]string{
		"/assets/livedoc.js":    "text/javascript",
		"/assets/livedoc.d.ts":  "application/typescript",
		"/assets/desk/desk.js":  "text/javascript",
		"/assets/desk/form.js":  "text/javascript",
		"/assets/desk/desk.css": "text/css",
	} {
		resp, body := c.text(path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || resp.Header.Get("Cache-Control") != "no-cache" || body == "" {
			t.Errorf("%s: %d %q %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
		}
	}
	for _, path := range []string{"/assets/desk/nope.js", "/assets/desk/..%2Fdesk.go", "/assets/desk/desk.go"} {
		if resp, _ := c.text(path); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}

	// The sample app's public/invoice.js is the client script of Invoice, found by any spelling.
	for _, dt := range []string{"Invoice", "invoice"} {
		resp, body := c.text("/assets/client-scripts/" + dt + ".js")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
			!strings.Contains(body, `frappe.realtime.on("refresh_invoice"`) || !strings.Contains(body, "your_app.utils.refresh_status") {
			t.Errorf("client script of %s: %d %s", dt, resp.StatusCode, body)
		}
	}
	if _, body := c.text("/assets/client-scripts/Invoice%20Item.js"); strings.Contains(body, "refresh_invoice") {
		t.Errorf("Invoice Item got Invoice's script: %s", body)
	}
	e.app.Desk.AddClientScript("Invoice Item", "test", []byte("console.log('rows')"))
	if _, body := c.text("/assets/client-scripts/Invoice%20Item.js"); !strings.Contains(body, "console.log('rows')") {
		t.Errorf("Invoice Item's script missing: %s", body)
	}
}

func TestMethods(t *testing.T) {
	e := newEnv(t)
	admin := e.login("Administrator", adminPW)
	for _, name := range []string{"Acme", "Globex", "Acme Two"} {
		if status, body := admin.json("POST", "/api/resource/Customer", map[string]any{"customer_name": name}); status != 200 {
			t.Fatal(status, body)
		}
	}
	accounts := e.newUser("acc@example.com", "Accounts User")
	sales := e.newUser("sal@example.com", "Sales User")
	nobody := e.newUser("no@example.com")

	// getdoctype: the meta and its child tables, with the user's permissions.
	status, body := accounts.json("POST", "/api/method/frappe.desk.form.load.getdoctype", map[string]any{"doctype": "Invoice"})
	if status != 200 {
		t.Fatal(status, body)
	}
	msg := body["message"].(map[string]any)
	docs := msg["docs"].([]any)
	var names []string
	for _, d := range docs {
		names = append(names, d.(map[string]any)["name"].(string))
	}
	if !slices.Equal(names, []string{"Invoice", "Invoice Item"}) {
		t.Errorf("docs = %v", names)
	}
	if r := docs[0].(map[string]any)["route"]; r != "invoice" {
		t.Errorf("route = %v", r)
	}
	perms := msg["perms"].(map[string]any)
	for _, p := range []string{"read", "write", "create", "delete", "submit", "cancel"} {
		if perms[p] != true {
			t.Errorf("Accounts User %s = %v", p, perms[p])
		}
	}
	// By route, for a user whose rights are only on their own documents.
	status, body = sales.json("GET", "/api/method/frappe.desk.form.load.getdoctype?doctype=invoice", nil)
	if status != 200 {
		t.Fatal(status, body)
	}
	msg = body["message"].(map[string]any)
	perms = msg["perms"].(map[string]any)
	if perms["read"] != true || perms["submit"] != false || perms["delete"] != false {
		t.Errorf("Sales User perms = %v", perms)
	}
	if ownerOnly := msg["owner_only"].([]any); !slices.Contains(ownerOnly, any("write")) || !slices.Contains(ownerOnly, any("read")) {
		t.Errorf("owner_only = %v", ownerOnly)
	}
	status, body = nobody.json("POST", "/api/method/frappe.desk.form.load.getdoctype", map[string]any{"doctype": "Invoice"})
	if status != 403 || body["exc_type"] != "PermissionError" {
		t.Errorf("no roles: %d %v", status, body)
	}
	if status, body = admin.json("POST", "/api/method/frappe.desk.form.load.getdoctype", map[string]any{"doctype": "Nope"}); status != 404 {
		t.Errorf("unknown DocType: %d %v", status, body)
	}

	// livedoc.desk.doctypes: readable, not child tables.
	list := func(c *client) []string {
		status, body := c.json("GET", "/api/method/livedoc.desk.doctypes", nil)
		if status != 200 {
			t.Fatal(status, body)
		}
		var out []string
		for _, d := range body["message"].([]any) {
			out = append(out, d.(map[string]any)["name"].(string))
		}
		return out
	}
	// Everyone (role All) reads Role and their own User.
	if got := list(accounts); !slices.Equal(got, []string{"Customer", "Invoice", "Role", "User"}) {
		t.Errorf("Accounts User doctypes = %v", got)
	}
	if got := list(admin); !slices.Contains(got, "Invoice") || slices.Contains(got, "Invoice Item") || !slices.Contains(got, "User") {
		t.Errorf("Administrator doctypes = %v", got)
	}
	if got := list(nobody); !slices.Equal(got, []string{"Role", "User"}) {
		t.Errorf("no roles doctypes = %v", got)
	}

	// search_link: name contains txt, read permission needed.
	status, body = accounts.json("POST", "/api/method/frappe.desk.search.search_link", map[string]any{"doctype": "Customer", "txt": "acm", "page_length": 1})
	if status != 200 {
		t.Fatal(status, body)
	}
	res := body["message"].([]any)
	if len(res) != 1 || res[0].(map[string]any)["value"] != "Acme" {
		t.Errorf("search_link = %v", res)
	}
	status, body = accounts.json("GET", "/api/method/frappe.desk.search.search_link?doctype=Customer&txt=", nil)
	if status != 200 || len(body["message"].([]any)) != 3 {
		t.Errorf("search_link all = %d %v", status, body)
	}
	if status, body = nobody.json("POST", "/api/method/frappe.desk.search.search_link", map[string]any{"doctype": "Customer", "txt": "a"}); status != 403 {
		t.Errorf("search_link without permission: %d %v", status, body)
	}
	// Invoice's title field (customer) is searched too.
	if status, body = admin.json("POST", "/api/resource/Invoice", map[string]any{"customer": "Globex"}); status != 200 {
		t.Fatal(status, body)
	}
	_, body = admin.json("POST", "/api/method/frappe.desk.search.search_link", map[string]any{"doctype": "Invoice", "txt": "glob"})
	res = body["message"].([]any)
	if len(res) != 1 || !regexp.MustCompile(`^INV-`).MatchString(res[0].(map[string]any)["value"].(string)) || res[0].(map[string]any)["description"] != "Globex" {
		t.Errorf("search_link by title = %v", res)
	}
}

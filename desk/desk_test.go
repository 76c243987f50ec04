package desk_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/livedoc/livedoc/internal/apptest"
)

const adminPW = apptest.AdminPassword

func TestPageShell(t *testing.T) {
	e := apptest.New(t)
	resp, body := e.Anon().Text("/app/invoice/INV-00001")
	if resp.StatusCode != 200 || !strings.Contains(body, `id="login-form"`) || strings.Contains(body, "desk.js") {
		t.Fatalf("Guest should get the login form: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("page Cache-Control = %q", cc)
	}

	admin := e.Login("Administrator", adminPW)
	resp, body = admin.Text("/app")
	if !strings.Contains(body, `window.csrf_token = "`+admin.CSRF+`"`) || !strings.Contains(body, `window.frappe_user = "Administrator"`) ||
		!strings.Contains(body, `window.livedoc_site = "livedoc"`) || !strings.Contains(body, "/assets/desk/desk.js") {
		t.Fatalf("logged-in page lacks the session globals: %s", body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("page Content-Type = %q", ct)
	}
	if resp := admin.Request("GET", "/login", "", nil); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/app" {
		t.Errorf("/login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestAssets(t *testing.T) {
	e := apptest.New(t)
	c := e.Anon()
	for path, ctype := range map[string]string{
		"/assets/livedoc.js":    "text/javascript",
		"/assets/livedoc.d.ts":  "application/typescript",
		"/assets/desk/desk.js":  "text/javascript",
		"/assets/desk/form.js":  "text/javascript",
		"/assets/desk/desk.css": "text/css",
	} {
		resp, body := c.Text(path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || resp.Header.Get("Cache-Control") != "no-cache" || body == "" {
			t.Errorf("%s: %d %q %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
		}
	}
	for _, path := range []string{"/assets/desk/nope.js", "/assets/desk/..%2Fdesk.go", "/assets/desk/desk.go"} {
		if resp, _ := c.Text(path); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}

	// The sample app's public/invoice.js is the client script of Invoice, found by any spelling.
	for _, dt := range []string{"Invoice", "invoice"} {
		resp, body := c.Text("/assets/client-scripts/" + dt + ".js")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
			!strings.Contains(body, `frappe.realtime.on("refresh_invoice"`) || !strings.Contains(body, "your_app.utils.refresh_status") {
			t.Errorf("client script of %s: %d %s", dt, resp.StatusCode, body)
		}
	}
	if _, body := c.Text("/assets/client-scripts/Invoice%20Item.js"); strings.Contains(body, "refresh_invoice") {
		t.Errorf("Invoice Item got Invoice's script: %s", body)
	}
	e.App.Desk.AddClientScript("Invoice Item", "test", []byte("console.log('rows')"))
	if _, body := c.Text("/assets/client-scripts/Invoice%20Item.js"); !strings.Contains(body, "console.log('rows')") {
		t.Errorf("Invoice Item's script missing: %s", body)
	}
}

func TestMethods(t *testing.T) {
	e := apptest.New(t)
	admin := e.Login("Administrator", adminPW)
	for _, name := range []string{"Acme", "Globex", "Acme Two"} {
		if status, body := admin.JSON("POST", "/api/resource/Customer", map[string]any{"customer_name": name}); status != 200 {
			t.Fatal(status, body)
		}
	}
	accounts := e.NewUser("acc@example.com", "Accounts User")
	sales := e.NewUser("sal@example.com", "Sales User")
	nobody := e.NewUser("no@example.com")

	// getdoctype: the meta and its child tables, with the user's permissions.
	status, body := accounts.JSON("POST", "/api/method/frappe.desk.form.load.getdoctype", map[string]any{"doctype": "Invoice"})
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
	status, body = sales.JSON("GET", "/api/method/frappe.desk.form.load.getdoctype?doctype=invoice", nil)
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
	status, body = nobody.JSON("POST", "/api/method/frappe.desk.form.load.getdoctype", map[string]any{"doctype": "Invoice"})
	if status != 403 || body["exc_type"] != "PermissionError" {
		t.Errorf("no roles: %d %v", status, body)
	}
	if status, body = admin.JSON("POST", "/api/method/frappe.desk.form.load.getdoctype", map[string]any{"doctype": "Nope"}); status != 404 {
		t.Errorf("unknown DocType: %d %v", status, body)
	}

	// livedoc.desk.doctypes: readable, not child tables.
	list := func(c *apptest.Client) []string {
		status, body := c.JSON("GET", "/api/method/livedoc.desk.doctypes", nil)
		if status != 200 {
			t.Fatal(status, body)
		}
		var out []string
		for _, d := range body["message"].([]any) {
			out = append(out, d.(map[string]any)["name"].(string))
		}
		return out
	}
	// Everyone (role All) reads Role, Tag, their own User, Files and ToDos.
	if got := list(accounts); !slices.Equal(got, []string{"Customer", "File", "Invoice", "Role", "Tag", "ToDo", "User"}) {
		t.Errorf("Accounts User doctypes = %v", got)
	}
	if got := list(admin); !slices.Contains(got, "Invoice") || slices.Contains(got, "Invoice Item") || !slices.Contains(got, "User") {
		t.Errorf("Administrator doctypes = %v", got)
	}
	if got := list(nobody); !slices.Equal(got, []string{"File", "Role", "Tag", "ToDo", "User"}) {
		t.Errorf("no roles doctypes = %v", got)
	}

	// search_link: name contains txt, read permission needed.
	status, body = accounts.JSON("POST", "/api/method/frappe.desk.search.search_link", map[string]any{"doctype": "Customer", "txt": "acm", "page_length": 1})
	if status != 200 {
		t.Fatal(status, body)
	}
	res := body["message"].([]any)
	if len(res) != 1 || res[0].(map[string]any)["value"] != "Acme" {
		t.Errorf("search_link = %v", res)
	}
	status, body = accounts.JSON("GET", "/api/method/frappe.desk.search.search_link?doctype=Customer&txt=", nil)
	if status != 200 || len(body["message"].([]any)) != 3 {
		t.Errorf("search_link all = %d %v", status, body)
	}
	if status, body = nobody.JSON("POST", "/api/method/frappe.desk.search.search_link", map[string]any{"doctype": "Customer", "txt": "a"}); status != 403 {
		t.Errorf("search_link without permission: %d %v", status, body)
	}
	// Invoice's title field (customer) is searched too.
	if status, body = admin.JSON("POST", "/api/resource/Invoice", map[string]any{"customer": "Globex"}); status != 200 {
		t.Fatal(status, body)
	}
	_, body = admin.JSON("POST", "/api/method/frappe.desk.search.search_link", map[string]any{"doctype": "Invoice", "txt": "glob"})
	res = body["message"].([]any)
	if len(res) != 1 || !regexp.MustCompile(`^INV-`).MatchString(res[0].(map[string]any)["value"].(string)) || res[0].(map[string]any)["description"] != "Globex" {
		t.Errorf("search_link by title = %v", res)
	}
}

// The client-script URL names a DocType; nothing of the request may reach the script, or
// /assets/client-scripts/x%0D<js>%2F%2F.js would serve the attacker's JS from this origin.
func TestClientScriptsEchoNoRequestText(t *testing.T) {
	e := apptest.New(t)
	c := e.Anon()
	const payload = "alert(document.domain)"
	for _, sep := range []string{"%0D", "%0A", "%E2%80%A8", "%E2%80%A9", "*%2F", "%0D%0A"} {
		for _, path := range []string{
			"/assets/client-scripts/x" + sep + payload + "%2F%2F.js",
			"/assets/client-scripts/Invoice" + sep + payload + "%2F%2F.js",
		} {
			resp, body := c.Text(path)
			if resp.StatusCode != 404 || strings.Contains(body, "alert") {
				t.Errorf("%s: %d %q, want a 404 without the request's text", path, resp.StatusCode, body)
			}
		}
	}
	// A known DocType without scripts still gets a script (the desk loads it for every DocType),
	// naming the DocType as it is spelled, not as it was asked for.
	resp, body := c.Text("/assets/client-scripts/customer.js")
	if resp.StatusCode != 200 || body != "// client scripts for Customer\n" {
		t.Errorf("Customer's empty script: %d %q", resp.StatusCode, body)
	}

	// A script's name is printed too: no line terminator in it may end the comment.
	e.App.Desk.AddClientScript("Customer", "a\rb\u2028c\u2029d\ne*/"+payload, []byte("console.log('customer')"))
	_, body = c.Text("/assets/client-scripts/Customer.js")
	for line := range strings.FieldsFuncSeq(body, func(r rune) bool { return r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' }) {
		if strings.Contains(line, "alert") && !strings.HasPrefix(line, "// ") || strings.Contains(line, "*/") {
			t.Errorf("script name escaped its comment: line %q of %q", line, body)
		}
	}
	if !strings.Contains(body, "console.log('customer')") {
		t.Errorf("Customer's script missing: %q", body)
	}
}

package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/internal/apptest"
)

const adminPW = apptest.AdminPassword

// excType checks a Frappe-shaped error answer and returns its exc_type and message.
func excType(t *testing.T, body map[string]any) (string, string) {
	t.Helper()
	typ, _ := body["exc_type"].(string)
	sm, _ := body["_server_messages"].(string)
	var msgs []string
	if err := json.Unmarshal([]byte(sm), &msgs); err != nil || len(msgs) == 0 {
		t.Fatalf("error without _server_messages: %v", body)
	}
	var m struct{ Message string }
	_ = json.Unmarshal([]byte(msgs[0]), &m)
	if !strings.HasPrefix(body["exception"].(string), "frappe.exceptions."+typ) {
		t.Fatalf("exception does not name the class: %v", body)
	}
	return typ, m.Message
}

func countInvoices(e *apptest.Env) int {
	var n int64
	err := e.App.Engine.Run(context.Background(), doc.AdminUser, false, func(c *doc.Context) error {
		var err error
		n, err = c.Count("Invoice", nil)
		return err
	})
	if err != nil {
		e.T.Fatal(err)
	}
	return int(n)
}

func TestCSRFOnCookieSessions(t *testing.T) {
	e := apptest.New(t)
	admin := e.Login("Administrator", adminPW)
	noCSRF := admin.With("")
	status, body := noCSRF.JSON("POST", "/api/resource/Customer", map[string]any{"customer_name": "A"})
	if typ, _ := excType(t, body); status != 400 || typ != "CSRFTokenError" {
		t.Fatalf("unsafe request without CSRF: %d %v", status, body)
	}
	wrong := admin.With("nope")
	if status, _ := wrong.JSON("DELETE", "/api/resource/Customer/A", nil); status != 400 {
		t.Fatalf("wrong CSRF token: %d", status)
	}
	// Safe methods need no token; the right token works.
	if status, _ := noCSRF.JSON("GET", "/api/resource/Customer", nil); status != 200 {
		t.Fatalf("GET without CSRF: %d", status)
	}
	if status, body := admin.JSON("POST", "/api/resource/Customer", map[string]any{"customer_name": "A"}); status != 200 {
		t.Fatalf("with CSRF: %d %v", status, body)
	}
	// After logout the cookie is worthless.
	admin.JSON("POST", "/api/method/logout", nil)
	if status, body := admin.JSON("GET", "/api/method/frappe.auth.get_logged_user", nil); status != 403 {
		t.Fatalf("after logout: %d %v", status, body)
	}
}

// Behind a proxy that terminates TLS, the session cookie is Secure; over plain HTTP it is not.
func TestSessionCookieSecureBehindTLSProxy(t *testing.T) {
	e := apptest.New(t)
	for proto, want := range map[string]bool{"https": true, "": false} {
		req, _ := http.NewRequest("POST", e.Srv.URL+"/api/method/login", strings.NewReader(`{"usr":"Administrator","pwd":"`+adminPW+`"}`))
		req.Header.Set("Content-Type", "application/json")
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var sid *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "sid" {
				sid = c
			}
		}
		if sid == nil || !sid.HttpOnly || sid.Secure != want {
			t.Fatalf("X-Forwarded-Proto %q: sid cookie %+v, want Secure=%v and HttpOnly", proto, sid, want)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	e := apptest.New(t)
	e.NewUser("sam@example.com", "Sales User")
	admin := e.Login("Administrator", adminPW)
	status, body := admin.JSON("POST", "/api/method/frappe.core.doctype.user.user.generate_keys", map[string]any{"user": "sam@example.com"})
	if status != 200 {
		t.Fatalf("generate_keys: %d %v", status, body)
	}
	keys := body["message"].(map[string]any)
	sam := e.WithToken(keys["api_key"].(string) + ":" + keys["api_secret"].(string))
	if _, body := sam.JSON("GET", "/api/method/frappe.auth.get_logged_user", nil); body["message"] != "sam@example.com" {
		t.Fatalf("token user: %v", body)
	}
	// Token requests need no CSRF token.
	if status, body := sam.JSON("POST", "/api/resource/Customer", map[string]any{"customer_name": "Sam's"}); status != 200 {
		t.Fatalf("token write: %d %v", status, body)
	}
	// The secret is not stored in the clear, and is never returned.
	_, u := admin.JSON("GET", "/api/resource/User/sam@example.com", nil)
	if s := fmt.Sprint(u); strings.Contains(s, keys["api_secret"].(string)) || strings.Contains(s, "pw-sam") {
		t.Fatalf("secret or password in the User document: %v", u)
	}
	var stored string
	_ = e.App.Engine.Run(context.Background(), doc.AdminUser, false, func(c *doc.Context) error {
		var err error
		stored, err = c.Secret("User", "sam@example.com", "api_secret")
		return err
	})
	if stored == "" || stored == keys["api_secret"] {
		t.Fatalf("api secret stored as %q", stored)
	}
	// A wrong secret is a 401, not Guest.
	bad := e.WithToken(keys["api_key"].(string) + ":wrong")
	if status, body := bad.JSON("GET", "/api/method/ping", nil); status != 401 {
		t.Fatalf("wrong secret: %d %v", status, body)
	}
	// Only a System Manager generates keys for someone else.
	e.NewUser("eve@example.com", "Sales User")
	eve := e.Login("eve@example.com", "pw-eve@example.com")
	if status, _ := eve.JSON("POST", "/api/method/frappe.core.doctype.user.user.generate_keys", map[string]any{"user": "sam@example.com"}); status != 403 {
		t.Fatalf("eve generates sam's keys: %d", status)
	}
	// Nor does a user raise their own roles.
	if status, body := eve.JSON("PUT", "/api/resource/User/eve@example.com", map[string]any{"roles": []any{map[string]any{"role": "System Manager"}}}); status != 403 {
		t.Fatalf("eve makes herself System Manager: %d %v", status, body)
	}
}

func TestLoginThrottling(t *testing.T) {
	e := apptest.New(t)
	c := e.Anon()
	var last int
	for range 8 {
		last, _ = c.JSON("POST", "/api/method/login", map[string]any{"usr": "Administrator", "pwd": "wrong"})
	}
	if last != 429 {
		t.Fatalf("after 8 failures the answer is %d, want 429", last)
	}
	// Even the right password is refused while locked.
	status, body := c.JSON("POST", "/api/method/login", map[string]any{"usr": "Administrator", "pwd": adminPW})
	if typ, msg := excType(t, body); status != 429 || !strings.Contains(msg, "try again") {
		t.Fatalf("right password while locked: %d %s %s", status, typ, msg)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	e := apptest.New(t)
	admin := e.Login("Administrator", adminPW)
	admin.JSON("POST", "/api/resource/Customer", map[string]any{"customer_name": "ACME"})
	cases := []struct {
		name, method, path, ctype string
		body                      any
		status                    int
	}{
		{"malformed JSON", "POST", "/api/resource/Invoice", "application/json", `{"customer": "ACME",`, 400},
		{"JSON array body", "POST", "/api/resource/Invoice", "application/json", `[1,2]`, 400},
		{"wrong type", "POST", "/api/resource/Invoice", "application/json", `{"customer": "ACME", "total": "lots"}`, 417},
		{"missing required", "POST", "/api/resource/Invoice", "application/json", `{"status": "Draft"}`, 417},
		{"link to nothing", "POST", "/api/resource/Invoice", "application/json", `{"customer": "Nobody Ltd"}`, 417},
		{"bad child row", "POST", "/api/resource/Invoice", "application/json", `{"customer": "ACME", "items": [{"qty": "x"}]}`, 417},
		{"oversized body", "POST", "/api/resource/Invoice", "application/json", `{"customer": "` + strings.Repeat("a", api.DefaultMaxBody) + `"}`, 413},
		{"hostile doctype", "GET", "/api/resource/Invoice%22%3B%20DROP%20TABLE%20x", "", nil, 404},
		{"hostile field", "GET", `/api/resource/Invoice?fields=["name\"; DROP TABLE \"tabInvoice"]`, "", nil, 400},
		{"hostile filter field", "GET", `/api/resource/Invoice?filters=[["1=1 OR name","=","x"]]`, "", nil, 400},
		{"hostile order", "GET", `/api/resource/Invoice?order_by=name;DROP TABLE x`, "", nil, 400},
		{"bad operator", "GET", `/api/resource/Invoice?filters=[["name","@@","x"]]`, "", nil, 400},
		{"bad filters JSON", "GET", `/api/resource/Invoice?filters=[[`, "", nil, 400},
		{"bad limit", "GET", `/api/resource/Invoice?limit_page_length=-3`, "", nil, 400},
		{"text body", "POST", "/api/resource/Invoice", "text/plain", "customer=ACME", 415},
	}
	for _, tc := range cases {
		path := strings.NewReplacer(`"`, "%22", " ", "%20", "[", "%5B", "]", "%5D", ";", "%3B").Replace(tc.path)
		status, raw := admin.Raw(tc.method, path, tc.ctype, tc.body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("%s: non-JSON answer %d %.200q", tc.name, status, raw)
			continue
		}
		if status != tc.status {
			t.Errorf("%s: status %d, want %d (%v)", tc.name, status, tc.status, body)
			continue
		}
		excType(t, body)
	}
	if n := countInvoices(e); n != 0 {
		t.Fatalf("bad input wrote %d invoices", n)
	}
	// The tables are all still there.
	if status, _ := admin.JSON("GET", "/api/resource/Invoice", nil); status != 200 {
		t.Fatalf("Invoice table damaged: %d", status)
	}
}

func TestMethods(t *testing.T) {
	e := apptest.New(t)
	e.App.Whitelist("test.insert_customer", func(c *doc.Context, a api.Args) (any, error) {
		d, err := c.Insert(doc.Doc{"doctype": "Customer", "customer_name": a.String("name")})
		if err != nil {
			return nil, err
		}
		return d.Name(), nil
	}, api.MethodOptions{Methods: []string{"GET", "POST"}})
	e.App.Whitelist("test.public", func(c *doc.Context, a api.Args) (any, error) { return "hello " + c.User.Name, nil },
		api.MethodOptions{AllowGuest: true})
	e.App.Whitelist("test.post_only", func(c *doc.Context, a api.Args) (any, error) { return 1, nil },
		api.MethodOptions{Methods: []string{"POST"}})
	admin := e.Login("Administrator", adminPW)
	anon := e.Anon()

	if status, body := anon.JSON("GET", "/api/method/test.public", nil); status != 200 || body["message"] != "hello Guest" {
		t.Fatalf("guest method: %d %v", status, body)
	}
	if status, _ := anon.JSON("GET", "/api/method/test.insert_customer?name=X", nil); status != 403 {
		t.Fatalf("guest calls a login-only method: %d", status)
	}
	if status, _ := admin.JSON("GET", "/api/method/test.nope", nil); status != 404 {
		t.Fatalf("unknown method: %d", status)
	}
	if status, _ := admin.JSON("GET", "/api/method/test.post_only", nil); status != 405 {
		t.Fatalf("GET on a POST-only method: %d", status)
	}
	// POST commits; form arguments work as JSON ones do.
	status, raw := admin.Raw("POST", "/api/method/test.insert_customer", "application/x-www-form-urlencoded", "name=Posted")
	if status != 200 || !strings.Contains(string(raw), `"message":"Posted"`) {
		t.Fatalf("POST method: %d %s", status, raw)
	}
	// GET never writes: the method fails cleanly and nothing is stored.
	status, body := admin.JSON("GET", "/api/method/test.insert_customer?name=Got", nil)
	if status == 200 {
		t.Fatalf("GET method wrote: %v", body)
	}
	if status, _ := admin.JSON("GET", "/api/resource/Customer/Got", nil); status != 404 {
		t.Fatalf("GET method's write was kept: %d", status)
	}
	if status, _ := admin.JSON("GET", "/api/resource/Customer/Posted", nil); status != 200 {
		t.Fatalf("POST method's write was lost: %d", status)
	}
}

func TestDocTypeThroughREST(t *testing.T) {
	e := apptest.New(t)
	admin := e.Login("Administrator", adminPW)
	status, body := admin.JSON("POST", "/api/resource/DocType", map[string]any{"name": "Visit", "autoname": "autoincrement",
		"fields":      []any{map[string]any{"fieldname": "place", "fieldtype": "Data", "reqd": 1}},
		"permissions": []any{map[string]any{"role": "System Manager", "read": 1, "write": 1, "create": 1}}})
	if status != 200 {
		t.Fatalf("create DocType: %d %v", status, body)
	}
	if status, body := admin.JSON("POST", "/api/resource/Visit", map[string]any{"place": "Oslo"}); status != 200 || body["data"].(map[string]any)["name"] != "1" {
		t.Fatalf("insert into the new DocType: %d %v", status, body)
	}
	e.NewUser("sue@example.com", "Sales User")
	sue := e.Login("sue@example.com", "pw-sue@example.com")
	if status, _ := sue.JSON("POST", "/api/resource/DocType", map[string]any{"name": "Mine", "fields": []any{}}); status != 403 {
		t.Fatalf("non-admin creates a DocType: %d", status)
	}
}

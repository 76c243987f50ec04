package api_test

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/livedoc/livedoc/internal/apptest"
)

// loggedIn reports whether c's session still works.
func loggedIn(t *testing.T, c *apptest.Client) bool {
	t.Helper()
	status, body := c.JSON("GET", "/api/method/frappe.auth.get_logged_user", nil)
	return status == 200 && body["message"] != "Guest"
}

// Logout changes state, so it takes POST with the CSRF token only: otherwise any page the user
// visits could log them out with an <img src="/api/method/logout">.
func TestLogoutIsPostWithCSRFOnly(t *testing.T) {
	e := apptest.New(t)
	admin := e.Login("Administrator", adminPW)
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		status, body := admin.With("").JSON(method, "/api/method/logout", nil)
		if status != 405 && (method == "GET" || status != 400) {
			t.Errorf("%s logout without CSRF token: %d %v", method, status, body)
		} else if typ, _ := excType(t, body); status == 405 && typ != "PermissionError" {
			t.Errorf("%s logout: %d %s, want PermissionError", method, status, typ)
		}
		if !loggedIn(t, admin) {
			t.Fatalf("%s /api/method/logout without CSRF token ended the session", method)
		}
	}
	if resp := admin.Request("GET", "/api/method/logout", "", nil); resp.Header.Get("Allow") != "POST" {
		t.Errorf("405 without Allow: POST: %v", resp.Header)
	}
	for _, tok := range []string{"", "wrong"} {
		status, body := admin.With(tok).JSON("POST", "/api/method/logout", map[string]any{})
		if status != 400 {
			t.Errorf("POST logout with CSRF token %q: %d %v, want 400", tok, status, body)
		} else if typ, _ := excType(t, body); typ != "CSRFTokenError" {
			t.Errorf("POST logout with CSRF token %q: %s, want CSRFTokenError", tok, typ)
		}
		if !loggedIn(t, admin) {
			t.Fatalf("POST logout with CSRF token %q ended the session", tok)
		}
	}
	// As frappe-js-sdk and livedoc.js send it: POST, a JSON body, the token.
	if status, body := admin.JSON("POST", "/api/method/logout", map[string]any{}); status != 200 {
		t.Fatalf("logout: %d %v", status, body)
	}
	if loggedIn(t, admin) {
		t.Fatal("still logged in after logout")
	}
}

// Password fields have no column (their hashes live in __auth): sorting, filtering or selecting
// by one is bad input (400 DataError), never a failed SQL statement (500) — nor an oracle on the
// password.
func TestPasswordFieldsAreNotQueryable(t *testing.T) {
	e := apptest.New(t)
	admin := e.Login("Administrator", adminPW)
	q := func(k, v string) string { return k + "=" + url.QueryEscape(v) }
	var paths []string
	for _, p := range []string{
		q("order_by", "new_password"), q("order_by", "new_password desc"), q("order_by", "name asc, `tabUser`.`new_password` desc"),
		q("filters", `[["new_password", "=", "x"]]`), q("filters", `{"new_password": "x"}`), q("filters", `[["User", "new_password", "like", "a%"]]`),
		q("filters", `[["new_password", "is", "set"]]`), q("filters", `[["new_password", "in", ["a", "b"]]]`),
		q("or_filters", `[["new_password", "=", "x"]]`), q("or_filters", `{"new_password": ["!=", "x"]}`),
		q("fields", `["name", "new_password"]`), q("fields", `"new_password"`),
	} {
		paths = append(paths, "/api/resource/User?"+p, "/api/method/frappe.client.get_list?doctype=User&"+p)
	}
	for _, p := range []string{q("filters", `[["new_password", "=", "x"]]`), q("filters", `{"new_password": ["like", "%"]}`)} {
		paths = append(paths, "/api/method/frappe.client.get_count?doctype=User&"+p,
			"/api/method/frappe.client.get_value?doctype=User&fieldname=name&"+p)
	}
	paths = append(paths, "/api/method/frappe.client.get_value?doctype=User&fieldname=new_password&filters=Administrator",
		"/api/method/frappe.client.get_value?doctype=User&"+q("fieldname", `["name", "new_password"]`)+"&filters=Administrator")
	for _, p := range paths {
		status, body := admin.JSON("GET", p, nil)
		if status != 400 {
			t.Errorf("%s: %d %v, want 400", p, status, body)
			continue
		}
		if typ, msg := excType(t, body); typ != "DataError" || !strings.Contains(msg, "new_password") {
			t.Errorf("%s: %s %q, want a DataError naming the field", p, typ, msg)
		}
	}
	// The same through POST, as frappe-js-sdk's db calls send them.
	status, body := admin.JSON("POST", "/api/method/frappe.client.get_list",
		map[string]any{"doctype": "User", "order_by": "new_password", "filters": []any{[]any{"new_password", "=", "x"}}})
	if status != 400 {
		t.Errorf("POST get_list: %d %v", status, body)
	}
	// Other fields still sort and filter.
	if status, body := admin.JSON("GET", "/api/resource/User?"+q("order_by", "email desc")+"&"+q("filters", `[["email", "like", "%@%"]]`), nil); status != 200 {
		t.Errorf("order_by email: %d %v", status, body)
	}
}

// from is a fresh client whose connections come from the loopback address ip, so the server sees
// another remote address (all of 127.0.0.0/8 is loopback).
func from(e *apptest.Env, ip string) *apptest.Client {
	c := e.Anon()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c.HTTP.Transport = &http.Transport{DialContext: d.DialContext}
	return c
}

func login(c *apptest.Client, usr, pwd string) (int, map[string]any) {
	return c.JSON("POST", "/api/method/login", map[string]any{"usr": usr, "pwd": pwd})
}

// An attacker's failed logins lock the attacker's address out of that user, not the user out of
// every address: otherwise five wrong passwords from anywhere would lock anyone out.
func TestLoginLockIsPerUserAndAddress(t *testing.T) {
	e := apptest.New(t)
	attacker, victim := from(e, "127.0.0.2"), from(e, "127.0.0.3")
	var last int
	for range 8 {
		last, _ = login(attacker, "Administrator", "wrong")
	}
	if last != 429 {
		t.Fatalf("after 8 failures the attacker gets %d, want 429", last)
	}
	if status, body := login(victim, "Administrator", adminPW); status != 200 {
		t.Fatalf("the victim, from another address, with the right password: %d %v", status, body)
	}
	// The attacker stays locked, even with the right password, and even after the victim's login.
	if status, body := login(attacker, "Administrator", adminPW); status != 429 {
		t.Fatalf("the attacker's address after the victim logged in: %d %v, want 429", status, body)
	}
	if status, _ := login(attacker, "Administrator", "wrong"); status != 429 {
		t.Fatalf("the attacker's address was unlocked: %d", status)
	}
}

// The per-address limit still holds: one address spraying guesses over many users is stopped
// before any one user's limit is reached.
func TestLoginLockPerAddressStays(t *testing.T) {
	e := apptest.New(t)
	sprayer, other := from(e, "127.0.0.4"), from(e, "127.0.0.5")
	users := []string{"Administrator", "a@example.com", "b@example.com", "c@example.com", "d@example.com"}
	for i := range 20 { // 4 per user: no (user, address) lock yet
		if status, body := login(sprayer, users[i%len(users)], "wrong"); status != 401 {
			t.Fatalf("failure %d: %d %v, want 401", i+1, status, body)
		}
	}
	if status, body := login(sprayer, "e@example.com", "wrong"); status != 429 {
		t.Fatalf("21st failure from one address, for a user it never tried: %d %v, want 429", status, body)
	}
	if status, body := login(other, "Administrator", adminPW); status != 200 {
		t.Fatalf("another address: %d %v", status, body)
	}
}

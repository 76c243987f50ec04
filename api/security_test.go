package api_test

import (
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

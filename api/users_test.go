package api_test

import (
	"testing"

	"github.com/livedoc/livedoc/internal/apptest"
)

// The User DocType's rules (security issue, holes 1 and 4): a user's own User document is the one
// named for them, never the ones they created; passwords, roles, type and the enabled flag are a
// System Manager's to change (one's own password with the old one); the Administrator and Guest
// cannot be taken over by renames.

func newUser(t *testing.T, c *apptest.Client, email string, roles ...string) {
	t.Helper()
	rows := []any{}
	for _, r := range roles {
		rows = append(rows, map[string]any{"role": r})
	}
	status, body := c.JSON("POST", "/api/resource/User", map[string]any{"email": email, "first_name": "U", "new_password": "pw-" + email, "roles": rows})
	if status != 200 {
		t.Fatalf("create %s: %d %v", email, status, body)
	}
}

// Hole 1: a demoted System Manager cannot use a user they created to regain the role.
func TestDemotedSystemManagerCannotUseTheUsersTheyCreated(t *testing.T) {
	e := apptest.New(t)
	admin := e.Login("Administrator", adminPW)
	newUser(t, admin, "sm@example.com", "System Manager")
	sm := e.Login("sm@example.com", "pw-sm@example.com")
	newUser(t, sm, "sm2@example.com", "System Manager")
	if status, body := admin.JSON("PUT", "/api/resource/User/sm@example.com", map[string]any{"roles": []any{}}); status != 200 {
		t.Fatalf("demote: %d %v", status, body)
	}
	for _, change := range []map[string]any{{"new_password": "taken-over-1"}, {"first_name": "Mine"}} {
		if status, body := sm.JSON("PUT", "/api/resource/User/sm2@example.com", change); status != 403 {
			t.Fatalf("the demoted creator changed %v of the user they created: %d %v", change, status, body)
		}
	}
	if status, _ := sm.JSON("GET", "/api/resource/User/sm2@example.com", nil); status != 403 {
		t.Fatalf("the demoted creator reads the user they created: %d", status)
	}
	if status, _ := e.Anon().JSON("POST", "/api/method/login", map[string]any{"usr": "sm2@example.com", "pwd": "taken-over-1"}); status == 200 {
		t.Fatal("logged in with the password set by the demoted creator")
	}
	// Their own User document they still read and edit, but not their rights.
	if status, body := sm.JSON("PUT", "/api/resource/User/sm@example.com", map[string]any{"last_name": "Demoted"}); status != 200 {
		t.Fatalf("own name: %d %v", status, body)
	}
	for _, change := range []map[string]any{{"roles": []any{map[string]any{"role": "System Manager"}}}, {"enabled": 0}, {"user_type": "Website User"}} {
		if status, body := sm.JSON("PUT", "/api/resource/User/sm@example.com", change); status != 403 {
			t.Fatalf("own %v: %d %v", change, status, body)
		}
	}
}

// Hole 1: one's own password changes only with the old one (Frappe's update_password); the
// other sessions end. A System Manager may set another user's password, which ends theirs.
func TestPasswordChanges(t *testing.T) {
	e := apptest.New(t)
	admin := e.Login("Administrator", adminPW)
	newUser(t, admin, "u@example.com", "Accounts User")
	u := e.Login("u@example.com", "pw-u@example.com")
	other := e.Login("u@example.com", "pw-u@example.com")
	if status, body := u.JSON("PUT", "/api/resource/User/u@example.com", map[string]any{"new_password": "no-old-one"}); status != 403 {
		t.Fatalf("own password without the old one: %d %v", status, body)
	}
	const update = "/api/method/frappe.core.doctype.user.user.update_password"
	if status, body := u.JSON("POST", update, map[string]any{"old_password": "wrong", "new_password": "next-pw-1"}); status != 401 {
		t.Fatalf("update_password with a wrong old password: %d %v", status, body)
	}
	if status, body := u.JSON("POST", update, map[string]any{"old_password": "pw-u@example.com", "new_password": "next-pw-1"}); status != 200 || body["message"] != "/app" {
		t.Fatalf("update_password: %d %v", status, body)
	}
	if status, _ := u.JSON("GET", "/api/method/frappe.auth.get_logged_user", nil); status != 200 {
		t.Fatalf("the session that changed the password ended: %d", status)
	}
	if status, _ := other.JSON("GET", "/api/method/frappe.auth.get_logged_user", nil); status != 403 {
		t.Fatalf("another session survived the password change: %d", status)
	}
	e.Login("u@example.com", "next-pw-1")
	// A System Manager sets it: every session of the user ends.
	if status, body := admin.JSON("PUT", "/api/resource/User/u@example.com", map[string]any{"new_password": "set-by-admin-1"}); status != 200 {
		t.Fatalf("a System Manager sets a password: %d %v", status, body)
	}
	if status, _ := u.JSON("GET", "/api/method/frappe.auth.get_logged_user", nil); status != 403 {
		t.Fatalf("a session survived a System Manager's password reset: %d", status)
	}
	e.Login("u@example.com", "set-by-admin-1")
}

// Hole 4: nobody renames the Administrator or Guest away, or takes their names.
func TestAdministratorCannotBeTakenOver(t *testing.T) {
	e := apptest.New(t)
	admin := e.Login("Administrator", adminPW)
	newUser(t, admin, "sm@example.com", "System Manager")
	sm := e.Login("sm@example.com", "pw-sm@example.com")
	const rename = "/api/method/frappe.client.rename_doc"
	for _, c := range []struct {
		who      *apptest.Client
		old, new string
		status   int
	}{
		{sm, "Administrator", "old-admin@example.com", 403},
		{sm, "sm@example.com", "Administrator", 409}, // it exists, and stays
		{sm, "sm@example.com", "Guest", 403},
		{admin, "Administrator", "root@example.com", 403},
	} {
		status, body := c.who.JSON("POST", rename, map[string]any{"doctype": "User", "old_name": c.old, "new_name": c.new})
		if status != c.status {
			t.Fatalf("rename %s to %s: %d %v", c.old, c.new, status, body)
		}
	}
	// Nor does a System Manager change the Administrator's password or keys.
	if status, body := sm.JSON("PUT", "/api/resource/User/Administrator", map[string]any{"new_password": "mine-now"}); status != 403 {
		t.Fatalf("a System Manager set the Administrator's password: %d %v", status, body)
	}
	if status, body := sm.JSON("POST", "/api/method/frappe.core.doctype.user.user.generate_keys", map[string]any{"user": "Administrator"}); status != 403 {
		t.Fatalf("a System Manager generated the Administrator's keys: %d %v", status, body)
	}
	e.Login("Administrator", adminPW)
}

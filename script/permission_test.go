package script_test

import (
	"testing"
	"time"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/internal/apptest"
)

// A Permission Query script narrows lists, counts and Link searches, and list_update and
// doc_update delivery, alike.
func TestPermissionQueryHidesRows(t *testing.T) {
	env := newEnv(t, livedoc.Config{})
	admin := env.Login("Administrator", apptest.AdminPassword)
	user := env.NewUser("acc@example.com", "Accounts User")
	addScript(t, admin, "Own Customers", map[string]any{"script_type": "Permission Query", "reference_doctype": "Customer",
		"script": `if (user != "Administrator") filters = [["email", "=", user]]`})
	for _, c := range []map[string]any{{"customer_name": "Mine", "email": "acc@example.com"}, {"customer_name": "Theirs", "email": "x@example.com"}} {
		if status, body := admin.JSON("POST", "/api/resource/Customer", c); status != 200 {
			t.Fatal(status, body)
		}
	}
	_, body := user.JSON("GET", "/api/resource/Customer?limit_page_length=0", nil)
	if rows := body["data"].([]any); len(rows) != 1 || rows[0].(map[string]any)["name"] != "Mine" {
		t.Errorf("list = %v", rows)
	}
	if _, body := user.JSON("GET", `/api/method/frappe.client.get_count?doctype=Customer`, nil); body["message"] != 1.0 {
		t.Errorf("count = %v", body)
	}
	if _, body := user.JSON("POST", "/api/method/frappe.desk.search.search_link", map[string]any{"doctype": "Customer", "txt": ""}); len(body["message"].([]any)) != 1 {
		t.Errorf("search_link = %v", body)
	}
	if _, body := admin.JSON("GET", "/api/resource/Customer?limit_page_length=0", nil); len(body["data"].([]any)) != 2 {
		t.Errorf("the Administrator's list = %v", body)
	}

	// Realtime: the user hears of Mine, never of Theirs; the Administrator of both.
	userEvents := dial(t, env.Srv.URL, token(t, env.App, "acc@example.com"), "list_update", [2]string{"doctype_subscribe", "Customer"})
	adminEvents := dial(t, env.Srv.URL, token(t, env.App, "Administrator"), "list_update", [2]string{"doctype_subscribe", "Customer"})
	for _, name := range []string{"Theirs", "Mine"} {
		// A real change (a save that changes nothing writes nothing and says nothing).
		if status, body := admin.JSON("PUT", "/api/resource/Customer/"+name, map[string]any{"customer_name": name + " Ltd"}); status != 200 {
			t.Fatal(status, body)
		}
	}
	named := func(n string) func(m map[string]any) bool {
		return func(m map[string]any) bool { return m["name"] == n }
	}
	adminEvents.waitFor(t, "admin list_update Mine", 5*time.Second, named("Mine"))
	adminEvents.waitFor(t, "admin list_update Theirs", 5*time.Second, named("Theirs"))
	userEvents.waitFor(t, "user list_update Mine", 5*time.Second, named("Mine"))
	for _, m := range userEvents.all() {
		if m["name"] == "Theirs" {
			t.Errorf("the user heard of a customer the Permission Query hides: %v", m)
		}
	}
}

// A deleted document's list_update reaches the users the script sets no filter for, and not the
// filtered ones.
func TestPermissionQueryDelete(t *testing.T) {
	env := newEnv(t, livedoc.Config{})
	admin := env.Login("Administrator", apptest.AdminPassword)
	env.NewUser("acc@example.com", "Accounts User")
	addScript(t, admin, "Own Customers", map[string]any{"script_type": "Permission Query", "reference_doctype": "Customer",
		"script": `if (user != "Administrator") return [["email", "=", user]]`})
	for _, c := range []string{"Gone", "Marker"} {
		if status, body := admin.JSON("POST", "/api/resource/Customer", map[string]any{"customer_name": c, "email": "acc@example.com"}); status != 200 {
			t.Fatal(status, body)
		}
	}
	userEvents := dial(t, env.Srv.URL, token(t, env.App, "acc@example.com"), "list_update", [2]string{"doctype_subscribe", "Customer"})
	adminEvents := dial(t, env.Srv.URL, token(t, env.App, "Administrator"), "list_update", [2]string{"doctype_subscribe", "Customer"})
	if status, body := admin.JSON("DELETE", "/api/resource/Customer/Gone", nil); status != 202 {
		t.Fatal(status, body)
	}
	if status, body := admin.JSON("PUT", "/api/resource/Customer/Marker", map[string]any{"customer_name": "Marker Ltd"}); status != 200 {
		t.Fatal(status, body)
	}
	named := func(n string) func(m map[string]any) bool {
		return func(m map[string]any) bool { return m["name"] == n }
	}
	adminEvents.waitFor(t, "admin list_update of the deleted one", 5*time.Second, named("Gone"))
	userEvents.waitFor(t, "user list_update Marker", 5*time.Second, named("Marker"))
	for _, m := range userEvents.all() {
		if m["name"] == "Gone" {
			t.Errorf("a filtered user heard of a deleted document: %v", m)
		}
	}
}

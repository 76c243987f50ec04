package script_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/examples/invoice"
	"github.com/livedoc/livedoc/internal/apptest"
	"github.com/livedoc/livedoc/script"
	"github.com/livedoc/livedoc/store/storetest"
)

func newEnv(t testing.TB, cfg livedoc.Config) *apptest.Env {
	t.Helper()
	ctx := context.Background()
	cfg.DataDir, cfg.AdminPassword = t.TempDir(), apptest.AdminPassword
	if cfg.Database == "" {
		cfg.Database = storetest.DSN(t)
	}
	app, err := livedoc.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := invoice.Register(ctx, app, nil); err != nil {
		t.Fatal(err)
	}
	return apptest.Serve(t, app)
}

// addScript saves a Server Script as the Administrator, failing the test if it is refused.
func addScript(t *testing.T, admin *apptest.Client, name string, fields map[string]any) {
	t.Helper()
	body := map[string]any{"name": name}
	for k, v := range fields {
		body[k] = v
	}
	if status, res := admin.JSON("POST", "/api/resource/Server Script", body); status != 200 {
		t.Fatalf("save script %s: %d %v", name, status, res)
	}
}

func serverMessage(t *testing.T, body map[string]any) string {
	t.Helper()
	var outer []string
	if err := json.Unmarshal([]byte(body["_server_messages"].(string)), &outer); err != nil || len(outer) == 0 {
		t.Fatalf("_server_messages: %v", body)
	}
	var inner struct{ Message string }
	_ = json.Unmarshal([]byte(outer[0]), &inner)
	return inner.Message
}

func TestBeforeSaveScriptVetoesAndChangesTheDocument(t *testing.T) {
	env := newEnv(t, livedoc.Config{})
	admin := env.Login("Administrator", apptest.AdminPassword)
	addScript(t, admin, "Customer Rules", map[string]any{"script_type": "DocType Event", "reference_doctype": "Customer",
		"doctype_event": "Before Save", "script": `
if (doc.customer_name.startsWith("Bad")) {
	frappe.throw("No bad customers: " + doc.customer_name)
}
doc.email = doc.customer_name.toLowerCase().replace(/ /g, "") + "@example.com"`})

	status, body := admin.JSON("POST", "/api/resource/Customer", map[string]any{"customer_name": "Bad Co"})
	if status != 417 || body["exc_type"] != "ValidationError" || serverMessage(t, body) != "No bad customers: Bad Co" {
		t.Fatalf("vetoed save = %d %v", status, body)
	}
	if !strings.HasPrefix(body["exception"].(string), "frappe.exceptions.ValidationError: No bad customers") {
		t.Errorf("exception = %v", body["exception"])
	}
	if status, _ := admin.JSON("GET", "/api/resource/Customer/Bad Co", nil); status != 404 {
		t.Errorf("the vetoed customer was stored: %d", status)
	}
	status, body = admin.JSON("POST", "/api/resource/Customer", map[string]any{"customer_name": "Good Co"})
	if status != 200 {
		t.Fatalf("allowed save = %d %v", status, body)
	}
	if got := body["data"].(map[string]any)["email"]; got != "goodco@example.com" {
		t.Errorf("the script's write to doc was not saved: email = %v", got)
	}
}

func TestOnlySystemManagersWriteScripts(t *testing.T) {
	env := newEnv(t, livedoc.Config{})
	user := env.NewUser("acc@example.com", "Accounts User")
	status, body := user.JSON("POST", "/api/resource/Server Script", map[string]any{"name": "x", "script_type": "API",
		"api_method": "x", "script": "1"})
	if status != 403 {
		t.Fatalf("an Accounts User saved a script: %d %v", status, body)
	}
	admin := env.Login("Administrator", apptest.AdminPassword)
	for _, bad := range []map[string]any{
		{"name": "syntax", "script_type": "API", "api_method": "syntax", "script": "if ("},
		{"name": "shadow", "script_type": "API", "api_method": "ping", "script": "1"},
		{"name": "cron", "script_type": "Scheduler Event", "event_frequency": "Cron", "cron_format": "not cron", "script": "1"},
		{"name": "event", "script_type": "DocType Event", "reference_doctype": "Customer", "doctype_event": "Before Print", "script": "1"},
	} {
		if status, body := admin.JSON("POST", "/api/resource/Server Script", bad); status != 417 {
			t.Errorf("%s: %d %v", bad["name"], status, body)
		}
	}
}

func TestScriptsOff(t *testing.T) {
	env := newEnv(t, livedoc.Config{DisableScripts: true})
	admin := env.Login("Administrator", apptest.AdminPassword)
	if status, _ := admin.JSON("POST", "/api/resource/Server Script", map[string]any{"name": "x", "script_type": "API", "api_method": "x", "script": "1"}); status != 404 {
		t.Errorf("with scripts off, Server Script answered %d", status)
	}
}

func TestAPIScript(t *testing.T) {
	env := newEnv(t, livedoc.Config{})
	admin := env.Login("Administrator", apptest.AdminPassword)
	addScript(t, admin, "Hello", map[string]any{"script_type": "API", "api_method": "shop.hello", "script": `
frappe.response.message = {greeting: "Hello " + frappe.form_dict.who, user: frappe.session.user,
	customers: frappe.db.count("Customer"), tomorrow: frappe.utils.add_days("2024-01-31", 1)}`})
	addScript(t, admin, "Open", map[string]any{"script_type": "API", "api_method": "shop.open", "allow_guest": 1,
		"script": `frappe.response.message = "open to " + frappe.session.user`})

	status, body := admin.JSON("GET", "/api/method/shop.hello?who=Ann", nil)
	msg, _ := body["message"].(map[string]any)
	if status != 200 || msg["greeting"] != "Hello Ann" || msg["user"] != "Administrator" || msg["tomorrow"] != "2024-02-01" {
		t.Fatalf("API script = %d %v", status, body)
	}
	guest := env.Anon()
	if status, body := guest.JSON("GET", "/api/method/shop.hello?who=x", nil); status != 403 {
		t.Errorf("Guest called a script without allow_guest: %d %v", status, body)
	}
	if status, body := guest.JSON("GET", "/api/method/shop.open", nil); status != 200 || body["message"] != "open to Guest" {
		t.Errorf("Guest on allow_guest: %d %v", status, body)
	}
	// Disabled: gone at once.
	if status, body := admin.JSON("PUT", "/api/resource/Server Script/Open", map[string]any{"disabled": 1}); status != 200 {
		t.Fatalf("disable: %d %v", status, body)
	}
	if status, _ := guest.JSON("GET", "/api/method/shop.open", nil); status != 404 {
		t.Errorf("a disabled script still answers: %d", status)
	}
}

func TestRunawayScriptIsInterrupted(t *testing.T) {
	env := newEnv(t, livedoc.Config{Scripts: script.Options{Timeout: 200 * time.Millisecond}})
	admin := env.Login("Administrator", apptest.AdminPassword)
	addScript(t, admin, "Spin", map[string]any{"script_type": "DocType Event", "reference_doctype": "Customer",
		"doctype_event": "Before Insert", "script": "let i = 0\nwhile (true) {\n  i++\n}"})
	start := time.Now()
	status, body := admin.JSON("POST", "/api/resource/Customer", map[string]any{"customer_name": "Spun"})
	took := time.Since(start)
	msg := serverMessage(t, body)
	if status != 417 || body["exc_type"] != script.ServerScriptError || !strings.Contains(msg, "Spin ran longer than its limit of 200ms") ||
		!strings.Contains(msg, "Spin:3:") {
		t.Fatalf("runaway = %d %v (%s)", status, body, msg)
	}
	if took > 3*time.Second {
		t.Errorf("interrupted after %s", took)
	}
	if status, _ := admin.JSON("GET", "/api/resource/Customer/Spun", nil); status != 404 {
		t.Errorf("the interrupted insert was stored")
	}
}

func TestRunawayAllocationIsInterrupted(t *testing.T) {
	env := newEnv(t, livedoc.Config{Scripts: script.Options{Timeout: 20 * time.Second, MemoryLimit: 64 << 20}})
	admin := env.Login("Administrator", apptest.AdminPassword)
	addScript(t, admin, "Hog", map[string]any{"script_type": "API", "api_method": "hog",
		"script": "const a = []\nwhile (true) { a.push({n: a.length, s: 'x' + a.length}) }"})
	status, body := admin.JSON("POST", "/api/method/hog", nil)
	if msg := serverMessage(t, body); status != 417 || !strings.Contains(msg, "Hog used more than its memory limit of 64 MiB") {
		t.Fatalf("allocating script = %d %s", status, msg)
	}
}

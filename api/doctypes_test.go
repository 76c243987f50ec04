package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livedoc/livedoc/internal/apptest"
)

// Frappe's DocTypes as they are (issue 12): tests/apps/fieldtypes holds DocTypes in Frappe's export
// shape that together use every field type and the properties livedoc acts on.

const fieldtypesApp = "../tests/apps/fieldtypes"

func loadFieldtypes(t *testing.T) (*apptest.Env, *apptest.Client) {
	t.Helper()
	e := apptest.New(t)
	if err := e.App.LoadApp(context.Background(), fieldtypesApp); err != nil {
		t.Fatal(err)
	}
	return e, e.Login("Administrator", adminPW)
}

func dtPath(dt string) string { return "/api/resource/" + url.PathEscape(dt) }

// Every property of a loaded DocType (and of its fields and permissions) comes back unchanged.
func TestFrappeDocTypesRoundTrip(t *testing.T) {
	_, admin := loadFieldtypes(t)
	files, _ := filepath.Glob(fieldtypesApp + "/doctype/*.json")
	if len(files) < 9 {
		t.Fatalf("only %d DocTypes in %s", len(files), fieldtypesApp)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var in map[string]any
		_ = json.Unmarshal(raw, &in)
		status, body := admin.JSON("GET", dtPath("DocType")+"/"+url.PathEscape(in["name"].(string)), nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %v", in["name"], status, body)
		}
		sameSubset(t, in["name"].(string), in, body["data"].(map[string]any))
	}
	// Through REST too: a Frappe export posted as it is loads, and keeps its properties.
	raw, _ := os.ReadFile(fieldtypesApp + "/doctype/ld_hash.json")
	var posted map[string]any
	_ = json.Unmarshal(raw, &posted)
	posted["name"] = "LD Posted"
	status, body := admin.JSON("POST", dtPath("DocType"), posted)
	if status != 200 {
		t.Fatalf("POST a Frappe export: %d %v", status, body)
	}
	_, body = admin.JSON("GET", dtPath("DocType")+"/LD%20Posted", nil)
	sameSubset(t, "LD Posted", posted, body["data"].(map[string]any))
}

// sameSubset checks that every key of want (but the metadata a save sets) has the same value in
// got; lists of objects are compared item by item.
func sameSubset(t *testing.T, where string, want, got map[string]any) {
	t.Helper()
	for k, w := range want {
		switch k {
		case "creation", "modified", "modified_by", "owner", "doctype", "idx":
			continue
		}
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: %s dropped", where, k)
			continue
		}
		wl, isList := w.([]any)
		gl, _ := g.([]any)
		if isList && len(wl) > 0 {
			if _, objects := wl[0].(map[string]any); objects {
				if len(gl) != len(wl) {
					t.Errorf("%s: %s has %d items, want %d", where, k, len(gl), len(wl))
					continue
				}
				for i := range wl {
					sameSubset(t, fmt.Sprintf("%s.%s[%d]", where, k, i), wl[i].(map[string]any), gl[i].(map[string]any))
				}
				continue
			}
		}
		if !reflect.DeepEqual(norm(w), norm(g)) {
			t.Errorf("%s: %s is %#v, want %#v", where, k, g, w)
		}
	}
}

func norm(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// Each field type takes and returns values as Frappe does, and refuses what Frappe refuses.
func TestFieldTypesBehave(t *testing.T) {
	_, admin := loadFieldtypes(t)
	admin.JSON("POST", dtPath("LD Category"), map[string]any{"category_name": "office supplies", "description": "Paper and pens", "discount": 12.5})
	good := map[string]any{
		"title": "All of them", "email": "a@example.com, b@example.com", "phone_data": "+49 (30) 123-45", "website": "https://example.com/x",
		"person": "Ada Lovelace", "status": "Open", "priority": "High", "due_date": "2026-03-01", "logged_at": "2026-03-01 10:11:12",
		"start_time": "9:30", "spent": 3600, "count": 7, "ratio": 0.12345, "price": "19.995", "progress": 50, "stars": 0.8, "done": 1,
		"summary": "s", "body": "b", "long_body": strings.Repeat("x", 1000), "notes": "<p><b>bold</b></p>", "html_snippet": "<div>x</div>",
		"readme": "# Title", "script": "def f():\n    return 1\n", "payload": map[string]any{"a": []any{1.0, 2.0}},
		"category": "Office Supplies", "ref_type": "LD Category", "ref_name": "Office Supplies",
		"rows":       []any{map[string]any{"item": "pen", "qty": 2.345}},
		"tags":       []any{map[string]any{"category": "Office Supplies"}},
		"attachment": "/files/a.txt", "picture": "/files/p.png", "secret": "s3cret", "colour": "#ff0000",
		"place":     map[string]any{"type": "FeatureCollection", "features": []any{}},
		"signature": "data:image/png;base64,AAAA", "barcode": "123456", "icon": "fa fa-star", "mobile": "+1 555 0100",
		"kind": "Simple", "hidden_reqd": "here", "code": "C-1", "computed": "ignored", "not_a_field": "ignored",
		"recompute": "ignored", "rules_html": "ignored",
	}
	status, body := admin.JSON("POST", dtPath("LD All Fields"), good)
	if status != 200 {
		t.Fatalf("insert: %d %v", status, body)
	}
	d := body["data"].(map[string]any)
	year := time.Now().UTC().Format("2006")
	for k, want := range map[string]any{
		"name": "ALL-" + year + "-0001", "start_time": "09:30:00", "spent": 3600.0, "ratio": 0.123, "price": 20.0,
		"category_description": "Paper and pens", "discount": 12.5, "place": `{"features":[],"type":"FeatureCollection"}`,
		"status": "Open", "count": 7.0, "stars": 0.8,
	} {
		if !reflect.DeepEqual(norm(d[k]), norm(want)) {
			t.Errorf("%s = %#v, want %#v", k, d[k], want)
		}
	}
	for _, k := range []string{"secret", "computed", "not_a_field", "recompute", "rules_html"} {
		if _, ok := d[k]; ok {
			t.Errorf("%s came back: %v", k, d[k])
		}
	}
	if rows := d["rows"].([]any); rows[0].(map[string]any)["qty"] != 2.35 { // precision 2, half to even
		t.Errorf("row qty %v", rows[0])
	}
	if tags := d["tags"].([]any); len(tags) != 1 || tags[0].(map[string]any)["category"] != "Office Supplies" {
		t.Errorf("Table MultiSelect rows: %v", d["tags"])
	}
	// Refused, each with Frappe's error and nothing written.
	for field, bad := range map[string]any{
		"email": "not an email", "website": "ftp://x", "phone_data": "call me", "person": "<script>", "title": strings.Repeat("t", 61),
		"count": -1, "start_time": "25:99", "stars": 9, "place": "{not json", "ref_name": "No Such Category", "due_date": "soon",
		"category": "Nope",
	} {
		doc := map[string]any{"title": "bad", "kind": "Simple", "hidden_reqd": "x"}
		doc[field] = bad
		if field == "ref_name" {
			doc["ref_type"] = "LD Category"
		}
		if status, body := admin.JSON("POST", dtPath("LD All Fields"), doc); status != 417 {
			t.Errorf("%s = %v: %d %v", field, bad, status, body)
		}
	}
	if status, body := admin.JSON("GET", dtPath("LD All Fields")+"?limit_page_length=0", nil); status != 200 || len(body["data"].([]any)) != 1 {
		t.Errorf("bad input wrote documents: %v", body)
	}
	// Users take Frappe's standard fields.
	if status, body := admin.JSON("POST", dtPath("User"), map[string]any{"email": "w@example.com", "first_name": "W", "send_welcome_email": 0,
		"language": "en", "time_zone": "Europe/Berlin"}); status != 200 {
		t.Errorf("a User with send_welcome_email: %d %v", status, body)
	}
}

// Naming: format:, field: with name_case, naming_series:, Prompt with __newname, autoincrement,
// hash, and amendments.
func TestNamingRules(t *testing.T) {
	_, admin := loadFieldtypes(t)
	year := time.Now().UTC().Format("2006")
	name := func(dt string, d map[string]any) string {
		t.Helper()
		status, body := admin.JSON("POST", dtPath(dt), d)
		if status != 200 {
			t.Fatalf("insert %s: %d %v", dt, status, body)
		}
		return body["data"].(map[string]any)["name"].(string)
	}
	for _, c := range []struct {
		dt   string
		d    map[string]any
		want string
	}{
		{"LD Category", map[string]any{"category_name": "office supplies"}, "Office Supplies"},
		{"LD Series", map[string]any{}, "SER-" + year + "-00001"},
		{"LD Series", map[string]any{}, "SER-" + year + "-00002"},
		{"LD Series", map[string]any{"naming_series": "ALT-.####"}, "ALT-0001"},
		{"LD Prompt", map[string]any{"__newname": "my first"}, "MY FIRST"},
		{"LD Auto", map[string]any{}, "1"},
		{"LD Auto", map[string]any{}, "2"},
		{"LD All Fields", map[string]any{"title": "a", "kind": "Simple", "hidden_reqd": "x"}, "ALL-" + year + "-0001"},
		{"LD All Fields", map[string]any{"title": "b", "kind": "Simple", "hidden_reqd": "x"}, "ALL-" + year + "-0002"},
	} {
		if got := name(c.dt, c.d); got != c.want {
			t.Errorf("%s %v: named %q, want %q", c.dt, c.d, got, c.want)
		}
	}
	if got := name("LD Hash", map[string]any{}); !regexp.MustCompile(`^[0-9a-f]{10}$`).MatchString(got) {
		t.Errorf("hash name %q", got)
	}
	if status, _ := admin.JSON("POST", dtPath("LD Prompt"), map[string]any{"subject": "no name"}); status != 417 {
		t.Errorf("prompt without a name: %d", status)
	}
	// Amend: only a cancelled document; -1, then -2 from the amendment.
	first := "ALL-" + year + "-0001"
	admin.JSON("PUT", dtPath("LD All Fields")+"/"+first, map[string]any{"docstatus": 1})
	if status, _ := admin.JSON("POST", dtPath("LD All Fields"), map[string]any{"title": "a", "kind": "Simple", "hidden_reqd": "x", "amended_from": first}); status != 417 {
		t.Errorf("amending a submitted document: %d", status)
	}
	admin.JSON("PUT", dtPath("LD All Fields")+"/"+first, map[string]any{"docstatus": 2})
	am1 := name("LD All Fields", map[string]any{"title": "a", "kind": "Simple", "hidden_reqd": "x", "amended_from": first})
	if am1 != first+"-1" {
		t.Errorf("amendment named %q", am1)
	}
	admin.JSON("PUT", dtPath("LD All Fields")+"/"+url.PathEscape(am1), map[string]any{"docstatus": 1})
	admin.JSON("PUT", dtPath("LD All Fields")+"/"+url.PathEscape(am1), map[string]any{"docstatus": 2})
	if am2 := name("LD All Fields", map[string]any{"title": "a", "kind": "Simple", "hidden_reqd": "x", "amended_from": am1}); am2 != first+"-2" {
		t.Errorf("second amendment named %q", am2)
	}
}

// depends_on, mandatory_depends_on, fetch_if_empty, set_only_once, permlevel, Single DocTypes,
// and DocPerm select for Link searches.
func TestFieldRules(t *testing.T) {
	e, admin := loadFieldtypes(t)
	admin.JSON("POST", dtPath("LD Category"), map[string]any{"category_name": "Books", "description": "Paper", "discount": 5})
	insert := func(c *apptest.Client, d map[string]any) (int, map[string]any) {
		t.Helper()
		return c.JSON("POST", dtPath("LD All Fields"), d)
	}
	// hidden_reqd is reqd but hidden unless kind is Simple; detail is mandatory when Detailed.
	if status, body := insert(admin, map[string]any{"title": "x", "kind": "Detailed", "detail": "d"}); status != 200 {
		t.Errorf("a hidden reqd field was required: %d %v", status, body)
	}
	if status, body := insert(admin, map[string]any{"title": "x", "kind": "Detailed"}); status != 417 || !strings.Contains(fmt.Sprint(body), "Detail") {
		t.Errorf("mandatory_depends_on: %d %v", status, body)
	}
	if status, _ := insert(admin, map[string]any{"title": "x", "kind": "Simple"}); status != 417 {
		t.Errorf("reqd shown field missing: %d", status)
	}
	if status, body := insert(admin, map[string]any{"title": "x", "kind": "Simple", "hidden_reqd": "h", "rows": []any{map[string]any{"item": "a", "qty": 9}}}); status != 417 || !strings.Contains(fmt.Sprint(body), "Row #1") {
		t.Errorf("a row's mandatory_depends_on: %d %v", status, body)
	}
	// fetch_if_empty keeps a value given; the plain fetch_from overwrites.
	status, body := insert(admin, map[string]any{"title": "x", "kind": "Simple", "hidden_reqd": "h", "category": "Books", "discount": 1, "category_description": "mine", "locked_ref": "L1"})
	if status != 200 {
		t.Fatalf("insert: %d %v", status, body)
	}
	d := body["data"].(map[string]any)
	if d["discount"] != 1.0 || d["category_description"] != "Paper" {
		t.Errorf("fetch: discount %v, description %v", d["discount"], d["category_description"])
	}
	name := d["name"].(string)
	if status, body := admin.JSON("PUT", dtPath("LD All Fields")+"/"+name, map[string]any{"locked_ref": "L2"}); status != 417 || body["exc_type"] != "CannotChangeConstantError" {
		t.Errorf("set_only_once: %d %v", status, body)
	}
	// permlevel 1: a user without that level neither sees nor sets internal_note.
	admin.JSON("PUT", dtPath("LD All Fields")+"/"+name, map[string]any{"internal_note": "for managers"})
	u := e.NewUser("u@example.com", "LD User")
	status, body = u.JSON("GET", dtPath("LD All Fields")+"/"+name, nil)
	if status != 200 {
		t.Fatalf("LD User reads: %d %v", status, body)
	}
	if _, ok := body["data"].(map[string]any)["internal_note"]; ok {
		t.Error("permlevel 1 field shown to a user without that level")
	}
	u.JSON("PUT", dtPath("LD All Fields")+"/"+name, map[string]any{"internal_note": "overwritten", "remarks": "ok"})
	_, body = admin.JSON("GET", dtPath("LD All Fields")+"/"+name, nil)
	if got := body["data"].(map[string]any); got["internal_note"] != "for managers" || got["remarks"] != "ok" {
		t.Errorf("permlevel write: %v / %v", got["internal_note"], got["remarks"])
	}
	// A Single: one record, at /api/resource/<Single>/<Single>, with defaults before any save.
	single := dtPath("LD Settings") + "/" + url.PathEscape("LD Settings")
	if status, body := admin.JSON("GET", single, nil); status != 200 || body["data"].(map[string]any)["company_name"] != "ACME" {
		t.Errorf("Single before a save: %d %v", status, body)
	}
	admin.JSON("PUT", single, map[string]any{"max_items": 3})
	if _, body := admin.JSON("GET", single, nil); body["data"].(map[string]any)["max_items"] != 3.0 {
		t.Errorf("Single after a save: %v", body)
	}
	if status, _ := admin.JSON("POST", dtPath("LD Settings"), map[string]any{"max_items": 4}); status != 417 {
		t.Errorf("inserting into a Single: %d", status)
	}
	// select: LD User cannot read LD Category, but can pick one in a Link.
	if status, _ := u.JSON("GET", dtPath("LD Category")+"/Books", nil); status != 403 {
		t.Errorf("select-only read: %d", status)
	}
	status, body = u.JSON("GET", "/api/method/frappe.desk.search.search_link?doctype=LD%20Category&txt=boo", nil)
	if status != 200 || !strings.Contains(fmt.Sprint(body["message"]), "Books") {
		t.Errorf("search_link with select: %d %v", status, body)
	}
}

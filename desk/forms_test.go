package desk_test

import (
	"bytes"
	"encoding/binary"
	"image/png"
	"testing"

	"github.com/livedoc/livedoc/internal/apptest"
)

func TestFavicon(t *testing.T) {
	e := apptest.New(t)
	resp := e.Anon().Request("GET", "/favicon.ico", "", nil)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/x-icon" {
		t.Fatalf("/favicon.ico: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// An ICO header with one 32×32 image, whose data is a PNG that decodes.
	ico := b.Bytes()
	if len(ico) < 22 || binary.LittleEndian.Uint16(ico[2:]) != 1 || binary.LittleEndian.Uint16(ico[4:]) != 1 || ico[6] != 32 {
		t.Fatalf("not an icon: % x", ico[:min(len(ico), 22)])
	}
	img, err := png.Decode(bytes.NewReader(ico[22:]))
	if err != nil || img.Bounds().Dx() != 32 {
		t.Fatalf("icon image: %v", err)
	}
}

// getdoctype says which permlevels the user may read and write; search_link and the awesome bar's
// livedoc.desk.search find documents by their search_fields, not by fields of other levels.
func TestPermLevelsAndSearchFields(t *testing.T) {
	e := apptest.New(t)
	admin := e.Login("Administrator", adminPW)
	if status, body := admin.JSON("POST", "/api/resource/DocType", map[string]any{
		"name": "Desk Probe", "module": "Tests", "autoname": "hash", "title_field": "title", "search_fields": "code,secret_note",
		"show_title_field_in_link": 1,
		"fields": []any{
			map[string]any{"fieldname": "title", "fieldtype": "Data"},
			map[string]any{"fieldname": "code", "fieldtype": "Data"},
			map[string]any{"fieldname": "secret_note", "fieldtype": "Data", "permlevel": 1},
		},
		"permissions": []any{
			map[string]any{"role": "Accounts User", "read": 1, "write": 1, "create": 1},
			map[string]any{"role": "Accounts User", "permlevel": 1, "read": 1},
		},
	}); status != 200 {
		t.Fatal(status, body)
	}
	for _, d := range []map[string]any{{"title": "Bolt", "code": "ZX-9", "secret_note": "hidden-word"}, {"title": "Nut", "code": "AB-1"}} {
		d["doctype"] = "Desk Probe"
		if status, body := admin.JSON("POST", "/api/resource/Desk Probe", d); status != 200 {
			t.Fatal(status, body)
		}
	}
	acc := e.NewUser("acc2@example.com", "Accounts User")
	status, body := acc.JSON("POST", "/api/method/frappe.desk.form.load.getdoctype", map[string]any{"doctype": "Desk Probe"})
	if status != 200 {
		t.Fatal(status, body)
	}
	levels := body["message"].(map[string]any)["perm_levels"].(map[string]any)
	if l0, l1 := levels["0"].(map[string]any), levels["1"].(map[string]any); l0["read"] != true || l0["write"] != true || l1["read"] != true || l1["write"] != false {
		t.Errorf("perm_levels = %v", levels)
	}
	status, body = acc.JSON("POST", "/api/method/frappe.desk.search.search_link", map[string]any{"doctype": "Desk Probe", "txt": "zx-"})
	res, _ := body["message"].([]any)
	if status != 200 || len(res) != 1 {
		t.Fatalf("search_link by a search field: %d %v", status, body)
	}
	hit := res[0].(map[string]any)
	if hit["label"] != "Bolt" || hit["description"] != "Bolt, ZX-9" {
		t.Errorf("search_link hit = %v", hit)
	}
	// A field of permlevel 1 is never searched, even when search_fields names it.
	if _, body = acc.JSON("POST", "/api/method/frappe.desk.search.search_link", map[string]any{"doctype": "Desk Probe", "txt": "hidden-word"}); len(body["message"].([]any)) != 0 {
		t.Errorf("search_link found a document by a permlevel 1 field: %v", body)
	}
	status, body = acc.JSON("POST", "/api/method/livedoc.desk.search", map[string]any{"txt": "AB-1"})
	res, _ = body["message"].([]any)
	if status != 200 || len(res) != 1 || res[0].(map[string]any)["doctype"] != "Desk Probe" || res[0].(map[string]any)["label"] != "Nut" {
		t.Fatalf("livedoc.desk.search: %d %v", status, body)
	}
	// Nothing of a DocType the user may not read.
	nobody := e.NewUser("nobody2@example.com")
	if _, body = nobody.JSON("POST", "/api/method/livedoc.desk.search", map[string]any{"txt": "AB-1"}); len(body["message"].([]any)) != 0 {
		t.Errorf("search without permission: %v", body)
	}
}

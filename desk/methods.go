package desk

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/doc"
)

// ptypes are the permission types the desk shows buttons for, in the order of perms.
var ptypes = []string{doc.PermRead, doc.PermWrite, doc.PermCreate, doc.PermDelete, doc.PermSubmit, doc.PermCancel}

func (d *Desk) registerMethods() {
	read := api.MethodOptions{} // GET and POST, logged-in users; each checks read permission
	d.api.Whitelist("frappe.desk.form.load.getdoctype", d.getDocType, read)
	d.api.Whitelist("livedoc.desk.doctypes", d.docTypes, read)
	d.api.Whitelist("frappe.desk.search.search_link", d.searchLink, read)
	d.api.Whitelist("livedoc.desk.search", d.search, read)
}

// resolve finds a DocType by name, or by its desk route ("sales-order"), or by its name in any
// case, so /app/<route> can be opened without the DocType list.
func (d *Desk) resolve(name string) (*doc.DocType, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, doc.Errorf(doc.ValidationError, "doctype is required")
	}
	if dt, err := d.e.Lookup(context.Background(), name); err == nil {
		return dt, nil
	}
	for _, dt := range d.e.DocTypes() {
		if dt.Route() == name || strings.EqualFold(dt.Name, name) {
			return dt, nil
		}
	}
	return nil, doc.Errorf(doc.DoesNotExistError, "DocType %s not found", name)
}

// metaDoc is a DocType in Frappe's meta shape, with the desk route added, and a label for each
// field that has none (made from its name, as error messages name it).
func metaDoc(dt *doc.DocType) (map[string]any, error) {
	m, err := dt.Map()
	if err != nil {
		return nil, err
	}
	m["route"] = dt.Route()
	if fields, ok := m["fields"].([]any); ok && len(fields) == len(dt.Fields) {
		for i, f := range fields {
			if fm, ok := f.(map[string]any); ok && fm["label"] == nil && !dt.Fields[i].IsLayout() {
				fm["label"] = dt.Fields[i].Title()
			}
		}
	}
	return m, nil
}

// getDocType is frappe.desk.form.load.getdoctype(doctype): the message is
// {docs: [the DocType, its child tables...], perms: {read, write, create, delete, submit, cancel},
// owner_only: [the perms that apply only to documents the user owns]}. doctype may also be the
// desk route. It needs read permission on the DocType.
func (d *Desk) getDocType(c *doc.Context, a api.Args) (any, error) {
	dt, err := d.resolve(a.String("doctype"))
	if err != nil {
		return nil, err
	}
	if dt.IsTable {
		return nil, doc.Errorf(doc.PermissionError, "%s is a child table: open it through its parent", dt.Name)
	}
	if !dt.Can(c.User, doc.PermRead, "") {
		return nil, doc.Errorf(doc.PermissionError, "Not permitted: %s has no permission to read %s", c.User.Name, dt.Name)
	}
	m, err := metaDoc(dt)
	if err != nil {
		return nil, err
	}
	docs := []any{m}
	for _, tf := range dt.TableFields() {
		child, err := c.Meta(tf.Options)
		if err != nil {
			return nil, err
		}
		cm, err := metaDoc(child)
		if err != nil {
			return nil, err
		}
		docs = append(docs, cm)
	}
	perms := map[string]bool{}
	ownerOnly := []string{}
	for _, p := range ptypes {
		perms[p] = dt.Can(c.User, p, "")
		if perms[p] && !dt.Can(c.User, p, "\x00someone else") {
			ownerOnly = append(ownerOnly, p)
		}
	}
	return map[string]any{"docs": docs, "perms": perms, "owner_only": ownerOnly, "perm_levels": permLevels(dt, c.User)}, nil
}

// permLevels is, per permlevel of dt's rules, whether the user may read and write fields of that
// level ({"0": {read, write}, "1": {...}}): the desk hides fields it may not read and shows
// read-only those it may not write, as the server strips and ignores them. Level 0 goes with the
// document's own rules; the Administrator has every level.
func permLevels(dt *doc.DocType, u *doc.User) map[string]map[string]bool {
	out := map[string]map[string]bool{"0": {"read": dt.Can(u, doc.PermRead, ""), "write": dt.Can(u, doc.PermWrite, "")}}
	for _, p := range dt.Permissions {
		if p.Permlevel == 0 {
			continue
		}
		k := strconv.Itoa(p.Permlevel)
		if out[k] == nil {
			out[k] = map[string]bool{"read": false, "write": false}
		}
		if u.IsAdmin() || u.HasRole(p.Role) {
			out[k]["read"] = out[k]["read"] || p.Read || p.Write
			out[k]["write"] = out[k]["write"] || p.Write
		}
	}
	return out
}

// docTypes is livedoc.desk.doctypes: the DocTypes, not child tables, that the user may read.
func (d *Desk) docTypes(c *doc.Context, a api.Args) (any, error) {
	out := []map[string]any{}
	for _, dt := range d.e.DocTypes() {
		if dt.IsTable || !dt.Can(c.User, doc.PermRead, "") {
			continue
		}
		out = append(out, map[string]any{"name": dt.Name, "route": dt.Route(), "module": dt.Module,
			"issingle": boolInt(dt.IsSingle), "is_submittable": boolInt(dt.IsSubmittable),
			"can_create": boolInt(dt.Can(c.User, doc.PermCreate, ""))})
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// searchLink is frappe.desk.search.search_link(doctype, txt, page_length): documents the user may
// read (or, with DocPerm select, pick) whose name, title_field or one of the DocType's
// search_fields contains txt, as [{value, description, label}]: description is the title and the
// search fields' values; label is the title when the DocType has show_title_field_in_link.
func (d *Desk) searchLink(c *doc.Context, a api.Args) (any, error) {
	dt, err := d.resolve(a.String("doctype"))
	if err != nil {
		return nil, err
	}
	limit := 10
	if n, err := strconv.Atoi(a.String("page_length")); err == nil && n > 0 {
		limit = min(n, 100)
	}
	lister := c
	if !dt.Can(c.User, doc.PermRead, "") && dt.GrantsAll(c.User, doc.PermSelect) {
		// DocPerm select: the user may pick documents in a Link without reading them.
		lister = c.Sudo()
	}
	return findDocs(lister, dt, a.String("txt"), limit)
}

// findDocs lists documents of dt matching txt in their name, title or search fields.
func findDocs(c *doc.Context, dt *doc.DocType, txt string, limit int) ([]map[string]any, error) {
	title := storedField(dt, dt.TitleField)
	var extra []string
	for f := range strings.SplitSeq(propString(dt.Props, "search_fields"), ",") {
		if f = storedField(dt, strings.TrimSpace(f)); f != "" && f != title && !slices.Contains(extra, f) {
			extra = append(extra, f)
		}
	}
	q := doc.Query{Fields: []string{"name"}, Limit: limit, OrderBy: "name asc"}
	if title != "" {
		q.Fields = append(q.Fields, title)
	}
	q.Fields = append(q.Fields, extra...)
	if txt = strings.TrimSpace(txt); txt != "" {
		like := "%" + txt + "%"
		for _, f := range q.Fields {
			q.OrFilters = append(q.OrFilters, doc.Filter{Field: f, Op: "like", Value: like})
		}
	}
	rows, err := c.List(dt.Name, q)
	if err != nil {
		return nil, err
	}
	showTitle := propString(dt.Props, "show_title_field_in_link") == "1" && title != ""
	out := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		var desc []string
		if title != "" && r.String(title) != r.Name() && r.String(title) != "" {
			desc = append(desc, r.String(title))
		}
		for _, f := range extra {
			if v := r.String(f); v != "" {
				desc = append(desc, v)
			}
		}
		item := map[string]any{"value": r.Name(), "description": strings.Join(desc, ", ")}
		if showTitle && r.String(title) != "" {
			item["label"] = r.String(title)
		}
		out = append(out, item)
	}
	return out, nil
}

// storedField is name when it is a stored field of dt (or "name"), else "".
func storedField(dt *doc.DocType, name string) string {
	if name == "name" {
		return name
	}
	if f := dt.Field(name); f != nil && f.Stored() && f.Fieldtype != doc.Password && f.Permlevel == 0 {
		return name
	}
	return ""
}

// propString is a kept DocType property as text (Check properties are 0/1 numbers).
func propString(p doc.Props, key string) string {
	switch v := p[key].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		if v {
			return "1"
		}
		return "0"
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// search is livedoc.desk.search(txt): the awesome bar's documents. For each DocType (not a child
// table) the user may read, up to 5 documents whose name, title or search_fields contain txt, at
// most 20 in all: [{doctype, route, value, description, label}].
func (d *Desk) search(c *doc.Context, a api.Args) (any, error) {
	txt := strings.TrimSpace(a.String("txt"))
	out := []map[string]any{}
	if len([]rune(txt)) < 2 {
		return out, nil
	}
	dts := d.e.DocTypes()
	sort.Slice(dts, func(i, j int) bool { return dts[i].Name < dts[j].Name })
	for _, dt := range dts {
		if dt.IsTable || dt.IsSingle || !dt.Can(c.User, doc.PermRead, "") {
			continue
		}
		rows, err := findDocs(c, dt, txt, 5)
		if err != nil {
			continue // e.g. a DocType only some of whose documents the user may read: skip it
		}
		for _, r := range rows {
			r["doctype"], r["route"] = dt.Name, dt.Route()
			out = append(out, r)
			if len(out) == 20 {
				return out, nil
			}
		}
	}
	return out, nil
}

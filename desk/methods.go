package desk

import (
	"context"
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
	return map[string]any{"docs": docs, "perms": perms, "owner_only": ownerOnly}, nil
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
// read (or, with DocPerm select, pick) whose name (or title_field) contains txt, as
// [{value, description}].
func (d *Desk) searchLink(c *doc.Context, a api.Args) (any, error) {
	dt, err := d.resolve(a.String("doctype"))
	if err != nil {
		return nil, err
	}
	limit := 10
	if n, err := strconv.Atoi(a.String("page_length")); err == nil && n > 0 {
		limit = min(n, 100)
	}
	title := dt.TitleField
	if f := dt.Field(title); f == nil || !f.Stored() {
		title = ""
	}
	q := doc.Query{Fields: []string{"name"}, Limit: limit, OrderBy: "name asc"}
	if title != "" {
		q.Fields = append(q.Fields, title)
	}
	if txt := strings.TrimSpace(a.String("txt")); txt != "" {
		like := "%" + txt + "%"
		q.OrFilters = []doc.Filter{{Field: "name", Op: "like", Value: like}}
		if title != "" {
			q.OrFilters = append(q.OrFilters, doc.Filter{Field: title, Op: "like", Value: like})
		}
	}
	lister := c
	if !dt.Can(c.User, doc.PermRead, "") && dt.GrantsAll(c.User, doc.PermSelect) {
		// DocPerm select: the user may pick documents in a Link without reading them.
		lister = c.Sudo()
	}
	rows, err := lister.List(dt.Name, q)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		desc := ""
		if title != "" && r.String(title) != r.Name() {
			desc = r.String(title)
		}
		out = append(out, map[string]any{"value": r.Name(), "description": desc})
	}
	return out, nil
}

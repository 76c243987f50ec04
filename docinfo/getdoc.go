package docinfo

import (
	"net/http"
	"strings"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/doc"
)

// Routes serves frappe.desk.form.load.getdoc and get_docinfo. They answer at the top level
// ({docs, docinfo}), not under "message" as whitelisted methods do, so they are handlers of
// their own.
func (i *Info) Routes(mux *http.ServeMux) {
	mux.Handle("/api/method/frappe.desk.form.load.getdoc", i.api.Handler(i.getDoc))
	mux.Handle("/api/method/frappe.desk.form.load.get_docinfo", i.api.Handler(i.getDocinfo))
}

// getDoc answers {docs: [the document], docinfo} to whoever may read the document; a document
// that does not exist is {docs: []}, as in Frappe.
func (i *Info) getDoc(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	return i.load(w, r, id, true)
}

func (i *Info) getDocinfo(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	return i.load(w, r, id, false)
}

func (i *Info) load(w http.ResponseWriter, r *http.Request, id *auth.Identity, withDoc bool) error {
	if r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodHead {
		return doc.Errorf(doc.ValidationError, "getdoc takes GET or POST, not %s", r.Method)
	}
	a, err := api.ReadArgs(r)
	if err != nil {
		return err
	}
	var out map[string]any
	err = i.e.Run(r.Context(), id.User, false, func(c *doc.Context) error {
		d, err := readable(c, a.String("doctype"), a.String("name"))
		if e, ok := doc.AsError(err); ok && e.Type == doc.DoesNotExistError && withDoc {
			out = map[string]any{"docs": []any{}}
			return nil
		} else if err != nil {
			return err
		}
		info, err := Docinfo(c, d)
		if err != nil {
			return err
		}
		out = map[string]any{"docinfo": info}
		if withDoc {
			out["docs"] = []doc.Doc{d}
		}
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// Docinfo is Frappe's get_docinfo for a document the context's user has read: every key Frappe's
// form reads, those of features livedoc does not have (communications, sharing, views, energy
// points, milestones, following, document email) empty.
func Docinfo(c *doc.Context, d doc.Doc) (map[string]any, error) {
	dt, err := c.Meta(d.DocType())
	if err != nil {
		return nil, err
	}
	ref := func(fields ...string) []doc.Filter {
		return []doc.Filter{{Field: fields[0], Op: "=", Value: dt.Name}, {Field: fields[1], Op: "=", Value: d.Name()}}
	}
	info := map[string]any{"doctype": dt.Name, "name": d.Name(), "comments": []doc.Doc{}, "shared": []any{},
		"assignment_logs": []doc.Doc{}, "attachment_logs": []doc.Doc{}, "info_logs": []doc.Doc{}, "like_logs": []doc.Doc{},
		"workflow_logs": []doc.Doc{}, "communications": []any{}, "automated_messages": []any{}, "views": []any{},
		"energy_point_logs": []any{}, "additional_timeline_content": []any{}, "milestones": []any{},
		"is_document_followed": false, "document_email": nil, "error_log_exists": false,
		"webhook_request_log_log_exists": false, "viewers": []any{}, "versions": []doc.Doc{}}
	comments, err := c.Sudo().List("Comment", doc.Query{Fields: []string{"name", "creation", "content", "owner", "comment_type"},
		Filters: ref("reference_doctype", "reference_name"), OrderBy: "creation desc"})
	if err != nil {
		return nil, err
	}
	for _, cm := range comments {
		if key := timelineKeys[cm.String("comment_type")]; key != "" {
			info[key] = append(info[key].([]doc.Doc), cm)
		}
	}
	attachments := []doc.Doc{}
	if _, err := c.Meta("File"); err == nil {
		if attachments, err = c.Sudo().List("File", doc.Query{Fields: []string{"name", "file_name", "file_url", "is_private"},
			Filters: ref("attached_to_doctype", "attached_to_name"), OrderBy: "creation asc"}); err != nil {
			return nil, err
		}
	}
	info["attachments"] = attachments
	if dt.TrackChanges {
		versions, err := c.Sudo().List("Version", doc.Query{Fields: []string{"name", "owner", "creation", "data"},
			Filters: ref("ref_doctype", "docname"), OrderBy: "creation desc", Limit: 10})
		if err != nil {
			return nil, err
		}
		info["versions"] = versions
	}
	todos, err := c.Sudo().List("ToDo", doc.Query{Fields: []string{"name", "allocated_to", "description", "status"},
		Filters: append(ref("reference_type", "reference_name"), doc.Filter{Field: "status", Op: "not in", Value: []any{"Cancelled", "Closed"}}),
		OrderBy: "creation asc"})
	if err != nil {
		return nil, err
	}
	assignments := make([]map[string]any, 0, len(todos))
	for _, t := range todos {
		if t.String("allocated_to") != "" {
			assignments = append(assignments, map[string]any{"name": t.Name(), "owner": t["allocated_to"],
				"description": t["description"], "status": t["status"]})
		}
	}
	info["assignments"] = assignments
	links, err := tagLinks(c, dt.Name, d.Name(), "")
	if err != nil {
		return nil, err
	}
	tags := make([]string, len(links))
	for k, l := range links {
		tags[k] = l.String("tag")
	}
	info["tags"] = strings.Join(tags, ",")
	info["permissions"] = permissions(c.User, dt, d)
	users, err := userInfo(c, d, comments, info["versions"].([]doc.Doc), assignments)
	if err != nil {
		return nil, err
	}
	info["user_info"] = users
	return info, nil
}

// timelineKeys are the docinfo lists add_comments sorts comments into, by comment type.
var timelineKeys = map[string]string{
	"Comment": "comments", "Shared": "shared", "Unshared": "shared", "Assignment Completed": "assignment_logs",
	"Assigned": "assignment_logs", "Attachment": "attachment_logs", "Attachment Removed": "attachment_logs",
	"Info": "info_logs", "Edit": "info_logs", "Label": "info_logs", "Like": "like_logs", "Workflow": "workflow_logs",
}

// permissions is Frappe's get_doc_permissions: each right as 0 or 1 on this document.
func permissions(u *doc.User, dt *doc.DocType, d doc.Doc) map[string]int {
	out := map[string]int{}
	owner := dt.OwnerOf(d)
	for _, p := range []string{doc.PermRead, doc.PermWrite, doc.PermCreate, doc.PermDelete, doc.PermSubmit, doc.PermCancel} {
		if dt.Allowed(u, p, owner) {
			out[p] = 1
		} else {
			out[p] = 0
		}
	}
	for _, p := range []string{"select", "amend", "print", "email", "report", "import", "export", "share"} {
		out[p] = 0
	}
	for _, p := range dt.Permissions {
		if p.Permlevel != 0 || !(u.IsAdmin() || u.HasRole(p.Role)) || (p.IfOwner && owner != u.Name) {
			continue
		}
		for name, on := range map[string]bool{"select": p.Select, "amend": p.Amend, "print": p.Print, "email": p.Email,
			"report": p.Report, "import": p.Import, "export": p.Export, "share": p.Share} {
			if on {
				out[name] = 1
			}
		}
	}
	return out
}

// userInfo is Frappe's user_info: full name and image of the users the timeline names.
func userInfo(c *doc.Context, d doc.Doc, lists ...any) (map[string]any, error) {
	names := map[string]bool{d.String("owner"): true, d.String("modified_by"): true}
	for _, l := range lists {
		switch rows := l.(type) {
		case []doc.Doc:
			for _, r := range rows {
				names[r.String("owner")] = true
			}
		case []map[string]any:
			for _, r := range rows {
				if s, ok := r["owner"].(string); ok {
					names[s] = true
				}
			}
		}
	}
	out := map[string]any{}
	for n := range names {
		if n == "" {
			continue
		}
		u, err := c.Sudo().Get("User", n)
		if e, ok := doc.AsError(err); ok && e.Type == doc.DoesNotExistError {
			continue
		} else if err != nil {
			return nil, err
		}
		out[n] = map[string]any{"fullname": u["full_name"], "image": u["user_image"], "name": n, "email": u["email"]}
	}
	return out, nil
}

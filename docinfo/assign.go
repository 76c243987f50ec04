package docinfo

import (
	"fmt"
	"html"
	"time"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/doc"
)

// todoHooks do what Frappe's ToDo does for the document it refers to: an "Assigned" comment when
// it is created for someone, an "Assignment Completed" one when its status changes, and the
// assignments list of other users' forms kept live (key "assignments", a livedoc addition: Frappe
// refreshes that list from the comments' assignment_logs).
func (i *Info) todoHooks() {
	i.e.On("ToDo", doc.Validate, func(c *doc.Context, d doc.Doc) error {
		// A ToDo speaks on its document's timeline: only about a document its author may read.
		if dt, name := d.String("reference_type"), d.String("reference_name"); dt != "" || name != "" {
			if _, err := readable(c, dt, name); err != nil {
				return err
			}
		}
		old, err := c.Sudo().Get("ToDo", d.Name())
		if e, ok := doc.AsError(err); ok && e.Type == doc.DoesNotExistError {
			c.SetLocal(todoKey{d.Name()}, "Assigned")
			return nil
		} else if err != nil {
			return err
		}
		if old.String("status") != d.String("status") {
			c.SetLocal(todoKey{d.Name()}, "Assignment Completed")
		}
		return nil
	})
	i.e.On("ToDo", doc.OnUpdate, func(c *doc.Context, d doc.Doc) error {
		kind, _ := c.Local(todoKey{d.Name()}).(string)
		c.SetLocal(todoKey{d.Name()}, nil)
		dt, name, to := d.String("reference_type"), d.String("reference_name"), d.String("allocated_to")
		if kind == "" || dt == "" || name == "" || to == "" {
			return nil
		}
		var text, action string
		switch {
		case kind == "Assigned" && d.String("status") == "Open":
			text, action = fmt.Sprintf("%s assigned %s: %s", c.User.Name, to, d.String("description")), "add"
			if d.String("assigned_by") == to {
				text = fmt.Sprintf("%s self assigned this task: %s", to, d.String("description"))
			}
		case kind == "Assignment Completed":
			text, action = fmt.Sprintf("Assignment of %s removed by %s", to, c.User.Name), "delete"
			if to == c.User.Name {
				text = fmt.Sprintf("%s removed their assignment.", to)
			}
		default:
			return nil
		}
		if _, err := AddComment(c, dt, name, kind, html.EscapeString(text)); err != nil {
			return err
		}
		return i.docinfoUpdate(c, dt, name, "assignments", action, assignment(d))
	})
}

type todoKey struct{ name string }

// assignment is a ToDo as getdoc's docinfo lists it, with the reference Frappe's form checks.
func assignment(d doc.Doc) map[string]any {
	return map[string]any{"name": d.Name(), "owner": d["allocated_to"], "description": d["description"],
		"status": d["status"], "reference_doctype": d["reference_type"], "reference_name": d["reference_name"]}
}

// assign is frappe.desk.form.assign_to.add: an open ToDo for each user of assign_to (a list or
// its JSON) on the document, which the caller must be able to read. Users already assigned are
// skipped. Frappe shares the document with an assignee who cannot read it; livedoc has no
// sharing, so it refuses (as Frappe does when sharing is disabled).
func (i *Info) assign(c *doc.Context, a api.Args) (any, error) {
	if inner, err := a.JSON("args"); err == nil {
		if m, ok := inner.(map[string]any); ok {
			a = m
		}
	}
	dt, name := a.String("doctype"), a.String("name")
	if _, err := readable(c, dt, name); err != nil {
		return nil, err
	}
	meta, err := c.Meta(dt)
	if err != nil {
		return nil, err
	}
	users, err := userList(a)
	if err != nil {
		return nil, err
	}
	description := a.String("description")
	if description == "" {
		description = fmt.Sprintf("Assignment for %s %s", dt, name)
	}
	description = html.EscapeString(description)
	for _, u := range users {
		open, err := c.Sudo().List("ToDo", doc.Query{Filters: []doc.Filter{{Field: "reference_type", Op: "=", Value: dt},
			{Field: "reference_name", Op: "=", Value: name}, {Field: "status", Op: "=", Value: "Open"},
			{Field: "allocated_to", Op: "=", Value: u}}, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(open) > 0 {
			continue
		}
		user, err := i.users(c, u)
		if err != nil {
			return nil, doc.Errorf(doc.ValidationError, "Cannot assign to %s: no such enabled user", u)
		}
		ref, err := c.Sudo().Get(dt, name)
		if err != nil {
			return nil, err
		}
		if !meta.Allowed(user, doc.PermRead, meta.OwnerOf(ref)) {
			return nil, doc.Errorf(doc.PermissionError, "User %s is not permitted to access this document.", u)
		}
		todo := doc.Doc{"doctype": "ToDo", "allocated_to": u, "reference_type": dt, "reference_name": name,
			"description": description, "priority": "Medium", "status": "Open", "assigned_by": c.User.Name,
			"date": time.Now().UTC().Format(doc.DateFormat)}
		for _, k := range []string{"priority", "date"} {
			if v := a.String(k); v != "" {
				todo[k] = v
			}
		}
		if _, err := c.Sudo().Insert(todo); err != nil {
			return nil, err
		}
	}
	return openAssignments(c, dt, name)
}

// unassign is frappe.desk.form.assign_to.remove: the user's open assignment is cancelled.
func (i *Info) unassign(c *doc.Context, a api.Args) (any, error) {
	return setStatus(c, a.String("doctype"), a.String("name"), a.String("assign_to"), "Cancelled")
}

// closeAssignment is frappe.desk.form.assign_to.close: the assignee marks their assignment done.
func (i *Info) closeAssignment(c *doc.Context, a api.Args) (any, error) {
	if a.String("assign_to") != c.User.Name {
		return nil, doc.Errorf(doc.PermissionError, "Only the assignee can complete this to-do.")
	}
	return setStatus(c, a.String("doctype"), a.String("name"), a.String("assign_to"), "Closed")
}

func setStatus(c *doc.Context, dt, name, user, status string) (any, error) {
	if _, err := readable(c, dt, name); err != nil {
		return nil, err
	}
	todos, err := c.Sudo().List("ToDo", doc.Query{Filters: []doc.Filter{{Field: "reference_type", Op: "=", Value: dt},
		{Field: "reference_name", Op: "=", Value: name}, {Field: "allocated_to", Op: "=", Value: user},
		{Field: "status", Op: "=", Value: "Open"}}})
	if err != nil {
		return nil, err
	}
	for _, t := range todos {
		if _, err := c.Sudo().Update("ToDo", t.Name(), map[string]any{"status": status}); err != nil {
			return nil, err
		}
	}
	return openAssignments(c, dt, name)
}

// openAssignments is what assign_to's methods answer: [{owner, name}] of the open ToDos.
func openAssignments(c *doc.Context, dt, name string) ([]map[string]any, error) {
	rows, err := c.Sudo().List("ToDo", doc.Query{Fields: []string{"name", "allocated_to"},
		Filters: []doc.Filter{{Field: "reference_type", Op: "=", Value: dt}, {Field: "reference_name", Op: "=", Value: name},
			{Field: "status", Op: "=", Value: "Open"}}, OrderBy: "creation asc"})
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		out = append(out, map[string]any{"owner": r["allocated_to"], "name": r.Name()})
	}
	return out, nil
}

// userList reads assign_to: a list of users, or its JSON, or one user.
func userList(a api.Args) ([]string, error) {
	v, err := a.JSON("assign_to")
	if err != nil {
		return nil, err
	}
	var out []string
	switch t := v.(type) {
	case string:
		out = []string{t}
	case []any:
		for _, x := range t {
			s, ok := x.(string)
			if !ok || s == "" {
				return nil, doc.Errorf(doc.DataError, "assign_to must be a list of users")
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, doc.Errorf(doc.MandatoryError, "assign_to: at least one user is required")
	}
	return out, nil
}

// Package docinfo keeps what Frappe shows beside a document: its comments, its versions
// (track_changes), its assignments (ToDo) and its tags, and serves them with the document as
// getdoc's docinfo. Every change to them that another user's open form shows is published as
// docinfo_update to the document's room, after the commit that makes it.
package docinfo

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime"
)

//go:embed doctype/*.json
var doctypeFiles embed.FS

// Publisher is realtime.Hub.Publish (App.PublishRealtime).
type Publisher func(c *doc.Context, event string, message any, t realtime.Target, afterCommit bool) error

// Info registers the DocTypes' hooks and the methods of Frappe's desk that read and change them.
type Info struct {
	e       *doc.Engine
	api     *api.Server
	publish Publisher
	users   func(c *doc.Context, name string) (*doc.User, error)
}

// New registers the hooks (on e) and whitelisted methods (on s); the DocTypes themselves are
// declared by the caller from DocTypes, the same way apps declare theirs. users reads a user's
// roles in a transaction (auth.Service.UserIn), to refuse assigning someone who could not read
// the document.
func New(e *doc.Engine, s *api.Server, publish Publisher, users func(c *doc.Context, name string) (*doc.User, error)) *Info {
	i := &Info{e: e, api: s, publish: publish, users: users}
	i.commentHooks()
	i.versionHooks()
	i.todoHooks()
	post := api.MethodOptions{Methods: []string{"POST", "PUT"}}
	s.Whitelist("frappe.desk.form.utils.add_comment", i.addComment, post)
	s.Whitelist("frappe.desk.form.assign_to.add", i.assign, post)
	s.Whitelist("frappe.desk.form.assign_to.remove", i.unassign, post)
	s.Whitelist("frappe.desk.form.assign_to.close", i.closeAssignment, post)
	s.Whitelist("frappe.desk.doctype.tag.tag.add_tag", i.addTag, post)
	s.Whitelist("frappe.desk.doctype.tag.tag.remove_tag", i.removeTag, post)
	return i
}

// DocTypes are Comment, Version, ToDo, Tag and Tag Link, in Frappe v15's shape.
func DocTypes() ([]*doc.DocType, error) {
	var out []*doc.DocType
	err := fs.WalkDir(doctypeFiles, "doctype", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := doctypeFiles.ReadFile(p)
		if err != nil {
			return err
		}
		dt, err := doc.ParseDocType(b)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, dt)
		return nil
	})
	return out, err
}

// docinfoUpdate publishes Frappe's docinfo_update {doc, key, action} to the document's room once
// the transaction commits. Frappe's form merges doc into docinfo[key] only when doc names the
// document in reference_doctype and reference_name.
func (i *Info) docinfoUpdate(c *doc.Context, refDocType, refName, key, action string, d map[string]any) error {
	return i.publish(c, "docinfo_update", map[string]any{"doc": d, "key": key, "action": action},
		realtime.Target{DocType: refDocType, DocName: refName}, true)
}

// readable loads the document the user wants to act on beside, with the user's read permission,
// as Frappe's check_permission() before commenting or assigning.
func readable(c *doc.Context, doctype, name string) (doc.Doc, error) {
	if doctype == "" || name == "" {
		return nil, doc.Errorf(doc.ValidationError, "doctype and name are required")
	}
	return c.Get(doctype, name)
}

package files

import (
	"html"
	"net/url"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/docinfo"
	"github.com/livedoc/livedoc/realtime"
)

// uploaded is what the upload handler vouches for in its transaction: the File document it
// inserts may point at this local URL, whose content has this hash and size. Any other File
// document (through the REST API) may point only at a remote URL, so nobody can claim someone
// else's private file by naming its URL.
type uploaded struct {
	url  string
	hash string
	size int64
}

type uploadedKey struct{}

var fieldnameRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,60}$`)

// validate is File's validate hook: what the URL, content and attachment of a File may be.
func (f *Files) validate(c *doc.Context, d doc.Doc) error {
	old, err := c.Sudo().Get("File", d.Name())
	if e, ok := doc.AsError(err); ok && e.Type == doc.DoesNotExistError {
		old = nil
	} else if err != nil {
		return err
	}
	if d.Int("is_folder") == 1 {
		if d.String("file_url") != "" || d.String("attached_to_doctype") != "" {
			return doc.Errorf(doc.ValidationError, "File: a folder has no URL and is attached to nothing")
		}
		return nil
	}
	if d.String("folder") == "" {
		d["folder"] = home
	}
	if folder, err := c.Sudo().Get("File", d.String("folder")); err != nil || folder.Int("is_folder") != 1 {
		return doc.Errorf(doc.ValidationError, "File: folder %s is not a folder", d.String("folder"))
	}
	u := d.String("file_url")
	if old != nil {
		if u != old.String("file_url") || d.Int("is_private") != old.Int("is_private") {
			return doc.Errorf(doc.ValidationError, "File: the URL and privacy of a file cannot be changed; upload it again")
		}
		d["content_hash"], d["file_size"] = old["content_hash"], old["file_size"]
	} else if up, _ := c.Local(uploadedKey{}).(*uploaded); up != nil && up.url == u {
		d["content_hash"], d["file_size"] = up.hash, up.size
	} else {
		if isLocal(u) {
			return doc.Errorf(doc.PermissionError, "File: upload the file through upload_file")
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return doc.Errorf(doc.ValidationError, "File: file_url must be an http or https URL")
		}
		d["content_hash"], d["file_size"] = nil, nil
	}
	if isLocal(u) {
		d["is_private"] = map[bool]int64{false: 0, true: 1}[strings.HasPrefix(u, privatePrefix)]
	}
	if d.String("file_name") == "" {
		d["file_name"] = path.Base(strings.SplitN(u, "?", 2)[0])
	}
	if ext := path.Ext(d.String("file_name")); len(ext) > 1 {
		d["file_type"] = strings.ToUpper(ext[1:])
	}
	return f.checkAttachment(c, d, old)
}

// checkAttachment: a file is attached to a document (and maybe one of its Attach fields) only by
// someone who may write that document, as Frappe's File.has_permission asks for.
func (f *Files) checkAttachment(c *doc.Context, d, old doc.Doc) error {
	dt, name, field := d.String("attached_to_doctype"), d.String("attached_to_name"), d.String("attached_to_field")
	if dt == "" && name == "" && field == "" {
		return nil
	}
	if dt == "" || name == "" {
		return doc.Errorf(doc.ValidationError, "File: Attached To DocType and Attached To Name go together")
	}
	if field != "" && !fieldnameRe.MatchString(field) {
		return doc.Errorf(doc.ValidationError, "The fieldname you've specified in Attached To Field is invalid")
	}
	if old != nil && old.String("attached_to_doctype") == dt && old.String("attached_to_name") == name {
		return nil
	}
	return mayWrite(c, dt, name)
}

// mayWrite fails unless the context's user may write the document.
func mayWrite(c *doc.Context, doctype, name string) error {
	ref, err := c.Get(doctype, name)
	if err != nil {
		return err
	}
	meta, err := c.Meta(doctype)
	if err != nil {
		return err
	}
	if !meta.Allowed(c.User, doc.PermWrite, meta.OwnerOf(ref)) {
		return doc.Errorf(doc.PermissionError, "Not permitted: %s cannot write %s %s", c.User.Name, doctype, name)
	}
	return nil
}

func (f *Files) afterInsert(c *doc.Context, d doc.Doc) error {
	return f.notify(c, d, "Attachment", "Added "+d.String("file_name"), "add")
}

// onTrash keeps the folders every site has, and removes the content once no File document
// points at it any more (uploads of the same content share it).
func (f *Files) onTrash(c *doc.Context, d doc.Doc) error {
	if d.Int("is_home_folder") == 1 || d.Int("is_attachments_folder") == 1 {
		return doc.Errorf(doc.ValidationError, "Cannot delete Home and Attachments folders")
	}
	if d.Int("is_folder") == 1 {
		n, err := c.Sudo().Count("File", []doc.Filter{{Field: "folder", Op: "=", Value: d.Name()}})
		if err != nil {
			return err
		}
		if n > 0 {
			return doc.Errorf(doc.ValidationError, "Folder %s is not empty", d.Name())
		}
		return nil
	}
	if key := keyOf(d.String("file_url")); key != "" {
		n, err := c.Sudo().Count("File", []doc.Filter{{Field: "file_url", Op: "=", Value: d.String("file_url")},
			{Field: "name", Op: "!=", Value: d.Name()}})
		if err != nil {
			return err
		}
		if n == 0 {
			if err := f.store.remove(c, key); err != nil {
				return err
			}
		}
	}
	return f.notify(c, d, "Attachment Removed", "Removed "+d.String("file_name"), "delete")
}

// notify tells the attached document's timeline and other users' forms: Frappe's "Attachment" /
// "Attachment Removed" comment (docinfo key attachment_logs), and the attachment itself under
// key "attachments" (a livedoc addition, so forms update their attachment list too).
func (f *Files) notify(c *doc.Context, d doc.Doc, commentType, text, action string) error {
	dt, name := d.String("attached_to_doctype"), d.String("attached_to_name")
	if dt == "" || name == "" || d.Int("is_folder") == 1 {
		return nil
	}
	if _, err := c.Sudo().Get(dt, name); err != nil {
		if e, ok := doc.AsError(err); ok && e.Type == doc.DoesNotExistError {
			return nil // the document went first
		}
		return err
	}
	if _, err := docinfo.AddComment(c, dt, name, commentType, html.EscapeString(text)); err != nil {
		return err
	}
	att := map[string]any{"name": d.Name(), "file_name": d["file_name"], "file_url": d["file_url"],
		"is_private": d["is_private"], "reference_doctype": dt, "reference_name": name}
	return f.publish(c, "docinfo_update", map[string]any{"doc": att, "key": "attachments", "action": action},
		realtime.Target{DocType: dt, DocName: name}, true)
}

// removeAttach is frappe.desk.form.utils.remove_attach(fid): the File's owner, or whoever may
// write the document it is attached to, deletes it.
func (f *Files) removeAttach(c *doc.Context, a api.Args) (any, error) {
	d, err := c.Sudo().Get("File", a.String("fid"))
	if err != nil {
		return nil, err
	}
	if d.String("owner") != c.User.Name && !c.User.IsAdmin() && !c.User.HasRole(doc.SystemManager) {
		if d.String("attached_to_doctype") == "" {
			return nil, doc.Errorf(doc.PermissionError, "Not permitted: %s cannot delete File %s", c.User.Name, d.Name())
		}
		if err := mayWrite(c, d.String("attached_to_doctype"), d.String("attached_to_name")); err != nil {
			return nil, err
		}
	}
	return nil, c.Sudo().Delete("File", d.Name())
}

// mayRead reports whether the context's user may read the local file at u: a public one anyone;
// a private one when a File document for it is theirs, or is attached to a document they may
// read, or is attached to nothing and they are a System Manager. found is false when no File
// document points at u.
func mayRead(c *doc.Context, u string) (found, ok bool, err error) {
	rows, err := c.Sudo().List("File", doc.Query{Fields: []string{"name", "owner", "is_private", "attached_to_doctype", "attached_to_name"},
		Filters: []doc.Filter{{Field: "file_url", Op: "=", Value: u}}})
	if err != nil || len(rows) == 0 {
		return false, false, err
	}
	user := c.User
	for _, r := range rows {
		dt, name := r.String("attached_to_doctype"), r.String("attached_to_name")
		switch {
		case r.Int("is_private") == 0, user.IsAdmin(), user.Name != doc.Guest && r.String("owner") == user.Name,
			dt == "" && user.HasRole(doc.SystemManager):
			return true, true, nil
		case dt != "":
			if _, err := c.Get(dt, name); err == nil {
				return true, true, nil
			} else if _, isDocErr := doc.AsError(err); !isDocErr {
				return true, false, err
			}
		}
	}
	return true, false, nil
}

// safeName is the name a file is stored under: the last element of what the client called it,
// without characters that mean something in a path or a URL, control characters, or a leading
// dot; at most 140 bytes.
func safeName(name string) string {
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || strings.ContainsRune(`%?#"'<>:*|&;`+"`", r) || r == unicode.ReplacementChar {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	if len(name) > 140 {
		ext := path.Ext(name)
		if len(ext) > 20 {
			ext = ""
		}
		stem := strings.TrimSuffix(name, ext)
		for len(stem)+len(ext) > 140 {
			_, size := utf8.DecodeLastRuneInString(stem)
			stem = stem[:len(stem)-size]
		}
		name = stem + ext
	}
	if name == "" {
		return "file"
	}
	return name
}

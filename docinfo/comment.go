package docinfo

import (
	"html"
	"regexp"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/doc"
)

// commentKeys are the docinfo lists Frappe's form keeps comments of each type in (Comment's
// notify_change); other types are not sent live.
var commentKeys = map[string]string{
	"Like": "like_logs", "Assigned": "assignment_logs", "Assignment Completed": "assignment_logs",
	"Comment": "comments", "Attachment": "attachment_logs", "Attachment Removed": "attachment_logs",
}

func (i *Info) commentHooks() {
	i.e.On("Comment", doc.Validate, func(c *doc.Context, d doc.Doc) error {
		if d.String("comment_email") == "" {
			d["comment_email"] = c.User.Name
		}
		d["content"] = sanitize(d.String("content"))
		if dt, name := d.String("reference_doctype"), d.String("reference_name"); dt != "" && name != "" {
			ref, err := c.Sudo().Get(dt, name)
			if err != nil {
				return err
			}
			if meta, err := c.Meta(dt); err == nil {
				d["reference_owner"] = meta.OwnerOf(ref)
			}
		}
		return nil
	})
	i.e.On("Comment", doc.AfterInsert, func(c *doc.Context, d doc.Doc) error { return i.notifyComment(c, d, "add") })
	i.e.On("Comment", doc.OnTrash, func(c *doc.Context, d doc.Doc) error { return i.notifyComment(c, d, "delete") })
}

func (i *Info) notifyComment(c *doc.Context, d doc.Doc, action string) error {
	key := commentKeys[d.String("comment_type")]
	dt, name := d.String("reference_doctype"), d.String("reference_name")
	if key == "" || dt == "" || name == "" {
		return nil
	}
	return i.docinfoUpdate(c, dt, name, key, action, d)
}

// AddComment is Frappe's Document.add_comment: a Comment of commentType on the document, by the
// context's user, whatever their rights on Comment (the caller has checked those on the document).
func AddComment(c *doc.Context, doctype, name, commentType, text string) (doc.Doc, error) {
	if text == "" {
		text = commentType
	}
	return c.Sudo().Insert(doc.Doc{"doctype": "Comment", "comment_type": commentType, "comment_email": c.User.Name,
		"reference_doctype": doctype, "reference_name": name, "content": text})
}

// addComment is frappe.desk.form.utils.add_comment: whoever may read the document may comment on it.
func (i *Info) addComment(c *doc.Context, a api.Args) (any, error) {
	dt, name := a.String("reference_doctype"), a.String("reference_name")
	if _, err := readable(c, dt, name); err != nil {
		return nil, err
	}
	if a.String("content") == "" {
		return nil, doc.Errorf(doc.MandatoryError, "Comment: content is required")
	}
	return c.Sudo().Insert(doc.Doc{"doctype": "Comment", "comment_type": "Comment", "reference_doctype": dt,
		"reference_name": name, "comment_email": a.String("comment_email"), "comment_by": a.String("comment_by"),
		"content": a.String("content")})
}

// allowedTag matches, in escaped text, the tags a comment keeps: formatting only, never
// attributes (so no href, src, style or event handlers).
var allowedTag = regexp.MustCompile(`&lt;(/?)(p|br|b|strong|i|em|u|s|ul|ol|li|div|span|blockquote|pre|code|h[1-6])\b(?:[^&]|&#34;|&#39;|&amp;)*?&gt;`)

// sanitize keeps a comment's formatting and nothing that runs: Frappe's desk shows comments as
// HTML, so the text is escaped and only bare formatting tags are restored.
func sanitize(s string) string {
	return entityRef.ReplaceAllString(allowedTag.ReplaceAllString(html.EscapeString(s), "<$1$2>"), "&$1;")
}

// entityRef matches, in escaped text, a character reference the content held ("&lt;" typed as
// text by the desk): kept as it was, so it is not shown as "&lt;". A reference cannot make a tag.
var entityRef = regexp.MustCompile(`&amp;(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});`)

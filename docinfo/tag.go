package docinfo

import (
	"strings"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/doc"
)

// addTag is frappe.desk.doctype.tag.tag.add_tag(tag, dt, dn): the Tag is created if new and
// linked to the document. Frappe checks no permission here; livedoc needs read on the document.
func (i *Info) addTag(c *doc.Context, a api.Args) (any, error) {
	tag, dt, dn := strings.TrimSpace(a.String("tag")), a.String("dt"), a.String("dn")
	if _, err := readable(c, dt, dn); err != nil {
		return nil, err
	}
	if tag == "" {
		return nil, doc.Errorf(doc.MandatoryError, "tag is required")
	}
	if _, err := c.Sudo().Get("Tag", tag); err != nil {
		if e, ok := doc.AsError(err); !ok || e.Type != doc.DoesNotExistError {
			return nil, err
		}
		if _, err := c.Sudo().Insert(doc.Doc{"doctype": "Tag", "name": tag}); err != nil {
			return nil, err
		}
	}
	links, err := tagLinks(c, dt, dn, tag)
	if err != nil || len(links) > 0 {
		return tag, err
	}
	_, err = c.Sudo().Insert(doc.Doc{"doctype": "Tag Link", "document_type": dt, "document_name": dn, "tag": tag})
	return tag, err
}

// removeTag is frappe.desk.doctype.tag.tag.remove_tag(tag, dt, dn).
func (i *Info) removeTag(c *doc.Context, a api.Args) (any, error) {
	dt, dn := a.String("dt"), a.String("dn")
	if _, err := readable(c, dt, dn); err != nil {
		return nil, err
	}
	links, err := tagLinks(c, dt, dn, strings.TrimSpace(a.String("tag")))
	for _, l := range links {
		if err == nil {
			err = c.Sudo().Delete("Tag Link", l.Name())
		}
	}
	return nil, err
}

// tagLinks are the Tag Links of a document: all of them, or those of one tag.
func tagLinks(c *doc.Context, dt, dn, tag string) ([]doc.Doc, error) {
	filters := []doc.Filter{{Field: "document_type", Op: "=", Value: dt}, {Field: "document_name", Op: "=", Value: dn}}
	if tag != "" {
		filters = append(filters, doc.Filter{Field: "tag", Op: "=", Value: tag})
	}
	return c.Sudo().List("Tag Link", doc.Query{Fields: []string{"name", "tag"}, Filters: filters, OrderBy: "creation asc"})
}

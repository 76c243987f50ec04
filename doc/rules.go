package doc

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/livedoc/livedoc/expr"
)

// The built-in checks of a save, run after the hooks had their say, on the document and each of its
// rows: Select options, Link and Dynamic Link targets (and the fetch_from values they bring),
// mandatory fields (reqd, or mandatory_depends_on; a field hidden by depends_on is never
// mandatory). set_only_once and permlevel are checked against the stored version.

// validate checks d (a row of parent when parent is not nil). isNew says whether it is being
// inserted, for fetch_from.
func (c *Context) validate(dt *DocType, d, parent Doc, isNew bool) error {
	var missing []string
	for i := range dt.Fields {
		f := &dt.Fields[i]
		if !f.HasValue() || f.IsVirtual {
			continue
		}
		if f.Fieldtype == Check && d[f.Fieldname] == nil {
			d[f.Fieldname] = int64(0) // as Frappe's _fix_numeric_types: a Check is never null
		}
		v := d[f.Fieldname]
		switch f.Fieldtype {
		case Select:
			if s, _ := v.(string); s != "" && !slices.Contains(selectOptions(f), s) {
				return Errorf(ValidationError, "%s: %s cannot be %q. It should be one of %s", dt.Name, f.Title(), s,
					strings.Join(quoteAll(selectOptions(f)), ", "))
			}
		case Link, DynamicLink:
			if s, _ := v.(string); s != "" {
				if err := c.followLink(dt, f, d, s, isNew); err != nil {
					return err
				}
			}
		case Table, TableMultiSelect:
			child, err := c.meta(f.Options)
			if err != nil {
				return err
			}
			for i, row := range d.Children(f.Fieldname) {
				row["idx"] = int64(i + 1) // as written; error messages name rows by it
				if err := c.validate(child, row, d, isNew); err != nil {
					return err
				}
			}
		}
	}
	for i := range dt.Fields {
		f := &dt.Fields[i]
		if !f.HasValue() || f.IsVirtual || f.Fieldtype == Password {
			continue
		}
		need, err := c.mandatory(f, d, parent)
		if err != nil {
			return Errorf(ValidationError, "%s: %s: %v", dt.Name, f.Title(), err)
		}
		if need && !hasContent(f, d) {
			if parent != nil {
				return Errorf(MandatoryError, "Error: %s Row #%d: Value missing for: %s", dt.Name, d.Int("idx"), f.Title())
			}
			missing = append(missing, f.Title())
		}
	}
	if len(missing) > 0 {
		return Errorf(MandatoryError, "Error: Value missing for %s: %s", dt.Name, strings.Join(missing, ", "))
	}
	return nil
}

// mandatory tells whether f must have a value: reqd or mandatory_depends_on, unless depends_on
// hides it.
func (c *Context) mandatory(f *Field, d, parent Doc) (bool, error) {
	if !f.Reqd && f.MandatoryDependsOn == "" {
		return false, nil
	}
	ctx := expr.Context{User: c.User.Name, Roles: c.User.Roles}
	if f.DependsOn != "" {
		shown, err := expr.Holds(f.DependsOn, d, parent, ctx)
		if err != nil || !shown {
			return false, err
		}
	}
	if f.Reqd {
		return true, nil
	}
	return expr.Holds(f.MandatoryDependsOn, d, parent, ctx)
}

var htmlTag = regexp.MustCompile(`<[^>]*>`)

// hasContent is Frappe's: a table with rows, or a value whose text (HTML stripped) is not blank;
// a Text Editor holding only an image counts.
func hasContent(f *Field, d Doc) bool {
	if f.IsTable() {
		return len(d.Children(f.Fieldname)) > 0
	}
	v := d[f.Fieldname]
	if v == nil {
		return false
	}
	s := d.String(f.Fieldname)
	if strings.TrimSpace(htmlTag.ReplaceAllString(s, "")) != "" {
		return true
	}
	return (f.Fieldtype == TextEditor || f.Fieldtype == HTMLEditor) && strings.Contains(s, "<img")
}

// followLink checks that a Link or Dynamic Link names a document that exists, and sets the fields
// that fetch_from it (those with fetch_if_empty only when empty), as Frappe does while it checks
// links: on a new or not yet submitted document, or for allow_on_submit fields.
func (c *Context) followLink(dt *DocType, f *Field, d Doc, value string, isNew bool) error {
	targetName := f.Options
	if f.Fieldtype == DynamicLink {
		targetName = d.String(f.Options)
		if targetName == "" {
			return Errorf(LinkValidationError, "%s: %s must be set first", dt.Name, dt.Field(f.Options).Title())
		}
	}
	target, err := c.meta(targetName)
	if err != nil {
		return Errorf(LinkValidationError, "%s: target DocType %s does not exist", f.Title(), targetName)
	}
	var fetch []*Field
	var cols []string
	for i := range dt.Fields {
		g := &dt.Fields[i]
		link, src, ok := strings.Cut(g.FetchFrom, ".")
		if !ok || link != f.Fieldname || (g.FetchIfEmpty && hasContent(g, d)) {
			continue
		}
		if !isNew && d.Docstatus() == 1 && !g.AllowOnSubmit {
			continue
		}
		if !target.hasColumn(src) {
			return Errorf(ValidationError, "%s: %s fetches %s from %s, which has no such field", dt.Name, g.Title(), src, target.Name)
		}
		fetch, cols = append(fetch, g), append(cols, src)
	}
	if target.IsSingle {
		if value != target.Name {
			return Errorf(LinkValidationError, "Could not find %s: %s", f.Title(), value)
		}
		if len(fetch) == 0 {
			return nil
		}
	}
	if len(fetch) == 0 {
		ok, err := c.exists(target, value)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(LinkValidationError, "Could not find %s: %s", f.Title(), value)
		}
		return nil
	}
	src, err := c.load(target, value, false)
	if e, ok := AsError(err); ok && e.Type == DoesNotExistError {
		return Errorf(LinkValidationError, "Could not find %s: %s", f.Title(), value)
	} else if err != nil {
		return err
	}
	for i, g := range fetch {
		x, err := coerce(g, fetchable(src[cols[i]]))
		if err != nil {
			return Errorf(ValidationError, "%s: %s cannot take %s's %s: %v", dt.Name, g.Title(), target.Name, cols[i], err)
		}
		d[g.Fieldname] = x
	}
	return nil
}

// fetchable is a fetched value as the receiving field's coercion takes it.
func fetchable(v any) any {
	switch t := v.(type) {
	case int64, float64, string, nil:
		return t
	}
	return fmt.Sprint(v)
}

// checkConstants refuses a change to a set_only_once field that already had a value
// (Frappe's CannotChangeConstantError).
func checkConstants(dt *DocType, old, d Doc) error {
	for i := range dt.Fields {
		f := &dt.Fields[i]
		if !f.SetOnlyOnce || !f.Stored() || old[f.Fieldname] == nil || old.String(f.Fieldname) == "" {
			continue
		}
		if d.String(f.Fieldname) != old.String(f.Fieldname) {
			return Errorf(CannotChangeConstantError, "Value cannot be changed for %s", f.Title())
		}
	}
	return nil
}

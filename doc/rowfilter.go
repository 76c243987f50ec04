package doc

import "context"

// RowFilter returns the extra filters a user's lists of a DocType must meet: Frappe's permission
// query conditions, as filters rather than SQL (Permission Query Server Scripts, or a Go app's own
// rule). They narrow lists, counts and Link searches, and which users hear of a document's changes
// (Admits); they never widen what DocPerm rules grant, and, as in Frappe, a single document read
// by name is not narrowed.
type RowFilter func(c *Context, dt *DocType) ([]Filter, error)

// SetRowFilter installs fn as doctype's row filter, replacing any; nil removes it.
func (e *Engine) SetRowFilter(doctype string, fn RowFilter) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if fn == nil {
		delete(e.rowFilters, doctype)
		return
	}
	if e.rowFilters == nil {
		e.rowFilters = map[string]RowFilter{}
	}
	e.rowFilters[doctype] = fn
}

// HasRowFilter reports whether doctype has a row filter: without one, Admits needs no query.
func (e *Engine) HasRowFilter(doctype string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.rowFilters[doctype] != nil
}

func (e *Engine) rowFilter(doctype string) RowFilter {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.rowFilters[doctype]
}

// Admits reports whether the row filter of doctype lets u list the stored document named name:
// the filters the user's lists get, asked for this one name. With no row filter, or none for this
// user, every document is admitted; a document that no longer exists is not, by a filter. The
// DocPerm rules are the caller's to check (DocType.Allowed).
func (e *Engine) Admits(ctx context.Context, u *User, doctype, name string) (bool, error) {
	rf := e.rowFilter(doctype)
	if rf == nil {
		return true, nil
	}
	ok := true
	err := e.Run(ctx, u, false, func(c *Context) error {
		dt, err := c.meta(doctype)
		if err != nil {
			return err
		}
		filters, err := rf(c, dt)
		if err != nil || len(filters) == 0 {
			return err
		}
		n, err := c.Sudo().Count(doctype, append(filters, Filter{Field: "name", Op: "=", Value: name}))
		ok = n > 0
		return err
	})
	if err != nil {
		return false, err
	}
	return ok, nil
}

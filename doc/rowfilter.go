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

// Admits reports whether the stored document doctype/name is in u's lists: the very query a list
// makes (DocPerm rules and the row filter), for this one name. A document that no longer exists is
// in nobody's list.
func (e *Engine) Admits(ctx context.Context, u *User, doctype, name string) (bool, error) {
	var n int64
	err := e.Run(ctx, u, false, func(c *Context) (err error) {
		n, err = c.Count(doctype, []Filter{{Field: "name", Op: "=", Value: name}})
		return err
	})
	if e, ok := AsError(err); ok && e.Type == PermissionError {
		return false, nil
	}
	return n > 0, err
}

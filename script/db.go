package script

import (
	"github.com/dop251/goja"
	"github.com/livedoc/livedoc/doc"
)

// db is frappe.db: get_value, set_value, exists, count. As in Frappe they skip permission checks;
// unlike Frappe's, set_value saves through the pipeline (hooks, validation, realtime events).
func (r *run) db() *goja.Object {
	o := r.rt.NewObject()
	_ = o.Set("get_value", r.getValue)
	_ = o.Set("set_value", r.setValue)
	_ = o.Set("exists", r.exists)
	_ = o.Set("count", func(doctype string, filters goja.Value) int64 {
		fs, err := doc.ParseFilters(fromJS(filters))
		r.must(err)
		n, err := r.c.Sudo().Count(doctype, fs)
		r.must(err)
		return n
	})
	return o
}

// nameOrFilters reads Frappe's "a name, or filters" argument.
func (r *run) nameOrFilters(v goja.Value) []doc.Filter {
	x := fromJS(v)
	if s, ok := x.(string); ok {
		return []doc.Filter{{Field: "name", Op: "=", Value: s}}
	}
	fs, err := doc.ParseFilters(x)
	r.must(err)
	return fs
}

// getValue is frappe.db.get_value(doctype, name | filters, fieldname | [fieldnames], as_dict?):
// one value, a list of values, or with as_dict an object; null when nothing matches.
func (r *run) getValue(call goja.FunctionCall) goja.Value {
	doctype := call.Argument(0).String()
	filters := r.nameOrFilters(call.Argument(1))
	var fields []string
	single := true
	switch f := fromJS(call.Argument(2)).(type) {
	case string:
		fields = []string{f}
	case []any:
		single = false
		for _, x := range f {
			if s, ok := x.(string); ok {
				fields = append(fields, s)
			}
		}
	}
	if len(fields) == 0 {
		fields = []string{"name"}
	}
	rows, err := r.c.Sudo().List(doctype, doc.Query{Fields: fields, Filters: filters, Limit: 1})
	r.must(err)
	if len(rows) == 0 {
		return goja.Null()
	}
	if call.Argument(3).ToBoolean() {
		return r.rt.ToValue(map[string]any(rows[0]))
	}
	if single {
		return r.rt.ToValue(rows[0][fields[0]])
	}
	out := make([]any, len(fields))
	for i, f := range fields {
		out[i] = rows[0][f]
	}
	return r.rt.ToValue(out)
}

// setValue is frappe.db.set_value(doctype, name, fieldname, value) or (doctype, name, {values}).
func (r *run) setValue(call goja.FunctionCall) goja.Value {
	values := map[string]any{}
	if m, ok := fromJS(call.Argument(2)).(map[string]any); ok {
		values = m
	} else {
		values[call.Argument(2).String()] = fromJS(call.Argument(3))
	}
	_, err := r.c.Sudo().Update(call.Argument(0).String(), call.Argument(1).String(), values)
	r.must(err)
	return goja.Undefined()
}

// exists is frappe.db.exists(doctype, name | filters): the first matching name, or null.
func (r *run) exists(doctype string, v goja.Value) goja.Value {
	rows, err := r.c.Sudo().List(doctype, doc.Query{Filters: r.nameOrFilters(v), Limit: 1})
	r.must(err)
	if len(rows) == 0 {
		return goja.Null()
	}
	return r.rt.ToValue(rows[0].Name())
}

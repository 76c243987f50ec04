package script

import (
	"slices"

	"github.com/dop251/goja"
	"github.com/livedoc/livedoc/doc"
)

// docObject is a document as the script sees it: its fields read and written in place (so that
// what a before-hook sets is what gets saved), its child tables as arrays of such objects, and
// Frappe's Document methods (insert, save, submit, cancel, delete, get, set, append, is_new,
// as_dict) where no field has the name.
type docObject struct {
	r *run
	d doc.Doc
}

func (r *run) docValue(d doc.Doc) goja.Value { return r.rt.NewDynamicObject(&docObject{r: r, d: d}) }

func (o *docObject) Get(key string) goja.Value {
	if v, ok := o.d[key]; ok {
		if _, rows := v.([]doc.Doc); rows {
			return o.r.rt.NewDynamicArray(&rowsArray{r: o.r, d: o.d, field: key})
		}
		return o.r.rt.ToValue(v)
	}
	if m := o.method(key); m != nil {
		return o.r.rt.ToValue(m)
	}
	return nil
}

func (o *docObject) Set(key string, val goja.Value) bool {
	o.d[key] = fromJS(val)
	return true
}

func (o *docObject) Has(key string) bool { _, ok := o.d[key]; return ok }

func (o *docObject) Delete(key string) bool { delete(o.d, key); return true }

func (o *docObject) Keys() []string {
	keys := make([]string, 0, len(o.d))
	for k := range o.d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// replace puts a saved version's values in place of the object's.
func (o *docObject) replace(d doc.Doc) {
	clear(o.d)
	for k, v := range d {
		o.d[k] = v
	}
}

// method is one of Frappe's Document methods. Options follow Frappe's keywords:
// insert({ignore_permissions: true}) and save({ignore_permissions: true}) skip the checks.
func (o *docObject) method(name string) any {
	r := o.r
	ctx := func(opts map[string]any) *doc.Context {
		if b, _ := opts["ignore_permissions"].(bool); b {
			return r.c.Sudo()
		}
		return r.c
	}
	self := func() goja.Value { return r.rt.NewDynamicObject(o) }
	switch name {
	case "get":
		return func(k string) goja.Value { return o.Get(k) }
	case "set":
		return func(k string, v goja.Value) { o.d[k] = fromJS(v) }
	case "append":
		return func(table string, row map[string]any) goja.Value {
			rows := o.d.Children(table)
			child := toDoc(row)
			o.d[table] = append(rows, child)
			return r.docValue(child)
		}
	case "is_new":
		return func() bool { return o.d.String("creation") == "" }
	case "as_dict":
		return func() goja.Value { return r.rt.ToValue(plain(o.d)) }
	case "insert":
		return func(opts map[string]any) goja.Value {
			d, err := ctx(opts).Insert(o.d)
			r.must(err)
			o.replace(d)
			return self()
		}
	case "save":
		return func(opts map[string]any) goja.Value {
			var d doc.Doc
			var err error
			if o.d.String("creation") == "" {
				d, err = ctx(opts).Insert(o.d)
			} else {
				d, err = ctx(opts).Save(o.d)
			}
			r.must(err)
			o.replace(d)
			return self()
		}
	case "submit":
		return func() goja.Value {
			d, err := r.c.Submit(o.d)
			r.must(err)
			o.replace(d)
			return self()
		}
	case "cancel":
		return func() goja.Value {
			d, err := r.c.Cancel(o.d.DocType(), o.d.Name())
			r.must(err)
			o.replace(d)
			return self()
		}
	case "delete":
		return func() { r.must(r.c.Delete(o.d.DocType(), o.d.Name())) }
	}
	return nil
}

// rowsArray is a child table: its rows are docObjects over the same maps, so a script edits rows
// in place; push and assignment add rows.
type rowsArray struct {
	r     *run
	d     doc.Doc
	field string
}

func (a *rowsArray) Len() int { return len(a.d.Children(a.field)) }

func (a *rowsArray) Get(i int) goja.Value {
	rows := a.d.Children(a.field)
	if i < 0 || i >= len(rows) {
		return nil
	}
	return a.r.docValue(rows[i])
}

func (a *rowsArray) Set(i int, v goja.Value) bool {
	if i < 0 {
		return false
	}
	rows := a.d.Children(a.field)
	for len(rows) <= i {
		rows = append(rows, doc.Doc{})
	}
	if m, ok := fromJS(v).(map[string]any); ok {
		rows[i] = toDoc(m)
	}
	a.d[a.field] = rows
	return true
}

func (a *rowsArray) SetLen(n int) bool {
	rows := a.d.Children(a.field)
	if n < 0 {
		return false
	}
	for len(rows) < n {
		rows = append(rows, doc.Doc{})
	}
	a.d[a.field] = rows[:n]
	return true
}

// fromJS is a script's value as Go: documents as their maps, arrays of objects as child rows.
func fromJS(v goja.Value) any {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return nil
	}
	return goValue(v.Export())
}

func goValue(x any) any {
	switch t := x.(type) {
	case *docObject:
		return t.d
	case *rowsArray:
		return t.d.Children(t.field)
	case []any:
		if len(t) > 0 && !slices.ContainsFunc(t, func(e any) bool { _, ok := goValue(e).(map[string]any); return !ok }) {
			rows := make([]doc.Doc, len(t))
			for i, e := range t {
				rows[i] = toDoc(goValue(e).(map[string]any))
			}
			return rows
		}
		for i, e := range t {
			t[i] = goValue(e)
		}
		return t
	case doc.Doc:
		return map[string]any(t)
	}
	return x
}

func toDoc(m map[string]any) doc.Doc {
	d := make(doc.Doc, len(m))
	for k, v := range m {
		d[k] = goValue(v)
	}
	return d
}

// plain is a document with its child rows as plain maps, for as_dict.
func plain(d doc.Doc) map[string]any {
	out := make(map[string]any, len(d))
	for k, v := range d {
		if rows, ok := v.([]doc.Doc); ok {
			list := make([]any, len(rows))
			for i, row := range rows {
				list[i] = plain(row)
			}
			v = list
		}
		out[k] = v
	}
	return out
}

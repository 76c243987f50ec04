package doc

import (
	"encoding/json"
	"reflect"
)

// maxDelta bounds the changes sent with a doc_update: a bigger change comes without them, and
// clients read the document once instead.
const maxDelta = 32 << 10

// changedValues are the new values of the fields a save changed (a changed child table whole,
// with its rows as stored), with modified, modified_by and docstatus. nil when the change is too
// big, or touches a field of a higher permlevel or a password, which not every reader may get.
func changedValues(c *Context, dt *DocType, old, d Doc) map[string]any {
	out := map[string]any{"modified": d["modified"], "modified_by": d["modified_by"]}
	if old.Docstatus() != d.Docstatus() {
		out["docstatus"] = d["docstatus"]
	}
	for i := range dt.Fields {
		f := &dt.Fields[i]
		if !f.HasValue() || f.IsVirtual {
			continue
		}
		var same bool
		if f.IsTable() {
			child, err := c.meta(f.Options)
			if err != nil {
				return nil
			}
			same = sameRowValues(child, old.Children(f.Fieldname), d.Children(f.Fieldname))
		} else {
			same = reflect.DeepEqual(jsonOf(old[f.Fieldname]), jsonOf(d[f.Fieldname]))
		}
		if same {
			continue
		}
		if f.Permlevel > 0 || f.Fieldtype == Password {
			return nil
		}
		out[f.Fieldname] = d[f.Fieldname]
	}
	if b, err := json.Marshal(out); err != nil || len(b) > maxDelta {
		return nil
	}
	return out
}

// sameRowValues compares child rows by what they hold (not their timestamps).
func sameRowValues(child *DocType, a, b []Doc) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name() != b[i].Name() {
			return false
		}
		for _, f := range child.Fields {
			if f.HasValue() && !reflect.DeepEqual(jsonOf(a[i][f.Fieldname]), jsonOf(b[i][f.Fieldname])) {
				return false
			}
		}
	}
	return true
}

// jsonOf is a value as a client sees it, so that 1 and 1.0, or a map and its decoded copy, compare
// equal.
func jsonOf(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

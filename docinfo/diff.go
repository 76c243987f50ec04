package docinfo

import (
	"encoding/json"

	"github.com/livedoc/livedoc/doc"
)

// VersionData is a Version's data, in Frappe's shape and key order: changed [field, old, new];
// added and removed [table field, row]; row_changed [table field, row index, row name,
// [[field, old, new]...]].
type VersionData struct {
	Changed          [][]any `json:"changed"`
	Added            [][]any `json:"added"`
	Removed          [][]any `json:"removed"`
	RowChanged       [][]any `json:"row_changed"`
	DataImport       any     `json:"data_import"`
	UpdaterReference any     `json:"updater_reference"`
}

// Diff is Frappe's get_diff between the stored and the saved document: nil when nothing a user
// sees changed. Values are compared as stored, not formatted for display as Frappe does.
func Diff(c *doc.Context, dt *doc.DocType, old, new doc.Doc) (*VersionData, error) {
	out := &VersionData{Changed: [][]any{}, Added: [][]any{}, Removed: [][]any{}, RowChanged: [][]any{}}
	for _, f := range dt.Fields {
		if !f.HasValue() || f.Fieldtype == doc.Password || f.IsVirtual {
			continue
		}
		if !f.IsTable() {
			if !same(old[f.Fieldname], new[f.Fieldname]) {
				out.Changed = append(out.Changed, []any{f.Fieldname, old[f.Fieldname], new[f.Fieldname]})
			}
			continue
		}
		child, err := c.Meta(f.Options)
		if err != nil {
			return nil, err
		}
		oldRows := map[string]doc.Doc{}
		for _, r := range old.Children(f.Fieldname) {
			oldRows[r.Name()] = r
		}
		found := map[string]bool{}
		for idx, r := range new.Children(f.Fieldname) {
			o, ok := oldRows[r.Name()]
			if !ok || r.Name() == "" {
				out.Added = append(out.Added, []any{f.Fieldname, r})
				continue
			}
			found[r.Name()] = true
			if changed := rowChanges(child, o, r); len(changed) > 0 {
				out.RowChanged = append(out.RowChanged, []any{f.Fieldname, idx, r.Name(), changed})
			}
		}
		for _, r := range old.Children(f.Fieldname) {
			if !found[r.Name()] {
				out.Removed = append(out.Removed, []any{f.Fieldname, r})
			}
		}
	}
	for _, k := range []string{"name", "docstatus"} {
		if !same(old[k], new[k]) {
			out.Changed = append(out.Changed, []any{k, old[k], new[k]})
		}
	}
	if len(out.Changed)+len(out.Added)+len(out.Removed)+len(out.RowChanged) == 0 {
		return nil, nil
	}
	return out, nil
}

func rowChanges(child *doc.DocType, old, new doc.Doc) [][]any {
	var out [][]any
	for _, f := range child.Fields {
		if f.HasValue() && f.Fieldtype != doc.Password && !f.IsVirtual && !same(old[f.Fieldname], new[f.Fieldname]) {
			out = append(out, []any{f.Fieldname, old[f.Fieldname], new[f.Fieldname]})
		}
	}
	return out
}

// same compares two values as their JSON, so that a number read back from the database equals
// the one saved; an empty text and no value are the same.
func same(a, b any) bool {
	if a == "" {
		a = nil
	}
	if b == "" {
		b = nil
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
